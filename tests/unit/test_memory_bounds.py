"""Memory bounded on purpose (issue 14, point 5): hostile inputs keep memory under documented bounds.

* (a) a capture record or pcapng block claiming gigabytes, a lying snapshot length, a gzip bomb: the
  reader allocates nothing for the claim, names the frame (``pcap.oversized_record``) and stops;
* (b) a flood of IAMs never released, of messages without an IAM, of released calls and of circuit
  supervision, with time stamps that advance or not: every table of the correlator stays under its bound
  (``max_open_calls``, ``max_parked``, ``max_sightings``, ``max_circuits``) and ``bound_warnings`` says
  what it dropped and how much;
* (c) a flood of distinct called numbers in a repeat-attempts window: the rule keeps at most
  ``max_groups`` groups, says how many it dropped, and still finds the repeats.

The inputs are built here, with the codec's encoder (one IAM template whose CIC and digits are patched),
the capture writer and zlib; the memory is the peak that :mod:`tracemalloc` sees.  Flatness is shown by
running each flood at two sizes: the peak of the larger one is no more than a small figure above the
smaller one's, whatever the number of items.
"""

from __future__ import annotations

import io
import struct
import tracemalloc
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from sigdiag.anomalies import Anomaly
from sigdiag.calls import CallSettings, Correlator
from sigdiag.calls.correlate import Call
from sigdiag.calls.outcomes import load_outcomes
from sigdiag.capture import CaptureError, open_capture
from sigdiag.capture.pcap import MAX_RECORD_BYTES, MAX_RECORD_VARIABLE, record_limit
from sigdiag.capture.writer import PcapWriter
from sigdiag.codec.isup import decode_payload
from sigdiag.model import Message, Payload
from sigdiag.rules.engine import DEFAULT_MAX_GROUPS, Engine
from sigdiag.rules.loader import RuleError, RuleSet, load_rules
from tests.unit.test_calls_builder import body

T0 = 1_700_000_000.0
MB = 1 << 20


