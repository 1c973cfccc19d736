"""Carrier framing for the simulator: Ethernet/VLAN, IPv4/IPv6, SCTP (with CRC32c), UDP, and the
signalling adaptation layers M3UA, M2PA, M2UA, BICC on SCTP, MTP2, SIP-I over UDP.

These builders are private to the simulator and built for speed: everything that does not change
from one message to the next (addresses, the IP header of a given length, the MTP3 routing label for
a given SLS) is computed once per link direction and cached.  Layouts follow the same RFCs as the
readers in :mod:`sigdiag.carrier` (RFC 4960 SCTP, RFC 4666 M3UA, RFC 4165 M2PA, RFC 3331 M2UA, Q.703
MTP2, Q.704 MTP3); the tests decode the output with those readers and with tshark.

Each *hop* (one capture point of one trunk: an SCTP association, a UDP flow or an MTP2 link) has a
``frame(direction, data, sls) -> bytes`` method; direction 0 is A -> B (the trunk's OPC towards its DPC)
and 1 is B -> A.  SCTP state (verification tags, TSN per direction, SSN per stream and direction) is per
association, shared by every trunk that uses the same addresses and ports.

:class:`CaptureEmitter` turns the simulator's time-ordered messages into capture records.  For M3UA
(the common carrier) everything in a record but the time stamp, TSN, SSN, checksum and data is cached
per direction, SLS and data length (:meth:`M3uaHop.form`), so a record costs two ``struct`` packs and
one CRC32c call; TSN and SSN counters are C-level iterators (:func:`_wrapping`).
"""

from __future__ import annotations

import ipaddress
import random
import struct
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import chain, repeat
from typing import Any

from crc32c import crc32c

from sigdiag.carrier.mtp import crc16_x25

__all__ = [
    "BiccSctpHop",
    "CaptureEmitter",
    "Hop",
    "IpPath",
    "M2paHop",
    "M2uaHop",
    "M3uaHop",
    "Mtp2Hop",
    "SctpAssociation",
    "UdpHop",
    "item_key",
    "mtp3_label",
]

_PAD = (b"", b"\0", b"\0\0", b"\0\0\0")  # indexed by the number of padding octets
_CHUNK = struct.Struct(">BBHIII")  # DATA chunk: type, flags, length, TSN, stream << 16 | SSN, PPID
_U16 = struct.Struct(">H")
_IP4_TAIL = struct.Struct(">HHHBBH")  # total length, id, flags/fragment, ttl, protocol, checksum
_M3UA_HEAD = struct.Struct(">4sI")
_TL = struct.Struct(">HH")
_M2PA = struct.Struct(">4sIIIB")  # header (version, spare, class, type), length, BSN, FSN, priority
_U16LE = struct.Struct("<H")
_REC = struct.Struct("<IIII").pack  # pcap record header: seconds, microseconds, captured and wire lengths
_EPB = struct.Struct("<IIIIIII").pack  # pcapng enhanced packet block header
_U32LE = struct.Struct("<I").pack


def _mac(ip: str) -> bytes:
    """A locally administered MAC address derived from an IP address."""
    packed = ipaddress.ip_address(ip).packed
    return b"\x02\x00" + packed[-4:]


