"""MTP2 and MTP3: pcap link types 139, 140 and 141, the MTP3 routing label, point codes.

Decode side
-----------
:func:`parse_mtp3` reads a service information octet and routing label in one of the four point-code
formats; :class:`MtpDecoder` turns :class:`~sigdiag.carrier.units.MtpUnit` frames (link types 139-141)
into :class:`~sigdiag.model.Payload` objects.  The SIGTRAN layers reuse :func:`payload_from_msu` for the
MTP3 messages they carry (M2PA, M2UA, M3UA draft 6).

MTP3 layouts (octets after the SIO; all little-endian):

=======  =====  =====================================================================
format   label  layout
=======  =====  =====================================================================
itu      4      32-bit word: DPC bits 0-13, OPC bits 14-27, SLS bits 28-31
ansi     7      DPC 24 bits, OPC 24 bits, SLS octet (8 bits, as Wireshark's default)
china    7      DPC 24 bits, OPC 24 bits, SLS low 4 bits
japan    5      DPC 16 bits, OPC 16 bits, SLS low 4 bits (upper 4 spare)
=======  =====  =====================================================================

MTP2 (Q.703): BSN/BIB, FSN/FIB, LI (6 bits, capped at 63 for long MSUs); LI 0 is a FISU and LI 1-2
an LSSU, neither carries user data.  Some capture hardware keeps the 2-octet FCS (CRC-16/X.25, stored
little-endian) at the end: ``mtp2_fcs: auto`` decides per signal unit from LI against the length and,
when LI is capped, from the CRC.  Link type 139 prefixes a 4-octet pseudo-header (Wireshark
``wiretap/pcap-common.c``): sent (u8), annex A used (u8: 0 no, 1 yes, 2 unknown), link number (u16,
big-endian).  With annex A (Q.703 extended sequence numbers) the MTP2 header is 6 octets: BSN u16,
FSN u16, LI u16 (9 bits), all little-endian.

``pc_format: auto``: until the detector (:mod:`sigdiag.carrier.pcdetect`) has decided a link's format,
its ISUP/BICC messages come out as :class:`PendingPayload`: read provisionally with the ITU label (what
a unit decoder used on its own gives, as before ``auto`` existed) and keeping the MTP3 octets, so that
the detector can read them again with the format it decides.

Service indicators: 5 (ISUP) and 13 (BICC) become payloads.  Management and test (0-2), SCCP (3) and
TUP (4) are ordinary traffic that carries no ISUP and is skipped silently; any other value is reported
once per link and service indicator as ``mtp3.unsupported_si``.

Encode side
-----------
:func:`build_mtp3`, :func:`build_mtp2` (with a correct FCS when asked), :func:`build_mtp2_phdr`.
"""

from __future__ import annotations

import binascii
import struct
from dataclasses import dataclass

from sigdiag.anomalies import Anomaly
from sigdiag.carrier.payload import Payload
from sigdiag.carrier.units import MtpUnit
from sigdiag.settings import PC_FORMATS, DecodeSettings

__all__ = [
    "LABEL_LENGTH",
    "PC_BITS",
    "DeferredMsus",
    "MtpDecoder",
    "PendingPayload",
    "build_mtp2",
    "build_mtp2_phdr",
    "build_mtp3",
    "crc16_x25",
    "format_pc",
    "parse_mtp3",
    "parse_pc",
    "payload_from_msu",
    "report_unparsed",
]

#: Width of a point code in bits, per point-code format.
PC_BITS: dict[str, int] = {"itu": 14, "ansi": 24, "china": 24, "japan": 16}
#: Length of the routing label (after the SIO) in octets, per point-code format.
LABEL_LENGTH: dict[str, int] = {"itu": 4, "ansi": 7, "china": 7, "japan": 5}

SI_ISUP = 5
SI_BICC = 13
#: Service indicators that are normal traffic without ISUP: SNM, MTN, MTNS, SCCP, TUP.
SILENT_SIS = frozenset({0, 1, 2, 3, 4})

