"""ISUP / BICC message codec driven by the tables in :mod:`~sigdiag.codec.messages` and
:mod:`~sigdiag.codec.catalogue` (the parameter table, with the codecs of :mod:`~sigdiag.codec.params`).

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
from sigdiag.codec.catalogue import ANSI_PARAMETERS, PARAMETERS
from sigdiag.codec.codes import CALLED_PARTY_NUMBER, CALLING_PARTY_NUMBER, CAUSE_INDICATORS, SUBSEQUENT_NUMBER
from sigdiag.codec.message import Message
from sigdiag.codec.messages import ALL_ABBRS, MessageSpec, message_table
from sigdiag.codec.params import RAW, Codec, ParamError, bcd_digits

__all__ = [
    "EncodeError",
    "decode_bytes",
    "decode_message",
    "decode_params",
    "decode_payload",
    "encode_cic",
    "encode_message",
    "param_code",
    "param_places",
    "reencode",
]

#: The CIC bits of the 2-octet ISUP CIC field (the bits above are spare).
CIC_MASK_ITU = 0x0FFF
CIC_MASK_ANSI = 0x3FFF

#: Pseudo parameter code for the undecoded body of a message of unknown type.
UNPARSED = -1


class EncodeError(ValueError):
    """The message or a parameter given to :func:`encode_message` cannot be encoded."""


#: A message format compiled for decoding: (abbreviation, fixed part as ((code, length), ...), total
#: length of the fixed part, codes of the variable part, has an optional part, a key-field parameter is
#: in the fixed part).  Plain tuples: the hot path unpacks one instead of reading a MessageSpec's
#: attributes.
_Plan = tuple[str, tuple[tuple[int, int], ...], int, tuple[int, ...], bool, bool]

#: The parameters a message is split into: ``(code, value octets)`` in message order (Message.raw_params).
_Params = list[tuple[int, bytes]]

#: Parameter codes of the key fields: called party number, subsequent number, calling party number,
#: cause indicators.
_KEY_CODES = frozenset((CALLED_PARTY_NUMBER, SUBSEQUENT_NUMBER, CALLING_PARTY_NUMBER, CAUSE_INDICATORS))


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

    The common path calls only :func:`_split` (not even that for a message with a fixed part only) and
    :func:`~sigdiag.codec.params.bcd_digits` per number; what does not fit goes to the rare-path helpers.
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
    cic: int | None = None
    layout: dict[str, Any] | None = None
    try:  # an IndexError: too short for the CIC and message type (the rare path)
        if not has_cic:  # SIP-I bodies
            pos = 0  # the message type's offset
        elif protocol == "bicc":  # a 32-bit call instance code
            cic = int.from_bytes(data[:4], "little")
            pos = 4
        else:  # ISUP: 12 (ITU) or 14 (ANSI) bits of 2 octets, the rest spare
            word = data[0] | (data[1] << 8)
            mask = CIC_MASK_ANSI if variant == "ansi" else CIC_MASK_ITU
            cic = word & mask
            if word > mask:
                layout = {"cic_spare": word >> mask.bit_length()}
            pos = 2
        mt = data[pos]
    except IndexError:
        return _too_short(m, has_cic)
    # the tables message_table(protocol, variant) gives
    plan = (_BICC_PLANS if protocol == "bicc" else _ANSI_PLANS if variant == "ansi" else _ITU_PLANS).get(mt)
    pos += 1
    if plan is None:
        return _unknown_type(m, cic, mt, data[pos:], layout)
    abbr, fixed, fixed_len, variable, optional, fixed_keys = plan
    m.cic = cic
    m.type = abbr
    m.type_code = mt
    m.raw_params = out = []
    n = len(data)
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
    # The key fields (hot path: no dicts, no codec objects, no call but bcd_digits); a repeated parameter:
    # the last one counts.
    called = called_complete = calling = subsequent = cause = cause_location = None
    for code, value in out:
        if code not in _KEY_CODES:
            continue
        if code == CALLED_PARTY_NUMBER and len(value) >= 2:
            called, called_complete = bcd_digits(value[2:], value[0] & 0x80)
        elif code == CALLING_PARTY_NUMBER and len(value) > 2:
            calling = bcd_digits(value[2:], value[0] & 0x80)[0] or None
        elif code == SUBSEQUENT_NUMBER and value:
            subsequent, called_complete = bcd_digits(value[1:], value[0] & 0x80)
        elif code == CAUSE_INDICATORS and len(value) >= 2:
            # params.cause_location and params.cause_value, inlined: the cause value follows octet 1, or
            # octet 1a when octet 1's extension bit is 0
            cause_location = value[0] & 0x0F
            cause = value[1] & 0x7F if value[0] & 0x80 else value[2] & 0x7F if len(value) >= 3 else cause
    m.called = called
    m.called_complete = called_complete
    m.calling = calling
    m.subsequent = subsequent
    m.cause = cause
    m.cause_location = cause_location
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
    This is the path of well-formed messages: what does not fit goes to the rare-path helpers below.
    """
    abbr, fixed, fixed_len, variable, optional, _ = plan
    n = len(data)
    nvariable = len(variable)
    end = pos + fixed_len + nvariable + optional  # after the pointers
    if end > n:
        _short_mandatory(out, plan, data, pos, frame, an)
        return layout
    for code, length in fixed:
        stop = pos + length
        out.append((code, data[pos:stop]))
        pos = stop
    # pos: the first pointer.  expect: where the next parameter starts in the canonical layout (what the
    # encoder writes); a parameter elsewhere makes the layout irregular.  end: the furthest octet used.
    expect = end
    irregular = False
    for i, code in enumerate(variable):
        ptr = data[pos + i]
        start = pos + i + ptr
        if start != expect:
            irregular = True
        if not ptr or start >= n or (stop := start + 1 + data[start]) > n:
            _bad_variable(out, plan, data, pos, i, frame, an)
            return layout
        out.append((code, data[start + 1 : stop]))
        expect = stop
        end = stop if stop > end else end
    ptr = data[pos + nvariable] if optional else 0
    if ptr:
        q = pos + nvariable + ptr
        irregular |= q != expect
        if q >= n:
            an.append(Anomaly("isup.pointer_out_of_range", frame, f"{abbr}: optional part pointer = {ptr}"))
            return layout
        first = q
        seen = 0  # bit per parameter code met (codes are octets)
        while q < n and (code := data[q]):  # up to the end of optional parameters (code 0)
            stop = q + 2 + data[q + 1] if q + 1 < n else n + 1
            if stop > n:
                _optional_overrun(out, abbr, data, q, frame, an)
                q = n
                break
            if seen >> code & 1:
                an.append(Anomaly("isup.duplicate_parameter", frame, f"{abbr}: parameter 0x{code:02X}"))
            seen |= 1 << code
            out.append((code, data[q + 2 : stop]))
            q = stop
        else:
            if q < n:  # the end of optional parameters
                layout = {**(layout or {}), "empty_optional_part": True} if q == first else layout
                q += 1
            else:
                an.append(Anomaly("isup.missing_end_of_optional", frame, abbr))
        end = q if q > end else end
    if irregular:
        # octets no parameter covers, or parameters that overlap or come out of order: decoded as the
        # pointers say, but the message does not re-encode to the same octets
        an.append(Anomaly("isup.irregular_layout", frame, f"{abbr}: pointers leave gaps or overlap"))
    if end < n:
        an.append(Anomaly("isup.trailing_bytes", frame, f"{abbr}: {n - end} octets after the message"))
        layout = {**(layout or {}), "trailing": data[end:].hex()}
    return layout


