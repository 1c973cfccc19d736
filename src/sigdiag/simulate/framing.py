"""Carrier framing for the simulator: each capture point of a trunk (a *hop*) turns one user message into
a link-layer frame and a capture record, fast.

Nothing here defines a wire format: every header comes from the parse-and-build module of its layer
(:mod:`sigdiag.carrier.link` Ethernet/VLAN, :mod:`sigdiag.carrier.ip` IPv4/IPv6,
:mod:`sigdiag.carrier.sctp` SCTP and its CRC32c, :mod:`sigdiag.carrier.transport` UDP,
:mod:`sigdiag.carrier.m3ua`, :mod:`sigdiag.carrier.m2pa`, :mod:`sigdiag.carrier.m2ua`,
:mod:`sigdiag.carrier.mtp2`, :mod:`sigdiag.carrier.mtp3`, and :mod:`sigdiag.capture.formats` for the
pcap and pcapng records).  The simulator is fast because it pre-renders with those builders everything
that does not change from one message to the next (addresses, the IP header of a given length, the MTP3
routing label of an SLS, the M3UA header of a data length) and caches it per link direction.

Each *hop* (one capture point of one trunk: an SCTP association, a UDP flow or an MTP2 link) has a
``frame(direction, data, sls) -> bytes`` method; direction 0 is A -> B (the trunk's OPC towards its DPC)
and 1 is B -> A.  SCTP state (verification tags, TSN per direction, SSN per stream and direction) is per
association, shared by every trunk that uses the same addresses and ports.

:class:`CaptureEmitter` turns the simulator's time-ordered messages into capture records.  For M3UA
(the common carrier) everything in a record but the time stamp, TSN, SSN, checksum and data is
pre-rendered per direction, SLS and data length (:meth:`M3uaHop.form`) with the builders, and the
record is written by two ``struct`` packers fused from the builders' layouts (the pcap or pcapng record
header of :mod:`sigdiag.capture.formats`, the DATA chunk of :mod:`sigdiag.carrier.sctp`): a record costs
two packs and one CRC32c call; TSN and SSN counters are C-level iterators (:func:`_wrapping`).
``tests/unit/test_simulate.py`` checks the fused records against the builders, byte for byte.
"""

from __future__ import annotations

import ipaddress
import random
import struct
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import chain, repeat
from typing import Any

from sigdiag.capture.formats import EPB_HEADER, PCAP_RECORD, pcapng_epb
from sigdiag.carrier.ip import PROTO_SCTP, PROTO_UDP, ipv4_header, ipv6_header
from sigdiag.carrier.link import ETHERTYPE_IPV4, ETHERTYPE_IPV6, LINKTYPE_MTP2, ethernet_header
from sigdiag.carrier.m2pa import build_m2pa_user_data
from sigdiag.carrier.m2ua import build_m2ua_data
from sigdiag.carrier.m3ua import build_m3ua_data
from sigdiag.carrier.mtp2 import build_mtp2
from sigdiag.carrier.mtp3 import routing_label
from sigdiag.carrier.sctp import (
    CHECKSUM,
    COMMON_HEADER_LEN,
    DATA_CHUNK,
    PPID_BICC,
    PPID_M2PA,
    PPID_M2UA,
    PPID_M3UA,
    common_header,
    crc32c,
    crc_after_header,
    data_chunk,
    sctp,
)
from sigdiag.carrier.transport import udp

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

#: Offsets in a DATA chunk (:data:`sigdiag.carrier.sctp.DATA_CHUNK`: type, flags, length, TSN, stream,
#: SSN, PPID): the TSN, and the PPID after the stream and SSN.
_TSN_AT = struct.calcsize(DATA_CHUNK.format[:4])
_PPID_AT = struct.calcsize(DATA_CHUNK.format[:7])
#: The fused packer of a DATA chunk starts as the builder's layout does: the octets before the TSN
#: (pre-rendered), the TSN, then the stream and the SSN as one 32-bit value (``stream << 16 | SSN``, as
#: the counters of :class:`_SctpDir` give them).
_CHUNK_HEAD = f"{DATA_CHUNK.format[0]}{_TSN_AT}s{DATA_CHUNK.format[4]}I"

