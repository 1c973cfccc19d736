"""Rule tests and scoring against the simulator's ground truth.

Every rule file lists ``tests``: a simulator scenario (or a capture) and what to expect — an exact number
of findings, a minimum, and/or ``truth: true``: the rule's findings agree with the scenario's truth
files.  :func:`score` compares findings with the truth of a simulated capture:

* call rules: the set of calls found (by IAM frame) against the truth rows whose ``fault`` is the rule;
* windowed and circuit rules: findings against the events of the rule (``OUT.events.jsonl``): a finding
  is right when its window overlaps an event of the rule on the same point codes, an event is found
  when a finding overlaps it.  ``trunk-loss-rate`` also accepts ``congestion-burst`` events (a
  congestion burst is a network-loss spike too); a share finding is also right when its window would not
  hold the threshold without the calls of injected (per-call) faults.

:func:`run_rule_tests` runs the tests of rules (``sigdiag rules test``).  The simulator sits above the
rules' layer, used by the command line only: the caller hands in how a scenario becomes a capture
(:func:`sigdiag.cli.rules.simulated_rule_tests` simulates each scenario once into a folder).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sigdiag.rules.engine import Finding
from sigdiag.rules.loader import Rule, RuleSet, load_rule

__all__ = ["ScenarioCapture", "Score", "TestResult", "load_truth", "run_rule_tests", "score"]

#: ``(scenario file, seed, calls)`` -> the capture simulated from that scenario (calls None: the
#: scenario's own number).
ScenarioCapture = Callable[[Path, int, int | None], Path]

#: Windowed/circuit findings of a rule may also be explained by events of these other faults.
ALSO_EXPLAINED_BY: dict[str, tuple[str, ...]] = {"trunk-loss-rate": ("congestion-burst",)}
#: Slack when comparing finding windows with event windows (seconds).
SLACK_S = 2.0


@dataclass
class Score:
    """Precision and recall of one rule against the truth."""

    rule: str
    unit: str  # calls | events
    true_positives: int = 0
    false_positives: int = 0
    false_negatives: int = 0
    misses: list[Any] = field(default_factory=list)
    extras: list[Any] = field(default_factory=list)

    @property
    def precision(self) -> float:
        found = self.true_positives + self.false_positives
        return self.true_positives / found if found else 1.0

    @property
    def recall(self) -> float:
        expected = self.true_positives + self.false_negatives
        return self.true_positives / expected if expected else 1.0

    def row(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "unit": self.unit,
            "expected": self.true_positives + self.false_negatives,
            "found": self.true_positives + self.false_positives,
            "tp": self.true_positives,
            "fp": self.false_positives,
            "fn": self.false_negatives,
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
        }


def load_truth(capture: str | Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The truth rows and event rows beside a simulated capture (``X.truth.jsonl``, ``X.events.jsonl``)."""
    p = Path(capture)
    stem = p.with_suffix("")
    rows: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    for name, out in ((".truth.jsonl", rows), (".events.jsonl", events)):
        f = stem.parent / (stem.name + name)
        if f.is_file():
            with open(f, encoding="utf-8") as fh:
                out.extend(json.loads(line) for line in fh if line.strip())
    return rows, events


def _pcs_of_event(ev: Mapping[str, Any], trunk_pcs: Mapping[str, set[int]]) -> set[int]:
    pcs = {pc for pc in (ev.get("opc"), ev.get("dpc")) if pc is not None}
    return pcs or set(trunk_pcs.get(ev.get("trunk") or "", set()))