# -- the rare paths of decode_message and _split: messages that do not fit their format -----------------


def _too_short(m: Message, has_cic: bool) -> Message:
    """A message with no room for its message type (after the CIC, if any)."""
    text = f"{len(m.raw)} octets: no room for CIC and message type" if has_cic else "empty message"
    m.anomalies.append(Anomaly("isup.truncated", m.frame, text))
    return _undecoded(m, None, "?", -1, [], None)


def _unknown_type(
    m: Message, cic: int | None, mt: int, body: bytes, layout: dict[str, Any] | None
) -> Message:
    """A message type the variant's table does not define: its body kept undecoded."""
    other = ALL_ABBRS.get(mt)
    hint = f" ({other} in another variant)" if other else ""
    m.anomalies.append(Anomaly("isup.unknown_message_type", m.frame, f"message type 0x{mt:02X}{hint}"))
    return _undecoded(m, cic, f"0x{mt:02X}", mt, [(UNPARSED, body)], layout)


def _undecoded(
    m: Message, cic: int | None, typ: str, type_code: int, raw_params: _Params, layout: dict[str, Any] | None
) -> Message:
    """Finish a message whose parameters could not be split (too short, unknown type): no key fields."""
    m.cic, m.type, m.type_code, m.raw_params, m.layout = cic, typ, type_code, raw_params, layout
    m.called = m.called_complete = m.calling = m.subsequent = m.cause = m.cause_location = None
    return m


