"""``sigdiag check`` and ``sigdiag rules list|show|validate|test`` on the bundled captures: exit codes,
formats, filters, settings, user rules and one-line errors.

The golden file tests/golden/check_reference_fault.txt holds the table output of
``sigdiag check captures/reference-fault.pcap --pc-format china --number 0453114 --fail-on never`` run from
the repository root; regenerate it with ``SIGDIAG_UPDATE_GOLDEN=1 pytest tests/unit/test_rules_cli.py``
after checking the new output by eye.
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sigdiag.cli import app
from sigdiag.rules.engine import FINDING_KEYS
from tests.unit.test_rules_loader import GOOD, SHIPPED

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden"
REF = "captures/reference-fault.pcap"
ALL = "captures/all-faults.pcap"
REF_ARGS = (REF, "--pc-format", "china", "--number", "0453114")
runner = CliRunner()


@pytest.fixture(autouse=True)
def _at_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run from the repository root: capture paths (and the golden output's file column) are relative."""
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("SIGDIAG_RULES", raising=False)


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("SIGDIAG_UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.is_file(), f"golden file {path} missing: run with SIGDIAG_UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8")


def jsonl_rows(*args: str) -> list[dict[str, Any]]:
    """Every JSON Lines row: the findings, then (with --number) one row of kind "call" per matching call."""
    code, out, err = run("check", *args, "--format", "jsonl", "--fail-on", "never")
    assert code == 0, err
    return [json.loads(line) for line in out.splitlines()]


def jsonl(*args: str) -> list[dict[str, Any]]:
    """The finding rows of the JSON Lines output."""
    return [r for r in jsonl_rows(*args) if r.get("kind") != "call"]


def assert_one_line_error(code: int, out: str, err: str, *needles: str) -> None:
    assert code == 2, (code, out, err)
    assert err.startswith("sigdiag: error: "), err
    assert len(err.strip().splitlines()) == 1, err
    for needle in needles:
        assert needle in err, (needle, err)


def write_rule(folder: Path, text: str, name: str = "demo.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).replace(tzinfo=UTC).timestamp()


# -- check: the reference fault ----------------------------------------------------------------------------
def test_check_reference_fault_fails_on_high_findings() -> None:
    code, out, err = run("check", *REF_ARGS)
    assert code == 1, err
    blocks = out.split("\n\n")
    first = blocks[0]
    words = " ".join(first.split())  # the message is wrapped at 100 columns
    assert first.startswith("[HIGH] incomplete-digit-collection  Incomplete digit collection")
    assert "REL cause 38 (Network out of order)" in words
    assert re.search(r"\b8\.6 ms after the latest SAM \(frame 21; limit 1000 ms\)", words), words
    assert "gap_ms=8.6" in words
    # the recommended delay comes from the call's own digit gap: 666.4 ms -> 7 units of 0.1 s + 2 margin
    assert "digit-collection delay of 7 units of 0.1 s plus a margin of 2 units" in words
    assert "the longest gap between the IAM and the last SAM of this call, 666.4 ms, rounded up" in words
    assert "<-- REL    cause 38 (Network out of order), location TN" in first
    assert "outcome: network / incomplete-digit-collection" in first
    assert "called 0453114 (no ST), calling 01058722000" in first  # the ladder
    assert "2024-03-01 02:00:03.005 UTC" in first
    assert out.count("[HIGH] incomplete-digit-collection") == 14
    assert "before the SAM reached it (the REL crossed the SAM, frames 504, 505)" in " ".join(out.split())
    assert re.search(
        rf"174 calls \(ASR 62\.6 %\), \d+ messages, {len(SHIPPED)} rules: \d+ findings \(high \d+\)", out
    ), out
    # every call of the number, after the findings
    assert "14 calls match 0453114 (by start time):" in out
    assert out.index("14 calls match 0453114") > out.rindex("fix: ")
    assert "by rule:" in out and "by trunk:" in out


def test_check_table_golden() -> None:
    code, out, err = run("check", *REF_ARGS, "--fail-on", "never")
    assert code == 0, err
    check_golden("check_reference_fault.txt", out)


@pytest.mark.parametrize(
    ("fail_on", "expected"),
    [("never", 0), ("critical", 0), ("high", 1), ("medium", 1), ("info", 1)],
)
def test_fail_on(fail_on: str, expected: int) -> None:
    code, _, _ = run("check", *REF_ARGS, "--fail-on", fail_on, "-f", "jsonl")
    assert code == expected


def test_no_findings_exit_zero() -> None:
    code, out, _ = run("check", *REF_ARGS, "--number", "99999999")
    assert code == 0
    assert "0 findings" in out and "[HIGH]" not in out


def test_check_jsonl_keys() -> None:
    code, out, err = run("check", *REF_ARGS, "--format", "jsonl")
    assert code == 1
    rows = [json.loads(line) for line in out.splitlines()]
    calls = [r for r in rows if r.get("kind") == "call"]
    rows = [r for r in rows if r.get("kind") != "call"]
    assert rows and len(calls) == 14
    required = {"rule", "severity", "category", "call_id", "opc", "dpc", "cic", "iam_frame", "called",
                "frames", "evidence", "message", "recommendation"}  # fmt: skip
    for row in rows:
        assert required <= set(row)
        assert list(row) == [*FINDING_KEYS, "file"]
        assert row["file"] == REF
    idc = [r for r in rows if r["rule"] == "incomplete-digit-collection"]
    assert len(idc) == 14
    first = idc[0]
    assert (first["cic"], first["iam_frame"], first["called"], first["calling"]) == (
        605,
        14,
        "04531141536",
        "01058722000",
    )
    assert first["evidence"]["gap_ms"] == 8.6 and first["evidence"]["cause"] == 38
    assert first["frames"] == [14, 21, 22, 23] and first["outcome_detail"] == "incomplete-digit-collection"
    assert isinstance(first["opc"], int) and isinstance(first["dpc"], int)
    assert "sigdiag: 174 calls, 14 matching 0453114, 15 findings (" in err
    assert "incomplete-digit-collection 14" in err and "{" not in err


def test_check_json() -> None:
    code, out, _ = run("check", *REF_ARGS, "--format", "json", "--fail-on", "never")
    assert code == 0
    doc = json.loads(out)
    assert set(doc) == {"findings", "calls", "summary"}
    assert doc["summary"]["calls"] == 174 and doc["summary"]["rules"] == len(SHIPPED)
    assert doc["summary"]["matched_calls"] == len(doc["calls"]) == 14
    assert {c["outcome_detail"] for c in doc["calls"]} == {"incomplete-digit-collection"}
    starts = [c["start"] for c in doc["calls"]]
    assert starts == sorted(starts)
    assert doc["summary"]["by_rule"]["incomplete-digit-collection"] == 14
    assert doc["summary"]["findings"] == len(doc["findings"])
    assert all(list(f) == [*FINDING_KEYS, "file"] for f in doc["findings"])


def test_check_output_file(tmp_path: Path) -> None:
    out_file = tmp_path / "findings.jsonl"
    code, out, _ = run("check", *REF_ARGS, "-f", "jsonl", "-o", str(out_file), "--fail-on", "never")
    assert code == 0 and out == ""
    assert len(out_file.read_text().splitlines()) == len(jsonl_rows(*REF_ARGS))


def test_set_changes_what_is_found() -> None:
    rows = jsonl(*REF_ARGS, "--set", "incomplete-digit-collection.max_gap_ms=5")
    idc = [r for r in rows if r["rule"] == "incomplete-digit-collection"]
    # only the REL that crossed the SAM and the gaps of at most 5 ms remain
    assert len(idc) == 4
    gaps = [r["evidence"].get("gap_ms") for r in idc]
    assert all(g is None or g <= 5 for g in gaps) and sum(g is None for g in gaps) == 2
    assert all("limit 5 ms" in r["message"] for r in idc if r["evidence"].get("gap_ms") is not None)
    rows = jsonl(*REF_ARGS, "--set", "incomplete-digit-collection.delay_margin_units=5")
    idc = [r for r in rows if r["rule"] == "incomplete-digit-collection"]
    assert idc and all("plus a margin of 5 units" in " ".join(r["recommendation"].split()) for r in idc)


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["--set", "nonsense"], ["--set expects RULE.SETTING=VALUE"]),
        (["--set", "max_gap_ms=5"], ["--set expects RULE.SETTING=VALUE"]),
        (["--set", "no-such-rule.x=1"], ["unknown rule", "no-such-rule"]),
        (["--set", "incomplete-digit-collection.colour=red"], ["has no setting 'colour'"]),
        (["--set", "incomplete-digit-collection.max_gap_ms=soon"], ["max_gap_ms must be a number"]),
        (["--since", "yesterday"], ["--since must be epoch seconds or an ISO 8601 time"]),
    ],
)
def test_bad_options_are_one_line_errors(args: list[str], needles: list[str]) -> None:
    assert_one_line_error(*run("check", *REF_ARGS, *args), *needles)


