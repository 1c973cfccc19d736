"""The rule engine (:mod:`sigdiag.rules.engine`): call rules, windowed rules (bursts, shares, groups, time
order), circuit records, outcome overrides and the shape of findings.

Rules are written inline (:func:`make_rule`); calls are :class:`~tests.unit.test_rules_language.FakeCall`
records or real calls correlated from :class:`~tests.unit.test_calls_builder.Flow` messages.
"""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from sigdiag.rules import bins as bins_module
from sigdiag.rules import findings as findings_module
from sigdiag.rules.engine import FINDING_KEYS, Engine, Finding
from sigdiag.rules.findings import ladder_of
from sigdiag.rules.loader import Rule, RuleSet, load_rule, load_rules
from tests.unit.test_calls_builder import T0, A, B, Flow, correlate
from tests.unit.test_rules_language import FakeCall

TESTS = [
    {"name": "pos", "kind": "positive", "scenario": "x.yaml", "expect": {"min_findings": 1}},
    {"name": "neg", "kind": "negative", "scenario": "y.yaml", "expect": {"findings": 0}},
]


def make_rule(rid: str = "demo", **fields: Any) -> Rule:
    spec: dict[str, Any] = {
        "id": rid,
        "title": f"Title of {rid}",
        "severity": "high",
        "category": "network",
        "scope": "call",
        "description": "A rule of the engine tests.",
        "match": {"field": "cause", "eq": 34},
        "message": "{count} calls with cause {causes} on {trunk}",
        "recommendation": "Look at {trunk}.",
        "tests": TESTS,
    }
    spec.update(fields)
    return load_rule(f"<{rid}>", text=yaml.safe_dump(spec, sort_keys=False))


def window_rule(count: int = 3, seconds: float = 10, group_by: str = "trunk", **kw: Any) -> Rule:
    return make_rule(
        scope="trunk-window",
        window={"seconds": seconds, "group_by": group_by, **kw.pop("window", {})},
        threshold={"count": count, **kw.pop("threshold", {})},
        **kw,
    )


def loss(t: float, i: int, cause: int | None = 34, **kw: Any) -> FakeCall:
    """A call released at ``T0 + t`` (IAM one second earlier) with a cause; IAM frame ``10 * i``."""
    kw.setdefault("start", T0 + t - 1.0)
    return FakeCall(
        (("IAM>", 0.0), ("<REL", 1.0), ("RLC>", 1.01)),
        call_id=i,
        frame0=10 * i,
        rel_ts=T0 + t,
        cause=cause,
        released_by="called",
        **kw,
    )


def feed(engine: Engine, calls: list[Any]) -> list[Finding]:
    for c in calls:
        engine.refine(c)
    engine.finish()
    return engine.take()


def run_rule(rule: Rule, calls: list[Any], **engine_kw: Any) -> list[Finding]:
    return feed(Engine(RuleSet([rule]), **engine_kw), calls)


# -- windowed rules: bursts ---------------------------------------------------------------------------------
def test_no_burst_below_count() -> None:
    rule = window_rule(count=3)
    assert run_rule(rule, [loss(0, 1), loss(1, 2)]) == []
    assert run_rule(rule, [loss(0, 1), loss(1, 2), loss(20, 3), loss(21, 4)]) == []  # never 3 in 10 s
    assert run_rule(rule, [loss(0, 1), loss(1, 2), loss(2, 3, cause=16)]) == []  # the third does not match


def test_burst_opens_at_count_and_is_one_finding() -> None:
    (f,) = run_rule(window_rule(count=3), [loss(0, 1), loss(1, 2), loss(2, 3)])
    assert (f.rule, f.scope, f.severity) == ("demo", "trunk-window", "high")
    assert f.count == 3 and f.calls == [1, 2, 3]
    assert (f.window_start, f.window_end) == (T0, T0 + 2.0)  # release times (``time: release``)
    assert f.frames == [10, 20, 30]  # the IAM frames of the member calls
    assert f.trunk == f"{A}-{B}" and f.opc == A and f.dpc == B and f.cic == 5
    assert f.evidence["count"] == 3 and f.evidence["group"] == f"{A}-{B}"
    assert f.evidence["group_by"] == "trunk" and f.evidence["causes"] == [34]
    assert f.message == f"3 calls with cause 34 on {A}-{B}" and f.recommendation == f"Look at {A}-{B}."
    assert f.ladder is None and f.call_id is None