class IpPath:
    """Link and network headers of one direction of an IP conversation (Ethernet, optional VLAN,
    IPv4 with DF and identification 0, or IPv6), cached per payload length."""

    __slots__ = ("_cache", "_dst", "_eth", "_proto", "_src", "_sum", "pseudo", "v6")

    def __init__(self, src: str, dst: str, proto: int, vlan: int | None) -> None:
        s = ipaddress.ip_address(src)
        d = ipaddress.ip_address(dst)
        self.v6 = s.version == 6
        self._src = s.packed
        self._dst = d.packed
        self._proto = proto
        ethertype = 0x86DD if self.v6 else 0x0800
        eth = _mac(dst) + _mac(src)
        if vlan is not None:
            eth += _U16.pack(0x8100) + _U16.pack(vlan & 0x0FFF)
        self._eth = eth + _U16.pack(ethertype)
        self._cache: dict[int, bytes] = {}
        # constant part of the IPv4 header checksum: version/IHL/TOS, flags (DF), TTL/protocol, addresses
        words = 0x4500 + 0x4000 + ((64 << 8) | proto)
        for a in (self._src, self._dst):
            if not self.v6:
                words += (a[0] << 8 | a[1]) + (a[2] << 8 | a[3])
        self._sum = words
        # pseudo-header sum for UDP checksums (without the length)
        ps = proto
        for a in (self._src, self._dst):
            for i in range(0, len(a), 2):
                ps += a[i] << 8 | a[i + 1]
        self.pseudo = ps

    def header(self, payload_len: int) -> bytes:
        """Ethernet (+VLAN) and IP headers for a payload of ``payload_len`` octets."""
        h = self._cache.get(payload_len)
        if h is None:
            if self.v6:
                h = (
                    self._eth
                    + struct.pack(">IHBB", 0x60000000, payload_len, self._proto, 64)
                    + self._src
                    + self._dst
                )
            else:
                total = 20 + payload_len
                s = self._sum + total
                s = (s & 0xFFFF) + (s >> 16)
                s = (s & 0xFFFF) + (s >> 16)
                h = (
                    self._eth
                    + b"\x45\x00"
                    + _IP4_TAIL.pack(total, 0, 0x4000, 64, self._proto, ~s & 0xFFFF)
                    + self._src
                    + self._dst
                )
            if len(self._cache) < 4096:
                self._cache[payload_len] = h
        return h


def _wrapping(start: int, modulus: int, high: int = 0) -> Callable[[], int]:
    """A counter ``high | n`` for n = start, start + 1, ... modulo ``modulus``, as a C-level callable
    (``__next__`` of an endless chain of ranges: no Python frame per call and no stored values)."""
    counter: Iterator[int] = chain(
        range(high + start, high + modulus), chain.from_iterable(repeat(range(high, high + modulus)))
    )
    return counter.__next__


class _SctpDir:
    """One direction of an SCTP association: addressing, verification tag, TSN and SSNs.

    ``next_tsn()`` gives the next TSN and ``next_ssn[stream]()`` the stream number and next SSN of a
    stream as one 32-bit value (``stream << 16 | SSN``, the layout of those two fields in a DATA chunk);
    both wrap as RFC 4960 says.
    """

    __slots__ = ("crc0", "head", "heads", "ip", "next_ssn", "next_tsn", "streams")

    def __init__(self, ip: IpPath, sport: int, dport: int, vtag: int, tsn: int, streams: int) -> None:
        self.ip = ip
        self.head = struct.pack(">HHI", sport, dport, vtag)
        self.crc0 = crc32c(self.head + b"\0\0\0\0")  # CRC state after the common header (checksum 0)
        self.streams = streams
        self.next_tsn = _wrapping(tsn, 1 << 32)
        self.next_ssn = [_wrapping(0, 1 << 16, s << 16) for s in range(streams)]
        self.heads: dict[int, bytes] = {}  # SCTP packet length -> link, IP and SCTP common headers

    def head_for(self, sctp_len: int) -> bytes:
        """Link + IP headers and the SCTP ports and tag (checksum excluded) for an SCTP packet size."""
        h = self.heads.get(sctp_len)
        if h is None:
            h = self.ip.header(sctp_len) + self.head
            if len(self.heads) < 4096:
                self.heads[sctp_len] = h
        return h

    def packet(self, ppid: int, stream: int, payload: bytes) -> bytes:
        """One SCTP packet with one DATA chunk (B and E set: an unfragmented user message)."""
        n = len(payload)
        chunk = (
            _CHUNK.pack(0, 3, 16 + n, self.next_tsn(), self.next_ssn[stream](), ppid) + payload + _PAD[-n & 3]
        )
        crc = crc32c(chunk, self.crc0)
        return self.head_for(12 + len(chunk)) + _U32LE(crc) + chunk


