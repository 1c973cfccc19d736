"""Network layers (link, IP with reassembly, SCTP, UDP, TCP) and the packet builders."""

from __future__ import annotations

import itertools
import random
import shutil
import socket
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sigdiag.anomalies import CATALOGUE, Anomaly
from sigdiag.capture import PcapWriter, open_capture
from sigdiag.carrier import flows as FLOWS
from sigdiag.carrier import ip as IP
from sigdiag.carrier import link as LINK
from sigdiag.carrier import sctp as SCTP
from sigdiag.carrier import transport as TCPUDP
from sigdiag.carrier.net import MAX_PENDING_DATAGRAMS, NetDecoder, TcpStreams, Unit
from sigdiag.carrier.units import MtpUnit, SctpUnit, StreamUnit
from sigdiag.model import Frame

A4, B4 = "10.0.0.1", "10.0.0.2"
A6, B6 = "2001:db8::1", "2001:db8::2"
ASPUP = b"\x01\x00\x03\x01\x00\x00\x00\x08"  # a valid M3UA ASP Up message


def aspup_with_info(size: int) -> bytes:
    """A valid M3UA ASP Up with an INFO String parameter of ``size`` octets (a large user message)."""
    info = b"i" * size
    param = struct.pack("!HH", 4, 4 + size) + info + b"\0" * (-size & 3)
    return struct.pack("!BBBBI", 1, 0, 3, 1, 8 + len(param)) + param


TS0 = 1_700_000_000.0


class Run:
    """A NetDecoder with its anomaly list and a frame counter."""

    def __init__(self) -> None:
        self.anomalies: list[Anomaly] = []
        self.dec = NetDecoder(self.anomalies)
        self.number = 0
        self.step = 1.0  # seconds between frames

    def feed(self, data: bytes, linktype: int = 1, orig_len: int | None = None) -> list[Unit]:
        self.number += 1
        frame = Frame(
            self.number,
            TS0 + self.number * self.step,
            linktype,
            data,
            len(data) if orig_len is None else orig_len,
        )
        units = self.dec.feed(frame)
        self.check()
        return units

    def finish(self) -> list[Unit]:
        units = self.dec.finish()
        self.check()
        return units

    def check(self) -> None:
        names = {a.name for a in self.anomalies}
        assert names <= set(CATALOGUE), names - set(CATALOGUE)
        assert "net.internal_error" not in names, self.anomalies

    @property
    def names(self) -> list[str]:
        return [a.name for a in self.anomalies]


def sctp_ip(chunks: list[bytes], src: str = A4, dst: str = B4, sport: int = 2905, dport: int = 2905) -> bytes:
    return SCTP.sctp_packet(src, dst, sport, dport, chunks, vtag=1)


def one(units: list[Unit]) -> Any:
    assert len(units) == 1, units
    return units[0]


# ------------------------------------------------------------------------------------------------
# link layers


@pytest.mark.parametrize("linktype", [1, 113, 276, 0, 108, 101, 12])
@pytest.mark.parametrize("v6", [False, True])
def test_every_ip_link_type(linktype: int, v6: bool) -> None:
    src, dst = (A6, B6) if v6 else (A4, B4)
    run = Run()
    u = one(
        run.feed(
            LINK.encapsulate(linktype, sctp_ip([SCTP.data_chunk(ASPUP, 1, stream=3, ppid=3)], src, dst)),
            linktype,
        )
    )
    assert isinstance(u, SctpUnit)
    assert (u.src, u.dst, u.sport, u.dport, u.ppid, u.stream, u.data) == (src, dst, 2905, 2905, 3, 3, ASPUP)
    assert u.frame == 1 and u.ts == TS0 + 1.0
    assert run.anomalies == []


def test_raw_ipv4_and_ipv6_link_types() -> None:
    run = Run()
    assert one(run.feed(sctp_ip([SCTP.data_chunk(ASPUP, 1)]), 228)).data == ASPUP
    assert one(run.feed(sctp_ip([SCTP.data_chunk(ASPUP, 1)], A6, B6), 229)).src == A6
    assert run.anomalies == []


@pytest.mark.parametrize("family", [24, 28, 30])
@pytest.mark.parametrize("big_endian", [False, True])
def test_null_loopback_families_and_byte_orders(family: int, big_endian: bool) -> None:
    run = Run()
    pkt = sctp_ip([SCTP.data_chunk(ASPUP, 1)], A6, B6)
    assert one(run.feed(LINK.loopback(pkt, family, big_endian=big_endian), 0)).src == A6
    v4 = LINK.loopback(sctp_ip([SCTP.data_chunk(ASPUP, 1)]), 2, big_endian=big_endian)
    assert one(run.feed(v4, 0)).src == A4
    assert run.feed(LINK.loopback(pkt, 7), 0) == []
    assert run.names == ["link.unsupported_ethertype"]


@pytest.mark.parametrize("linktype", [139, 140, 141])
def test_mtp_link_types_pass_through(linktype: int) -> None:
    run = Run()
    u = one(run.feed(b"\x81\x82\x03\x85abc", linktype))
    assert isinstance(u, MtpUnit) and u.linktype == linktype and u.data == b"\x81\x82\x03\x85abc"


def test_unsupported_link_type_reported_once() -> None:
    run = Run()
    for _ in range(3):
        assert run.feed(b"whatever", 147) == []
    assert run.names == ["link.unsupported_linktype"]


@pytest.mark.parametrize(
    "vlans",
    [
        [100],
        [(0x88A8, 10), 20],
        [(0x9100, 1), (0x9100, 2), 3],
        [(0x88A8, 1), (0x8100, 2), (0x9100, 3), (0x9200, 4), 5],
    ],
)
def test_vlan_and_qinq_any_depth(vlans: list[int | tuple[int, int]]) -> None:
    run = Run()
    frame = LINK.encapsulate(1, sctp_ip([SCTP.data_chunk(ASPUP, 1)]), vlans=vlans)
    assert one(run.feed(frame)).data == ASPUP
    frame6 = LINK.encapsulate(1, sctp_ip([SCTP.data_chunk(ASPUP, 1)], A6, B6), vlans=vlans)
    assert one(run.feed(frame6)).src == A6
    assert run.anomalies == []


def test_mpls_pppoe_and_snap() -> None:
    run = Run()
    pkt = sctp_ip([SCTP.data_chunk(ASPUP, 1)])
    labels = struct.pack("!II", 100 << 12, (200 << 12) | 0x100 | 64)  # bottom of stack on the second
    assert one(run.feed(LINK.ethernet(labels + pkt, 0x8847))).data == ASPUP
    pppoe = struct.pack("!BBHHH", 0x11, 0, 1, len(pkt) + 2, 0x0021) + pkt
    assert one(run.feed(LINK.ethernet(pppoe, 0x8864))).data == ASPUP
    snap = b"\xaa\xaa\x03\x00\x00\x00\x08\x00" + pkt
    assert one(run.feed(LINK.ethernet(snap, len(snap)))).data == ASPUP
    assert run.anomalies == []