#: SIO and routing label (Q.704) of the simulator's point-code formats, from the MTP3 builder.
mtp3_label = routing_label


def _mac(ip: str) -> bytes:
    """A locally administered MAC address derived from an IP address."""
    packed = ipaddress.ip_address(ip).packed
    return b"\x02\x00" + packed[-4:]


class IpPath:
    """Link and network headers of one direction of an IP conversation (Ethernet, optional VLAN,
    IPv4 with DF and identification 0, or IPv6), cached per payload length."""

    __slots__ = ("_cache", "_eth", "_proto", "dst", "src", "v6")

    def __init__(self, src: str, dst: str, proto: int, vlan: int | None) -> None:
        self.v6 = ipaddress.ip_address(src).version == 6
        self.src = src
        self.dst = dst
        self._proto = proto
        ethertype = ETHERTYPE_IPV6 if self.v6 else ETHERTYPE_IPV4
        vlans = () if vlan is None else (vlan,)
        self._eth = ethernet_header(ethertype, src=_mac(src), dst=_mac(dst), vlans=vlans)
        self._cache: dict[int, bytes] = {}

    def header(self, payload_len: int) -> bytes:
        """Ethernet (+VLAN) and IP headers for a payload of ``payload_len`` octets."""
        h = self._cache.get(payload_len)
        if h is None:
            if self.v6:
                ip = ipv6_header(self.src, self.dst, self._proto, payload_len)
            else:
                ip = ipv4_header(self.src, self.dst, self._proto, payload_len, df=True)
            h = self._eth + ip
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
    stream as one 32-bit value (``stream << 16 | SSN``, the two 16-bit fields after the TSN in a DATA
    chunk); both wrap as RFC 4960 says.
    """

    __slots__ = ("crc0", "heads", "ip", "next_ssn", "next_tsn", "ports", "streams")

    def __init__(self, ip: IpPath, sport: int, dport: int, vtag: int, tsn: int, streams: int) -> None:
        self.ip = ip
        self.ports = (sport, dport, vtag)
        self.crc0 = crc_after_header(sport, dport, vtag)  # CRC state after the common header
        self.streams = streams
        self.next_tsn = _wrapping(tsn, 1 << 32)
        self.next_ssn = [_wrapping(0, 1 << 16, s << 16) for s in range(streams)]
        self.heads: dict[int, bytes] = {}  # SCTP packet length -> link, IP and SCTP common headers

    def head_for(self, sctp_len: int) -> bytes:
        """Link + IP headers and the SCTP ports and tag (checksum excluded) for an SCTP packet size."""
        h = self.heads.get(sctp_len)
        if h is None:
            h = self.ip.header(sctp_len) + common_header(*self.ports)
            if len(self.heads) < 4096:
                self.heads[sctp_len] = h
        return h

    def packet(self, ppid: int, stream: int, payload: bytes) -> bytes:
        """One SCTP packet with one DATA chunk (B and E set: an unfragmented user message)."""
        sid = self.next_ssn[stream]()
        chunk = data_chunk(payload, self.next_tsn(), stream=sid >> 16, ssn=sid, ppid=ppid)
        sport, dport, vtag = self.ports
        return self.ip.header(COMMON_HEADER_LEN + len(chunk)) + sctp(sport, dport, [chunk], vtag=vtag)


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
            _SctpDir(
                IpPath(a_ip, b_ip, PROTO_SCTP, vlan), a_port, b_port, tag_b, rng.randrange(1 << 32), streams
            ),
            _SctpDir(
                IpPath(b_ip, a_ip, PROTO_SCTP, vlan), b_port, a_port, tag_a, rng.randrange(1 << 32), streams
            ),
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
        buf += PCAP_RECORD.pack(sec, usec, n, n)
        buf += pkt

    def emit_pcapng(self, buf: bytearray, ts: int, direction: int, data: bytes, sls: int) -> None:
        buf += pcapng_epb(self.frame(direction, data, sls), ts, self.iface)


def _labels(pc_format: str, si: int, ni: int, opc: int, dpc: int) -> tuple[list[bytes], list[bytes]]:
    """MTP3 SIO + label per SLS (0-255) for both directions."""
    return (
        [routing_label(pc_format, si, ni, opc, dpc, s) for s in range(256)],
        [routing_label(pc_format, si, ni, dpc, opc, s) for s in range(256)],
    )


#: A record template of an M3UA hop for one (direction, SLS, data length): see :meth:`M3uaHop.form`.
Form = tuple[Any, ...]


#: Offsets in a pcap record header (:data:`sigdiag.capture.formats.PCAP_RECORD`: seconds, fraction,
#: captured and original lengths) and in a pcapng enhanced packet block header
#: (:data:`sigdiag.capture.formats.EPB_HEADER`: type, length, interface, time stamp high and low words,
#: captured and original lengths): where the lengths, and the time stamp, start.
_PCAP_LENS_AT = struct.calcsize(PCAP_RECORD.format[:3])
_EPB_TS_AT = struct.calcsize(EPB_HEADER.format[:4])
_EPB_LENS_AT = struct.calcsize(EPB_HEADER.format[:6])
#: The code of the SCTP checksum field in a record packer: little-endian as the pcap and pcapng records
#: here, so one packer writes the record header, the headers, the checksum and the chunk.
_CRC_CODE = CHECKSUM.format[1:]
if CHECKSUM.format[0] != PCAP_RECORD.format[0] or EPB_HEADER.format[0] != PCAP_RECORD.format[0]:
    raise ImportError("fused record packers need one byte order for records and checksum")  # pragma: no cover


def _pcap_parts(size: int, head: bytes, clen: int) -> tuple[bytes, Callable[..., bytes]]:
    """The constant part of a pcap record of ``size`` octets (lengths and ``head``, the headers before
    the SCTP checksum) and the packer of the whole record: ``packer(seconds, micro-seconds, lens, crc,
    chunk)`` for a chunk of ``clen`` octets."""
    lens = PCAP_RECORD.pack(0, 0, size, size)[_PCAP_LENS_AT:] + head
    packer = struct.Struct(f"{PCAP_RECORD.format[:3]}{len(lens)}s{_CRC_CODE}{clen}s").pack
    return lens, packer


def _epb_parts(
    size: int, iface: int, head: bytes, clen: int
) -> tuple[bytes, bytes, bytes, Callable[..., bytes]]:
    """A pcapng enhanced packet block of ``size`` octets on ``iface`` in four parts around the time
    stamp: the block type, length and interface; the lengths and ``head``; the padding and closing
    length; and the packer of the whole block: ``packer(block, high, low, lens, crc, chunk, trailer)``."""
    epb = pcapng_epb(bytes(size), 0, iface)
    block = epb[:_EPB_TS_AT]
    lens = epb[_EPB_LENS_AT : EPB_HEADER.size] + head
    trailer = epb[EPB_HEADER.size + size :]
    ts = EPB_HEADER.format[4:6]
    packer = struct.Struct(
        f"{EPB_HEADER.format[0]}{len(block)}s{ts}{len(lens)}s{_CRC_CODE}{clen}s{len(trailer)}s"
    ).pack
    return block, lens, trailer, packer


class M3uaHop(Hop):
    """M3UA DATA (RFC 4666) on SCTP PPID 3: [Network Appearance] [Routing Context] Protocol Data.

    Everything in a record except the time stamp, the TSN, the SSN, the checksum and the data itself
    depends only on the direction, the SLS and the length of the data: :meth:`form` renders it once
    per such triple (a *form*) with the builders, and :class:`CaptureEmitter` writes a record with two
    ``struct`` packs and one CRC32c call.
    """

    __slots__ = ("_dirs", "_forms", "_params", "_streams")

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
        # build_m3ua_data's arguments by direction, without the SLS and the data
        self._params = (
            (opc, dpc, si, ni, 0, routing_context, network_appearance),
            (dpc, opc, si, ni, 0, routing_context, network_appearance),
        )
        self._dirs = assoc.dirs
        nstreams = assoc.dirs[0].streams
        self._streams = [1 + s % (nstreams - 1) for s in range(256)]
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
            f = self._forms[key] = self._form(direction, sls, n, ng)
        return f

    def _form(self, direction: int, sls: int, n: int, ng: bool) -> Form:
        opc, dpc, si, ni, mp, rc, na = self._params[direction]
        message = build_m3ua_data(opc, dpc, si, ni, mp, sls, bytes(n), rc, na)
        before = len(build_m3ua_data(opc, dpc, si, ni, mp, sls, b"", rc, na))  # octets before the data
        pad = len(message) - before - n
        dr = self._dirs[direction]
        stream = self._streams[sls]
        template = data_chunk(message, 0, stream=stream, ssn=0, ppid=PPID_M3UA)
        c0 = template[:_TSN_AT]
        rest = template[_PPID_AT : len(template) - len(message)] + message[:before]
        chunk = struct.Struct(f"{_CHUNK_HEAD}{len(rest)}s{n}s{pad}x").pack
        clen = len(template)
        head = dr.head_for(COMMON_HEADER_LEN + clen)
        size = len(head) + CHECKSUM.size + clen
        counters = (dr.next_tsn, dr.next_ssn[stream])
        if ng:
            block, lens, trailer, packer = _epb_parts(size, self.iface, head, clen)
            return (chunk, c0, *counters, rest, packer, block, lens, dr.crc0, trailer)
        lens, packer = _pcap_parts(size, head, clen)
        return (chunk, c0, *counters, rest, packer, lens, dr.crc0)

    def frame(self, direction: int, data: bytes, sls: int) -> bytes:
        chunk, c0, tsn, ssn, rest, _, _, _ = self.form(direction, sls, len(data), False)
        packed = chunk(c0, tsn(), ssn(), rest, data)
        dr = self._dirs[direction]
        return dr.ip.header(COMMON_HEADER_LEN + len(packed)) + sctp(*dr.ports[:2], [packed], vtag=dr.ports[2])

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
        msg = build_m2pa_user_data(fsn[direction ^ 1], f, self._labels[direction][sls] + data)
        return self._dirs[direction].packet(PPID_M2PA, 1, msg)


class M2uaHop(Hop):
    """M2UA DATA (RFC 3331) on SCTP PPID 2, stream 1: Interface Identifier, Protocol Data 1."""

    __slots__ = ("_dirs", "_iid", "_labels")

    def __init__(
        self, assoc: SctpAssociation, pc_format: str, si: int, ni: int, opc: int, dpc: int, interface_id: int
    ) -> None:
        self._dirs = assoc.dirs
        self._labels = _labels(pc_format, si, ni, opc, dpc)
        self._iid = interface_id

    def frame(self, direction: int, data: bytes, sls: int) -> bytes:
        msg = build_m2ua_data(self._iid, self._labels[direction][sls] + data)
        return self._dirs[direction].packet(PPID_M2UA, 1, msg)


class BiccSctpHop(Hop):
    """BICC directly on SCTP (PPID 8): the message starts at the call instance code."""

    __slots__ = ("_dirs", "_streams")

    def __init__(self, assoc: SctpAssociation) -> None:
        self._dirs = assoc.dirs
        nstreams = assoc.dirs[0].streams
        self._streams = [1 + s % (nstreams - 1) for s in range(256)]

    def frame(self, direction: int, data: bytes, sls: int) -> bytes:
        return self._dirs[direction].packet(PPID_BICC, self._streams[sls], data)


class Mtp2Hop(Hop):
    """An MTP2 signalling link (pcap link type 140): BSN/BIB, FSN/FIB, LI, MTP3 message, optional FCS."""

    __slots__ = ("_fcs", "_fsn", "_labels", "iface")

    linktype = LINKTYPE_MTP2

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
        return build_mtp2(self._labels[direction][sls] + data, fsn=f, bsn=fsn[direction ^ 1], fcs=self._fcs)


class UdpHop(Hop):
    """UDP datagrams (SIP-I) between A and B with correct UDP checksums."""

    __slots__ = ("_paths", "_ports")

    def __init__(self, a_ip: str, a_port: int, b_ip: str, b_port: int, vlan: int | None) -> None:
        self._paths = (IpPath(a_ip, b_ip, PROTO_UDP, vlan), IpPath(b_ip, a_ip, PROTO_UDP, vlan))
        self._ports = ((a_port, b_port), (b_port, a_port))

    def frame(self, direction: int, data: bytes, sls: int) -> bytes:
        path = self._paths[direction]
        sport, dport = self._ports[direction]
        datagram = udp(data, sport, dport, path.src, path.dst)
        return path.header(len(datagram)) + datagram


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
