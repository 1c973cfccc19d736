"""ISUP/BICC message bodies for the simulator, encoded by the codec and cached as templates.

Every body comes from :func:`sigdiag.codec.encode_message` (the codec's Q.763 tables): messages without
per-call values are encoded once per distinct argument set and cached; the IAM and SAM, whose digits
change with every call, are encoded once per *shape* (digit counts, ST, address attributes) with
placeholder digits, and the real digits are spliced into the placeholder's octets.  The splice
positions are found by encoding the shape twice with two different placeholder digits and comparing,
so they always match the codec's layout.  ``tests/unit/test_simulate.py`` checks spliced bodies
against ``encode_message`` for random numbers.

Bodies start at the message type (no CIC): the caller prefixes :meth:`Templates.cic` for MTP3/M3UA/
SCTP carriers and uses them as they are for SIP-I.
"""

from __future__ import annotations

from typing import Any

from sigdiag.codec import encode_message

__all__ = ["SWAP", "CallingAttrs", "Templates", "bcd"]

#: ``bytes.translate`` table swapping the two nibbles of every octet.
SWAP = _SWAP = bytes(((b & 0x0F) << 4) | (b >> 4) for b in range(256))

#: Calling number attributes: (nature of address, numbering plan, screening, presentation).
CallingAttrs = tuple[int, int, int, int]


def bcd(digits: str, st: bool = False) -> bytes:
    """Q.763 BCD octets of ``digits`` (+ ST), first digit in the low nibble, filler 0 (as the codec)."""
    text = digits + "F" if st else digits
    if len(text) & 1:
        text += "0"
    return bytes.fromhex(text).translate(_SWAP)


class _Shape:
    """An encoded body with digit fields to splice: ``pieces[0] + d0 + pieces[1] + d1 + ... ``."""

    __slots__ = ("pieces",)

    def __init__(self, pieces: tuple[bytes, ...]) -> None:
        self.pieces = pieces


def _splice_shape(encode: Any, lengths: tuple[tuple[int, bool], ...]) -> tuple[bytes, ...]:
    """Encode with placeholders 'E...' and 'D...' for each digit field (given as (count, st)) and
    return the constant pieces between the fields."""
    first = encode(["E" * n for n, _ in lengths])
    second = encode(["D" * n for n, _ in lengths])
    if len(first) != len(second):  # pragma: no cover - digits never change lengths
        raise AssertionError("placeholder encodings differ in length")
    diff = [i for i in range(len(first)) if first[i] != second[i]]
    # A field of n >= 1 digits is ceil((n + st) / 2) octets and its first octet always differs.
    pieces: list[bytes] = []
    pos = 0
    for n, st in lengths:
        if n == 0:
            pieces.append(b"")  # nothing to splice: the field (ST only, or empty) stays in the template
            continue
        start = next(i for i in diff if i >= pos)
        pieces.append(first[pos:start])
        pos = start + (n + (1 if st else 0) + 1) // 2
    pieces.append(first[pos:])
    return tuple(pieces)


