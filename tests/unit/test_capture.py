"""The capture reader and writers: pcap/pcapng, both byte orders, time resolutions, gzip, damage."""

from __future__ import annotations

import csv
import gzip
import io
import shutil
import struct
import subprocess
import time
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sigdiag.anomalies import CATALOGUE, Anomaly
from sigdiag.capture import (
    MAX_RECORD_BYTES,
    CaptureError,
    PcapngInterface,
    PcapngWriter,
    PcapWriter,
    formats,
    open_capture,
)
from sigdiag.capture.pcap import CHUNK_SIZE
from sigdiag.model import Frame

TS0 = 1_700_000_000.0


def read_all(source: Path | io.BytesIO | str) -> tuple[list[Frame], list[Anomaly]]:
    anomalies: list[Anomaly] = []
    frames = list(open_capture(source, anomalies))
    assert {a.name for a in anomalies} <= set(CATALOGUE)
    return frames, anomalies


def pcap_bytes(records: list[tuple[bytes, float]], linktype: int = 1, **kw: object) -> bytes:
    out = io.BytesIO()
    with PcapWriter(out, linktype, **kw) as w:  # type: ignore[arg-type]
        for data, ts in records:
            w.write(data, ts)
    return out.getvalue()


RECORDS = [(bytes([i]) * (10 + i), TS0 + i * 0.25 + 0.000001 * i) for i in range(5)]


# ------------------------------------------------------------------------------------------------
# classic pcap


@pytest.mark.parametrize("big_endian", [False, True])
@pytest.mark.parametrize("nanosecond", [False, True])
def test_pcap_byte_orders_and_resolutions(tmp_path: Path, big_endian: bool, nanosecond: bool) -> None:
    path = tmp_path / "x.pcap"
    path.write_bytes(pcap_bytes(RECORDS, 113, big_endian=big_endian, nanosecond=nanosecond))
    magic = path.read_bytes()[:4]
    expected_magic = {(False, False): "d4c3b2a1", (True, False): "a1b2c3d4", (False, True): "4d3cb2a1"}
    assert magic.hex() == expected_magic.get((big_endian, nanosecond), "a1b23c4d")
    frames, anomalies = read_all(path)
    assert anomalies == []
    assert [f.number for f in frames] == [1, 2, 3, 4, 5]
    assert [f.data for f in frames] == [d for d, _ in RECORDS]
    assert all(f.linktype == 113 and f.interface == 0 for f in frames)
    assert [f.orig_len for f in frames] == [len(d) for d, _ in RECORDS]
    for f, (_, ts) in zip(frames, RECORDS, strict=True):
        assert f.ts == pytest.approx(ts, abs=1e-6)


def test_pcap_nanosecond_fraction_is_kept() -> None:
    raw = struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 65535, 1)
    raw += struct.pack("<IIII", 1_700_000_000, 123_456_789, 3, 3) + b"abc"
    frames, _ = read_all(io.BytesIO(raw))
    assert frames[0].ts == pytest.approx(1_700_000_000.123456789, abs=5e-7)
    assert frames[0].ts != pytest.approx(1_700_000_000.123456, abs=5e-7)