def test_burst_time_span_is_the_member_times() -> None:
    (f,) = run_rule(window_rule(count=2, window={"time": "start"}), [loss(0, 1), loss(4, 2)])
    assert (f.window_start, f.window_end) == (T0 - 1.0, T0 + 3.0)
    assert f.evidence["duration_s"] == 4.0


def test_burst_extends_while_within_the_window() -> None:
    rule = window_rule(count=2, seconds=10)
    calls = [loss(t, i) for i, t in enumerate((0, 8, 16, 24, 32), 1)]
    (f,) = run_rule(rule, calls)
    assert f.count == 5 and f.calls == [1, 2, 3, 4, 5]


def test_burst_closes_when_the_window_has_passed_and_a_new_one_opens() -> None:
    rule = window_rule(count=3, seconds=10)
    engine = Engine(RuleSet([rule]))
    for i, t in enumerate((0, 1, 2), 1):
        engine.refine(loss(t, i))
    assert engine.take() == []  # a burst is one finding when it ends
    engine.refine(loss(30, 4))  # 28 s after the last member: the first burst ends here
    first = engine.take()
    assert [f.calls for f in first] == [[1, 2, 3]]
    for i, t in enumerate((31, 32), 5):
        engine.refine(loss(t, i))
    engine.finish()
    second = engine.take()
    assert [f.calls for f in second] == [[4, 5, 6]] and second[0].count == 3
    assert engine.matches["demo"] == 2


def test_non_matching_calls_are_ignored_without_share() -> None:
    rule = window_rule(count=3)
    calls = [loss(0, 1), loss(0.5, 2, cause=16), loss(1, 3), loss(1.5, 4, cause=None), loss(2, 5)]
    (f,) = run_rule(rule, calls)
    assert f.calls == [1, 3, 5] and f.count == 3


def test_out_of_order_times_within_the_window() -> None:
    rule = window_rule(count=3)
    (f,) = run_rule(rule, [loss(2, 3), loss(0, 1), loss(1, 2)])
    assert f.count == 3 and f.calls == [1, 2, 3]  # members sorted by time
    assert (f.window_start, f.window_end) == (T0, T0 + 2.0)


def test_a_record_older_than_the_window_does_not_count() -> None:
    rule = window_rule(count=3, seconds=10)
    assert run_rule(rule, [loss(100, 1), loss(50, 2), loss(101, 3)]) == []
    (f,) = run_rule(rule, [loss(100, 1), loss(95, 2), loss(101, 3)])
    assert f.calls == [2, 1, 3] and f.count == 3


def test_groups_are_separate() -> None:
    rule = window_rule(count=3, group_by="trunk")
    other = {"opc": A, "dpc": 300}
    calls = [loss(0, 1), loss(0.1, 2, **other), loss(0.2, 3), loss(0.3, 4, **other)]
    assert run_rule(rule, calls) == []
    findings = run_rule(rule, [*calls, loss(0.4, 5, **other)])
    assert [(f.trunk, f.calls) for f in findings] == [(f"{A}-300", [2, 4, 5])]
    findings = run_rule(rule, [*calls, loss(0.4, 5, **other), loss(0.5, 6)])
    assert sorted((f.trunk, tuple(f.calls or ())) for f in findings) == [
        (f"{A}-{B}", (1, 3, 6)),
        (f"{A}-300", (2, 4, 5)),
    ]


def test_trunk_groups_ignore_direction_but_opc_dpc_groups_do_not() -> None:
    calls = [loss(0, 1), loss(0.1, 2, opc=B, dpc=A), loss(0.2, 3)]
    (f,) = run_rule(window_rule(count=3, group_by="trunk"), calls)
    assert f.count == 3 and f.trunk == f"{A}-{B}"
    assert run_rule(window_rule(count=3, group_by="opc-dpc"), calls) == []
    assert len(run_rule(window_rule(count=2, group_by="opc-dpc"), calls)) == 1


def test_group_by_called_and_all() -> None:
    rule = window_rule(count=2, group_by="called", message="{count} attempts to {called}")
    calls = [
        loss(0, 1, called="111"),
        loss(1, 2, called="222"),
        loss(2, 3, called="111"),
        loss(3, 4, called=""),
    ]
    (f,) = run_rule(rule, calls)
    assert f.called == "111" and f.calls == [1, 3] and f.message == "2 attempts to 111"
    assert f.trunk == f"{A}-{B}"  # one trunk for all members
    (f,) = run_rule(window_rule(count=4, group_by="all"), calls)
    assert f.count == 4 and f.evidence["group"] == "all"


