"""Ethernet frames for the carrier tests, built with the layer modules of :mod:`sigdiag.carrier`, and a pcap
writer."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sigdiag.capture.writer import PcapWriter
from sigdiag.carrier.ip import PROTO_UDP, ipv4_fragments
from sigdiag.carrier.link import encapsulate
from sigdiag.carrier.sctp import data_chunk, sctp_packet
from sigdiag.carrier.transport import tcp_packet, udp, udp_packet


def sctp_frame(src: str, dst: str, sport: int, dport: int, ppid: int, data: bytes, tsn: int = 1) -> bytes:
    """An Ethernet frame with one SCTP DATA chunk (B and E set) carrying ``data``."""
    chunk = data_chunk(data, tsn, ppid=ppid)
    return encapsulate(1, sctp_packet(src, dst, sport, dport, [chunk]))


def udp_frame(src: str, dst: str, sport: int, dport: int, data: bytes) -> bytes:
    return encapsulate(1, udp_packet(src, dst, sport, dport, data))


def udp_fragments(
    src: str, dst: str, sport: int, dport: int, data: bytes, mtu: int = 1500, ident: int = 7
) -> list[bytes]:
    """An IPv4/UDP datagram split into Ethernet frames of at most ``mtu`` IP octets, in order."""
    datagram = udp(data, sport, dport, src, dst)
    size = ((mtu - 20) // 8) * 8
    return [
        encapsulate(1, fragment)
        for fragment in ipv4_fragments(datagram, src, dst, PROTO_UDP, ident=ident, count=None, size=size)
    ]


def tcp_frame(src: str, dst: str, sport: int, dport: int, seq: int, data: bytes) -> bytes:
    return encapsulate(1, tcp_packet(src, dst, sport, dport, data, seq=seq))


def write_pcap(path: Path, linktype: int, frames: Sequence[bytes]) -> Path:
    """A classic pcap with one record per frame, 1 s apart."""
    with PcapWriter(path, linktype) as w:
        for i, frame in enumerate(frames):
            w.write(frame, 1_700_000_000.0 + i)
    return path