def test_a_file_that_is_not_a_capture(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello\n" * 10)
    assert_one_line_error(*run("check", str(text)), "notes.txt")
    assert_one_line_error(*run("check", str(tmp_path / "missing.pcap")), "missing.pcap")


def test_a_broken_rules_folder(tmp_path: Path) -> None:
    text = GOOD.replace("severity: high", "severity: urgent")
    path = write_rule(tmp_path / "rules", text)
    code, out, err = run("check", *REF_ARGS, "--rules", str(tmp_path / "rules"))
    assert_one_line_error(code, out, err, f"{path}:5: severity")
    assert_one_line_error(*run("check", *REF_ARGS, "--rules", str(tmp_path / "nope")), "not a rules folder")


def test_user_rules_are_added(tmp_path: Path) -> None:
    folder = tmp_path / "rules"
    write_rule(
        folder,
        GOOD.replace("id: demo", "id: cause-38")
        .replace("severity: high", "severity: low")
        .replace("    - field: sam_count\n      ge: $limit\n", "    - field: released_by\n      eq: called\n")
        .replace("causes: [34, 42]", "causes: [38]"),
        "cause-38.yaml",
    )
    rows = jsonl(*REF_ARGS, "--rules", str(folder))
    mine = [r for r in rows if r["rule"] == "cause-38"]
    assert len(mine) >= 14 and all(r["severity"] == "low" for r in mine)
    assert mine[0]["message"] == "Cause 38 on CIC 605."
    # its settings can be set too
    rows = jsonl(*REF_ARGS, "--rules", str(folder), "--set", "cause-38.causes=16")
    assert not [r for r in rows if r["rule"] == "cause-38"]
    code, out, _ = run("rules", "list", "--rules", str(folder))
    assert code == 0 and re.search(r"^cause-38\s+low\s+network\s+call\s+A demo rule$", out, re.M)


def test_min_severity() -> None:
    code, out, _ = run("check", ALL, "--format", "json", "--fail-on", "never")
    everything = json.loads(out)["findings"]
    assert {f["severity"] for f in everything} >= {"low", "medium", "high"}
    code, out, _ = run("check", ALL, "--format", "json", "--min-severity", "medium", "--fail-on", "never")
    some = json.loads(out)["findings"]
    assert some and {f["severity"] for f in some} <= {"medium", "high", "critical"}
    assert len(some) == sum(f["severity"] in ("medium", "high", "critical") for f in everything)
    code, out, _ = run("check", *REF_ARGS, "--min-severity", "critical")
    assert code == 0 and "0 findings" in out


def test_since_and_until() -> None:
    rows = jsonl(*REF_ARGS)
    idc = [r for r in rows if r["rule"] == "incomplete-digit-collection"]
    since = epoch("2024-03-01T02:00:30")
    later = jsonl(*REF_ARGS, "--since", "2024-03-01T02:00:30Z")
    assert [r["cic"] for r in later if r["rule"] == "incomplete-digit-collection"] == [
        r["cic"] for r in idc if r["start"] >= since
    ]
    assert len([r for r in later if r["rule"] == "incomplete-digit-collection"]) == 9
    earlier = jsonl(*REF_ARGS, "--until", str(since))
    assert [r["cic"] for r in earlier if r["rule"] == "incomplete-digit-collection"] == [
        r["cic"] for r in idc if r["start"] <= since
    ]
    assert len([r for r in earlier if r["rule"] == "incomplete-digit-collection"]) == 5
    # a windowed finding is kept while its window overlaps the range
    windowed = [r for r in rows if r["window_start"] is not None]
    for r in windowed:
        assert r in later or r["window_end"] < since
    none = jsonl(*REF_ARGS, "--since", "2030-01-01T00:00:00", "--until", "2030-01-02T00:00:00")
    assert none == []


def test_cic_filter() -> None:
    rows = jsonl(*REF_ARGS, "--cic", "605")
    assert [r["cic"] for r in rows if r["rule"] == "incomplete-digit-collection"] == [605]
    for r in rows:  # a windowed finding is kept when one of its records is on the CIC
        assert r["cic"] == 605 or r["window_start"] is not None
    assert jsonl(*REF_ARGS, "--cic", "1") == []


def test_number_filter_matches_called_or_calling() -> None:
    rows = jsonl(REF, "--pc-format", "china", "--number", "01058722000")
    assert len([r for r in rows if r["rule"] == "incomplete-digit-collection"]) == 14
    rows = jsonl(REF, "--pc-format", "china", "--number", "04531141536")
    assert [r["cic"] for r in rows if r["rule"] == "incomplete-digit-collection"] == [605]


def test_orphan_messages_are_listed_once() -> None:
    """Orphan messages: one list (a line per circuit, the fix once), not a block per finding."""
    code, out, err = run("check", "captures/realism.pcap", "--fail-on", "never")
    assert code == 0, err
    orphans = [r for r in jsonl("captures/realism.pcap") if r["rule"] == "orphan-message"]
    assert len(orphans) > 10
    assert out.count("[LOW] orphan-message") == 1
    head = next(line for line in out.splitlines() if line.startswith("[LOW] orphan-message"))
    assert head.endswith(f": {len(orphans)} findings, {sum(r['count'] for r in orphans)} messages")
    listed = [line for line in out.splitlines() if line.startswith("  2024-") and "| CIC " in line]
    assert len(listed) == len(orphans)
    assert "| CIC 246   | 2089 -> 2061 | 1 message (CON) | trunk 2061-2089" in listed[0]
    assert out.count("fix: If the capture started mid-call") == 1


def test_asr_in_one_format() -> None:
    """The same ASR, written the same way, in check, calls and stats."""
    _, out, _ = run("check", REF, "--pc-format", "china", "--fail-on", "never")
    assert "174 calls (ASR 62.6 %)" in out
    _, _, err = run("calls", REF, "--pc-format", "china")
    assert "; ASR 62.6 %;" in err
    _, out, _ = run("stats", REF, "--pc-format", "china")
    assert out.splitlines()[1].split()[4:6] == ["62.6", "%"]


# -- rules list / show / validate / test ---------------------------------------------------------------------
def test_rules_list() -> None:
    code, out, _ = run("rules", "list")
    assert code == 0
    lines = out.splitlines()
    assert [line.split()[0] for line in lines] == sorted(SHIPPED)
    assert re.search(
        r"^incomplete-digit-collection\s+high\s+configuration\s+call\s+Incomplete digit", out, re.M
    )


def test_rules_show() -> None:
    code, out, _ = run("rules", "show", "incomplete-digit-collection")
    assert code == 0
    first = out.splitlines()[0]
    assert first.startswith("# ") and first.endswith("rules/incomplete-digit-collection.yaml")
    assert "id: incomplete-digit-collection" in out
    assert out.rstrip().splitlines()[-1] == "# effective settings: max_gap_ms=1000, delay_margin_units=2"
    code, out, _ = run("rules", "show", "incomplete-digit-collection", "--set",
                       "incomplete-digit-collection.max_gap_ms=250")  # fmt: skip
    assert code == 0 and "# effective settings: max_gap_ms=250, delay_margin_units=2" in out
    assert_one_line_error(*run("rules", "show", "no-such-rule"), "unknown rule 'no-such-rule'")
    assert_one_line_error(*run("rules", "show", "t35-expiry", "--set", "t35-expiry.x=1"), "no setting 'x'")


def test_rules_validate_shipped() -> None:
    code, out, err = run("rules", "validate")
    assert code == 0, err
    assert out.strip() == f"{len(SHIPPED)} of {len(SHIPPED)} rule files valid"


def test_rules_validate_broken_files(tmp_path: Path) -> None:
    folder = tmp_path / "rules"
    good = write_rule(folder, GOOD)
    deep = GOOD.replace("field: sam_count", "field: __class__")
    bad = write_rule(folder, deep.replace("id: demo", "id: bad"), "bad.yaml")
    code, out, err = run("rules", "validate", str(folder))
    assert code == 2
    assert out.strip() == "1 of 2 rule files valid"
    line = next(i for i, text in enumerate(deep.splitlines(), 1) if "__class__" in text)
    assert (
        err.strip()
        == f"sigdiag: error: {bad}:{line}: match: unknown fact '__class__'; " + err.split("; ", 1)[1].strip()
    )
    assert err.count("sigdiag: error:") == 1
    # one file, given by name; and two files with one id
    code, out, err = run("rules", "validate", str(good))
    assert code == 0 and out.strip() == "1 of 1 rule files valid"
    other = tmp_path / "other"
    write_rule(other, GOOD)
    code, out, err = run("rules", "validate", str(good), str(other / "demo.yaml"))
    assert code == 2 and "rule id 'demo' is already defined in" in err
    code, out, err = run("rules", "validate", str(tmp_path / "nope.yaml"))
    assert_one_line_error(code, out, err, "nope.yaml: cannot read rule file")


def test_rules_validate_yaml_error_line(tmp_path: Path) -> None:
    text = GOOD.replace("  limit: 3\n", "  limit: 3\n  limit: 4\n")
    path = write_rule(tmp_path, text)
    code, _, err = run("rules", "validate", str(path))
    assert code == 2
    assert err.strip() == f"sigdiag: error: {path}:11: duplicate key 'limit'"


def test_rules_test_t35_expiry(tmp_path: Path) -> None:
    code, out, err = run("rules", "test", "t35-expiry", "--workdir", str(tmp_path))
    assert code == 0, out + err
    lines = out.splitlines()
    assert lines[-1] == "2 of 2 rule tests passed"
    assert lines[0].startswith("ok   t35-expiry") and "positive" in lines[0]
    assert lines[1].startswith("ok   t35-expiry") and "negative" in lines[1]
    assert list(tmp_path.glob("*.pcap"))  # the simulated captures are kept in the workdir


def test_rules_test_unknown_rule() -> None:
    assert_one_line_error(*run("rules", "test", "no-such-rule"), "unknown rule id(s): no-such-rule")


# -- issue 14: values checked where they enter, quick rules ------------------------------------------------
@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (
            ["--set", "release-not-acknowledged.t1_ms=-1"],
            [
                "setting release-not-acknowledged.t1_ms must be a duration (a timer or a window) "
                "above 0, not -1"
            ],
        ),
        (
            ["--set", "congestion-burst.min_share=1.5"],
            ["congestion-burst.min_share must be a share from 0 to 1"],
        ),
        (
            ["--set", "congestion-burst.min_count=0"],
            ["congestion-burst.min_count must be a count: a whole number"],
        ),
        (["--number", "abc"], ["--number 'abc' has no digit"]),
        (["--number", ""], ["--number needs digits (0-9, A-F, * or #), not an empty string"]),
        (["--number", "0453-114"], ["--number takes dialled digits only (0-9, A-F, * and #), not '-'"]),
        (["--cic", "4294967296"], ["--cic must be a circuit identification code from 0 to 4294967295"]),
        (["--cic", "-1"], ["--cic must be a circuit identification code", "not -1"]),
        (["--opc", "99999999"], ["--opc: point code '99999999' does not fit", "0-16777215 (up to 24 bits)"]),
        (["--dpc", "banana"], ["--dpc: not a point code: 'banana'"]),
    ],
)
def test_bad_values_name_the_option_and_the_allowed_range(args: list[str], needles: list[str]) -> None:
    assert_one_line_error(*run("check", *REF_ARGS[:1], *args), *needles)


