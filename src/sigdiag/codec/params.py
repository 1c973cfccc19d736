"""Parameter codecs: each one decodes a parameter's value octets to a dict and encodes the dict back.

Every codec is lossless for the octets it accepts: ``codec.encode(codec.decode(b)) == b``.  Keys that end
in ``_name`` (and the derived keys a codec documents) are for people and are ignored when encoding.
A value a codec cannot accept raises :class:`ParamError`; the message decoder then keeps the parameter
as raw hex with an ``isup.bad_parameter`` anomaly, so nothing is lost.

The bit positions follow Q.763's figures: bit A is the least significant bit of the first octet.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sigdiag.codec import names as N

__all__ = [
    "RAW",
    "SWAP",
    "AccessTransport",
    "ApplicationTransport",
    "Bits",
    "Cause",
    "Codec",
    "Field",
    "Number",
    "ParamError",
    "RangeAndStatus",
    "Raw",
    "UserServiceInformation",
    "bcd_decode",
    "bcd_digits",
    "bcd_encode",
    "cause_location",
    "cause_value",
    "circuit_range",
    "layout",
    "range_circuits",
]


class ParamError(ValueError):
    """The octets (or the dict, when encoding) do not fit the parameter's definition."""


# -- BCD digits ---------------------------------------------------------------------------------------

#: ``bytes.translate`` table swapping the two nibbles of every octet: BCD digits read and written in order.
SWAP = bytes(((b & 0x0F) << 4) | (b >> 4) for b in range(256))
_HEX = "0123456789ABCDEF"


def bcd_digits(data: bytes, odd: int) -> tuple[str, bool]:
    """Digits of a Q.763 address signal field: (digits without ST, ST present).

    The first digit is in the low nibble of the first octet; an odd count leaves a filler nibble in the
    high nibble of the last octet.  Digits 0xA-0xF print as uppercase hex letters; a trailing 0xF is ST.
    (The decoder's key fields read numbers with this: no more than it needs.)
    """
    digits = data.translate(SWAP).hex().upper()
    if odd and digits:
        digits = digits[:-1]
    if digits.endswith("F"):
        return digits[:-1], True
    return digits, False


def bcd_decode(data: bytes, odd: bool) -> tuple[str, bool, int]:
    """:func:`bcd_digits` and the filler nibble (0 for an even count)."""
    digits, st = bcd_digits(data, odd)
    return digits, st, data[-1] >> 4 if odd and data else 0


def bcd_encode(digits: str, st: bool = False, filler: int = 0) -> tuple[bytes, bool]:
    """Octets for ``digits`` (+ ST) and whether the count is odd."""
    text = digits.upper() + ("F" if st else "")
    for ch in text:
        if ch not in _HEX:
            raise ParamError(f"not a digit: {ch!r}")
    odd = len(text) % 2 == 1
    if odd:
        text += _HEX[filler & 0x0F]
    return bytes.fromhex(text).translate(SWAP), odd


# -- codecs -------------------------------------------------------------------------------------------


class Codec:
    """Base: a codec decodes value octets to a dict and encodes the dict to octets."""

    kind = "raw"

    def decode(self, data: bytes) -> dict[str, Any]:
        raise NotImplementedError

    def encode(self, value: Mapping[str, Any]) -> bytes:
        raise NotImplementedError


class Raw(Codec):
    """Kept as hex: parameters sigdiag does not interpret."""

    def decode(self, data: bytes) -> dict[str, Any]:
        return {"raw": data.hex()}

    def encode(self, value: Mapping[str, Any]) -> bytes:
        return bytes.fromhex(str(value.get("raw", "")))


#: The codec of the parameters sigdiag does not interpret.
RAW = Raw()


class Field:
    """A named bit field: ``width`` bits starting at bit ``shift`` (bit A = 0), with optional value names."""

    __slots__ = ("mask", "name", "names", "shift", "width")

    def __init__(self, name: str, shift: int, width: int, names: Mapping[int, str] | None = None) -> None:
        self.name = name
        self.shift = shift
        self.width = width
        self.mask = (1 << width) - 1
        self.names = names


