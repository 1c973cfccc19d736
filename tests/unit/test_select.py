"""Finding calls: :func:`sigdiag.report.select.select_calls` (captures) and
:func:`sigdiag.audit.lookup.select_audit_calls` (audit folders, across rotated files)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sigdiag.audit import run_audit
from sigdiag.audit.lookup import AuditLookupError, is_audit_folder, select_audit_calls
from sigdiag.cli import app
from sigdiag.decode import resolve_settings
from sigdiag.report.select import select_calls
from tests.unit.test_audit import split

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "captures" / "reference-fault.pcap"
CHINA = resolve_settings(None, None, pc_format="china")
ALL_FAULTS = ROOT / "captures" / "all-faults.pcap"
ALL_FAULTS_CONFIG = ROOT / "captures" / "all-faults.config.yaml"
FAULT_SETTINGS = resolve_settings(None, ALL_FAULTS_CONFIG)


def check_findings(*args: str) -> list[dict]:
    result = CliRunner().invoke(app, ["check", *args, "-f", "jsonl", "--fail-on", "never"])
    assert result.exit_code == 0, result.output
    return [d for d in map(json.loads, result.stdout.splitlines()) if d.get("kind") != "call"]


def test_call_id_gives_the_call_its_ladder_frames_and_findings() -> None:
    [s] = select_calls([REFERENCE], call_id="7", settings=CHINA)
    assert s.call["call_id"] == 7 and s.call["called"] == "04531141536" and s.call["file"] == str(REFERENCE)
    assert s.frames == [(str(REFERENCE), f) for f in (14, 21, 22, 23)]
    assert [r["type"] for r in s.rows] == ["IAM", "SAM", "REL", "RLC"]
    assert [r["frame"] for r in s.rows] == [14, 21, 22, 23]
    assert all(r["file"] == str(REFERENCE) for r in s.rows)
    assert s.rows[0]["ts"] == s.call["start"] and s.rows[2]["info"].startswith("cause 38")
    assert {f["rule"] for f in s.findings} == {"incomplete-digit-collection", "trunk-loss-rate"}


def test_number_is_contained_in_called_or_calling_as_check_matches() -> None:
    found = select_calls([REFERENCE], number="0453114", settings=CHINA)
    assert len(found) == 14
    assert all("0453114" in s.call["called"] or "0453114" in (s.call["calling"] or "") for s in found)
    calling = select_calls([REFERENCE], number="01058722000", settings=CHINA)
    assert calling and all(s.call["calling"] == "01058722000" for s in calling)
    assert select_calls([REFERENCE], number="99999999999999", settings=CHINA) == []


def test_rule_selects_the_calls_its_findings_name_windowed_ones_by_member() -> None:
    findings = check_findings(str(REFERENCE), "--pc-format", "china")
    for rule in ("incomplete-digit-collection", "trunk-loss-rate"):
        named = set()
        for f in findings:
            if f["rule"] == rule:
                named |= {f["call_id"]} if f["call_id"] is not None else set(f["calls"])
        got = select_calls([REFERENCE], rule=rule, settings=CHINA)
        assert {s.call["call_id"] for s in got} == named and named
        assert all(any(f["rule"] == rule for f in s.findings) for s in got)


def test_filters_combine_and_bad_values_are_errors() -> None:
    both = select_calls([REFERENCE], number="0453114", cic=605, settings=CHINA)
    assert [s.call["call_id"] for s in both] == [7]
    assert select_calls([REFERENCE], call_id=7, cic=606, settings=CHINA) == []
    assert len(select_calls([REFERENCE], opc="26-3-12", cic=605, settings=CHINA)) == 1
    with pytest.raises(ValueError, match="unknown rule"):
        select_calls([REFERENCE], rule="no-such-rule", settings=CHINA)
    with pytest.raises(ValueError, match="call id"):
        select_calls([REFERENCE], call_id="seven", settings=CHINA)


def test_copies_on_another_link_are_frames_of_the_call(shared_captures: Path) -> None:
    path = shared_captures / "fs-mod_isup__isup_m3ua_mgcp_call.pcap"
    [s] = select_calls([path], call_id=1)
    # each message was captured on both legs (ASP->STP, STP->ASP): both copies belong to the call
    assert [f for _, f in s.frames] == [48, 49, 54, 55, 57, 58, 62, 63, 66, 67]
    assert [r["type"] for r in s.rows] == ["IAM", "ACM", "ANM", "REL", "RLC"]


# -- audit folders ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def audit_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("lookup")
    split(ALL_FAULTS, tmp / "in", 4)
    out = tmp / "out"
    run_audit(
        [str(tmp / "in")], out, {"decode": {"config": str(ALL_FAULTS_CONFIG)}}, workers=1, progress=False
    )
    return out


def test_is_audit_folder(audit_dir: Path, tmp_path: Path) -> None:
    assert is_audit_folder(audit_dir)
    assert not is_audit_folder(tmp_path) and not is_audit_folder(REFERENCE)
    with pytest.raises(AuditLookupError, match="not an audit output folder"):
        select_audit_calls(tmp_path)


def _by_start(selected: list) -> dict:
    return {round(s.call["start"], 6): s for s in selected}


def test_audit_calls_equal_the_whole_capture_calls_across_rotated_files(audit_dir: Path) -> None:
    audited = _by_start(select_audit_calls(audit_dir))
    whole = _by_start(select_calls([ALL_FAULTS], settings=FAULT_SETTINGS))
    assert audited.keys() == whole.keys()
    spanning = [s for s in audited.values() if len({p for p, _ in s.frames}) > 1]
    assert spanning  # calls whose messages are in two rotated files
    for start, a in audited.items():
        w = whole[start]
        assert len(a.frames) == len(a.call["frames"]) and a.rows
        # the same messages, with the same content, in the same order
        assert [(r["type"], r["direction"], r["info"]) for r in a.rows] == [
            (r["type"], r["direction"], r["info"]) for r in w.rows
        ]
        assert [r["ts"] for r in a.rows] == pytest.approx([r["ts"] for r in w.rows], abs=1e-4)
        assert [r["file"] for r in a.rows] == [p for p, _ in a.frames]
    # a spanning call's frames name the rotated files that hold them
    s = spanning[0]
    assert {p for p, _ in s.frames} == set(s.call["frame_files"])
    assert all(Path(p).parent.name == "in" for p, _ in s.frames)


def test_audit_rule_and_number_and_call_id(audit_dir: Path) -> None:
    got = select_audit_calls(audit_dir, rule="unequipped-circuit")
    assert got and all(any(f["rule"] == "unequipped-circuit" for f in s.findings) for s in got)
    assert all(isinstance(f["evidence"], dict) for s in got for f in s.findings)
    for rule in ("unequipped-circuit", "trunk-loss-rate"):  # a call rule, a windowed rule (member calls)
        audited = select_audit_calls(audit_dir, rule=rule)
        whole = select_calls([ALL_FAULTS], rule=rule, settings=FAULT_SETTINGS)
        assert sorted(s.call["start"] for s in audited) == pytest.approx(
            sorted(s.call["start"] for s in whole)
        )
        assert len(audited) == len(whole) > 1
    one = got[0]
    again = select_audit_calls(audit_dir, call_id=str(one.call["call_id"]))
    assert [s.call["start"] for s in again] == [one.call["start"]]
    number = select_audit_calls(audit_dir, number=one.call["called"])
    assert one.call["call_id"] in {s.call["call_id"] for s in number}
    assert select_audit_calls(audit_dir, rule="no-finding-of-this-rule") == []


def test_audit_ladder_rows_are_read_again_and_the_stored_ladder_serves_when_files_are_gone(
    tmp_path: Path,
) -> None:
    """Ladder rows come from the frames read again (exact times, as the capture's); when a rotated file
    has gone since the audit, a call with a finding still gets its rows from the stored ladder."""
    files = split(REFERENCE, tmp_path / "in", 2)
    out = tmp_path / "out"
    run_audit([str(tmp_path / "in")], out, {"decode": {"pc_format": "china"}}, workers=1, progress=False)
    whole = _by_start(select_calls([REFERENCE], settings=CHINA))
    read = _by_start(select_audit_calls(out))
    for start, s in read.items():
        assert [r["ts"] for r in s.rows] == pytest.approx([r["ts"] for r in whole[start].rows], abs=1e-6)
    for f in files:
        f.unlink()
    after = select_audit_calls(out)
    stored = [s for s in after if any(f["call_id"] == s.call["call_id"] and f["ladder"] for f in s.findings)]
    assert stored and all(s.rows for s in stored)
    assert all(not s.rows for s in after if s not in stored)  # (nothing to tell them by)
    for s in stored:
        w = whole[round(s.call["start"], 6)]
        assert [(r["type"], r["direction"]) for r in s.rows] == [(r["type"], r["direction"]) for r in w.rows]
        assert [r["ts"] for r in s.rows] == pytest.approx([r["ts"] for r in w.rows], abs=2e-4)
