"""ISUP / BICC message codec driven by the tables in :mod:`~sigdiag.codec.messages` and
:mod:`~sigdiag.codec.params`.

Wire layout (Q.763 clause 1.3)::

    CIC (ITU 12 bits / ANSI 14 bits in 2 octets LE; BICC 4 octets LE; absent in SIP-I bodies)
    message type code (1 octet)
    mandatory fixed part        parameter values back to back, lengths from the message table
    mandatory variable part     one pointer octet per parameter, then one pointer to the optional part;
                                each pointer counts octets from itself to the parameter's length octet
    optional part               (code, length, value)... then code 0 (end of optional parameters)

Decoding splits a message into ``(code, value)`` pairs and decodes only the key fields (called, calling,
subsequent digits, cause); :func:`decode_params` decodes every parameter on demand.  Nothing raises on
bad octets: problems become anomalies on the message.  :func:`encode_message` is the inverse, and
``encode(decode(b)) == b`` holds for every well-formed message (layout quirks such as an optional-part
pointer that points at an empty optional part, octets after the end of the message, are recorded in
``Message.layout``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sigdiag.anomalies import Anomaly
from sigdiag.codec.messages import ALL_ABBRS, MessageSpec, message_table
from sigdiag.codec.params import ANSI_PARAMETERS, PARAMETERS, RAW, Codec, ParamError
from sigdiag.model import Message, Payload

__all__ = [
    "EncodeError",
    "decode_bytes",
    "decode_params",
    "decode_payload",
    "encode_message",
    "param_code",
    "reencode",
]

#: Pseudo parameter code for the undecoded body of a message of unknown type.
UNPARSED = -1

_SWAP = bytes(((b & 0x0F) << 4) | (b >> 4) for b in range(256))


class EncodeError(ValueError):
    """The message or a parameter given to :func:`encode_message` cannot be encoded."""


def _digits(data: bytes, odd: int) -> tuple[str, bool]:
    digits = data.translate(_SWAP).hex().upper()
    if odd and digits:
        digits = digits[:-1]
    if digits.endswith("F"):
        return digits[:-1], True
    return digits, False


_TABLES = {
    (protocol, variant): message_table(protocol, variant)
    for protocol in ("isup", "bicc")
    for variant in ("itu", "ansi")
}


def decode_payload(p: Payload) -> Message:
    """Decode one message's bytes into a :class:`Message` (key fields now, parameters on demand)."""
    m = Message(p)
    data = p.data
    n = len(data)
    an = m.anomalies
    pos = 0
    if p.has_cic:
        if p.protocol == "bicc":
            if n < 5:
                an.append(Anomaly("isup.truncated", p.frame, f"{n} octets: no room for CIC and message type"))
                m.type = "?"
                return m
            m.cic = int.from_bytes(data[:4], "little")
            pos = 4
        else:
            if n < 3:
                an.append(Anomaly("isup.truncated", p.frame, f"{n} octets: no room for CIC and message type"))
                m.type = "?"
                return m
            word = data[0] | (data[1] << 8)
            mask = 0x3FFF if p.variant == "ansi" else 0x0FFF
            m.cic = word & mask
            if word & ~mask:
                m.layout = {"cic_spare": word >> (14 if p.variant == "ansi" else 12)}
            pos = 2
    elif n < 1:
        an.append(Anomaly("isup.truncated", p.frame, "empty message"))
        m.type = "?"
        return m
    mt = data[pos]
    m.type_code = mt
    table = _TABLES.get((p.protocol, p.variant)) or message_table(p.protocol, p.variant)
    spec = table.get(mt)
    pos += 1
    if spec is None:
        m.type = f"0x{mt:02X}"
        other = ALL_ABBRS.get(mt)
        hint = f" ({other} in another variant)" if other else ""
        an.append(Anomaly("isup.unknown_message_type", p.frame, f"message type 0x{mt:02X}{hint}"))
        m.raw_params = [(UNPARSED, data[pos:])]
        return m
    m.type = spec.abbr
    _split(m, spec, data, pos, p.frame)
    _keys(m)
    return m


