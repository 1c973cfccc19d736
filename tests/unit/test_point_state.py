"""A capture point's saved state (:meth:`sigdiag.rules.stream.PointStream.snapshot`, what an audit worker
saves after each file) follows the traffic of the last windows, not the point's history: the rule engine
forgets what no record still to come can change (:meth:`sigdiag.rules.engine.Engine.settle`), and that
changes no finding, nor its order, nor the file it is reported with."""

from __future__ import annotations

import copy
import json
import pickle
import random
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from sigdiag.calls.record import Call
from sigdiag.decode import read_messages
from sigdiag.rules.bins import SecondBins
from sigdiag.rules.engine import Engine
from sigdiag.rules.loader import RuleSet
from sigdiag.rules.stream import PointStream
from sigdiag.simulate import simulate
from tests.unit.test_calls_builder import T0
from tests.unit.test_rules_engine import loss, make_rule, share_rule, window_rule

# -- a capture point, file after file --------------------------------------------------------------------

SCENARIO = """
name: steady
description: steady traffic on two trunks{faults_note}
calls: {calls}
trunks:
  - {{name: to-tandem, carrier: m3ua, protocol: isup, pc_format: itu, opc: 2061, dpc: 2089, cics: 1-600,
     routing_context: 10, weight: 3}}
  - {{name: to-mobile, carrier: m3ua, protocol: isup, pc_format: itu, opc: 2061, dpc: 3001, cics: 1-300,
     routing_context: 11, weight: 1}}
traffic:
  cps: {cps}
  overlap: {{share: 0.15}}
  holding_s: {{dist: lognormal, median: 40, sigma: 1.0, min: 5, max: {holding_max}}}
faults: {faults}
"""

FAULTS = """
  - {type: repeat-attempts, trunk: to-tandem, start_s: 20, count: 1, attempts: 5, outcome: user_busy}
  - {type: repeat-attempts, trunk: to-mobile, start_s: 700, count: 2, attempts: 4, outcome: user_busy}
  - {type: congestion-burst, trunk: to-mobile, start_s: 400, count: 6, duration_s: 20}
  - {type: short-answered-calls, trunk: to-tandem, start_s: 900, count: 6, duration_s: 40}
  - {type: trunk-loss-rate, trunk: to-mobile, start_s: 1000, count: 8, duration_s: 60}
  - {type: circuit-reset-burst, trunk: to-mobile, start_s: 600, rsc: 4, grs: 1, grs_range: [8, 12]}
  - {type: orphan-message, count: 3}
  - {type: hung-call, count: 2}
"""


def _messages(tmp_path: Path, calls: int, cps: float, faults: bool, holding_max: int = 3600) -> list[Any]:
    text = SCENARIO.format(
        calls=calls,
        cps=cps,
        holding_max=holding_max,
        faults=FAULTS if faults else "[]",
        faults_note=", with faults" if faults else "",
    )
    (tmp_path / "scenario.yaml").write_text(text, encoding="utf-8")
    simulate(tmp_path / "point.pcap", tmp_path / "scenario.yaml", seed=3)
    return list(read_messages(tmp_path / "point.pcap"))


def _files(messages: list[Any], n: int) -> list[list[Any]]:
    """The messages cut into ``n`` files of the same duration (rotated files of one capture point)."""
    t0, t1 = messages[0].ts, messages[-1].ts
    files: list[list[Any]] = [[] for _ in range(n)]
    for m in messages:
        files[min(int((m.ts - t0) * n / (t1 - t0)), n - 1)].append(m)
    return files


def _point(files: list[list[Any]]) -> tuple[list[str], list[int]]:
    """The files through one :class:`PointStream`, saved and taken up again after each as an audit worker
    does: the calls and findings in the order they come, each with its file; the size of each state."""
    out: list[str] = []
    sizes: list[int] = []
    stream = PointStream({})

    def emit(name: str) -> None:
        for call in stream.calls():
            stream.engine.refine(call)
            out.append(json.dumps([name, call.as_dict()], default=str))
        for f in stream.engine.findings():
            out.append(json.dumps([name, f.as_dict(), f.members, f.file], default=str))

    for i, messages in enumerate(files):
        name = f"file{i:02d}"
        stream.engine.file = name
        for k in range(0, len(messages), 64):
            stream.feed(messages[k : k + 64])
            emit(name)
        state = stream.snapshot()
        sizes.append(len(state))
        stream = PointStream({}, state)
    stream.close()
    emit("end")
    stream.engine.finish()
    emit("end")
    return out, sizes


def _never_settled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(PointStream, "settle", lambda self: None)


