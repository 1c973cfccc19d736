"""Rule files (:mod:`sigdiag.rules.loader`): the shipped rules load, broken files fail with FILE:LINE and
what is wrong, and setting overrides are typed as their defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sigdiag.rules.loader import (
    SEVERITIES,
    RuleError,
    RuleSet,
    load_rule,
    load_rules,
    parse_assignments,
    rule_files,
    shipped_rules_dir,
)

ROOT = Path(__file__).resolve().parents[2]

SHIPPED = (
    "blocked-circuit-attempt",
    "calling-number-anomaly",
    "circuit-reset-burst",
    "confusion",
    "congestion-burst",
    "dual-seizure",
    "hop-counter-exhausted",
    "hung-call",
    "incomplete-digit-collection",
    "orphan-message",
    "release-collision",
    "release-not-acknowledged",
    "release-unacknowledged-at-capture-end",
    "repeat-attempts",
    "short-answered-calls",
    "t35-expiry",
    "t7-expiry",
    "trunk-loss-rate",
    "unallocated-valid-prefix",
    "unequipped-circuit",
)

# A valid rule; the first lines are comments so that line numbers are not trivially 1.
GOOD = """\
# A rule for the loader tests.
# Second comment line.
id: demo
title: A demo rule
severity: high
category: network
scope: call
description: Calls released with one of some causes after some SAMs.
settings:
  limit: 3
  causes: [34, 42]
  ratio: 0.5
  enabled: true
  prefixes: []
  label: text
match:
  all:
    - field: cause
      in: $causes
    - field: sam_count
      ge: $limit
message: Cause {cause} on CIC {cic}.
recommendation: Fix it.
tests:
  - name: pos
    kind: positive
    scenario: tests/x.yaml
    expect: {findings: 1}
  - name: neg
    kind: negative
    scenario: tests/healthy.yaml
    expect: {findings: 0}
