"""The rule engine's state API (:mod:`sigdiag.rules.engine`): ``snapshot``/``restore`` carry an engine's
state through a pickle (what an audit worker does between two files), ``merge`` adds the state of an engine
that saw the next part of the traffic, and a :class:`~sigdiag.rules.engine.Batch` feeds the engine the
same way as the calls one by one.  Every test compares with one engine that saw everything."""

from __future__ import annotations

import json
import pickle
from dataclasses import replace
from typing import Any

import pytest

from sigdiag.rules.engine import Batch, Engine, EngineState
from sigdiag.rules.loader import RuleSet
from tests.unit.test_calls_builder import T0
from tests.unit.test_rules_engine import circuit_rule, event, loss, make_rule, orphan, share_rule, window_rule


def _view(findings: list[Any]) -> list[str]:
    return [json.dumps(f.as_dict() | {"members": f.members, "file": f.file}, default=str) for f in findings]


def _whole(rules: RuleSet, calls: list[Any]) -> list[str]:
    e = Engine(rules)
    for c in calls:
        e.refine(c)
    e.finish()
    return _view(e.findings())


def _parts(rules: RuleSet, *parts: list[Any]) -> list[str]:
    """One engine per part (the later ones made with ``part_start``: the earliest time of their calls),
    each later one merged into the first in time order (through a pickle, as between processes); the
    findings the first gave out along the way, then the rest, sorted (a merge gives the same findings as
    one engine, not always in the same order: a burst that a later part closes comes after that part's
    pending findings)."""
    first = Engine(rules)
    out = []
    for c in parts[0]:
        first.refine(c)
    out += first.findings()
    for calls in parts[1:]:
        start = min(min(c.start, c.rel_ts) for c in calls) if calls else T0
        later = Engine(rules, part_start=start)
        for c in calls:
            later.refine(c)
        first.merge(pickle.loads(pickle.dumps(later.snapshot())))
    first.finish()
    return sorted(_view(out + first.findings()))


RULES = RuleSet(
    [
        make_rule("single"),
        window_rule(count=3, seconds=10),
        replace(share_rule(), id="share"),
    ]
)


def _calls(times: list[float], other: int = 0) -> list[Any]:
    """A call released at each time (cause 34, what the rules count), every ``other``-th with cause 16
    (in the population of the share rule, not a match)."""
    return [loss(t, i + 1, cause=16 if other and i % other == other - 1 else 34) for i, t in enumerate(times)]


@pytest.mark.parametrize("cut", [0, 2, 3, 5, 7, 9])
def test_snapshot_and_restore_continue_the_run(cut: int) -> None:
    """An engine snapshotted after ``cut`` calls, pickled and restored into a new engine, goes on as the
    first would have: the same findings, a burst across the cut included."""
    calls = _calls([0, 1, 2, 3, 4, 30, 31, 32, 60])
    a = Engine(RULES)
    before = []
    for c in calls[:cut]:
        a.refine(c)
    before += a.findings()
    state = pickle.loads(pickle.dumps(a.snapshot()))
    assert isinstance(state, EngineState) and state.calls == cut
    b = Engine(RULES)
    b.restore(state)
    for c in calls[cut:]:
        b.refine(c)
    b.finish()
    assert _view(before + b.findings()) == _whole(RULES, calls)
    assert b.calls == len(calls)


def test_pending_findings_travel_with_the_state() -> None:
    a = Engine(RULES)
    a.refine(loss(0, 1))  # a finding of "single", not taken
    b = Engine(RULES)
    b.restore(pickle.loads(pickle.dumps(a.snapshot())))
    assert [f.rule for f in b.findings()] == ["single"]


TIMES = [0, 1, 2, 2.5, 9, 30, 31, 32, 33, 45, 60, 61, 61.5, 62, 62.2, 90]


@pytest.mark.parametrize("cut", range(len(TIMES) + 1))
def test_merge_of_two_parts_finds_what_one_engine_finds(cut: int) -> None:
    """Wherever the traffic is cut (bursts open across the cut, records of a group on both sides of it, a
    burst that the later part's records would open with the earlier part's), the merged engines find
    what one engine finds: call rules, count rules, share rules."""
    for calls in (_calls(TIMES), _calls(TIMES, other=3)):
        assert _parts(RULES, calls[:cut], calls[cut:]) == sorted(_whole(RULES, calls))


@pytest.mark.parametrize("cuts", [(2, 4), (3, 9), (5, 6), (1, 12), (11, 13)])
def test_merge_of_three_parts(cuts: tuple[int, int]) -> None:
    """Three parts merged in time order, one of them perhaps all head (its records all within a window
    of its start)."""
    calls = _calls(TIMES, other=4)
    i, j = cuts
    assert _parts(RULES, calls[:i], calls[i:j], calls[j:]) == sorted(_whole(RULES, calls))


