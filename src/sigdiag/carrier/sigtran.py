"""SIGTRAN adaptation layers over SCTP: M3UA, M2UA, M2PA, and BICC directly on SCTP.

:class:`SigtranDecoder` turns each :class:`~sigdiag.carrier.units.SctpUnit` (one SCTP user message) into
at most one :class:`~sigdiag.model.Payload`.  The layer is chosen by the payload protocol identifier:
3 M3UA, 2 M2UA, 5 M2PA, 8 BICC (no MTP3: the data starts at the call instance code).  PPID 0 or an
unassigned one falls back to the well-known ports (2905 M3UA, 2904 M2UA, 3565 M2PA), else
``sctp.unknown_ppid`` is reported once per association.  Assigned PPIDs of protocols that carry no
ISUP (SUA, IUA, S1AP, Diameter, ...) are skipped silently.

M3UA (RFC 4666): common header (version 1, class, type, length), DATA = class 1 type 1, parameters
(tag, length, value padded to 4 octets).  Protocol Data (0x0210) = OPC u32, DPC u32, SI, NI, MP, SLS,
user data.  The IETF draft-6 layout used by old captures (Wireshark's "Internet Draft version 6",
``packet-m3ua.c``) carries the MTP3 message itself instead: Protocol Data 1 (tag 0x0002) = SIO + routing
label + user data, Protocol Data 2 (tag 0x0003) = an LI octet, then the same.  Those tags are unused in
RFC DATA messages, so ``m3ua_version: auto`` tells the layouts apart per message from the tag;
``rfc`` or ``draft6`` accept only that layout's tags.

M2UA (RFC 3331): DATA = class 6 type 1; Protocol Data 1 (0x0300; 0x000e in draft 7) = MTP3 message,
Protocol Data 2 (0x0301) = a TTC priority octet, then the MTP3 message.

M2PA (RFC 4165 and draft 8): common header with class 11, User Data = type 1, then BSN and FSN (u32
each, top 8 bits unused), then a priority/LI octet and the MTP3 message; a User Data message with no
data is a bare acknowledgement.  Draft 2 (type 0x0601 in octets 2-3, no BSN/FSN) puts the LI octet
right after the 8-octet header; it is detected from the header.

Every decoding function is total: bad bytes become named anomalies (with the frame number), never
exceptions.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from sigdiag.anomalies import Anomaly
from sigdiag.carrier.mtp import DeferredMsus, internal_error, payload_from_msu
from sigdiag.carrier.payload import Payload
from sigdiag.carrier.units import SctpUnit
from sigdiag.settings import DecodeSettings

__all__ = [
    "PPID_BICC",
    "PPID_M2PA",
    "PPID_M2UA",
    "PPID_M3UA",
    "SigtranDecoder",
    "build_m2pa_user_data",
    "build_m2ua_data",
    "build_m3ua_data",
    "build_m3ua_draft6_data",
    "link_name",
]

PPID_M2UA = 2
PPID_M3UA = 3
PPID_M2PA = 5
PPID_BICC = 8

PORT_M2UA = 2904
PORT_M3UA = 2905
PORT_M2PA = 3565

# handler kinds
_SKIP = 0
_M3UA = 1
_M2UA = 2
_M2PA = 3
_BICC = 4

_BY_PPID = {PPID_M3UA: _M3UA, PPID_M2UA: _M2UA, PPID_M2PA: _M2PA, PPID_BICC: _BICC}
_BY_PORT = {PORT_M3UA: _M3UA, PORT_M2UA: _M2UA, PORT_M2PA: _M2PA}
_CARRIER = {_M3UA: "m3ua", _M2UA: "m2ua", _M2PA: "m2pa", _BICC: "sctp"}

#: Assigned PPIDs of protocols that carry no ISUP/BICC: skipped without an anomaly.
#: IUA 1, SUA 4, V5UA 6, H.248 7, TALI 9, DUA 10, ASAP 11, ENRP 12, H.323 13, S1AP 18, RUA 19,
#: HNBAP 20, SBc-AP 24, NBAP 25, X2AP 27, LCS-AP 29, SABP 31, Diameter 46/47, NGAP 60, XnAP 61,
#: F1AP 62, E1AP 64, ...
_QUIET_PPIDS = frozenset(
    {
        1,
        4,
        6,
        7,
        9,
        10,
        11,
        12,
        13,
        18,
        19,
        20,
        24,
        25,
        27,
        29,
        31,
        43,
        44,
        46,
        47,
        60,
        61,
        62,
        64,
        65,
        66,
        67,
        68,
    }
)

#: Most associations whose layer and link settings are cached at once.
_MAX_ASSOCIATIONS = 65536

_HDR = struct.Struct(">BBBBI")
_TLV = struct.Struct(">HH")
_PD = struct.Struct(">IIBBBB")
# fast path: version/reserved/class/type as one word, length, [RC tag+length, RC,] PD tag, length, OPC, DPC,
# SI, NI, (MP), SLS
_FAST = struct.Struct(">IIHHIIBBxB")
_FAST_RC = struct.Struct(">IIIxxxxHHIIBBxB")
_U32 = struct.Struct(">I")

_TAG_M3UA_PD = 0x0210
_TAG_M3UA_RC = 0x0006
_TAG_M3UA_NA = 0x0200
_TAG_DRAFT6_PD1 = 0x0002
_TAG_DRAFT6_PD2 = 0x0003
_TAG_M2UA_IID_INT = 0x0001
_TAG_M2UA_IID_TEXT = 0x0003
_TAG_M2UA_PD1 = 0x0300
_TAG_M2UA_PD1_DRAFT7 = 0x000E
_TAG_M2UA_PD2 = 0x0301


def link_name(carrier: str, src: str, sport: int, dst: str, dport: int) -> str:
    """``"<carrier>:<a>:<pa>-<b>:<pb>"`` with the endpoints in a fixed order, so that both directions
    of an association (or connection) name the same link."""
    if (src, sport) <= (dst, dport):
        return f"{carrier}:{src}:{sport}-{dst}:{dport}"
    return f"{carrier}:{dst}:{dport}-{src}:{sport}"


class SigtranDecoder:
    """Decodes SCTP user messages into payloads (see the module docstring).

    Anomalies that stop a message from yielding a payload are appended to ``anomalies``; the
    per-association state (layer, link name, point-code format, variant) is cached.
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
        # (src, sport, dst, dport, ppid) -> (kind, carrier, link, pc_format, variant)
        self._assoc: dict[tuple[str, int, str, int, int], tuple[int, str, str, str, str]] = {}
        self._unknown_reported: set[tuple[str, int, str, int]] = set()
        self._si_reported: set[tuple[str, int]] = set()
        #: the detector's store of format-dependent anomalies of undecided links (None: report now)
        self.deferred: DeferredMsus | None = None
        version = settings.m3ua_version
        self._rfc_ok = version in ("auto", "rfc")
        self._draft6_ok = version in ("auto", "draft6")

    # ------------------------------------------------------------------------------------------
    def _resolve(self, unit: SctpUnit) -> tuple[int, str, str, str, str]:
        key = (unit.src, unit.sport, unit.dst, unit.dport, unit.ppid)
        kind = _BY_PPID.get(unit.ppid)
        if kind is None:
            kind = _BY_PORT.get(unit.dport) or _BY_PORT.get(unit.sport)
            if kind is None:
                kind = _SKIP
                if unit.ppid not in _QUIET_PPIDS:
                    akey = (unit.src, unit.sport, unit.dst, unit.dport)
                    if (unit.src, unit.sport) > (unit.dst, unit.dport):
                        akey = (unit.dst, unit.dport, unit.src, unit.sport)
                    if akey not in self._unknown_reported:
                        if len(self._unknown_reported) >= _MAX_ASSOCIATIONS:
                            self._unknown_reported.clear()
                        self._unknown_reported.add(akey)
                        self.anomalies.append(
                            Anomaly(
                                "sctp.unknown_ppid",
                                unit.frame,
                                f"PPID {unit.ppid} on {unit.src}:{unit.sport} -> {unit.dst}:{unit.dport} "
                                "(reported once per association)",
                            )
                        )
        if kind == _SKIP:
            entry = (kind, "", "", "", "")
        else:
            carrier = _CARRIER[kind]
            link = link_name(carrier, unit.src, unit.sport, unit.dst, unit.dport)
            pc_format, variant = self.decided.get(link) or self.settings.for_link(link)
            entry = (kind, carrier, link, pc_format, variant)
        if len(self._assoc) >= _MAX_ASSOCIATIONS:
            self._assoc.clear()  # bounded memory on captures with endless port or PPID churn
        self._assoc[key] = entry
        return entry

    def set_format(self, link: str, pc_format: str, variant: str) -> None:
        """Read ``link``'s messages from now on with the format the detector decided."""
        for key, entry in self._assoc.items():
            if entry[2] == link:
                self._assoc[key] = (entry[0], entry[1], link, pc_format, variant)

    def decode(self, unit: SctpUnit) -> Payload | None:
        """The ISUP/BICC payload of one SCTP user message, or None."""
        entry = self._assoc.get((unit.src, unit.sport, unit.dst, unit.dport, unit.ppid))
        if entry is None:
            entry = self._resolve(unit)
        kind = entry[0]
        if kind == _M3UA and self._rfc_ok:
            # Fast path: RFC 4666 DATA with [Routing Context,] Protocol Data first, ISUP or BICC.
            data = unit.data
            n = len(data)
            fields = None
            if n >= 36 and data[9] == 6:
                head, mlen, rc_tl, tag, plen, opc, dpc, si, ni, sls = _FAST_RC.unpack_from(data)
                if (
                    head == 0x01000101
                    and rc_tl == 0x00060008
                    and tag == _TAG_M3UA_PD
                    and 16 + plen <= mlen <= n
                ):
                    fields = (opc, dpc, si, ni, sls, plen, 32, 16)
            elif n >= 28:
                head, mlen, tag, plen, opc, dpc, si, ni, sls = _FAST.unpack_from(data)
                if head == 0x01000101 and tag == _TAG_M3UA_PD and 8 + plen <= mlen <= n:
                    fields = (opc, dpc, si, ni, sls, plen, 24, 8)
            if fields is not None and (si == 5 or si == 13) and plen >= 16:
                opc, dpc, si, ni, sls, plen, start, base = fields
                return Payload(
                    unit.frame,
                    unit.ts,
                    "m3ua",
                    "isup" if si == 5 else "bicc",
                    entry[4],
                    entry[3],
                    opc,
                    dpc,
                    ni,
                    sls,
                    data[start : base + plen],
                    True,
                    entry[2],
                )
        try:
            if kind == _M3UA:
                return self._m3ua(unit, entry)
            if kind == _M2PA:
                return self._m2pa(unit, entry)
            if kind == _M2UA:
                return self._m2ua(unit, entry)
            if kind == _BICC:
                return Payload(
                    unit.frame,
                    unit.ts,
                    "sctp",
                    "bicc",
                    entry[4],
                    None,
                    None,
                    None,
                    None,
                    None,
                    unit.data,
                    True,
                    entry[2],
                )
        except Exception as exc:  # pragma: no cover - a bug: never stop the capture
            self.anomalies.append(internal_error(unit.frame, entry[1].upper(), exc))
        return None

    # ------------------------------------------------------------------------------------------
    def _parameters(
        self, unit: SctpUnit, layer: str, mclass_want: int
    ) -> Iterator[tuple[int, int, int] | None]:
        """The (tag, offset, length) of each parameter of a SIGTRAN DATA message (RFC 4666 / RFC 3331
        common header: version, spare, class, type, length; then 4-octet-aligned TLVs).  Yields None and
        stops when the message is not DATA of class ``mclass_want`` or is malformed (with an anomaly)."""
        data = unit.data
        n = len(data)
        if n < 8:
            self.anomalies.append(
                Anomaly(f"{layer}.truncated", unit.frame, f"{n} octets, the header needs 8")
            )
            yield None
            return
        version, _, mclass, mtype, mlen = _HDR.unpack_from(data)
        if version != 1:
            self.anomalies.append(Anomaly(f"{layer}.bad_version", unit.frame, f"version {version}"))
            yield None
            return
        if mclass != mclass_want or mtype != 1:
            yield None  # management and other non-DATA messages carry no user data
            return
        if mlen > n or mlen < 8:
            self.anomalies.append(
                Anomaly(f"{layer}.truncated", unit.frame, f"message length {mlen}, {n} octets present")
            )
            yield None
            return
        off = 8
        while off + 4 <= mlen:
            tag, plen = _TLV.unpack_from(data, off)
            if plen < 4 or off + plen > mlen:
                self.anomalies.append(
                    Anomaly(
                        f"{layer}.truncated",
                        unit.frame,
                        f"parameter 0x{tag:04x} of length {plen} at offset {off}",
                    )
                )
                yield None
                return
            yield tag, off, plen
            off += (plen + 3) & ~3

    def _m3ua(self, unit: SctpUnit, entry: tuple[int, str, str, str, str]) -> Payload | None:
        data = unit.data
        for param in self._parameters(unit, "m3ua", 1):
            if param is None:
                return None
            tag, off, plen = param
            if tag == _TAG_M3UA_PD and self._rfc_ok:
                if plen < 16:
                    self.anomalies.append(
                        Anomaly("m3ua.truncated", unit.frame, f"protocol data of length {plen}, needs 16")
                    )
                    return None
                opc, dpc, si, ni, _mp, sls = _PD.unpack_from(data, off + 4)
                if si == 5:
                    protocol = "isup"
                elif si == 13:
                    protocol = "bicc"
                else:
                    self._other_si(unit.frame, entry[2], si)
                    return None
                return Payload(
                    unit.frame,
                    unit.ts,
                    "m3ua",
                    protocol,
                    entry[4],
                    entry[3],
                    opc,
                    dpc,
                    ni,
                    sls,
                    data[off + 16 : off + plen],
                    True,
                    entry[2],
                )
            if tag in (_TAG_DRAFT6_PD1, _TAG_DRAFT6_PD2) and self._draft6_ok:
                start = off + 4 if tag == _TAG_DRAFT6_PD1 else off + 5
                return payload_from_msu(
                    data,
                    start,
                    off + plen,
                    unit.frame,
                    unit.ts,
                    "m3ua",
                    entry[2],
                    entry[3],
                    entry[4],
                    self.anomalies,
                    self._si_reported,
                    self.deferred,
                )
        self.anomalies.append(
            Anomaly(
                "m3ua.no_protocol_data",
                unit.frame,
                "DATA message without a Protocol Data parameter"
                + (
                    ""
                    if self._rfc_ok and self._draft6_ok
                    else f" (m3ua_version is {self.settings.m3ua_version})"
                ),
            )
        )
        return None

    def _other_si(self, frame: int, link: str, si: int) -> None:
        if si in (0, 1, 2, 3, 4) or (link, si) in self._si_reported:
            return
        self._si_reported.add((link, si))
        self.anomalies.append(
            Anomaly(
                "mtp3.unsupported_si", frame, f"service indicator {si} on {link} (reported once per link)"
            )
        )

    # ------------------------------------------------------------------------------------------
    def _m2pa(self, unit: SctpUnit, entry: tuple[int, str, str, str, str]) -> Payload | None:
        data = unit.data
        n = len(data)
        if n < 8:
            self.anomalies.append(Anomaly("m2pa.truncated", unit.frame, f"{n} octets, the header needs 8"))
            return None
        version, _, mclass, mtype, mlen = _HDR.unpack_from(data)
        if version != 1:
            self.anomalies.append(Anomaly("m2pa.bad_version", unit.frame, f"version {version}"))
            return None
        if mclass == 11:
            if mtype != 1:
                return None  # link status
            start = 17  # header 8, BSN 4, FSN 4, priority octet 1
        elif mclass == 6 and mtype == 1:  # draft 2: 16-bit type 0x0601, no sequence numbers
            start = 9
        else:
            return None
        end = mlen
        if mlen > n or mlen < 8:
            self.anomalies.append(
                Anomaly("m2pa.truncated", unit.frame, f"message length {mlen}, {n} octets present")
            )
            return None
        if end <= start - 1:
            if end < start - 1:
                self.anomalies.append(
                    Anomaly("m2pa.truncated", unit.frame, f"user data message of {end} octets")
                )
            return None  # a bare acknowledgement
        if end == start:  # a priority octet and nothing else
            self.anomalies.append(Anomaly("m2pa.truncated", unit.frame, "user data without an MTP3 message"))
            return None
        return payload_from_msu(
            data,
            start,
            end,
            unit.frame,
            unit.ts,
            "m2pa",
            entry[2],
            entry[3],
            entry[4],
            self.anomalies,
            self._si_reported,
            self.deferred,
        )

    # ------------------------------------------------------------------------------------------
    def _m2ua(self, unit: SctpUnit, entry: tuple[int, str, str, str, str]) -> Payload | None:
        data = unit.data
        for param in self._parameters(unit, "m2ua", 6):
            if param is None:
                return None
            tag, off, plen = param
            if tag in (_TAG_M2UA_PD1, _TAG_M2UA_PD1_DRAFT7, _TAG_M2UA_PD2):
                # Protocol Data 2 carries a TTC priority octet before the MSU
                start = off + 5 if tag == _TAG_M2UA_PD2 else off + 4
                return payload_from_msu(
                    data,
                    start,
                    off + plen,
                    unit.frame,
                    unit.ts,
                    "m2ua",
                    entry[2],
                    entry[3],
                    entry[4],
                    self.anomalies,
                    self._si_reported,
                    self.deferred,
                )
        self.anomalies.append(
            Anomaly("m2ua.no_protocol_data", unit.frame, "DATA message without a Protocol Data parameter")
        )
        return None


