"""The SS7 decoders: frames of pcap link types 139, 140 and 141, and MTP3 messages carried by any layer.

:class:`MtpDecoder` turns :class:`~sigdiag.carrier.units.MtpUnit` frames (link types 139-141) into
:class:`~sigdiag.carrier.payload.Payload` objects.  The SIGTRAN layers reuse :func:`payload_from_msu` for
the MTP3 messages they carry (M2PA, M2UA, M3UA draft 6).  The wire formats stand in their own modules:
:mod:`sigdiag.carrier.mtp2` (signal units, FCS, the link type 139 pseudo-header) and
:mod:`sigdiag.carrier.mtp3` (SIO, routing labels, point codes); their builders and point-code functions
are also importable from here, as before.

MTP2: some capture hardware keeps the 2-octet FCS at the end: ``mtp2_fcs: auto`` decides per signal
unit from LI against the length and, when LI is capped, from the CRC.

``pc_format: auto``: until the detector (:mod:`sigdiag.carrier.pcdetect`) has decided a link's format,
its ISUP/BICC messages come out as :class:`PendingPayload`: read provisionally with the ITU label (what
a unit decoder used on its own gives, as before ``auto`` existed) and keeping the MTP3 octets, so that
the detector can read them again with the format it decides.

Service indicators: 5 (ISUP) and 13 (BICC) become payloads.  Management and test (0-2), SCCP (3) and
TUP (4) are ordinary traffic that carries no ISUP and is skipped silently; any other value is reported
once per link and service indicator as ``mtp3.unsupported_si``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sigdiag.anomalies import Anomaly
from sigdiag.carrier import mtp2
from sigdiag.carrier.mtp2 import build_mtp2, build_mtp2_phdr, crc16_x25
from sigdiag.carrier.mtp3 import (
    ANSI_NEED,
    ITU_LABEL,
    ITU_NEED,
    LABEL_LENGTH,
    PC_BITS,
    SI_BICC,
    SI_ISUP,
    SILENT_SIS,
    USER_PART_SIS,
    build_mtp3,
    format_pc,
    parse_mtp3,
    parse_pc,
)
from sigdiag.carrier.payload import Payload
from sigdiag.carrier.units import MtpUnit
from sigdiag.settings import DecodeSettings

__all__ = [
    "LABEL_LENGTH",
    "PC_BITS",
    "Decided",
    "DeferredMsus",
    "MsuDecoder",
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
    "report_si",
    "report_unparsed",
]

_ITU = ITU_LABEL
_ITU_NEED = ITU_NEED
_ANSI_NEED = ANSI_NEED
_U16LE = mtp2.U16LE
#: link -> (pc_format, variant): the formats the point-code detector decided, shared by the decoders.
Decided = dict[str, tuple[str, str]]
_LINKTYPE_MTP3 = 141
_LINKTYPE_MTP2_WITH_PHDR = 139


def internal_error(frame: int, layer: str, exc: Exception) -> Anomaly:
    """The anomaly for a decoder bug: the unit is skipped, the capture goes on."""
    detail = f"{layer} decoder: {type(exc).__name__}: {exc}; unit skipped"
    return Anomaly("carrier.internal_error", frame, detail)


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
        report_si(link, frame, si, anomalies, si_reported)


def report_si(
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
        if si in USER_PART_SIS:
            opc = (label >> 14) & 0x3FFF
            protocol = "isup" if si == SI_ISUP else "bicc"
            user_data = data[offset + _ITU_NEED : end]
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
        report_si(link, frame, si, anomalies, si_reported)
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


class _MtpLink:
    __slots__ = ("fcs", "link", "pc_format", "variant")

    def __init__(self, link: str, pc_format: str, variant: str) -> None:
        self.link = link
        self.pc_format = pc_format
        self.variant = variant
        self.fcs: bool | None = None  # auto-detected FCS presence, once known


class MsuDecoder:
    """What the decoders of MTP3 messages share (:class:`MtpDecoder`, and the SIGTRAN decoder for M2PA,
    M2UA and M3UA draft 6): the settings, the anomaly list, the formats the detector decided, the
    service indicators already reported per link, the detector's store of deferred anomalies.
    Subclasses set up their own state in :meth:`_start`."""

    def __init__(
        self, settings: DecodeSettings, anomalies: list[Anomaly], decided: Decided | None = None
    ) -> None:
        self.settings = settings
        self.anomalies = anomalies
        #: link -> (pc_format, variant) decided by the detector for ``auto`` links (shared with it)
        self.decided: Decided = {} if decided is None else decided
        self._si_reported: set[tuple[str, int]] = set()
        #: the detector's store of format-dependent anomalies of undecided links (None: report now)
        self.deferred: DeferredMsus | None = None
        self._start()

    def _start(self) -> None:
        """The subclass's own state (called at the end of ``__init__``)."""