class Templates:
    """Message bodies for one protocol (isup|bicc) and variant (itu|ansi)."""

    def __init__(self, protocol: str, variant: str) -> None:
        self.protocol = protocol
        self.variant = variant
        self.cic_len = 4 if protocol == "bicc" else 2
        self._cache: dict[tuple[Any, ...], bytes] = {}
        self._iam: dict[tuple[Any, ...], tuple[bytes, ...]] = {}
        self._sam: dict[tuple[int, bool], tuple[bytes, ...]] = {}

    # -- helpers -------------------------------------------------------------------------------------
    def encode(self, abbr: str, params: dict[str, Any]) -> bytes:
        """The codec's encoding of one message, without CIC."""
        return encode_message(abbr, params, cic=None, protocol=self.protocol, variant=self.variant)

    def cic(self, cic: int) -> bytes:
        """The CIC field (2 octets ISUP, 4 octets BICC call instance code), little-endian."""
        return cic.to_bytes(self.cic_len, "little")

    def _cached(self, key: tuple[Any, ...], abbr: str, params: dict[str, Any]) -> bytes:
        body = self._cache.get(key)
        if body is None:
            body = self._cache[key] = self.encode(abbr, params)
        return body

    # -- call control --------------------------------------------------------------------------------
    def iam_params(
        self,
        called: str,
        called_st: bool,
        calling: str | None,
        calling_attrs: CallingAttrs,
        hop_counter: int | None = None,
        called_nai: int = 3,
    ) -> dict[str, Any]:
        """The IAM's parameters as the codec takes them (also used by tests to check splicing)."""
        p: dict[str, Any] = {
            "nature_of_connection_indicators": {
                "satellite": 0,
                "continuity_check": 0,
                "echo_control_device": 0,
            },
            "forward_call_indicators": {
                "international_call": 0,
                "end_to_end_method": 0,
                "interworking": 0,
                "end_to_end_information": 0,
                "isup_all_the_way": 1,
                "isup_preference": 0,
                "isdn_access": 1,
                "sccp_method": 0,
            },
            "calling_partys_category": {"category": 10},
        }
        if self.variant == "ansi":
            p["user_service_information"] = {
                "coding_standard": 0,
                "information_transfer_capability": 0,
                "transfer_mode": 0,
                "information_transfer_rate": 0x10,
                "additional": "a2",
            }
        else:
            p["transmission_medium_requirement"] = {"medium": 0}
        p["called_party_number"] = {
            "nature_of_address": called_nai,
            "numbering_plan": 1,
            "inn": 0,
            "digits": called,
            "st": called_st,
        }
        if calling is not None:
            nai, plan, screening, presentation = calling_attrs
            p["calling_party_number"] = {
                "nature_of_address": nai,
                "numbering_plan": plan,
                "number_incomplete": 0,
                "presentation": presentation,
                "screening": screening,
                "digits": calling,
            }
        if hop_counter is not None:
            p["hop_counter"] = {"hop_counter": hop_counter}
        return p

    def iam(
        self,
        called: str,
        called_st: bool,
        calling: str | None,
        calling_attrs: CallingAttrs,
        hop_counter: int | None = None,
        called_nai: int = 3,
    ) -> bytes:
        """An IAM body (digits spliced into a cached template of the same shape)."""
        nc = len(called)
        ng = -1 if calling is None else len(calling)
        key = (nc, called_st, ng, calling_attrs, hop_counter, called_nai)
        pieces = self._iam.get(key)
        if pieces is None:

            def enc(ph: list[str]) -> bytes:
                return self.encode(
                    "IAM",
                    self.iam_params(
                        ph[0],
                        called_st,
                        ph[1] if calling is not None else None,
                        calling_attrs,
                        hop_counter,
                        called_nai,
                    ),
                )

            pieces = self._iam[key] = _splice_shape(enc, ((nc, called_st), (max(ng, 0), False)))
        p0, p1, p2 = pieces
        if nc:
            if ng > 0:
                return p0 + bcd(called, called_st) + p1 + bcd(calling) + p2  # type: ignore[arg-type]
            return p0 + bcd(called, called_st) + p1 + p2
        if ng > 0:
            return p0 + p1 + bcd(calling) + p2  # type: ignore[arg-type]
        return p0 + p1 + p2

    def iam_hex(
        self, nc: int, called_st: bool, ng: int, calling_attrs: CallingAttrs, hop_counter: int | None = None
    ) -> tuple[str, str, str]:
        """The IAM of a shape as three hex strings ``(h0, h1, h2)`` for the simulator's hot path: for a
        called number of ``nc`` digits and a calling number of ``ng`` digits (0 or more),
        ``bytes.fromhex(h0 + called + h1 + calling + h2).translate(SWAP)`` equals :meth:`iam`.

        The strings are the nibble-swapped hex of the template's constant pieces, with the ST digit and
        the filler of odd-length digit fields, so one ``fromhex`` and one ``translate`` (which swaps the
        nibbles back and puts each first digit in the low nibble, as :func:`bcd` does) build the body.
        """
        self.iam("0" * nc, called_st, "0" * ng, calling_attrs, hop_counter)  # make the shape's template
        p0, p1, p2 = self._iam[(nc, called_st, ng, calling_attrs, hop_counter, 3)]
        h0, h1, h2 = (x.translate(_SWAP).hex() for x in (p0, p1, p2))
        if nc:
            digits = nc + called_st
            h1 = ("F" if called_st else "") + ("0" if digits & 1 else "") + h1
        if ng & 1:
            h2 = "0" + h2
        return h0, h1, h2

    def sam(self, digits: str, st: bool) -> bytes:
        """A SAM body carrying ``digits`` (+ ST)."""
        key = (len(digits), st)
        pieces = self._sam.get(key)
        if pieces is None:

            def enc(ph: list[str]) -> bytes:
                return self.encode("SAM", {"subsequent_number": {"digits": ph[0], "st": st}})

            pieces = self._sam[key] = _splice_shape(enc, ((len(digits), st),))
        if not digits:
            return pieces[0] + pieces[1]
        return pieces[0] + bcd(digits, st) + pieces[1]

    # The call-control bodies below look in the cache before building the codec's parameters: they are
    # asked for once per generated flow (16,384 pooled flows in the benchmark's run), and building the
    # parameter dictionaries cost more than the look-up.
    def acm(self, status: int = 1) -> bytes:
        """ACM; ``status`` is the called party's status (0 no indication, 1 subscriber free)."""
        body = self._cache.get(("ACM", status))
        if body is None:
            body = self._cached(("ACM", status), "ACM", {"backward_call_indicators": self._bci(status)})
        return body

    def con(self) -> bytes:
        body = self._cache.get(("CON",))
        if body is None:
            body = self._cached(("CON",), "CON", {"backward_call_indicators": self._bci(1)})
        return body

    @staticmethod
    def _bci(status: int) -> dict[str, int]:
        return {
            "charge": 2,
            "called_partys_status": status,
            "called_partys_category": 1,
            "end_to_end_method": 0,
            "interworking": 0,
            "end_to_end_information": 0,
            "isup_all_the_way": 1,
            "holding_requested": 0,
            "isdn_access": 1,
            "echo_control_device": 0,
            "sccp_method": 0,
        }

    def cpg(self, event: int = 1) -> bytes:
        """CPG with an event (1 alerting, 2 progress)."""
        body = self._cache.get(("CPG", event))
        if body is None:
            body = self._cached(("CPG", event), "CPG", {"event_information": {"event": event}})
        return body

    def anm(self) -> bytes:
        body = self._cache.get(("ANM",))
        return body if body is not None else self._cached(("ANM",), "ANM", {})

    def rel(self, cause: int, location: int, diagnostics: str = "") -> bytes:
        """REL with cause indicators (ITU coding standard)."""
        key = ("REL", cause, location, diagnostics)
        body = self._cache.get(key)
        if body is None:
            body = self._cached(
                key,
                "REL",
                {
                    "cause_indicators": {
                        "coding_standard": 0,
                        "location": location,
                        "cause_value": cause,
                        "diagnostics": diagnostics,
                    }
                },
            )
        return body

    def rlc(self) -> bytes:
        body = self._cache.get(("RLC",))
        return body if body is not None else self._cached(("RLC",), "RLC", {})

    def cfn(self, cause: int, location: int, diagnostics: str) -> bytes:
        return self._cached(
            ("CFN", cause, location, diagnostics),
            "CFN",
            {
                "cause_indicators": {
                    "coding_standard": 0,
                    "location": location,
                    "cause_value": cause,
                    "diagnostics": diagnostics,
                }
            },
        )

    def simple(self, abbr: str) -> bytes:
        """A message without parameters (RSC, BLO, BLA, UBL, UBA, UCIC, FAC, ...)."""
        return self._cached((abbr,), abbr, {})

    # -- circuit group supervision --------------------------------------------------------------------
    def grs(self, circuits: int) -> bytes:
        return self._cached(("GRS", circuits), "GRS", {"range_and_status": {"range": circuits - 1}})

    def gra(self, circuits: int, blocked: int = 0) -> bytes:
        """GRA: range and one status bit per circuit (1 = blocked for maintenance), all clear here."""
        return self._cached(
            ("GRA", circuits, blocked),
            "GRA",
            {"range_and_status": {"range": circuits - 1, "status": _status(circuits, blocked)}},
        )

    def group(self, abbr: str, circuits: int, blocked_mask: int, mtype: int = 0) -> bytes:
        """CGB/CGBA/CGU/CGUA: supervision type (0 maintenance) and range with status bits."""
        return self._cached(
            (abbr, circuits, blocked_mask, mtype),
            abbr,
            {
                "circuit_group_supervision_message_type": {"type": mtype},
                "range_and_status": {"range": circuits - 1, "status": _status(circuits, blocked_mask)},
            },
        )

    @property
    def type_offset(self) -> int:
        """Offset of the message type in a body with CIC."""
        return self.cic_len


def _status(circuits: int, mask: int) -> str:
    """Status octets for ``circuits`` bits (first circuit = bit 0 of the first octet)."""
    n = (circuits + 7) // 8
    return mask.to_bytes(n, "little").hex()
