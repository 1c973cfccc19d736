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
from sigdiag.carrier.payload import Payload
from sigdiag.codec.message import Message
from sigdiag.codec.messages import ALL_ABBRS, MessageSpec, message_table
from sigdiag.codec.params import ANSI_PARAMETERS, PARAMETERS, RAW, Codec, ParamError

__all__ = [
    "EncodeError",
    "decode_bytes",
    "decode_message",
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


#: A message format compiled for decoding: (abbreviation, fixed part as ((code, length), ...), total
#: length of the fixed part, codes of the variable part, has an optional part, a key-field parameter is
#: in the fixed part).  Plain tuples: the hot path unpacks one instead of reading a MessageSpec's
#: attributes.
_Plan = tuple[str, tuple[tuple[int, int], ...], int, tuple[int, ...], bool, bool]

#: Parameter codes of the key fields: called party number, subsequent number, calling party number,
#: cause indicators.
_KEY_CODES = frozenset((0x04, 0x05, 0x0A, 0x12))


def _plans(table: Mapping[int, MessageSpec]) -> dict[int, _Plan]:
    return {
        code: (
            spec.abbr,
            spec.fixed,
            sum(length for _, length in spec.fixed),
            spec.variable,
            spec.optional,
            any(c in _KEY_CODES for c, _ in spec.fixed),
        )
        for code, spec in table.items()
    }


_ITU_PLANS = _plans(message_table("isup", "itu"))
_ANSI_PLANS = _plans(message_table("isup", "ansi"))
_BICC_PLANS = _plans(message_table("bicc", "itu"))

#: decode_message makes a bare Message and stores each attribute once, instead of Message(payload)
#: setting defaults that the codec would overwrite.
_new_message = object.__new__


def decode_payload(p: Payload) -> Message:
    """Decode one message's bytes into a :class:`Message` (key fields now, parameters on demand)."""
    return decode_message(
        p.frame,
        p.ts,
        p.carrier,
        p.protocol,
        p.variant,
        p.pc_format,
        p.opc,
        p.dpc,
        p.ni,
        p.sls,
        p.data,
        p.has_cic,
        p.link,
        p.anomalies,
        p.sip_call_id,
    )


def decode_message(
    frame: int,
    ts: float,
    carrier: str,
    protocol: str,
    variant: str,
    pc_format: str | None,
    opc: int | None,
    dpc: int | None,
    ni: int | None,
    sls: int | None,
    data: bytes,
    has_cic: bool,
    link: str = "",
    anomalies: list[Anomaly] | None = None,
    sip_call_id: str | None = None,
) -> Message:
    """Decode one message from the fields of a :class:`Payload`, given one by one in the same order.

    This is :func:`decode_payload` without the Payload: a carrier that has the fields at hand (the M3UA
    fast lane) calls it directly and saves building an object that would only be copied.  The message is
    built here with every attribute stored once (what ``Message(payload)`` sets to defaults, then the
    codec's results), the key fields decoded, ``anomalies`` taken over as the message's list (a new
    list when None, as a Payload's default).
    """
    m: Message = _new_message(Message)
    m.frame = frame
    m.ts = ts
    m.carrier = carrier
    m.protocol = protocol
    m.variant = variant
    m.pc_format = pc_format
    m.opc = opc
    m.dpc = dpc
    m.ni = ni
    m.sls = sls
    m.link = link
    m.sip_call_id = sip_call_id
    m.raw = data
    m.anomalies = an = [] if anomalies is None else anomalies
    m._params = None
    n = len(data)
    cic: int | None = None
    layout: dict[str, Any] | None = None
    if has_cic:
        if protocol == "bicc":
            if n < 5:
                an.append(Anomaly("isup.truncated", frame, f"{n} octets: no room for CIC and message type"))
                return _undecoded(m, None, "?", -1, [], None)
            cic = int.from_bytes(data[:4], "little")
            pos = 4
        else:
            if n < 3:
                an.append(Anomaly("isup.truncated", frame, f"{n} octets: no room for CIC and message type"))
                return _undecoded(m, None, "?", -1, [], None)
            word = data[0] | (data[1] << 8)
            if variant == "ansi":
                cic = word & 0x3FFF
                if word > 0x3FFF:
                    layout = {"cic_spare": word >> 14}
            else:
                cic = word & 0x0FFF
                if word > 0x0FFF:
                    layout = {"cic_spare": word >> 12}
            pos = 2
    elif n < 1:
        an.append(Anomaly("isup.truncated", frame, "empty message"))
        return _undecoded(m, None, "?", -1, [], None)
    else:
        pos = 0
    mt = data[pos]
    # the tables message_table(protocol, variant) gives
    plan = (_BICC_PLANS if protocol == "bicc" else _ANSI_PLANS if variant == "ansi" else _ITU_PLANS).get(mt)
    pos += 1
    if plan is None:
        other = ALL_ABBRS.get(mt)
        hint = f" ({other} in another variant)" if other else ""
        an.append(Anomaly("isup.unknown_message_type", frame, f"message type 0x{mt:02X}{hint}"))
        return _undecoded(m, cic, f"0x{mt:02X}", mt, [(UNPARSED, data[pos:])], layout)
    abbr, fixed, fixed_len, variable, optional, fixed_keys = plan
    m.cic = cic
    m.type = abbr
    m.type_code = mt
    m.raw_params = out = []
    if n == pos + fixed_len + 1 and optional and not variable and not data[n - 1] and not fixed_keys:
        # Only a fixed part and an empty optional part (pointer 0, nothing after it): ANM, RLC, most
        # ACM and CPG, two thirds of the traffic.  This is what _split does for such a message, without
        # its checks, and there is no key field to look for.
        for code, length in fixed:
            end = pos + length
            out.append((code, data[pos:end]))
            pos = end
        m.layout = layout
        m.called = m.called_complete = m.calling = m.subsequent = m.cause = m.cause_location = None
        return m
    m.layout = _split(out, plan, data, pos, frame, an, layout)
    # The key fields (hot path: no dicts, no codec objects); a repeated parameter: the last one counts.
    called = called_complete = calling = subsequent = cause = cause_location = None
    for code, value in out:
        if code not in _KEY_CODES:
            continue
        if code == 0x04:
            if len(value) >= 2:
                called, called_complete = _digits(value[2:], value[0] & 0x80)
        elif code == 0x0A:
            if len(value) > 2:
                calling = _digits(value[2:], value[0] & 0x80)[0] or None
        elif code == 0x05:
            if value:
                subsequent, called_complete = _digits(value[1:], value[0] & 0x80)
        elif len(value) >= 2:  # 0x12, cause indicators
            o1 = value[0]
            cause_location = o1 & 0x0F
            if o1 & 0x80:
                cause = value[1] & 0x7F
            elif len(value) >= 3:
                cause = value[2] & 0x7F
    m.called = called
    m.called_complete = called_complete
    m.calling = calling
    m.subsequent = subsequent
    m.cause = cause
    m.cause_location = cause_location
    return m


def _undecoded(
    m: Message,
    cic: int | None,
    typ: str,
    type_code: int,
    raw_params: list[tuple[int, bytes]],
    layout: dict[str, Any] | None,
) -> Message:
    """Finish a message whose parameters could not be split (too short, unknown type): no key fields."""
    m.cic = cic
    m.type = typ
    m.type_code = type_code
    m.raw_params = raw_params
    m.layout = layout
    m.called = m.called_complete = m.calling = m.subsequent = m.cause = m.cause_location = None
    return m


def _split(
    out: list[tuple[int, bytes]],
    plan: _Plan,
    data: bytes,
    pos: int,
    frame: int,
    an: list[Anomaly],
    layout: dict[str, Any] | None,
) -> dict[str, Any] | None:
    """Append the mandatory and optional parameters to ``out``; anomalies for what does not fit.

    Returns ``layout`` with the layout quirks found added (an empty optional part, trailing octets).
    """
    abbr, fixed, fixed_len, variable, optional, _ = plan
    n = len(data)
    if pos + fixed_len <= n:  # the whole fixed part is there (the usual case): no check per parameter
        for code, length in fixed:
            end = pos + length
            out.append((code, data[pos:end]))
            pos = end
    else:
        for code, length in fixed:
            if pos + length > n:
                an.append(Anomaly("isup.truncated", frame, f"{abbr}: mandatory fixed part ends at octet {n}"))
                return layout
            out.append((code, data[pos : pos + length]))
            pos += length
    nvariable = len(variable)
    npointers = nvariable + optional
    if pos + npointers > n:
        if npointers:
            an.append(Anomaly("isup.truncated", frame, f"{abbr}: pointers missing"))
        return layout
    end = pos + npointers
    expect = end  # where the next parameter starts in the canonical layout (what the encoder writes)
    irregular = False
    for i, code in enumerate(variable):
        ptr = data[pos + i]
        start = pos + i + ptr
        if start != expect:
            irregular = True
        if ptr == 0 or start >= n:
            an.append(Anomaly("isup.pointer_out_of_range", frame, f"{abbr}: pointer {i + 1} = {ptr}"))
            return layout
        length = data[start]
        stop = start + 1 + length
        if stop > n:
            an.append(
                Anomaly("isup.parameter_overrun", frame, f"{abbr}: parameter 0x{code:02X} length {length}")
            )
            out.append((code, data[start + 1 : n]))
            return layout
        out.append((code, data[start + 1 : stop]))
        expect = stop
        if stop > end:
            end = stop
    if optional:
        ptr = data[pos + nvariable]
        if ptr:
            q = pos + nvariable + ptr
            if q != expect:
                irregular = True
            if q >= n:
                an.append(
                    Anomaly("isup.pointer_out_of_range", frame, f"{abbr}: optional part pointer = {ptr}")
                )
                return layout
            first = q
            seen = 0  # bit per parameter code met (codes are octets)
            while True:
                if q >= n:
                    an.append(Anomaly("isup.missing_end_of_optional", frame, abbr))
                    break
                code = data[q]
                if code == 0:
                    q += 1
                    if q - 1 == first:
                        layout = {**(layout or {}), "empty_optional_part": True}
                    break
                if q + 1 >= n or q + 2 + data[q + 1] > n:
                    an.append(
                        Anomaly("isup.parameter_overrun", frame, f"{abbr}: optional parameter 0x{code:02X}")
                    )
                    out.append((code, data[q + 2 : n]))
                    q = n
                    break
                stop = q + 2 + data[q + 1]
                if seen >> code & 1:
                    an.append(Anomaly("isup.duplicate_parameter", frame, f"{abbr}: parameter 0x{code:02X}"))
                seen |= 1 << code
                out.append((code, data[q + 2 : stop]))
                q = stop
            if q > end:
                end = q
    if irregular:
        # octets no parameter covers, or parameters that overlap or come out of order: decoded as the
        # pointers say, but the message does not re-encode to the same octets
        an.append(Anomaly("isup.irregular_layout", frame, f"{abbr}: pointers leave gaps or overlap"))
    if end < n:
        an.append(Anomaly("isup.trailing_bytes", frame, f"{abbr}: {n - end} octets after the message"))
        layout = {**(layout or {}), "trailing": data[end:].hex()}
    return layout


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
