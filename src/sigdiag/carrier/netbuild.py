"""Build network packets: link layers, IPv4/IPv6 (optionally fragmented), SCTP, UDP and TCP.

The inverse of :mod:`sigdiag.carrier.net`, for tests and the traffic simulator.  Every checksum is
correct (IPv4 header, UDP, TCP, SCTP CRC32c), so tshark decodes the packets without complaint.  Layouts
are in :mod:`sigdiag.carrier.net`.  Each function returns ``bytes``; compose them inside out::

    chunks = [data_chunk(m3ua_bytes, tsn=1, stream=1, ppid=3)]
    packet = sctp_packet("10.0.0.1", "10.0.0.2", 2905, 2905, chunks)   # IPv4 (or IPv6 by address)
    frame = encapsulate(1, packet, vlans=[100])                         # Ethernet + 802.1Q

Addresses are strings (``"10.0.0.1"``, ``"2001:db8::1"``); their packed forms are cached.

For volume (simulators), :class:`SctpFlow`, :class:`UdpFlow` and :class:`TcpFlow` prebuild the link and
IP headers of one direction of a flow and fill in only lengths, identification and checksums per packet
(several hundred thousand frames per second, CRC32c included)::

    flow = SctpFlow("10.0.0.1", "10.0.0.2", 2905, 2905, linktype=276, vtag=7)
    frame = flow.frame([data_chunk(m3ua_bytes, tsn=1, stream=1)])

The SCTP CRC32c uses the ``crc32c`` C extension when it is installed and a pure-Python table
implementation otherwise (correct, about ten times slower).
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable, Sequence

__all__ = [
    "ACK",
    "FIN",
    "PSH",
    "RST",
    "SYN",
    "SctpFlow",
    "TcpFlow",
    "UdpFlow",
    "crc32c",
    "data_chunk",
    "data_chunks",
    "encapsulate",
    "ethernet",
    "idata_chunk",
    "inet_checksum",
    "ip_packet",
    "ipv4",
    "ipv4_fragments",
    "ipv6",
    "ipv6_fragments",
    "loopback",
    "sack_chunk",
    "sctp",
    "sctp_packet",
    "sll",
    "sll2",
    "tcp",
    "tcp_packet",
    "udp",
    "udp_packet",
]

FIN, SYN, RST, PSH, ACK = 1, 2, 4, 8, 16

DEFAULT_SRC_MAC = bytes.fromhex("020000000001")
DEFAULT_DST_MAC = bytes.fromhex("020000000002")

# ----------------------------------------------------------------------------------------------
# checksums

_crc32c_c: Callable[[bytes, int], int] | None
try:  # C implementation when available (a dependency of the project); pure Python otherwise
    from crc32c import crc32c as _crc32c_c
except ImportError:  # pragma: no cover - depends on the environment
    _crc32c_c = None

_CRC_TABLES: tuple[list[int], list[int], list[int]] | None = None


def _crc_tables() -> tuple[list[int], list[int], list[int]]:
    global _CRC_TABLES
    if _CRC_TABLES is None:
        poly = 0x82F63B78
        t0 = []
        for i in range(256):
            c = i
            for _ in range(8):
                c = (c >> 1) ^ poly if c & 1 else c >> 1
            t0.append(c)
        t1 = [(v >> 8) ^ t0[v & 0xFF] for v in t0]
        t2 = [(v >> 8) ^ t0[v & 0xFF] for v in t1]
        t3 = [(v >> 8) ^ t0[v & 0xFF] for v in t2]
        # Two 16-bit tables: one 32-bit word per step (slicing-by-4 with pairs of octets merged).
        lo = [t3[i & 0xFF] ^ t2[i >> 8] for i in range(65536)]
        hi = [t1[i & 0xFF] ^ t0[i >> 8] for i in range(65536)]
        _CRC_TABLES = (t0, lo, hi)
    return _CRC_TABLES


def _crc32c_py(data: bytes, value: int = 0) -> int:
    t0, lo, hi = _crc_tables()
    crc = value ^ 0xFFFFFFFF
    words = len(data) >> 2
    for w in struct.unpack_from(f"<{words}I", data):
        crc ^= w
        crc = lo[crc & 0xFFFF] ^ hi[crc >> 16]
    for b in data[words << 2 :]:
        crc = t0[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def crc32c(data: bytes, value: int = 0) -> int:
    """CRC-32C (Castagnoli) of ``data``, as SCTP uses it (RFC 9260 appendix B); ``value`` continues
    a previous result (``crc32c(b, crc32c(a)) == crc32c(a + b)``)."""
    if _crc32c_c is not None:
        return int(_crc32c_c(data, value))
    return _crc32c_py(data, value)


def inet_checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071): ones' complement of the ones' complement sum of 16-bit words."""
    if len(data) & 1:
        data += b"\0"
    # 2**16 == 1 (mod 0xffff), so the number's remainder is the end-around-carry sum of its words.
    value = int.from_bytes(data, "big")
    total = value % 0xFFFF
    if total == 0 and value:
        total = 0xFFFF
    return 0xFFFF - total