def score(
    rule: Rule, findings: Iterable[Finding], truth: list[dict[str, Any]], events: list[dict[str, Any]]
) -> Score:
    """Precision/recall of one rule's findings against a simulated capture's truth."""
    mine = [f for f in findings if f.rule == rule.id]
    if rule.scope == "call" and not rule.windowed:
        s = Score(rule.id, "calls")
        expected = {r["iam_frame"] for r in truth if r.get("fault") == rule.id}
        found = {f.iam_frame for f in mine}
        s.true_positives = len(expected & found)
        s.false_positives = len(found - expected)
        s.false_negatives = len(expected - found)
        s.misses = sorted(expected - found)
        s.extras = sorted(x for x in found - expected if x is not None)
        return s
    s = Score(rule.id, "events")
    trunk_pcs: dict[str, set[int]] = {}
    for r in truth:
        if r.get("trunk") and r.get("opc") is not None:
            trunk_pcs.setdefault(r["trunk"], set()).update((r["opc"], r["dpc"]))
    faults = (rule.id, *ALSO_EXPLAINED_BY.get(rule.id, ()))
    evs = [e for e in events if e.get("fault") in faults]
    own = [e for e in evs if e.get("fault") == rule.id]

    def overlaps(f: Finding, e: Mapping[str, Any]) -> bool:
        fs = f.window_start if f.window_start is not None else f.ts
        fe = f.window_end if f.window_end is not None else f.ts
        es, ee = e.get("window_start"), e.get("window_end")
        if es is None or ee is None:
            return False
        if fe < es - SLACK_S or fs > ee + SLACK_S:
            return False
        if rule.group_by == "called" and e.get("called"):
            return f.called == e["called"]
        if e.get("fault") == "orphan-message" and None not in (e.get("cic"), f.cic) and f.cic != e["cic"]:
            return False
        pcs = _pcs_of_event(e, trunk_pcs)
        return not pcs or (f.opc in pcs or f.dpc in pcs) or f.opc is None

    faulty = {r["iam_frame"] for r in truth if r.get("fault")}

    def made_of_faults(f: Finding) -> bool:
        """A share finding whose window would not hold the threshold without the calls of injected
        faults (per-call faults that are network losses too, e.g. in a dense fault mix)."""
        if rule.share is None or not f.population or not f.count:
            return False
        clean = f.count - sum(1 for m in f.members if m.get("iam_frame") in faulty)
        return clean < rule.count or clean / f.population < rule.share

    # a finding is wrong when it overlaps no event (and is not made of injected faults); an event is
    # missed when no finding overlaps it.  True positives count the events found (two findings over one
    # event are one true positive).
    for f in mine:
        if not any(overlaps(f, e) for e in evs) and not made_of_faults(f):
            s.false_positives += 1
            s.extras.append((f.window_start, f.window_end, f.trunk, f.count))
    for e in own:
        if any(overlaps(f, e) for f in mine):
            s.true_positives += 1
        else:
            s.false_negatives += 1
            s.misses.append(e.get("event_id"))
    return s


@dataclass
class TestResult:
    rule: str
    name: str
    kind: str
    ok: bool
    detail: str
    findings: int


def run_rule_tests(rules: RuleSet | Iterable[Rule], scenario_capture: ScenarioCapture) -> list[TestResult]:
    """Run the ``tests`` of each rule: on the capture a test names, or on the capture that
    ``scenario_capture`` gives for its scenario (with the test's seed and number of calls).  A test that
    cannot run (a broken scenario, a capture that cannot be read) is a failed test, with the reason."""
    from sigdiag.rules.check import check

    results: list[TestResult] = []
    for rule in rules:
        base = Path(rule.source).parent
        for t in rule.tests:
            name = t["name"]
            kind = t.get("kind", "positive" if name != "negative" else "negative")
            try:
                if "scenario" in t:
                    capture = scenario_capture(base / t["scenario"], t.get("seed", 1), t.get("calls"))
                else:
                    capture = base / t["capture"]
                test_rule = load_rule(rule.source, {**_overrides(rule), **(t.get("set") or {})})
                run = check(capture, rules=RuleSet([test_rule]), pc_format=t.get("pc_format", "itu"))
                findings = list(run)
            except Exception as exc:  # a broken test is a failed test, with the reason
                results.append(TestResult(rule.id, name, kind, False, f"error: {exc}", 0))
                continue
            ok, detail = _judge(test_rule, t["expect"], findings, capture)
            results.append(TestResult(rule.id, name, kind, ok, detail, len(findings)))
    return results


def _overrides(rule: Rule) -> dict[str, Any]:
    return {k: v for k, v in rule.settings.items() if rule.defaults.get(k) != v}


def _judge(rule: Rule, expect: Mapping[str, Any], findings: list[Finding], capture: Path) -> tuple[bool, str]:
    n = len(findings)
    problems = []
    if "findings" in expect and n != expect["findings"]:
        problems.append(f"expected {expect['findings']} findings, got {n}")
    if "min_findings" in expect and n < expect["min_findings"]:
        problems.append(f"expected at least {expect['min_findings']} findings, got {n}")
    if expect.get("truth"):
        truth, events = load_truth(capture)
        if not truth:
            problems.append(f"no truth file beside {capture}")
        else:
            s = score(rule, findings, truth, events)
            if s.false_positives or s.false_negatives:
                problems.append(
                    f"against the truth: {s.false_positives} false positives {s.extras[:5]}, "
                    f"{s.false_negatives} missed {s.misses[:5]}"
                )
    if problems:
        return False, "; ".join(problems)
    return True, f"{n} findings" + (" (agree with the truth)" if expect.get("truth") else "")
