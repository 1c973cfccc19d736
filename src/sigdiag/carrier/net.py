"""Network layers: link layer, IPv4/IPv6 (with fragment reassembly), SCTP, UDP and TCP.

:class:`NetDecoder` turns :class:`~sigdiag.capture.frame.Frame` objects into transport units
(:mod:`sigdiag.carrier.units`): one :class:`SctpUnit` per complete SCTP user message, one
:class:`StreamUnit` per UDP datagram or in-order piece of a TCP byte stream, and an :class:`MtpUnit` for
frames of the SS7 link types 139/140/141 (handed on unchanged).  It never raises on bad bytes: what it
cannot decode becomes an :class:`~sigdiag.anomalies.Anomaly` and the frame yields what it could.
Anomalies about traffic that simply carries no signalling (an ARP frame, an ICMP packet, an unknown link
type) are reported once per kind and decoder, not once per frame.  When a layer is cut short and the
frame was shortened by the capture's snapshot length, the anomaly is ``pcap.snaplen_truncated``.

Each layer's wire table, constants and builders stand in its own module, which this one reads:

* :mod:`sigdiag.carrier.link` - Ethernet, VLAN, MPLS, PPPoE, LLC/SNAP, Linux SLL/SLL2, loopback, raw IP;
* :mod:`sigdiag.carrier.ip` - IPv4, IPv6 and its extension headers, fragment reassembly
  (:class:`~sigdiag.carrier.ip.IpReassembler`);
* :mod:`sigdiag.carrier.sctp` - common header, DATA / I-DATA chunks and user-message reassembly
  (:class:`~sigdiag.carrier.sctp.SctpReader`);
* :mod:`sigdiag.carrier.transport` - UDP and TCP, TCP byte streams (:class:`TcpStreams`).

The common shapes (untagged Ethernet + IPv4 without options, an SCTP packet of one whole DATA chunk) are
read here inline, with those modules' structs; everything else goes to the general handlers.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from functools import partial

from sigdiag.anomalies import Anomaly
from sigdiag.capture.frame import Frame
from sigdiag.carrier import link as L
from sigdiag.carrier.hot import compile_hot
from sigdiag.carrier.ip import (
    EXT_AH,
    EXT_DSTOPTS,
    EXT_FRAGMENT,
    EXT_HOPOPTS,
    EXT_NONE,
    EXT_ROUTING,
    FRAG6_PARSE,
    FRAGMENT_TIMEOUT,
    IP4_MF,
    IP4_OFFSET,
    IP4_PARSE,
    IP6_PARSE,
    IPV4_HEADER_LEN,
    IPV4_VIHL,
    IPV6_HEADER_LEN,
    MAX_PENDING_DATAGRAMS,
    MAX_PENDING_FRAGMENT_BYTES,
    PROTO_IPIP,
    PROTO_IPV6,
    PROTO_SCTP,
    PROTO_TCP,
    PROTO_UDP,
    IpReassembler,
    ntop,
)
from sigdiag.carrier.sctp import (
    CHUNK_DATA,
    COMMON_HEADER_LEN,
    DATA_CHUNK_LEN,
    FIRST_DATA,
    FLAGS_WHOLE,
    MAX_SCTP_MESSAGE,
    MAX_SCTP_PENDING,
    SctpReader,
)
from sigdiag.carrier.transport import (
    TCP_HEADER_LEN,
    TCP_PARSE,
    UDP_HEADER_LEN,
    UDP_PARSE,
    TcpKey,
    TcpStreams,
)
from sigdiag.carrier.units import MtpUnit, SctpUnit, StreamUnit

__all__ = [
    "FRAGMENT_TIMEOUT",
    "MAX_PENDING_DATAGRAMS",
    "MAX_PENDING_FRAGMENT_BYTES",
    "MAX_SCTP_MESSAGE",
    "MAX_SCTP_PENDING",
    "NetDecoder",
    "TcpKey",
    "TcpStreams",
    "Unit",
]

Unit = SctpUnit | StreamUnit | MtpUnit

#: Depth limit for IP-in-IP tunnels and nested fragments.
_MAX_DEPTH = 4
#: A fragment: MF set or a non-zero offset.
_FRAGMENT_BITS = IP4_MF | IP4_OFFSET
_IPV6_SKIPPED = frozenset({EXT_HOPOPTS, EXT_ROUTING, EXT_DSTOPTS, EXT_AH})

_IP4 = IP4_PARSE
_IP6 = IP6_PARSE
_UDP = UDP_PARSE.unpack_from
_TCP = TCP_PARSE.unpack_from
_SCTP_FIRST = FIRST_DATA.unpack_from
_FRAG6 = FRAG6_PARSE.unpack_from
_U16 = struct.Struct("!H").unpack_from
# Link headers that end with an EtherType: (length, offset of the EtherType, name in anomalies)
_ETHERNET = (L.ETHERNET_HEADER_LEN, L.ETHERTYPE_OFFSET, "Ethernet")
_SLL = (L.SLL_HEADER_LEN, L.SLL_PROTOCOL_OFFSET, "Linux cooked (SLL)")
_SLL2 = (L.SLL2_HEADER_LEN, L.SLL2_PROTOCOL_OFFSET, "Linux cooked v2 (SLL2)")
_ETH_LEN = L.ETHERNET_HEADER_LEN
#: Offset of the user data of an SCTP packet's first DATA chunk.
_SCTP_DATA_AT = COMMON_HEADER_LEN + DATA_CHUNK_LEN
_ETH_IPV4 = L.ETHERTYPE_IPV4.to_bytes(2, "big")


class NetDecoder:
    """Frames in, transport units out; see the module docstring for every layer's layout.

    ``feed(frame)`` returns the units the frame completed (possibly none, possibly several: an SCTP
    packet bundles chunks).  ``finish()`` is called once at the end of the capture: it reports
    reassemblies that never completed and returns the TCP data that was still held behind gaps.
    """

    def __init__(self, anomalies: list[Anomaly]) -> None:
        self._anomalies = anomalies
        self._names: dict[bytes, str] = {}
        self._ip = IpReassembler(anomalies)
        self._sctp_reader = SctpReader(anomalies, self._cut)
        self.tcp = TcpStreams(anomalies)
        self._once: set[tuple[str, object]] = set()
        self._last = Frame(0, 0.0, -1, b"", 0)  # the latest frame fed
        self._snap_cut: Frame | None = None  # the latest frame reported as cut by the snapshot length
        self._links: dict[int, Callable[[Frame, bytes], list[Unit]]] = {
            L.LINKTYPE_ETHERNET: partial(self._cooked, _ETHERNET),
            L.LINKTYPE_LINUX_SLL: partial(self._cooked, _SLL),
            L.LINKTYPE_LINUX_SLL2: partial(self._cooked, _SLL2),
            L.LINKTYPE_IPV4: self._raw4,
            L.LINKTYPE_IPV6: self._raw6,
            L.LINKTYPE_NULL: self._null,
            L.LINKTYPE_LOOP: self._null,
        }
        for lt in L.RAW_IP_LINKTYPES:
            self._links[lt] = self._raw
        # EtherType -> handler(frame, data, offset of the payload), for the rarer encapsulations
        self._ethertypes: dict[int, Callable[[Frame, bytes, int], list[Unit]]] = {
            L.ETHERTYPE_PPPOE: self._pppoe,
        }
        for et in L.ETHERTYPE_MPLS:
            self._ethertypes[et] = self._mpls

    # ------------------------------------------------------------------------------------------
    # entry points

    def feed(self, frame: Frame) -> list[Unit]:
        """The transport units completed by ``frame``."""
        self._last = frame
        try:
            lt = frame.linktype
            if lt == 1:  # LINKTYPE_ETHERNET
                data = frame.data
                if data[12:14] == _ETH_IPV4:  # the common case first: untagged Ethernet + IPv4
                    return self._ipv4(frame, data, _ETH_LEN, 0)
                return self._cooked(_ETHERNET, frame, data)
            handler = self._links.get(lt)
            if handler is not None:
                return handler(frame, frame.data)
            if lt in L.MTP_LINKTYPES:
                return [MtpUnit(frame.number, frame.ts, lt, frame.interface, frame.data)]
            self._report_once("link.unsupported_linktype", lt, frame.number, f"link type {lt}")
            return []
        except Exception as exc:  # defensive: a bug here must not stop the capture
            self._anomalies.append(
                Anomaly("net.internal_error", frame.number, f"{type(exc).__name__}: {exc}; frame skipped")
            )
            return []

    def finish(self) -> list[Unit]:
        """End of capture: report incomplete reassemblies; return TCP data held behind gaps."""
        frame = self._last.number
        self._ip.finish(frame)
        self._sctp_reader.finish(frame)
        units: list[Unit] = []
        for key, data in self.tcp.flush(frame):
            src, sport, dst, dport = key
            units.append(StreamUnit(frame, self._last.ts, "tcp", src, dst, sport, dport, data))
        return units

    # ------------------------------------------------------------------------------------------
    # helpers

    def _report_once(self, name: str, what: object, frame: int, detail: str) -> None:
        key = (name, what)
        if key in self._once:
            return
        self._once.add(key)
        self._anomalies.append(
            Anomaly(name, frame, f"{detail} (reported once; later frames like this are skipped silently)")
        )

    def _cut(self, frame: Frame, name: str, detail: str) -> None:
        """A layer is shorter than its header or length field says.

        When the capture's snapshot length cut the frame, that is the reason: one
        ``pcap.snaplen_truncated`` per frame, however many layers it cut."""
        if len(frame.data) < frame.orig_len:
            if self._snap_cut is frame:
                return
            self._snap_cut = frame
            detail = f"{detail}; frame captured {len(frame.data)} of {frame.orig_len} octets ({name})"
            name = "pcap.snaplen_truncated"
        self._anomalies.append(Anomaly(name, frame.number, detail))

    def _name(self, addr: bytes) -> str:
        names = self._names
        text = names.get(addr)
        if text is None:
            if len(names) >= 65536:
                names.clear()
            text = names[addr] = ntop(addr)
        return text

    # ------------------------------------------------------------------------------------------
    # link layers

    def _cooked(self, header: tuple[int, int, str], frame: Frame, data: bytes) -> list[Unit]:
        """A link header of ``size`` octets with the EtherType at ``at`` (Ethernet, SLL, SLL2)."""
        size, at, name = header
        if len(data) < size:
            self._cut(frame, "link.truncated", f"{name} header: {len(data)} of {size} octets")
            return []
        return self._ethertype(frame, data, size, _U16(data, at)[0])

    def _null(self, frame: Frame, data: bytes) -> list[Unit]:
        size = L.LOOPBACK_HEADER_LEN
        if len(data) < size:
            self._cut(frame, "link.truncated", f"loopback header: {len(data)} of 4 octets")
            return []
        family = int.from_bytes(data[:size], "little")
        if family > 0xFFFF:
            family = int.from_bytes(data[:size], "big")
        if family == L.AF_INET:
            return self._ipv4(frame, data, size, 0)
        if family in L.AF_INET6_VALUES:
            return self._ipv6(frame, data, size, 0)
        self._report_once(
            "link.unsupported_ethertype", ("family", family), frame.number, f"address family {family}"
        )
        return []

    def _by_version(self, frame: Frame, data: bytes, off: int) -> list[Unit] | None:
        """IPv4 or IPv6 at ``off`` as its version nibble says; None for any other version."""
        version = data[off] >> 4 if len(data) > off else 0
        if version == 4:
            return self._ipv4(frame, data, off, 0)
        if version == 6:
            return self._ipv6(frame, data, off, 0)
        return None

    def _raw(self, frame: Frame, data: bytes) -> list[Unit]:
        units = self._by_version(frame, data, 0)
        if units is not None:
            return units
        if not data:
            self._cut(frame, "link.truncated", "empty raw IP frame")
        else:
            self._anomalies.append(
                Anomaly("ip.bad_version", frame.number, f"IP version {data[0] >> 4} in a raw IP frame")
            )
        return []

    def _raw4(self, frame: Frame, data: bytes) -> list[Unit]:
        return self._ipv4(frame, data, 0, 0)

    def _raw6(self, frame: Frame, data: bytes) -> list[Unit]:
        return self._ipv6(frame, data, 0, 0)

    def _ethertype(self, frame: Frame, data: bytes, off: int, et: int) -> list[Unit]:
        """The payload of EtherType ``et`` at ``off``, through VLAN tags and LLC/SNAP headers."""
        n = len(data)
        while True:
            if et == L.ETHERTYPE_IPV4:
                return self._ipv4(frame, data, off, 0)
            if et == L.ETHERTYPE_IPV6:
                return self._ipv6(frame, data, off, 0)
            if et in L.VLAN_TPIDS:  # TCI 2, then the next EtherType
                if n < off + 4:
                    self._cut(frame, "link.truncated", "VLAN tag cut short")
                    return []
                et = _U16(data, off + 2)[0]
                off += 4
            elif et <= L.MAX_8023_LENGTH:  # IEEE 802.3 length: LLC; only SNAP with an EtherType is followed
                if data[off : off + 3] != L.LLC_SNAP or n < off + 8:
                    self._report_once(
                        "link.unsupported_ethertype", "llc", frame.number, "IEEE 802.3/LLC frame"
                    )
                    return []
                et = _U16(data, off + 6)[0]
                off += 8
            else:
                handler = self._ethertypes.get(et)
                if handler is not None:
                    return handler(frame, data, off)
                self._report_once("link.unsupported_ethertype", et, frame.number, f"EtherType {et:#06x}")
                return []

    def _mpls(self, frame: Frame, data: bytes, off: int) -> list[Unit]:
        """MPLS: pop labels (4 octets each) up to the bottom of the stack, then IPv4 or IPv6."""
        n = len(data)
        while True:
            if n < off + 4:
                self._cut(frame, "link.truncated", "MPLS label stack cut short")
                return []
            bottom = data[off + 2] & 1
            off += 4
            if bottom:
                break
        units = self._by_version(frame, data, off)
        if units is None:
            self._report_once(
                "link.unsupported_ethertype", "mpls", frame.number, "MPLS payload that is not IP"
            )
            return []
        return units

    def _pppoe(self, frame: Frame, data: bytes, off: int) -> list[Unit]:
        """PPPoE session: ver/type 1, code 1, session 2, length 2, PPP protocol 2."""
        if len(data) < off + 8:
            self._cut(frame, "link.truncated", "PPPoE header cut short")
            return []
        ppp = _U16(data, off + 6)[0]
        off += 8
        if ppp == L.PPP_IPV4:
            return self._ipv4(frame, data, off, 0)
        if ppp == L.PPP_IPV6:
            return self._ipv6(frame, data, off, 0)
        self._report_once(
            "link.unsupported_ethertype", ("ppp", ppp), frame.number, f"PPP protocol {ppp:#06x}"
        )
        return []

    # ------------------------------------------------------------------------------------------
    # network layers

    #: ``_ipv4(frame, data, off, depth)``: the units of the IPv4 packet at ``off``.  Fast path: no options,
    #: not a fragment, length consistent; everything else goes to :meth:`_ipv4_full`.
    _ipv4 = compile_hot(
        """