def test_non_ip_ethertypes_reported_once_per_type() -> None:
    run = Run()
    for _ in range(3):
        assert run.feed(LINK.ethernet(b"\x00" * 28, 0x0806)) == []  # ARP
    assert run.feed(LINK.ethernet(b"\x00" * 28, 0x88CC)) == []  # LLDP
    assert run.feed(LINK.ethernet(b"\xfe\xfe\x03" + b"\x00" * 30, 33)) == []  # 802.3 + LLC
    assert run.names == ["link.unsupported_ethertype"] * 3


def test_short_link_headers() -> None:
    run = Run()
    for linktype, data in [
        (1, b"\x00" * 13),
        (113, b"\x00" * 15),
        (276, b"\x00" * 19),
        (0, b"\x02"),
        (101, b""),
    ]:
        assert run.feed(data, linktype) == []
    assert run.names == ["link.truncated"] * 5
    assert run.feed(LINK.ethernet(b"\x00\x64", 0x8100)) == []
    assert run.names[-1] == "link.truncated"


# ------------------------------------------------------------------------------------------------
# IPv4 and IPv6


@pytest.mark.parametrize("options_len", [4, 8, 20, 40])
def test_ipv4_options(options_len: int) -> None:
    run = Run()
    options = b"\x94\x04\x00\x00"  # router alert, then NOPs and end of options
    if options_len > 4:
        options += b"\x01" * (options_len - 5) + b"\x00"
    sctp = SCTP.sctp(2905, 2905, [SCTP.data_chunk(ASPUP, 1)])
    pkt = IP.ipv4(sctp, A4, B4, 132, options=options)
    assert (pkt[0] & 15) == 5 + options_len // 4
    assert one(run.feed(LINK.encapsulate(1, pkt))).data == ASPUP
    assert run.anomalies == []


def test_ipv4_bad_headers() -> None:
    run = Run()
    good = IP.ipv4(TCPUDP.udp(b"x", 1, 2, A4, B4), A4, B4, 17)
    bad_ihl = bytes([0x44]) + good[1:]
    bad_version = bytes([0x55]) + good[1:]
    short_total = good[:2] + struct.pack("!H", 10) + good[4:]
    long_total = good[:2] + struct.pack("!H", 200) + good[4:]
    for pkt in (bad_ihl, bad_version, short_total, long_total, good[:15]):
        run.feed(LINK.encapsulate(1, pkt))
    assert run.names == [
        "ip.bad_header_length",
        "ip.bad_version",
        "ip.bad_header_length",
        "ip.truncated",
        "ip.truncated",
    ]


def test_ipv4_total_length_zero_is_offload() -> None:
    run = Run()
    pkt = IP.ipv4(TCPUDP.udp(b"hello", 1, 2, A4, B4), A4, B4, 17)
    pkt = pkt[:2] + b"\x00\x00" + pkt[4:]
    assert one(run.feed(LINK.encapsulate(1, pkt))).data == b"hello"


def test_ethernet_padding_is_ignored() -> None:
    run = Run()
    frame = LINK.encapsulate(1, TCPUDP.udp_packet(A4, B4, 5060, 5060, b"hi")) + b"\x00" * 20 + b"FCS!"
    assert one(run.feed(frame)).data == b"hi"


def test_ipv6_extension_headers() -> None:
    run = Run()
    home = bytes(16)
    exts = [
        (0, b"\x05\x02\x00\x00"),  # hop-by-hop: router alert
        (60, b""),  # destination options (padding only)
        (43, bytes([2, 1, 0, 0, 0, 0]) + home),  # routing type 2
        (51, bytes(10)),  # authentication header
        (60, b"\x01\x00"),
    ]
    sctp = SCTP.sctp(2905, 2905, [SCTP.data_chunk(ASPUP, 1)])
    pkt = IP.ipv6(sctp, A6, B6, 132, extensions=exts)
    assert one(run.feed(LINK.encapsulate(1, pkt))).data == ASPUP
    udp = TCPUDP.udp(b"sip", 5060, 5060, A6, B6)
    assert one(run.feed(LINK.encapsulate(1, IP.ipv6(udp, A6, B6, 17, extensions=exts[:3])))).data == b"sip"
    # an atomic fragment header (offset 0, M clear) is only a header
    atomic = IP.ipv6(udp, A6, B6, 17, extensions=[(44, struct.pack("!HI", 0, 99))])
    assert one(run.feed(LINK.encapsulate(1, atomic))).data == b"sip"
    # no next header
    assert run.feed(LINK.encapsulate(1, IP.ipv6(b"", A6, B6, 59))) == []
    assert run.anomalies == []


def test_ip_in_ip_tunnels() -> None:
    run = Run()
    inner = TCPUDP.udp_packet(A4, B4, 5060, 5060, b"inner")
    outer = IP.ipv4(inner, "192.0.2.1", "192.0.2.2", 4)
    assert one(run.feed(LINK.encapsulate(1, outer))).data == b"inner"
    inner6 = TCPUDP.udp_packet(A6, B6, 5060, 5060, b"six")
    assert one(run.feed(LINK.encapsulate(1, IP.ipv4(inner6, "192.0.2.1", "192.0.2.2", 41)))).src == A6


def test_unsupported_ip_protocol_reported_once() -> None:
    run = Run()
    for _ in range(3):
        run.feed(LINK.encapsulate(1, IP.ipv4(b"\x08\x00\x00\x00" * 4, A4, B4, 1)))  # ICMP
    run.feed(LINK.encapsulate(1, IP.ipv6(b"\x80" * 8, A6, B6, 58)))  # ICMPv6
    assert run.names == ["ip.unsupported_protocol"] * 2


def _sip(size: int) -> bytes:
    head = b"INVITE sip:123@example.com SIP/2.0\r\nContent-Length: "
    body = b"x" * size
    return head + str(size).encode() + b"\r\n\r\n" + body


@pytest.mark.parametrize("count", [2, 3, 4])
def test_ipv4_fragments_in_every_order(count: int) -> None:
    payload = _sip(3000)
    frags = IP.ipv4_fragments(TCPUDP.udp(payload, 5060, 5060, A4, B4), A4, B4, 17, ident=0x1234, count=count)
    assert len(frags) == count
    for order in itertools.permutations(range(count)):
        run = Run()
        units: list[Unit] = []
        for i in order:
            units += run.feed(LINK.encapsulate(1, frags[i]))
        u = one(units)
        assert isinstance(u, StreamUnit) and u.data == payload and u.frame == count  # the completing frame
        assert run.finish() == [] and run.anomalies == []


