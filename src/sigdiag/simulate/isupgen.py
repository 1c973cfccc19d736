"""ISUP/BICC message bodies for the simulator, encoded by the codec and cached as templates.

Every body comes from :func:`sigdiag.codec.encode_message` (the codec's Q.763 tables): messages without
per-call values are encoded once per distinct argument set and cached; the IAM and SAM, whose digits
change with every call, are the codec's :class:`~sigdiag.codec.templates.DigitTemplate` of their
*shape* (digit counts, ST, address attributes), into which the real digits are filled.  The CIC field
is the codec's :func:`~sigdiag.codec.encode_cic`.  Nothing here writes an ISUP octet itself.
``tests/unit/test_simulate.py`` checks the bodies against ``encode_message`` for random numbers.

Bodies start at the message type (no CIC): the caller prefixes :meth:`Templates.cic` for MTP3/M3UA/
SCTP carriers and uses them as they are for SIP-I.
"""

from __future__ import annotations

from typing import Any

from sigdiag.codec import ITU_MESSAGES, encode_cic, encode_message
from sigdiag.codec.templates import DigitTemplate, bcd

__all__ = ["MESSAGE_TYPE", "CallingAttrs", "Templates"]

#: Message type codes by name, from the codec's table (ANSI and BICC use the same codes for the
#: messages the simulator sends).
MESSAGE_TYPE: dict[str, int] = {spec.abbr: code for code, spec in ITU_MESSAGES.items()}

#: Calling number attributes: (nature of address, numbering plan, screening, presentation).
CallingAttrs = tuple[int, int, int, int]


class Templates:
    """Message bodies for one protocol (isup|bicc) and variant (itu|ansi)."""

    def __init__(self, protocol: str, variant: str) -> None:
        self.protocol = protocol
        self.variant = variant
        #: octets of the CIC field (the codec's: 2 for ISUP, 4 for the BICC call instance code)
        self.cic_len = len(encode_cic(0, protocol, variant))
        self._cache: dict[tuple[Any, ...], bytes] = {}
        self._cics: dict[int, bytes] = {}
        # the constant pieces of each IAM/SAM shape's DigitTemplate (what the hot loops join)
        self._iam: dict[tuple[Any, ...], tuple[bytes, ...]] = {}
        self._sam: dict[tuple[int, bool], tuple[bytes, ...]] = {}

    # -- helpers -------------------------------------------------------------------------------------
    def encode(self, abbr: str, params: dict[str, Any]) -> bytes:
        """The codec's encoding of one message, without CIC."""
        return encode_message(abbr, params, cic=None, protocol=self.protocol, variant=self.variant)

    def cic(self, cic: int) -> bytes:
        """The CIC field (:func:`~sigdiag.codec.encode_cic`), encoded once per circuit."""
        field = self._cics.get(cic)
        if field is None:
            field = self._cics[cic] = encode_cic(cic, self.protocol, self.variant)
        return field

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
                "information_transfer_rate": 16,  # 64 kbit/s (Q.931 code 10000)
                "additional": "a2",
            }
        else:
            p["transmission_medium_requirement"] = {"medium": 0}
        p["called_party_number"] = {
            "nature_of_address": 3,  # national (significant) number
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

    def iam_template(
        self, nc: int, st: bool, ng: int, attrs: CallingAttrs, hop: int | None = None
    ) -> DigitTemplate:
        """The IAM of a shape (called number of ``nc`` digits + ST if ``st``, calling number of ``ng``
        digits, none when ``ng`` is -1) as the codec's template: ``render(called, calling)`` is
        :meth:`iam_params` encoded by the codec."""

        def enc(ph: list[str]) -> bytes:
            return self.encode("IAM", self.iam_params(ph[0], st, ph[1] if ng >= 0 else None, attrs, hop))

        return DigitTemplate(enc, ((nc, st), (max(ng, 0), False)))

    def iam(self, called: str, st: bool, calling: str | None, attrs: CallingAttrs, hop: int | None) -> bytes:
        """An IAM body: :meth:`iam_template`'s rendering, with the shape's pieces cached and joined here
        (one call per generated call on the general path)."""
        nc = len(called)
        ng = -1 if calling is None else len(calling)
        key = (nc, st, ng, attrs, hop)
        pieces = self._iam.get(key)
        if pieces is None:
            pieces = self._iam[key] = self.iam_template(nc, st, ng, attrs, hop).pieces
        p0, p1, p2 = pieces
        called_bcd = bcd(called, st) if nc else b""
        if calling:
            return p0 + called_bcd + p1 + bcd(calling) + p2
        return p0 + called_bcd + p1 + p2

    def iam_hex(
        self, nc: int, called_st: bool, ng: int, calling_attrs: CallingAttrs, hop_counter: int | None = None
    ) -> tuple[str, str, str]:
        """The IAM of a shape as three hex strings ``(h0, h1, h2)`` for the simulator's hot path (see
        :meth:`DigitTemplate.hex_pieces`): for a called number of ``nc`` digits and a calling number of
        ``ng`` digits (0 or more), ``bytes.fromhex(h0 + called + h1 + calling + h2).translate(SWAP)``
        equals :meth:`iam` (``SWAP`` from :mod:`sigdiag.codec.templates`)."""
        h0, h1, h2 = self.iam_template(nc, called_st, ng, calling_attrs, hop_counter).hex_pieces()
        return h0, h1, h2

    def sam(self, digits: str, st: bool) -> bytes:
        """A SAM body carrying ``digits`` (+ ST)."""
        key = (len(digits), st)
        pieces = self._sam.get(key)
        if pieces is None:

            def enc(ph: list[str]) -> bytes:
                return self.encode("SAM", {"subsequent_number": {"digits": ph[0], "st": st}})

            pieces = self._sam[key] = DigitTemplate(enc, ((len(digits), st),)).pieces
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
            {"range_and_status": {"range": circuits - 1, "status_bits": _status_bits(circuits, blocked)}},
        )

    def group(self, abbr: str, circuits: int, blocked_mask: int, mtype: int = 0) -> bytes:
        """CGB/CGBA/CGU/CGUA: supervision type (0 maintenance) and range with status bits."""
        return self._cached(
            (abbr, circuits, blocked_mask, mtype),
            abbr,
            {
                "circuit_group_supervision_message_type": {"type": mtype},
                "range_and_status": {
                    "range": circuits - 1,
                    "status_bits": _status_bits(circuits, blocked_mask),
                },
            },
        )

    @property
    def type_offset(self) -> int:
        """Offset of the message type in a body with CIC."""
        return self.cic_len


def _status_bits(circuits: int, mask: int) -> str:
    """The codec's ``status_bits`` of a range: one "0"/"1" per circuit, first circuit (bit 0 of
    ``mask``) first."""
    return format(mask, f"0{circuits}b")[::-1]