def test_pcap_orig_len_and_fcs_bits_in_linktype() -> None:
    out = io.BytesIO()
    with PcapWriter(out, 1) as w:
        w.write(b"x" * 20, TS0, orig_len=1500)
    raw = bytearray(out.getvalue())
    raw[20:24] = struct.pack("<I", 0x1000_0000 | 1)  # FCS length bits set above the link type
    frames, _ = read_all(io.BytesIO(bytes(raw)))
    assert frames[0].orig_len == 1500 and len(frames[0].data) == 20 and frames[0].linktype == 1


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    records=st.lists(
        st.tuples(st.binary(max_size=300), st.integers(min_value=0, max_value=4_000_000_000 * 1_000_000)),
        max_size=30,
    ),
    big_endian=st.booleans(),
    nanosecond=st.booleans(),
    compress=st.booleans(),
    linktype=st.sampled_from([0, 1, 101, 113, 140, 276]),
)
def test_pcap_round_trip(
    records: list[tuple[bytes, int]], big_endian: bool, nanosecond: bool, compress: bool, linktype: int
) -> None:
    out = io.BytesIO()
    with PcapWriter(out, linktype, nanosecond=nanosecond, gzip=compress, big_endian=big_endian) as w:
        for data, micros in records:
            w.write(data, micros / 1e6)
    frames, anomalies = read_all(io.BytesIO(out.getvalue()))
    assert anomalies == []
    assert [f.data for f in frames] == [d for d, _ in records]
    assert [f.number for f in frames] == list(range(1, len(records) + 1))
    for f, (_, micros) in zip(frames, records, strict=True):
        assert f.linktype == linktype
        if nanosecond:
            assert f.ts == pytest.approx(micros / 1e6, abs=1e-6)
        else:
            assert f.ts == micros / 1e6  # microseconds survive exactly


def test_pcap_frames_have_every_field() -> None:
    """The classic pcap reader builds its frames attribute by attribute (no __init__ call, for speed):
    each must be what Frame(...) makes, with every dataclass field set."""
    import dataclasses

    out = io.BytesIO()
    with PcapWriter(out, 1) as w:
        w.write(b"\x01\x02\x03", 1.5)
    frames, _ = read_all(io.BytesIO(out.getvalue()))
    for f in frames:
        rebuilt = Frame(**{fld.name: getattr(f, fld.name) for fld in dataclasses.fields(Frame)})
        assert rebuilt == f
    assert frames == [Frame(1, 1.5, 1, b"\x01\x02\x03", 3, 0)]


# ------------------------------------------------------------------------------------------------
# pcapng


def test_pcapng_interfaces_resolutions_spb_and_skipped_blocks(tmp_path: Path) -> None:
    path = tmp_path / "x.pcapng"
    with PcapngWriter(
        path,
        [
            (1, "eth0"),  # microseconds (default)
            PcapngInterface(113, "any", tsresol=9),  # nanoseconds
            PcapngInterface(101, "raw", tsresol=0x80 | 20),  # 2^-20 s
            PcapngInterface(140, "mtp2", tsresol=3, tsoffset=1_000_000_000),  # milliseconds + offset
        ],
    ) as w:
        w.write(b"eth", TS0 + 0.5, 0)
        w.write_block(4, b"\x00\x00\x00\x00")  # Name Resolution Block (end of records only)
        w.write(b"sll", TS0 + 0.123456789, 1)
        w.write_block(5, struct.pack("<IIIHH", 0, 0, 0, 0, 0))  # Interface Statistics Block
        w.write(b"raw", TS0 + 0.75, 2)
        w.write_block(0x00000BAD, b"\x00\x00\x7f\x00custom")  # Custom Block
        w.write(b"mtp", TS0 + 1.5, 3)
        w.write_simple(b"simple")  # interface 0, no time stamp
        w.write_block(0x1234, b"what is this")  # unknown type: reported once
        w.write_block(0x1234, b"again")
        w.write(b"last", TS0 + 9, 0)
    frames, anomalies = read_all(path)
    assert [(f.number, f.data, f.linktype, f.interface) for f in frames] == [
        (1, b"eth", 1, 0),
        (2, b"sll", 113, 1),
        (3, b"raw", 101, 2),
        (4, b"mtp", 140, 3),
        (5, b"simple", 1, 0),
        (6, b"last", 1, 0),
    ]
    assert frames[0].ts == pytest.approx(TS0 + 0.5, abs=1e-6)
    assert frames[1].ts == pytest.approx(TS0 + 0.123456789, abs=3e-7)
    assert frames[2].ts == pytest.approx(TS0 + 0.75, abs=1e-6)
    assert frames[3].ts == pytest.approx(TS0 + 1.5, abs=1e-3)
    assert frames[4].ts == frames[3].ts  # SPB: the previous packet's time
    assert [a.name for a in anomalies] == ["pcapng.unsupported_block"]
    assert anomalies[0].frame == 6