class Bits(Codec):
    """A fixed number of octets split into bit fields (Q.763 indicator parameters)."""

    kind = "bits"

    def __init__(self, octets: int, fields: list[Field], *, variable: bool = False) -> None:
        self.octets = octets
        self.fields = fields
        self.variable = variable  # extra octets allowed: kept as "extra"
        covered = 0
        for f in fields:
            covered |= f.mask << f.shift
        if covered != (1 << (8 * octets)) - 1:
            raise AssertionError(f"bit fields do not cover {octets} octets: {covered:#x}")

    def decode(self, data: bytes) -> dict[str, Any]:
        if len(data) < self.octets or (len(data) != self.octets and not self.variable):
            raise ParamError(f"expected {self.octets} octets, got {len(data)}")
        word = int.from_bytes(data[: self.octets], "little")
        out: dict[str, Any] = {}
        for f in self.fields:
            v = (word >> f.shift) & f.mask
            out[f.name] = v
            if f.names is not None and v in f.names:
                out[f.name + "_name"] = f.names[v]
        if len(data) > self.octets:
            out["extra"] = data[self.octets :].hex()
        return out

    def reader(self, name: str) -> Callable[[bytes], int | None]:
        """A fast reader of field ``name`` from a value's octets: ``None`` when the value is too short.

        Only the octet holding the field is read (no length check against the codec's size, no other
        field decoded): what hot code needs, from the same :class:`Field` that :meth:`decode` uses.
        """
        f = next(f for f in self.fields if f.name == name)
        index, shift = divmod(f.shift, 8)
        if shift + f.width > 8:
            raise ValueError(f"{name} spans two octets")
        mask = f.mask
        if index == 0 and shift == 0:

            def read(value: bytes) -> int | None:
                return value[0] & mask if value else None

        elif index == 0:

            def read(value: bytes) -> int | None:
                return value[0] >> shift & mask if value else None

        else:

            def read(value: bytes) -> int | None:
                return value[index] >> shift & mask if len(value) > index else None

        read.__name__ = read.__qualname__ = name
        return read

    def encode(self, value: Mapping[str, Any]) -> bytes:
        word = 0
        for f in self.fields:
            v = int(value.get(f.name, 0))
            if v & ~f.mask:
                raise ParamError(f"{f.name}={v} does not fit in {f.width} bits")
            word |= v << f.shift
        return word.to_bytes(self.octets, "little") + bytes.fromhex(str(value.get("extra", "")))


def layout(*rows: tuple[str, int] | tuple[str, int, Mapping[int, str]]) -> list[Field]:
    """Bit fields from ``(name, width)`` or ``(name, width, value names)`` rows in bit order, as Q.763's
    figures list them: each field starts where the one before ends (bit A = 0)."""
    fields: list[Field] = []
    shift = 0
    for name, width, *names in rows:
        fields.append(Field(name, shift, width, *names))
        shift += width
    return fields


def _octet_fields(prefix: list[Field], shift: int) -> list[Field]:
    return [Field(f.name, f.shift + shift, f.width, f.names) for f in prefix]


#: Octet 1 of every number: odd/even indicator and nature of address.
_NAI_OCTET = layout(("nature_of_address", 7, N.NATURE_OF_ADDRESS), ("odd_even", 1))


class Number(Codec):
    """A Q.763 address: header octet(s) then BCD digits (called/calling/redirecting/... numbers).

    Decoded keys: the header fields, ``digits`` (ST excluded), ``st`` (bool), ``filler`` (only when the
    filler nibble of an odd count is not 0).  ``lead`` octets (e.g. the generic number's number qualifier)
    come before the odd/even octet.
    """

    kind = "number"

    def __init__(
        self, header: list[Field], lead: list[Field] | None = None, *, subsequent: bool = False
    ) -> None:
        self.lead = Bits(1, lead) if lead else None
        if subsequent:
            self.header = Bits(1, layout(("spare", 7), ("odd_even", 1)))
        else:
            self.header = Bits(2, _NAI_OCTET + _octet_fields(header, 8))
        self.header_len = self.header.octets + (1 if self.lead else 0)

    def decode(self, data: bytes) -> dict[str, Any]:
        if len(data) < self.header_len:
            raise ParamError(f"a number needs at least {self.header_len} octets, got {len(data)}")
        out: dict[str, Any] = {}
        pos = 0
        if self.lead is not None:
            out.update(self.lead.decode(data[:1]))
            pos = 1
        out.update(self.header.decode(data[pos : pos + self.header.octets]))
        digits, st, filler = bcd_decode(data[self.header_len :], bool(out["odd_even"]))
        out["digits"] = digits
        out["st"] = st
        if filler:
            out["filler"] = filler
        return out

    def encode(self, value: Mapping[str, Any]) -> bytes:
        digits, odd = bcd_encode(
            str(value.get("digits") or ""), bool(value.get("st")), int(value.get("filler", 0))
        )
        head = dict(value)
        # no digit octets: the indicator says nothing about them, keep what was decoded (an odd count
        # with no octets is malformed, but it must encode back to the same octets)
        head["odd_even"] = int(odd) if digits else int(value.get("odd_even", 0)) & 1
        lead = self.lead.encode(value) if self.lead is not None else b""
        return lead + self.header.encode(head) + digits