"""


def line_of(text: str, needle: str) -> int:
    """1-based line of the first line containing ``needle``."""
    for i, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return i
    raise AssertionError(f"{needle!r} not in the text")


def write(folder: Path, text: str, name: str = "demo.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def error_of(path: Path, overrides: dict[str, Any] | None = None, strict: bool = True) -> str:
    with pytest.raises(RuleError) as info:
        load_rule(path, overrides, strict=strict)
    message = str(info.value)
    assert "\n" not in message, message
    return message


# -- the shipped rules -------------------------------------------------------------------------------------
def test_shipped_rules_dir_is_the_repository_rules_folder() -> None:
    assert shipped_rules_dir().resolve() == (ROOT / "rules").resolve()


def test_every_shipped_rule_loads_and_the_ids_are_the_expected_20() -> None:
    rules = load_rules()
    assert sorted(r.id for r in rules) == sorted(SHIPPED)
    assert len(rules) == 20
    files = rule_files(shipped_rules_dir())
    assert "outcomes.yaml" not in {p.name for p in files}  # the outcome table is not a rule
    assert sorted(p.stem for p in files) == sorted(SHIPPED)


@pytest.mark.parametrize("rid", SHIPPED)
def test_each_shipped_rule(rid: str) -> None:
    path = shipped_rules_dir() / f"{rid}.yaml"
    r = load_rule(path)
    assert r.id == rid == path.stem
    assert r.severity in SEVERITIES and r.title and r.message.strip() and r.recommendation.strip()
    kinds = [t.get("kind", "positive" if t["name"] != "negative" else "negative") for t in r.tests]
    assert "positive" in kinds and "negative" in kinds, kinds
    for t in r.tests:
        if "scenario" in t:
            assert (path.parent / t["scenario"]).is_file(), t["scenario"]
    if r.windowed:
        assert r.window_s is not None and r.window_s > 0 and r.count >= 1 and r.group_by
    else:
        assert r.scope != "trunk-window"
    assert r.settings == r.defaults


def test_shipped_rule_shapes() -> None:
    rules = load_rules()
    idc = rules["incomplete-digit-collection"]
    assert idc.outcome == ("network", "incomplete-digit-collection")
    assert idc.match.timeline and not idc.windowed and idc.level == SEVERITIES.index("high")
    assert rules["t35-expiry"].outcome == ("caller", "t35-expiry")
    cb = rules["congestion-burst"]
    assert cb.windowed and cb.group_by == "trunk" and cb.window_s == 30.0 and cb.count == 5
    assert cb.share is not None and cb.of is not None
    tl = rules["trunk-loss-rate"]
    assert tl.min_population == tl.settings["min_attempts"] and tl.share == tl.settings["max_loss_rate"]
    assert rules["repeat-attempts"].time_of == "start" and rules["repeat-attempts"].group_by == "called"
    assert rules["orphan-message"].scope == "circuit" and rules["orphan-message"].group_by == "key"
    summary = idc.summary()
    assert set(summary) == {"id", "severity", "category", "scope", "title", "source"}
    assert summary["source"].endswith("incomplete-digit-collection.yaml")


def test_good_rule_loads(tmp_path: Path) -> None:
    r = load_rule(write(tmp_path, GOOD))
    assert (r.id, r.severity, r.category, r.scope) == ("demo", "high", "network", "call")
    assert r.settings == {"limit": 3, "causes": [34, 42], "ratio": 0.5, "enabled": True, "prefixes": [],
                          "label": "text"}  # fmt: skip
    assert not r.windowed and r.outcome is None and len(r.tests) == 2
    assert r.source == str(tmp_path / "demo.yaml")


# -- schema and syntax errors name the file and the line ---------------------------------------------------
@pytest.mark.parametrize(
    ("change", "needle", "message"),
    [
        # (old, new) replacements of GOOD; the error line is the line of ``needle`` in the broken text
        (("severity: high", "severity: urgent"), "severity: urgent", "severity: 'urgent' is not one of"),
        (("category: network", "category: weather"), "category: weather", "category:"),
        (("scope: call", "scope: everything"), "scope: everything", "scope:"),
        (("id: demo", "id: Demo_1"), "id: Demo_1", "id: 'Demo_1' does not match"),
        (("id: demo", "id: -demo"), "id: -demo", "does not match"),
        (("scope: call\n", "scope: call\ncolour: red\n"), "colour: red", "'colour' was unexpected"),
        (("  limit: 3\n", "  limit: 3\n\tbad: 1\n"), "bad: 1", "not valid YAML"),
        (("  limit: 3\n", "  limit: 3\n  limit: 4\n"), "limit: 4", "duplicate key 'limit'"),
        (("  limit: 3\n", "  Limit: 3\n"), "Limit: 3", "settings"),
        (("  limit: 3\n", "  limit: {a: 1}\n"), "limit: {a: 1}", "settings.limit"),
        (("title: A demo rule", "title: ''"), "title: ''", "title"),
        (
            ("    kind: positive\n", "    kind: positive\n    colour: red\n"),
            "colour: red",
            "tests.0: Additional properties",
        ),
        (("    kind: negative", "    kind: maybe"), "kind: maybe", "tests.1.kind"),
        (
            ("    expect: {findings: 1}", "    expect: {findings: -1}"),
            "findings: -1",
            "tests.0.expect.findings",
        ),
        (
            ("message: Cause {cause} on CIC {cic}.\n", "message: 5\n"),
            "message: 5",
            "message: 5 is not of type",
        ),
    ],
)
def test_schema_errors_name_file_and_line(
    tmp_path: Path, change: tuple[str, str], needle: str, message: str
) -> None:
    old, new = change
    assert old in GOOD
    text = GOOD.replace(old, new, 1)
    path = write(tmp_path, text)
    err = error_of(path)
    assert err.startswith(f"{path}:{line_of(text, needle)}: "), err
    assert message in err, err


def test_missing_required_key_points_at_the_mapping(tmp_path: Path) -> None:
    """A missing key has no line of its own: the error names the line where the rule's mapping starts."""
    for key in ("title", "severity", "description", "message", "recommendation", "match", "tests"):
        if key == "match":
            text = GOOD.split("match:")[0] + "message:" + GOOD.split("message:")[1]
        elif key == "tests":
            text = GOOD.split("tests:")[0]
        else:
            text = "".join(ln for ln in GOOD.splitlines(keepends=True) if not ln.startswith(f"{key}:"))
        assert f"\n{key}:" not in text
        path = write(tmp_path / key, text)
        err = error_of(path)
        assert err.startswith(f"{path}:3: top level: '{key}' is a required property"), err