def test_time_start_or_release() -> None:
    """Two calls started 1 s apart but released 60 s apart are a burst only counted at their start."""
    calls = [loss(100, 1, start=T0), loss(40, 2, start=T0 + 1)]
    assert run_rule(window_rule(count=2, seconds=10), calls) == []
    (f,) = run_rule(window_rule(count=2, seconds=10, window={"time": "start"}), calls)
    assert f.count == 2


def test_members_are_capped_but_the_count_is_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bins_module, "MAX_MEMBERS", 3)
    (f,) = run_rule(window_rule(count=2), [loss(i * 0.1, i) for i in range(1, 8)])
    assert f.count == 7 and f.calls == [1, 2, 3]


def test_window_settings_come_from_the_rule_settings() -> None:
    rule = make_rule(
        scope="trunk-window",
        settings={"n": 3, "w": 10},
        window={"seconds": "$w", "group_by": "trunk"},
        threshold={"count": "$n"},
    )
    calls = [loss(0, 1), loss(1, 2), loss(2, 3)]
    assert len(run_rule(rule, calls)) == 1
    rule5 = load_rule(rule.source, {"n": 5}, text=yaml.safe_dump(rule.spec))
    assert run_rule(rule5, calls) == []


# -- windowed rules: shares ---------------------------------------------------------------------------------
def share_rule(count: int = 2, share: float = 0.5, min_population: int = 4) -> Rule:
    return window_rule(
        count=count,
        seconds=30,
        threshold={"share": share, "min_population": min_population, "of": {"field": "open", "eq": False}},
        message="{count} of {population} ({rate_pct} %)",
    )


def test_share_opens_when_the_share_of_the_population_is_reached() -> None:
    calls = [loss(0, 1, cause=16), loss(1, 2, cause=16), loss(2, 3), loss(3, 4)]
    (f,) = run_rule(share_rule(), calls)
    assert f.count == 2 and f.calls == [3, 4]
    assert f.evidence["population"] == 4 and f.evidence["rate"] == 0.5 and f.evidence["rate_pct"] == 50.0
    assert f.message == "2 of 4 (50.0 %)"


def test_share_below_the_threshold_is_no_finding() -> None:
    calls = [loss(0, i, cause=16) for i in range(1, 4)] + [loss(2, 4), loss(3, 5)]  # 2 of 5
    assert run_rule(share_rule(), calls) == []
    (f,) = run_rule(share_rule(share=0.4), calls)
    assert f.count == 2 and f.evidence["population"] == 5


def test_share_needs_the_minimum_population() -> None:
    assert run_rule(share_rule(min_population=4), [loss(0, 1), loss(1, 2)]) == []  # 100 % of 2
    assert len(run_rule(share_rule(min_population=2), [loss(0, 1), loss(1, 2)])) == 1


def test_share_population_is_what_of_selects() -> None:
    """Open calls are not in the population (``of: {field: open, eq: false}``)."""
    opened = [loss(1.5, i, cause=None, end_reason="open") for i in range(5, 9)]
    (f,) = run_rule(share_rule(min_population=0), [loss(0, 1), loss(1, 2), *opened])
    assert f.evidence["population"] == 2 and f.calls == [1, 2]
    closed = [loss(1.5, i, cause=16) for i in range(5, 9)]
    assert run_rule(share_rule(min_population=0), [loss(0, 1), loss(1, 2), *closed]) == []  # 2 of 6


def test_share_count_still_applies() -> None:
    calls = [loss(0, 1), loss(1, 2, cause=16)]
    assert run_rule(share_rule(count=2, min_population=1), calls) == []  # 1 match, 50 %
    assert len(run_rule(share_rule(count=1, min_population=1), calls)) == 1


def _traffic(seconds: int, per_s: int, lossy: Any, t0: float = 0.0) -> list[Any]:
    """``per_s`` calls each second for ``seconds`` s (IAM at ``T0 + t0 + i + j / per_s``), released 1 s
    later; call ``n`` is a loss (cause 34) when ``lossy(n)``, else a normal clearing (cause 16)."""
    out: list[Any] = []
    for i in range(seconds):
        for j in range(per_s):
            n = len(out) + 1
            start = T0 + t0 + i + j / per_s
            out.append(loss(start - T0 + 1.0, n, cause=34 if lossy(n) else 16, start=start))
    return out


def _in_window(f: Finding, calls: list[Any]) -> list[Any]:
    assert f.window_start is not None and f.window_end is not None
    return [c for c in calls if f.window_start <= c.start < f.window_end]