class SctpAssociation:
    """An SCTP association between A (``a_ip``:``a_port``) and B; ``dirs[0]`` sends A -> B."""

    def __init__(
        self,
        a_ip: str,
        a_port: int,
        b_ip: str,
        b_port: int,
        vlan: int | None,
        streams: int,
        rng: random.Random,
    ) -> None:
        tag_a = rng.randrange(1, 1 << 32)  # A's tag: B puts it in packets to A
        tag_b = rng.randrange(1, 1 << 32)
        self.dirs = (
            _SctpDir(IpPath(a_ip, b_ip, 132, vlan), a_port, b_port, tag_b, rng.randrange(1 << 32), streams),
            _SctpDir(IpPath(b_ip, a_ip, 132, vlan), b_port, a_port, tag_a, rng.randrange(1 << 32), streams),
        )


class Hop:
    """Base of the per-carrier framers.  ``iface`` is the capture interface (pcapng) of the hop.

    :meth:`frame` returns one packet; :meth:`emit_pcap` and :meth:`emit_pcapng` append it with its
    record header to an output buffer (``ts`` in micro-seconds since the epoch).  Carriers override
    them where a fused version is faster.
    """

    iface: int = 0
    linktype: int = 1

    def frame(self, direction: int, data: bytes, sls: int) -> bytes:  # pragma: no cover - interface
        raise NotImplementedError

    def emit_pcap(self, buf: bytearray, ts: int, direction: int, data: bytes, sls: int) -> None:
        pkt = self.frame(direction, data, sls)
        n = len(pkt)
        sec, usec = divmod(ts, 1_000_000)
        buf += _REC(sec, usec, n, n)
        buf += pkt

    def emit_pcapng(self, buf: bytearray, ts: int, direction: int, data: bytes, sls: int) -> None:
        pkt = self.frame(direction, data, sls)
        n = len(pkt)
        pad = -n & 3
        total = 32 + n + pad
        buf += _EPB(6, total, self.iface, ts >> 32, ts & 0xFFFFFFFF, n, n)
        buf += pkt
        if pad:
            buf += _PAD[pad]
        buf += _U32LE(total)


def mtp3_label(pc_format: str, si: int, ni: int, opc: int, dpc: int, sls: int) -> bytes:
    """SIO and routing label (Q.704; ANSI/China 24-bit, Japan 16-bit) as the readers in
    :mod:`sigdiag.carrier.mtp` expect them."""
    sio = ((ni & 3) << 6) | (si & 0x0F)
    if pc_format == "itu":
        return struct.pack("<BI", sio, (dpc & 0x3FFF) | ((opc & 0x3FFF) << 14) | ((sls & 0x0F) << 28))
    if pc_format == "japan":
        return struct.pack("<BHHB", sio, dpc & 0xFFFF, opc & 0xFFFF, sls & 0x0F)
    sls &= 0xFF if pc_format == "ansi" else 0x0F
    return struct.pack(
        "<BHBHBB", sio, dpc & 0xFFFF, (dpc >> 16) & 0xFF, opc & 0xFFFF, (opc >> 16) & 0xFF, sls
    )


def _labels(pc_format: str, si: int, ni: int, opc: int, dpc: int) -> tuple[list[bytes], list[bytes]]:
    """MTP3 SIO + label per SLS (0-255) for both directions."""
    return (
        [mtp3_label(pc_format, si, ni, opc, dpc, s) for s in range(256)],
        [mtp3_label(pc_format, si, ni, dpc, opc, s) for s in range(256)],
    )


#: A record template of an M3UA hop for one (direction, SLS, data length): see :meth:`M3uaHop.form`.
Form = tuple[Any, ...]