def test_ipv4_fragments_with_options_and_duplicates() -> None:
    payload = _sip(2000)
    frags = IP.ipv4_fragments(
        TCPUDP.udp(payload, 5060, 5060, A4, B4), A4, B4, 17, ident=7, size=512, options=b"\x94\x04\x00\x00"
    )
    run = Run()
    units: list[Unit] = []
    for f in [frags[0], frags[0], *frags[1:-1], frags[1], frags[-1]]:
        units += run.feed(LINK.encapsulate(1, f))
    assert one(units).data == payload
    assert run.anomalies == []


def test_ipv4_fragment_overlap_with_different_data() -> None:
    payload = bytes(range(256)) * 8
    frags = IP.ipv4_fragments(TCPUDP.udp(payload, 1, 2, A4, B4), A4, B4, 17, ident=9, count=2)
    evil = IP.ipv4(b"\xee" * 64, A4, B4, 17, ident=9, frag_offset=16, more_fragments=True)
    run = Run()
    units = run.feed(LINK.encapsulate(1, frags[0])) + run.feed(LINK.encapsulate(1, evil))
    units += run.feed(LINK.encapsulate(1, frags[1]))
    assert one(units).data == payload  # the first copy wins
    assert run.names == ["ip.fragment_overlap"]


def test_ipv4_fragments_interleaved_datagrams_and_incomplete() -> None:
    a = IP.ipv4_fragments(TCPUDP.udp(_sip(2000), 5060, 5060, A4, B4), A4, B4, 17, ident=1, count=2)
    b = IP.ipv4_fragments(TCPUDP.udp(_sip(2500), 5060, 5060, A4, B4), A4, B4, 17, ident=2, count=3)
    run = Run()
    units: list[Unit] = []
    for f in [a[1], b[0], b[2], a[0], b[1]]:
        units += run.feed(LINK.encapsulate(1, f))
    assert [len(u.data) for u in units] == [len(_sip(2000)), len(_sip(2500))]
    lost = IP.ipv4_fragments(TCPUDP.udp(_sip(2000), 5060, 5060, A4, B4), A4, B4, 17, ident=3, count=2)
    run.feed(LINK.encapsulate(1, lost[0]))
    assert run.finish() == []
    assert run.names == ["ip.fragment_incomplete"]


def test_ipv4_fragment_bounds() -> None:
    run = Run()
    run.step = 0.0
    for ident in range(MAX_PENDING_DATAGRAMS + 10):
        first = IP.ipv4(b"x" * 8, A4, B4, 17, ident=ident, more_fragments=True)
        run.feed(LINK.encapsulate(1, first))
    assert run.names.count("ip.fragment_incomplete") == 10
    too_far = IP.ipv4(b"x" * 16, A4, B4, 17, ident=1, frag_offset=65528, more_fragments=False)
    run.feed(LINK.encapsulate(1, too_far))
    assert run.names[-1] == "ip.fragment_too_large"


def test_ipv4_fragment_timeout() -> None:
    anomalies: list[Anomaly] = []
    dec = NetDecoder(anomalies)
    first = LINK.encapsulate(1, IP.ipv4(b"x" * 8, A4, B4, 17, ident=1, more_fragments=True))
    dec.feed(Frame(1, 100.0, 1, first, len(first)))
    other = LINK.encapsulate(1, IP.ipv4(b"y" * 8, A4, B4, 17, ident=2, more_fragments=True))
    dec.feed(Frame(2, 200.0, 1, other, len(other)))
    assert [(a.name, a.frame) for a in anomalies] == [("ip.fragment_incomplete", 2)]


@pytest.mark.parametrize("shuffle", [False, True])
def test_ipv6_fragments(shuffle: bool) -> None:
    payload = _sip(3000)
    frags = IP.ipv6_fragments(
        TCPUDP.udp(payload, 5060, 5060, A6, B6),
        A6,
        B6,
        17,
        ident=0xABCDEF,
        count=3,
        extensions=[(0, b"\x05\x02\x00\x00")],
    )
    if shuffle:
        frags = [frags[2], frags[0], frags[1]]
    run = Run()
    units: list[Unit] = []
    for f in frags:
        units += run.feed(LINK.encapsulate(1, f))
    u = one(units)
    assert u.data == payload and u.src == A6
    assert run.anomalies == []


def test_ipv6_fragmented_sctp_with_dest_options_after_fragment_header() -> None:
    sctp = SCTP.sctp(2905, 2905, [SCTP.data_chunk(ASPUP * 100, 1)])
    frags = IP.ipv6_fragments(b"\x84\x00" + b"\x01\x04\x00\x00\x00\x00" + sctp, A6, B6, 60, ident=5, count=2)
    run = Run()
    units = run.feed(LINK.encapsulate(1, frags[1])) + run.feed(LINK.encapsulate(1, frags[0]))
    assert one(units).data == ASPUP * 100


# ------------------------------------------------------------------------------------------------
# SCTP


def test_sctp_bundle_every_data_chunk() -> None:
    run = Run()
    chunks = [
        SCTP.data_chunk(b"one", 1, stream=1, ppid=3),
        SCTP.sack_chunk(5),
        SCTP.data_chunk(b"two!!", 2, stream=2, ppid=5),
        struct.pack("!BBH", 14, 0, 4),  # SHUTDOWN COMPLETE-ish: ignored
        SCTP.data_chunk(b"three", 3, stream=1, ppid=3, unordered=True),
    ]
    units = run.feed(LINK.encapsulate(1, sctp_ip(chunks)))
    assert all(isinstance(u, SctpUnit) for u in units)
    got = [(u.data, u.stream, u.ppid) for u in units if isinstance(u, SctpUnit)]
    assert got == [(b"one", 1, 3), (b"two!!", 2, 5), (b"three", 1, 3)]
    assert run.anomalies == []


def test_sctp_tsn_zero_on_every_chunk_is_not_a_retransmission() -> None:
    run = Run()
    units: list[Unit] = []
    for i in range(5):
        units += run.feed(LINK.encapsulate(1, sctp_ip([SCTP.data_chunk(bytes([i]) * 4, 0)])))
    units += run.feed(LINK.encapsulate(1, sctp_ip([SCTP.data_chunk(b"dup", 0), SCTP.data_chunk(b"dup", 0)])))
    assert [u.data for u in units] == [bytes([i]) * 4 for i in range(5)] + [b"dup", b"dup"]