def test_a_long_burst_has_the_figures_of_one_window_and_never_more_than_100_percent() -> None:
    """A loss that lasts ten windows: the count is not summed over the burst while the population is
    that of one window (the bug that said "177 network losses out of 127 attempts")."""
    calls = _traffic(300, 2, lambda n: n % 2 == 0)  # half the calls lost for 300 s, 30-s windows
    (f,) = run_rule(share_rule(), calls)
    assert f.count is not None and f.population is not None and f.rate is not None
    assert (f.count, f.population, f.rate) == (30, 60, 0.5)  # one 30-s window: 60 calls, 30 lost
    assert f.evidence["population"] == 60 and f.evidence["rate_pct"] == 50.0
    window = _in_window(f, calls)
    assert len(window) == f.population and sum(c.cause == 34 for c in window) == f.count
    assert f.window_end - f.window_start == 30.0
    # the whole burst: its own figures over its own calls
    ev = f.evidence
    burst = [c for c in calls if ev["burst_start"] <= c.start < ev["burst_end"]]
    assert (ev["burst_count"], ev["burst_population"]) == (300, len(burst)) == (300, 600)
    assert ev["burst_rate"] == 0.5 and ev["burst_s"] == 300.0
    assert sorted(c.call_id for c in window if c.cause == 34) == f.calls


def test_the_finding_is_the_worst_window_of_the_burst() -> None:
    """10 % lost for a minute, then 50 % for 30 s: the finding's window is the one at 50 %."""
    early = _traffic(60, 2, lambda n: n % 10 == 1)
    late = [loss(c.rel_ts - T0, c.call_id + 1000, cause=c.cause, start=c.start)
            for c in _traffic(30, 2, lambda n: n % 2 == 0, t0=60)]  # fmt: skip
    (f,) = run_rule(share_rule(share=0.1), early + late)
    assert f.rate == 0.5 and (f.count, f.population) == (30, 60)
    assert f.window_start == T0 + 60 and f.window_end == T0 + 90
    assert (f.evidence["burst_start"], f.evidence["burst_end"]) == (T0, T0 + 90)
    assert (f.evidence["burst_count"], f.evidence["burst_population"]) == (12 + 30, 180)


def test_shares_count_matches_only_within_the_population() -> None:
    """A match outside the population (here: an open call with cause 34) counts in neither: the share
    of a population cannot pass 100 %."""
    opened = [loss(0.5 + i, 10 + i, end_reason="open") for i in range(4)]
    calls = [loss(0, 1), loss(1, 2), *opened]
    (f,) = run_rule(share_rule(min_population=1), calls)
    assert (f.count, f.population, f.rate) == (2, 2, 1.0) and f.calls == [1, 2]


def test_share_windows_are_whole_seconds_of_iam_time() -> None:
    """A 2.5-s window is 3 whole seconds; a call counts in the second of its IAM."""
    rule = window_rule(count=2, seconds=2.5, threshold={"share": 1.0})
    calls = [loss(1, 1, start=T0 + 0.9), loss(3, 2, start=T0 + 2.1)]  # seconds 0 and 2
    (f,) = run_rule(rule, calls)
    assert (f.window_start, f.window_end, f.count, f.population) == (T0, T0 + 3, 2, 2)
    assert run_rule(rule, [loss(1, 1, start=T0 + 0.9), loss(4, 2, start=T0 + 3.1)]) == []  # 4 s apart


def test_share_findings_do_not_depend_on_the_order_calls_finish_in() -> None:
    calls = _traffic(90, 3, lambda n: 60 <= n < 120 and n % 3 == 0)
    forward = [f.as_dict() | {"evidence": f.evidence} for f in run_rule(share_rule(share=0.2), calls)]
    backward = [f.as_dict() | {"evidence": f.evidence} for f in run_rule(share_rule(share=0.2), calls[::-1])]
    assert forward and forward == backward


def test_count_rules_have_no_population_nor_rate() -> None:
    (f,) = run_rule(window_rule(count=2), [loss(0, 1), loss(1, 2)])
    assert (f.count, f.population, f.rate) == (2, None, None)
    d = f.as_dict()
    assert (d["count"], d["population"], d["rate"]) == (2, None, None)
    assert "population" not in f.evidence and "burst_count" not in f.evidence


