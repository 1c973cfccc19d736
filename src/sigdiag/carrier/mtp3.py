"""MTP3 (Q.704): the service information octet, the routing label in the four point-code formats,
point codes as text.

The SIO (one octet): network indicator in the top 2 bits, (priority / spare 2 bits,) service indicator in
the low 4 (:data:`SI_ISUP` 5, :data:`SI_BICC` 13; 0-2 network management and testing, 3 SCCP, 4 TUP).
Then the routing label (all little-endian):

=======  =====  =====================================================================
format   label  layout
=======  =====  =====================================================================
itu      4      32-bit word: DPC bits 0-13, OPC bits 14-27, SLS bits 28-31
ansi     7      DPC 24 bits, OPC 24 bits, SLS octet (8 bits, as Wireshark's default)
china    7      DPC 24 bits, OPC 24 bits, SLS low 4 bits
japan    5      DPC 16 bits, OPC 16 bits, SLS low 4 bits (upper 4 spare)
=======  =====  =====================================================================

Then the user part (ISUP and BICC from the CIC).  Reading: :func:`parse_mtp3` (and the structs below,
which :func:`sigdiag.carrier.mtp.payload_from_msu` uses on its fast path); building:
:func:`routing_label` (SIO + label, to prebuild) and :func:`build_mtp3`.  Point codes as text:
:func:`format_pc`, :func:`parse_pc`.
"""

from __future__ import annotations

import struct

from sigdiag.settings import PC_FORMATS

__all__ = [
    "ANSI_LABEL",
    "ITU_LABEL",
    "JAPAN_LABEL",
    "LABEL_LENGTH",
    "PC_BITS",
    "SILENT_SIS",
    "SI_BICC",
    "SI_ISUP",
    "SI_SCCP",
    "SI_TUP",
    "USER_PART_SIS",
    "build_mtp3",
    "format_pc",
    "parse_mtp3",
    "parse_pc",
    "routing_label",
]

#: Width of a point code in bits, per point-code format.
PC_BITS: dict[str, int] = {"itu": 14, "ansi": 24, "china": 24, "japan": 16}
#: Length of the routing label (after the SIO) in octets, per point-code format.
LABEL_LENGTH: dict[str, int] = {"itu": 4, "ansi": 7, "china": 7, "japan": 5}

SI_SNM = 0
SI_MTN = 1
SI_MTNS = 2
SI_SCCP = 3
SI_TUP = 4
SI_ISUP = 5
SI_BICC = 13
#: Service indicators that are normal traffic without ISUP: SNM, MTN, MTNS, SCCP, TUP.
SILENT_SIS = frozenset({SI_SNM, SI_MTN, SI_MTNS, SI_SCCP, SI_TUP})
#: Service indicators of the user parts this tool reads: ISUP and BICC.
USER_PART_SIS = frozenset({SI_ISUP, SI_BICC})

#: SIO, label word.
ITU_LABEL = struct.Struct("<BI")
#: SIO, DPC low 16, DPC high 8, OPC low 16, OPC high 8, SLS.
ANSI_LABEL = struct.Struct("<BHBHBB")
#: SIO, DPC, OPC, SLS.
JAPAN_LABEL = struct.Struct("<BHHB")
_ITU = ITU_LABEL
_ANSI = ANSI_LABEL
_JAPAN = JAPAN_LABEL

#: SIO + label octets per format.
ITU_NEED = 1 + LABEL_LENGTH["itu"]
ANSI_NEED = 1 + LABEL_LENGTH["ansi"]
JAPAN_NEED = 1 + LABEL_LENGTH["japan"]
_ITU_NEED = ITU_NEED
_ANSI_NEED = ANSI_NEED
_JAPAN_NEED = JAPAN_NEED


def sio(si: int, ni: int) -> int:
    """The service information octet: ``ni`` in the top 2 bits, ``si`` in the low 4."""
    return ((ni & 3) << 6) | (si & 0x0F)


def parse_mtp3(
    data: bytes, offset: int, pc_format: str, end: int | None = None
) -> tuple[int, int, int, int, int, int] | None:
    """Read the SIO and routing label at ``offset`` (of the message ending at ``end``, default the
    end of ``data``).

    Returns ``(si, ni, opc, dpc, sls, user_offset)`` or ``None`` when the message is shorter than the
    SIO plus the label of ``pc_format``.  Never raises for any bytes.
    """
    n = (len(data) if end is None else min(end, len(data))) - offset
    if offset < 0:
        return None
    if pc_format == "itu":
        if n < _ITU_NEED:
            return None
        sio, label = _ITU.unpack_from(data, offset)
        return sio & 0x0F, sio >> 6, (label >> 14) & 0x3FFF, label & 0x3FFF, label >> 28, offset + 5
    if pc_format == "japan":
        if n < _JAPAN_NEED:
            return None
        sio, dpc, opc, sls = _JAPAN.unpack_from(data, offset)
        return sio & 0x0F, sio >> 6, opc, dpc, sls & 0x0F, offset + 6
    if n < _ANSI_NEED:
        return None
    sio, dlo, dhi, olo, ohi, sls = _ANSI.unpack_from(data, offset)
    if pc_format == "china":
        sls &= 0x0F
    return sio & 0x0F, sio >> 6, olo | (ohi << 16), dlo | (dhi << 16), sls, offset + 8