def test_sctp_fragmented_user_message() -> None:
    message = bytes(range(256)) * 3
    chunks = SCTP.data_chunks(message, 100, parts=4, stream=7, ppid=3)
    run = Run()
    units: list[Unit] = []
    for c in chunks:
        units += run.feed(LINK.encapsulate(1, sctp_ip([c])))
    u = one(units)
    assert (u.data, u.stream, u.ppid, u.frame) == (message, 7, 3, 4)
    # all fragments bundled in one packet, together with an unfragmented message on another stream
    bundle = [*SCTP.data_chunks(message, 200, parts=3, stream=1), SCTP.data_chunk(b"small", 203, stream=2)]
    assert [x.data for x in run.feed(LINK.encapsulate(1, sctp_ip(bundle)))] == [message, b"small"]
    assert run.anomalies == []


def test_sctp_fragments_interleaved_streams_and_directions() -> None:
    m1, m2, m3 = b"A" * 300, b"B" * 300, b"C" * 300
    c1 = SCTP.data_chunks(m1, 10, parts=3, stream=1)
    c2 = SCTP.data_chunks(m2, 13, parts=3, stream=2)
    c3 = SCTP.data_chunks(m3, 10, parts=3, stream=1)  # the other direction, same stream number
    run = Run()
    units: list[Unit] = []
    for a, b, c in zip(c1, c2, c3, strict=True):
        units += run.feed(LINK.encapsulate(1, sctp_ip([a])))
        units += run.feed(LINK.encapsulate(1, sctp_ip([b])))
        units += run.feed(LINK.encapsulate(1, sctp_ip([c], B4, A4)))
    assert sorted(u.data for u in units) == [m1, m2, m3]
    assert run.anomalies == []


def test_sctp_fragment_retransmission_and_tsn_zero() -> None:
    message = b"xyz" * 100
    chunks = SCTP.data_chunks(message, 50, parts=3)
    run = Run()
    units: list[Unit] = []
    for c in [chunks[0], chunks[1], chunks[1], chunks[0], chunks[2]]:
        units += run.feed(LINK.encapsulate(1, sctp_ip([c])))
    assert one(units).data == message
    zero = SCTP.data_chunks(message, 0, parts=3, same_tsn=True)
    units = []
    for c in zero:
        units += run.feed(LINK.encapsulate(1, sctp_ip([c])))
    assert one(units).data == message
    assert run.anomalies == []


def test_sctp_fragment_gaps_are_incomplete() -> None:
    chunks = SCTP.data_chunks(b"q" * 300, 1, parts=3)
    run = Run()
    assert run.feed(LINK.encapsulate(1, sctp_ip([chunks[0]]))) == []
    assert run.feed(LINK.encapsulate(1, sctp_ip([chunks[2]]))) == []  # TSN 3 after 1: middle lost
    assert run.names == ["sctp.reassembly_incomplete"]
    assert run.feed(LINK.encapsulate(1, sctp_ip([chunks[1]]))) == []  # no beginning any more
    run.feed(LINK.encapsulate(1, sctp_ip([chunks[0]])))
    run.feed(LINK.encapsulate(1, sctp_ip([chunks[0]])))  # a new B while one is pending: retransmission
    assert run.finish() == []
    assert run.names == ["sctp.reassembly_incomplete"] * 3


def test_sctp_bad_and_truncated_chunks() -> None:
    run = Run()
    good = SCTP.data_chunk(b"ok", 1)
    bad = struct.pack("!BBH", 0, 3, 2)
    assert [u.data for u in run.feed(LINK.encapsulate(1, sctp_ip([good, bad, good])))] == [b"ok"]
    assert run.names == ["sctp.bad_chunk_length"]
    long = struct.pack("!BBHIHHI", 0, 3, 400, 1, 0, 0, 3) + b"short"
    assert [u.data for u in run.feed(LINK.encapsulate(1, sctp_ip([good, long])))] == [b"ok"]
    assert run.names[-1] == "sctp.truncated_chunk"
    empty_data = struct.pack("!BBHIHHI", 0, 3, 16, 1, 0, 0, 3)
    assert [u.data for u in run.feed(LINK.encapsulate(1, sctp_ip([empty_data, good])))] == [b"ok"]
    assert run.names[-1] == "sctp.bad_chunk_length"
    short_data = struct.pack("!BBHI", 0, 3, 8, 1)
    assert run.feed(LINK.encapsulate(1, sctp_ip([short_data, good]))) == []
    assert run.feed(LINK.encapsulate(1, IP.ipv4(b"\x0b\x59\x0b", A4, B4, 132))) == []
    assert run.names[-2:] == ["sctp.bad_chunk_length", "sctp.truncated_chunk"]


def test_snaplen_cut_is_named() -> None:
    run = Run()
    frame = LINK.encapsulate(1, sctp_ip([SCTP.data_chunk(b"z" * 200, 1)]))
    assert run.feed(frame[:100], orig_len=len(frame)) == []
    assert run.names == ["pcap.snaplen_truncated"]


def test_i_data_chunks() -> None:
    run = Run()
    u = one(run.feed(LINK.encapsulate(1, sctp_ip([SCTP.idata_chunk(ASPUP, 1, stream=4, mid=0, ppid=3)]))))
    assert (u.data, u.stream, u.ppid) == (ASPUP, 4, 3)
    message = b"0123456789" * 30
    pieces = [message[:100], message[100:200], message[200:]]
    chunks = [
        SCTP.idata_chunk(pieces[0], 10, stream=4, mid=1, ppid=3, begin=True, end=False),
        SCTP.idata_chunk(pieces[1], 11, stream=4, mid=1, fsn=1, begin=False, end=False),
        SCTP.idata_chunk(pieces[2], 12, stream=4, mid=1, fsn=2, begin=False, end=True),
        SCTP.idata_chunk(b"other", 13, stream=4, mid=2, ppid=5),
    ]
    units: list[Unit] = []
    for c in [chunks[2], chunks[3], chunks[0], chunks[1]]:
        units += run.feed(LINK.encapsulate(1, sctp_ip([c])))
    assert [(u.data, u.ppid) for u in units if isinstance(u, SctpUnit)] == [(b"other", 5), (message, 3)]
    assert len(units) == 2
    assert run.anomalies == []


# ------------------------------------------------------------------------------------------------
# UDP and TCP


def test_udp() -> None:
    run = Run()
    u = one(run.feed(LINK.encapsulate(1, TCPUDP.udp_packet(A4, B4, 5060, 5061, b"hello"))))
    assert isinstance(u, StreamUnit)
    assert (u.proto, u.src, u.dst, u.sport, u.dport, u.data) == ("udp", A4, B4, 5060, 5061, b"hello")
    assert run.feed(LINK.encapsulate(1, TCPUDP.udp_packet(A4, B4, 1, 2, b""))) == []  # empty datagram
    bad = TCPUDP.udp(b"hello", 1, 2, A4, B4)
    run.feed(LINK.encapsulate(1, IP.ipv4(bad[:4] + b"\x00\x04" + bad[6:], A4, B4, 17)))
    run.feed(LINK.encapsulate(1, IP.ipv4(bad[:4] + b"\x00\x40" + bad[6:], A4, B4, 17)))
    run.feed(LINK.encapsulate(1, IP.ipv4(bad[:5], A4, B4, 17)))
    assert run.names == ["udp.truncated"] * 3