def test_the_state_does_not_grow_with_the_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Steady traffic (calls of at most a few minutes): the state after 40 files is the size of the state
    after 10, where a state that kept the history (the engine never settled) is several times larger."""
    files = _files(_messages(tmp_path, calls=4000, cps=2.0, faults=False, holding_max=240), 40)
    _, sizes = _point(files)
    assert sizes[39] < 1.25 * sizes[9], sizes
    with monkeypatch.context() as m:
        _never_settled(m)
        _, kept = _point(files)
    assert kept[39] > 2.5 * kept[9], kept  # (the traffic is long enough to show it)
    assert sizes[39] < kept[39] / 3


def test_settling_changes_no_call_and_no_finding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A point with faults along the way (repeat attempts, congestion, short calls, loss rate, resets,
    orphans) and calls that never end: the same calls and findings, in the same order and with the same
    files, whether the engine settles after each file or never."""
    files = _files(_messages(tmp_path, calls=2400, cps=2.0, faults=True), 30)
    settled, sizes = _point(files)
    with monkeypatch.context() as m:
        _never_settled(m)
        kept, kept_sizes = _point(files)
    assert settled == kept
    assert sum(1 for row in settled if '"rule"' in row) >= 8  # (findings of every kind were there)
    assert max(sizes) < max(kept_sizes)


# -- the engine: settled at every record or never -----------------------------------------------------------

RULES = RuleSet(
    [
        # repeat attempts: every call, by called number, at its IAM time (records come a call late)
        make_rule(
            "repeats",
            scope="trunk-window",
            window={"seconds": 40, "group_by": "called", "time": "start"},
            threshold={"count": 3},
            match={"field": "called_length", "ge": 1},
        ),
        # losses by trunk at release, and a rule whose every match is a burst
        replace(window_rule(count=3, seconds=10), id="losses"),
        make_rule(
            "each",
            scope="trunk-window",
            window={"seconds": 5, "group_by": "trunk", "time": "start"},
            threshold={"count": 1},
        ),
        # shares by trunk and by called number (IAM time)
        replace(share_rule(count=2, share=0.3, min_population=3), id="share"),
        make_rule(
            "share-called",
            scope="trunk-window",
            window={"seconds": 20, "group_by": "called"},
            threshold={"count": 2, "share": 0.5, "min_population": 2, "of": {"field": "open", "eq": False}},
        ),
    ]
)

NUMBERS = ["0453", "04531", "045312", "0453120", "0453121", "045313", "0454", "04541", "04542", "0455"]


def _traffic(seed: int) -> list[Any]:
    """Calls in the order they end (as the correlator hands them out): most short, some minutes long (their
    IAM-time records come that late), on two trunks, to a few called numbers (some the start of others)."""
    rnd = random.Random(seed)
    calls = []
    for i in range(500):
        start = rnd.uniform(0.0, 1500.0)
        r = rnd.random()
        held = (
            rnd.uniform(0.5, 15.0)
            if r < 0.8
            else rnd.uniform(15.0, 150.0)
            if r < 0.95
            else rnd.uniform(150, 700)
        )
        rel = start + held
        c = loss(
            rel,
            i + 1,
            cause=34 if rnd.random() < 0.35 else 16,
            start=T0 + start,
            called=rnd.choice(NUMBERS),
            dpc=rnd.choice((2089, 3001)),
        )
        calls.append(c)
    calls.sort(key=lambda c: c.rel_ts + rnd.uniform(-0.04, 0.0))  # a few ms out of order
    return calls


def _engine_run(calls: list[Any], settle: bool, seed: int) -> tuple[list[str], Engine, int]:
    """The calls through one engine; with ``settle``, the engine settles after every call with what is
    still to come: the calls already started (their called number perhaps still short of its last
    digits), and calls that start later.  The findings as they come, and the most count-rule groups and
    share bins held at once."""
    rnd = random.Random(seed)
    e = Engine(RULES)
    out: list[str] = []
    held = 0
    for i, call in enumerate(calls):
        e.file = f"file{i // 50}"
        e.refine(call)
        if settle:
            now = call.rel_ts
            pending = []
            for c in calls[i + 1 :]:
                if c.start <= now:
                    p = copy.copy(c)
                    p.called = c.called[: rnd.randint(0, len(c.called))]
                    pending.append(p)
            e.settle(pending, start=now, end=now, record=now)
        held = max(held, len(e._singles) + len(e.windows) + sum(len(b) for b in e._bins.values()))
        out += [json.dumps([f.as_dict(), f.members, f.file], default=str) for f in e.findings()]
    e.finish()
    out += [json.dumps([f.as_dict(), f.members, f.file], default=str) for f in e.findings()]
    return out, e, held


@pytest.mark.parametrize("seed", range(6))
def test_an_engine_settled_at_every_record_finds_what_one_never_settled_finds(seed: int) -> None:
    """Count rules at IAM and release time (single records, windows, bursts), share rules by trunk and by
    called number: the same findings in the same order with the same files; the settled engine held far
    less."""
    calls = _traffic(seed)
    settled, _, held = _engine_run(calls, True, seed)
    kept, _, held_kept = _engine_run(calls, False, seed)
    assert settled == kept
    assert len(settled) > 20
    assert held < held_kept / 2