def test_too_few_tests_is_an_error(tmp_path: Path) -> None:
    text = GOOD.split("  - name: neg")[0]
    path = write(tmp_path, text)
    err = error_of(path)
    assert err.startswith(f"{path}:{line_of(text, '- name: pos')}: tests: ") and "too short" in err


def test_bad_condition_deep_in_match_names_its_line(tmp_path: Path) -> None:
    text = GOOD.replace(
        "    - field: sam_count\n      ge: $limit\n",
        "    - any:\n        - field: sam_count\n          ge: $limit\n"
        "        - not:\n            field: __class__\n            eq: 1\n",
    )
    path = write(tmp_path, text)
    err = error_of(path)
    assert err.startswith(f"{path}:{line_of(text, 'field: __class__')}: match: unknown fact '__class__'"), err


@pytest.mark.parametrize(
    ("old", "new", "needle", "message"),
    [
        ("      ge: $limit", "      ge: $nosuch", "field: sam_count", r"'$nosuch' names no setting"),
        ("      ge: $limit", "      ge: 1\n      le: 2", "field: sam_count", "exactly one operator"),
        (
            "    - field: sam_count\n      ge: $limit",
            "    - present: 'IAM><'",
            "present:",
            "bad message selector",
        ),
        (
            "    - field: sam_count\n      ge: $limit",
            "    - present: XYZ",
            "present: XYZ",
            "unknown message type",
        ),
        (
            "    - field: sam_count\n      ge: $limit",
            "    - field: called\n      matches: '('",
            "field: called",
            "bad regular expression",
        ),
        ("    - field: sam_count\n      ge: $limit", "    - bogus: 1", "bogus: 1", "exactly one of all, any"),
        (
            "    - field: sam_count\n      ge: $limit",
            "    - field: [a, b]\n      eq: 1",
            "field: [a, b]",
            "unknown fact",
        ),
    ],
)
def test_condition_errors_become_rule_errors_with_lines(
    tmp_path: Path, old: str, new: str, needle: str, message: str
) -> None:
    assert old in GOOD
    text = GOOD.replace(old, new)
    path = write(tmp_path, text)
    err = error_of(path)
    assert err.startswith(f"{path}:{line_of(text, needle)}: match: "), err
    assert message in err, err


def test_id_must_match_the_file_name(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD, "other.yaml")
    err = error_of(path)
    assert err == f"{path}:3: id 'demo' must match the file name (other.yaml)"


def test_window_and_threshold_go_together(tmp_path: Path) -> None:
    text = GOOD.replace("scope: call\n", "scope: call\nwindow: {seconds: 5, group_by: trunk}\n")
    err = error_of(write(tmp_path / "a", text))
    assert ":3: top level: 'threshold' is a required property" in err
    text = GOOD.replace("scope: call\n", "scope: call\nthreshold: {count: 2}\n")
    err = error_of(write(tmp_path / "b", text))
    assert ":3: top level: 'window' is a required property" in err
    text = GOOD.replace("scope: call\n", "scope: trunk-window\n")
    err = error_of(write(tmp_path / "c", text))
    assert "'window' is a required property" in err or "'threshold' is a required property" in err