def _tcp_frames(run: Run, segments: list[tuple[int, bytes, int]], src: str = A4, dst: str = B4) -> bytes:
    out = b""
    for seq, data, flags in segments:
        for u in run.feed(
            LINK.encapsulate(1, TCPUDP.tcp_packet(src, dst, 5060, 5060, data, seq=seq, flags=flags))
        ):
            assert isinstance(u, StreamUnit) and u.proto == "tcp"
            out += u.data
    return out


def test_tcp_in_order_stream() -> None:
    run = Run()
    ack = TCPUDP.ACK | TCPUDP.PSH
    got = _tcp_frames(
        run,
        [
            (999, b"", TCPUDP.SYN),
            (1000, b"", TCPUDP.ACK),  # pure ACK: nothing
            (1000, b"INVITE ", ack),
            (1007, b"sip:x", ack),
            (1007, b"sip:x", ack),  # retransmission
            (1011, b"x SIP/2.0", ack),  # partly retransmitted
            (1027, b" world", ack),  # beyond a gap: held
            (1020, b"\r\nhello", ack),  # fills the gap
            (1033, b"", TCPUDP.FIN | TCPUDP.ACK),
        ],
    )
    assert got == b"INVITE sip:x SIP/2.0\r\nhello world"
    assert run.anomalies == [] and run.finish() == []


def test_tcp_gap_skipped_when_too_much_is_held() -> None:
    anomalies: list[Anomaly] = []
    streams = TcpStreams(anomalies, max_pending_segments=3)
    key = (A4, 1, B4, 2)
    assert streams.push(1, key, 100, TCPUDP.ACK, b"abc") == [b"abc"]
    out: list[bytes] = []
    for i in range(4):
        out += streams.push(2 + i, key, 200 + 10 * i, TCPUDP.ACK, b"0123456789")
    assert b"".join(out) == b"0123456789" * 4
    assert [a.name for a in anomalies] == ["tcp.gap"]
    assert streams.push(9, key, 240, TCPUDP.ACK, b"!") == [b"!"]


def test_tcp_held_data_flushed_at_finish() -> None:
    run = Run()
    got = _tcp_frames(run, [(1, b"first", TCPUDP.ACK), (100, b"later", TCPUDP.ACK)])
    assert got == b"first"
    tail = run.finish()
    assert [u.data for u in tail] == [b"later"]
    assert run.names == ["tcp.gap"]


def test_tcp_seq_wraparound_and_rst() -> None:
    run = Run()
    got = _tcp_frames(run, [(0xFFFFFFFE, b"ab", TCPUDP.ACK), (0, b"cd", TCPUDP.ACK), (2, b"", TCPUDP.RST)])
    assert got == b"abcd"
    assert _tcp_frames(run, [(5000, b"new", TCPUDP.ACK)]) == b"new"  # after RST the stream starts afresh


def test_tcp_bad_data_offset() -> None:
    run = Run()
    seg = TCPUDP.tcp(b"data", 1, 2, A4, B4, seq=1)
    run.feed(LINK.encapsulate(1, IP.ipv4(seg[:12] + b"\xf0" + seg[13:], A4, B4, 6)))
    run.feed(LINK.encapsulate(1, IP.ipv4(seg[:12] + b"\x20" + seg[13:], A4, B4, 6)))
    run.feed(LINK.encapsulate(1, IP.ipv4(seg[:10], A4, B4, 6)))
    assert run.names == ["tcp.truncated"] * 3


# ------------------------------------------------------------------------------------------------
# never a traceback


LINKTYPES = [0, 1, 12, 101, 108, 113, 139, 140, 141, 228, 229, 276, 147]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=300), linktype=st.sampled_from(LINKTYPES))
def test_fuzz_arbitrary_bytes(data: bytes, linktype: int) -> None:
    run = Run()
    run.feed(data, linktype)
    run.finish()


def _valid_frames() -> list[bytes]:
    return [
        LINK.encapsulate(
            1, sctp_ip([SCTP.data_chunk(ASPUP, 1), *SCTP.data_chunks(b"m" * 90, 2, parts=3)]), vlans=[5]
        ),
        LINK.encapsulate(113, sctp_ip([SCTP.idata_chunk(ASPUP, 1, begin=True, end=False)], A6, B6)),
        LINK.encapsulate(
            276, IP.ipv4_fragments(TCPUDP.udp(_sip(100), 1, 2, A4, B4), A4, B4, 17, ident=1, count=2)[0]
        ),
        LINK.encapsulate(
            1, IP.ipv6_fragments(TCPUDP.udp(_sip(100), 1, 2, A6, B6), A6, B6, 17, ident=1, count=2)[1]
        ),
        LINK.encapsulate(
            1, IP.ipv6(TCPUDP.udp(b"x", 1, 2, A6, B6), A6, B6, 17, extensions=[(0, b""), (43, bytes(6))])
        ),
        LINK.encapsulate(0, TCPUDP.tcp_packet(A4, B4, 1, 2, b"segment", seq=5)),
    ]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    which=st.integers(min_value=0, max_value=5),
    edits=st.lists(st.tuples(st.integers(min_value=0, max_value=400), st.integers(0, 255)), max_size=6),
    cut=st.integers(min_value=0, max_value=400),
)
def test_fuzz_mutated_packets(which: int, edits: list[tuple[int, int]], cut: int) -> None:
    frame = bytearray(_valid_frames()[which])
    for pos, value in edits:
        if pos < len(frame):
            frame[pos] = value
    linktype = [1, 113, 276, 1, 1, 0][which]
    run = Run()
    run.feed(bytes(frame), linktype)
    run.feed(bytes(frame[:cut]), linktype)
    run.feed(bytes(frame), linktype)
    run.finish()


def test_fuzz_random_streams_of_fragments() -> None:
    rng = random.Random(7)
    frames = _valid_frames()
    run = Run()
    for _ in range(3000):
        f = bytearray(rng.choice(frames))
        for _ in range(rng.randrange(3)):
            f[rng.randrange(len(f))] = rng.randrange(256)
        run.feed(bytes(f[: rng.randrange(len(f) + 1)]) if rng.random() < 0.2 else bytes(f))
    run.finish()


# ------------------------------------------------------------------------------------------------
# builders