class MtpDecoder(MsuDecoder):
    """Decodes frames of link types 139 (MTP2 with pseudo-header), 140 (MTP2) and 141 (MTP3).

    ``decode`` returns the payload of one frame, or None (FISU, LSSU, non-ISUP user, or undecodable:
    then a named anomaly is appended to ``anomalies``).  Anomalies about a frame that still yields a
    payload (FCS or LI mismatch) travel on the payload.  Never raises for any bytes.
    """

    def _start(self) -> None:
        self._links: dict[int, _MtpLink] = {}
        self._fcs_mode = self.settings.mtp2_fcs

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
        start = 0
        end = len(data)
        carrier = "mtp3"
        extra: list[Anomaly] | None = None
        lt = unit.linktype
        if lt != _LINKTYPE_MTP3:  # an MTP2 signal unit (after the pseudo-header of link type 139)
            base = 0
            extended = False
            if lt == _LINKTYPE_MTP2_WITH_PHDR:
                if len(data) < mtp2.PHDR_LEN:
                    detail = f"{len(data)} octets, the pseudo-header needs 4"
                    self.anomalies.append(Anomaly("mtp2.truncated", unit.frame, detail))
                    return None
                extended = data[mtp2.PHDR_ANNEX_A] == 1
                base = mtp2.PHDR_LEN
            hdr = mtp2.EXTENDED_HEADER_LEN if extended else mtp2.HEADER_LEN
            avail = len(data) - base
            if avail < hdr:
                detail = f"{avail} octets, the MTP2 header needs {hdr}"
                self.anomalies.append(Anomaly("mtp2.truncated", unit.frame, detail))
                return None
            cap = mtp2.LI_MAX_EXTENDED if extended else mtp2.LI_MAX  # LI is 9 bits or 6
            li = (_U16LE.unpack_from(data, base + 4)[0] if extended else data[base + 2]) & cap
            if li < mtp2.LI_MSU:
                return None  # FISU (0) or LSSU (1, 2)
            rest = avail - hdr  # SIO + SIF (+ FCS)
            fits_plain = li == rest or (li == cap and rest >= cap)
            fits_fcs = rest >= 2 and (li == rest - 2 or (li == cap and rest - 2 >= cap))
            crc_ok: bool | None = None  # computed at most once
            mode = self._fcs_mode
            if mode == "yes":
                fcs = True
            elif mode == "no":
                fcs = False
            elif fits_plain != fits_fcs:  # the length tells
                fcs = info.fcs = fits_fcs
            else:  # both (capped LI) or neither: the CRC decides, then what this link showed before
                fcs = crc_ok = rest >= 2 and self._crc_ok(data, base)
                if not fcs and not fits_plain and info.fcs:
                    fcs = rest >= 2
            if fcs and rest < 2:
                self.anomalies.append(
                    Anomaly("mtp2.truncated", unit.frame, "no room for the frame check sequence")
                )
                return None
            fits = fits_fcs if fcs else fits_plain
            check_crc = fcs and (mode == "yes" or fits_fcs)
            if check_crc or not fits:
                extra = self._su_anomalies(unit.frame, data, base, li, rest, fcs, fits, check_crc, crc_ok)
            start = base + hdr
            if fcs:
                end -= mtp2.FCS_LEN
            carrier = "mtp2"
        payload = payload_from_msu(
            data,
            start,
            end,
            unit.frame,
            unit.ts,
            carrier,
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
    def _su_anomalies(
        frame: int,
        data: bytes,
        base: int,
        li: int,
        rest: int,
        fcs: bool,
        fits: bool,
        check_crc: bool,
        crc_ok: bool | None,
    ) -> list[Anomaly]:
        """A signal unit's length mismatch and bad FCS, as ``check_crc`` and ``fits`` ask."""
        extra = []
        if not fits:
            detail = f"LI {li} but {rest - 2 if fcs else rest} octets follow the header"
            extra.append(Anomaly("mtp2.length_mismatch", frame, detail))
        if check_crc:
            if crc_ok is None:
                crc_ok = crc16_x25(data[base:-2]) == _U16LE.unpack_from(data, len(data) - 2)[0]
            if not crc_ok:
                extra.append(Anomaly("mtp2.bad_fcs", frame, "frame check sequence does not match"))
        return extra

    @staticmethod
    def _crc_ok(data: bytes, base: int) -> bool:
        su = data[base:-2]
        return crc16_x25(su) == _U16LE.unpack_from(data, len(data) - 2)[0]