# -- call rules ---------------------------------------------------------------------------------------------
def reference_calls() -> list[Any]:
    """The reference fault (overlap IAM without ST, SAM, REL 38 from the called side 8 ms later) and an
    en-bloc call released by the caller."""
    f = Flow(step=0.2)
    f.msg("IAM", cic=17, called="0453114", calling="01058722000")
    f.msg("SAM", cic=17, digits="2345", st=True, dt=0.3)
    f.msg("REL", cic=17, fwd=False, cause=38, location=3, dt=0.008)
    f.msg("RLC", cic=17, dt=0.004)
    f.msg("IAM", cic=18, called="0219999", calling="01099990000", st=True)
    f.msg("REL", cic=18, fwd=True, cause=16, dt=3.0)
    f.msg("RLC", cic=18, fwd=False, dt=0.01)
    _, calls = correlate(f.messages, keep_messages=True)
    return sorted(calls, key=lambda c: c.cic)


def test_call_rule_finding_and_outcome_override() -> None:
    rules = load_rules().select(["incomplete-digit-collection", "t35-expiry", "hop-counter-exhausted"])
    engine = Engine(rules, pc=lambda v: f"pc{v}")
    ref, other = reference_calls()
    base = (ref.outcome, ref.outcome_detail)
    other_before = (other.outcome, other.outcome_detail, other.outcome_by)
    engine.refine(ref)
    engine.refine(other)
    (f,) = engine.take()
    assert (ref.outcome, ref.outcome_detail, ref.outcome_by) == (
        "network",
        "incomplete-digit-collection",
        "incomplete-digit-collection",
    )
    assert (ref.base_outcome, ref.base_outcome_detail) == base
    assert (other.outcome, other.outcome_detail, other.outcome_by) == other_before
    assert (f.rule, f.call_id, f.iam_frame, f.cic, f.opc, f.dpc) == (
        "incomplete-digit-collection",
        ref.call_id,
        1,
        17,
        A,
        B,
    )
    assert (f.outcome, f.outcome_detail) == ("network", "incomplete-digit-collection")
    assert f.called == "04531142345" and f.calling == "01058722000" and f.frames == [1, 2, 3, 4]
    assert f.evidence["gap_ms"] == 8.0 and f.evidence["gap_from_frame"] == 2 and f.evidence["cause"] == 38
    assert f.evidence["released_by"] == "called" and f.evidence["sam_count"] == 1
    assert f.evidence["because"] == "8.0 ms after the latest SAM (frame 2; limit 1000 ms)"
    assert f"(pc{A} -> pc{B})" in f.message  # point codes as the engine prints them
    assert "cause 38" in f.message and "8.0 ms after the latest SAM" in f.message
    # the delay comes from the call: IAM -> SAM 300 ms = 3 units of 0.1 s, plus the 2-unit margin
    assert "delay of 3 units of 0.1 s plus a margin of 2 units" in f.recommendation
    assert f.trunk == f"pc{A}-pc{B}"
    assert [(s["frame"], s["type"], s["direction"]) for s in f.ladder or []] == [
        (1, "IAM", "forward"),
        (2, "SAM", "forward"),
        (3, "REL", "backward"),
        (4, "RLC", "forward"),
    ]
    assert f.ladder is not None and f.ladder[2]["offset_ms"] == 308.0
    assert "cause 38" in f.ladder[2]["info"] and "(no ST)" in f.ladder[0]["info"]
    assert engine.calls == 2 and engine.matches["incomplete-digit-collection"] == 1


def test_the_outcome_override_comes_before_the_windowed_rules() -> None:
    """Windowed rules see the refined outcome: the reference call counts as a network loss."""
    by_detail = window_rule(
        rid="by-detail",
        count=1,
        match={"field": "outcome_detail", "eq": "incomplete-digit-collection"},
    )
    rules = RuleSet([load_rules()["incomplete-digit-collection"], by_detail])
    ref, other = reference_calls()
    findings = feed(Engine(rules), [ref, other])
    assert sorted(f.rule for f in findings) == ["by-detail", "incomplete-digit-collection"]
    # without the outcome rule the windowed rule finds nothing
    ref, other = reference_calls()
    assert feed(Engine(RuleSet([by_detail])), [ref, other]) == []


def test_outcome_only_and_outcome_refiner() -> None:
    from sigdiag.rules.check import outcome_refiner

    engine = Engine(load_rules())
    only = engine.outcome_only()
    assert sorted(r.id for r in only.rules) == sorted(r.id for r in engine.refining)
    assert all(r.outcome is not None for r in only.rules)
    ref, _ = reference_calls()
    refine = outcome_refiner()
    refine(ref)
    assert ref.outcome_detail == "incomplete-digit-collection"


