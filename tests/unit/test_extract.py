"""``sigdiag extract`` and ``check --evidence``: slices with exactly the frames of the calls, read back by
tshark and by sigdiag itself."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sigdiag.audit import run_audit
from sigdiag.capture import open_capture
from sigdiag.cli import app
from sigdiag.codec.messages import ITU_MESSAGES
from sigdiag.decode import resolve_settings
from sigdiag.report.select import select_calls
from sigdiag.report.slices import SliceError, evidence_name, write_slice
from tests.tshark_util import TSHARK, needs_tshark
from tests.unit.test_audit import split

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "captures" / "reference-fault.pcap"
CARRIERS = ROOT / "captures" / "carriers.pcapng"
ALL_FAULTS = ROOT / "captures" / "all-faults.pcap"
ALL_FAULTS_CONFIG = ROOT / "captures" / "all-faults.config.yaml"
CHINA = resolve_settings(None, None, pc_format="china")
ABBR = {code: spec.abbr for code, spec in ITU_MESSAGES.items()}


def run(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(app, list(args))
    return r.exit_code, r.stdout, r.stderr


def tshark_messages(path: Path) -> list[tuple[str, str]]:
    """(epoch time, message type abbreviation) of every frame tshark reads, in order."""
    assert TSHARK is not None
    cmd = [TSHARK, "-n", "-r", str(path), "-T", "fields", "-e", "frame.time_epoch", "-e", "isup.message_type"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rows = []
    for line in out.splitlines():
        ts, code = line.split("\t")
        rows.append((ts, ABBR.get(int(code), code) if code else ""))
    return rows


@needs_tshark
def test_extract_call_gives_exactly_its_frames_readable_by_tshark(tmp_path: Path) -> None:
    out = tmp_path / "slice.pcap"
    code, _, err = run("extract", str(REFERENCE), "--pc-format", "china", "--call", "7", "-o", str(out))
    assert code == 0, err
    assert "wrote 4 frames of 1 call" in err and "(pcap)" in err
    [call] = select_calls([REFERENCE], call_id=7, settings=CHINA)
    seen = tshark_messages(out)
    # as many frames as the ladder has messages, with its types and the original time stamps
    assert [t for _, t in seen] == [r["type"] for r in call.rows] == ["IAM", "SAM", "REL", "RLC"]
    assert [float(ts) for ts, _ in seen] == pytest.approx([r["ts"] for r in call.rows], abs=1e-6)
    # octet for octet the original records, with their link type
    original = {f.number: f for f in open_capture(REFERENCE, [])}
    sliced = list(open_capture(out, []))
    assert [(f.data, f.linktype, f.orig_len) for f in sliced] == [
        (original[n].data, original[n].linktype, original[n].orig_len) for _, n in call.frames
    ]


def test_round_trip_calls_on_the_slice_gives_the_same_call(tmp_path: Path) -> None:
    out = tmp_path / "slice.pcap"
    assert (
        run("extract", str(REFERENCE), "--pc-format", "china", "--number", "0453114", "-o", str(out))[0] == 0
    )
    code, stdout, _ = run("calls", str(out), "--pc-format", "china", "-f", "jsonl")
    assert code == 0
    again = [json.loads(line) for line in stdout.splitlines()]
    before = select_calls([REFERENCE], number="0453114", settings=CHINA)
    keys = ("called", "calling", "cic", "opc", "dpc", "start", "outcome", "outcome_detail", "cause", "pdd_ms")
    assert [{k: c[k] for k in keys} for c in again] == [{k: s.call[k] for k in keys} for s in before]
    assert [len(c["frames"]) for c in again] == [len(s.call["frames"]) for s in before]


def test_finding_selects_its_calls_and_no_match_is_exit_1(tmp_path: Path) -> None:
    out = tmp_path / "t.pcap"
    code, _, err = run(
        "extract",
        str(REFERENCE),
        "--pc-format",
        "china",
        "--finding",
        "incomplete-digit-collection",
        "-o",
        str(out),
    )
    assert code == 0 and "of 14 calls" in err
    assert len(list(open_capture(out, []))) == sum(
        len(s.frames) for s in select_calls([REFERENCE], rule="incomplete-digit-collection", settings=CHINA)
    )
    missing = tmp_path / "none.pcap"
    code, _, err = run(
        "extract", str(REFERENCE), "--pc-format", "china", "--number", "77777777", "-o", str(missing)
    )
    assert code == 1 and err.strip() == "sigdiag: no call matches --number 77777777: nothing written"
    assert not missing.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "say which calls"),
        (["--call", "x1"], "call id"),
        (["--finding", "no-such-rule"], "unknown rule"),
        (["--number", "abc"], "--number"),
    ],
)
def test_usage_errors_are_one_line_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    code, _, err = run("extract", str(REFERENCE), *args, "-o", str(tmp_path / "x.pcap"))
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_not_a_capture_and_plain_folder_are_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pcap"
    bad.write_text("not a capture")
    code, _, err = run("extract", str(bad), "--call", "1", "-o", str(tmp_path / "x.pcap"))
    assert code == 2 and "sigdiag: error:" in err
    code, _, err = run("extract", str(tmp_path), "--call", "1", "-o", str(tmp_path / "x.pcap"))
    assert code == 2 and "not an audit output folder" in err


@needs_tshark
def test_several_link_types_give_pcapng(tmp_path: Path) -> None:
    selected = select_calls([CARRIERS])
    frames = [f for s in selected for f in s.frames]
    result = write_slice(frames, tmp_path / "all.pcapng")
    assert result.format == "pcapng"
    got = list(open_capture(result.path, []))
    assert len(got) == len(set(frames)) == len(tshark_messages(result.path))
    assert {f.linktype for f in got} == {f.linktype for f in open_capture(CARRIERS, [])} and len(
        {f.linktype for f in got}
    ) > 1
    assert [f.ts for f in got] == sorted(f.ts for f in got)


def test_duplicate_frames_are_written_once_and_missing_frames_are_errors(tmp_path: Path) -> None:
    result = write_slice(
        [(str(REFERENCE), 14), (str(REFERENCE), 14), (str(REFERENCE), 1)], tmp_path / "d.pcap"
    )
    assert result.sources == [(str(REFERENCE), 1), (str(REFERENCE), 14)]
    with pytest.raises(SliceError, match="frame 999999 not in the file"):
        write_slice([(str(REFERENCE), 999999)], tmp_path / "m.pcap")
    assert not (tmp_path / "m.pcap").exists()
    copy = tmp_path / "copy.pcap"
    copy.write_bytes(REFERENCE.read_bytes())
    with pytest.raises(SliceError, match="write the slice elsewhere"):
        write_slice([(str(copy), 1)], tmp_path / "." / "copy.pcap")
    assert copy.read_bytes() == REFERENCE.read_bytes()


@needs_tshark
def test_shared_capture_slice_keeps_both_copies(shared_captures: Path, tmp_path: Path) -> None:
    path = shared_captures / "fs-mod_isup__isup_m3ua_mgcp_call.pcap"
    out = tmp_path / "fs.pcap"
    assert run("extract", str(path), "--call", "1", "-o", str(out))[0] == 0
    seen = tshark_messages(out)
    assert [t for _, t in seen] == ["IAM", "IAM", "ACM", "ANM", "ACM", "ANM", "REL", "REL", "RLC", "RLC"]


@needs_tshark
def test_audit_folder_slice_across_rotated_files(tmp_path: Path) -> None:
    split(ALL_FAULTS, tmp_path / "in", 4)
    audit = tmp_path / "out"
    run_audit(
        [str(tmp_path / "in")],
        audit,
        {"decode": {"config": str(ALL_FAULTS_CONFIG)}},
        workers=1,
        progress=False,
    )
    from sigdiag.audit.lookup import select_audit_calls

    calls = select_audit_calls(audit)
    spanning = next(s for s in calls if len({p for p, _ in s.frames}) > 1)
    out = tmp_path / "span.pcap"
    code, _, err = run("extract", str(audit), "--call", str(spanning.call["call_id"]), "-o", str(out))
    assert code == 0, err
    assert [t for _, t in tshark_messages(out)] == [r["type"] for r in spanning.rows]
    # the same as the frames of that call in the whole capture
    whole = {
        round(s.call["start"], 6): s
        for s in select_calls([ALL_FAULTS], settings=resolve_settings(None, ALL_FAULTS_CONFIG))
    }
    mine = whole[round(spanning.call["start"], 6)]
    original = {f.number: f.data for f in open_capture(ALL_FAULTS, [])}
    assert [f.data for f in open_capture(out, [])] == [original[n] for _, n in mine.frames]
    code, _, err = run(
        "extract", str(audit), "--finding", "unequipped-circuit", "-o", str(tmp_path / "u.pcap")
    )
    assert code == 0 and "of 2 calls" in err


# -- check --evidence ----------------------------------------------------------------------------------------
def test_evidence_name_is_a_safe_file_name() -> None:
    assert evidence_name("t35-expiry", [12]) == "t35-expiry-call12"
    assert evidence_name("trunk-loss-rate", [7, 15, 16]) == "trunk-loss-rate-call7-and-2-more"
    assert evidence_name("../../etc/x y", []) == "_.._etc_x_y-frame0"
    assert evidence_name("orphan-message", [], 612) == "orphan-message-frame612"


def test_check_evidence_writes_a_slice_and_a_ladder_per_finding(tmp_path: Path) -> None:
    base = ["check", str(ALL_FAULTS), "--config", str(ALL_FAULTS_CONFIG), "-f", "jsonl"]
    code_plain, plain, _ = run(*base)
    folder = tmp_path / "ev"
    code, stdout, err = run(*base, "--evidence", str(folder))
    assert (code, stdout) == (code_plain, plain)  # the report itself is unchanged
    findings = [json.loads(line) for line in stdout.splitlines()]
    pcaps = sorted(folder.glob("*.pcap"))
    assert len(pcaps) == len(findings) and f"evidence: {len(findings)} slices" in err
    originals = {f.number for f in open_capture(ALL_FAULTS, [])}
    for f in findings:
        ids = [f["call_id"]] if f["call_id"] is not None else f["calls"] or []
        name = evidence_name(f["rule"], ids, min(f["frames"]) if f["frames"] else None)
        records = list(open_capture(folder / f"{name}.pcap", []))
        assert records and len(records) <= len(originals)
        if f["call_id"] is not None:  # the call's messages (no copies in this capture)
            assert len(records) == len(f["frames"]) == len(f["ladder"])
            svg = (folder / f"{name}.svg").read_text(encoding="utf-8")
            assert svg.lstrip().startswith("<svg") or svg.lstrip().startswith("<?xml")
            assert f"call {f['call_id']}" in svg
        elif f["calls"]:  # windowed: every member call's messages
            selected = select_calls(
                [ALL_FAULTS], rule=f["rule"], settings=resolve_settings(None, ALL_FAULTS_CONFIG)
            )
            members = [s for s in selected if s.call["call_id"] in f["calls"]]
            assert len(records) == sum(len(s.frames) for s in members) > len(f["calls"])
            assert (folder / f"{name}.svg").is_file()
        else:  # about no call: its own frames
            assert len(records) == len(f["frames"])
            assert not (folder / f"{name}.svg").exists()