_ITU = struct.Struct("<BI")  # SIO, label word
_ANSI = struct.Struct("<BHBHBB")  # SIO, DPC lo16, DPC hi8, OPC lo16, OPC hi8, SLS
_JAPAN = struct.Struct("<BHHB")  # SIO, DPC, OPC, SLS
_U16LE = struct.Struct("<H")
_U16BE = struct.Struct(">H")

_ITU_NEED = 5
_ANSI_NEED = 8
_JAPAN_NEED = 6

# bit-reversal table: CRC-16/X.25 is the reflected CCITT CRC; binascii.crc_hqx is the unreflected one.
_REV = bytes(int(f"{i:08b}"[::-1], 2) for i in range(256))


def internal_error(frame: int, layer: str, exc: Exception) -> Anomaly:
    """The anomaly for a decoder bug: the unit is skipped, the capture goes on."""
    detail = f"{layer} decoder: {type(exc).__name__}: {exc}; unit skipped"
    return Anomaly("carrier.internal_error", frame, detail)


def crc16_x25(data: bytes) -> int:
    """CRC-16/X.25 (the MTP2 and HDLC FCS: poly 0x1021 reflected, init and xor-out 0xFFFF)."""
    crc = binascii.crc_hqx(data.translate(_REV), 0xFFFF)
    return ((_REV[crc & 0xFF] << 8) | _REV[crc >> 8]) ^ 0xFFFF


# --------------------------------------------------------------------------------------------------
# MTP3


@dataclass(slots=True)
class PendingPayload(Payload):
    """An ISUP/BICC message of a link whose point-code format is not decided yet (``pc_format: auto``).

    The Payload fields are the provisional ITU reading (``pc_format`` is ``"auto"``, the variant is the
    link's variant setting or ITU); ``msu`` with
    ``start`` and ``end`` is the MTP3 message (SIO, label, user data) to read again once the format is
    known, and ``variant_setting`` the link's variant setting (None: the format's own variant).
    """

    msu: bytes = b""
    start: int = 0
    end: int = 0
    variant_setting: str | None = None


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


def report_unparsed(
    link: str,
    frame: int,
    have: int,
    si: int,
    pc_format: str,
    anomalies: list[Anomaly],
    si_reported: set[tuple[str, int]],
) -> None:
    """The anomaly of an MTP3 message of ``have`` octets (service indicator ``si``) that yields no
    payload: ``mtp3.truncated`` when it is shorter than ``pc_format``'s label, else for a service
    indicator that is neither ISUP/BICC nor silent ``mtp3.unsupported_si``, once per (link, si)."""
    need = LABEL_LENGTH[pc_format] + 1
    if have < need:
        detail = f"{have} octets, the {pc_format} label needs {need}"
        anomalies.append(Anomaly("mtp3.truncated", frame, detail))
    elif si != SI_ISUP and si != SI_BICC:
        _report_si(link, frame, si, anomalies, si_reported)


def _report_si(
    link: str, frame: int, si: int, anomalies: list[Anomaly], si_reported: set[tuple[str, int]]
) -> None:
    if si not in SILENT_SIS and (link, si) not in si_reported:
        si_reported.add((link, si))
        detail = f"service indicator {si} on {link} (reported once per link)"
        anomalies.append(Anomaly("mtp3.unsupported_si", frame, detail))


