"""The rule engine's split of its work (:meth:`Engine.judge`, :meth:`Engine.judge_record`,
:meth:`Engine.accept`): the rules are evaluated where the calls are, what the calls add to the windowed
rules is accepted elsewhere in the order one engine would have seen them.  Every test compares with one
engine that refined everything itself, on the bundled captures (every shipped rule, the simulator's
fault mix: bursts, shares, circuit records)."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import pytest

from sigdiag.calls.correlate import Correlator
from sigdiag.decode import read_messages
from sigdiag.rules import load_rules
from sigdiag.rules.engine import Engine
from sigdiag.rules.loader import RuleSet
from tests.unit.test_rules_engine import loss, window_rule

ROOT = Path(__file__).resolve().parents[2]
RULES = load_rules()
CAPTURES = ["all-faults.pcap", "realism.pcap", "reference-fault.pcap"]


def _items(capture: str) -> list[tuple[str, Any]]:
    """What an engine is fed for ``capture``, in the correlator's order: ``("call", call)`` and
    ``("record", circuit record)`` (fresh objects each time: refining a call changes its outcome)."""
    items: list[tuple[str, Any]] = []
    corr = Correlator(
        on_orphan=lambda o: items.append(("record", Engine.orphan_record(o))),
        on_circuit_event=lambda ev: items.append(("record", Engine.circuit_record(ev))),
    )
    for call in corr.run(read_messages(str(ROOT / "captures" / capture))):
        items.append(("call", call))
    return items


def _view(findings: list[Any]) -> list[str]:
    return [json.dumps(f.as_dict() | {"members": f.members}, default=str, sort_keys=True) for f in findings]


def _one_engine(items: list[tuple[str, Any]]) -> tuple[list[str], list[str]]:
    """One engine that refines everything itself: its findings and the calls' refined outcomes."""
    e = Engine(RULES)
    for kind, x in items:
        e.refine(x) if kind == "call" else e.record(x)
    e.finish()
    return _view(e.findings()), [f"{x.outcome}/{x.outcome_detail}" for k, x in items if k == "call"]


@pytest.mark.parametrize("capture", CAPTURES)
def test_judge_then_accept_at_once_is_refine(capture: str) -> None:
    """``accept(judge(call))`` in one engine gives the same findings, in the same order, as ``refine``."""
    expected, outcomes = _one_engine(_items(capture))
    items = _items(capture)
    e = Engine(RULES)
    for kind, x in items:
        e.accept(e.judge(x) if kind == "call" else e.judge_record(x))
    e.finish()
    assert _view(e.findings()) == expected
    assert [f"{x.outcome}/{x.outcome_detail}" for k, x in items if k == "call"] == outcomes


@pytest.mark.parametrize("capture", CAPTURES)
def test_judged_in_one_engine_accepted_in_another(capture: str) -> None:
    """A part's engine judges every call and record (the call rules' findings are its own); the verdicts
    travel through a pickle, as between processes, and another engine accepts them in the same order
    (the windowed rules' findings are its): together the findings of one engine."""
    expected, outcomes = _one_engine(_items(capture))
    items = _items(capture)
    part = Engine(RULES)
    verdicts = [part.judge(x) if kind == "call" else part.judge_record(x) for kind, x in items]
    part.finish()
    own = part.findings()
    merge = Engine(RULES)
    for v in pickle.loads(pickle.dumps(verdicts)):
        merge.accept(v)
    merge.finish()
    windowed = merge.findings()
    assert {f.rule for f in own}.isdisjoint({f.rule for f in windowed})
    assert sorted(_view(own) + _view(windowed)) == sorted(expected)
    assert [f"{x.outcome}/{x.outcome_detail}" for k, x in items if k == "call"] == outcomes
    if capture == "all-faults.pcap":  # the test is not empty: both kinds of rules found something
        assert own and windowed
        assert {f.rule for f in windowed} >= {"congestion-burst", "trunk-loss-rate", "repeat-attempts"}


def test_accepting_in_another_order_is_not_the_same_engine() -> None:
    """The order of accept matters to the count rules (why verdicts are accepted in the order one engine
    would have seen the calls): two bursts of three losses 13 s apart are two findings; the same verdicts
    accepted latest first are not (the later burst, open first, takes the older records as they come)."""
    rules = RuleSet([window_rule(count=3, seconds=10)])
    calls = [loss(t, i + 1) for i, t in enumerate([0, 1, 2, 15, 16, 17])]
    part = Engine(rules)
    verdicts = [part.judge(c) for c in calls]
    assert all(verdicts)
    in_order, reversed_order = Engine(rules), Engine(rules)
    for v in verdicts:
        in_order.accept(v)
    for v in reversed(verdicts):
        reversed_order.accept(v)
    in_order.finish()
    reversed_order.finish()
    assert [f.count for f in in_order.findings()] == [3, 3]
    assert [f.count for f in reversed_order.findings()] != [3, 3]