def test_a_rule_with_an_outcome_override_on_fake_calls() -> None:
    rule = make_rule(match={"field": "cause", "eq": 28}, outcome={"class": "caller", "detail": "gave-up"})
    engine = Engine(RuleSet([rule]))
    hit, miss = loss(0, 1, cause=28), loss(1, 2, cause=16)
    feed(engine, [hit, miss])
    assert (hit.outcome, hit.outcome_detail, hit.outcome_by) == ("caller", "gave-up", "demo")
    assert (miss.outcome, miss.outcome_by) == ("network", None)


def test_call_finding_templates_and_labels() -> None:
    rule = make_rule(
        settings={"limit": 500},
        match={
            "all": [
                {"label": "cause {cause} ({cause_name})", "field": "cause", "eq": 34},
                {
                    "label": "REL after {rel_ms} ms",
                    "gap": {"from": "IAM>", "to": "<REL"},
                    "ge": "$limit",
                    "as": "rel",
                },
            ]
        },
        message="CIC {cic}: {because}; limit {limit}; missing {nothing}",
    )
    (f,) = run_rule(rule, [loss(0, 1)])
    assert (
        f.message
        == "CIC 5: cause 34 (No circuit/channel available); REL after 1000.0 ms; limit 500; missing -"
    )
    assert f.evidence["because"] == "cause 34 (No circuit/channel available); REL after 1000.0 ms"
    assert f.evidence["rel_ms"] == 1000.0


def test_open_calls_are_measured_to_the_engine_clock() -> None:
    rule = make_rule(match={"gap": {"from": "IAM>", "to": "<ACM", "else": "end"}, "ge": 5000})
    call = FakeCall((("IAM>", 0.0),), end_reason="open", last_ts=T0 + 1.0)
    assert run_rule(rule, [call]) == []  # without a clock: the call's last message
    engine = Engine(RuleSet([rule]))
    engine.clock = lambda: T0 + 10.0
    (f,) = feed(engine, [FakeCall((("IAM>", 0.0),), end_reason="open", last_ts=T0 + 1.0)])
    assert f.evidence["gap_ms"] == 10000.0 and f.evidence["gap_to"] == "end of call"
    engine = Engine(RuleSet([rule]))
    engine.capture_end = T0 + 6.0
    assert len(feed(engine, [FakeCall((("IAM>", 0.0),), end_reason="open", last_ts=T0 + 1.0)])) == 1


def test_run_streams_call_findings_then_bursts() -> None:
    rules = RuleSet([make_rule("single"), window_rule(count=2)])
    engine = Engine(rules)
    seen: list[tuple[str, int]] = []
    calls = [loss(0, 1), loss(1, 2)]
    for f in engine.run(iter(calls)):
        seen.append((f.rule, engine.calls))
    assert seen == [("single", 1), ("single", 2), ("demo", 2)]


# -- circuit records ----------------------------------------------------------------------------------------
def event(type_: str, ts: float, frame: int, cics: tuple[int, ...] = (5,), opc: int = A, dpc: int = B) -> Any:
    return SimpleNamespace(type=type_, frame=frame, ts=T0 + ts, opc=opc, dpc=dpc, cics=cics, protocol="isup")


def orphan(type_: str, ts: float, frame: int, cic: int | None = 5, opc: int = A, dpc: int = B) -> Any:
    return SimpleNamespace(
        type=type_, frame=frame, ts=T0 + ts, opc=opc, dpc=dpc, cic=cic, reason="no IAM", protocol="isup"
    )


def circuit_rule(rid: str = "circ", **kw: Any) -> Rule:
    kw.setdefault("match", {"field": "type", "in": ["RSC", "GRS"]})
    kw.setdefault("message", "{type} on CIC {cic} ({cics}) {opc} -> {dpc}, {circuits} circuit(s)")
    return make_rule(rid, scope="circuit", **kw)