# ----------------------------------------------------------------------------------------------
# addresses

_PACKED: dict[str, bytes] = {}


def _pack_addr(addr: str) -> bytes:
    packed = _PACKED.get(addr)
    if packed is None:
        family = socket.AF_INET6 if ":" in addr else socket.AF_INET
        packed = socket.inet_pton(family, addr)
        if len(_PACKED) < 65536:
            _PACKED[addr] = packed
    return packed


def _mac(mac: bytes | str) -> bytes:
    if isinstance(mac, str):
        return bytes.fromhex(mac.replace(":", "").replace("-", ""))
    return mac


# ----------------------------------------------------------------------------------------------
# link layers

_ETH = struct.Struct("!6s6sH").pack
_VLAN = struct.Struct("!HH").pack


def ethernet(
    payload: bytes,
    ethertype: int = 0x0800,
    *,
    src: bytes | str = DEFAULT_SRC_MAC,
    dst: bytes | str = DEFAULT_DST_MAC,
    vlans: Sequence[int | tuple[int, int]] = (),
) -> bytes:
    """Ethernet II frame; ``vlans`` outermost first, each a VLAN id (802.1Q, TPID 8100) or
    ``(tpid, vid)`` (e.g. ``(0x88a8, 10)`` for a QinQ service tag)."""
    tags = b""
    if vlans:
        tpids = []
        vids = []
        for v in vlans:
            if isinstance(v, tuple):
                tpids.append(v[0])
                vids.append(v[1])
            else:
                tpids.append(0x8100)
                vids.append(v)
        # Each TPID sits where the EtherType would be; each tag ends with the next EtherType.
        nexts = [*tpids[1:], ethertype]
        tags = b"".join(_VLAN(vid & 0x0FFF, nxt) for vid, nxt in zip(vids, nexts, strict=True))
        first = tpids[0]
    else:
        first = ethertype
    return _ETH(_mac(dst), _mac(src), first) + tags + payload


def sll(
    payload: bytes,
    protocol: int = 0x0800,
    *,
    pkttype: int = 0,
    hatype: int = 1,
    addr: bytes | str = DEFAULT_SRC_MAC,
) -> bytes:
    """Linux cooked capture v1 (link type 113) header + payload."""
    a = _mac(addr)
    return struct.pack("!HHH8sH", pkttype, hatype, len(a), a, protocol) + payload


def sll2(
    payload: bytes,
    protocol: int = 0x0800,
    *,
    ifindex: int = 1,
    hatype: int = 1,
    pkttype: int = 0,
    addr: bytes | str = DEFAULT_SRC_MAC,
) -> bytes:
    """Linux cooked capture v2 (link type 276) header + payload."""
    a = _mac(addr)
    return struct.pack("!HHIHBB8s", protocol, 0, ifindex, hatype, pkttype, len(a), a) + payload


def loopback(payload: bytes, family: int = 2, *, big_endian: bool = False) -> bytes:
    """BSD null/loopback header (link type 0: host byte order; 108: network byte order)."""
    return family.to_bytes(4, "big" if big_endian else "little") + payload