@pytest.mark.parametrize("big_endian", [False, True])
def test_pcapng_sections_reset_interfaces(big_endian: bool) -> None:
    out = io.BytesIO()
    w = PcapngWriter(out, [(1, "a"), (113, "b")], big_endian=big_endian)
    w.write(b"1", TS0, 0)
    w.write(b"2", TS0 + 1, 1)
    w.new_section([(101, "c")])
    w.write(b"3", TS0 + 2, 0)
    w.close()
    raw = out.getvalue()
    # a third section in the other byte order, appended by hand
    other = io.BytesIO()
    with PcapngWriter(other, [PcapngInterface(276, "d", tsresol=9)], big_endian=not big_endian) as w2:
        w2.write(b"4", TS0 + 3, 0)
    frames, anomalies = read_all(io.BytesIO(raw + other.getvalue()))
    assert anomalies == []
    assert [(f.data, f.linktype, f.interface) for f in frames] == [
        (b"1", 1, 0),
        (b"2", 113, 1),
        (b"3", 101, 2),
        (b"4", 276, 3),
    ]
    assert [f.number for f in frames] == [1, 2, 3, 4]
    assert frames[3].ts == pytest.approx(TS0 + 3, abs=1e-6)


def test_pcapng_unknown_interface_and_obsolete_packet_block() -> None:
    out = io.BytesIO()
    w = PcapngWriter(out, [(1, "a")])
    w.write(b"ok", TS0, 0)
    w.close()
    raw = out.getvalue()
    epb = bytearray(raw[-36:])  # the EPB: 32 octets of header and trailer + 2 data + 2 pad
    epb[8:12] = struct.pack("<I", 7)  # interface 7 does not exist
    ticks = int(TS0 * 1e6)
    pb = struct.pack("<HHIIII", 0, 0, ticks >> 32, ticks & 0xFFFFFFFF, 3, 3) + b"old\0"
    pb_block = struct.pack("<II", 2, 12 + len(pb)) + pb + struct.pack("<I", 12 + len(pb))
    frames, anomalies = read_all(io.BytesIO(raw + bytes(epb) + pb_block))
    assert [(f.number, f.data) for f in frames] == [(1, b"ok"), (3, b"old")]
    assert [(a.name, a.frame) for a in anomalies] == [("pcapng.unknown_interface", 2)]


def test_pcapng_bad_trailer_length_stops() -> None:
    out = io.BytesIO()
    with PcapngWriter(out, [(1, "a")]) as w:
        w.write(b"one", TS0)
        w.write(b"two", TS0)
    raw = bytearray(out.getvalue())
    raw[-4:] = struct.pack("<I", 999)
    frames, anomalies = read_all(io.BytesIO(bytes(raw)))
    assert [f.data for f in frames] == [b"one"]
    assert [(a.name, a.frame) for a in anomalies] == [("pcapng.bad_block_length", 2)]


# ------------------------------------------------------------------------------------------------
# gzip


@pytest.mark.parametrize("kind", ["pcap", "pcapng"])
def test_gzip_detected_by_magic_not_name(tmp_path: Path, kind: str) -> None:
    path = tmp_path / f"capture.{kind}"  # no .gz suffix
    if kind == "pcap":
        with PcapWriter(path, 1, gzip=True) as w:
            for data, ts in RECORDS:
                w.write(data, ts)
    else:
        with PcapngWriter(path, [(1, "a"), (113, "b")], gzip=True) as w2:
            for i, (data, ts) in enumerate(RECORDS):
                w2.write(data, ts, i % 2)
    assert path.read_bytes()[:2] == b"\x1f\x8b"
    frames, anomalies = read_all(path)
    assert anomalies == []
    assert [f.data for f in frames] == [d for d, _ in RECORDS]