@pytest.mark.parametrize(
    ("block", "needle", "message"),
    [
        (
            "window: {seconds: -1, group_by: trunk}\nthreshold: {count: 2}\n",
            "window:",
            "window.seconds must be a number above 0, not -1",
        ),
        (
            "window: {seconds: $nope, group_by: trunk}\nthreshold: {count: 2}\n",
            "window:",
            "window.seconds: '$nope' names no setting",
        ),
        (
            "window: {seconds: $label, group_by: trunk}\nthreshold: {count: 2}\n",
            "window:",
            "window.seconds must be a number above 0, not 'text' (setting label)",
        ),
        (
            "window: {seconds: 5, group_by: trunk}\nthreshold: {count: $enabled}\n",
            "threshold:",
            "threshold.count must be a whole number of at least 1, not True (setting enabled)",
        ),
        (
            "window: {seconds: 5, group_by: trunk}\nthreshold: {count: 2, share: $nope}\n",
            "threshold:",
            "threshold.share: '$nope' names no setting",
        ),
        (
            "window: {seconds: 5, group_by: trunk}\n"
            "threshold: {count: 2, share: 0.5, of: {field: nope, eq: 1}}\n",
            "threshold:",
            "threshold.of: unknown fact 'nope'",
        ),
        # a population or a minimum population without a share would be ignored: an error
        (
            "window: {seconds: 5, group_by: trunk}\nthreshold: {count: 2, of: {field: open, eq: false}}\n",
            "threshold:",
            "threshold.of needs threshold.share",
        ),
        (
            "window: {seconds: 5, group_by: trunk}\nthreshold:\n  count: 2\n  min_population: 10\n",
            "min_population:",
            "threshold.min_population needs threshold.share",
        ),
        # a share is at most 1 (5 % is 0.05), and it is counted by IAM time
        (
            "window: {seconds: 5, group_by: trunk}\nthreshold:\n  count: 2\n  share: 5\n",
            "share: 5",
            "threshold.share is a share of the population, at most 1 (0.05 is 5 %), not 5",
        ),
        (
            "window:\n  seconds: 5\n  group_by: trunk\n  time: release\nthreshold: {count: 2, share: 0.5}\n",
            "time: release",
            "window.time: a share counts its matches and its population by IAM time (time: start)",
        ),
        ("window: {seconds: 5, group_by: galaxy}\nthreshold: {count: 2}\n", "window:", "window.group_by"),
    ],
)
def test_window_errors(tmp_path: Path, block: str, needle: str, message: str) -> None:
    text = GOOD.replace("scope: call\n", "scope: trunk-window\n" + block)
    path = write(tmp_path, text)
    err = error_of(path)
    assert err.startswith(f"{path}:{line_of(text, needle)}: "), err
    assert message in err, err


def test_window_rule_with_settings(tmp_path: Path) -> None:
    text = GOOD.replace(
        "scope: call\n",
        "scope: trunk-window\nwindow: {seconds: $limit, group_by: called, time: start}\n"
        "threshold: {count: $limit, share: $ratio, min_population: 7, of: {field: open, eq: false}}\n",
    )
    r = load_rule(write(tmp_path, text))
    assert (r.window_s, r.count, r.share, r.min_population) == (3.0, 3, 0.5, 7)
    assert r.group_by == "called" and r.time_of == "start" and r.of is not None and r.windowed
    r = load_rule(tmp_path / "demo.yaml", {"limit": "10", "ratio": "0.25"})
    assert (r.window_s, r.count, r.share) == (10.0, 10, 0.25)


def test_circuit_rules_cannot_group_by_numbers_nor_override_outcomes(tmp_path: Path) -> None:
    circuit = (
        GOOD.replace("scope: call", "scope: circuit")
        .replace("    - field: sam_count\n      ge: $limit\n", "    - field: circuits\n      ge: $limit\n")
        .replace("field: cause\n      in: $causes", "field: type\n      in: [RSC, GRS]")
    )
    assert load_rule(write(tmp_path / "ok", circuit)).scope == "circuit"
    text = circuit.replace("scope: circuit\n", "scope: circuit\nwindow: {seconds: 5, group_by: called}\n"
                           "threshold: {count: 2}\n")  # fmt: skip
    err = error_of(write(tmp_path / "a", text))
    assert err.endswith(f":{line_of(text, 'window:')}: circuit rules cannot group by called")
    text = circuit + "outcome: {class: network, detail: x}\n"
    err = error_of(write(tmp_path / "b", text))
    assert err.endswith(f":{line_of(text, 'outcome:')}: only call rules may override the outcome")
    # and the call facts are not circuit facts
    text = circuit.replace("field: circuits", "field: sam_count")
    assert "unknown fact 'sam_count'" in error_of(write(tmp_path / "c", text))