def test_circuit_rule_per_record() -> None:
    engine = Engine(RuleSet([circuit_rule()]), pc=lambda v: f"pc{v}")
    engine.circuit_event(event("GRS", 0, 7, cics=(10, 11, 12)))
    engine.circuit_event(event("BLO", 1, 8))
    engine.orphan(orphan("RSC", 2, 9, cic=20))
    assert engine.records == 3
    f1, f2 = engine.take()
    assert (f1.rule, f1.scope, f1.frames, f1.cic, f1.opc, f1.dpc, f1.ts) == (
        "circ",
        "circuit",
        [7],
        10,
        A,
        B,
        T0,
    )
    assert f1.evidence == {"type": "GRS", "cics": [10, 11, 12], "reason": None}
    assert f1.message == f"GRS on CIC 10 (10, 11, 12) pc{A} -> pc{B}, 3 circuit(s)"
    assert f1.trunk == f"pc{A}-pc{B}" and f1.call_id is None and f1.window_start is None
    assert f2.frames == [9] and f2.evidence == {"type": "RSC", "cics": [20], "reason": "no IAM"}
    assert engine.matches["circ"] == 2


def test_circuit_window_rule_bursts() -> None:
    rule = circuit_rule(window={"seconds": 60, "group_by": "trunk"}, threshold={"count": 3},
                        message="{count} resets ({types}) on {trunk}: CICs {cics}")  # fmt: skip
    engine = Engine(RuleSet([rule]))
    engine.circuit_event(event("RSC", 0, 1, cics=(1,)))
    engine.circuit_event(event("GRS", 10, 2, cics=(2, 3)))
    engine.circuit_event(event("BLO", 11, 3))
    engine.circuit_event(event("RSC", 20, 4, cics=(4,), opc=B, dpc=A))  # the same trunk, other direction
    engine.circuit_event(event("RSC", 21, 5, cics=(6,), dpc=300))  # another trunk
    engine.finish()
    (f,) = engine.take()
    assert f.count == 3 and f.frames == [1, 2, 4] and f.calls is None
    assert f.message == f"3 resets (GRS, RSC) on {A}-{B}: CICs 1, 2, 3, 4"
    assert (f.window_start, f.window_end) == (T0, T0 + 20)
    assert f.cic is None  # the members are on several CICs


def test_orphans_group_by_circuit_key_in_both_directions() -> None:
    rule = circuit_rule(
        "orphans",
        match={"field": "record", "eq": "orphan"},
        window={"seconds": 300, "group_by": "key"},
        threshold={"count": 1},
        message="{count} message(s) ({types}) on CIC {cics}",
    )
    engine = Engine(RuleSet([rule]))
    engine.orphan(orphan("ACM", 0, 1, cic=5))
    engine.orphan(orphan("REL", 1, 2, cic=5, opc=B, dpc=A))
    engine.orphan(orphan("RLC", 2, 3, cic=6))
    engine.circuit_event(event("RSC", 3, 4, cics=(5,)))  # not an orphan
    engine.finish()
    findings = sorted(engine.take(), key=lambda f: f.cic or 0)
    assert [(f.cic, f.count, f.frames) for f in findings] == [(5, 2, [1, 2]), (6, 1, [3])]
    assert findings[0].message == "2 message(s) (ACM, REL) on CIC 5"
    assert findings[0].evidence["group"] == f"{A}-{B}-5"


def test_circuit_records_without_circuit_rules_are_only_counted() -> None:
    engine = Engine(RuleSet([make_rule()]))
    engine.circuit_event(event("RSC", 0, 1))
    engine.orphan(orphan("REL", 0, 2))
    engine.finish()
    assert engine.records == 2 and engine.take() == []


# -- findings -----------------------------------------------------------------------------------------------
def test_findings_as_dict_have_exactly_the_finding_keys() -> None:
    engine = Engine(RuleSet([make_rule("single"), window_rule(count=2), circuit_rule()]))
    engine.refine(loss(0, 1))
    engine.refine(loss(1, 2))
    engine.circuit_event(event("RSC", 2, 99))
    engine.finish()
    findings = engine.take()
    assert sorted(f.rule for f in findings) == ["circ", "demo", "single", "single"]
    for f in findings:
        d = f.as_dict()
        assert tuple(d) == FINDING_KEYS
        json.dumps(d)  # JSON-ready
    windowed = next(f for f in findings if f.rule == "demo").as_dict()
    assert windowed["count"] == 2 and windowed["calls"] == [1, 2] and windowed["ladder"] is None
    assert windowed["population"] is None and windowed["rate"] is None  # a count rule
    single = next(f for f in findings if f.rule == "single").as_dict()
    assert single["window_start"] is None and single["ladder"] and single["call_id"] == 1
    assert "members" not in single and "file" not in single and "ts" not in single


def test_finding_file_is_the_engine_file() -> None:
    engine = Engine(RuleSet([make_rule()]), file="x.pcap")
    (f,) = feed(engine, [loss(0, 1)])
    assert f.file == "x.pcap"


