"""Prebuilt flows: link, IP and transport headers of one direction made once, per packet only the
lengths, the IPv4 identification and the checksums filled in (several hundred thousand frames per
second, CRC32c included), for simulators and benchmarks::

    flow = SctpFlow("10.0.0.1", "10.0.0.2", 2905, 2905, linktype=276, vtag=7)
    frame = flow.frame([data_chunk(m3ua_bytes, tsn=1, stream=1)])

The layouts are those of :mod:`sigdiag.carrier.link`, :mod:`sigdiag.carrier.ip`,
:mod:`sigdiag.carrier.sctp` and :mod:`sigdiag.carrier.transport`; the frames are the same octets as
composing those modules' builders gives.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import KW_ONLY, dataclass, field
from functools import partial

from sigdiag.carrier.ip import PROTO_SCTP, PROTO_TCP, PROTO_UDP, ipv4_fragments, ipv6_fragments, pack_addr
from sigdiag.carrier.link import Vlans, encapsulate, link_header
from sigdiag.carrier.sctp import CHECKSUM, common_header, crc32c, crc_after_header
from sigdiag.carrier.transport import ACK, FIN, PSH, SYN, TCP_HEADER, UDP_HEADER

__all__ = ["SctpFlow", "TcpFlow", "UdpFlow"]


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


@dataclass(eq=False)
class _IpFlow:
    """Link-layer and IP headers of one direction of a flow between two ports, prebuilt; per packet
    only the lengths, the IPv4 identification (incremented per packet) and the checksums are filled in.

    Every flow takes the addresses and ports, then, by keyword, the link type (default 1, Ethernet),
    VLAN tags (default none) and IP TTL / hop limit (default 64)."""

    proto: int = field(init=False)  # the IP protocol, set by each subclass's __post_init__

    src: str
    dst: str
    sport: int
    dport: int
    _: KW_ONLY
    linktype: int = 1
    vlans: Vlans = ()
    ttl: int = 64

    def __post_init__(self) -> None:
        proto = self.proto
        self.vlans = tuple(self.vlans)
        self.v6 = ":" in self.src
        self.ident = 0
        self._addrs = pack_addr(self.src) + pack_addr(self.dst)
        self._link = link_header(self.linktype, self.v6, self.vlans)
        # IPv4 header words that do not change: 0x4500, flags 0, ttl/proto, addresses.
        self._ip_sum = 0x4500 + ((self.ttl & 0xFF) << 8 | proto) + _words_sum(self._addrs)
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
        if self.v6:  # each fragment has an IPv6 header and a fragment header: 48 octets
            split = partial(ipv6_fragments, size=(mtu - 48) & ~7, hop_limit=self.ttl)
        else:
            split = partial(ipv4_fragments, size=(mtu - 20) & ~7, ttl=self.ttl)
        pieces = split(transport, self.src, self.dst, self.proto, ident=self.ident)
        self.ident = (self.ident + 1) & 0xFFFF
        return [encapsulate(self.linktype, p, vlans=self.vlans) for p in pieces]


@dataclass(eq=False, kw_only=True)
class SctpFlow(_IpFlow):
    """One direction of an SCTP association with prebuilt headers.

    ``frame(chunks)`` returns a complete link-layer frame (link type ``linktype``) carrying one SCTP
    packet with the given chunks (from :func:`data_chunk`...), CRC32c included unless ``checksum`` is
    false.  About five times faster than composing the functions above.
    """

    vtag: int = 0
    checksum: bool = True

    def __post_init__(self) -> None:
        self.proto = PROTO_SCTP
        super().__post_init__()
        self._head = common_header(self.sport, self.dport, self.vtag)
        self._crc_head = crc_after_header(self.sport, self.dport, self.vtag)

    def frame(self, chunks: Sequence[bytes]) -> bytes:
        body = b"".join(chunks)
        if self.checksum:
            crc = CHECKSUM.pack(crc32c(body, self._crc_head))
        else:
            crc = b"\0\0\0\0"
        return self._frame(b"".join((self._head, crc, body)))


@dataclass(eq=False, kw_only=True)
class UdpFlow(_IpFlow):
    """One direction of a UDP flow with prebuilt headers: ``frames(payload)`` returns the link-layer
    frame(s) of one datagram, IP-fragmented when the IP packet would exceed ``mtu`` (0: never)."""

    mtu: int = 0

    def __post_init__(self) -> None:
        self.proto = PROTO_UDP
        super().__post_init__()
        self._port_sum = self.sport + self.dport

    def datagram(self, payload: bytes) -> bytes:
        """The UDP header (checksum filled in) + payload."""
        length = 8 + len(payload)
        total = self._pseudo_sum + 2 * length + self._port_sum + _words_sum(payload)
        csum = (0xFFFF - _fold(total)) or 0xFFFF
        return UDP_HEADER.pack(self.sport, self.dport, length, csum) + payload

    def frames(self, payload: bytes) -> list[bytes]:
        datagram = self.datagram(payload)
        header = 40 if self.v6 else 20
        if self.mtu and len(datagram) + header > self.mtu:
            return self._fragments(datagram, self.mtu)
        return [self._frame(datagram)]


@dataclass(eq=False, kw_only=True)
class TcpFlow(_IpFlow):
    """One direction of a TCP connection with prebuilt headers.  ``seq`` advances with each payload;
    ``ack`` is sent as set.  ``frame(payload, flags)`` returns one link-layer frame; :meth:`handshake`
    the SYN of this direction (consuming one sequence number)."""

    seq: int = 1
    ack: int = 0

    def __post_init__(self) -> None:
        self.proto = PROTO_TCP
        super().__post_init__()
        self.seq &= 0xFFFFFFFF
        self.ack &= 0xFFFFFFFF

    def segment(self, payload: bytes, flags: int = ACK | PSH) -> bytes:
        """The TCP header (checksum filled in) + payload; advances :attr:`seq`."""
        seg = (
            TCP_HEADER.pack(self.sport, self.dport, self.seq, self.ack, 5 << 4, flags, 65535, 0, 0) + payload
        )
        total = self._pseudo_sum + len(seg) + _words_sum(seg)
        csum = 0xFFFF - _fold(total)
        self.seq = (self.seq + len(payload) + (1 if flags & (SYN | FIN) else 0)) & 0xFFFFFFFF
        return seg[:16] + csum.to_bytes(2, "big") + seg[18:]

    def frame(self, payload: bytes, flags: int = ACK | PSH) -> bytes:
        return self._frame(self.segment(payload, flags))

    def handshake(self) -> bytes:
        return self.frame(b"", SYN | (ACK if self.ack else 0))