class M3uaHop(Hop):
    """M3UA DATA (RFC 4666) on SCTP PPID 3: [Network Appearance] [Routing Context] Protocol Data.

    Everything in a record except the time stamp, the TSN, the SSN, the checksum and the data itself
    depends only on the direction, the SLS and the length of the data: :meth:`form` computes it once
    per such triple (a *form*), and :class:`CaptureEmitter` writes a record with two ``struct`` packs
    and one CRC32c call.
    """

    __slots__ = ("_dirs", "_forms", "_hdr", "_opt", "_pd", "_streams")

    def __init__(
        self,
        assoc: SctpAssociation,
        si: int,
        ni: int,
        opc: int,
        dpc: int,
        routing_context: int | None,
        network_appearance: int | None,
    ) -> None:
        opt = b""
        if network_appearance is not None:
            opt += struct.pack(">HHI", 0x0200, 8, network_appearance)
        if routing_context is not None:
            opt += struct.pack(">HHI", 0x0006, 8, routing_context)
        self._opt = opt
        # the chunk after TSN, stream and SSN: PPID, M3UA header (version/class/type, length), optional
        # parameters, Protocol Data tag and length, OPC DPC SI NI MP SLS
        self._hdr = struct.Struct(f">III{len(opt)}sHH12s").pack
        self._dirs = assoc.dirs
        nstreams = assoc.dirs[0].streams
        self._streams = [1 + s % (nstreams - 1) for s in range(256)]
        fwd = [struct.pack(">IIBBBB", opc, dpc, si, ni, 0, s) for s in range(256)]
        bwd = [struct.pack(">IIBBBB", dpc, opc, si, ni, 0, s) for s in range(256)]
        self._pd = (fwd, bwd)
        self._forms: dict[tuple[int, int, int, bool], Form] = {}

    def form(self, direction: int, sls: int, n: int, ng: bool) -> Form:
        """The record template for ``n`` octets of data in ``direction`` with ``sls``.

        pcap: ``(chunk, c0, next_tsn, next_ssn, rest, record, lens, crc0)``; pcapng (``ng``):
        ``(chunk, c0, next_tsn, next_ssn, rest, record, block, lens, crc0, trailer)``, where

        * ``chunk(c0, next_tsn(), next_ssn(), rest, data)`` packs the DATA chunk (``c0``: type, flags and
          length; TSN; stream and SSN; ``rest``: PPID, M3UA header, optional parameters, Protocol Data
          header and routing label; the data; zero padding);
        * ``crc32c(chunk, crc0)`` is the SCTP checksum (``crc0``: the CRC state after the common header);
        * ``lens`` is the captured and wire lengths followed by the Ethernet, IP and SCTP common headers;
        * pcap: ``record(seconds, micro-seconds, lens, crc, chunk)`` packs the whole record: record
          header, headers, checksum and chunk; pcapng: ``record(block, ts >> 32, ts & 0xFFFFFFFF, lens,
          crc, chunk, trailer)`` (``block``: block type, length and interface; ``trailer``: padding and
          block length).
        """
        key = (direction, sls, n, ng)
        f = self._forms.get(key)
        if f is None:
            plen = 16 + n
            pad = -plen & 3
            mlen = 8 + len(self._opt) + plen + pad
            dr = self._dirs[direction]
            stream = self._streams[sls]
            c0 = struct.pack(">BBH", 0, 3, 16 + mlen)
            rest = self._hdr(3, 0x01000101, mlen, self._opt, 0x0210, plen, self._pd[direction][sls])
            chunk = struct.Struct(f">4sII{len(rest)}s{n}s{pad}x").pack
            head = dr.head_for(28 + mlen)  # SCTP common header 12 + chunk header 16 + M3UA message
            size = len(head) + 4 + 16 + mlen
            lens = struct.pack("<II", size, size) + head
            counters = (dr.next_tsn, dr.next_ssn[stream])
            clen = 16 + mlen
            if ng:
                total = 32 + size + (-size & 3)
                block = struct.pack("<III", 6, total, self.iface)
                trailer = _PAD[-size & 3] + _U32LE(total)
                record = struct.Struct(f"<12sII{len(lens)}sI{clen}s{len(trailer)}s").pack
                f = (chunk, c0, *counters, rest, record, block, lens, dr.crc0, trailer)
            else:
                record = struct.Struct(f"<II{len(lens)}sI{clen}s").pack
                f = (chunk, c0, *counters, rest, record, lens, dr.crc0)
            self._forms[key] = f
        return f

    def frame(self, direction: int, data: bytes, sls: int) -> bytes:
        chunk, c0, tsn, ssn, rest, _, _, crc0 = self.form(direction, sls, len(data), False)
        packed = chunk(c0, tsn(), ssn(), rest, data)
        return self._dirs[direction].head_for(12 + len(packed)) + _U32LE(crc32c(packed, crc0)) + packed

    def emit_pcap(self, buf: bytearray, ts: int, direction: int, data: bytes, sls: int) -> None:
        chunk, c0, tsn, ssn, rest, record, lens, crc0 = self.form(direction, sls, len(data), False)
        packed = chunk(c0, tsn(), ssn(), rest, data)
        buf += record(ts // 1_000_000, ts % 1_000_000, lens, crc32c(packed, crc0), packed)

    def emit_pcapng(self, buf: bytearray, ts: int, direction: int, data: bytes, sls: int) -> None:
        chunk, c0, tsn, ssn, rest, record, block, lens, crc0, trailer = self.form(
            direction, sls, len(data), True
        )
        packed = chunk(c0, tsn(), ssn(), rest, data)
        buf += record(block, ts >> 32, ts & 0xFFFFFFFF, lens, crc32c(packed, crc0), packed, trailer)


class M2paHop(Hop):
    """M2PA User Data (RFC 4165) on SCTP PPID 5, stream 1: BSN, FSN, priority, MTP3 message."""

    __slots__ = ("_dirs", "_fsn", "_labels")

    def __init__(
        self, assoc: SctpAssociation, pc_format: str, si: int, ni: int, opc: int, dpc: int, rng: random.Random
    ) -> None:
        self._dirs = assoc.dirs
        self._labels = _labels(pc_format, si, ni, opc, dpc)
        self._fsn = [rng.randrange(1 << 24), rng.randrange(1 << 24)]

    def frame(self, direction: int, data: bytes, sls: int) -> bytes:
        fsn = self._fsn
        f = fsn[direction] = (fsn[direction] + 1) & 0xFFFFFF
        bsn = fsn[direction ^ 1]
        mtp3 = self._labels[direction][sls] + data
        msg = _M2PA.pack(b"\x01\x00\x0b\x01", 17 + len(mtp3), bsn, f, 0) + mtp3
        return self._dirs[direction].packet(5, 1, msg)


class M2uaHop(Hop):
    """M2UA DATA (RFC 3331) on SCTP PPID 2, stream 1: Interface Identifier, Protocol Data 1."""

    __slots__ = ("_dirs", "_iid", "_labels")

    def __init__(
        self, assoc: SctpAssociation, pc_format: str, si: int, ni: int, opc: int, dpc: int, interface_id: int
    ) -> None:
        self._dirs = assoc.dirs
        self._labels = _labels(pc_format, si, ni, opc, dpc)
        self._iid = struct.pack(">HHI", 0x0001, 8, interface_id)

    def frame(self, direction: int, data: bytes, sls: int) -> bytes:
        mtp3 = self._labels[direction][sls] + data
        plen = 4 + len(mtp3)
        pad = -plen & 3
        msg = (
            _M3UA_HEAD.pack(b"\x01\x00\x06\x01", 16 + plen + pad)
            + self._iid
            + _TL.pack(0x0300, plen)
            + mtp3
            + _PAD[pad]
        )
        return self._dirs[direction].packet(2, 1, msg)


class BiccSctpHop(Hop):
    """BICC directly on SCTP (PPID 8): the message starts at the call instance code."""

    __slots__ = ("_dirs", "_streams")

    def __init__(self, assoc: SctpAssociation) -> None:
        self._dirs = assoc.dirs
        nstreams = assoc.dirs[0].streams
        self._streams = [1 + s % (nstreams - 1) for s in range(256)]

    def frame(self, direction: int, data: bytes, sls: int) -> bytes:
        return self._dirs[direction].packet(8, self._streams[sls], data)


class Mtp2Hop(Hop):
    """An MTP2 signalling link (pcap link type 140): BSN/BIB, FSN/FIB, LI, MTP3 message, optional FCS."""

    __slots__ = ("_fcs", "_fsn", "_labels", "iface")

    linktype = 140

    def __init__(
        self, pc_format: str, si: int, ni: int, opc: int, dpc: int, fcs: bool, iface: int, rng: random.Random
    ) -> None:
        self._labels = _labels(pc_format, si, ni, opc, dpc)
        self._fcs = fcs
        self._fsn = [rng.randrange(128), rng.randrange(128)]
        self.iface = iface

    def frame(self, direction: int, data: bytes, sls: int) -> bytes:
        fsn = self._fsn
        f = fsn[direction] = (fsn[direction] + 1) & 0x7F
        bsn = fsn[direction ^ 1]
        msu = self._labels[direction][sls] + data
        su = bytes((0x80 | bsn, 0x80 | f, min(len(msu), 63))) + msu
        if self._fcs:
            su += _U16LE.pack(crc16_x25(su))
        return su


class UdpHop(Hop):
    """UDP datagrams (SIP-I) between A and B with correct UDP checksums."""

    __slots__ = ("_paths", "_ports")

    def __init__(self, a_ip: str, a_port: int, b_ip: str, b_port: int, vlan: int | None) -> None:
        self._paths = (IpPath(a_ip, b_ip, 17, vlan), IpPath(b_ip, a_ip, 17, vlan))
        self._ports = ((a_port, b_port), (b_port, a_port))

    def frame(self, direction: int, data: bytes, sls: int) -> bytes:
        path = self._paths[direction]
        sport, dport = self._ports[direction]
        ulen = 8 + len(data)
        s = path.pseudo + ulen + sport + dport + ulen
        padded = data + b"\0" if len(data) & 1 else data
        s += sum(struct.unpack(f">{len(padded) // 2}H", padded))
        while s >> 16:
            s = (s & 0xFFFF) + (s >> 16)
        cks = ~s & 0xFFFF or 0xFFFF
        return path.header(ulen) + struct.pack(">HHHH", sport, dport, ulen, cks) + data


FrameFn = Callable[[int, bytes, int], bytes]


def item_key(hop: int, direction: int, sls: int, n: int) -> int:
    """The ``key`` of a queued message (see :class:`CaptureEmitter`): hop index, direction (0 A -> B),
    SLS (0-255) and data length (below 65536, as every carrier here needs) in one int."""
    return (((hop << 1 | direction) << 8 | sls) << 16) | n


class _Forms(dict[int, Form]):
    """M3UA record templates by item key, made on first use (:meth:`M3uaHop.form`)."""

    def __init__(self, hops: Sequence[M3uaHop], ng: bool) -> None:
        super().__init__()
        self.hops = hops
        self.ng = ng

    def __missing__(self, key: int) -> Form:
        lane = key >> 16
        f = self[key] = self.hops[lane >> 9].form((lane >> 8) & 1, lane & 0xFF, key & 0xFFFF, self.ng)
        return f


class CaptureEmitter:
    """Frames queued messages and appends their capture records (pcap or pcapng) to a buffer.

    A queued message is a tuple ``(time, key, data, tag)``: ``time`` in micro-seconds from ``base``
    micro-seconds after the capture start, ``key`` from :func:`item_key`, ``data`` the user message
    (ISUP/BICC with CIC, or a SIP datagram), ``tag`` the simulator's own (ignored here).  Calling the
    emitter with a time-ordered list of messages (and their ``base``) appends their records to ``buf``;
    transport state (TSNs, SSNs, FSNs) advances in that order, so the bytes depend only on the sequence
    of messages.

    When every hop is an :class:`M3uaHop` (the common case, and the benchmark's), one loop writes each
    record from its form (:meth:`M3uaHop.form`, looked up by the message's key): two ``struct`` packs,
    one CRC32c and one buffer append per message, without a method call.  Otherwise each
    message goes through its hop's ``emit_pcap`` / ``emit_pcapng``.

    The simulator passes each one-second bucket with its start as ``base`` and small offsets as times
    (see :mod:`sigdiag.simulate.engine`): the time stamp's seconds and micro-seconds (pcap) or high and
    low words (pcapng) are split once per call, and a message whose offset keeps it in the same second
    (or low word) takes them with one addition and one range check instead of a division of a large int.
    When the caller gives ``bounds`` (the least and the greatest offset of the items) and every item
    stays in that second (or low word), the loop makes no range check at all.
    """

    def __init__(self, hops: Sequence[Hop], ng: bool, epoch_us: int) -> None:
        self.ng = ng
        self.epoch = epoch_us
        self._emits = [h.emit_pcapng if ng else h.emit_pcap for h in hops]
        self._forms: _Forms | None = None
        m3ua = [h for h in hops if isinstance(h, M3uaHop)]
        if hops and len(m3ua) == len(hops):
            self._forms = _Forms(m3ua, ng)

    def __call__(
        self,
        buf: bytearray,
        items: Iterable[tuple[Any, ...]],
        base: int = 0,
        bounds: tuple[int, int] | None = None,
    ) -> None:
        start = self.epoch + base
        forms = self._forms
        if forms is None:
            emits = self._emits
            for t, key, data, _ in items:
                lane = key >> 16
                emits[lane >> 9](buf, start + t, (lane >> 8) & 1, data, lane & 0xFF)
        elif self.ng:
            high, low = start >> 32, start & 0xFFFFFFFF
            if bounds is not None and low + bounds[0] >= 0 and low + bounds[1] <= 0xFFFFFFFF:
                # every time stamp has the same high word: no range check per record
                for t, key, data, _ in items:
                    chunk, c0, tsn, ssn, rest, record, block, lens, crc0, trailer = forms[key]
                    packed = chunk(c0, tsn(), ssn(), rest, data)
                    buf += record(block, high, low + t, lens, crc32c(packed, crc0), packed, trailer)
                return
            for t, key, data, _ in items:
                chunk, c0, tsn, ssn, rest, record, block, lens, crc0, trailer = forms[key]
                packed = chunk(c0, tsn(), ssn(), rest, data)
                lo = low + t
                if 0 <= lo <= 0xFFFFFFFF:
                    buf += record(block, high, lo, lens, crc32c(packed, crc0), packed, trailer)
                else:
                    ts = start + t
                    buf += record(
                        block, ts >> 32, ts & 0xFFFFFFFF, lens, crc32c(packed, crc0), packed, trailer
                    )
        else:
            sec, usec = divmod(start, 1_000_000)
            if bounds is not None and usec + bounds[0] >= 0 and usec + bounds[1] < 1_000_000:
                # every time stamp is in the same second: no range check per record, and when the
                # second starts the bucket (the usual case) the offsets are the micro-seconds
                if usec:
                    for t, key, data, _ in items:
                        chunk, c0, tsn, ssn, rest, record, lens, crc0 = forms[key]
                        packed = chunk(c0, tsn(), ssn(), rest, data)
                        buf += record(sec, usec + t, lens, crc32c(packed, crc0), packed)
                else:
                    for t, key, data, _ in items:
                        chunk, c0, tsn, ssn, rest, record, lens, crc0 = forms[key]
                        packed = chunk(c0, tsn(), ssn(), rest, data)
                        buf += record(sec, t, lens, crc32c(packed, crc0), packed)
                return
            for t, key, data, _ in items:
                chunk, c0, tsn, ssn, rest, record, lens, crc0 = forms[key]
                packed = chunk(c0, tsn(), ssn(), rest, data)
                us = usec + t
                if 0 <= us < 1_000_000:
                    buf += record(sec, us, lens, crc32c(packed, crc0), packed)
                else:
                    ts = start + t
                    buf += record(ts // 1_000_000, ts % 1_000_000, lens, crc32c(packed, crc0), packed)
