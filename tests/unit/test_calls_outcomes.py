"""Outcome classification: the shipped table, the file format and its errors, the refinement hook."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sigdiag.calls import OutcomesError, load_outcomes, parse_outcomes
from sigdiag.calls.outcomes import PACKAGED, default_outcomes_path
from tests.unit.test_calls_builder import Flow, correlate

ROOT = Path(__file__).resolve().parents[2]


def _released(cause: int, *, fwd: bool, phase: str = "setup", **kw: Any) -> Any:
    f = Flow()
    f.msg("IAM")
    if phase in ("alerting", "answered"):
        f.msg("ACM", fwd=False)
    if phase == "answered":
        f.msg("ANM", fwd=False)
    f.msg("REL", fwd=fwd, cause=cause, dt=kw.get("dt", 2.0))
    f.msg("RLC", fwd=not fwd)
    _, (call,) = correlate(f.messages)
    return call


@pytest.mark.parametrize(
    ("cause", "fwd", "phase", "outcome", "detail"),
    [
        (16, True, "answered", "answered", "answered"),
        (16, False, "answered", "answered", "answered"),
        (17, False, "setup", "subscriber", "user-busy"),
        (18, False, "alerting", "subscriber", "no-user-responding"),
        (19, False, "alerting", "subscriber", "no-answer"),
        (20, False, "setup", "subscriber", "subscriber-absent"),
        (21, False, "setup", "subscriber", "call-rejected"),
        (22, False, "setup", "subscriber", "number-changed"),
        (16, True, "setup", "caller", "caller-abandon-before-alerting"),
        (31, True, "setup", "caller", "caller-abandon-before-alerting"),
        (16, True, "alerting", "caller", "caller-abandon"),
        (31, True, "alerting", "caller", "caller-abandon"),
        (1, False, "setup", "caller", "unallocated-number"),
        (28, False, "setup", "caller", "invalid-number-format"),
        (2, False, "setup", "network", "no-route-to-transit-network"),
        (3, False, "setup", "network", "no-route-to-destination"),
        (27, False, "setup", "network", "destination-out-of-order"),
        (34, False, "setup", "network", "no-circuit-available"),
        (38, False, "setup", "network", "network-out-of-order"),
        (41, False, "setup", "network", "temporary-failure"),
        (42, False, "setup", "network", "switching-equipment-congestion"),
        (44, False, "setup", "network", "requested-circuit-not-available"),
        (47, False, "setup", "network", "resource-unavailable"),
        (102, True, "setup", "network", "recovery-on-timer-expiry"),
        (95, False, "alerting", "network", "cause-95"),
        (111, False, "setup", "network", "protocol-error"),
        (127, False, "setup", "network", "interworking"),
        (25, False, "setup", "network", "hop-counter-exhausted"),
        (16, False, "alerting", "subscriber", "called-side-clearing"),
        (31, False, "setup", "network", "normal-unspecified"),
    ],
)
def test_shipped_classes(cause: int, fwd: bool, phase: str, outcome: str, detail: str) -> None:
    call = _released(cause, fwd=fwd, phase=phase)
    assert (call.outcome, call.outcome_detail) == (outcome, detail)
    assert (call.base_outcome, call.base_outcome_detail, call.outcome_by) == (outcome, detail, "outcomes")


def test_one_outcome_table_shipped_as_package_data() -> None:
    """The table stands once in the repository, in the package (its data), not in the rules folder."""
    import tomllib

    assert PACKAGED == ROOT / "src" / "sigdiag" / "calls" / "outcomes.yaml"
    tables = [p for base in ("src", "rules") for p in (ROOT / base).rglob("outcomes.yaml")]
    assert tables == [PACKAGED]
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "calls/*.yaml" in config["tool"]["setuptools"]["package-data"]["sigdiag"]


def test_default_lookup(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("SIGDIAG_OUTCOMES", raising=False)
    assert default_outcomes_path() == PACKAGED
    mine = tmp_path / "mine.yaml"
    mine.write_text("classes:\n  - {outcome: network, detail: everything}\n")
    monkeypatch.setenv("SIGDIAG_OUTCOMES", str(mine))
    assert default_outcomes_path() == mine
    _, (call,) = correlate([Flow().msg("IAM")])
    assert (call.outcome, call.outcome_detail) == ("network", "everything")


def test_operator_can_change_the_mapping(tmp_path: Path) -> None:
    """An operator who counts cause 31 from the called side as a subscriber outcome edits the file."""
    text = PACKAGED.read_text()
    marker = "  - outcome: subscriber\n    detail: called-side-clearing\n"
    marker += "    when: {released_by: called, cause: 16}"
    assert marker in text
    path = tmp_path / "outcomes.yaml"
    path.write_text(text.replace(marker, marker.replace("cause: 16}", "cause: [16, 31]}")))
    from sigdiag.calls import CallSettings, Correlator

    f = Flow()
    f.msg("IAM")
    f.msg("REL", fwd=False, cause=31)
    calls = list(Correlator(CallSettings(), load_outcomes(path)).run(f.messages))
    assert (calls[0].outcome, calls[0].outcome_detail) == ("subscriber", "called-side-clearing")


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("classes: [", 1, "not valid YAML"),
        ("- 1\n", 1, "expected a mapping"),
        ("version: 2\nclasses:\n  - {outcome: unknown, detail: x}\n", 1, "only version 1"),
        ("colour: blue\nclasses:\n  - {outcome: unknown, detail: x}\n", 1, "unknown key 'colour'"),
        ("version: 1\n", 1, "missing 'classes'"),
        ("classes: []\n", 1, "non-empty list"),
        ("classes:\n  - {outcome: lost, detail: x}\n", 2, "outcome must be one of"),
        ("classes:\n  - {outcome: network}\n", 2, "without 'detail'"),
        ("classes:\n  - {detail: x}\n", 2, "without 'outcome'"),
        (
            "classes:\n  - outcome: network\n    detail: x\n    when:\n      kause: [1]\n",
            5,
            "unknown condition",
        ),
        (
            "classes:\n  - outcome: network\n    detail: x\n    when: {cause: [1, 300]}\n"
            "  - {outcome: unknown, detail: y}\n",
            4,
            "not a value 0-127",
        ),
        ("classes:\n  - {outcome: network, detail: x, when: {cause: '9-3'}}\n", 2, "within 0-127"),
        ("classes:\n  - {outcome: network, detail: x, when: {answered: maybe}}\n", 2, "true or false"),
        ("classes:\n  - {outcome: network, detail: x, when: {phase: ringing}}\n", 2, "not one of"),
        ("classes:\n  - {outcome: network, detail: x, when: {answered: true}}\n", 2, "catch-all"),
        ("cause_details: {200: x}\nclasses:\n  - {outcome: network, detail: x}\n", 1, "0-127"),
        ("classes:\n  - {outcome: network, detail: x, colour: red}\n", 2, "unknown key 'colour'"),
    ],
)
def test_errors_name_file_and_line(tmp_path: Path, text: str, line: int, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(OutcomesError) as exc:
        load_outcomes(path)
    assert str(exc.value).startswith(f"{path}:{line}: "), str(exc.value)
    assert message in str(exc.value)


def test_missing_file() -> None:
    with pytest.raises(OutcomesError, match="cannot read"):
        load_outcomes("/nonexistent/outcomes.yaml")


def test_conditions_accept_single_values_ranges_and_null() -> None:
    table = parse_outcomes(
        "classes:\n"
        "  - {outcome: network, detail: 'n-{cause}', when: {cause: '40-45', cause_location: 3}}\n"
        "  - {outcome: caller, detail: no-cause, when: {cause: null}}\n"
        "  - {outcome: unknown, detail: other}\n"
    )

    class C:
        cause: int | None = 42
        cause_location = 3

    assert table.classify(C()) == ("network", "n-42")
    C.cause_location = 2
    assert table.classify(C()) == ("unknown", "other")
    C.cause = None
    assert table.classify(C()) == ("caller", "no-cause")


def test_override_outcome_is_the_hook_for_the_rules() -> None:
    """A later stage (the diagnosis rules) refines a call's outcome; the base stays visible."""
    from sigdiag.calls import CallSettings
    from sigdiag.calls.pipeline import CallReader  # noqa: F401  (the hook's home)

    call = _released(28, fwd=False)
    assert call.outcome == "caller"
    call.override_outcome("network", "incomplete-digit-collection", "incomplete-digit-collection")
    d = call.as_dict()
    assert (d["outcome"], d["outcome_detail"], d["outcome_by"]) == (
        "network",
        "incomplete-digit-collection",
        "incomplete-digit-collection",
    )
    assert (d["base_outcome"], d["base_outcome_detail"]) == ("caller", "invalid-number-format")
    with pytest.raises(ValueError, match="outcome must be one of"):
        call.override_outcome("lost", "x", "r")
    assert CallSettings().keep_messages  # the rules see each call's messages by default
