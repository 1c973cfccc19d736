"""Captures rebuilt for the link tests: the same traffic seen on a second link, split, shifted, reordered.

* :func:`second_association` moves an Ethernet/IPv4|IPv6 frame to another association (every IP address
  gets its last octet's bit 0x40 flipped, so both directions of an association move together; the SCTP
  checksum does not cover the addresses, the IPv4 header checksum is computed again, a UDP checksum is
  zeroed);
* :func:`two_links` writes a capture holding every record of a capture plus a copy of each on a second
  link (another SCTP association for IP frames, another interface for MTP2 frames), each copy a few
  milliseconds later, merged by time;
* :func:`read_records` / :func:`write_records` read and write ``(ts, linktype, interface, data)`` records
  (pcap when there is one interface, pcapng otherwise).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

from sigdiag.capture import open_capture
from sigdiag.capture.writer import PcapngWriter, PcapWriter
from sigdiag.carrier.ip import IP4_PARSE, IP6_PARSE, PROTO_UDP, inet_checksum
from sigdiag.carrier.link import (
    ETHERTYPE_IPV4,
    ETHERTYPE_IPV6,
    ETHERTYPE_OFFSET,
    MTP_LINKTYPES,
    VLAN_TPIDS,
)
from sigdiag.carrier.transport import UDP_HEADER


class Record(NamedTuple):
    ts: float
    linktype: int
    interface: int
    data: bytes


def read_records(path: Path | str) -> list[Record]:
    return [Record(f.ts, f.linktype, f.interface, f.data) for f in open_capture(Path(path), [])]


def write_records(path: Path, records: Iterable[Record]) -> Path:
    """Write records in the order given: classic pcap when they all share interface 0, pcapng otherwise
    (interface i gets the link type of its records)."""
    records = list(records)
    ifaces: dict[int, int] = {}
    for r in records:
        ifaces.setdefault(r.interface, r.linktype)
    if set(ifaces) <= {0}:
        with PcapWriter(path, ifaces.get(0, 1)) as w:
            for r in records:
                w.write(r.data, r.ts)
        return path
    top = max(ifaces)
    with PcapngWriter(path, [(ifaces.get(i, 1), f"if{i}") for i in range(top + 1)]) as png:
        for r in records:
            png.write(r.data, r.ts, r.interface)
    return path


def _flip(addr: bytes) -> bytes:
    return addr[:-1] + bytes((addr[-1] ^ 0x40,))


def second_association(data: bytes) -> bytes:
    """The Ethernet frame ``data`` as seen on a second association (see the module docstring); frames that
    are not IP are returned unchanged."""
    pos = ETHERTYPE_OFFSET
    etype = int.from_bytes(data[pos : pos + 2], "big")
    while etype in VLAN_TPIDS:
        pos += 4
        etype = int.from_bytes(data[pos : pos + 2], "big")
    ip = pos + 2
    out = bytearray(data)
    if etype == ETHERTYPE_IPV4:
        vihl, _total, _ident, ff, proto, src, dst = IP4_PARSE.unpack_from(data, ip)
        ihl = (vihl & 0x0F) * 4
        out[ip + 12 : ip + 16] = _flip(src)
        out[ip + 16 : ip + 20] = _flip(dst)
        out[ip + 10 : ip + 12] = b"\0\0"
        out[ip + 10 : ip + 12] = inet_checksum(bytes(out[ip : ip + ihl])).to_bytes(2, "big")
        udp = ip + ihl
        if proto == PROTO_UDP and ff & 0x1FFF == 0 and len(data) >= udp + UDP_HEADER.size:
            sport, dport, length, _checksum = UDP_HEADER.unpack_from(data, udp)
            out[udp : udp + UDP_HEADER.size] = UDP_HEADER.pack(
                sport, dport, length, 0
            )  # no UDP checksum (IPv4)
    elif etype == ETHERTYPE_IPV6:
        _vtf, _plen, _nh, src, dst = IP6_PARSE.unpack_from(data, ip)
        out[ip + 8 : ip + 24] = _flip(src)
        out[ip + 24 : ip + 40] = _flip(dst)
    return bytes(out)


def copy_on_second_link(records: Sequence[Record], new_interface: dict[int, int]) -> list[Record]:
    """Each record as seen on a second link (same time): IP frames on another association, MTP frames on
    the interface ``new_interface[interface]``."""
    out = []
    for r in records:
        if r.linktype in MTP_LINKTYPES:
            out.append(Record(r.ts, r.linktype, new_interface[r.interface], r.data))
        elif r.linktype == 1:
            out.append(Record(r.ts, r.linktype, r.interface, second_association(r.data)))
    return out


def delayed(
    records: Sequence[Record], rng: random.Random, low_ms: float = 3.0, high_ms: float = 5.0
) -> list[Record]:
    """The records each ``low_ms``..``high_ms`` later (drawn per record), in the same order per interface
    (a link delivers in order): a copy never overtakes the copy before it on its link."""
    last: dict[int, float] = {}
    out = []
    for r in records:
        ts = r.ts + rng.uniform(low_ms, high_ms) / 1000.0
        prev = last.get(r.interface)
        if prev is not None and ts < prev:
            ts = prev
        last[r.interface] = ts
        out.append(r._replace(ts=ts))
    return out


def merge_by_time(*streams: Sequence[Record]) -> list[Record]:
    """The records of every stream in time order (stable: at the same time, the earlier stream first)."""
    tagged = [(r.ts, i, n, r) for i, s in enumerate(streams) for n, r in enumerate(s)]
    tagged.sort(key=lambda t: (t[0], t[1], t[2]))
    return [t[3] for t in tagged]


def two_links(src: Path | str, dst: Path, seed: int = 0, low_ms: float = 3.0, high_ms: float = 5.0) -> Path:
    """``src`` plus a copy of every record on a second link, ``low_ms``..``high_ms`` later, merged by time
    (MTP2 interfaces are copied to new interfaces after the last one: pcapng)."""
    records = read_records(src)
    top = max((r.interface for r in records), default=0)
    mtp = sorted({r.interface for r in records if r.linktype in MTP_LINKTYPES})
    new_if = {i: top + 1 + n for n, i in enumerate(mtp)}
    copies = delayed(copy_on_second_link(records, new_if), random.Random(seed), low_ms, high_ms)
    return write_records(dst, merge_by_time(records, copies))


def flow_records(raw: Sequence[tuple[float, int, int, bytes, str, str | None]], carrier: str) -> list[Record]:
    """The messages of a :class:`tests.unit.test_calls_builder.Flow` (its ``raw`` list) as capture records
    on one link: ``"m3ua"`` (Ethernet/IPv4/SCTP/M3UA, interface 0) or ``"mtp2"`` (link type 140,
    interface 0)."""
    from sigdiag.carrier.m3ua import build_m3ua_data
    from sigdiag.carrier.mtp2 import build_mtp2
    from sigdiag.carrier.mtp3 import build_mtp3
    from tests.unit._packets import sctp_frame

    out = []
    for i, (ts, opc, dpc, data, protocol, sip) in enumerate(raw):
        assert sip is None, "M3UA and MTP2 only"
        si = 13 if protocol == "bicc" else 5
        if carrier == "m3ua":
            m3ua = build_m3ua_data(opc, dpc, si, 2, 0, i & 0x0F, data)
            src, dst = ("10.0.0.1", "10.0.0.2") if opc < dpc else ("10.0.0.2", "10.0.0.1")
            out.append(Record(ts, 1, 0, sctp_frame(src, dst, 2905, 2905, 3, m3ua, tsn=i + 1)))
        elif carrier == "mtp2":
            msu = build_mtp3(si, 2, opc, dpc, i & 0x0F, "itu", data)
            out.append(Record(ts, 140, 0, build_mtp2(msu, fsn=i & 0x7F, bsn=0)))
        else:
            raise ValueError(carrier)
    return out