def test_point_codes_must_fit_the_explicit_format() -> None:
    code, out, err = run("check", REF, "--pc-format", "itu", "--opc", "16384")
    assert_one_line_error(code, out, err, "--opc:", "14 bits", "0-16383 or 3-8-3 for the itu format")
    assert run("check", REF, "--pc-format", "itu", "--opc", "16383", "--fail-on", "never")[0] == 0


def test_a_cic_above_isup_range_warns_that_only_bicc_can_match() -> None:
    code, _, err = run("check", REF, "--pc-format", "china", "--cic", "99999999", "--fail-on", "never")
    assert code == 0
    assert "warning: --cic 99999999 is above 16383, the largest ISUP CIC" in err


def test_number_accepts_star_hash_and_hex_digits() -> None:
    # * and # are the digits B and C as the decoder shows them; lower case is upper case
    code, out, err = run(
        "check", REF, "--pc-format", "china", "--number", "*0b#", "--format", "json", "--fail-on", "never"
    )
    assert code == 0, err
    assert json.loads(out)["summary"]["number"] == "B0BC"


def test_a_quick_rule_without_tests_and_any_file_name_runs_with_a_warning(tmp_path: Path) -> None:
    folder = tmp_path / "incident"
    quick = (
        GOOD.split("tests:")[0]
        .replace("id: demo", "id: cause-38-now")
        .replace("    - field: sam_count\n      ge: $limit\n", "    - field: released_by\n      eq: called\n")
        .replace("causes: [34, 42]", "causes: [38]")
    )
    path = write_rule(folder, quick, "try.yaml")
    code, out, err = run(
        "check", *REF_ARGS, "--rules", str(folder), "--format", "jsonl", "--fail-on", "never"
    )
    assert code == 0, err
    assert [r for r in map(json.loads, out.splitlines()) if r.get("rule") == "cause-38-now"]
    assert f"sigdiag: warning: {path}: rule cause-38-now: the file name does not match the id" in err
    assert f"sigdiag: warning: {path}: rule cause-38-now: no tests: a quick rule" in err
    # its settings are set by id, whatever the file is called
    code, out, err = run(
        "check",
        *REF_ARGS,
        "--rules",
        str(folder),
        "--set",
        "cause-38-now.causes=16",
        "--format",
        "jsonl",
        "--fail-on",
        "never",
    )
    assert code == 0 and not [r for r in map(json.loads, out.splitlines()) if r.get("rule") == "cause-38-now"]
    # rules validate: a warning; --strict: the shipped rules' requirements
    code, out, err = run("rules", "validate", str(path))
    assert code == 0 and "no tests: a quick rule" in err and out.strip() == "1 of 1 rule files valid"
    code, out, err = run("rules", "validate", "--strict", str(path))
    assert code == 2 and "'tests' is a required property" in err and out.strip() == "0 of 1 rule files valid"