def test_outcome_is_read(tmp_path: Path) -> None:
    r = load_rule(write(tmp_path, GOOD + "outcome: {class: caller, detail: my-detail}\n"))
    assert r.outcome == ("caller", "my-detail")
    err = error_of(write(tmp_path / "x", GOOD + "outcome: {class: lost, detail: x}\n"))
    assert "outcome.class" in err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("- a\n- b\n", ":1: a rule file must be a mapping"),
        ("", ":1: a rule file must be a mapping"),
        ("just text\n", ":1: a rule file must be a mapping"),
        ("id: demo\n{[a, b]: 1}\n", "not valid YAML"),
        ("id: demo\nx: {[a, b]: 1}\n", ":2: a key must be a plain value"),
        ("id: demo\nx: !!python/name:os.system ''\n", ":2: tag !!python/name:os.system is not allowed"),
        ("id: demo\nx: 2026-13-45\n", ":2: bad value: month must be in 1..12"),
    ],
)
def test_malformed_files(tmp_path: Path, content: str, message: str) -> None:
    path = write(tmp_path, content)
    err = error_of(path)
    assert err.startswith(str(path)) and message in err, err


def test_unreadable_files(tmp_path: Path) -> None:
    path = tmp_path / "demo.yaml"
    path.write_bytes(b"\xff\xfe\x00\x01id: demo")
    assert error_of(path) == f"{path}:1: not a UTF-8 text file (byte 0)"
    missing = tmp_path / "missing.yaml"
    assert error_of(missing).startswith(f"{missing}: cannot read rule file")


def test_text_argument_and_a_source_without_yaml_suffix() -> None:
    r = load_rule("<inline>", text=GOOD.replace("id: demo", "id: inline-rule"))
    assert r.id == "inline-rule" and r.source == "<inline>"


# -- folders -----------------------------------------------------------------------------------------------
def test_load_rules_from_folders_and_duplicate_ids(tmp_path: Path) -> None:
    a = tmp_path / "a"
    b = tmp_path / "b"
    write(a, GOOD)
    write(a, "not: a rule\n", "outcomes.yaml")  # skipped by name
    rs = load_rules([a], shipped=False)
    assert [r.id for r in rs] == ["demo"]
    write(b, GOOD)
    with pytest.raises(RuleError) as info:
        load_rules([a, b], shipped=False)
    assert str(info.value) == f"{b / 'demo.yaml'}: rule id 'demo' is already defined in {a / 'demo.yaml'}"
    # a user rule may not reuse a shipped id either
    write(tmp_path / "c", GOOD.replace("id: demo", "id: t35-expiry"), "t35-expiry.yaml")
    with pytest.raises(RuleError, match="rule id 't35-expiry' is already defined"):
        load_rules([tmp_path / "c"])


def test_load_rules_adds_user_rules_to_the_shipped_ones(tmp_path: Path) -> None:
    write(tmp_path, GOOD)
    rs = load_rules([tmp_path])
    assert len(rs) == 21 and "demo" in rs.rules and list(rs.rules)[-1] == "demo"


def test_load_rules_errors(tmp_path: Path) -> None:
    with pytest.raises(RuleError, match="not a rules folder"):
        load_rules([tmp_path / "nope"], shipped=False)
    write(tmp_path, GOOD.replace("severity: high", "severity: urgent"))
    with pytest.raises(RuleError, match=r"demo\.yaml:5: severity"):
        load_rules([tmp_path], shipped=False)


def test_ruleset_select() -> None:
    rs = load_rules()
    sub = rs.select(["t35-expiry", "congestion-burst"])
    assert [r.id for r in sub] == ["t35-expiry", "congestion-burst"] and isinstance(sub, RuleSet)
    with pytest.raises(RuleError, match="unknown rule id"):
        rs.select(["t35-expiry", "nope"])


def test_shipped_rules_folder_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, GOOD)
    monkeypatch.setenv("SIGDIAG_RULES", str(tmp_path))
    assert shipped_rules_dir() == tmp_path
    assert [r.id for r in load_rules()] == ["demo"]


# -- settings ----------------------------------------------------------------------------------------------
def test_parse_assignments() -> None:
    assert parse_assignments(None) == {}
    assert parse_assignments(["a.x=1", "a.y = two ", "b.z=1,2", "a.x=3", "c.url=http://h/?q=1"]) == {
        "a": {"x": "3", "y": "two"},
        "b": {"z": "1,2"},
        "c": {"url": "http://h/?q=1"},
    }
    assert parse_assignments(["a.empty="]) == {"a": {"empty": ""}}