def routing_label(pc_format: str, si: int, ni: int, opc: int, dpc: int, sls: int) -> bytes:
    """SIO + routing label of ``pc_format``; point codes and SLS are masked to the format's widths."""
    octet = sio(si, ni)
    if pc_format == "itu":
        return _ITU.pack(octet, (dpc & 0x3FFF) | ((opc & 0x3FFF) << 14) | ((sls & 0x0F) << 28))
    if pc_format == "japan":
        return _JAPAN.pack(octet, dpc & 0xFFFF, opc & 0xFFFF, sls & 0x0F)
    if pc_format in ("ansi", "china"):
        sls &= 0xFF if pc_format == "ansi" else 0x0F
        return _ANSI.pack(octet, dpc & 0xFFFF, (dpc >> 16) & 0xFF, opc & 0xFFFF, (opc >> 16) & 0xFF, sls)
    raise ValueError(f"unknown point-code format {pc_format!r}")


def build_mtp3(si: int, ni: int, opc: int, dpc: int, sls: int, pc_format: str, user_data: bytes) -> bytes:
    """An MTP3 message: SIO (``ni`` in the top 2 bits, ``si`` in the low 4), routing label, user data.

    Point codes and SLS are masked to the widths of ``pc_format``.
    """
    return routing_label(pc_format, si, ni, opc, dpc, sls) + bytes(user_data)


# --------------------------------------------------------------------------------------------------
# Point codes


def format_pc(pc: int, pc_format: str, structured: bool = False) -> str:
    """A point code as text: decimal, or structured as Wireshark shows it.

    Structured: ITU 3-8-3 (zone-area-signalling point), ANSI and China 8-8-8 (network-cluster-member),
    Japan 7-4-5 (Wireshark's NTT structure, most significant field first).  ``auto`` (format not known):
    3-8-3 up to 16383, else 8-8-8.
    """
    if not structured:
        return str(pc)
    if pc_format == "auto":  # format not known: a 14-bit value as ITU, a larger one as 8-8-8
        pc_format = "itu" if pc <= 0x3FFF else "china"
    if pc_format == "itu":
        return f"{(pc >> 11) & 7}-{(pc >> 3) & 0xFF}-{pc & 7}"
    if pc_format == "japan":
        return f"{(pc >> 9) & 0x7F}-{(pc >> 5) & 0x0F}-{pc & 0x1F}"
    return f"{(pc >> 16) & 0xFF}-{(pc >> 8) & 0xFF}-{pc & 0xFF}"


_STRUCTURE: dict[str, tuple[int, int, int]] = {
    "itu": (3, 8, 3),
    "ansi": (8, 8, 8),
    "china": (8, 8, 8),
    "japan": (7, 4, 5),
}


def parse_pc(text: str, pc_format: str) -> int:
    """Parse a point code given as decimal (``"11522"``), hex (``"0x2d02"``) or structured
    (``"5-160-2"``, ``"5.160.2"``, ``"5:160:2"``) in ``pc_format``'s structure (see :func:`format_pc`).

    ``auto`` (the format is decided per link from the traffic): decimal or hex up to 24 bits; structured
    as ITU 3-8-3 when the fields fit it, else as 8-8-8 (ANSI/China).

    Raises ``ValueError`` with a readable message on bad input (this is for user input, not packets).
    """
    s = text.strip()
    sep = next((c for c in "-.:" if c in s), None)
    if pc_format == "auto":
        if sep is None:
            return parse_pc(s, "china")
        try:
            return parse_pc(s, "itu")
        except ValueError:
            return parse_pc(s, "china")
    if pc_format not in PC_FORMATS:
        raise ValueError(f"unknown point-code format {pc_format!r}; known: auto, {', '.join(PC_FORMATS)}")
    bits = PC_BITS[pc_format]
    if sep is None:
        try:
            value = int(s, 16) if s.lower().startswith("0x") else int(s, 10)
        except ValueError:
            raise ValueError(f"not a point code: {text!r}") from None
        if not 0 <= value < (1 << bits):
            raise ValueError(f"point code {text!r} does not fit the {bits} bits of the {pc_format} format")
        return value
    parts = s.split(sep)
    widths = _STRUCTURE[pc_format]
    if len(parts) != 3 or not all(p.strip().isdigit() for p in parts):
        shape = "-".join(str(w) for w in widths)
        raise ValueError(f"not a {pc_format} point code: {text!r} (expected decimal or {shape} structured)")
    value = 0
    for part, width in zip(parts, widths, strict=True):
        field_value = int(part)
        if field_value >= (1 << width):
            raise ValueError(f"point code {text!r}: field {part} does not fit {width} bits")
        value = (value << width) | field_value
    return value