def cause_location(data: bytes) -> int | None:
    """The location of cause indicators (octet 1 bits 4-1); None when there is no room for a cause value
    (under 2 octets).  ``Message.cause_location`` and :class:`Cause` read it here."""
    return data[0] & 0x0F if len(data) >= 2 else None


def cause_value(data: bytes) -> int | None:
    """The cause value of cause indicators (bits 7-1 of octet 2, or of octet 3 when octet 1's extension
    bit is 0 and octet 1a, the recommendation, comes first); None when it is missing.  ``Message.cause``
    and :class:`Cause` read it here."""
    if len(data) < 2:
        return None
    if data[0] & 0x80:
        return data[1] & 0x7F
    return data[2] & 0x7F if len(data) >= 3 else None


class Cause(Codec):
    """Cause indicators (Q.850 2.2): coding standard, location, [recommendation], value, diagnostics."""

    kind = "cause"

    def decode(self, data: bytes) -> dict[str, Any]:
        location = cause_location(data)
        if location is None:
            raise ParamError("cause indicators need at least 2 octets")
        o1 = data[0]
        out: dict[str, Any] = {
            "coding_standard": (o1 >> 5) & 3,
            "coding_standard_name": N.CAUSE_CODING_STANDARD[(o1 >> 5) & 3],
            "location": location,
        }
        if location in N.CAUSE_LOCATION:
            out["location_name"] = N.CAUSE_LOCATION[location]
        if o1 & 0x10:
            out["spare"] = 1
        pos = 1
        if not o1 & 0x80:  # octet 1a: recommendation
            out["recommendation"] = data[1] & 0x7F
            if not data[1] & 0x80:
                raise ParamError("cause octet 1a without its extension bit")
            pos = 2
            if len(data) < 3:
                raise ParamError("cause indicators end after octet 1a")
        o2 = data[pos]
        value = o2 & 0x7F  # what cause_value reads
        out["cause_value"] = value
        out["cause_name"] = N.cause_name(value)
        out["cause_class"] = value >> 4
        if not o2 & 0x80:
            out["ext2"] = 0
        out["diagnostics"] = data[pos + 1 :].hex()
        return out

    def encode(self, value: Mapping[str, Any]) -> bytes:
        rec = value.get("recommendation")
        o1 = ((int(value.get("coding_standard", 0)) & 3) << 5) | (int(value.get("location", 0)) & 0x0F)
        o1 |= 0x10 if value.get("spare") else 0
        out = bytearray()
        if rec is None:
            out.append(o1 | 0x80)
        else:
            out += bytes((o1, 0x80 | (int(rec) & 0x7F)))
        cause = int(value.get("cause_value", 0))
        if not 0 <= cause <= 127:
            raise ParamError(f"cause value {cause} out of range")
        out.append(cause | (0 if value.get("ext2") == 0 else 0x80))
        out += bytes.fromhex(str(value.get("diagnostics", "")))
        return bytes(out)


def circuit_range(data: bytes) -> int | None:
    """The range of a range and status value (octet 1: the number of circuits - 1); None when empty."""
    return data[0] if data else None


def range_circuits(cic: int, data: bytes, use_status: bool = True) -> tuple[int, ...] | None:
    """The circuits a range and status value names, from ``cic`` (the message's CIC) on: all the range's
    circuits, or (``use_status`` and status octets present) those whose status bit is 1.  None for an
    empty value.  The bits are the ones :class:`RangeAndStatus` decodes as ``status_bits``."""
    if not data:
        return None
    rng = data[0]
    status = data[1:]
    if status and use_status:
        return tuple(
            cic + i for i in range(rng + 1) if i // 8 < len(status) and (status[i // 8] >> (i % 8)) & 1
        )
    return tuple(range(cic, cic + rng + 1))