def test_flows_match_the_functions() -> None:
    flow = FLOWS.SctpFlow(A4, B4, 2905, 2906, vtag=9, vlans=[7])
    chunk = SCTP.data_chunk(ASPUP, 5)
    first = flow.frame([chunk])
    assert first == LINK.encapsulate(
        1, SCTP.sctp_packet(A4, B4, 2905, 2906, [chunk], vtag=9, ident=0), vlans=[7]
    )
    for linktype, (src, dst) in itertools.product([1, 113, 276, 0, 101], [(A4, B4), (A6, B6)]):
        udp = FLOWS.UdpFlow(src, dst, 5060, 5070, linktype=linktype)
        assert udp.frames(b"hello") == [
            LINK.encapsulate(linktype, TCPUDP.udp_packet(src, dst, 5060, 5070, b"hello"))
        ]
        tcp = FLOWS.TcpFlow(src, dst, 5060, 5070, seq=77, ack=3, linktype=linktype)
        assert tcp.frame(b"abc") == LINK.encapsulate(
            linktype, TCPUDP.tcp_packet(src, dst, 5060, 5070, b"abc", seq=77, ack=3)
        )
        assert tcp.seq == 80


def test_udp_flow_fragments_large_datagrams() -> None:
    flow = FLOWS.UdpFlow(A4, B4, 5060, 5060, mtu=1500)
    payload = _sip(4000)
    frames = flow.frames(payload)
    assert len(frames) == 3 and all(len(f) <= 1514 for f in frames)
    run = Run()
    units: list[Unit] = []
    for f in reversed(frames):
        units += run.feed(f)
    assert one(units).data == payload


def test_checksums() -> None:
    assert SCTP.crc32c(b"123456789") == 0xE3069283
    assert SCTP.crc32c_py(b"123456789") == 0xE3069283
    data = bytes(range(256)) * 3 + b"tail"
    assert SCTP.crc32c_py(data) == SCTP.crc32c(data)
    assert SCTP.crc32c(data[10:], SCTP.crc32c(data[:10])) == SCTP.crc32c(data)
    header = bytes.fromhex("45000073000040004011b861c0a80001c0a800c7")
    assert IP.inet_checksum(header) == 0
    assert IP.inet_checksum(header[:10] + b"\0\0" + header[12:]) == 0xB861


