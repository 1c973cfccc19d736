"""Metamorphic properties (issue 13, point 8): transformations of a capture that must not change its calls
or its findings.

* **split**: the capture cut into two files read as one capture point (one correlator and one rule engine
  over both, in order, as ``sigdiag audit`` stitches the rotated files of a probe);
* **second link**: every message seen again on a second link (another SCTP association, another MTP2
  interface) 3 to 5 ms later or earlier;
* **time shift**: every time stamp moved by the same whole number of microseconds;
* **independent circuits reordered**: frames of different circuits that lie within a few milliseconds of
  each other interleaved differently in the file (each circuit's own order and every time stamp kept).

The inputs are hand-built flows (the codec's encoder, :class:`tests.unit.test_calls_builder.Flow`) and a
bundled capture; hypothesis picks the cut, the seeds, the shift and the interleaving.  Calls are compared
on what does not depend on frame numbers, links or absolute times; findings on rule, circuit, numbers,
count and outcome.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from sigdiag.calls import CallSettings, Correlator
from sigdiag.decode import read_messages
from sigdiag.report.frames import iter_calls
from sigdiag.rules.check import check
from sigdiag.rules.engine import Engine
from sigdiag.rules.loader import load_rules
from tests.unit._links import (
    Record,
    flow_records,
    read_records,
    two_links,
    write_records,
)
from tests.unit.test_calls_builder import Flow

ROOT = Path(__file__).resolve().parents[2]
CAPTURES = ROOT / "captures"
#: a few examples per property (each decodes, correlates and checks two captures), no shrinking (a failing
#: example is reported as found: shrinking a capture takes minutes)
FEW = settings(
    max_examples=10,
    deadline=None,
    phases=(Phase.explicit, Phase.reuse, Phase.generate),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

#: call fields that depend on frame numbers, links, absolute time or the order calls are numbered in
_VOLATILE = frozenset(
    (
        "call_id",
        "iam_frame",
        "frames",
        "frame_files",
        "link",
        "links",
        "duplicates",
        "start",
        "end",
        "acm_ts",
        "alert_ts",
        "anm_ts",
        "rel_ts",
        "rlc_ts",
    )
)
#: call fields measured between two messages: a copy seen first on the second link may be the one kept,
#: a few milliseconds off the original
_DURATIONS = frozenset(("pdd_ms", "answer_delay_ms", "conversation_s", "release_wait_ms"))


def call_view(call: Any, durations: bool = True) -> tuple[Any, ...]:
    d = call.as_dict()
    skip = _VOLATILE if durations else _VOLATILE | _DURATIONS
    return tuple(sorted((k, repr(v)) for k, v in d.items() if k not in skip))


def finding_view(f: Any, by_members: bool = False) -> tuple[Any, ...]:
    """A finding without frames, links and times.  ``by_members``: a windowed finding by the circuits of
    its members rather than its own point codes and numbers (those of its earliest member, which a copy
    kept a few ms earlier on another link changes when calls of two routes start within milliseconds)."""
    if by_members and f.count is not None and f.members:
        where: Any = frozenset((m.get("opc"), m.get("dpc"), m.get("cic"), m.get("called")) for m in f.members)
    else:
        where = (f.opc, f.dpc, f.cic, f.called, f.calling)
    return (f.rule, f.severity, where, f.count, f.outcome)


Views = tuple[Counter[tuple[Any, ...]], Counter[tuple[Any, ...]]]


def calls_and_findings(path: Path, exact: bool = True) -> Views:
    """What ``sigdiag calls`` and ``sigdiag check`` say about one capture file (not ``exact``: without
    the calls' durations and with windowed findings by their members, see :func:`finding_view`)."""
    calls = Counter(call_view(c, exact) for c in iter_calls(path))
    findings = Counter(finding_view(f, not exact) for f in check(path, workers=1))
    return calls, findings


def same(got: Views, expected: Views) -> None:
    """Assert equal views, showing only what differs."""
    for what, a, b in (("calls", got[0], expected[0]), ("findings", got[1], expected[1])):
        extra, missing = a - b, b - a
        assert not extra and not missing, (
            f"{what}: {len(extra)} extra {list(extra)[:2]}, {len(missing)} missing {list(missing)[:2]}"
        )


def stitched(paths: Sequence[Path]) -> Views:
    """The files read as one capture point: one correlator and one engine over all of them, in order (the
    way ``sigdiag audit`` reads the rotated files of one probe)."""
    engine = Engine(load_rules())
    corr = Correlator(
        CallSettings(keep_messages=False), on_orphan=engine.orphan, on_circuit_event=engine.circuit_event
    )
    engine.clock = lambda: corr.now
    calls: list[Any] = []

    def taken() -> None:
        for call in corr.take():
            engine.refine(call)
            calls.append(call)

    for p in paths:
        engine.file = str(p)
        for m in read_messages(p):
            corr.feed(m)
            taken()
    corr.close()
    taken()
    engine.finish()
    return Counter(call_view(c) for c in calls), Counter(finding_view(f) for f in engine.take())


# -- inputs ----------------------------------------------------------------------------------------------
def busy_flow(seed: int, calls: int = 40) -> Flow:
    """Calls on a few circuits of two routes, overlapping in time: answered, busy, abandoned, overlap-sent
    (IAM + SAM), dual seizures, a release without RLC, orphans and a reset; every message on a 10 ms grid,
    so that messages of different circuits often share a time stamp."""
    rnd = random.Random(seed)
    f = Flow(step=0.01)
    grid = 0.01
    events: list[tuple[float, int, tuple[Any, ...], dict[str, Any]]] = []  # (time, order, msg args)
    n = 0

    def at(t: float, typ: str, cic: int, fwd: bool, **kw: Any) -> None:
        nonlocal n
        n += 1
        events.append((round(t / grid) * grid, n, (typ, cic, fwd), kw))

    t = 0.0
    for i in range(calls):
        t += rnd.choice((0.0, 0.01, 0.05, 0.3))
        cic = 1 + (i % 7)
        opc = (100, 300)[i % 2]
        kind = rnd.choice(["answered", "busy", "abandon", "overlap", "dual", "norlc", "orphan", "reset"])
        base = t + 20.0 * (i // 7)  # the circuit's calls one after the other
        args: dict[str, Any] = {"opc": opc, "dpc": 200}
        back: dict[str, Any] = {"opc": 200, "dpc": opc}
        if kind == "orphan":
            at(base, "REL", cic, False, cause=16, **back)
            at(base + 0.02, "RLC", cic, True, **args)
            continue
        if kind == "reset":
            at(base, "RSC", cic, True, **args)
            at(base + 0.05, "RLC", cic, False, **back)
            continue
        at(base, "IAM", cic, True, called="0453114" if kind == "overlap" else "04531142345", **args)
        if kind == "dual":
            at(base + 0.01, "IAM", cic, False, called="0107777", **back)
        if kind == "overlap":
            at(base + 0.3, "SAM", cic, True, digits="2345", st=True, **args)
        at(base + 1.0, "ACM", cic, False, **back)
        if kind == "answered":
            at(base + 3.0, "ANM", cic, False, **back)
            at(base + 3.0 + rnd.uniform(1, 10), "REL", cic, True, cause=16, **args)
            at(base + 14.0, "RLC", cic, False, **back)
        elif kind == "busy":
            at(base + 1.5, "REL", cic, False, cause=17, **back)
            at(base + 1.52, "RLC", cic, True, **args)
        elif kind == "norlc":
            at(base + 2.0, "REL", cic, True, cause=16, **args)
        else:  # abandon, overlap, dual
            at(base + 4.0, "REL", cic, True, cause=16, **args)
            at(base + 4.02, "RLC", cic, False, **back)
    for ts, _, (typ, cic, fwd), kw in sorted(events):
        f.msg(typ, cic=cic, fwd=fwd, ts=1_700_000_000.0 + ts, **kw)
    return f


def flow_capture(path: Path, seed: int, carrier: str = "m3ua") -> Path:
    return write_records(path, flow_records(busy_flow(seed).raw, carrier))


SOURCES = st.one_of(
    st.tuples(st.just("flow"), st.integers(0, 10_000), st.sampled_from(["m3ua", "mtp2"])),
    st.tuples(st.just("capture"), st.just(0), st.sampled_from(["reference-fault.pcap", "all-faults.pcap"])),
)


def source(tmp: Path, spec: tuple[str, int, str]) -> Path:
    kind, seed, what = spec
    if kind == "flow":
        return flow_capture(tmp / f"flow-{seed}-{what}.pcapng", seed, what)
    return CAPTURES / what


def _fresh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("meta")


# -- split -------------------------------------------------------------------------------------------------
@FEW
@given(spec=SOURCES, cut=st.floats(0.05, 0.95))
def test_splitting_a_capture_changes_nothing(
    tmp_path_factory: pytest.TempPathFactory, spec: tuple[str, int, str], cut: float
) -> None:
    tmp = _fresh(tmp_path_factory)
    src = source(tmp, spec)
    records = read_records(src)
    k = max(1, min(len(records) - 1, int(len(records) * cut)))
    first = write_records(tmp / "part1.pcapng", records[:k])
    second = write_records(tmp / "part2.pcapng", records[k:])
    whole = stitched([src])
    same(stitched([first, second]), whole)
    same(whole, calls_and_findings(src))  # the stitching reads like check and calls on one file


def test_an_audit_of_the_split_capture_counts_what_an_audit_of_the_whole_does(tmp_path: Path) -> None:
    """The same property through ``sigdiag audit`` itself: the two halves in one folder are one capture
    point (read in time order through one correlator)."""
    from sigdiag.audit import run_audit

    records = read_records(CAPTURES / "all-faults.pcap")
    whole, split = tmp_path / "whole", tmp_path / "split"
    whole.mkdir()
    split.mkdir()
    write_records(whole / "trunk.pcap", records)
    k = len(records) // 2
    write_records(split / "trunk-2.pcap", records[k:])  # names in the wrong order: time order decides
    write_records(split / "trunk-1.pcap", records[:k])
    results = []
    for folder in (whole, split):
        result = run_audit([str(folder)], tmp_path / ("out-" + folder.name), workers=1, point_mode="folder")
        (point,) = result.points
        results.append((point["calls"], point["findings"], [r["findings"] for r in result.rows]))
    assert results[1] == results[0] and results[0][0] == 318


def test_splitting_one_call_across_two_files_keeps_it_one_call(tmp_path: Path) -> None:
    """The cut between a call's IAM and its REL: one call, as finished, not an open call and orphans."""
    f = Flow()
    f.msg("IAM")
    f.msg("ACM", fwd=False)
    f.msg("ANM", fwd=False, dt=2.0)
    f.msg("REL", cause=16, dt=30.0)
    f.msg("RLC", fwd=False)
    records = flow_records(f.raw, "m3ua")
    parts = [write_records(tmp_path / "a.pcap", records[:3]), write_records(tmp_path / "b.pcap", records[3:])]
    calls, findings = stitched(parts)
    assert sum(calls.values()) == 1 and not findings
    (view,) = calls
    assert ("outcome", "'answered'") in view and ("end_reason", "'released'") in view


# -- a second link ---------------------------------------------------------------------------------------
@FEW
@given(spec=SOURCES, seed=st.integers(0, 10_000), first=st.booleans())
def test_a_copy_of_every_message_on_a_second_link_changes_nothing(
    tmp_path_factory: pytest.TempPathFactory, spec: tuple[str, int, str], seed: int, first: bool
) -> None:
    tmp = _fresh(tmp_path_factory)
    src = source(tmp, spec)
    low, high = (-5.0, -3.0) if first else (3.0, 5.0)
    two = two_links(src, tmp / ("two" + src.suffix), seed=seed, low_ms=low, high_ms=high)
    same(calls_and_findings(two, exact=False), calls_and_findings(src, exact=False))


# -- a time shift ----------------------------------------------------------------------------------------
def shifted(records: Iterable[Record], delta_us: int) -> list[Record]:
    return [r._replace(ts=(round(r.ts * 1_000_000) + delta_us) / 1_000_000) for r in records]


def time_view(calls: Iterable[Any]) -> Counter[tuple[Any, ...]]:
    """The calls' times relative to their IAM (what a shift must keep)."""
    out: Counter[tuple[Any, ...]] = Counter()
    for c in calls:
        rel = tuple(
            None if t is None else round(t - c.start, 6)
            for t in (c.end_ts, c.acm_ts, c.alert_ts, c.anm_ts, c.rel_ts, c.rlc_ts)
        )
        out[(c.opc, c.dpc, c.cic, c.called, rel)] += 1
    return out


@FEW
@given(spec=SOURCES, delta_us=st.integers(-(10**15), 10**15))
def test_shifting_every_time_changes_nothing(
    tmp_path_factory: pytest.TempPathFactory, spec: tuple[str, int, str], delta_us: int
) -> None:
    tmp = _fresh(tmp_path_factory)
    src = source(tmp, spec)
    records = read_records(src)
    if records[0].ts + delta_us / 1e6 < 0:  # a capture cannot start before 1970
        delta_us = -round(records[0].ts * 1e6) + 1
    moved = write_records(tmp / "moved.pcapng", shifted(records, delta_us))
    same(calls_and_findings(moved), calls_and_findings(src))
    assert time_view(iter_calls(moved)) == time_view(iter_calls(src))


# -- independent circuits reordered -------------------------------------------------------------------------
def circuit_of_frames(path: Path) -> dict[int, Any]:
    """Frame number -> the circuit of its message (unordered point codes and CIC); None for frames that
    must stay where they are: no message (SCTP control, an IP fragment), messages of several circuits,
    group supervision (covers many circuits)."""
    seen: dict[int, set[Any]] = {}
    barrier: set[int] = set()
    for m in read_messages(path):
        a, b = sorted((m.opc or 0, m.dpc or 0))
        seen.setdefault(m.frame, set()).add((m.protocol, m.sip_call_id, a, b, m.cic))
        if m.type in ("GRS", "GRA", "CGB", "CGBA", "CGU", "CGUA", "CQM", "CQR"):
            barrier.add(m.frame)
    return {n: next(iter(keys)) for n, keys in seen.items() if len(keys) == 1 and n not in barrier}


def reinterleaved(
    records: Sequence[Record], circuits: dict[int, Any], rnd: random.Random, slack: float
) -> list[Record]:
    """The records in another file order: each frame moves up to ``slack`` seconds later in the order
    (never past its own circuit's earlier frames, never across a frame that stays); time stamps kept."""
    out: list[Record] = []
    segment: list[tuple[float, int, Record]] = []
    last: dict[Any, float] = {}

    def flush() -> None:
        segment.sort(key=lambda e: (e[0], e[1]))
        out.extend(r for _, _, r in segment)
        segment.clear()
        last.clear()

    for n, r in enumerate(records, start=1):
        key = circuits.get(n)
        if key is None:
            flush()
            out.append(r)
            continue
        k = max(r.ts + rnd.uniform(0, slack), last.get(key, float("-inf")))
        last[key] = k
        segment.append((k, n, r))
    flush()
    return out


@FEW
@given(spec=SOURCES, seed=st.integers(0, 10_000), slack_ms=st.sampled_from([1.0, 5.0, 20.0]))
# found by this test: two calls to one number at the same time stamp on two routes; the repeat-attempts
# finding named the route of whichever came first in the file
@example(spec=("flow", 9999, "m3ua"), seed=143, slack_ms=1.0)
def test_reordering_independent_circuits_changes_nothing(
    tmp_path_factory: pytest.TempPathFactory, spec: tuple[str, int, str], seed: int, slack_ms: float
) -> None:
    tmp = _fresh(tmp_path_factory)
    src = source(tmp, spec)
    records = read_records(src)
    order = reinterleaved(records, circuit_of_frames(src), random.Random(seed), slack_ms / 1000.0)
    moved = write_records(tmp / "moved.pcapng", order)
    same(calls_and_findings(moved), calls_and_findings(src))


def test_the_reordering_moves_frames_but_keeps_each_circuits_order(tmp_path: Path) -> None:
    """The transformation itself: a different file order, the same records, each circuit in order."""
    src = flow_capture(tmp_path / "f.pcapng", 7)
    records = read_records(src)
    circuits = circuit_of_frames(src)
    order = reinterleaved(records, circuits, random.Random(1), 0.02)
    assert sorted(order) == sorted(records) and order != records
    index = {r: n for n, r in enumerate(records, start=1)}
    per_circuit: dict[Any, list[int]] = {}
    for r in order:
        per_circuit.setdefault(circuits.get(index[r]), []).append(index[r])
    assert all(v == sorted(v) for k, v in per_circuit.items() if k is not None)


def test_the_properties_see_what_the_flow_holds(tmp_path: Path) -> None:
    """The hand-built input has the cases the properties are about: several outcomes, dual seizures,
    orphans, a release without RLC, circuit resets."""
    calls, findings = calls_and_findings(flow_capture(tmp_path / "f.pcapng", 3))
    outcomes = {dict(v)["outcome"] for v in calls}
    assert {"'answered'", "'subscriber'", "'caller'"} <= outcomes
    rules = {f[0] for f in findings}
    assert {"dual-seizure", "orphan-message"} <= rules