def peak_of(fn: Callable[[], Any]) -> tuple[int, Any]:
    """The peak of traced memory while ``fn`` runs (octets), and its result."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        result = fn()
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    return peak, result


# ------------------------------------------------------------------------------------------------
# (a) the capture reader


def pcap_header(snaplen: int = 65535, linktype: int = 1) -> bytes:
    return struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen, linktype)


def record(data: bytes, i: int, incl: int | None = None) -> bytes:
    n = len(data) if incl is None else incl
    return struct.pack("<IIII", int(T0) + i, 0, n, n) + data


def read_all(source: Any, **kw: Any) -> tuple[list[Any], list[Anomaly]]:
    anomalies: list[Anomaly] = []
    frames = list(open_capture(source, anomalies, **kw))
    return frames, anomalies


def test_pcap_record_claiming_4_gb_is_not_allocated() -> None:
    good = [bytes([i]) * 60 for i in range(5)]
    raw = pcap_header() + b"".join(record(d, i) for i, d in enumerate(good))
    raw += struct.pack("<IIII", int(T0) + 9, 0, 0xFFFFFFF0, 0xFFFFFFF0) + b"\0" * 1000
    peak, (frames, anomalies) = peak_of(lambda: read_all(io.BytesIO(raw)))
    assert [f.data for f in frames] == good
    assert [(a.name, a.frame) for a in anomalies] == [("pcap.oversized_record", 6)]
    assert "4294967280" in anomalies[0].detail and str(MAX_RECORD_BYTES) in anomalies[0].detail
    assert peak < 4 * MB, peak


def test_pcapng_packet_block_claiming_4_gb_is_not_allocated() -> None:
    shb = struct.pack("<IIIHHq", 0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0, -1) + struct.pack("<I", 28)
    idb = struct.pack("<IIHHI", 1, 20, 1, 0, 0xFFFFFFFF) + struct.pack("<I", 20)  # snaplen 4 GB
    data = b"x" * 64
    epb = struct.pack("<IIIIIII", 6, 32 + 64, 0, 0, 0, 64, 64) + data + struct.pack("<I", 32 + 64)
    huge = struct.pack("<IIIIIII", 6, 0xFFFFFFF0, 0, 0, 0, 0xFFFFFFC0, 0xFFFFFFC0) + b"\0" * 4000
    peak, (frames, anomalies) = peak_of(lambda: read_all(io.BytesIO(shb + idb + epb + epb + huge)))
    assert [f.data for f in frames] == [data, data]
    assert [(a.name, a.frame) for a in anomalies] == [("pcap.oversized_record", 3)]
    assert peak < 4 * MB, peak


def test_snaplen_lie_is_not_used_for_sizing() -> None:
    """A file header claiming a 4 GB snapshot length, with ordinary records: read as usual, in little
    memory; a record larger than the (lying, small) snapshot length is read whole, not cut or refused."""
    frames_in = [bytes([i % 256]) * 200 for i in range(2000)]
    raw = pcap_header(snaplen=0xFFFFFFFF) + b"".join(record(d, i) for i, d in enumerate(frames_in))
    peak, count = peak_of(lambda: sum(1 for _ in open_capture(io.BytesIO(raw), [])))
    assert count == 2000 and peak < 4 * MB, peak
    small = pcap_header(snaplen=64) + record(b"y" * 1500, 0)
    frames, anomalies = read_all(io.BytesIO(small))
    assert [len(f.data) for f in frames] == [1500] and anomalies == []


def _deflate_bomb(prefix: bytes, zeros: int) -> bytes:
    """A gzip member: ``prefix`` then ``zeros`` zero octets, made without compressing them all (one
    compressed MiB of zeros, flushed to a byte boundary, repeated: each piece decodes on its own since
    the zeros it refers back to are zeros whatever precedes).  The trailer's CRC is not that of the
    data: the reader stops long before it."""
    co = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = co.compress(prefix) + co.flush(zlib.Z_FULL_FLUSH)
    piece = co.compress(b"\0" * MB) + co.flush(zlib.Z_FULL_FLUSH)
    tail = co.flush(zlib.Z_FINISH)
    deflate = head + piece * (zeros // MB) + tail
    return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + deflate + struct.pack("<II", 0, 0)


def test_gzip_bomb_of_one_record_stops_at_its_header(tmp_path: Path) -> None:
    """4 KB of gzip that would inflate to 4 GiB: one record header claiming it all, then zeros."""
    good = [b"a" * 100, b"b" * 100]
    prefix = pcap_header() + b"".join(record(d, i) for i, d in enumerate(good))
    prefix += struct.pack("<IIII", int(T0) + 5, 0, 0xFFFF0000, 0xFFFF0000)
    bomb = _deflate_bomb(prefix, 4 << 30)
    assert len(bomb) < 5 * MB
    path = tmp_path / "bomb.pcap.gz"
    path.write_bytes(bomb)
    peak, (frames, anomalies) = peak_of(lambda: read_all(path))
    assert [f.data for f in frames] == good
    assert [(a.name, a.frame) for a in anomalies] == [("pcap.oversized_record", 3)]
    assert peak < 8 * MB, peak


def test_gzip_bomb_of_a_skipped_block_streams(tmp_path: Path) -> None:
    """A pcapng custom block of 256 MiB of zeros inside a small gzip file is inflated and skipped a
    chunk at a time (memory, not time, is what is bounded); the packets around it are read."""
    shb = struct.pack("<IIIHHq", 0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0, -1) + struct.pack("<I", 28)
    idb = struct.pack("<IIHHI", 1, 20, 1, 0, 0) + struct.pack("<I", 20)
    epb = struct.pack("<IIIIIII", 6, 32 + 8, 0, 0, 0, 8, 8) + b"payload!" + struct.pack("<I", 40)
    size = 256 * MB
    blen = 12 + size
    co = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip framing, correct CRC
    parts = [co.compress(shb + idb + epb + struct.pack("<II", 0xBAD, blen))]
    chunk = b"\0" * MB
    for _ in range(size // MB):
        parts.append(co.compress(chunk))
    parts.append(co.compress(struct.pack("<I", blen) + epb))
    parts.append(co.flush())
    path = tmp_path / "bomb.pcapng.gz"
    path.write_bytes(b"".join(parts))
    assert path.stat().st_size < 2 * MB
    peak, (frames, anomalies) = peak_of(lambda: read_all(path))
    assert [f.data for f in frames] == [b"payload!", b"payload!"] and anomalies == []
    assert peak < 8 * MB, peak


def test_record_limit_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    data = b"z" * 300_000  # above 256 KiB, below the default limit
    raw = pcap_header() + record(b"ok", 0) + record(data, 1) + record(b"after", 2)
    frames, anomalies = read_all(io.BytesIO(raw))
    assert [len(f.data) for f in frames] == [2, 300_000, 5] and anomalies == []
    frames, anomalies = read_all(io.BytesIO(raw), max_record=256 << 10)
    assert [f.data for f in frames] == [b"ok"]
    assert [(a.name, a.frame) for a in anomalies] == [("pcap.oversized_record", 2)]
    assert "limit 262144" in anomalies[0].detail
    monkeypatch.setenv(MAX_RECORD_VARIABLE, str(256 << 10))
    assert record_limit() == 256 << 10
    frames, anomalies = read_all(io.BytesIO(raw))
    assert len(frames) == 1 and anomalies[0].name == "pcap.oversized_record"
    for bad in ("lots", "0", str(2 << 30)):
        monkeypatch.setenv(MAX_RECORD_VARIABLE, bad)
        with pytest.raises(CaptureError, match=MAX_RECORD_VARIABLE):
            read_all(io.BytesIO(raw))
    monkeypatch.delenv(MAX_RECORD_VARIABLE)
    with pytest.raises(CaptureError, match="max_record"):
        read_all(io.BytesIO(raw), max_record=10)


def test_big_file_is_streamed(tmp_path: Path) -> None:
    """Memory does not grow with the file: 16 MB of records read with the peak of a few chunks."""
    path = tmp_path / "big.pcap"
    with PcapWriter(path, 1) as w:
        payload = bytes(range(256)) * 4
        for i in range(16_000):
            w.write(payload, T0 + i)
    peak, count = peak_of(lambda: sum(1 for _ in open_capture(path, [])))
    assert count == 16_000 and peak < 4 * MB, peak


# ------------------------------------------------------------------------------------------------
# (b) the correlator

_IAM = body("IAM", 0, called="045300000000")
_AT = _IAM.index(bytes((0x40, 0x35))) + 2  # the eight digits after 0453


def _digits(i: int) -> bytes:
    d = f"{i:08d}"
    return bytes(int(d[k]) | int(d[k + 1]) << 4 for k in range(0, 8, 2))


def _circuit(i: int) -> tuple[int, int]:
    """Circuit ``i``: (DPC, CIC), 4096 circuits per point-code pair from 100."""
    return 1000 + i // 4096, i % 4096


def iam(i: int, ts: float, frame: int, number: int | None = None) -> Message:
    """An IAM on circuit ``i`` to 0453 + ``number`` (default ``i``) in eight digits."""
    dpc, cic = _circuit(i)
    raw = cic.to_bytes(2, "little") + _IAM[2:_AT] + _digits(i if number is None else number) + _IAM[_AT + 4 :]
    m = decode_payload(Payload(frame, ts, "m3ua", "isup", "itu", "itu", 100, dpc, 2, 0, raw, True))
    assert m.type == "IAM" and not m.anomalies
    return m


_TEMPLATES = {typ: body(typ, 0, cause=16) for typ in ("ANM", "REL", "RLC", "BLO", "RSC")}


def other(typ: str, i: int, ts: float, frame: int, fwd: bool) -> Message:
    dpc, cic = _circuit(i)
    opc, dpc = (100, dpc) if fwd else (dpc, 100)
    raw = cic.to_bytes(2, "little") + _TEMPLATES[typ][2:]
    return decode_payload(Payload(frame, ts, "m3ua", "isup", "itu", "itu", opc, dpc, 2, 0, raw, True))


def flood(kind: str, n: int) -> Iterator[Message]:
    """``n`` items of a hostile stream (generated, never held):

    * ``iam``: IAMs on distinct circuits, 1000 a second, never answered nor released;
    * ``burst``: the same, all at one instant (no window ever passes);
    * ``parked``: answers (ANM) with no IAM on distinct circuits, at one instant;
    * ``released``: whole calls (IAM, REL, RLC) on distinct circuits, at one instant;
    * ``circuits``: BLO and RSC on distinct circuits, at one instant.
    """
    frame = 0
    for i in range(n):
        ts = T0 + i * 0.001 if kind == "iam" else T0
        frame += 1
        if kind in ("iam", "burst"):
            yield iam(i, ts, frame)
        elif kind == "parked":
            yield other("ANM", i, ts, frame, False)
        elif kind == "released":
            yield iam(i, ts, frame)
            yield other("REL", i, ts, frame + 1, True)
            yield other("RLC", i, ts, frame + 2, False)
            frame += 2
        elif kind == "circuits":
            yield other("BLO" if i % 2 else "RSC", i, ts, frame, True)


#: small bounds, so that the floods pass them many times over in a short test
SMALL = {"max_open_calls": 1000, "max_parked": 1000, "max_sightings": 1500, "max_circuits": 2000}
KB = 1024


def documented_bound(s: dict[str, int]) -> int:
    """The correlator's worst case by the per-entry costs of docs/calls.md ("Memory bounds"): open calls
    and a quarter of them twice more (lingering, held), sightings (each with the call of its message),
    parked messages, circuit entries; and 2 MB for the rest."""
    calls = 2.2 * KB * 1.5 * s["max_open_calls"]
    return (
        int(calls + 2.7 * KB * s["max_sightings"] + 0.9 * KB * s["max_parked"] + 1.2 * KB * s["max_circuits"])
        + 2 * MB
    )


#: read once (reading a configuration file is not what is measured here)
OUTCOMES = load_outcomes()


def correlate(kind: str, n: int, **settings: Any) -> tuple[Correlator, dict[str, int]]:
    """Run a flood through a correlator, counting the calls by end reason (the calls are not kept)."""
    c = Correlator(CallSettings(**{"keep_messages": False, **settings}), OUTCOMES)
    ends: dict[str, int] = {}
    for call in c.run(flood(kind, n)):
        reason = str(call.end_reason)
        ends[reason] = ends.get(reason, 0) + 1
    return c, ends


def _flat(kind: str, n: int, **settings: Any) -> tuple[int, int, Correlator, dict[str, int]]:
    small, _ = peak_of(lambda: correlate(kind, n, **settings))
    large, (c, ends) = peak_of(lambda: correlate(kind, 2 * n, **settings))
    return small, large, c, ends


@pytest.mark.parametrize("kind", ["iam", "burst"])
def test_iams_never_released(kind: str) -> None:
    n = 10_000
    small, large, c, ends = _flat(kind, n, **SMALL)
    # memory is flat: twice the IAMs cost (almost) nothing more
    assert large - small < 1 * MB, (small, large)
    assert large < documented_bound(SMALL), large
    # the open-call table was full: every call it held at the end is written out open, the rest evicted
    cap = SMALL["max_open_calls"]
    assert ends == {"evicted": c.evictions, "open": 2 * n - c.evictions}
    assert cap - cap // 1024 <= ends["open"] <= cap
    assert "circuits" not in c.forgotten  # IAMs keep no per-circuit state beside their calls
    if kind == "burst":  # no window passes: copy detection forgets what its bound cannot hold
        assert c.forgotten["sightings"] == 2 * n - SMALL["max_sightings"]
    else:  # 1000 a second: sightings leave with time
        assert "sightings" not in c.forgotten
    warnings = c.bound_warnings()
    assert warnings[0] == (
        f"{c.evictions} open calls evicted (max_open_calls {cap}): written out unfinished, end_reason evicted"
    )
    assert not any("per-circuit entries forgotten" in w for w in warnings)
    assert all("(max_" in w for w in warnings)


def test_messages_without_an_iam() -> None:
    n = 10_000
    small, large, c, ends = _flat("parked", n, **SMALL)
    assert large - small < 1 * MB and large < documented_bound(SMALL), (small, large)
    assert ends == {} and c.orphan_count == 2 * n
    assert c.forgotten["parked"] == 2 * n - SMALL["max_parked"]
    assert c.forgotten["sightings"] == 2 * n - SMALL["max_sightings"]
    assert f"{2 * n - SMALL['max_parked']} parked messages reported as orphans" in "\n".join(
        c.bound_warnings()
    )


def test_released_calls_at_one_instant() -> None:
    n = 5_000
    small, large, c, ends = _flat("released", n, **SMALL)
    assert large - small < 1 * MB and large < documented_bound(SMALL), (small, large)
    assert ends == {"released": 2 * n} and c.evictions == 0  # released calls are not "evicted"
    assert c.forgotten.get("held", 0) + c.forgotten.get("lingering", 0) > 0
    assert c.forgotten["sightings"] == 6 * n - SMALL["max_sightings"]


def test_circuit_supervision_flood() -> None:
    n = 10_000
    small, large, c, _ = _flat("circuits", n, **SMALL)
    assert large - small < 1 * MB and large < documented_bound(SMALL), (small, large)
    assert c.circuit_event_count == 2 * n
    # blocked circuits and pending resets (n each) beyond 4000, and the recent-message table
    assert c.forgotten["circuits"] >= 2 * (n - SMALL["max_circuits"])


def test_no_warning_on_ordinary_traffic() -> None:
    c, ends = correlate("iam", 5000)
    assert ends == {"open": 5000} and c.bound_warnings() == [] and c.forgotten == {}


def test_bound_settings_are_validated() -> None:
    from sigdiag.settings import ConfigError

    s = CallSettings().with_assignments(["max_parked=10", "max_sightings=20", "max_circuits=30"])
    assert (s.max_parked, s.max_sightings, s.max_circuits) == (10, 20, 30)
    for bad in ("max_parked=0", "max_circuits=-5", "max_sightings=lots"):
        with pytest.raises(ConfigError, match=bad.split("=")[0]):
            CallSettings().with_assignments([bad])


def test_eviction_of_a_full_table_stays_fast() -> None:
    """Evicting from a full open-call table costs the same per call whatever the table's size (taking
    the oldest key of a dict one at a time rescans the deleted slots: seconds per thousand calls)."""
    import time

    start = time.perf_counter()
    c, ends = correlate("iam", 40_000, max_open_calls=10_000)
    elapsed = time.perf_counter() - start
    assert ends["evicted"] == c.evictions >= 30_000
    assert elapsed < 20, elapsed


# ------------------------------------------------------------------------------------------------
# (c) the rule engine: repeat-attempts


def repeat_rules(**settings: Any) -> RuleSet:
    rules = load_rules(settings={"repeat-attempts": settings} if settings else None)
    return RuleSet([rules["repeat-attempts"]])


def calls_to(numbers: Sequence[int], span_s: float) -> Iterator[Call]:
    """Finished calls (built from IAMs directly, one at a time), one per number, spread over ``span_s``
    seconds."""
    n = len(numbers)
    for i, number in enumerate(numbers):
        ts = T0 + i * span_s / n
        m = iam(i % 1_000_000, ts, i + 1, number)
        call = Call(i + 1, ("isup", 100, m.dpc, m.cic), m, False)
        call.end_reason = "released"
        call.end_ts = ts
        yield call


class _Same(Sequence[int]):
    """``n`` times one number, without a list."""

    def __init__(self, number: int, n: int) -> None:
        self.number, self.n = number, n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: Any) -> Any:
        return self.number

    def __iter__(self) -> Iterator[int]:
        return (self.number for _ in range(self.n))


def run_engine(rules: RuleSet, calls: Iterator[Call]) -> tuple[Engine, list[Any]]:
    e = Engine(rules)
    found = list(e.run(calls))
    return e, found


def _numbers(n: int) -> list[int]:
    """``n`` distinct numbers, with one number (99999999) called four times among the last ones."""
    out = list(range(n))
    for k in (10, 30, 50, 70):
        out.insert(len(out) - k, 99_999_999)
    return out


def test_distinct_numbers_in_a_repeat_window() -> None:
    rules = repeat_rules(max_groups=2000)
    n = 15_000
    few, many = _numbers(n), _numbers(2 * n)  # (made before the measure)
    small, _ = peak_of(lambda: run_engine(rules, calls_to(few, 250.0)))
    large, (e, found) = peak_of(lambda: run_engine(rules, calls_to(many, 250.0)))
    assert large - small < 1 * MB, (small, large)
    assert large < 2000 * KB + 2 * MB, large  # 0.5 KB a group (docs/rules.md), and 2 MB for the rest
    # the repeats are still found: one finding, for the number called four times
    assert [(f.rule, f.called, f.count) for f in found] == [("repeat-attempts", "045399999999", 4)]
    dropped = e.evicted["repeat-attempts"]
    assert 2 * n - 2000 <= dropped <= 2 * n  # every number but those of the last 2000 calls
    assert e.bound_warnings() == [
        f"rule repeat-attempts: {dropped} groups (by called) dropped beyond max_groups 2000: "
        "a burst spanning them may be missed or split"
    ]


def test_a_million_attempts_to_one_number_keep_few_entries() -> None:
    """A count rule's open burst counts its records; the window keeps only ``count`` of them."""
    rules = repeat_rules()
    n = 10_000
    small, _ = peak_of(lambda: run_engine(rules, calls_to(_Same(7, n), 200.0)))
    large, (e, found) = peak_of(lambda: run_engine(rules, calls_to(_Same(7, 2 * n), 200.0)))
    assert large - small < 1 * MB, (small, large)
    assert [(f.called, f.count, len(f.calls or [])) for f in found] == [("045300000007", 2 * n, 1000)]
    assert e.evicted == {} and e.bound_warnings() == []
    assert sum(len(w.entries) for w in e.windows.values()) <= 4