def test_a_call_still_open_keeps_its_group_and_only_its_group() -> None:
    """A call to 04531 open since T0+10 (its number perhaps still growing): the single record of 045312
    at T0+5 stays (the open call may yet be to 045312 and come within the window), that of 0454 goes."""
    e = Engine(RULES)
    for i, called in enumerate(("045312", "0454")):
        e.refine(loss(6.0, i + 1, start=T0 + 5.0, called=called))
    assert {k[1] for k in e._singles if k[0] == "repeats"} == {"045312", "0454"}
    open_call = loss(900.0, 9, start=T0 + 10.0, called="04531")
    e.settle([open_call], start=T0 + 500.0, end=T0 + 500.0, record=T0 + 500.0)
    assert {k[1] for k in e._singles if k[0] == "repeats"} == {"045312"}
    e.settle([], start=T0 + 500.0, end=T0 + 500.0, record=T0 + 500.0)
    assert not [k for k in e._singles if k[0] == "repeats"]


def test_a_call_open_for_long_keeps_the_bins_of_its_windows_only() -> None:
    """A call open on the trunk since T0+10 (its record comes at T0+10 when it ends, whenever that is):
    the share rule keeps the bins of the windows that second is in, and judges everything else."""
    rule = share_rule(count=2, share=0.3, min_population=3)
    e = Engine(RuleSet([rule]))
    traffic = [loss(float(i), i + 1, cause=34 if i % 50 in (1, 3, 5) else 16) for i in range(1, 600)]
    hung = loss(700.0, 999, start=T0 + 10.2)
    for c in traffic:
        e.refine(c)
    e.settle([hung], start=T0 + 600.0, end=T0 + 600.0, record=T0 + 600.0)
    ((_key, bins),) = e._bins.items()
    assert isinstance(bins, SecondBins)
    # kept: the seconds of the windows around T0+10 (to the first clean second after them), and those of
    # the windows not complete yet (the last 30 s); gone: the 500 s between
    assert [int(k - T0) for k in sorted(bins)] == [*range(0, 70), *range(571, 599)]
    whole = Engine(RuleSet([rule]))
    for c in [*traffic, hung]:
        whole.refine(c)
    e.refine(hung)
    e.finish()
    whole.finish()
    assert [f.as_dict() for f in e.findings()] == [f.as_dict() for f in whole.findings()]


def test_settled_share_bins_pickle_and_merge_refuses_earlier_records() -> None:
    """The bins of a settled share group pickle as columns and come back the same; a later part whose
    records fall before what was settled cannot be merged (its windows were judged without them)."""
    rule = share_rule(count=2, share=0.3, min_population=3)
    e = Engine(RuleSet([rule]))
    for i in range(60):  # a loss every other second for 10 s, then none
        e.refine(loss(float(i), i + 1, cause=34 if i < 10 and i % 2 else 16))
    e.settle([], start=T0 + 59.0, end=T0 + 59.0, record=T0 + 59.0)
    ((_key, bins),) = e._bins.items()
    assert isinstance(bins, SecondBins) and min(bins) > T0 + 20  # the bins of the burst's windows went
    ((lo, hi, found),) = bins.judged
    assert lo < T0 and hi == T0 + 59 and [b.count for b in found] == [5]
    back = pickle.loads(pickle.dumps(bins))
    assert isinstance(back, SecondBins) and sorted(back) == sorted(bins)

    def view(b: SecondBins) -> list[Any]:
        return [
            (lo, hi, [(x.count, x.population, x.first, x.last, x.members, x.extra, x.file) for x in found])
            for lo, hi, found in b.judged
        ]

    assert back.first == bins.first and view(back) == view(bins)
    assert [(b.matched, b.population, b.members, b.file) for b in back.values()] == [
        (b.matched, b.population, b.members, b.file) for b in bins.values()
    ]
    later = Engine(RuleSet([rule]), part_start=T0)
    later.refine(loss(1.0, 99))
    with pytest.raises(ValueError, match="where this engine settled"):
        e.merge(later.snapshot())


def test_a_call_pickles_as_its_slots() -> None:
    """A call record (what the open-call table of a saved state holds) pickles as the tuple of its slots
    and comes back with every attribute; a call with a slot unset still pickles."""
    from tests.unit.test_calls_builder import Flow, correlate

    flow = Flow()
    for typ, fwd in (("IAM", True), ("ACM", False), ("ANM", False), ("REL", True), ("RLC", False)):
        flow.msg(typ, fwd=fwd)
    _, (call,) = correlate(flow.messages)
    back = pickle.loads(pickle.dumps(call))
    assert isinstance(back, Call)
    assert back.as_dict() == call.as_dict()
    for name in Call.__slots__:
        if name not in ("iam", "messages"):  # (messages compare by identity)
            assert getattr(back, name) == getattr(call, name), name
    assert [m.as_dict() for m in back.messages] == [m.as_dict() for m in call.messages]
    assert back.iam is back.messages[0]  # (shared objects stay shared)
    # a saved state of an older sigdiag: the default (None, {slot: value}) state of a slotted object
    old = {name: getattr(call, name) for name in Call.__slots__}
    again = Call.__new__(Call)
    again.__setstate__((None, old))
    assert again.as_dict() == call.as_dict()
    bare = Call.__new__(Call)
    bare.call_id = 7
    again = pickle.loads(pickle.dumps(bare))
    assert again.call_id == 7 and not hasattr(again, "start")