@pytest.mark.parametrize("bad", ["a.x", "ax=1", ".x=1", "a.=1", "=1", "", "a=1"])
def test_parse_assignments_errors(bad: str) -> None:
    with pytest.raises(RuleError, match=r"--set expects RULE\.SETTING=VALUE"):
        parse_assignments([bad])


@pytest.mark.parametrize(
    ("setting", "value", "expected"),
    [
        ("limit", "5", 5),
        ("limit", "5.0", 5),
        ("limit", "2.5", 2.5),
        ("limit", 7, 7),
        ("limit", "1e3", 1000),
        ("ratio", "1", 1.0),
        ("ratio", "0.125", 0.125),
        ("enabled", "false", False),
        ("enabled", "No", False),
        ("enabled", "yes", True),
        ("enabled", "1", True),
        ("enabled", "0", False),
        ("enabled", False, False),
        ("causes", "34, 42 ,44", [34, 42, 44]),
        ("causes", [1, "2"], [1, 2]),
        ("causes", "", []),
        ("prefixes", "021,0453", ["021", "0453"]),
        ("prefixes", [45, "0"], ["45", "0"]),
        ("label", 12, "12"),
        ("label", "x y", "x y"),
    ],
)
def test_setting_overrides_are_typed_as_the_default(
    tmp_path: Path, setting: str, value: Any, expected: Any
) -> None:
    r = load_rule(write(tmp_path, GOOD), {setting: value})
    got = r.settings[setting]
    assert got == expected and type(got) is type(expected), (got, expected)
    assert r.defaults[setting] != got or setting == "enabled"  # the default is kept apart


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("limit", "soon", "setting demo.limit must be a number, not 'soon'"),
        ("limit", True, "must be a number"),
        ("limit", "inf", "must be a number"),
        ("limit", "nan", "must be a number"),
        ("limit", "", "must be a number"),
        ("ratio", [1], "must be a number"),
        ("enabled", "maybe", "setting demo.enabled must be true or false"),
        ("enabled", 2, "must be true or false"),
        ("causes", "34,x", "setting demo.causes must be a list of integers"),
        (
            "nope",
            "1",
            "rule demo has no setting 'nope' (settings: causes, enabled, label, limit, prefixes, ratio)",
        ),
    ],
)
def test_bad_setting_overrides(tmp_path: Path, setting: str, value: Any, message: str) -> None:
    err = error_of(write(tmp_path, GOOD), {setting: value})
    assert message in err, err


def test_overrides_change_the_compiled_conditions(tmp_path: Path) -> None:
    """A setting is read when the condition is compiled: ``$limit`` takes the override."""
    from sigdiag.rules.language import CALL_FACTS, Context
    from tests.unit.test_rules_language import FakeCall

    path = write(tmp_path, GOOD)
    call = FakeCall(cause=42, sam_count=2)
    assert not load_rule(path).match.test(Context(CALL_FACTS, call=call))
    assert load_rule(path, {"limit": "2"}).match.test(Context(CALL_FACTS, call=call))
    assert not load_rule(path, {"limit": "2", "causes": "34"}).match.test(Context(CALL_FACTS, call=call))


def test_load_rules_with_settings(tmp_path: Path) -> None:
    rs = load_rules(settings={"incomplete-digit-collection": {"max_gap_ms": "5"}})
    r = rs["incomplete-digit-collection"]
    assert r.settings["max_gap_ms"] == 5 and r.defaults["max_gap_ms"] == 1000
    with pytest.raises(RuleError, match=r"settings given for unknown rule\(s\): nope"):
        load_rules(settings={"nope": {"x": 1}})
    with pytest.raises(RuleError, match="rule t35-expiry has no setting 'colour'"):
        load_rules(settings={"t35-expiry": {"colour": "red"}})
    with pytest.raises(RuleError, match="must be a number"):
        load_rules(settings={"t35-expiry": {"t35_min_ms": "soon"}})