def test_ladder_of_a_call_without_messages() -> None:
    call = FakeCall((("IAM>", 0.0), ("<ACM", 1.5), ("REL", 2.0)))
    steps = ladder_of(call)
    assert [(s["offset_ms"], s["direction"], s["type"]) for s in steps] == [
        (0.0, "forward", "IAM"),
        (1500.0, "backward", "ACM"),
        (2000.0, "unknown", "REL"),
    ]
    assert steps[1]["info"] == ""


# -- the call-rule index -----------------------------------------------------------------------------------
def test_call_rule_index_of_the_shipped_rules() -> None:
    """The shipped call rules are indexed by cause value, by non-empty flags and by message type; the
    rest are always tried."""
    e = Engine(load_rules())
    ids = [r.id for r in e.call_rules]
    always = {ids[i] for i in e._always}
    by_cause = {v: ids[i] for _, table in e._by_value for v, idx in table.items() for i in idx}
    flags = {ids[i] for _, idx in e._by_truthy for i in idx}
    typed = {ids[i] for _, idx in e._by_types for i in idx}
    assert by_cause == {
        1: "unallocated-valid-prefix",
        25: "hop-counter-exhausted",
        28: "t35-expiry",
        "capture_end": "release-unacknowledged-at-capture-end",  # by release_end
    }
    assert flags == {"blocked-circuit-attempt", "dual-seizure", "release-collision"}
    assert typed == {"confusion"}
    assert always | set(by_cause.values()) | flags | typed == set(ids)
    assert not always & (set(by_cause.values()) | flags | typed)


@pytest.mark.parametrize("name", ["all-faults", "carriers", "realism", "reference-fault"])
def test_call_rule_index_skips_only_rules_that_cannot_match(name: str) -> None:
    """The same findings and outcomes with the index as with every rule tried on every call."""
    from pathlib import Path

    from sigdiag.calls.pipeline import iter_calls
    from sigdiag.calls.settings import CallSettings
    from sigdiag.decode import resolve_settings

    root = Path(__file__).resolve().parents[2] / "captures"
    path = next(root.glob(name + ".pcap*"))
    config = root / f"{name}.config.yaml"
    settings = resolve_settings(None, config if config.exists() else None)
    results = []
    for indexed in (True, False):
        e = Engine(load_rules())
        if not indexed:
            every = list(range(len(e.call_rules)))
            e._candidates = lambda call, every=every: every  # type: ignore[method-assign]
        outcomes = []
        for call in iter_calls(
            path, refiners=(), settings=CallSettings(keep_messages=False), decode_settings=settings
        ):
            e.refine(call)
            outcomes.append((call.call_id, call.outcome, call.outcome_detail))
        e.finish()
        results.append(([json.dumps(f.as_dict(), default=str) for f in e.pending], outcomes))
    assert results[0] == results[1]
    if name in ("all-faults", "reference-fault"):
        assert results[0][0]  # findings to compare


def _ladder_decoding_everything(call: Any) -> list[dict[str, Any]]:
    from sigdiag.rules.language import decode_timeline_entry

    out = []
    for entry in call.timeline:
        m = call.iam if entry[0] == call.iam.frame else decode_timeline_entry(call, entry)
        out.append(
            {
                "frame": entry[0],
                "offset_ms": round((entry[1] - call.start) * 1000.0, 1),
                "direction": {0: "forward", 1: "backward"}.get(entry[3], "unknown"),
                "type": entry[2],
                "info": findings_module.ladder_info(m),
            }
        )
    return out


@pytest.mark.parametrize("name", ["all-faults", "carriers", "realism", "reference-fault"])
def test_ladder_decodes_only_what_it_shows(name: str) -> None:
    """Ladders skip decoding messages that cannot carry digits or a cause: the same lines as decoding
    every message."""
    from pathlib import Path

    from sigdiag.calls.pipeline import iter_calls
    from sigdiag.decode import resolve_settings

    root = Path(__file__).resolve().parents[2] / "captures"
    path = next(root.glob(name + ".pcap*"))
    config = root / f"{name}.config.yaml"
    settings = resolve_settings(None, config if config.exists() else None)
    n = causes = 0
    for call in iter_calls(path, refiners=(), decode_settings=settings):
        ladder = ladder_of(call)
        assert ladder == _ladder_decoding_everything(call)
        n += len(ladder)
        causes += sum("cause" in line["info"] for line in ladder)
    assert n > 50 and causes > 5