# --------------------------------------------------------------------------------------------------
# Encode side


def _param(tag: int, value: bytes) -> bytes:
    length = 4 + len(value)
    return _TLV.pack(tag, length) + value + b"\x00" * (-length & 3)


def _message(mclass: int, mtype: int, body: bytes) -> bytes:
    return _HDR.pack(1, 0, mclass, mtype, 8 + len(body)) + body


def build_m3ua_data(
    opc: int,
    dpc: int,
    si: int,
    ni: int,
    mp: int,
    sls: int,
    user_data: bytes,
    routing_context: int | None = None,
    network_appearance: int | None = None,
) -> bytes:
    """An RFC 4666 M3UA DATA message (Network Appearance, Routing Context, Protocol Data)."""
    body = b""
    if network_appearance is not None:
        body += _param(_TAG_M3UA_NA, _U32.pack(network_appearance & 0xFFFFFFFF))
    if routing_context is not None:
        body += _param(_TAG_M3UA_RC, _U32.pack(routing_context & 0xFFFFFFFF))
    body += _param(
        _TAG_M3UA_PD,
        _PD.pack(opc & 0xFFFFFFFF, dpc & 0xFFFFFFFF, si & 0xFF, ni & 0xFF, mp & 0xFF, sls & 0xFF)
        + bytes(user_data),
    )
    return _message(1, 1, body)