def encapsulate(linktype: int, packet: bytes, *, vlans: Sequence[int | tuple[int, int]] = ()) -> bytes:
    """Wrap an IP packet in the link-layer header of ``linktype`` (1, 113, 276, 0, 108, 101, 12, 228,
    229).  IPv4 or IPv6 is taken from the packet's version nibble."""
    v6 = bool(packet) and packet[0] >> 4 == 6
    ethertype = 0x86DD if v6 else 0x0800
    if linktype == 1:
        return ethernet(packet, ethertype, vlans=vlans)
    if linktype == 113:
        return sll(packet, ethertype)
    if linktype == 276:
        return sll2(packet, ethertype)
    if linktype == 0:
        return loopback(packet, 30 if v6 else 2)
    if linktype == 108:
        return loopback(packet, 24 if v6 else 2, big_endian=True)
    if linktype in (101, 12, 14, 228, 229):
        return packet
    raise ValueError(f"no IP encapsulation for link type {linktype}")


# ----------------------------------------------------------------------------------------------
# IP

_IP4_HDR = struct.Struct("!BBHHHBBH4s4s")


def ipv4(
    payload: bytes,
    src: str,
    dst: str,
    proto: int,
    *,
    ident: int = 0,
    ttl: int = 64,
    tos: int = 0,
    options: bytes = b"",
    df: bool = False,
    frag_offset: int = 0,
    more_fragments: bool = False,
) -> bytes:
    """IPv4 header (with ``options`` padded to 4 octets, header checksum filled in) + payload.
    ``frag_offset`` is in octets (a multiple of 8)."""
    if options:
        options += b"\0" * (-len(options) & 3)
    ihl = 5 + (len(options) >> 2)
    ff = (0x4000 if df else 0) | (0x2000 if more_fragments else 0) | (frag_offset >> 3)
    hdr = (
        _IP4_HDR.pack(
            0x40 | ihl,
            tos,
            (ihl << 2) + len(payload),
            ident & 0xFFFF,
            ff,
            ttl,
            proto,
            0,
            _pack_addr(src),
            _pack_addr(dst),
        )
        + options
    )
    csum = inet_checksum(hdr)
    return hdr[:10] + csum.to_bytes(2, "big") + hdr[12:] + payload