class RangeAndStatus(Codec):
    """Range and status (Q.763 3.43): range (circuits - 1), then one status bit per circuit if present.

    Derived keys: ``circuits`` (range + 1) and ``status_bits`` ("0101...", first circuit first).  When
    encoding, ``status`` (hex octets) is written if given, else ``status_bits`` packed into octets (first
    circuit in bit 0 of the first octet, unused bits 0), else no status.
    """

    kind = "range"

    def decode(self, data: bytes) -> dict[str, Any]:
        if not data:
            raise ParamError("range and status needs at least 1 octet")
        out: dict[str, Any] = {"range": data[0], "circuits": data[0] + 1}
        if len(data) > 1:
            status = data[1:]
            out["status"] = status.hex()
            bits = "".join(format(b, "08b")[::-1] for b in status)
            out["status_bits"] = bits[: data[0] + 1]
        return out

    def encode(self, value: Mapping[str, Any]) -> bytes:
        rng = int(value.get("range", 0))
        if not 0 <= rng <= 255:
            raise ParamError(f"range {rng} out of range")
        if "status" in value or "status_bits" not in value:
            return bytes((rng,)) + bytes.fromhex(str(value.get("status", "")))
        bits = str(value["status_bits"])
        if bits.strip("01"):
            raise ParamError(f"status bits {bits!r} are not 0s and 1s")
        return bytes((rng,)) + bytes(int(bits[i : i + 8][::-1], 2) for i in range(0, len(bits), 8))


class UserServiceInformation(Codec):
    """User service information (Q.931 bearer capability contents, Q.763 3.57).

    Decoded: octet 3 (coding standard, information transfer capability), octet 4 (transfer mode,
    information transfer rate) and, for multirate, the rate multiplier; the remaining octets (layer 1-3
    protocols) as ``additional`` hex with ``layer1_protocol`` named when octet 5 is a layer 1 octet.
    """

    kind = "usi"

    def decode(self, data: bytes) -> dict[str, Any]:
        if len(data) < 2:
            raise ParamError("user service information needs at least 2 octets")
        o3, o4 = data[0], data[1]
        out: dict[str, Any] = {
            "ext3": o3 >> 7,
            "coding_standard": (o3 >> 5) & 3,
            "information_transfer_capability": o3 & 0x1F,
        }
        if o3 & 0x1F in N.ITC:
            out["information_transfer_capability_name"] = N.ITC[o3 & 0x1F]
        out["ext4"] = o4 >> 7
        out["transfer_mode"] = (o4 >> 5) & 3
        out["information_transfer_rate"] = o4 & 0x1F
        if o4 & 0x1F in N.TRANSFER_RATE:
            out["information_transfer_rate_name"] = N.TRANSFER_RATE[o4 & 0x1F]
        rest = data[2:]
        if o4 & 0x1F == 0x18 and rest:
            out["rate_multiplier"] = rest[0]
            rest = rest[1:]
        if rest and (rest[0] >> 5) & 3 == 1:
            out["layer1_protocol"] = rest[0] & 0x1F
            out["layer1_protocol_name"] = {2: "G.711 mu-law", 3: "G.711 A-law", 1: "V.110/I.460/X.30"}.get(
                rest[0] & 0x1F, "other"
            )
        out["additional"] = rest.hex()
        return out

    def encode(self, value: Mapping[str, Any]) -> bytes:
        o3 = (int(value.get("ext3", 1)) << 7) | ((int(value.get("coding_standard", 0)) & 3) << 5)
        o3 |= int(value.get("information_transfer_capability", 0)) & 0x1F
        o4 = (int(value.get("ext4", 1)) << 7) | ((int(value.get("transfer_mode", 0)) & 3) << 5)
        o4 |= int(value.get("information_transfer_rate", 0)) & 0x1F
        out = bytes((o3, o4))
        if "rate_multiplier" in value:
            out += bytes((int(value["rate_multiplier"]) & 0xFF,))
        return out + bytes.fromhex(str(value.get("additional", "")))


class AccessTransport(Codec):
    """Access transport (Q.763 3.3): Q.931 information elements, kept raw and named by identifier."""

    kind = "access"

    def decode(self, data: bytes) -> dict[str, Any]:
        elements = []
        pos = 0
        while pos < len(data):
            ie = data[pos]
            if ie & 0x80:  # single-octet information element
                elements.append({"id": ie, "name": "single-octet element", "value": ""})
                pos += 1
                continue
            if pos + 1 >= len(data) or pos + 2 + data[pos + 1] > len(data):
                elements.append({"id": ie, "name": "truncated element", "value": data[pos + 1 :].hex()})
                break
            length = data[pos + 1]
            elements.append(
                {
                    "id": ie,
                    "name": N.Q931_IE.get(ie, "unknown"),
                    "value": data[pos + 2 : pos + 2 + length].hex(),
                }
            )
            pos += 2 + length
        return {"raw": data.hex(), "elements": elements}

    def encode(self, value: Mapping[str, Any]) -> bytes:
        return bytes.fromhex(str(value.get("raw", "")))