def _short_mandatory(out: _Params, plan: _Plan, data: bytes, pos: int, frame: int, an: list[Anomaly]) -> None:
    """The message ends inside its mandatory fixed part or its pointers: what fits, and why not more."""
    abbr, fixed = plan[0], plan[1]
    n = len(data)
    for code, length in fixed:
        if pos + length > n:
            an.append(Anomaly("isup.truncated", frame, f"{abbr}: mandatory fixed part ends at octet {n}"))
            return
        out.append((code, data[pos : pos + length]))
        pos += length
    an.append(Anomaly("isup.truncated", frame, f"{abbr}: pointers missing"))


def _bad_variable(
    out: _Params, plan: _Plan, data: bytes, pos: int, i: int, frame: int, an: list[Anomaly]
) -> None:
    """Mandatory variable parameter ``i`` (its pointer at ``pos + i``) does not fit: the pointer points
    nowhere, or the parameter overruns the message (then what there is of it is kept)."""
    abbr, code, n = plan[0], plan[3][i], len(data)
    ptr = data[pos + i]
    start = pos + i + ptr
    if not ptr or start >= n:
        an.append(Anomaly("isup.pointer_out_of_range", frame, f"{abbr}: pointer {i + 1} = {ptr}"))
        return
    an.append(
        Anomaly("isup.parameter_overrun", frame, f"{abbr}: parameter 0x{code:02X} length {data[start]}")
    )
    out.append((code, data[start + 1 : n]))


def _optional_overrun(out: _Params, abbr: str, data: bytes, q: int, frame: int, an: list[Anomaly]) -> None:
    """The optional parameter at ``q`` overruns the message: what there is of it is kept."""
    code = data[q]
    an.append(Anomaly("isup.parameter_overrun", frame, f"{abbr}: optional parameter 0x{code:02X}"))
    out.append((code, data[q + 2 :]))


def param_places(m: Message, has_cic: bool | None = None) -> list[tuple[str, int, int]]:
    """Where each of ``m.raw_params`` stands in ``m.raw``, one-to-one and in the same order (for a full
    decode tree): ``(part, value offset, length on the wire)``; part is ``"fixed"``, ``"variable"``,
    ``"optional"`` or ``"unparsed"``; the length is the length octet's value for variable and optional
    parameters (it can exceed the octets kept when the parameter overruns the message).  ``has_cic``
    None: the message has a CIC unless it is a SIP-I body."""
    data = m.raw
    if has_cic is None:
        has_cic = m.carrier != "sip-i"
    pos = 0 if not has_cic else 4 if m.protocol == "bicc" else 2
    pos += 1  # the message type
    if m.raw_params and m.raw_params[0][0] == UNPARSED:
        return [("unparsed", pos, len(m.raw_params[0][1]))]
    spec = message_table(m.protocol, m.variant).get(m.type_code)
    fixed = spec.fixed if spec else ()
    variable = spec.variable if spec else ()
    out: list[tuple[str, int, int]] = []
    for _, length in fixed[: len(m.raw_params)]:
        out.append(("fixed", pos, length))
        pos += length
    for i in range(min(len(variable), len(m.raw_params) - len(out))):
        start = pos + i + data[pos + i]
        out.append(("variable", start + 1, data[start]))
    q = pos + len(variable) + data[pos + len(variable)] if len(m.raw_params) > len(out) else 0
    while len(out) < len(m.raw_params):
        out.append(("optional", q + 2, data[q + 1] if q + 1 < len(data) else 0))
        q += 2 + out[-1][2]
    return out


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