# -- quick rules (issue 14, point 6) -------------------------------------------------------------------------
def test_a_quick_rule_needs_no_tests_nor_a_matching_file_name(tmp_path: Path) -> None:
    text = GOOD.split("tests:")[0]
    path = write(tmp_path, text, "my-idea.yaml")
    assert "top level: 'tests' is a required property" in error_of(path)  # strict: as a shipped rule
    named = write(tmp_path / "named", GOOD, "my-idea.yaml")
    assert "id 'demo' must match the file name (my-idea.yaml)" in error_of(named)
    r = load_rule(path, strict=False)
    assert r.id == "demo" and r.tests == []
    assert r.warnings == [
        "the file name does not match the id 'demo'",
        "no tests: a quick rule, not checked by sigdiag rules test "
        "(sigdiag rules validate --strict requires two)",
    ]
    one = load_rule(write(tmp_path / "one", GOOD.split("  - name: neg")[0]), strict=False)
    assert one.warnings == [
        "one test: a quick rule, not checked by sigdiag rules test "
        "(sigdiag rules validate --strict requires two)"
    ]
    assert load_rule(write(tmp_path / "full", GOOD), strict=False).warnings == []
    # what a rule says is still checked
    err = error_of(write(tmp_path / "bad", text.replace("severity: high", "severity: urgent")), strict=False)
    assert ":5: severity" in err


def test_load_rules_takes_quick_rules_from_folders_and_settings_by_id(tmp_path: Path) -> None:
    write(tmp_path, GOOD.split("tests:")[0], "whatever.yaml")
    rs = load_rules([tmp_path], settings={"demo": {"limit": "7"}})
    assert rs["demo"].settings["limit"] == 7 and rs["demo"].warnings
    assert all(not r.warnings for r in rs if r.id != "demo")  # the shipped rules are strict and clean
    with pytest.raises(RuleError, match="'tests' is a required property"):
        load_rules([tmp_path], strict=True)


def test_duplicate_ids_name_both_files_whatever_they_are_called(tmp_path: Path) -> None:
    a = write(tmp_path / "a", GOOD.split("tests:")[0], "first.yaml")
    b = write(tmp_path / "b", GOOD.split("tests:")[0], "second.yaml")
    with pytest.raises(RuleError) as info:
        load_rules([tmp_path / "a", tmp_path / "b"], shipped=False)
    assert str(info.value) == f"{b}: rule id 'demo' is already defined in {a}"
    write(tmp_path / "c", GOOD.split("tests:")[0].replace("id: demo", "id: t7-expiry"), "mine.yaml")
    with pytest.raises(
        RuleError, match=r"mine\.yaml: rule id 't7-expiry' is already defined in .*t7-expiry\.yaml"
    ):
        load_rules([tmp_path / "c"])


def test_the_shipped_rules_pass_strict_validation() -> None:
    for path in rule_files(shipped_rules_dir()):
        r = load_rule(path, strict=True)
        assert r.warnings == [] and len(r.tests) >= 2 and r.id == path.stem


# -- setting ranges (issue 14, point 2) ----------------------------------------------------------------------
RANGED = GOOD.replace(
    "  label: text\n",
    "  label: text\n  t1_ms: 4000\n  window_s: 60\n  max_loss_rate: 0.05\n  min_share: 0.1\n"
    "  min_count: 5\n  subscriber_max_length: 8\n  delay_margin_units: 2\n",
)


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("t1_ms", "-1", "setting demo.t1_ms must be a duration (a timer or a window) above 0, not -1"),
        ("t1_ms", "0", "above 0, not 0"),
        ("window_s", "-0.5", "setting demo.window_s must be a duration"),
        (
            "max_loss_rate",
            "1.5",
            "setting demo.max_loss_rate must be a share from 0 to 1 (0.05 is 5 %), not 1.5",
        ),
        ("min_share", "-0.1", "must be a share from 0 to 1"),
        ("min_count", "0", "setting demo.min_count must be a count: a whole number of at least 1, not 0"),
        ("min_count", "2.5", "a whole number of at least 1, not 2.5"),
        ("subscriber_max_length", "0", "a count"),
        (
            "delay_margin_units",
            "-1",
            "setting demo.delay_margin_units must be a whole number of units, 0 or more",
        ),
    ],
)
def test_setting_overrides_are_checked_against_the_range_of_their_name(
    tmp_path: Path, setting: str, value: str, message: str
) -> None:
    path = write(tmp_path, RANGED)
    assert load_rule(path).settings["t1_ms"] == 4000
    err = error_of(path, {setting: value})
    assert message in err, err


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("t1_ms", "0.5"),
        ("max_loss_rate", "0"),
        ("max_loss_rate", "1"),
        ("min_count", "1"),
        ("delay_margin_units", "0"),
    ],
)
def test_setting_overrides_at_the_edges_of_their_range(tmp_path: Path, setting: str, value: str) -> None:
    assert load_rule(write(tmp_path, RANGED), {setting: value}).settings[setting] == float(value)


