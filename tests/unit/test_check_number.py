"""``sigdiag check --number N`` answers for every call of N, findings or not (issue 13, point 5), and one
outcome everywhere: ``calls``, ``stats`` and ``check`` give every call the same outcome (point 4).

The calls are built message by message with the codec's encoder (tests/unit/test_calls_builder.py), so
what each call is (busy, answered, incomplete digit collection, unallocated) is known from its messages,
not from the simulator.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sigdiag.cli import app
from sigdiag.rules.check import MATCH_KEYS, NearestNumbers, _distance, check, compact_ladder
from sigdiag.rules.engine import FINDING_KEYS
from tests.unit.test_calls_builder import Flow, correlate, write_capture

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()

BUSY = "0219999"


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def _flow() -> Flow:
    """Six calls: a long answered call to BUSY that starts first and ends last; a busy call to BUSY
    (cause 17 from the called side, location RLN) that starts later and ends first; the reference fault
    (overlap IAM 0453114 + SAM 1.2 s later, REL 38 8 ms after the SAM); an answered call; a call to
    0471234 released with cause 1 (unallocated); an open call."""
    f = Flow(step=0.2)
    f.msg("IAM", cic=30, called=BUSY, calling="075500009", st=True)
    f.msg("ACM", cic=30, fwd=False, dt=1.5)
    f.msg("ANM", cic=30, fwd=False, dt=2.0)
    f.msg("IAM", cic=19, called=BUSY, calling="075500001", st=True, dt=1.0)
    f.msg("REL", cic=19, fwd=False, cause=17, location=4, dt=0.1)
    f.msg("RLC", cic=19, dt=0.01)
    f.msg("IAM", cic=17, called="0453114", calling="01058722000")
    f.msg("SAM", cic=17, digits="2345", st=True, dt=1.2)
    f.msg("REL", cic=17, fwd=False, cause=38, location=3, dt=0.008)
    f.msg("RLC", cic=17, dt=0.004)
    f.msg("IAM", cic=20, called="0107777", calling="075500002", st=True)
    f.msg("ACM", cic=20, fwd=False, dt=2.0)
    f.msg("ANM", cic=20, fwd=False, dt=1.0)
    f.msg("REL", cic=20, fwd=True, cause=16, dt=9.0)
    f.msg("RLC", cic=20, fwd=False, dt=0.01)
    f.msg("IAM", cic=21, called="0471234", calling="075500003", st=True)
    f.msg("REL", cic=21, fwd=False, cause=1, location=2, dt=0.3)
    f.msg("RLC", cic=21, dt=0.01)
    f.msg("REL", cic=30, fwd=True, cause=16, dt=30.0)
    f.msg("RLC", cic=30, fwd=False, dt=0.01)
    f.msg("IAM", cic=22, called="0453999", calling="075500004", st=True, dt=1.0)
    return f


@pytest.fixture
def cap(tmp_path: Path) -> Path:
    return write_capture(tmp_path / "number.pcap", _flow())


@pytest.fixture
def plan(tmp_path: Path) -> Path:
    path = tmp_path / "plan.yaml"
    path.write_text("valid_prefixes: ['0471']\n")
    return path


def check_json(*args: str) -> dict[str, Any]:
    code, out, err = run("check", *args, "--format", "json", "--fail-on", "never")
    assert code == 0, err
    doc: dict[str, Any] = json.loads(out)
    return doc


# -- point 5: every call of the number ---------------------------------------------------------------------
def test_a_busy_number_is_answered_with_its_calls(cap: Path) -> None:
    code, out, err = run("check", str(cap), "--number", BUSY, "--fail-on", "never")
    assert code == 0, err
    assert "2 calls match 0219999 (by start time):" in out
    lines = out.splitlines()
    first = lines.index("2 calls match 0219999 (by start time):")
    answered, busy = lines[first + 1], lines[first + 4]
    # by start time: the answered call began first (it ended last)
    assert "075500009 -> 0219999  answered/" in answered and "PDD 1.500 s" in answered
    assert "duration 48.752 s" in answered and "cause 16 Normal" in answered
    assert "075500001 -> 0219999  subscriber/user-busy  cause 17 User busy, RLN" in busy
    assert "PDD -" in busy and "duration 0.110 s" in busy
    assert "findings: none" in lines[first + 5]
    assert lines[first + 6].strip() == "IAM> 0.0, <REL 100.0, RLC> 110.0 ms"
    # a number that does not occur says so, and is not the same answer
    code, other, _ = run("check", str(cap), "--number", "0219998", "--fail-on", "never")
    assert code == 0 and other != out
    assert "no call matches 0219998; closest numbers seen: 0219999" in other


def test_json_lists_the_matching_calls(cap: Path) -> None:
    doc = check_json(str(cap), "--number", BUSY)
    assert set(doc) == {"findings", "calls", "summary"}
    assert doc["summary"]["matched_calls"] == 2 and doc["summary"]["number"] == BUSY
    calls = doc["calls"]
    assert [list(c) for c in calls] == [list(MATCH_KEYS)] * 2
    assert [(c["cic"], c["outcome"], c["outcome_detail"]) for c in calls] == [
        (30, "answered", "answered"),
        (19, "subscriber", "user-busy"),
    ]
    busy = calls[1]
    assert (busy["cause"], busy["cause_name"], busy["cause_location"], busy["cause_location_name"]) == (
        17,
        "User busy",
        4,
        "RLN",
    )
    assert busy["released_by"] == "called" and busy["findings"] == [] and busy["frames"] == [4, 5, 6]
    assert busy["duration_s"] == pytest.approx(0.11) and busy["pdd_ms"] is None
    assert calls[0]["pdd_ms"] == pytest.approx(1500.0) and calls[0]["conversation_s"] == pytest.approx(45.242)
    assert calls[0]["start"] < busy["start"]


def test_findings_of_a_matching_call_are_named(cap: Path) -> None:
    doc = check_json(str(cap), "--number", "04531142345")
    (call,) = doc["calls"]
    assert call["outcome"] == "network" and call["outcome_detail"] == "incomplete-digit-collection"
    assert call["base_outcome"] == "network" and call["outcome_by"] == "incomplete-digit-collection"
    assert "incomplete-digit-collection" in call["findings"]
    assert call["ladder"] == "IAM> 0.0, SAM> 1200.0, <REL 1208.0, RLC> 1212.0 ms"
    assert {f["rule"] for f in doc["findings"]} >= {"incomplete-digit-collection"}


def test_no_call_matches(cap: Path) -> None:
    doc = check_json(str(cap), "--number", "0219989")
    assert doc["calls"] == [] and doc["summary"]["matched_calls"] == 0
    assert doc["summary"]["closest_numbers"][0] == BUSY
    assert len(doc["summary"]["closest_numbers"]) == 5
    # without --number nothing is listed
    doc = check_json(str(cap))
    assert doc["calls"] == [] and doc["summary"]["matched_calls"] is None


def test_jsonl_rows_of_kind_call_follow_the_findings(cap: Path) -> None:
    code, out, err = run("check", str(cap), "--number", "0453", "-f", "jsonl", "--fail-on", "never")
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    kinds = ["call" if r.get("kind") == "call" else "finding" for r in rows]
    assert kinds == sorted(kinds, key=lambda k: k == "call") and kinds.count("call") == 2
    for r in rows:
        if r.get("kind") == "call":
            assert list(r) == ["kind", *MATCH_KEYS]
        else:
            assert list(r) == [*FINDING_KEYS, "file"]
    assert "2 matching 0453" in err
    assert "{" not in err and "None" not in err


def test_other_filters_apply_to_the_matching_calls(cap: Path) -> None:
    doc = check_json(str(cap), "--number", BUSY, "--cic", "19")
    assert [c["cic"] for c in doc["calls"]] == [19]


def test_library_api_and_workers_agree(cap: Path) -> None:
    results = []
    for workers in (1, 2):
        run_ = check(cap, number="", workers=workers)
        findings = [f.as_dict() for f in run_]
        results.append((findings, run_.matched_calls(), run_.summary()))
    (f1, c1, s1), (f2, c2, s2) = results
    assert f1 == f2 and c1 == c2 and s1 == s2
    assert s1["matched_calls"] == 6 and [c["cic"] for c in c1] == [30, 19, 17, 20, 21, 22]
    assert c1[2]["outcome_detail"] == "incomplete-digit-collection"  # refined in both modes


@pytest.mark.parametrize("number", ["", "0105", "99999999"])
def test_workers_agree_on_a_capture(number: str) -> None:
    path = ROOT / "captures" / "all-faults.pcap"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    results = []
    for workers in (1, 2):
        run_ = check(path, number=number, workers=workers)
        findings = [f.as_dict() for f in run_]
        results.append((findings, run_.matched_calls(), run_.summary()))
    assert results[0] == results[1]
    summary = results[0][2]
    assert summary["matched_calls"] == len(results[0][1])
    if number == "99999999":
        assert summary["matched_calls"] == 0 and len(summary["closest_numbers"]) == 5
    else:
        assert summary["matched_calls"] > 0 and not summary["closest_numbers"]


def test_compact_ladder_directions() -> None:
    f = Flow(step=0.1)
    f.msg("IAM", cic=5, called=BUSY, st=True)
    f.msg("ACM", cic=5, fwd=False, dt=0.25)
    _, calls = correlate(f.messages)
    assert compact_ladder(calls[0]) == "IAM> 0.0, <ACM 250.0 ms"


@pytest.mark.parametrize(
    ("a", "b", "d"),
    [
        ("0219999", "0219999", 0),
        ("0219998", "0219999", 1),  # one digit changed
        ("219999", "0219999", 0),  # contained
        ("02199990", "0219999", 1),  # one digit too many
        ("0453115", "04531141546", 1),  # closest part of a longer number
        ("12345", "999", 5),
    ],
)
def test_distance(a: str, b: str, d: int) -> None:
    assert _distance(a, b) == d
    assert _distance(a, b, d) == d
    if d:
        assert _distance(a, b, d - 1) is None


def test_nearest_numbers_bounded_and_ranked() -> None:
    n = NearestNumbers("0219998", cap=50)
    for i in range(500):
        n.add(f"07{i:05d}")
    n.add(BUSY)
    n.add("0219000")
    n.add(None)
    assert len(n.seen) <= 50
    assert n.closest(2) == [BUSY, "0219000"]


# -- point 4: one outcome everywhere ----------------------------------------------------------------------
def _calls_outcomes(*args: str) -> dict[int, str]:
    code, out, err = run("calls", *args, "-f", "jsonl")
    assert code == 0, err
    return {r["call_id"]: r["outcome"] for r in map(json.loads, out.splitlines())}


def _stats_outcomes(*args: str) -> Counter[str]:
    code, out, err = run("stats", *args, "-f", "jsonl")
    assert code == 0, err
    (row,) = [json.loads(line) for line in out.splitlines()]
    counts = {
        "answered": row["answered"],
        "subscriber": row["subscriber_failures"],
        "caller": row["caller_failures"],
        "network": row["network_loss"],
        "unknown": row["open"],
    }
    return Counter({k: v for k, v in counts.items() if v})


def _check_outcomes(*args: str) -> tuple[dict[int, str], dict[str, int]]:
    """Every call's outcome in check: the library with number "" (in every number: every call is listed;
    the command refuses an empty --number) and the rule options of the command line."""
    from sigdiag.cli.rules import rule_overrides

    path, options = args[0], list(args[1:])
    kw: dict[str, Any] = {}
    sets: list[str] = []
    plan: Path | None = None
    for name, value in zip(options[::2], options[1::2], strict=True):
        if name == "--pc-format":
            kw["pc_format"] = value
        elif name == "--number-plan":
            plan = Path(value)
        elif name == "--set":
            sets.append(value)
        else:
            raise AssertionError(f"option {name} not handled here")
    run_ = check(path, settings=rule_overrides(None, sets, plan), number="", workers=1, **kw)
    list(run_)
    summary = run_.summary()
    assert summary["matched_calls"] == summary["calls"]
    return {c["call_id"]: c["outcome"] for c in run_.matched_calls()}, summary["outcomes"]


def _same_outcomes(*args: str) -> dict[int, str]:
    calls = _calls_outcomes(*args)
    in_check, check_counts = _check_outcomes(*args)
    assert calls == in_check
    assert Counter(calls.values()) == _stats_outcomes(*args) == Counter(check_counts)
    return calls


def _audit_outcomes(out: Path, path: str, *options: str) -> dict[int, str]:
    """The outcome of every call an audit of ``path`` (alone, one worker) stores, by IAM frame."""
    import pandas as pd

    code, _, err = run("audit", "run", path, "--out", str(out), "--point", "file", "-j", "1", *options)
    assert code == 0, err
    df = pd.read_parquet(out / "calls")
    return dict(zip(df["iam_frame"].astype(int), df["outcome"], strict=True))


def _calls_by_frame(*args: str) -> dict[int, str]:
    code, out, err = run("calls", *args, "-f", "jsonl")
    assert code == 0, err
    return {r["iam_frame"]: r["outcome"] for r in map(json.loads, out.splitlines())}


def test_one_outcome_in_the_audit_too(cap: Path, plan: Path, tmp_path: Path) -> None:
    """audit takes --number-plan and rule --set as check does: its stored outcomes are those of calls."""
    for i, options in enumerate(
        (
            [],
            ["--number-plan", str(plan)],
            ["--set", "unallocated-valid-prefix.valid_prefixes=0471"],
        )
    ):
        stored = _audit_outcomes(tmp_path / f"audit{i}", str(cap), *options)
        assert stored == _calls_by_frame(str(cap), *options)
    assert "network" in stored.values()


def test_one_outcome_with_a_number_plan(cap: Path, plan: Path) -> None:
    without = _same_outcomes(str(cap))
    with_plan = _same_outcomes(str(cap), "--number-plan", str(plan))
    changed = {cid: (without[cid], with_plan[cid]) for cid in without if without[cid] != with_plan[cid]}
    # the call to 0471234 released with cause 1: a misdial without a plan, a network loss with one
    assert list(changed.values()) == [("caller", "network")]
    # the same with the plan given as a rule setting
    assert _same_outcomes(str(cap), "--set", "unallocated-valid-prefix.valid_prefixes=0471") == with_plan
    code, out, _ = run("calls", str(cap), "--number-plan", str(plan), "--number", "0471234")
    assert code == 0 and "network/unallocated-valid-prefix [unallocated-valid-prefix]" in out


@pytest.mark.parametrize(
    ("capture", "options"),
    [
        ("reference-fault.pcap", ["--pc-format", "china"]),
        ("all-faults.pcap", []),
        ("realism.pcap", []),
    ],
)
def test_one_outcome_on_captures(capture: str, options: list[str], tmp_path: Path) -> None:
    path = ROOT / "captures" / capture
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    without = _same_outcomes(str(path), *options)
    plan = tmp_path / "plan.yaml"
    plan.write_text("valid_prefixes: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']\n")
    with_plan = _same_outcomes(str(path), *options, "--number-plan", str(plan))
    # every call released with cause 1 is now a network loss, in all three; nothing else changed
    _, out, _ = run("calls", str(path), *options, "--number-plan", str(plan), "-f", "jsonl")
    rows = [json.loads(line) for line in out.splitlines()]
    unallocated = {r["call_id"] for r in rows if r["cause"] == 1 and r["called"]}
    assert unallocated
    for cid in unallocated:
        assert without[cid] == "caller" and with_plan[cid] == "network"
    assert {cid for cid in without if without[cid] != with_plan[cid]} == unallocated


def test_one_outcome_on_shared_captures(shared_captures: Path) -> None:
    for path in sorted(shared_captures.glob("*.pcap")):
        _same_outcomes(str(path))


def test_rule_options_errors_are_one_line(cap: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("prefixes: 1\n")
    for args, needle in [
        (["calls", str(cap), "--set", "no-such-rule.x=1"], "no-such-rule"),
        (["stats", str(cap), "--number-plan", str(bad)], "valid_prefixes"),
        (["calls", str(cap), "--rules", str(tmp_path / "nope")], "not a rules folder"),
    ]:
        code, out, err = run(*args)
        assert code == 2 and out == "", (args, err)
        assert err.startswith("sigdiag: error: ") and needle in err and len(err.strip().splitlines()) == 1