@pytest.mark.tshark
@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
def test_tshark_accepts_built_packets(tmp_path: Path) -> None:
    sip = (
        b"OPTIONS sip:a@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\r\n"
        b"Call-ID: c1\r\nCSeq: 1 OPTIONS\r\nFrom: <sip:b@example.com>;tag=1\r\nTo: <sip:a@example.com>\r\n"
        b"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
    big = sip.replace(b"Max-Forwards", b"X-Pad: " + b"p" * 3000 + b"\r\nMax-Forwards")
    frames: list[tuple[int, bytes]] = []
    for linktype in (1, 113, 276, 0, 101):
        for src, dst in ((A4, B4), (A6, B6)):
            flow = FLOWS.SctpFlow(src, dst, 2905, 2905, linktype=linktype, vtag=len(frames) + 1)
            frames.append(
                (linktype, flow.frame([SCTP.data_chunk(ASPUP, 1), SCTP.data_chunk(ASPUP, 2, ssn=1)]))
            )
            frames.append(
                (linktype, LINK.encapsulate(linktype, TCPUDP.udp_packet(src, dst, 5060, 5060, sip)))
            )
    tsn = 10
    vlan_stacks: list[list[int | tuple[int, int]]] = [[100], [(0x88A8, 10), 20]]
    for vlans in vlan_stacks:
        for chunk in SCTP.data_chunks(aspup_with_info(500), tsn, parts=3, stream=1):
            frames.append(
                (1, LINK.encapsulate(1, SCTP.sctp_packet(A4, B4, 2905, 2906, [chunk], vtag=2), vlans=vlans))
            )
        tsn += 3
    for f in IP.ipv4_fragments(
        TCPUDP.udp(big, 5060, 5060, A4, B4), A4, B4, 17, ident=77, count=3, options=b"\x94\x04\x00\x00"
    ):
        frames.append((1, LINK.encapsulate(1, f)))
    # a type 2 routing header names the final destination, which the UDP pseudo-header then uses
    exts = [(0, b"\x05\x02\x00\x00"), (43, bytes([2, 1, 0, 0, 0, 0]) + socket.inet_pton(socket.AF_INET6, B6))]
    for f in IP.ipv6_fragments(
        TCPUDP.udp(big, 5060, 5060, A6, B6), A6, B6, 17, ident=78, count=3, extensions=exts
    ):
        frames.append((1, LINK.encapsulate(1, f)))
    c, s = (
        FLOWS.TcpFlow(A4, B4, 40000, 5060, seq=1000),
        FLOWS.TcpFlow(B4, A4, 5060, 40000, seq=5000, ack=1001),
    )
    frames.append((1, c.handshake()))
    frames.append((1, s.handshake()))
    c.ack = s.seq
    frames.append((1, c.frame(b"", TCPUDP.ACK)))
    frames.append((1, c.frame(sip)))
    by_linktype: dict[int, list[bytes]] = {}
    for linktype, frame in frames:
        by_linktype.setdefault(linktype, []).append(frame)
    for linktype, group in by_linktype.items():
        path = tmp_path / f"built-{linktype}.pcap"
        with PcapWriter(path, linktype) as w:
            for i, frame in enumerate(group):
                w.write(frame, TS0 + i)
        opts = [
            "-o",
            "sctp.reassembly:TRUE",
            "-o",
            "sctp.checksum:CRC-32C",
            "-o",
            "ip.check_checksum:TRUE",
            "-o",
            "udp.check_checksum:TRUE",
            "-o",
            "tcp.check_checksum:TRUE",
        ]
        out = subprocess.run(
            [
                "tshark",
                "-n",
                "-r",
                str(path),
                *opts,
                "-T",
                "fields",
                "-e",
                "frame.number",
                "-e",
                "frame.protocols",
                "-e",
                "_ws.expert.severity",
                "-e",
                "_ws.expert.message",
                "-e",
                "_ws.malformed",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        seen: set[str] = set()
        for line in out.splitlines():
            _number, protocols, severity, message, malformed = (line.split("\t") + [""] * 5)[:5]
            assert not malformed, (linktype, line)
            worst = max((int(x, 0) for x in severity.split(",") if x), default=0)
            assert worst < 0x600000, (linktype, line)  # nothing at warning level or above
            assert "bad" not in message.lower(), (linktype, line)
            seen.update(p for p in ("m3ua", "sip", "sctp", "tcp", "udp") if p in protocols.split(":"))
        assert {"m3ua", "sip"} <= seen, (linktype, seen)
        # our decoder reads back every message
        anomalies: list[Anomaly] = []
        dec = NetDecoder(anomalies)
        units = [u for f in open_capture(path, anomalies) for u in dec.feed(f)]
        units += dec.finish()
        assert anomalies == []
        assert len(units) >= len(group) // 2


# ------------------------------------------------------------------------------------------------
# the real captures


def _units(path: Path) -> tuple[list[Unit], list[Anomaly]]:
    anomalies: list[Anomaly] = []
    dec = NetDecoder(anomalies)
    units: list[Unit] = []
    for frame in open_capture(path, anomalies):
        units += dec.feed(frame)
    units += dec.finish()
    return units, anomalies


@pytest.mark.shared
def test_kancom_six_sctp_units_with_tsn_zero(shared_captures: Path) -> None:
    units, anomalies = _units(shared_captures / "kancom-xdr_tester__isup_m2pa_itu_call.pcap")
    assert anomalies == []
    assert len(units) == 6 and all(isinstance(u, SctpUnit) and u.ppid == 5 for u in units)
    assert [u.frame for u in units] == [1, 2, 3, 4, 5, 6]


@pytest.mark.shared
def test_nextcaller_reassembled_sip_invite(shared_captures: Path) -> None:
    units, anomalies = _units(shared_captures / "nextcaller-sip-capture__sip-i_ansi_iam_fragmented.pcap")
    assert anomalies == []
    invite, trying = units
    assert isinstance(invite, StreamUnit) and invite.proto == "udp" and invite.frame == 2
    assert invite.data.startswith(b"INVITE sip:+18445618378")
    assert b"application/isup" in invite.data.lower()
    assert len(invite.data) == 1539
    assert (invite.src, invite.dst) == ("216.221.155.72", "10.0.90.18")
    assert isinstance(trying, StreamUnit) and trying.data.startswith(b"SIP/2.0 100 Trying")


@pytest.mark.shared
def test_tcpdump_and_bicc_captures(shared_captures: Path) -> None:
    units, anomalies = _units(shared_captures / "tcpdump-tests__isup_m3ua-draft6_itu_call.pcap")
    assert anomalies == [] and len(units) == 6 and all(isinstance(u, SctpUnit) for u in units)
    units, anomalies = _units(shared_captures / "wireshark-wiki__bicc.pcap")
    assert anomalies == [] and len(units) == 1 and isinstance(units[0], SctpUnit)


@pytest.mark.shared
@pytest.mark.tshark
@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
def test_sctp_and_udp_payloads_match_tshark(shared_captures: Path) -> None:
    for path in sorted(shared_captures.glob("*.pcap")):
        out = subprocess.run(
            [
                "tshark",
                "-n",
                "-r",
                str(path),
                "-o",
                "sctp.tsn_analysis:FALSE",
                "-T",
                "fields",
                "-e",
                "frame.number",
                "-e",
                "sctp.data_payload_proto_id",
                "-e",
                "udp.length",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        theirs_sctp = []
        theirs_udp = []
        for line in out.splitlines():
            number, ppids, udp_len = line.split("\t")
            theirs_sctp += [(int(number), int(p)) for p in ppids.split(",") if p]
            if udp_len and int(udp_len) > 8:
                theirs_udp.append(int(number))
        units, anomalies = _units(path)
        assert anomalies == [], path.name
        assert [(u.frame, u.ppid) for u in units if isinstance(u, SctpUnit)] == theirs_sctp, path.name
        assert [u.frame for u in units if isinstance(u, StreamUnit)] == theirs_udp, path.name


# ----------------------------------------------------------------------------------------------
# round trips: each layer module's builder against its own parse side

_ADDRS4 = st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t)))
_PAYLOADS = st.binary(min_size=1, max_size=300)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    src=_ADDRS4,
    dst=_ADDRS4,
    proto=st.sampled_from([IP.PROTO_SCTP, IP.PROTO_UDP, IP.PROTO_TCP]),
    ident=st.integers(0, 0xFFFF),
    ttl=st.integers(1, 255),
    payload=_PAYLOADS,
)
def test_ipv4_round_trip(src: str, dst: str, proto: int, ident: int, ttl: int, payload: bytes) -> None:
    packet = IP.ipv4(payload, src, dst, proto, ident=ident, ttl=ttl)
    vihl, total, got_ident, ff, got_proto, s, d = IP.IP4_PARSE.unpack_from(packet)
    assert (vihl, total, got_ident, ff, got_proto) == (IP.IPV4_VIHL, 20 + len(payload), ident, 0, proto)
    assert (IP.ntop(s), IP.ntop(d)) == (src, dst)
    assert IP.inet_checksum(packet[: IP.IPV4_HEADER_LEN]) == 0  # the header checksum is right
    assert packet[IP.IPV4_HEADER_LEN :] == payload
    # parse -> build: the header rebuilt from its fields is the same octets
    assert IP.ipv4_header(src, dst, proto, len(payload), ident=ident, ttl=ttl) == packet[:20]


@settings(max_examples=40, deadline=None)
@given(payload=_PAYLOADS, nh=st.sampled_from([IP.PROTO_SCTP, IP.PROTO_UDP]), flow=st.integers(0, 0xFFFFF))
def test_ipv6_round_trip(payload: bytes, nh: int, flow: int) -> None:
    packet = IP.ipv6(payload, A6, B6, nh, flow=flow)
    vtf, plen, got_nh, s, d = IP.IP6_PARSE.unpack_from(packet)
    assert (vtf, plen, got_nh) == (0x60000000 | flow, len(payload), nh)
    assert (IP.ntop(s), IP.ntop(d)) == (A6, B6)
    assert IP.ipv6_header(A6, B6, nh, len(payload), flow=flow) + payload == packet


@settings(max_examples=40, deadline=None)
@given(payload=st.binary(min_size=1, max_size=2000), size=st.integers(8, 600), shuffle=st.randoms())
def test_ip_fragments_round_trip(payload: bytes, size: int, shuffle: random.Random) -> None:
    """Fragments built by ipv4_fragments / ipv6_fragments reassemble, in any order, to the payload."""
    for v6 in (False, True):
        src, dst = (A6, B6) if v6 else (A4, B4)
        build = IP.ipv6_fragments if v6 else IP.ipv4_fragments
        frags = build(payload, src, dst, IP.PROTO_UDP, ident=9, count=None, size=size)
        shuffle.shuffle(frags)
        anomalies: list[Anomaly] = []
        reassembler = IP.IpReassembler(anomalies)
        done = None
        for i, frag in enumerate(frags):
            if v6:
                _vtf, _plen, _nh, s, d = IP.IP6_PARSE.unpack_from(frag)
                nxt, offm, ident = IP.FRAG6_PARSE.unpack_from(frag, 40)
                got = reassembler.add(
                    (s, d, 44, ident),
                    offm & 0xFFF8,
                    bool(offm & 1),
                    frag[48:],
                    nxt,
                    Frame(i, 0.0, 1, frag, len(frag)),
                )
            else:
                _vihl, total, ident, ff, proto, s, d = IP.IP4_PARSE.unpack_from(frag)
                got = reassembler.add(
                    (s, d, proto, ident),
                    (ff & IP.IP4_OFFSET) << 3,
                    bool(ff & IP.IP4_MF),
                    frag[20:total],
                    proto,
                    Frame(i, 0.0, 1, frag, len(frag)),
                )
            if got is not None:
                done = got
        assert done == (payload, IP.PROTO_UDP) and not anomalies


@settings(max_examples=60, deadline=None)
@given(
    data=st.binary(min_size=1, max_size=200),
    tsn=st.integers(0, 0xFFFFFFFF),
    stream=st.integers(0, 0xFFFF),
    ssn=st.integers(0, 0xFFFF),
    ppid=st.integers(0, 0xFFFFFFFF),
    vtag=st.integers(0, 0xFFFFFFFF),
)
def test_sctp_round_trip(data: bytes, tsn: int, stream: int, ssn: int, ppid: int, vtag: int) -> None:
    chunk = SCTP.data_chunk(data, tsn, stream=stream, ssn=ssn, ppid=ppid)
    packet = SCTP.sctp(2905, 2906, [chunk], vtag=vtag)
    sport, dport, got_vtag = SCTP.COMMON_HEADER.unpack_from(packet)
    assert (sport, dport, got_vtag) == (2905, 2906, vtag)
    (crc,) = SCTP.CHECKSUM.unpack_from(packet, 8)
    assert crc == SCTP.crc32c(packet[:8] + b"\0\0\0\0" + packet[12:])
    assert crc == SCTP.crc32c(packet[12:], SCTP.crc_after_header(2905, 2906, vtag))
    ctype, flags, clen, got_tsn, got_stream, got_ssn, got_ppid = SCTP.DATA_CHUNK.unpack_from(packet, 12)
    assert (ctype, flags, clen) == (SCTP.CHUNK_DATA, SCTP.FLAGS_WHOLE, SCTP.DATA_CHUNK_LEN + len(data))
    assert (got_tsn, got_stream, got_ssn, got_ppid) == (tsn, stream, ssn, ppid)
    # the reader gives the user message back
    reader = SCTP.SctpReader([], lambda *a: None)
    units = reader.chunks(Frame(1, 0.0, 1, packet, len(packet)), packet, 0, len(packet), A4, B4)
    assert [(u.sport, u.dport, u.ppid, u.stream, u.data) for u in units] == [(2905, 2906, ppid, stream, data)]


@settings(max_examples=40, deadline=None)
@given(data=st.binary(min_size=1, max_size=500), parts=st.integers(1, 6), idata=st.booleans())
def test_sctp_fragments_round_trip(data: bytes, parts: int, idata: bool) -> None:
    """A user message split into DATA (or I-DATA) chunks comes back whole from the reader."""
    if idata:
        size = -(-len(data) // parts)
        pieces = [data[i : i + size] for i in range(0, len(data), size)]
        chunks = [
            SCTP.idata_chunk(
                p, 10 + i, stream=2, mid=4, ppid=3, fsn=i, begin=i == 0, end=i == len(pieces) - 1
            )
            for i, p in enumerate(pieces)
        ]
    else:
        chunks = SCTP.data_chunks(data, 10, parts=parts, stream=2, ppid=3)
    reader = SCTP.SctpReader([], lambda *a: None)
    units = []
    for i, chunk in enumerate(chunks):
        packet = SCTP.sctp(1, 2, [chunk])
        units += reader.chunks(Frame(i, 0.0, 1, packet, len(packet)), packet, 0, len(packet), A4, B4)
    assert [(u.ppid, u.stream, u.data) for u in units] == [(3, 2, data)]


@settings(max_examples=40, deadline=None)
@given(
    payload=_PAYLOADS,
    sport=st.integers(1, 0xFFFF),
    dport=st.integers(1, 0xFFFF),
    seq=st.integers(0, 0xFFFFFFFF),
)
def test_udp_tcp_round_trip(payload: bytes, sport: int, dport: int, seq: int) -> None:
    for src, dst in ((A4, B4), (A6, B6)):
        datagram = TCPUDP.udp(payload, sport, dport, src, dst)
        assert TCPUDP.UDP_PARSE.unpack_from(datagram) == (sport, dport, 8 + len(payload))
        assert datagram[8:] == payload
        pseudo = IP.pseudo_header(src, dst, IP.PROTO_UDP, len(datagram))
        assert IP.inet_checksum(pseudo + datagram) in (0, 0xFFFF)
        segment = TCPUDP.tcp(payload, sport, dport, src, dst, seq=seq)
        got_sport, got_dport, got_seq, doff, flags = TCPUDP.TCP_PARSE.unpack_from(segment)
        assert (got_sport, got_dport, got_seq, doff >> 4 << 2, flags) == (
            sport,
            dport,
            seq,
            20,
            TCPUDP.ACK | TCPUDP.PSH,
        )
        assert IP.inet_checksum(IP.pseudo_header(src, dst, IP.PROTO_TCP, len(segment)) + segment) == 0


@pytest.mark.parametrize(
    ("linktype", "v6"),
    [(lt, v6) for lt in (1, 113, 276, 0, 108, 101, 14) for v6 in (False, True)] + [(228, False), (229, True)],
)
def test_link_round_trip(linktype: int, v6: bool) -> None:
    """encapsulate -> NetDecoder gives the packet's unit back; link_header is what encapsulate puts first."""
    src, dst = (A6, B6) if v6 else (A4, B4)
    packet = TCPUDP.udp_packet(src, dst, 5060, 5061, b"payload")
    frame = LINK.encapsulate(linktype, packet)
    assert frame == LINK.link_header(linktype, v6) + packet
    u = one(NetDecoder([]).feed(Frame(1, 0.0, linktype, frame, len(frame))))
    assert isinstance(u, StreamUnit) and (u.src, u.dst, u.sport, u.dport, u.data) == (
        src,
        dst,
        5060,
        5061,
        b"payload",
    )


@settings(max_examples=30, deadline=None)
@given(
    vlans=st.lists(
        st.one_of(st.integers(0, 4095), st.tuples(st.sampled_from([0x88A8, 0x9100]), st.integers(0, 4095))),
        max_size=3,
    )
)
def test_ethernet_round_trip(vlans: list[int | tuple[int, int]]) -> None:
    head = LINK.ethernet_header(LINK.ETHERTYPE_IPV4, vlans=vlans)
    assert len(head) == LINK.ETHERNET_HEADER_LEN + 4 * len(vlans)
    pos = LINK.ETHERTYPE_OFFSET
    for v in vlans:
        tpid, vid = v if isinstance(v, tuple) else (LINK.ETHERTYPE_VLAN, v)
        assert struct.unpack_from("!HH", head, pos) == (tpid, vid)
        pos += 4
    assert struct.unpack_from("!H", head, pos) == (LINK.ETHERTYPE_IPV4,)