class DeferredMsus:
    """MTP3 messages without a payload, seen on links whose format is not decided yet, whose anomalies
    depend on the format (a message shorter than the longest label, a service indicator to report once
    per link: the first message that shows it may be one that a 7-octet label finds truncated).

    The detector settles a link's entries (:func:`report_unparsed`) with the format it decides, so the
    anomalies are those the explicit format gives.  At most ``limit`` entries are kept: past that the
    oldest half are settled as ITU (the provisional reading).
    """

    __slots__ = ("anomalies", "items", "limit")

    def __init__(self, anomalies: list[Anomaly], limit: int = 4096) -> None:
        self.anomalies = anomalies
        self.limit = limit
        self.items: list[tuple[str, int, int, int, set[tuple[str, int]]]] = []

    def add(self, link: str, frame: int, have: int, si: int, si_reported: set[tuple[str, int]]) -> None:
        self.items.append((link, frame, have, si, si_reported))
        if len(self.items) > self.limit:
            old, self.items = self.items[: self.limit // 2], self.items[self.limit // 2 :]
            for link_, frame_, have_, si_, reported in old:
                report_unparsed(link_, frame_, have_, si_, "itu", self.anomalies, reported)

    def settle(self, link: str | None, pc_format: str) -> None:
        """Report the entries of ``link`` (None: every entry left) as ``pc_format`` reads them."""
        keep = []
        for item in self.items:
            if link is None or item[0] == link:
                report_unparsed(item[0], item[1], item[2], item[3], pc_format, self.anomalies, item[4])
            else:
                keep.append(item)
        self.items = keep


def payload_from_msu(
    data: bytes,
    offset: int,
    end: int,
    frame: int,
    ts: float,
    carrier: str,
    link: str,
    pc_format: str,
    variant: str,
    anomalies: list[Anomaly],
    si_reported: set[tuple[str, int]],
    deferred: DeferredMsus | None = None,
) -> Payload | None:
    """Turn the MTP3 message in ``data[offset:end]`` into a payload, or None if it carries no ISUP/BICC.

    A label shorter than ``pc_format`` needs adds ``mtp3.truncated`` to ``anomalies``; service
    indicators other than ISUP/BICC are skipped (see the module docstring); ``si_reported`` remembers
    which ``(link, si)`` pairs were already reported.

    ``pc_format`` ``"auto"``: an ISUP/BICC message becomes a :class:`PendingPayload`; with ``deferred``
    (the detector's), a message whose anomaly depends on the format goes there instead of being
    reported now.
    """
    if pc_format == "itu" and end - offset >= _ITU_NEED and offset >= 0 and end <= len(data):
        # fast path: ITU label, ISUP or BICC
        sio, label = _ITU.unpack_from(data, offset)
        si = sio & 0x0F
        if si == 5 or si == 13:  # ISUP or BICC
            opc = (label >> 14) & 0x3FFF
            protocol = "isup" if si == 5 else "bicc"
            user_data = data[offset + 5 : end]
            return Payload(
                frame,
                ts,
                carrier,
                protocol,
                variant,
                "itu",
                opc,
                label & 0x3FFF,
                sio >> 6,
                label >> 28,
                user_data,
                True,
                link,
            )
    auto = pc_format == "auto"
    if auto and deferred is not None:
        have = max(min(end, len(data)) - offset, 0) if offset >= 0 else 0
        si = data[offset] & 0x0F if have else -1
        user_part = si in (SI_ISUP, SI_BICC)
        if have < _ITU_NEED or (not user_part and (have < _ANSI_NEED or si not in SILENT_SIS)):
            deferred.add(link, frame, have, si, si_reported)
            return None
    parsed = parse_mtp3(data, offset, "itu" if auto else pc_format, end)
    if parsed is None:
        have = max(min(end, len(data)) - offset, 0)
        if pc_format not in LABEL_LENGTH:
            pc_format = "itu" if auto else "ansi"
        report_unparsed(link, frame, have, -1, pc_format, anomalies, si_reported)
        return None
    si, ni, opc, dpc, sls, user = parsed
    if si == SI_ISUP:
        protocol = "isup"
    elif si == SI_BICC:
        protocol = "bicc"
    else:
        _report_si(link, frame, si, anomalies, si_reported)
        return None
    if auto:
        # the link's format is not decided: keep the MTP3 message for the detector
        return PendingPayload(
            frame,
            ts,
            carrier,
            protocol,
            variant,
            "auto",
            opc,
            dpc,
            ni,
            sls,
            data[user:end],
            True,
            link,
            msu=data,
            start=offset,
            end=end,
        )
    return Payload(
        frame, ts, carrier, protocol, variant, pc_format, opc, dpc, ni, sls, data[user:end], True, link
    )


def build_mtp3(si: int, ni: int, opc: int, dpc: int, sls: int, pc_format: str, user_data: bytes) -> bytes:
    """An MTP3 message: SIO (``ni`` in the top 2 bits, ``si`` in the low 4), routing label, user data.

    Point codes and SLS are masked to the widths of ``pc_format``.
    """
    sio = ((ni & 3) << 6) | (si & 0x0F)
    if pc_format == "itu":
        label = (dpc & 0x3FFF) | ((opc & 0x3FFF) << 14) | ((sls & 0x0F) << 28)
        head = _ITU.pack(sio, label)
    elif pc_format == "japan":
        head = _JAPAN.pack(sio, dpc & 0xFFFF, opc & 0xFFFF, sls & 0x0F)
    elif pc_format in ("ansi", "china"):
        sls &= 0xFF if pc_format == "ansi" else 0x0F
        head = _ANSI.pack(sio, dpc & 0xFFFF, (dpc >> 16) & 0xFF, opc & 0xFFFF, (opc >> 16) & 0xFF, sls)
    else:
        raise ValueError(f"unknown point-code format {pc_format!r}")
    return head + bytes(user_data)


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


# --------------------------------------------------------------------------------------------------
# MTP2


def build_mtp2(
    msu: bytes,
    fsn: int = 0,
    bsn: int = 0,
    fcs: bool = False,
    *,
    fib: int = 1,
    bib: int = 1,
    extended: bool = False,
) -> bytes:
    """An MTP2 MSU around the MTP3 message ``msu`` (SIO + SIF).

    LI is the MSU length (capped at 63, or 9 bits when ``extended``, Q.703 annex A); ``fcs`` appends the
    CRC-16/X.25 frame check sequence little-endian, as capture hardware that keeps it does.
    """
    msu = bytes(msu)
    if extended:
        li = min(len(msu), 0x1FF)
        head = (
            _U16LE.pack((bsn & 0x0FFF) | ((bib & 1) << 15))
            + _U16LE.pack((fsn & 0x0FFF) | ((fib & 1) << 15))
            + _U16LE.pack(li)
        )
    else:
        li = min(len(msu), 63)
        head = bytes(((bsn & 0x7F) | ((bib & 1) << 7), (fsn & 0x7F) | ((fib & 1) << 7), li))
    su = head + msu
    if fcs:
        su += _U16LE.pack(crc16_x25(su))
    return su


def build_mtp2_phdr(link_number: int = 0, sent: int = 0, annex_a: int = 0) -> bytes:
    """The 4-octet pseudo-header of link type 139 (sent, annex A used, link number big-endian)."""
    return bytes((sent & 0xFF, annex_a & 0xFF)) + _U16BE.pack(link_number & 0xFFFF)


class _MtpLink:
    __slots__ = ("fcs", "link", "pc_format", "variant")

    def __init__(self, link: str, pc_format: str, variant: str) -> None:
        self.link = link
        self.pc_format = pc_format
        self.variant = variant
        self.fcs: bool | None = None  # auto-detected FCS presence, once known


class MtpDecoder:
    """Decodes frames of link types 139 (MTP2 with pseudo-header), 140 (MTP2) and 141 (MTP3).

    ``decode`` returns the payload of one frame, or None (FISU, LSSU, non-ISUP user, or undecodable:
    then a named anomaly is appended to ``anomalies``).  Anomalies about a frame that still yields a
    payload (FCS or LI mismatch) travel on the payload.  Never raises for any bytes.
    """

    def __init__(
        self,
        settings: DecodeSettings,
        anomalies: list[Anomaly],
        decided: dict[str, tuple[str, str]] | None = None,
    ) -> None:
        self.settings = settings
        self.anomalies = anomalies
        #: link -> (pc_format, variant) decided by the detector for ``auto`` links (shared with it)
        self.decided: dict[str, tuple[str, str]] = {} if decided is None else decided
        self._links: dict[int, _MtpLink] = {}
        self._si_reported: set[tuple[str, int]] = set()
        self._fcs_mode = settings.mtp2_fcs
        #: the detector's store of format-dependent anomalies of undecided links (None: report now)
        self.deferred: DeferredMsus | None = None

    def _link(self, interface: int) -> _MtpLink:
        info = self._links.get(interface)
        if info is None:
            link = f"mtp2:if{interface}"
            pc_format, variant = self.decided.get(link) or self.settings.for_link(link)
            info = self._links[interface] = _MtpLink(link, pc_format, variant)
        return info

    def set_format(self, link: str, pc_format: str, variant: str) -> None:
        """Read ``link``'s messages from now on with the format the detector decided."""
        for info in self._links.values():
            if info.link == link:
                info.pc_format = pc_format
                info.variant = variant

    def decode(self, unit: MtpUnit) -> Payload | None:
        try:
            return self._decode(unit)
        except Exception as exc:  # pragma: no cover - a bug: never stop the capture
            self.anomalies.append(internal_error(unit.frame, "MTP", exc))
            return None

    def _decode(self, unit: MtpUnit) -> Payload | None:
        info = self._link(unit.interface)
        data = unit.data
        lt = unit.linktype
        if lt == 141:
            return payload_from_msu(
                data,
                0,
                len(data),
                unit.frame,
                unit.ts,
                "mtp3",
                info.link,
                info.pc_format,
                info.variant,
                self.anomalies,
                self._si_reported,
                self.deferred,
            )
        base = 0
        extended = False
        if lt == 139:
            if len(data) < 4:
                self.anomalies.append(
                    Anomaly("mtp2.truncated", unit.frame, f"{len(data)} octets, the pseudo-header needs 4")
                )
                return None
            extended = data[1] == 1
            base = 4
        hdr = 6 if extended else 3
        avail = len(data) - base
        if avail < hdr:
            self.anomalies.append(
                Anomaly("mtp2.truncated", unit.frame, f"{avail} octets, the MTP2 header needs {hdr}")
            )
            return None
        if extended:
            li = _U16LE.unpack_from(data, base + 4)[0] & 0x1FF
        else:
            li = data[base + 2] & 0x3F
        if li < 3:
            return None  # FISU (0) or LSSU (1, 2)
        rest = avail - hdr  # SIO + SIF (+ FCS)
        cap = 0x1FF if extended else 63
        fits_plain = li == rest or (li == cap and rest >= cap)
        fits_fcs = rest >= 2 and (li == rest - 2 or (li == cap and rest - 2 >= cap))
        extra: list[Anomaly] = []
        crc_ok: bool | None = None  # computed at most once
        mode = self._fcs_mode
        if mode == "yes":
            fcs = True
        elif mode == "no":
            fcs = False
        elif fits_plain and not fits_fcs:
            fcs = False
            info.fcs = False
        elif fits_fcs and not fits_plain:
            fcs = True
            info.fcs = True
        else:  # both (capped LI) or neither: the CRC decides, then what this link showed before
            fcs = crc_ok = rest >= 2 and self._crc_ok(data, base)
            if not fcs and not fits_plain and info.fcs:
                fcs = rest >= 2
        if fcs and rest < 2:
            self.anomalies.append(
                Anomaly("mtp2.truncated", unit.frame, "no room for the frame check sequence")
            )
            return None
        if not (fits_fcs if fcs else fits_plain):
            extra.append(
                Anomaly(
                    "mtp2.length_mismatch",
                    unit.frame,
                    f"LI {li} but {rest - 2 if fcs else rest} octets follow the header",
                )
            )
        if fcs and (mode == "yes" or fits_fcs):
            if crc_ok is None:
                crc_ok = self._crc_ok(data, base)
            if not crc_ok:
                extra.append(Anomaly("mtp2.bad_fcs", unit.frame, "frame check sequence does not match"))
        end = len(data) - 2 if fcs else len(data)
        payload = payload_from_msu(
            data,
            base + hdr,
            end,
            unit.frame,
            unit.ts,
            "mtp2",
            info.link,
            info.pc_format,
            info.variant,
            self.anomalies,
            self._si_reported,
            self.deferred,
        )
        if extra:
            if payload is None:
                self.anomalies.extend(extra)
            else:
                payload.anomalies.extend(extra)
        return payload

    @staticmethod
    def _crc_ok(data: bytes, base: int) -> bool:
        su = data[base:-2]
        return crc16_x25(su) == _U16LE.unpack_from(data, len(data) - 2)[0]