def _split(m: Message, spec: MessageSpec, data: bytes, pos: int, frame: int) -> None:
    """Fill ``m.raw_params`` from the mandatory and optional parts; anomalies for what does not fit."""
    n = len(data)
    an = m.anomalies
    out = m.raw_params
    for code, length in spec.fixed:
        if pos + length > n:
            an.append(Anomaly("isup.truncated", frame, f"{m.type}: mandatory fixed part ends at octet {n}"))
            return
        out.append((code, data[pos : pos + length]))
        pos += length
    npointers = len(spec.variable) + spec.optional
    if pos + npointers > n:
        if npointers:
            an.append(Anomaly("isup.truncated", frame, f"{m.type}: pointers missing"))
        return
    end = pos + npointers
    for i, code in enumerate(spec.variable):
        ptr = data[pos + i]
        start = pos + i + ptr
        if ptr == 0 or start >= n:
            an.append(Anomaly("isup.pointer_out_of_range", frame, f"{m.type}: pointer {i + 1} = {ptr}"))
            return
        length = data[start]
        stop = start + 1 + length
        if stop > n:
            an.append(
                Anomaly("isup.parameter_overrun", frame, f"{m.type}: parameter 0x{code:02X} length {length}")
            )
            out.append((code, data[start + 1 : n]))
            return
        out.append((code, data[start + 1 : stop]))
        if stop > end:
            end = stop
    if spec.optional:
        ptr = data[pos + len(spec.variable)]
        if ptr:
            q = pos + len(spec.variable) + ptr
            if q >= n:
                an.append(
                    Anomaly("isup.pointer_out_of_range", frame, f"{m.type}: optional part pointer = {ptr}")
                )
                return
            first = q
            seen: set[int] = set()
            while True:
                if q >= n:
                    an.append(Anomaly("isup.missing_end_of_optional", frame, m.type))
                    break
                code = data[q]
                if code == 0:
                    q += 1
                    if q - 1 == first:
                        m.layout = {**(m.layout or {}), "empty_optional_part": True}
                    break
                if q + 1 >= n or q + 2 + data[q + 1] > n:
                    an.append(
                        Anomaly("isup.parameter_overrun", frame, f"{m.type}: optional parameter 0x{code:02X}")
                    )
                    out.append((code, data[q + 2 : n]))
                    q = n
                    break
                length = data[q + 1]
                if code in seen:
                    an.append(Anomaly("isup.duplicate_parameter", frame, f"{m.type}: parameter 0x{code:02X}"))
                seen.add(code)
                out.append((code, data[q + 2 : q + 2 + length]))
                q += 2 + length
            if q > end:
                end = q
    if end < n:
        an.append(Anomaly("isup.trailing_bytes", frame, f"{m.type}: {n - end} octets after the message"))
        m.layout = {**(m.layout or {}), "trailing": data[end:].hex()}


def _keys(m: Message) -> None:
    """Decode the key fields from ``m.raw_params`` (hot path: no dicts, no codec objects)."""
    for code, value in m.raw_params:
        if code == 0x04:
            if len(value) >= 2:
                m.called, m.called_complete = _digits(value[2:], value[0] & 0x80)
        elif code == 0x0A:
            if len(value) > 2:
                m.calling = _digits(value[2:], value[0] & 0x80)[0] or None
        elif code == 0x05:
            if value:
                m.subsequent, m.called_complete = _digits(value[1:], value[0] & 0x80)
        elif code == 0x12 and len(value) >= 2:
            o1 = value[0]
            m.cause_location = o1 & 0x0F
            if o1 & 0x80:
                m.cause = value[1] & 0x7F
            elif len(value) >= 3:
                m.cause = value[2] & 0x7F


def _param_table(variant: str) -> dict[int, tuple[str, Codec]]:
    return ANSI_PARAMETERS if variant == "ansi" else PARAMETERS


def decode_params(
    raw_params: Iterable[tuple[int, bytes]],
    variant: str,
    frame: int = 0,
    anomalies: list[Anomaly] | None = None,
) -> dict[str, Any]:
    """Decode every parameter in full: ``{name: {field: value, ...}}`` in message order.

    Unknown codes are named ``param_0xNN`` and kept as raw hex; a parameter that does not fit its
    definition is kept as ``{"raw": ..., "error": ...}`` with an ``isup.bad_parameter`` anomaly.  A
    repeated parameter gets the suffix ``#2``, ``#3``...
    """
    table = _param_table(variant)
    out: dict[str, Any] = {}
    for code, value in raw_params:
        if code == UNPARSED:
            out["unparsed"] = {"raw": value.hex()}
            continue
        name, codec = table.get(code) or (f"param_0x{code:02X}", RAW)
        try:
            decoded = codec.decode(value)
        except (ParamError, IndexError, ValueError) as exc:
            decoded = {"raw": value.hex(), "error": str(exc)}
            if anomalies is not None:
                anomalies.append(Anomaly("isup.bad_parameter", frame, f"{name}: {exc}"))
        key = name
        k = 2
        while key in out:
            key = f"{name}#{k}"
            k += 1
        out[key] = decoded
    return out


_NAME_TO_CODE: dict[str, dict[str, int]] = {
    variant: {name: code for code, (name, _) in _param_table(variant).items()} for variant in ("itu", "ansi")
}


def param_code(name: str, variant: str = "itu") -> int:
    """The parameter code for a name used in ``params`` (``param_0xNN`` and ``name#2`` accepted)."""
    base = name.split("#", 1)[0]
    code = _NAME_TO_CODE["ansi" if variant == "ansi" else "itu"].get(base)
    if code is not None:
        return code
    if base.startswith("param_0x"):
        return int(base[8:], 16)
    raise EncodeError(f"unknown parameter name {name!r}")


