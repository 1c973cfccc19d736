"""SIGTRAN adaptation layers over SCTP: M3UA, M2UA, M2PA, and BICC directly on SCTP.

:class:`SigtranDecoder` turns each :class:`~sigdiag.carrier.units.SctpUnit` (one SCTP user message) into
at most one :class:`~sigdiag.model.Payload`.  The layer is chosen by the payload protocol identifier:
3 M3UA, 2 M2UA, 5 M2PA, 8 BICC (no MTP3: the data starts at the call instance code).  PPID 0 or an
unassigned one falls back to the well-known ports (2905 M3UA, 2904 M2UA, 3565 M2PA), else
``sctp.unknown_ppid`` is reported once per association.  Assigned PPIDs of protocols that carry no
ISUP (SUA, IUA, S1AP, Diameter, ...) are skipped silently.

The layouts, tags, classes and types stand in the layer modules, with their builders:
:mod:`sigdiag.carrier.ua` (the common header and parameters), :mod:`sigdiag.carrier.m3ua` (RFC 4666 and
the IETF draft-6 layout of old captures: ``m3ua_version: auto`` tells them apart per message from the
Protocol Data tag; ``rfc`` or ``draft6`` accept only that layout's tags), :mod:`sigdiag.carrier.m2ua`
(RFC 3331, and draft 7's Protocol Data tag), :mod:`sigdiag.carrier.m2pa` (RFC 4165 and drafts 2 and
8; a User Data message with no data is a bare acknowledgement); PPIDs and ports in
:mod:`sigdiag.carrier.sctp`.  The builders are importable from here too, as before.

Every decoding function is total: bad bytes become named anomalies (with the frame number), never
exceptions.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from sigdiag.anomalies import Anomaly
from sigdiag.carrier import m2pa, m2ua, m3ua, ua
from sigdiag.carrier.hot import compile_hot
from sigdiag.carrier.m2pa import build_m2pa_user_data
from sigdiag.carrier.m2ua import build_m2ua_data
from sigdiag.carrier.m3ua import build_m3ua_data, build_m3ua_draft6_data
from sigdiag.carrier.mtp import MsuDecoder, internal_error, payload_from_msu, report_si
from sigdiag.carrier.mtp3 import SI_BICC, SI_ISUP, USER_PART_SIS
from sigdiag.carrier.payload import Payload
from sigdiag.carrier.sctp import PORT_M2PA, PORT_M2UA, PORT_M3UA, PPID_BICC, PPID_M2PA, PPID_M2UA, PPID_M3UA
from sigdiag.carrier.units import SctpUnit

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
    (
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
    )
)

#: Most associations whose layer and link settings are cached at once.
_MAX_ASSOCIATIONS = 65536

_HDR = ua.COMMON_HEADER
_TLV = ua.PARAMETER_HEADER
_PD = m3ua.PROTOCOL_DATA
# fast path: version/reserved/class/type as one word, length, [RC tag+length, RC,] PD tag, length, OPC, DPC,
# SI, NI, (MP), SLS
_FAST = struct.Struct(">IIHHIIBBxB")
_FAST_RC = struct.Struct(">IIIxxxxHHIIBBxB")
_RC_LEN = 8  # a Routing Context parameter: tag, length, one 32-bit context
_RC_TL = (m3ua.TAG_ROUTING_CONTEXT << 16) | _RC_LEN  # its tag and length as one word
_TAG_PD = m3ua.TAG_PROTOCOL_DATA
_PD_LEN = m3ua.PROTOCOL_DATA_LEN
_DRAFT6_TAGS = (m3ua.TAG_DRAFT6_PD1, m3ua.TAG_DRAFT6_PD2)


def link_name(carrier: str, src: str, sport: int, dst: str, dport: int) -> str:
    """``"<carrier>:<a>:<pa>-<b>:<pb>"`` with the endpoints in a fixed order, so that both directions
    of an association (or connection) name the same link."""
    if (src, sport) <= (dst, dport):
        return f"{carrier}:{src}:{sport}-{dst}:{dport}"
    return f"{carrier}:{dst}:{dport}-{src}:{sport}"


class SigtranDecoder(MsuDecoder):
    """Decodes SCTP user messages into payloads (see the module docstring).

    Anomalies that stop a message from yielding a payload are appended to ``anomalies``; the
    per-association state (layer, link name, point-code format, variant) is cached.
    """

    def _start(self) -> None:
        # (src, sport, dst, dport, ppid) -> (kind, carrier, link, pc_format, variant)
        self._assoc: dict[tuple[str, int, str, int, int], tuple[int, str, str, str, str]] = {}
        self._unknown_reported: set[tuple[str, int, str, int]] = set()
        version = self.settings.m3ua_version
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
        """The ISUP/BICC payload of one SCTP user message, or None.

        The signature only: the body is :data:`_DECODE`, compiled with the layers' constants at import
        (the assignment at the end of this module replaces this method)."""
        raise NotImplementedError

    def _general(
        self, unit: SctpUnit, entry: tuple[int, str, str, str, str]
    ) -> Payload | tuple[int, ...] | None:
        """Every layout with every check: a payload, the fields of an RFC M3UA Protocol Data, or None."""
        kind = entry[0]
        got: tuple[int, ...] | None
        if kind == _M3UA:
            got = self._m3ua(unit, entry)
        elif kind == _M2PA:
            got = self._m2pa(unit)
        elif kind == _M2UA:
            got = self._m2ua(unit)
        elif kind == _BICC:
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
        else:
            return None
        if got is None or len(got) != 2:
            return got
        start, end = got  # an MTP3 message
        return payload_from_msu(
            unit.data,
            start,
            end,
            unit.frame,
            unit.ts,
            entry[1],
            entry[2],
            entry[3],
            entry[4],
            self.anomalies,
            self._si_reported,
            self.deferred,
        )

    # ------------------------------------------------------------------------------------------
    def _parameters(
        self, unit: SctpUnit, layer: str, mclass_want: int
    ) -> Iterator[tuple[int, int, int] | None]:
        """The (tag, offset, length) of each parameter of a SIGTRAN DATA message (the common header of
        :mod:`sigdiag.carrier.ua`, then 4-octet-aligned parameters).  Yields None and stops when the
        message is not DATA of class ``mclass_want`` or is malformed (with an anomaly)."""
        data = unit.data
        n = len(data)
        if n < ua.COMMON_HEADER_LEN:
            self.anomalies.append(
                Anomaly(f"{layer}.truncated", unit.frame, f"{n} octets, the header needs 8")
            )
            yield None
            return
        version, _, mclass, mtype, mlen = _HDR.unpack_from(data)
        if version != ua.VERSION:
            self.anomalies.append(Anomaly(f"{layer}.bad_version", unit.frame, f"version {version}"))
            yield None
            return
        if mclass != mclass_want or mtype != 1:  # DATA is type 1 in both M3UA and M2UA
            yield None  # management and other non-DATA messages carry no user data
            return
        if mlen > n or mlen < ua.COMMON_HEADER_LEN:
            self.anomalies.append(
                Anomaly(f"{layer}.truncated", unit.frame, f"message length {mlen}, {n} octets present")
            )
            yield None
            return
        off = ua.COMMON_HEADER_LEN
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

    def _m3ua(self, unit: SctpUnit, entry: tuple[int, str, str, str, str]) -> tuple[int, ...] | None:
        """An RFC layout's Protocol Data fields (OPC, DPC, SI, NI, SLS, user part start and end), a draft-6
        layout's MTP3 message span (start, end), or None."""
        data = unit.data
        for param in self._parameters(unit, "m3ua", m3ua.CLASS_TRANSFER):
            if param is None:
                return None
            tag, off, plen = param
            if tag == _TAG_PD and self._rfc_ok:
                if plen < _PD_LEN:
                    self.anomalies.append(
                        Anomaly("m3ua.truncated", unit.frame, f"protocol data of length {plen}, needs 16")
                    )
                    return None
                opc, dpc, si, ni, _mp, sls = _PD.unpack_from(data, off + 4)
                if si not in USER_PART_SIS:
                    report_si(entry[2], unit.frame, si, self.anomalies, self._si_reported)
                    return None
                return opc, dpc, si, ni, sls, off + _PD_LEN, off + plen
            if tag in _DRAFT6_TAGS and self._draft6_ok:
                # Protocol Data 2 carries an LI octet before the MTP3 message
                return (off + 4 if tag == m3ua.TAG_DRAFT6_PD1 else off + 5), off + plen
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

    # ------------------------------------------------------------------------------------------
    def _m2pa(self, unit: SctpUnit) -> tuple[int, int] | None:
        """The MTP3 message span of an M2PA User Data message, or None."""
        data = unit.data
        n = len(data)
        if n < ua.COMMON_HEADER_LEN:
            self.anomalies.append(Anomaly("m2pa.truncated", unit.frame, f"{n} octets, the header needs 8"))
            return None
        version, _, mclass, mtype, mlen = _HDR.unpack_from(data)
        if version != ua.VERSION:
            self.anomalies.append(Anomaly("m2pa.bad_version", unit.frame, f"version {version}"))
            return None
        if mclass == m2pa.CLASS_M2PA:
            if mtype != m2pa.TYPE_USER_DATA:
                return None  # link status
            start = m2pa.USER_DATA_HEADER_LEN  # header 8, BSN 4, FSN 4, priority octet 1
        elif mclass == m2pa.DRAFT2_CLASS and mtype == m2pa.TYPE_USER_DATA:  # draft 2: type 0x0601, no BSN/FSN
            start = m2pa.DRAFT2_USER_DATA_LEN
        else:
            return None
        end = mlen
        if mlen > n or mlen < ua.COMMON_HEADER_LEN:
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
        return start, end

    # ------------------------------------------------------------------------------------------
    def _m2ua(self, unit: SctpUnit) -> tuple[int, int] | None:
        """The MTP3 message span of an M2UA DATA message, or None."""
        for param in self._parameters(unit, "m2ua", m2ua.CLASS_MAUP):
            if param is None:
                return None
            tag, off, plen = param
            if tag in m2ua.PROTOCOL_DATA_TAGS:
                # Protocol Data 2 carries a TTC priority octet before the MSU
                return (off + 5 if tag == m2ua.TAG_PROTOCOL_DATA_2 else off + 4), off + plen
        self.anomalies.append(
            Anomaly("m2ua.no_protocol_data", unit.frame, "DATA message without a Protocol Data parameter")
        )
        return None