def encode_cic(cic: int | None, protocol: str = "isup", variant: str = "itu", spare: int = 0) -> bytes:
    """The CIC field as :func:`decode_message` reads it: 2 octets little-endian for ISUP (12 bits ITU,
    14 bits ANSI, ``spare`` in the bits above), the 4-octet call instance code for BICC, nothing for None
    (SIP-I bodies)."""
    if cic is None:
        return b""
    if protocol == "bicc":
        return int(cic).to_bytes(4, "little")
    bits = (CIC_MASK_ANSI if variant == "ansi" else CIC_MASK_ITU).bit_length()
    if not 0 <= cic < (1 << bits):
        raise EncodeError(f"CIC {cic} does not fit in {bits} bits")
    return (cic | (spare << bits)).to_bytes(2, "little")


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
    code, spec = _find_spec(message_type, protocol, variant)
    layout = layout or {}
    out = bytearray(encode_cic(cic, protocol, variant, int(layout.get("cic_spare", 0))))
    out.append(code)
    if spec is None:
        unparsed = params.get("unparsed", {})
        return bytes(out) + bytes.fromhex(str(unparsed.get("raw", "")))
    by_code, optional = _mandatory_and_optional(spec, params, variant)
    for c, length in spec.fixed:
        if c not in by_code:
            raise _missing(spec, c)
        value = _encode_value(c, by_code[c], variant)
        if len(value) != length:
            raise EncodeError(f"{spec.abbr}: parameter 0x{c:02X} must be {length} octets, got {len(value)}")
        out += value
    variable = []
    for c in spec.variable:
        if c not in by_code:
            raise _missing(spec, c)
        variable.append(_encode_value(c, by_code[c], variant))
    if optional and not spec.optional:
        raise EncodeError(f"{spec.abbr} has no optional part: {[hex(c) for c, _ in optional]}")
    out += _pointed_parts(spec, variable, optional, variant, bool(layout.get("empty_optional_part")))
    return bytes(out) + bytes.fromhex(str(layout.get("trailing", "")))


def _find_spec(message_type: int | str, protocol: str, variant: str) -> tuple[int, MessageSpec | None]:
    """The code and format of a message type given by code or abbreviation (None: a code the table does
    not define, encoded with its body as given)."""
    table = message_table(protocol, variant)
    if not isinstance(message_type, str):
        return message_type, table.get(message_type)
    for spec in table.values():
        if spec.abbr == message_type.upper():
            return spec.code, spec
    raise EncodeError(f"no message {message_type!r} in {protocol}/{variant}")


def _mandatory_and_optional(
    spec: MessageSpec, params: Mapping[str, Any], variant: str
) -> tuple[dict[int, Any], list[tuple[int, Any]]]:
    """The given parameters by code: the mandatory ones (the first of each code), then the rest in order."""
    by_code: dict[int, Any] = {}
    optional: list[tuple[int, Any]] = []
    mandatory = {c for c, _ in spec.fixed} | set(spec.variable)
    for name, value in params.items():
        c = param_code(name, variant)
        if c in mandatory and c not in by_code:
            by_code[c] = value
        else:
            optional.append((c, value))
    return by_code, optional


def _missing(spec: MessageSpec, code: int) -> EncodeError:
    return EncodeError(f"{spec.abbr}: mandatory parameter 0x{code:02X} missing")


def _pointed_parts(
    spec: MessageSpec,
    variable: list[bytes],
    optional: list[tuple[int, Any]],
    variant: str,
    empty_optional_part: bool,
) -> bytes:
    """The pointers, the mandatory variable part and the optional part, in the canonical layout (each
    part right after the previous one, as :func:`_split` expects them)."""
    npointers = len(variable) + spec.optional
    body = bytearray()
    pointers: list[int] = []  # each counts from itself to its parameter's length octet
    for i, value in enumerate(variable):
        if len(value) > 255:
            raise EncodeError(f"{spec.abbr}: variable parameter longer than 255 octets")
        pointers.append(npointers - i + len(body))
        body.append(len(value))
        body += value
    if spec.optional and (optional or empty_optional_part):
        pointers.append(npointers - len(variable) + len(body))
        for c, value in optional:
            encoded = _encode_value(c, value, variant)
            if len(encoded) > 255 or c > 0xFF:
                raise EncodeError(f"{spec.abbr}: optional parameter 0x{c:02X} cannot be encoded")
            body += bytes((c, len(encoded)))
            body += encoded
        body.append(0)  # end of optional parameters
    elif spec.optional:
        pointers.append(0)  # no optional part
    if any(p > 255 for p in pointers):
        raise EncodeError(f"{spec.abbr}: message too long for its pointers")
    return bytes(pointers) + body


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