def build_m3ua_draft6_data(msu: bytes, routing_context: int | None = None, li: int | None = None) -> bytes:
    """A draft-6 M3UA DATA message around an MTP3 message (SIO + label + user data).

    With ``li`` the message uses Protocol Data 2 (an LI octet first), else Protocol Data 1.
    """
    body = b""
    if routing_context is not None:
        body += _param(_TAG_M3UA_RC, _U32.pack(routing_context & 0xFFFFFFFF))
    if li is None:
        body += _param(_TAG_DRAFT6_PD1, bytes(msu))
    else:
        body += _param(_TAG_DRAFT6_PD2, bytes((li & 0xFF,)) + bytes(msu))
    return _message(1, 1, body)


def build_m2pa_user_data(bsn: int, fsn: int, msu: bytes, priority: int = 0) -> bytes:
    """An RFC 4165 M2PA User Data message: header, BSN, FSN, priority octet, MTP3 message."""
    body = _U32.pack(bsn & 0xFFFFFF) + _U32.pack(fsn & 0xFFFFFF) + bytes(((priority & 3) << 6,)) + bytes(msu)
    return _HDR.pack(1, 0, 11, 1, 8 + len(body)) + body


def build_m2ua_data(interface_id: int | str, msu: bytes, ttc_priority: int | None = None) -> bytes:
    """An RFC 3331 M2UA DATA message: interface identifier (integer or text), Protocol Data 1 (or 2
    with a TTC priority octet when ``ttc_priority`` is given)."""
    if isinstance(interface_id, str):
        body = _param(_TAG_M2UA_IID_TEXT, interface_id.encode("utf-8"))
    else:
        body = _param(_TAG_M2UA_IID_INT, _U32.pack(interface_id & 0xFFFFFFFF))
    if ttc_priority is None:
        body += _param(_TAG_M2UA_PD1, bytes(msu))
    else:
        body += _param(_TAG_M2UA_PD2, bytes((ttc_priority & 0xFF,)) + bytes(msu))
    return _message(6, 1, body)