# The body of SigtranDecoder.decode: the RFC 4666 M3UA DATA with [Routing Context,] Protocol Data first is
# read here, with the layers' constants in braces (compiled with them as literals at import, see
# sigdiag.carrier.hot); every other layout, and every check, in SigtranDecoder._general.
_DECODE = """
def decode(self, unit):
    entry = self._assoc.get((unit.src, unit.sport, unit.dst, unit.dport, unit.ppid))
    if entry is None:
        entry = self._resolve(unit)
    kind = entry[0]
    data = unit.data
    fields = None  # an RFC M3UA Protocol Data: (OPC, DPC, SI, NI, SLS, user part start, end)
    if kind == {m3ua} and self._rfc_ok:
        n = len(data)
        if n >= {rc_need} and data[9] == {tag_rc_low}:  # the first parameter's tag: Routing Context
            head, mlen, rc_tl, tag, plen, opc, dpc, si, ni, sls = _FAST_RC(data)
            if (
                head == {data_head}
                and rc_tl == {rc_tl}
                and tag == {tag_pd}
                and {rc_param_end} + plen <= mlen <= n
            ):
                fields = (opc, dpc, si, ni, sls, {rc_user_at}, {rc_param_end} + plen)
        elif n >= {need}:
            head, mlen, tag, plen, opc, dpc, si, ni, sls = _FAST(data)
            if head == {data_head} and tag == {tag_pd} and {param_at} + plen <= mlen <= n:
                fields = (opc, dpc, si, ni, sls, {user_at}, {param_at} + plen)
        if fields is not None and ((si != {si_isup} and si != {si_bicc}) or plen < {pd_len}):
            fields = None
    if fields is None:
        try:
            got = self._general(unit, entry)
        except Exception as exc:  # a bug: never stop the capture
            self.anomalies.append(internal_error(unit.frame, entry[1].upper(), exc))
            return None
        if got is None or got.__class__ is not tuple:
            return got
        fields = got
    opc, dpc, si, ni, sls, start, stop = fields
    return Payload(
        unit.frame,
        unit.ts,
        "m3ua",
        "isup" if si == {si_isup} else "bicc",
        entry[4],
        entry[3],
        opc,
        dpc,
        ni,
        sls,
        data[start:stop],
        True,
        entry[2],
    )
"""

SigtranDecoder.decode = compile_hot(  # type: ignore[method-assign]
    _DECODE,
    {
        "_FAST": _FAST.unpack_from,
        "_FAST_RC": _FAST_RC.unpack_from,
        "Payload": Payload,
        "internal_error": internal_error,
    },
    m3ua=_M3UA,
    tag_rc_low=m3ua.TAG_ROUTING_CONTEXT & 0xFF,
    rc_tl=_RC_TL,
    data_head=m3ua.DATA_HEAD,
    tag_pd=m3ua.TAG_PROTOCOL_DATA,
    param_at=ua.COMMON_HEADER_LEN,
    rc_param_end=ua.COMMON_HEADER_LEN + _RC_LEN,
    user_at=ua.COMMON_HEADER_LEN + m3ua.PROTOCOL_DATA_LEN,
    rc_user_at=ua.COMMON_HEADER_LEN + _RC_LEN + m3ua.PROTOCOL_DATA_LEN,
    need=_FAST.size + 4,  # the fixed fields and 4 octets of user part
    rc_need=_FAST_RC.size + 4,
    si_isup=SI_ISUP,
    si_bicc=SI_BICC,
    pd_len=m3ua.PROTOCOL_DATA_LEN,
)
