"""IPv4 and IPv6: header layouts, protocol numbers, fragment reassembly, and the builders.

The parse side is used by :class:`sigdiag.carrier.net.NetDecoder` (the structs below and
:class:`IpReassembler`); the build side by tests and the traffic simulator (:func:`ipv4_header`,
:func:`ipv4`, :func:`ipv6`, :func:`ipv4_fragments`, :func:`ipv6_fragments`, :func:`ip_packet`).  Addresses
are printable strings (``"10.0.0.1"``, ``"2001:db8::1"``); their packed forms are cached.

IPv4 (RFC 791)::

    | off | size | field                                                     |
    |   0 |    1 | version (4) << 4 | IHL (header length in 32-bit words, >= 5) |
    |   1 |    1 | type of service                                           |
    |   2 |    2 | total length (0 = TCP segmentation offload: use the frame)  |
    |   4 |    2 | identification                                            |
    |   6 |    2 | flags (bit 14 DF, bit 13 MF) | fragment offset (13 bits, 8-octet units) |
    |   8 |    1 | time to live                                              |
    |   9 |    1 | protocol: 132 SCTP, 17 UDP, 6 TCP, 4 IPv4, 41 IPv6        |
    |  10 |    2 | header checksum                                           |
    |  12 |    4 | source address                                            |
    |  16 |    4 | destination address                                       |
    |  20 |  ... | options up to IHL * 4, then payload up to total length    |

    Fragments are reassembled per (source, destination, protocol, identification), in any order; a
    datagram completes when the fragment without MF has arrived and the data from 0 to its end is
    covered.  Overlaps with different contents add ``ip.fragment_overlap`` (the first copy wins).
    Pending datagrams are bounded (:data:`MAX_PENDING_DATAGRAMS`, :data:`MAX_PENDING_FRAGMENT_BYTES`,
    :data:`FRAGMENT_TIMEOUT` seconds of capture time); the oldest are dropped with
    ``ip.fragment_incomplete``.  The reassembled datagram belongs to the frame that completed it.

IPv6 (RFC 8200)::

    | off | size | field                                           |
    |   0 |    4 | version (6) << 28 | traffic class | flow label   |
    |   4 |    2 | payload length (0 = jumbogram: use the frame)   |
    |   6 |    1 | next header                                     |
    |   7 |    1 | hop limit                                       |
    |   8 |   16 | source address                                  |
    |  24 |   16 | destination address                             |

    Extension headers: hop-by-hop 0, routing 43, destination options 60 (next header 1, length 1 in
    8-octet units not counting the first 8), authentication 51 (length in 4-octet units + 2), and
    fragment 44 (next header 1, reserved 1, offset << 3 | M 2, identification 4): fragments are
    reassembled like IPv4 ones, keyed by (source, destination, identification).  59 = no next header.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Sequence
from typing import Any

from sigdiag.anomalies import Anomaly
from sigdiag.capture.frame import Frame

__all__ = [
    "EXT_AH",
    "EXT_DSTOPTS",
    "EXT_FRAGMENT",
    "EXT_HOPOPTS",
    "EXT_NONE",
    "EXT_ROUTING",
    "FRAGMENT_TIMEOUT",
    "IPV4_HEADER_LEN",
    "IPV6_HEADER_LEN",
    "MAX_PENDING_DATAGRAMS",
    "MAX_PENDING_FRAGMENT_BYTES",
    "PROTO_IPIP",
    "PROTO_IPV6",
    "PROTO_SCTP",
    "PROTO_TCP",
    "PROTO_UDP",
    "IpReassembler",
    "inet_checksum",
    "ip_packet",
    "ipv4",
    "ipv4_fragments",
    "ipv4_header",
    "ipv6",
    "ipv6_fragments",
    "ipv6_header",
    "ntop",
    "pack_addr",
    "pseudo_header",
]

PROTO_IPIP = 4
PROTO_TCP = 6
PROTO_UDP = 17
PROTO_IPV6 = 41
PROTO_SCTP = 132

EXT_HOPOPTS = 0
EXT_ROUTING = 43
EXT_FRAGMENT = 44
EXT_AH = 51
EXT_NONE = 59
EXT_DSTOPTS = 60

IPV4_HEADER_LEN = 20
IPV6_HEADER_LEN = 40
#: First octet of an IPv4 header without options (version 4, IHL 5).
IPV4_VIHL = 0x45
#: flags/fragment-offset bits: DF, MF, the offset (8-octet units).
IP4_DF = 0x4000
IP4_MF = 0x2000
IP4_OFFSET = 0x1FFF

#: Most IP datagrams waiting for fragments at once.
MAX_PENDING_DATAGRAMS = 4096
#: Most octets held in incomplete IP datagrams at once.
MAX_PENDING_FRAGMENT_BYTES = 16 << 20
#: Capture-time seconds after which an incomplete IP datagram is dropped (Linux ipfrag_time).
FRAGMENT_TIMEOUT = 30.0

#: Parse: version/IHL, total length, identification, flags/fragment, protocol, source, destination.
IP4_PARSE = struct.Struct("!BxHHHxBxx4s4s")
#: Parse: version/class/flow, payload length, next header, source, destination.
IP6_PARSE = struct.Struct("!IHBx16s16s")
#: Parse: the IPv6 fragment header (next header, offset | M, identification).
FRAG6_PARSE = struct.Struct("!BxHI")

_IP4_HDR = struct.Struct("!BBHHHBBH4s4s")
_IP6_HDR = struct.Struct("!IHBB16s16s")
_FRAG6 = struct.Struct("!HI")


# ----------------------------------------------------------------------------------------------
# addresses and checksums

_PACKED: dict[str, bytes] = {}


def pack_addr(addr: str) -> bytes:
    """The packed form of an IPv4 or IPv6 address string (cached)."""
    packed = _PACKED.get(addr)
    if packed is None:
        family = socket.AF_INET6 if ":" in addr else socket.AF_INET
        packed = socket.inet_pton(family, addr)
        if len(_PACKED) < 65536:
            _PACKED[addr] = packed
    return packed


def ntop(addr: bytes) -> str:
    """A packed IPv4 (4 octets) or IPv6 address as text (hex for any other length)."""
    try:
        return socket.inet_ntop(socket.AF_INET if len(addr) == 4 else socket.AF_INET6, addr)
    except (ValueError, OSError):
        return addr.hex()


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


def pseudo_header(src: str, dst: str, proto: int, length: int) -> bytes:
    """The IPv4 or IPv6 pseudo-header of the UDP and TCP checksums."""
    s = pack_addr(src)
    d = pack_addr(dst)
    if len(s) == 4:
        return s + d + struct.pack("!BBH", 0, proto, length)
    return s + d + struct.pack("!IxxxB", length, proto)


# ----------------------------------------------------------------------------------------------
# build


def ipv4_header(
    src: str,
    dst: str,
    proto: int,
    payload_len: int,
    *,
    ident: int = 0,
    ttl: int = 64,
    tos: int = 0,
    options: bytes = b"",
    df: bool = False,
    frag_offset: int = 0,
    more_fragments: bool = False,
) -> bytes:
    """An IPv4 header (``options`` padded to 4 octets, header checksum filled in) for ``payload_len``
    octets of payload.  ``frag_offset`` is in octets (a multiple of 8)."""
    if options:
        options += b"\0" * (-len(options) & 3)
    ihl = 5 + (len(options) >> 2)
    ff = (IP4_DF if df else 0) | (IP4_MF if more_fragments else 0) | (frag_offset >> 3)
    hdr = (
        _IP4_HDR.pack(
            0x40 | ihl,
            tos,
            (ihl << 2) + payload_len,
            ident & 0xFFFF,
            ff,
            ttl,
            proto,
            0,
            pack_addr(src),
            pack_addr(dst),
        )
        + options
    )
    csum = inet_checksum(hdr)
    return hdr[:10] + csum.to_bytes(2, "big") + hdr[12:]


def ipv4(payload: bytes, src: str, dst: str, proto: int, **header: Any) -> bytes:
    """IPv4 header + payload; ``header`` holds :func:`ipv4_header`'s keyword options (``ident``, ``ttl``,
    ``tos``, ``options``, ``df``, ``frag_offset``, ``more_fragments``)."""
    return ipv4_header(src, dst, proto, len(payload), **header) + payload


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
        if t == EXT_AH:
            body += b"\0" * (-(len(body) + 2) & 3)
            out += bytes([nxt, ((len(body) + 2) >> 2) - 2]) + body
            continue
        pad = -(len(body) + 2) & 7
        if t in (EXT_HOPOPTS, EXT_DSTOPTS) and pad:
            body += b"\0" * pad if pad == 1 else bytes([1, pad - 2]) + b"\0" * (pad - 2)
        else:
            body += b"\0" * pad
        out += bytes([nxt, ((len(body) + 2) >> 3) - 1]) + body
    return types[0], out


def ipv6_header(
    src: str, dst: str, next_header: int, payload_len: int, *, hop_limit: int = 64, flow: int = 0
) -> bytes:
    """An IPv6 header (40 octets, no extension headers) for ``payload_len`` octets of payload."""
    return _IP6_HDR.pack(
        0x60000000 | (flow & 0xFFFFF), payload_len, next_header, hop_limit, pack_addr(src), pack_addr(dst)
    )


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
    return ipv6_header(src, dst, nh, len(ext) + len(payload), hop_limit=hop_limit, flow=flow) + ext + payload


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
        frag = _FRAG6.pack(off | (1 if i < last else 0), ident & 0xFFFFFFFF)
        out.append(
            ipv6(
                piece,
                src,
                dst,
                next_header,
                hop_limit=hop_limit,
                extensions=[*extensions, (EXT_FRAGMENT, frag)],
            )
        )
    return out


def ip_packet(payload: bytes, src: str, dst: str, proto: int, *, ident: int = 0, ttl: int = 64) -> bytes:
    """IPv4 or IPv6 (chosen by the address form) around ``payload``."""
    if ":" in src:
        return ipv6(payload, src, dst, proto, hop_limit=ttl)
    return ipv4(payload, src, dst, proto, ident=ident, ttl=ttl)


# ----------------------------------------------------------------------------------------------
# parse: fragment reassembly

FragmentKey = tuple[bytes, bytes, int, int]


class _Datagram:
    """An IP datagram being reassembled."""

    __slots__ = ("first_ts", "nh", "overlap", "parts", "size", "total")

    def __init__(self, ts: float) -> None:
        self.parts: list[tuple[int, int, bytes]] = []  # (start, end, data) in arrival order
        self.total: int | None = None  # payload length, known once the last fragment arrived
        self.size = 0
        self.first_ts = ts
        self.nh = -1  # protocol / next header (IPv6: from the fragment at offset 0)
        self.overlap = False

    def complete(self) -> bytes | None:
        """The payload once every octet up to the end is there, else None."""
        total = self.total
        if total is None or self.nh < 0:
            return None
        covered = 0
        for s, e, _b in sorted(self.parts):
            if s > covered:
                return None
            if e > covered:
                covered = e
            if covered >= total:
                break
        if covered < total:
            return None
        buf = bytearray(total)
        for s, e, b in reversed(self.parts):  # earlier arrivals written last: the first copy wins
            if s < total:
                buf[s : min(e, total)] = b[: total - s]
        return bytes(buf)


class IpReassembler:
    """IPv4/IPv6 fragment reassembly with bounded memory (see the module docstring)."""

    def __init__(self, anomalies: list[Anomaly]) -> None:
        self._anomalies = anomalies
        self._pending: dict[FragmentKey, _Datagram] = {}
        self._bytes = 0

    def _drop(self, key: FragmentKey, frame: int, why: str) -> None:
        dg = self._pending.pop(key)
        self._bytes -= dg.size
        if why:
            self._anomalies.append(
                Anomaly(
                    "ip.fragment_incomplete",
                    frame,
                    f"datagram id {key[3]:#x} from {ntop(key[0])} to {ntop(key[1])}: {why} "
                    f"({len(dg.parts)} fragment(s), {dg.size} octets)",
                )
            )

    def _make_room(self, frame: Frame, size: int) -> None:
        """Age out and bound the pending set (oldest first: dicts keep insertion order)."""
        pending = self._pending
        while pending:
            okey = next(iter(pending))
            if pending[okey].first_ts < frame.ts - FRAGMENT_TIMEOUT:
                self._drop(okey, frame.number, f"timed out after {FRAGMENT_TIMEOUT:g} s")
            elif len(pending) >= MAX_PENDING_DATAGRAMS or self._bytes + size > MAX_PENDING_FRAGMENT_BYTES:
                self._drop(okey, frame.number, "evicted: too many incomplete datagrams")
            else:
                break

    def _merge(self, key: FragmentKey, dg: _Datagram, start: int, data: bytes, number: int) -> None:
        """Add a fragment's octets to ``dg`` (nothing when an earlier fragment holds them all)."""
        end = start + len(data)
        contained = False
        for s, e, b in dg.parts:
            if start < e and s < end:
                lo = max(s, start)
                hi = min(e, end)
                if b[lo - s : hi - s] != data[lo - start : hi - start] and not dg.overlap:
                    dg.overlap = True
                    self._anomalies.append(
                        Anomaly(
                            "ip.fragment_overlap",
                            number,
                            f"datagram id {key[3]:#x}: octets {lo}-{hi} differ between fragments; first kept",
                        )
                    )
                if s <= start and end <= e:
                    contained = True  # nothing new: a duplicate, or inside an earlier fragment
        if not contained:
            dg.parts.append((start, end, data))
            dg.size += len(data)
            self._bytes += len(data)

    def add(
        self, key: FragmentKey, start: int, more: bool, data: bytes, nh: int, frame: Frame
    ) -> tuple[bytes, int] | None:
        """Add one fragment; return (payload, protocol) when it completes its datagram."""
        number = frame.number
        end = start + len(data)
        if end > 65535:
            if key in self._pending:
                self._drop(key, number, "")
            self._anomalies.append(
                Anomaly("ip.fragment_too_large", number, f"fragment ends at octet {end}, past 65535")
            )
            return None
        dg = self._pending.get(key)
        if dg is None:
            self._make_room(frame, len(data))
            dg = self._pending[key] = _Datagram(frame.ts)
        self._merge(key, dg, start, data, number)
        if start == 0:
            dg.nh = nh
        if not more and dg.total is None:
            dg.total = end
        payload = dg.complete()
        if payload is None:
            return None
        self._drop(key, number, "")
        return payload, dg.nh

    def finish(self, frame: int) -> None:
        for key in list(self._pending):
            self._drop(key, frame, "never completed (end of capture)")