def _split(payload: bytes, count: int | None, size: int | None) -> list[tuple[int, bytes]]:
    """(offset, piece) pairs; every piece but the last a multiple of 8 octets."""
    if size is None:
        n = max(1, count or 2)
        size = -(-len(payload) // n)
    size = max(8, (size + 7) & ~7)
    return [(i, payload[i : i + size]) for i in range(0, max(len(payload), 1), size)]


def ipv4_fragments(
    payload: bytes,
    src: str,
    dst: str,
    proto: int,
    *,
    ident: int,
    count: int | None = 2,
    size: int | None = None,
    ttl: int = 64,
    options: bytes = b"",
) -> list[bytes]:
    """``payload`` (a transport header and its data) split into IPv4 fragments of ``size`` octets (or
    into ``count`` fragments), in order.  Shuffle the list to test out-of-order reassembly."""
    pieces = _split(payload, count, size)
    last = len(pieces) - 1
    return [
        ipv4(
            piece,
            src,
            dst,
            proto,
            ident=ident,
            ttl=ttl,
            options=options,
            frag_offset=off,
            more_fragments=i < last,
        )
        for i, (off, piece) in enumerate(pieces)
    ]


_IP6_HDR = struct.Struct("!IHBB16s16s")


def _ext_headers(extensions: Sequence[tuple[int, bytes]], final: int) -> tuple[int, bytes]:
    """Chain ``(type, body)`` extension headers; return (first next-header value, octets).

    ``body`` is what follows the next-header and length octets; it is padded (PadN / zeros) so that the
    header is a multiple of 8 octets (4 for AH, type 51)."""
    out = b""
    if not extensions:
        return final, out
    types = [t for t, _ in extensions]
    nexts = [*types[1:], final]
    for (t, body), nxt in zip(extensions, nexts, strict=True):
        if t == 51:
            body += b"\0" * (-(len(body) + 2) & 3)
            out += bytes([nxt, ((len(body) + 2) >> 2) - 2]) + body
            continue
        pad = -(len(body) + 2) & 7
        if t in (0, 60) and pad:
            body += b"\0" * pad if pad == 1 else bytes([1, pad - 2]) + b"\0" * (pad - 2)
        else:
            body += b"\0" * pad
        out += bytes([nxt, ((len(body) + 2) >> 3) - 1]) + body
    return types[0], out


def ipv6(
    payload: bytes,
    src: str,
    dst: str,
    next_header: int,
    *,
    hop_limit: int = 64,
    extensions: Sequence[tuple[int, bytes]] = (),
    flow: int = 0,
) -> bytes:
    """IPv6 header + extension headers (``(type, body)``: 0 hop-by-hop, 43 routing, 60 destination
    options, 51 AH, 44 fragment) + payload (of protocol ``next_header``)."""
    nh, ext = _ext_headers(extensions, next_header)
    return (
        _IP6_HDR.pack(
            0x60000000 | (flow & 0xFFFFF),
            len(ext) + len(payload),
            nh,
            hop_limit,
            _pack_addr(src),
            _pack_addr(dst),
        )
        + ext
        + payload
    )


def ipv6_fragments(
    payload: bytes,
    src: str,
    dst: str,
    next_header: int,
    *,
    ident: int,
    count: int | None = 2,
    size: int | None = None,
    hop_limit: int = 64,
    extensions: Sequence[tuple[int, bytes]] = (),
) -> list[bytes]:
    """``payload`` split into IPv6 fragments; ``extensions`` (the unfragmentable part, e.g. hop-by-hop
    or routing) precede the fragment header in each fragment."""
    pieces = _split(payload, count, size)
    last = len(pieces) - 1
    out = []
    for i, (off, piece) in enumerate(pieces):
        frag = struct.pack("!HI", off | (1 if i < last else 0), ident & 0xFFFFFFFF)
        out.append(
            ipv6(piece, src, dst, next_header, hop_limit=hop_limit, extensions=[*extensions, (44, frag)])
        )
    return out


def ip_packet(payload: bytes, src: str, dst: str, proto: int, *, ident: int = 0, ttl: int = 64) -> bytes:
    """IPv4 or IPv6 (chosen by the address form) around ``payload``."""
    if ":" in src:
        return ipv6(payload, src, dst, proto, hop_limit=ttl)
    return ipv4(payload, src, dst, proto, ident=ident, ttl=ttl)


def _pseudo(src: str, dst: str, proto: int, length: int) -> bytes:
    s = _pack_addr(src)
    d = _pack_addr(dst)
    if len(s) == 4:
        return s + d + struct.pack("!BBH", 0, proto, length)
    return s + d + struct.pack("!IxxxB", length, proto)


# ----------------------------------------------------------------------------------------------
# SCTP

_SCTP_HDR = struct.Struct("!HHI").pack
_DATA_HDR = struct.Struct("!BBHIHHI").pack
_IDATA_HDR = struct.Struct("!BBHIHHII").pack


def data_chunk(
    data: bytes,
    tsn: int,
    *,
    stream: int = 0,
    ssn: int = 0,
    ppid: int = 3,
    begin: bool = True,
    end: bool = True,
    unordered: bool = False,
) -> bytes:
    """One DATA chunk (type 0), padded to 4 octets."""
    flags = (4 if unordered else 0) | (2 if begin else 0) | (1 if end else 0)
    length = 16 + len(data)
    return (
        _DATA_HDR(0, flags, length, tsn & 0xFFFFFFFF, stream, ssn & 0xFFFF, ppid)
        + data
        + b"\0" * (-length & 3)
    )


def data_chunks(
    data: bytes,
    tsn: int,
    *,
    parts: int | None = None,
    max_size: int | None = None,
    stream: int = 0,
    ssn: int = 0,
    ppid: int = 3,
    unordered: bool = False,
    same_tsn: bool = False,
) -> list[bytes]:
    """One user message as DATA chunks with B/E flags: ``parts`` pieces or pieces of at most ``max_size``
    octets, with consecutive TSNs from ``tsn`` (all equal to ``tsn`` when ``same_tsn``)."""
    if max_size is None:
        max_size = -(-len(data) // max(1, parts or 1)) or 1
    pieces = [data[i : i + max_size] for i in range(0, len(data), max_size)] or [b""]
    last = len(pieces) - 1
    return [
        data_chunk(
            p,
            tsn if same_tsn else tsn + i,
            stream=stream,
            ssn=ssn,
            ppid=ppid,
            begin=i == 0,
            end=i == last,
            unordered=unordered,
        )
        for i, p in enumerate(pieces)
    ]


def idata_chunk(
    data: bytes,
    tsn: int,
    *,
    stream: int = 0,
    mid: int = 0,
    ppid: int = 3,
    fsn: int = 0,
    begin: bool = True,
    end: bool = True,
    unordered: bool = False,
) -> bytes:
    """One I-DATA chunk (type 64, RFC 8260); the PPID field holds ``ppid`` when ``begin``, else ``fsn``."""
    flags = (4 if unordered else 0) | (2 if begin else 0) | (1 if end else 0)
    length = 20 + len(data)
    return (
        _IDATA_HDR(64, flags, length, tsn & 0xFFFFFFFF, stream, 0, mid, ppid if begin else fsn)
        + data
        + b"\0" * (-length & 3)
    )


def sack_chunk(cum_tsn: int, a_rwnd: int = 65536) -> bytes:
    """A SACK chunk (type 3) without gap reports (a non-DATA chunk to bundle in tests)."""
    return struct.pack("!BBHIIHH", 3, 0, 16, cum_tsn & 0xFFFFFFFF, a_rwnd, 0, 0)


def sctp(sport: int, dport: int, chunks: Sequence[bytes], *, vtag: int = 0, checksum: bool = True) -> bytes:
    """SCTP common header + ``chunks`` (already padded), with the CRC32c filled in (stored
    little-endian as RFC 9260 appendix B prescribes).  ``checksum=False`` leaves it 0, as captures taken
    on hosts with checksum offload show."""
    body = b"".join(chunks)
    head = _SCTP_HDR(sport, dport, vtag)
    if not checksum:
        return head + b"\0\0\0\0" + body
    crc = crc32c(head + b"\0\0\0\0" + body)
    return head + crc.to_bytes(4, "little") + body


def sctp_packet(
    src: str,
    dst: str,
    sport: int,
    dport: int,
    chunks: Sequence[bytes],
    *,
    vtag: int = 0,
    ident: int = 0,
    checksum: bool = True,
) -> bytes:
    """An IP packet (IPv4 or IPv6 by the address form) carrying one SCTP packet."""
    return ip_packet(sctp(sport, dport, chunks, vtag=vtag, checksum=checksum), src, dst, 132, ident=ident)


# ----------------------------------------------------------------------------------------------
# UDP and TCP

_UDP_HDR = struct.Struct("!HHHH").pack
_TCP_HDR = struct.Struct("!HHIIBBHHH").pack


def udp(payload: bytes, sport: int, dport: int, src: str, dst: str) -> bytes:
    """UDP header + payload, checksum over the IPv4/IPv6 pseudo-header (``src``/``dst``)."""
    length = 8 + len(payload)
    seg = _UDP_HDR(sport, dport, length, 0) + payload
    csum = inet_checksum(_pseudo(src, dst, 17, length) + seg) or 0xFFFF
    return seg[:6] + csum.to_bytes(2, "big") + seg[8:]


def tcp(
    payload: bytes,
    sport: int,
    dport: int,
    src: str,
    dst: str,
    *,
    seq: int,
    ack: int = 0,
    flags: int = ACK | PSH,
    window: int = 65535,
) -> bytes:
    """TCP header (20 octets, no options) + payload, checksum over the pseudo-header."""
    seg = _TCP_HDR(sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 5 << 4, flags, window, 0, 0) + payload
    csum = inet_checksum(_pseudo(src, dst, 6, len(seg)) + seg)
    return seg[:16] + csum.to_bytes(2, "big") + seg[18:]


def udp_packet(src: str, dst: str, sport: int, dport: int, payload: bytes, *, ident: int = 0) -> bytes:
    """An IP packet carrying one UDP datagram."""
    return ip_packet(udp(payload, sport, dport, src, dst), src, dst, 17, ident=ident)


def tcp_packet(
    src: str,
    dst: str,
    sport: int,
    dport: int,
    payload: bytes,
    *,
    seq: int,
    ack: int = 0,
    flags: int = ACK | PSH,
    ident: int = 0,
) -> bytes:
    """An IP packet carrying one TCP segment."""
    return ip_packet(
        tcp(payload, sport, dport, src, dst, seq=seq, ack=ack, flags=flags), src, dst, 6, ident=ident
    )


# ----------------------------------------------------------------------------------------------
# prebuilt flows: the fast path for simulators


def _fold(total: int) -> int:
    total = (total & 0xFFFF) + (total >> 16)
    total = (total & 0xFFFF) + (total >> 16)
    return total


def _words_sum(data: bytes) -> int:
    """Sum of the big-endian 16-bit words of ``data`` (zero-padded), modulo 0xffff (0 kept as 0)."""
    if len(data) & 1:
        data += b"\0"
    return int.from_bytes(data, "big") % 0xFFFF


_IP4_FAST = struct.Struct("!HHHHBBH8s").pack  # ver/ihl/tos, total, id, flags, ttl, proto, csum, addrs
_IP6_FAST = struct.Struct("!IHBB32s").pack


class _IpFlow:
    """Link-layer and IP headers of one direction of a flow, prebuilt; per packet only the lengths, the
    IPv4 identification (incremented per packet) and the checksums are filled in."""

    def __init__(
        self, src: str, dst: str, proto: int, linktype: int, vlans: Sequence[int | tuple[int, int]], ttl: int
    ) -> None:
        self.src = src
        self.dst = dst
        self.proto = proto
        self.linktype = linktype
        self.vlans = tuple(vlans)
        self.v6 = ":" in src
        self.ttl = ttl
        self.ident = 0
        self._addrs = _pack_addr(src) + _pack_addr(dst)
        probe = b"\x60" if self.v6 else b"\x45"
        self._link = encapsulate(linktype, probe, vlans=vlans)[:-1]
        # IPv4 header words that do not change: 0x4500, flags 0, ttl/proto, addresses.
        self._ip_sum = 0x4500 + ((ttl & 0xFF) << 8 | proto) + _words_sum(self._addrs)
        # Pseudo-header words that do not change (the length is added per packet).
        self._pseudo_sum = proto + _words_sum(self._addrs)

    def _frame(self, transport: bytes) -> bytes:
        """Link header + IP header + ``transport`` (checksums of the transport already filled in)."""
        if self.v6:
            return b"".join(
                (
                    self._link,
                    _IP6_FAST(0x60000000, len(transport), self.proto, self.ttl, self._addrs),
                    transport,
                )
            )
        total = 20 + len(transport)
        ident = self.ident
        self.ident = (ident + 1) & 0xFFFF
        csum = 0xFFFF - _fold(self._ip_sum + total + ident)
        return b"".join(
            (
                self._link,
                _IP4_FAST(0x4500, total, ident, 0, self.ttl, self.proto, csum, self._addrs),
                transport,
            )
        )

    def _fragments(self, transport: bytes, mtu: int) -> list[bytes]:
        if self.v6:
            pieces = ipv6_fragments(
                transport,
                self.src,
                self.dst,
                self.proto,
                ident=self.ident,
                size=(mtu - 48) & ~7,
                hop_limit=self.ttl,
            )
        else:
            pieces = ipv4_fragments(
                transport,
                self.src,
                self.dst,
                self.proto,
                ident=self.ident,
                size=(mtu - 20) & ~7,
                ttl=self.ttl,
            )
        self.ident = (self.ident + 1) & 0xFFFF
        return [encapsulate(self.linktype, p, vlans=self.vlans) for p in pieces]


class SctpFlow(_IpFlow):
    """One direction of an SCTP association with prebuilt headers.

    ``frame(chunks)`` returns a complete link-layer frame (link type ``linktype``) carrying one SCTP
    packet with the given chunks (from :func:`data_chunk`...), CRC32c included unless ``checksum`` is
    false.  About five times faster than composing the functions above.
    """

    def __init__(
        self,
        src: str,
        dst: str,
        sport: int,
        dport: int,
        *,
        linktype: int = 1,
        vlans: Sequence[int | tuple[int, int]] = (),
        vtag: int = 0,
        checksum: bool = True,
        ttl: int = 64,
    ) -> None:
        super().__init__(src, dst, 132, linktype, vlans, ttl)
        self.sport = sport
        self.dport = dport
        self.checksum = checksum
        self._head = _SCTP_HDR(sport, dport, vtag)
        self._crc_head = crc32c(self._head + b"\0\0\0\0")

    def frame(self, chunks: Sequence[bytes]) -> bytes:
        body = b"".join(chunks)
        if self.checksum:
            crc = crc32c(body, self._crc_head).to_bytes(4, "little")
        else:
            crc = b"\0\0\0\0"
        return self._frame(b"".join((self._head, crc, body)))


class UdpFlow(_IpFlow):
    """One direction of a UDP flow with prebuilt headers: ``frames(payload)`` returns the link-layer
    frame(s) of one datagram, IP-fragmented when the IP packet would exceed ``mtu`` (0: never)."""

    def __init__(
        self,
        src: str,
        dst: str,
        sport: int,
        dport: int,
        *,
        linktype: int = 1,
        vlans: Sequence[int | tuple[int, int]] = (),
        mtu: int = 0,
        ttl: int = 64,
    ) -> None:
        super().__init__(src, dst, 17, linktype, vlans, ttl)
        self.sport = sport
        self.dport = dport
        self.mtu = mtu
        self._port_sum = sport + dport

    def datagram(self, payload: bytes) -> bytes:
        """The UDP header (checksum filled in) + payload."""
        length = 8 + len(payload)
        total = self._pseudo_sum + 2 * length + self._port_sum + _words_sum(payload)
        csum = (0xFFFF - _fold(total)) or 0xFFFF
        return _UDP_HDR(self.sport, self.dport, length, csum) + payload

    def frames(self, payload: bytes) -> list[bytes]:
        datagram = self.datagram(payload)
        header = 40 if self.v6 else 20
        if self.mtu and len(datagram) + header > self.mtu:
            return self._fragments(datagram, self.mtu)
        return [self._frame(datagram)]


class TcpFlow(_IpFlow):
    """One direction of a TCP connection with prebuilt headers.  ``seq`` advances with each payload;
    ``ack`` is sent as set.  ``frame(payload, flags)`` returns one link-layer frame; :meth:`handshake`
    the SYN of this direction (consuming one sequence number)."""

    def __init__(
        self,
        src: str,
        dst: str,
        sport: int,
        dport: int,
        *,
        seq: int = 1,
        ack: int = 0,
        linktype: int = 1,
        vlans: Sequence[int | tuple[int, int]] = (),
        ttl: int = 64,
    ) -> None:
        super().__init__(src, dst, 6, linktype, vlans, ttl)
        self.sport = sport
        self.dport = dport
        self.seq = seq & 0xFFFFFFFF
        self.ack = ack & 0xFFFFFFFF

    def segment(self, payload: bytes, flags: int = ACK | PSH) -> bytes:
        """The TCP header (checksum filled in) + payload; advances :attr:`seq`."""
        seg = _TCP_HDR(self.sport, self.dport, self.seq, self.ack, 5 << 4, flags, 65535, 0, 0) + payload
        total = self._pseudo_sum + len(seg) + _words_sum(seg)
        csum = 0xFFFF - _fold(total)
        self.seq = (self.seq + len(payload) + (1 if flags & (SYN | FIN) else 0)) & 0xFFFFFFFF
        return seg[:16] + csum.to_bytes(2, "big") + seg[18:]

    def frame(self, payload: bytes, flags: int = ACK | PSH) -> bytes:
        return self._frame(self.segment(payload, flags))

    def handshake(self) -> bytes:
        return self.frame(b"", SYN | (ACK if self.ack else 0))