@pytest.mark.parametrize("count", [1, 2, 4])
def test_merge_with_other_thresholds(count: int) -> None:
    rules = RuleSet([window_rule(count=count, seconds=10, window={"time": "start"})])
    calls = _calls(TIMES)
    for cut in range(len(calls) + 1):
        assert _parts(rules, calls[:cut], calls[cut:]) == sorted(_whole(rules, calls)), cut


def test_a_later_part_finished_alone_judges_its_heads() -> None:
    """An engine made with ``part_start`` and finished without a merge finds what an ordinary engine
    finds (nothing came before it)."""
    calls = _calls(TIMES)
    e = Engine(RULES, part_start=T0 - 1)
    for c in calls:
        e.refine(c)
    e.finish()
    assert sorted(_view(e.findings())) == sorted(_whole(RULES, calls))


def test_merge_needs_a_later_part() -> None:
    with pytest.raises(ValueError, match="part_start"):
        Engine(RULES).merge(Engine(RULES).snapshot())


def test_merge_adds_the_counters() -> None:
    a, b = Engine(RULES), Engine(RULES, part_start=T0 + 39)
    for c in _calls([0, 1]):
        a.refine(c)
    for c in _calls([40, 41, 42]):
        b.refine(c)
    b.record(Engine.orphan_record(orphan("RLC", 43, 9)))
    a.merge(b.snapshot())
    assert (a.calls, a.records) == (5, 1)
    assert a.matches["single"] == 5


def test_a_state_goes_only_into_an_engine_of_the_same_rules() -> None:
    state = Engine(RULES).snapshot()
    other = Engine(RuleSet([make_rule("single")]))
    with pytest.raises(ValueError, match="does not fit"):
        other.restore(state)
    with pytest.raises(ValueError, match="does not fit"):
        other.merge(Engine(RULES, part_start=T0).snapshot())


def test_a_batch_feeds_the_engine_as_the_calls_one_by_one() -> None:
    """Calls, circuit records and file changes in a batch, through a pickle: the same findings, files
    and capture end of open calls as the engine fed directly."""
    rules = RuleSet([make_rule("single"), window_rule(count=2, seconds=10), circuit_rule()])
    calls = _calls([0, 1, 2, 30])
    direct = Engine(rules)
    direct.file = "a.pcap"
    direct.refine(calls[0])
    direct.circuit_event(event("GRS", 0.5, 7, cics=(10, 11)))
    direct.refine(calls[1])
    direct.file = "b.pcap"
    direct.refine(calls[2])
    direct.capture_end = T0 + 99
    direct.refine(calls[3])
    direct.finish()
    batch = Batch.new()
    batch.add_file("a.pcap")
    batch.add_call(calls[0])
    batch.add_record(Engine.circuit_record(event("GRS", 0.5, 7, cics=(10, 11))))
    batch.add_call(calls[1])
    batch.add_file("b.pcap")
    batch.add_call(calls[2])
    batch.add_call(calls[3], T0 + 99)
    fed = Engine(rules)
    fed.feed(pickle.loads(pickle.dumps(batch)))
    fed.finish()
    assert fed.capture_end == T0 + 99 and fed.records == 1
    assert _view(fed.findings()) == _view(direct.findings())
    batch.clear()
    assert batch == Batch.new()


def test_merge_of_circuit_records() -> None:
    """A circuit window rule (resets by trunk) over circuit records cut anywhere: as one engine."""
    rule = circuit_rule(window={"seconds": 60, "group_by": "trunk"}, threshold={"count": 3})
    rules = RuleSet([rule])
    records = [
        Engine.circuit_record(event("RSC" if i % 2 else "GRS", t, i + 1, cics=(i + 1,)))
        for i, t in enumerate([0, 10, 20, 50, 100, 170, 200, 210, 300, 400, 410, 420, 425])
    ]

    def run(*parts: list[dict[str, Any]]) -> list[str]:
        first = Engine(rules)
        for r in parts[0]:
            first.record(dict(r))
        out = first.findings()
        for part in parts[1:]:
            later = Engine(rules, part_start=min(r["ts"] for r in part) if part else T0)
            for r in part:
                later.record(dict(r))
            first.merge(pickle.loads(pickle.dumps(later.snapshot())))
        first.finish()
        return sorted(_view(out + first.findings()))

    whole = run(records)
    assert len(whole) == 3
    for cut in range(len(records) + 1):
        assert run(records[:cut], records[cut:]) == whole, cut