def test_max_groups_default_and_validation() -> None:
    e = Engine(repeat_rules())
    assert e.max_groups["repeat-attempts"] == 100_000 == DEFAULT_MAX_GROUPS
    with pytest.raises(RuleError, match="max_groups"):
        Engine(repeat_rules(max_groups=0))


def test_share_rule_groups_are_evaluated_early() -> None:
    """A share rule (trunk-loss-rate) over more trunks than ``max_groups``: the oldest trunks' bins are
    evaluated at once (their findings come then) and dropped, and the warning says how many."""
    rule = load_rules()["trunk-loss-rate"]
    e = Engine(RuleSet([replace(rule, settings={**rule.settings, "max_groups": 10})]))
    for i, call in enumerate(calls_to(range(100), 50.0)):
        call.opc, call.dpc = 100, 2000 + i  # a trunk per call, all its calls lost
        call.outcome = "network"
        e.refine(call)
    held = len(e._bins)
    e.finish()
    assert held <= 10
    dropped = e.evicted["trunk-loss-rate"]
    assert 90 <= dropped <= 100 - 10 + 10 // 16 + 1
    assert e.bound_warnings() == [
        f"rule trunk-loss-rate: {dropped} groups (by trunk) evaluated early beyond max_groups 10: "
        "a burst spanning them may be missed or split"
    ]