def test_a_duplicate_id_names_both_files(tmp_path: Path) -> None:
    quick = GOOD.split("tests:")[0]
    first = write_rule(tmp_path / "a", quick, "one.yaml")
    second = write_rule(tmp_path / "b", quick, "two.yaml")
    code, out, err = run("check", *REF_ARGS, "--rules", str(tmp_path / "a"), "--rules", str(tmp_path / "b"))
    assert_one_line_error(code, out, err, f"{second}: rule id 'demo' is already defined in {first}")
    shipped_id = write_rule(tmp_path / "c", quick.replace("id: demo", "id: t7-expiry"), "mine.yaml")
    code, out, err = run("check", *REF_ARGS, "--rules", str(tmp_path / "c"))
    assert_one_line_error(
        code, out, err, f"{shipped_id}: rule id 't7-expiry' is already defined in", "t7-expiry.yaml"
    )


def test_the_shipped_rules_pass_validate_strict() -> None:
    code, out, err = run("rules", "validate", "--strict")
    assert code == 0 and err == "", err
    assert out.strip() == f"{len(SHIPPED)} of {len(SHIPPED)} rule files valid"
    code, out, err = run("rules", "validate", "--strict", "rules")
    assert code == 0 and err == "", err


def test_rules_test_runs_a_quick_rules_one_test_whatever_its_file_is_called(tmp_path: Path) -> None:
    quick = (
        GOOD.split("tests:")[0]
        .replace("id: demo", "id: cause-38-now")
        .replace("    - field: sam_count\n      ge: $limit\n", "    - field: released_by\n      eq: called\n")
        .replace("causes: [34, 42]", "causes: [38]")
    )
    capture = ROOT / REF
    quick += f"tests:\n  - {{name: ref, capture: '{capture}', pc_format: china, "
    quick += "expect: {min_findings: 14}}\n"
    folder = tmp_path / "incident"
    path = write_rule(folder, quick, "try.yaml")
    code, out, err = run("rules", "test", "cause-38-now", "--rules", str(folder))
    assert code == 0, out + err
    assert re.search(r"^ok\s+cause-38-now\s+positive\s+ref\b", out, re.M), out
    assert f"{path}: rule cause-38-now: one test: a quick rule" in err