def _encode_value(code: int, value: Any, variant: str) -> bytes:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if not isinstance(value, Mapping):
        raise EncodeError(f"parameter 0x{code:02X}: expected a mapping or bytes, got {type(value).__name__}")
    if "error" in value:
        return bytes.fromhex(str(value["raw"]))
    _, codec = _param_table(variant).get(code) or ("", RAW)
    try:
        return codec.encode(value)
    except (ParamError, ValueError, TypeError) as exc:
        raise EncodeError(f"parameter 0x{code:02X}: {exc}") from None


def encode_message(
    message_type: int | str,
    params: Mapping[str, Any],
    *,
    cic: int | None = None,
    protocol: str = "isup",
    variant: str = "itu",
    layout: Mapping[str, Any] | None = None,
) -> bytes:
    """Encode a message from its type (code or abbreviation) and ``{parameter name: value}``.

    Values are dicts as :func:`decode_params` produces them (derived keys are ignored) or raw bytes.
    The mandatory parameters of the message's format must all be given; every other parameter goes in
    the optional part, in the order given.  ``cic=None`` leaves the CIC out (SIP-I bodies).
    """
    table = message_table(protocol, variant)
    if isinstance(message_type, str):
        found = [s for s in table.values() if s.abbr == message_type.upper()]
        if not found:
            raise EncodeError(f"no message {message_type!r} in {protocol}/{variant}")
        spec: MessageSpec | None = found[0]
        code = found[0].code
    else:
        code = message_type
        spec = table.get(code)
    layout = layout or {}
    out = bytearray()
    if cic is not None:
        if protocol == "bicc":
            out += int(cic).to_bytes(4, "little")
        else:
            bits = 14 if variant == "ansi" else 12
            if not 0 <= cic < (1 << bits):
                raise EncodeError(f"CIC {cic} does not fit in {bits} bits")
            out += (cic | (int(layout.get("cic_spare", 0)) << bits)).to_bytes(2, "little")
    out.append(code)
    if spec is None:
        unparsed = params.get("unparsed", {})
        return bytes(out) + bytes.fromhex(str(unparsed.get("raw", "")))
    by_code: dict[int, Any] = {}
    optional: list[tuple[int, Any]] = []
    mandatory = {c for c, _ in spec.fixed} | set(spec.variable)
    for name, value in params.items():
        c = param_code(name, variant)
        if c in mandatory and c not in by_code:
            by_code[c] = value
        else:
            optional.append((c, value))
    for c, length in spec.fixed:
        if c not in by_code:
            raise EncodeError(f"{spec.abbr}: mandatory parameter 0x{c:02X} missing")
        value = _encode_value(c, by_code[c], variant)
        if len(value) != length:
            raise EncodeError(f"{spec.abbr}: parameter 0x{c:02X} must be {length} octets, got {len(value)}")
        out += value
    variable = []
    for c in spec.variable:
        if c not in by_code:
            raise EncodeError(f"{spec.abbr}: mandatory parameter 0x{c:02X} missing")
        variable.append(_encode_value(c, by_code[c], variant))
    if optional and not spec.optional:
        raise EncodeError(f"{spec.abbr} has no optional part: {[hex(c) for c, _ in optional]}")
    npointers = len(variable) + spec.optional
    body = bytearray()
    pointers = bytearray()
    offset = npointers  # from the first pointer
    for i, value in enumerate(variable):
        if len(value) > 255:
            raise EncodeError(f"{spec.abbr}: variable parameter longer than 255 octets")
        pointers.append(offset + len(body) - i)
        body.append(len(value))
        body += value
    if spec.optional:
        i = len(variable)
        if optional or layout.get("empty_optional_part"):
            pointers.append(offset + len(body) - i)
            for c, value in optional:
                encoded = _encode_value(c, value, variant)
                if len(encoded) > 255 or c > 0xFF:
                    raise EncodeError(f"{spec.abbr}: optional parameter 0x{c:02X} cannot be encoded")
                body += bytes((c, len(encoded)))
                body += encoded
            body.append(0)
        else:
            pointers.append(0)
    if any(p > 255 for p in pointers):
        raise EncodeError(f"{spec.abbr}: message too long for its pointers")
    return bytes(out + pointers + body) + bytes.fromhex(str(layout.get("trailing", "")))


def decode_bytes(
    data: bytes, *, protocol: str = "isup", variant: str = "itu", has_cic: bool = True
) -> Message:
    """Decode bare ISUP/BICC octets (CIC first unless ``has_cic`` is false)."""
    p = Payload(0, 0.0, "none", protocol, variant, None, None, None, None, None, bytes(data), has_cic)
    return decode_payload(p)


def reencode(m: Message) -> bytes:
    """Encode a decoded message again from its decoded parameters."""
    return encode_message(
        m.type_code,
        m.params,
        cic=m.cic,
        protocol=m.protocol,
        variant=m.variant,
        layout=m.layout,
    )