def test_gzip_multi_member_and_zero_padding() -> None:
    raw = pcap_bytes(RECORDS)
    blob = gzip.compress(raw[:100]) + gzip.compress(raw[100:]) + b"\0" * 16
    frames, anomalies = read_all(io.BytesIO(blob))
    assert anomalies == [] and len(frames) == 5


def test_gzip_cut_short_yields_what_was_readable() -> None:
    raw = pcap_bytes([(bytes(range(256)) * 4, TS0 + i) for i in range(200)])
    blob = gzip.compress(raw, compresslevel=1)
    frames, anomalies = read_all(io.BytesIO(blob[: len(blob) // 2]))
    assert 0 < len(frames) < 200
    assert [f.data for f in frames] == [bytes(range(256)) * 4] * len(frames)
    assert [a.name for a in anomalies] == ["gzip.corrupt"]
    assert anomalies[0].frame == len(frames) + 1


def test_gzip_garbage_inside_never_raises() -> None:
    raw = pcap_bytes([(bytes(range(256)) * 4, TS0 + i) for i in range(200)])
    blob = bytearray(gzip.compress(raw, compresslevel=1))
    blob[len(blob) // 2 :] = b"\xff" * (len(blob) - len(blob) // 2)
    frames, anomalies = read_all(io.BytesIO(bytes(blob)))
    # deflate may turn garbage into wrong bytes before it notices: the first frames are intact, then
    # one anomaly (gzip.corrupt, or what the garbage looked like to the pcap layer) ends the file
    assert frames[0].data == bytes(range(256)) * 4 and len(frames) < 200
    assert len(anomalies) == 1


def test_gzip_bad_crc_is_corrupt() -> None:
    blob = bytearray(gzip.compress(pcap_bytes(RECORDS)))
    blob[-8] ^= 0xFF  # CRC32 of the trailer
    frames, anomalies = read_all(io.BytesIO(bytes(blob)))
    assert len(frames) == 5
    assert [a.name for a in anomalies] == ["gzip.corrupt"]


def test_gzip_of_something_else_is_not_a_capture(tmp_path: Path) -> None:
    path = tmp_path / "notes.gz"
    path.write_bytes(gzip.compress(b"hello, world\n"))
    with pytest.raises(CaptureError, match=r"notes\.gz"):
        open_capture(path, [])


# ------------------------------------------------------------------------------------------------
# damage


def _pcap_boundaries(raw: bytes, order: str) -> list[int]:
    ends = [24]
    pos = 24
    while pos < len(raw):
        incl = struct.unpack_from(order + "I", raw, pos + 8)[0]
        pos += 16 + incl
        ends.append(pos)
    return ends


@pytest.mark.parametrize("big_endian", [False, True])
def test_pcap_truncated_at_every_offset(big_endian: bool) -> None:
    raw = pcap_bytes(RECORDS[:3], big_endian=big_endian)
    ends = _pcap_boundaries(raw, ">" if big_endian else "<")
    for cut in range(len(raw) + 1):
        data = raw[:cut]
        if cut < 4:
            with pytest.raises(CaptureError):
                open_capture(io.BytesIO(data), [])
            continue
        frames, anomalies = read_all(io.BytesIO(data))
        complete = sum(1 for e in ends[1:] if e <= cut)
        assert len(frames) == complete, cut
        assert [f.data for f in frames] == [d for d, _ in RECORDS[:complete]]
        if cut in ends:
            assert anomalies == [], cut
        else:
            assert len(anomalies) == 1, cut
            expected = "pcap.truncated_header"
            if cut > 24 and cut - max(e for e in ends if e <= cut) >= 16:
                expected = "pcap.truncated_record"
            assert anomalies[0].name == expected, cut
            assert anomalies[0].frame == complete + 1, cut


def test_pcapng_truncated_at_every_offset() -> None:
    out = io.BytesIO()
    with PcapngWriter(out, [(1, "eth0"), (113, "")]) as w:
        w.write(b"abcde", TS0, 0)
        w.write_simple(b"xyz")
        w.write(b"0123456789", TS0 + 1, 1)
    raw = out.getvalue()
    ends = []
    pos = 0
    packets = []
    while pos < len(raw):
        btype, blen = struct.unpack_from("<II", raw, pos)
        pos += blen
        ends.append(pos)
        if btype in (3, 6):
            packets.append(pos)
    for cut in range(4, len(raw) + 1):
        frames, anomalies = read_all(io.BytesIO(raw[:cut]))
        assert len(frames) == sum(1 for e in packets if e <= cut), cut
        if cut in ends:
            assert anomalies == [], cut
        else:
            assert [a.name for a in anomalies] == ["pcapng.truncated_block"], cut
            assert anomalies[0].frame == len(frames) + 1


def test_gzip_truncated_at_every_offset() -> None:
    raw = pcap_bytes(RECORDS)
    blob = gzip.compress(raw)
    for cut in range(len(blob)):
        try:
            frames, anomalies = read_all(io.BytesIO(blob[:cut]))
        except CaptureError:
            continue  # too little survives to see a capture header
        assert [a.name for a in anomalies] == ["gzip.corrupt"], cut
        assert [f.data for f in frames] == [d for d, _ in RECORDS[: len(frames)]]


def test_oversized_record_header_is_not_allocated() -> None:
    raw = pcap_bytes(RECORDS[:2]) + struct.pack("<IIII", 1, 0, 0xFFFFFFF0, 0xFFFFFFF0) + b"tail"
    tracemalloc.start()
    try:
        frames, anomalies = read_all(io.BytesIO(raw))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(frames) == 2
    assert [(a.name, a.frame) for a in anomalies] == [("pcap.oversized_record", 3)]
    assert peak < 16 << 20
    assert MAX_RECORD_BYTES >= 262144


def test_pcapng_oversized_blocks() -> None:
    out = io.BytesIO()
    with PcapngWriter(out, [(1, "")]) as w:
        w.write(b"ok", TS0)
    head = out.getvalue()
    # a 4 GB Enhanced Packet Block: oversized, stop
    huge_epb = struct.pack("<II", 6, 0xFFFFFFF0) + b"\0" * 40
    frames, anomalies = read_all(io.BytesIO(head + huge_epb))
    assert len(frames) == 1 and [a.name for a in anomalies] == ["pcap.oversized_record"]
    # a 4 GB Name Resolution Block: skipped without being held in memory, then the file ends
    huge_nrb = struct.pack("<II", 4, 0xFFFFFFF0) + b"\0" * 40
    tracemalloc.start()
    try:
        frames, anomalies = read_all(io.BytesIO(head + huge_nrb))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(frames) == 1 and [a.name for a in anomalies] == ["pcapng.truncated_block"]
    assert peak < 16 << 20
    # a large (2 MiB) custom block in the middle is skipped and reading goes on
    body = b"\0" * (2 << 20)
    big_custom = struct.pack("<II", 0xBAD, 12 + len(body)) + body + struct.pack("<I", 12 + len(body))
    frames, anomalies = read_all(io.BytesIO(head + big_custom + head[-36:]))
    assert [f.data for f in frames] == [b"ok", b"ok"] and anomalies == []


def test_streaming_memory_is_bounded(tmp_path: Path) -> None:
    path = tmp_path / "big.pcap"
    payload = bytes(range(200))
    with PcapWriter(path, 1) as w:
        for i in range(40_000):  # ~8.6 MB
            w.write(payload, TS0 + i)
    anomalies: list[Anomaly] = []
    tracemalloc.start()
    try:
        count = 0
        for _frame in open_capture(path, anomalies):
            count += 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 40_000 and anomalies == []
    assert peak < 4 * CHUNK_SIZE


# ------------------------------------------------------------------------------------------------
# not a capture


def test_not_a_capture(tmp_path: Path) -> None:
    empty = tmp_path / "empty.pcap"
    empty.write_bytes(b"")
    text = tmp_path / "readme.txt"
    text.write_text("this is not a capture at all\n")
    short = tmp_path / "short.pcap"
    short.write_bytes(b"\xd4\xc3")
    for path, words in [
        (empty, "empty"),
        (text, "not a pcap or pcapng"),
        (short, "not a pcap or pcapng"),
        (tmp_path, "cannot open"),
        (tmp_path / "missing.pcap", "cannot open"),
    ]:
        with pytest.raises(CaptureError) as info:
            open_capture(path, [])
        message = str(info.value)
        assert str(path) in message and words in message and "\n" not in message


def test_file_object_is_not_closed() -> None:
    f = io.BytesIO(pcap_bytes(RECORDS))
    frames, _ = read_all(f)
    assert len(frames) == 5 and not f.closed


def test_partial_iteration_can_be_closed(tmp_path: Path) -> None:
    path = tmp_path / "x.pcap"
    path.write_bytes(pcap_bytes(RECORDS))
    it = open_capture(str(path), [])
    assert len(list(it)) == 5
    partial = open_capture(path, [])
    next(partial)
    partial.close()  # type: ignore[attr-defined]


def test_read_speed_sanity(tmp_path: Path) -> None:
    """Not a benchmark: catches accidental per-record file reads or quadratic buffering."""
    path = tmp_path / "speed.pcap"
    n = 100_000
    with PcapWriter(path, 1) as w:
        data = bytes(120)
        for i in range(n):
            w.write(data, TS0 + i * 1e-4)
    start = time.perf_counter()
    count = sum(1 for _ in open_capture(path, []))
    elapsed = time.perf_counter() - start
    assert count == n
    assert n / elapsed > 50_000, f"{n / elapsed:.0f} records/s"


# ------------------------------------------------------------------------------------------------
# the real captures


def _manifest(shared: Path) -> list[dict[str, str]]:
    with (shared / "MANIFEST.tsv").open(newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


@pytest.mark.shared
def test_shared_capture_frame_counts(shared_captures: Path) -> None:
    for row in _manifest(shared_captures):
        frames, anomalies = read_all(shared_captures / row["local_name"])
        assert len(frames) == int(row["frames"]), row["local_name"]
        assert anomalies == [], row["local_name"]
        assert [f.number for f in frames] == list(range(1, len(frames) + 1))


@pytest.mark.shared
@pytest.mark.tshark
@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
def test_shared_capture_numbers_and_times_match_tshark(shared_captures: Path, tmp_path: Path) -> None:
    paths = [shared_captures / row["local_name"] for row in _manifest(shared_captures)]
    # the same captures rewritten as pcapng and gzip-compressed must read the same
    for path in list(paths):
        frames, _ = read_all(path)
        ng = tmp_path / (path.name + ".pcapng")
        with PcapngWriter(ng, [PcapngInterface(frames[0].linktype, "x", tsresol=9)], gzip=True) as w:
            for f in frames:
                w.write(f.data, f.ts, orig_len=f.orig_len)
        paths.append(ng)
    for path in paths:
        out = subprocess.run(
            [
                "tshark",
                "-r",
                str(path),
                "-T",
                "fields",
                "-e",
                "frame.number",
                "-e",
                "frame.time_epoch",
                "-e",
                "frame.len",
                "-e",
                "frame.cap_len",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        theirs = [line.split("\t") for line in out.splitlines()]
        frames, _ = read_all(path)
        assert len(frames) == len(theirs), path.name
        for f, (number, epoch, length, caplen) in zip(frames, theirs, strict=True):
            assert f.number == int(number)
            assert f.ts == pytest.approx(float(epoch), abs=1e-6), (path.name, f.number)
            assert f.orig_len == int(length) and len(f.data) == int(caplen)


# ------------------------------------------------------------------------------------------------
# round trips at the format module: capture.formats builds what the reader reads, and back


@settings(max_examples=50, deadline=None)
@given(
    linktype=st.sampled_from([1, 113, 140, 276]),
    snaplen=st.integers(64, 262144),
    nanosecond=st.booleans(),
    big_endian=st.booleans(),
    records=st.lists(st.tuples(st.integers(0, 2**31), st.binary(max_size=64)), max_size=5),
)
def test_pcap_format_round_trip(
    linktype: int, snaplen: int, nanosecond: bool, big_endian: bool, records: list[tuple[int, bytes]]
) -> None:
    order = ">" if big_endian else "<"
    head = formats.pcap_file_header(linktype, snaplen=snaplen, nanosecond=nanosecond, big_endian=big_endian)
    assert formats.PCAP_MAGICS[head[:4]] == (order, 1_000_000_000 if nanosecond else 1_000_000)
    magic, major, minor, _zone, _sigfigs, got_snaplen, got_linktype = formats.pcap_header_struct(
        order
    ).unpack(head)
    assert (major, minor, got_snaplen, got_linktype) == (2, 4, snaplen, linktype)
    assert magic == (formats.PCAP_MAGIC_NS if nanosecond else formats.PCAP_MAGIC)
    rec = formats.pcap_record_struct(order)
    body = b"".join(rec.pack(sec, 5, len(d), len(d) + 1) + d for sec, d in records)
    frames = list(open_capture(io.BytesIO(head + body), []))
    assert [(f.linktype, f.data, f.orig_len) for f in frames] == [
        (linktype, d, len(d) + 1) for _, d in records
    ]
    units = 1_000_000_000 if nanosecond else 1_000_000
    assert [f.ts for f in frames] == [(sec * units + 5) / units for sec, _ in records]
    # parse -> build: the records rebuilt from the frames are the file's octets
    again = b"".join(rec.pack(int(f.ts), 5, len(f.data), f.orig_len) + f.data for f in frames)
    assert again == body


@settings(max_examples=50, deadline=None)
@given(
    big_endian=st.booleans(),
    ifaces=st.lists(st.tuples(st.sampled_from([1, 140, 276]), st.text(max_size=8)), min_size=1, max_size=3),
    packets=st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2**50), st.binary(max_size=50)), max_size=6),
)
def test_pcapng_format_round_trip(
    big_endian: bool, ifaces: list[tuple[int, str]], packets: list[tuple[int, int, bytes]]
) -> None:
    order = ">" if big_endian else "<"
    blocks = [formats.pcapng_shb([(formats.OPT_SHB_USERAPPL, b"test")], order)]
    blocks += [
        formats.pcapng_idb(
            lt, 0, [(formats.OPT_IF_NAME, name.encode()), (formats.OPT_IF_TSRESOL, b"\x09")], order
        )
        for lt, name in ifaces
    ]
    packets = [(i % len(ifaces), ticks, data) for i, ticks, data in packets]
    blocks += [formats.pcapng_epb(data, ticks, i, None, order) for i, ticks, data in packets]
    for block in blocks:  # every block: type, total length, body, total length again
        btype, total = struct.unpack_from(order + "II", block)
        assert btype in (formats.PCAPNG_SHB, formats.PCAPNG_IDB, formats.PCAPNG_EPB)
        assert total == len(block) and total % 4 == 0 and block[-4:] == block[4:8]
    assert struct.unpack_from(order + "I", blocks[0], 8) == (formats.PCAPNG_BYTE_ORDER_MAGIC,)
    anomalies: list[Anomaly] = []
    frames = list(open_capture(io.BytesIO(b"".join(blocks)), anomalies))
    assert anomalies == []
    assert [(f.interface, f.linktype, f.data) for f in frames] == [
        (i, ifaces[i][0], d) for i, _t, d in packets
    ]
    assert [f.ts for f in frames] == [t / 1e9 for _i, t, _d in packets]
    # parse -> build: each frame's block rebuilt from its fields is the same octets
    again = [formats.pcapng_epb(f.data, round(f.ts * 1e9), f.interface, f.orig_len, order) for f in frames]
    assert again == blocks[1 + len(ifaces) :]