def _ipv4(self, frame, data, off, depth):
    n = len(data)
    if n - off >= {ip4_len}:
        vihl, total, _ident, ff, proto, src, dst = _IP4.unpack_from(data, off)
        if vihl == {vihl} and not ff & {fragment_bits} and {ip4_len} <= total <= n - off:
            names = self._names
            s = names.get(src) or self._name(src)
            d = names.get(dst) or self._name(dst)
            if proto == {sctp}:
                return self._sctp(frame, data, off + {ip4_len}, off + total, s, d)
            if proto == {udp}:
                return self._udp(frame, data, off + {ip4_len}, off + total, s, d)
            if proto == {tcp}:
                return self._tcp(frame, data, off + {ip4_len}, off + total, s, d)
    return self._ipv4_full(frame, data, off, depth)
""",
        {"_IP4": _IP4},
        ip4_len=IPV4_HEADER_LEN,
        vihl=IPV4_VIHL,
        fragment_bits=_FRAGMENT_BITS,
        sctp=PROTO_SCTP,
        udp=PROTO_UDP,
        tcp=PROTO_TCP,
    )

    def _ipv4_full(self, frame: Frame, data: bytes, off: int, depth: int) -> list[Unit]:
        n = len(data)
        if n - off < IPV4_HEADER_LEN:
            self._cut(frame, "ip.truncated", f"IPv4 header: {max(n - off, 0)} of 20 octets")
            return []
        vihl, total, ident, ff, proto, src, dst = _IP4.unpack_from(data, off)
        if vihl >> 4 != 4:
            self._anomalies.append(
                Anomaly("ip.bad_version", frame.number, f"IP version {vihl >> 4} where IPv4 expected")
            )
            return []
        ihl = (vihl & 15) << 2
        if ihl < IPV4_HEADER_LEN:
            self._anomalies.append(Anomaly("ip.bad_header_length", frame.number, f"IPv4 header length {ihl}"))
            return []
        if total == 0:  # TCP segmentation offload: the length was never filled in
            total = n - off
        if total < ihl:
            self._anomalies.append(
                Anomaly(
                    "ip.bad_header_length",
                    frame.number,
                    f"IPv4 total length {total} below header length {ihl}",
                )
            )
            return []
        end = off + total
        if end > n:
            self._cut(frame, "ip.truncated", f"IPv4 total length {total}, {n - off} octets present")
            if off + ihl > n:
                return []
            if ff & _FRAGMENT_BITS:
                return []  # a cut fragment would corrupt its datagram
            end = n
        names = self._names
        s = names.get(src) or self._name(src)
        d = names.get(dst) or self._name(dst)
        start = off + ihl
        if ff & _FRAGMENT_BITS:  # MF set or offset non-zero: a fragment
            done = self._ip.add(
                (src, dst, proto, ident),
                (ff & IP4_OFFSET) << 3,
                bool(ff & IP4_MF),
                data[start:end],
                proto,
                frame,
            )
            if done is None:
                return []
            data, _proto = done
            start, end = 0, len(data)
        return self._transport(frame, proto, data, start, end, s, d, depth)

    def _transport(
        self, frame: Frame, proto: int, data: bytes, start: int, end: int, s: str, d: str, depth: int
    ) -> list[Unit]:
        """The payload of IP protocol ``proto`` in ``data[start:end]`` (from ``s`` to ``d``)."""
        if proto == PROTO_SCTP:
            return self._sctp(frame, data, start, end, s, d)
        if proto == PROTO_UDP:
            return self._udp(frame, data, start, end, s, d)
        if proto == PROTO_TCP:
            return self._tcp(frame, data, start, end, s, d)
        return self._other_proto(frame, proto, data, start, end, depth)

    def _other_proto(
        self, frame: Frame, proto: int, data: bytes, start: int, end: int, depth: int
    ) -> list[Unit]:
        if proto in (PROTO_IPIP, PROTO_IPV6) and depth < _MAX_DEPTH:
            inner = data[start:end]
            return (
                self._ipv4(frame, inner, 0, depth + 1)
                if proto == PROTO_IPIP
                else self._ipv6(frame, inner, 0, depth + 1)
            )
        self._report_once("ip.unsupported_protocol", proto, frame.number, f"IP protocol {proto}")
        return []

    def _ipv6(self, frame: Frame, data: bytes, off: int, depth: int) -> list[Unit]:
        n = len(data)
        if n - off < IPV6_HEADER_LEN:
            self._cut(frame, "ip.truncated", f"IPv6 header: {max(n - off, 0)} of 40 octets")
            return []
        vtf, plen, nh, src, dst = _IP6.unpack_from(data, off)
        if vtf >> 28 != 6:
            self._anomalies.append(
                Anomaly("ip.bad_version", frame.number, f"IP version {vtf >> 28} where IPv6 expected")
            )
            return []
        end = off + IPV6_HEADER_LEN + plen
        if plen == 0:  # jumbogram or offload: use the frame
            end = n
        elif end > n:
            self._cut(frame, "ip.truncated", f"IPv6 payload length {plen}, {n - off - 40} octets present")
            end = n
        s = self._names.get(src) or self._name(src)
        d = self._names.get(dst) or self._name(dst)
        return self._ipv6_chain(frame, nh, data, off + IPV6_HEADER_LEN, end, src, dst, s, d, depth)

    def _ipv6_chain(
        self,
        frame: Frame,
        nh: int,
        data: bytes,
        pos: int,
        end: int,
        src: bytes,
        dst: bytes,
        s: str,
        d: str,
        depth: int,
    ) -> list[Unit]:
        while True:
            if nh == PROTO_SCTP:
                return self._sctp(frame, data, pos, end, s, d)
            if nh == PROTO_UDP:
                return self._udp(frame, data, pos, end, s, d)
            if nh == PROTO_TCP:
                return self._tcp(frame, data, pos, end, s, d)
            if nh in _IPV6_SKIPPED:
                if end - pos < 8:
                    self._cut(frame, "ip.truncated", f"IPv6 extension header {nh} cut short")
                    return []
                hlen = (data[pos + 1] + 2) << 2 if nh == EXT_AH else (data[pos + 1] + 1) << 3
                if pos + hlen > end:
                    self._cut(frame, "ip.truncated", f"IPv6 extension header {nh} of {hlen} octets cut short")
                    return []
                nh = data[pos]
                pos += hlen
            elif nh == EXT_FRAGMENT:
                if end - pos < 8:
                    self._cut(frame, "ip.truncated", "IPv6 fragment header cut short")
                    return []
                nxt, offm, ident = _FRAG6(data, pos)
                pos += 8
                if offm & 0xFFF9 == 0:  # atomic fragment (offset 0, no M): just a header
                    nh = nxt
                    continue
                if len(frame.data) < frame.orig_len:
                    self._cut(frame, "ip.truncated", "IPv6 fragment cut by the snapshot length")
                    return []
                done = self._ip.add(
                    (src, dst, EXT_FRAGMENT, ident), offm & 0xFFF8, bool(offm & 1), data[pos:end], nxt, frame
                )
                if done is None or depth >= _MAX_DEPTH:
                    return []
                data, nh = done
                pos, end = 0, len(data)
                depth += 1
            elif nh == EXT_NONE:
                return []
            else:
                return self._other_proto(frame, nh, data, pos, end, depth)

    # ------------------------------------------------------------------------------------------
    # transport layers

    def _udp(self, frame: Frame, data: bytes, off: int, end: int, s: str, d: str) -> list[Unit]:
        if end - off < UDP_HEADER_LEN:
            self._cut(frame, "udp.truncated", f"UDP header: {max(end - off, 0)} of 8 octets")
            return []
        sport, dport, length = _UDP(data, off)
        if length == 0:
            length = end - off
        elif length < UDP_HEADER_LEN:
            self._anomalies.append(Anomaly("udp.truncated", frame.number, f"UDP length {length} below 8"))
            return []
        elif length > end - off:
            self._cut(frame, "udp.truncated", f"UDP length {length}, {end - off} octets present")
            length = end - off
        if length == UDP_HEADER_LEN:
            return []
        payload = data[off + UDP_HEADER_LEN : off + length]
        return [StreamUnit(frame.number, frame.ts, "udp", s, d, sport, dport, payload)]

    def _tcp(self, frame: Frame, data: bytes, off: int, end: int, s: str, d: str) -> list[Unit]:
        if end - off < TCP_HEADER_LEN:
            self._cut(frame, "tcp.truncated", f"TCP header: {max(end - off, 0)} of 20 octets")
            return []
        sport, dport, seq, doff, flags = _TCP(data, off)
        doff = (doff >> 4) << 2
        if doff < TCP_HEADER_LEN or off + doff > end:
            self._cut(frame, "tcp.truncated", f"TCP data offset {doff}, {end - off} octets present")
            return []
        start = off + doff
        if start == end and not flags & 7:
            return []
        pieces = self.tcp.push(frame.number, (s, sport, d, dport), seq, flags, data[start:end])
        if not pieces:
            return []
        number, ts = frame.number, frame.ts
        return [StreamUnit(number, ts, "tcp", s, d, sport, dport, piece) for piece in pieces]

    #: ``_sctp(frame, data, off, end, s, d)``: the user messages of the SCTP packet ``data[off:end]`` (from
    #: ``s`` to ``d``).  Fast path: one whole DATA chunk fills the packet; anything else goes to the
    #: :class:`~sigdiag.carrier.sctp.SctpReader`.
    _sctp = compile_hot(
        """
def _sctp(self, frame, data, off, end, s, d):
    if end - off >= {data_at}:
        sport, dport, ctype, flags, clen, _tsn, stream, _ssn, ppid = _SCTP_FIRST(data, off)
        if (
            ctype == {chunk_data}
            and flags & {whole} == {whole}
            and clen > {chunk_len}
            and 0 <= end - off - {common_len} - clen <= 3
        ):
            return [
                SctpUnit(
                    frame.number,
                    frame.ts,
                    s,
                    d,
                    sport,
                    dport,
                    ppid,
                    stream,
                    data[off + {data_at} : off + {common_len} + clen],
                )
            ]
    return self._sctp_reader.chunks(frame, data, off, end, s, d)
""",
        {"_SCTP_FIRST": _SCTP_FIRST, "SctpUnit": SctpUnit},
        data_at=_SCTP_DATA_AT,
        chunk_data=CHUNK_DATA,
        whole=FLAGS_WHOLE,
        chunk_len=DATA_CHUNK_LEN,
        common_len=COMMON_HEADER_LEN,
    )