@pytest.mark.parametrize(
    ("default", "message"),
    [
        ("  t1_ms: -5\n", "settings.t1_ms: must be a duration (a timer or a window) above 0, not -5"),
        ("  max_loss_rate: 5\n", "settings.max_loss_rate: must be a share from 0 to 1"),
        (
            "  min_attempts: 0\n",
            "settings.min_attempts: must be a count: a whole number of at least 1, not 0",
        ),
        ("  t1_ms: soon\n", "settings.t1_ms: must be a duration"),
    ],
)
def test_a_rule_files_own_defaults_are_checked(tmp_path: Path, default: str, message: str) -> None:
    text = GOOD.replace("  label: text\n", "  label: text\n" + default)
    path = write(tmp_path, text)
    err = error_of(path)
    assert err.startswith(f"{path}:{line_of(text, default.strip())}: ") and message in err, err


@pytest.mark.parametrize(
    ("block", "message"),
    [
        (
            "window: {seconds: 0, group_by: trunk}\nthreshold: {count: 2}\n",
            "window.seconds must be a number above 0, not 0",
        ),
        ("window: {seconds: $w, group_by: trunk}\nthreshold: {count: 2}\n", "not -3 (setting w)"),
        (
            "window: {seconds: 5, group_by: trunk}\nthreshold: {count: 0}\n",
            "threshold.count must be a whole number of at least 1, not 0",
        ),
    ],
)
def test_window_and_threshold_values_are_checked(tmp_path: Path, block: str, message: str) -> None:
    text = GOOD.replace("  label: text\n", "  label: text\n  w: -3\n").replace(
        "scope: call\n", "scope: call\n" + block
    )
    err = error_of(write(tmp_path, text))
    assert message in err, err


def test_the_nesting_of_a_rule_is_bounded(tmp_path: Path) -> None:
    """3,000 nested ``any``: a clear error naming the file and line, not a RecursionError."""
    cond = '{"any": [' * 3000 + '{"field": "outcome", "eq": "network"}' + "]}" * 3000
    text = GOOD.split("match:")[0] + f"match: {cond}\n" + "message:" + GOOD.split("message:")[1]
    path = write(tmp_path, text)
    err = error_of(path)
    assert (
        err
        == f"{path}:{line_of(text, 'match:')}: nested deeper than 100 levels (limit SIGDIAG_YAML_MAX_DEPTH)"
    )
    # 40 levels of any (80 of YAML) are fine
    cond = '{"any": [' * 40 + '{"field": "outcome", "eq": "network"}' + "]}" * 40
    text = GOOD.split("match:")[0] + f"match: {cond}\n" + "message:" + GOOD.split("message:")[1]
    assert load_rule(write(tmp_path / "ok", text)).id == "demo"


def test_settings_from_follows_another_rule_and_names_a_bad_source(tmp_path: Path) -> None:
    """``settings_from``: the settings both rules have follow the other rule's effective values (its
    --set too), the rule's own setting wins; a source that is not another loaded rule is an error."""
    follow = "settings_from: release-not-acknowledged\nsettings:\n  t1_ms: 4000\n"
    text = GOOD.replace("settings:\n", follow, 1)
    folder = tmp_path / "rules"
    write(folder, text)
    rules = load_rules([folder], {"release-not-acknowledged": {"t1_ms": 7000}})
    assert rules["demo"].settings["t1_ms"] == 7000 and rules["demo"].settings["limit"] == 3
    rules = load_rules([folder], {"release-not-acknowledged": {"t1_ms": 7000}, "demo": {"t1_ms": 5000}})
    assert rules["demo"].settings["t1_ms"] == 5000
    write(folder, text.replace("settings_from: release-not-acknowledged", "settings_from: no-such-rule"))
    with pytest.raises(RuleError, match="settings_from 'no-such-rule' must name another loaded rule"):
        load_rules([folder])