class ApplicationTransport(Codec):
    """Application transport (Q.763 3.82).

    Octet 1 (and 1a): application context identifier (e.g. 5 = BAT ASE).  Octet 2: instruction
    indicators, ``send_notification`` (SNI, bit 2) and ``release_call`` (RCI, bit 1).  Octet 3:
    ``sequence`` (SI, bit 7: 1 = new sequence) and ``apm_segmentation`` (bits 6-1: 0 = final segment),
    then octet 3a ``segmentation_local_reference`` when octet 3's extension bit is 0.  Then the APM-user
    information: ``originating_address`` and ``destination_address`` (each length-prefixed; decoded when
    both lengths fit) and the encapsulated application ``information`` (hex; for BAT ASE it tunnels
    e.g. SDP).
    """

    kind = "apt"

    def decode(self, data: bytes) -> dict[str, Any]:
        if len(data) < 3:
            raise ParamError("application transport needs at least 3 octets")
        out: dict[str, Any] = {}
        o1 = data[0]
        if o1 & 0x80:
            ctx = o1 & 0x7F
            pos = 1
        else:  # octet 1a continues the identifier
            if not data[1] & 0x80:
                raise ParamError("application context identifier longer than 2 octets")
            ctx = (o1 & 0x7F) | ((data[1] & 0x7F) << 7)
            out["context_id_octets"] = 2
            pos = 2
        out["context_id"] = ctx
        out["context_name"] = N.APPLICATION_CONTEXT.get(ctx, "unknown")
        if pos + 2 > len(data):
            raise ParamError("application transport ends before its segmentation octet")
        o2 = data[pos]
        if not o2 & 0x80:
            raise ParamError("instruction indicators longer than one octet")
        if o2 & 0x7C:
            out["instruction_spare"] = (o2 >> 2) & 0x1F
        out["send_notification"] = (o2 >> 1) & 1
        out["release_call"] = o2 & 1
        o3 = data[pos + 1]
        out["sequence"] = (o3 >> 6) & 1
        out["apm_segmentation"] = o3 & 0x3F
        pos += 2
        if not o3 & 0x80:
            if pos >= len(data):
                raise ParamError("application transport ends before octet 3a")
            if not data[pos] & 0x80:
                raise ParamError("octet 3a without its extension bit")
            out["segmentation_local_reference"] = data[pos] & 0x7F
            pos += 1
        # APM-user information: originating and destination address (length-prefixed), then the
        # encapsulated application information (Q.765 / Wireshark's layout).
        rest = data[pos:]
        if len(rest) >= 2 and 1 + rest[0] < len(rest) and 2 + rest[0] + rest[1 + rest[0]] <= len(rest):
            l1 = rest[0]
            l2 = rest[1 + l1]
            out["originating_address"] = rest[1 : 1 + l1].hex()
            out["destination_address"] = rest[2 + l1 : 2 + l1 + l2].hex()
            rest = rest[2 + l1 + l2 :]
        out["information"] = rest.hex()
        return out

    def encode(self, value: Mapping[str, Any]) -> bytes:
        ctx = int(value.get("context_id", 0))
        out = bytearray()
        if value.get("context_id_octets") == 2 or ctx > 0x7F:
            out += bytes((ctx & 0x7F, 0x80 | ((ctx >> 7) & 0x7F)))
        else:
            out.append(0x80 | ctx)
        o2 = 0x80 | ((int(value.get("instruction_spare", 0)) & 0x1F) << 2)
        o2 |= ((int(value.get("send_notification", 0)) & 1) << 1) | (int(value.get("release_call", 0)) & 1)
        out.append(o2)
        o3 = ((int(value.get("sequence", 0)) & 1) << 6) | (int(value.get("apm_segmentation", 0)) & 0x3F)
        slr = value.get("segmentation_local_reference")
        if slr is None:
            out.append(0x80 | o3)
        else:
            out += bytes((o3, 0x80 | (int(slr) & 0x7F)))
        if "originating_address" in value:
            for key in ("originating_address", "destination_address"):
                address = bytes.fromhex(str(value.get(key, "")))
                out.append(len(address))
                out += address
        return bytes(out) + bytes.fromhex(str(value.get("information", "")))
