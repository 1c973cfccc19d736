"""Audits keep provenance (issue 13, point 7; the audit part of point 9).

* every call row names the file of each of its frames (``frame_files``, parallel to ``frames``), checked on
  hand-built calls that span two rotated files, and against an audit of the unsplit capture;
* per-file damage (a truncated record, a file that is not a capture, decoding anomalies) is stored in the
  ``anomalies`` table and shown by ``audit`` / ``audit report`` with file names and frame numbers;
* no worker process outlives the audit process (SIGKILL of the parent alone), and the rerun gives the
  totals of an uninterrupted run;
* Parquet times are UTC timestamps with a time zone and causes nullable integers, in the audit's tables and
  in ``sigdiag calls -f parquet``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sigdiag.audit import run_audit
from sigdiag.capture import open_capture
from sigdiag.cli import app
from sigdiag.decode import read_messages
from tests.unit.test_audit import split
from tests.unit.test_calls_builder import T0, Flow, write_capture

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
ds = pytest.importorskip("pyarrow.dataset")

ROOT = Path(__file__).resolve().parents[2]
CAPTURE = ROOT / "captures" / "all-faults.pcap"
CONFIG = ROOT / "captures" / "all-faults.config.yaml"
OPTIONS = {"decode": {"config": str(CONFIG)}}
runner = CliRunner()


def table(out: Path, name: str) -> list[dict[str, Any]]:
    folder = out / name
    if not folder.is_dir():
        return []
    rows: list[dict[str, Any]] = (
        ds.dataset(folder, format="parquet", partitioning="hive").to_table().to_pylist()
    )
    return rows


def write_some(path: Path, flow: Flow, indexes: list[int], cut: dict[int, int] | None = None) -> Path:
    """The flow's messages ``indexes`` (in that order) as a capture; ``cut``: index -> octets cut off the
    end of that message (a malformed message)."""
    part = Flow()
    part.raw = []
    for i in indexes:
        ts, opc, dpc, data, protocol, sip = flow.raw[i]
        if cut and i in cut:
            data = data[: -cut[i]]
        part.raw.append((ts, opc, dpc, data, protocol, sip))
    return write_capture(path, part)


# -- frame_files ---------------------------------------------------------------------------------------------
def test_a_call_spanning_two_files_names_the_file_of_each_frame(tmp_path: Path) -> None:
    """Hand-built: call 5 starts in the first file and ends in the second; call 7's IAM is the second
    file's first frame while its ACM, 30 ms later by the clock, was the first file's last frame (the
    correlator holds the ACM until the IAM comes: it joins the call while the second file is read)."""
    f = Flow(step=0.5)
    f.msg("IAM", cic=5, called="0219999", calling="01099990000", st=True)  # 0
    f.msg("ACM", cic=5, fwd=False)  # 1
    f.msg("IAM", cic=7, called="0219998", st=True, ts=T0 + 10.000)  # 2
    f.msg("ACM", cic=7, fwd=False, ts=T0 + 10.030)  # 3
    f.msg("ANM", cic=5, fwd=False, ts=T0 + 11)  # 4
    f.msg("REL", cic=5, ts=T0 + 12, cause=16)  # 5
    f.msg("RLC", cic=5, fwd=False, ts=T0 + 12.01)  # 6
    (tmp_path / "in").mkdir()
    one = write_some(tmp_path / "in" / "probe_00001.pcap", f, [0, 1, 3])
    two = write_some(tmp_path / "in" / "probe_00002.pcap", f, [2, 4, 5, 6])
    res = run_audit([str(tmp_path / "in")], tmp_path / "out", {}, workers=1, progress=False)
    assert res.total("files") == 2 and len(res.points) == 1
    calls = {r["cic"]: r for r in table(tmp_path / "out", "calls")}
    assert set(calls) == {5, 7}
    a, b = str(one), str(two)
    assert calls[5]["frames"] == [1, 2, 2, 3, 4]
    assert calls[5]["frame_files"] == [a, a, b, b, b]
    assert calls[5]["outcome"] == "answered" and calls[5]["file"] == b
    assert calls[7]["frames"] == [1, 3] and calls[7]["frame_files"] == [b, a]
    # the same path as the files' other columns (the anomalies and the state name files the same way)
    state = json.loads(
        next(p for p in (tmp_path / "out" / "_state").glob("*.json") if p.name != "run.json").read_text()
    )
    assert {x["path"] for x in state["files"]} == {a, b}
    # each (file, frame) is a message of the call in that file (read independently of the audit)
    for call in calls.values():
        for frame, path in zip(call["frames"], call["frame_files"], strict=True):
            (m,) = [m for m in read_messages(path) if m.frame == frame]
            assert m.cic == call["cic"]


def _frames_by_file(calls: list[dict[str, Any]]) -> None:
    for c in calls:
        assert len(c["frame_files"]) == len(c["frames"]) and None not in c["frame_files"]


def test_frame_files_of_a_rotated_capture_match_the_unsplit_audit(tmp_path: Path) -> None:
    """Every call of the capture split into 7 files has, frame by frame, the file and the frame number
    that the same message has in the unsplit capture once the split is undone (frame k of piece i is
    frame offset(i) + k of the whole)."""
    pieces = split(CAPTURE, tmp_path / "in", 7)
    offsets, total = {}, 0
    for p in pieces:
        offsets[str(p)] = total
        total += len(list(open_capture(p, [])))
    run_audit([str(CAPTURE)], tmp_path / "whole", OPTIONS, workers=1, progress=False)
    run_audit([str(tmp_path / "in")], tmp_path / "out", OPTIONS, workers=1, progress=False)
    whole = table(tmp_path / "whole", "calls")
    calls = table(tmp_path / "out", "calls")
    assert len(calls) == len(whole)
    _frames_by_file(calls)
    assert all(set(c["frame_files"]) == {str(CAPTURE)} for c in whole)

    def key(c: dict[str, Any]) -> tuple[Any, ...]:
        return (c["opc"], c["dpc"], c["cic"], c["start"])

    by_key = {key(c): c for c in whole}
    spanning = 0
    for c in calls:
        w = by_key[key(c)]
        assert [offsets[f] + n for f, n in zip(c["frame_files"], c["frames"], strict=True)] == w["frames"]
        spanning += len(set(c["frame_files"])) > 1
    assert spanning >= 6  # calls open at the boundaries (at least one per boundary here)
    # per-call findings carry them too (JSON text, like their frames)
    findings = [f for f in table(tmp_path / "out", "findings") if f["call_id"] is not None]
    assert findings
    for f in findings:
        frames, files = json.loads(f["frames"]), json.loads(f["frame_files"])
        assert len(files) == len(frames) and set(files) <= {str(p) for p in pieces}


# -- per-file damage -----------------------------------------------------------------------------------------
def test_truncated_garbage_and_malformed_files_are_in_the_anomalies_table(tmp_path: Path) -> None:
    inp = tmp_path / "in"
    pieces = split(CAPTURE, inp, 4)
    # a record cut by the end of the file (the probe died mid-write)
    n_frames = len(list(open_capture(pieces[2], [])))
    data = pieces[2].read_bytes()
    pieces[2].write_bytes(data[:-40])
    # a file of the same point that is not a capture at all
    garbage = inp / "probe_00009_20240301.pcap"
    garbage.write_bytes(b"this is not a capture at all\n" * 10)
    # a file of another point with a malformed REL (cause parameter cut short) as its 3rd frame
    f = Flow(step=0.2, t0=T0)
    f.msg("IAM", cic=9)
    f.msg("ACM", cic=9, fwd=False)
    f.msg("REL", cic=9, fwd=False, cause=17)
    f.msg("RLC", cic=9)
    malformed = write_some(inp / "other.pcap", f, [0, 1, 2, 3], cut={2: 1})
    assert any(m.anomalies for m in read_messages(malformed))
    out = tmp_path / "out"
    res = run_audit([str(inp)], out, OPTIONS, workers=1, progress=False)
    assert [(Path(p).name, why.split(":")[0]) for p, why in res.bad] == [(garbage.name, "file.not_a_capture")]
    rows = table(out, "anomalies")
    by_file = Counter((r["file"], r["file_status"], r["scope"], r["name"], r["frame"]) for r in rows)
    assert by_file == Counter(
        {
            (str(pieces[2]), "audited", "frame", "pcap.truncated_record", n_frames): 1,
            (str(garbage), "skipped", "file", "file.not_a_capture", None): 1,
            (str(malformed), "audited", "message", "isup.parameter_overrun", 3): 1,
        }
    )
    g = next(r for r in rows if r["file"] == str(garbage))
    assert "not a pcap or pcapng capture" in g["detail"] and g["ts"] is None
    m = next(r for r in rows if r["file"] == str(malformed))
    assert m["ts"] is not None and abs(m["ts"].timestamp() - f.messages[2].ts) < 1e-6
    assert {r["point"] for r in rows} == {str(inp / "probe"), str(inp / "other")}
    # the summary names them, with the frames
    damaged = {d["file"]: d for d in res.damaged}
    assert set(damaged) == {str(pieces[2]), str(garbage), str(malformed)}
    assert damaged[str(pieces[2])]["frames"] == [n_frames] and damaged[str(garbage)]["status"] == "skipped"
    r = runner.invoke(app, ["audit", "report", str(out)])
    assert r.exit_code == 0, r.output
    text = r.stdout
    assert "3 files with anomalies" in text
    assert f"{pieces[2]}: 1 anomaly: pcap.truncated_record x1 (frame {n_frames})" in text
    assert f"{garbage}: skipped: file.not_a_capture: " in text
    assert f"{malformed}: 1 anomaly: isup.parameter_overrun x1 (frame 3)" in text
    r = runner.invoke(app, ["audit", "report", str(out), "-f", "jsonl"])
    assert r.exit_code == 0 and "files with anomalies" not in r.stdout
    assert (
        f"sigdiag: warning: {pieces[2]}: 1 anomaly: pcap.truncated_record x1 (frame {n_frames})" in r.stderr
    )
    # a rerun stores nothing twice (the same garbage is the same error, already stored)
    again = run_audit([str(inp)], out, OPTIONS, workers=1, progress=False)
    assert (again.total("files"), again.total("skipped"), again.damaged_now) == (0, 5, [])
    assert [(Path(p).name, why.split(":")[0]) for p, why in again.bad] == [
        (garbage.name, "file.not_a_capture")
    ]
    assert len(table(out, "anomalies")) == len(rows) and again.damaged == res.damaged
    # the garbage is replaced by a copy of a file already audited: skipped as done, its old rows go
    garbage.write_bytes(pieces[0].read_bytes())
    res = run_audit([str(inp)], out, OPTIONS, workers=1, progress=False)
    assert (res.bad, res.total("files"), res.total("skipped")) == ([], 0, 6)
    assert {r["file"] for r in table(out, "anomalies")} == {str(pieces[2]), str(malformed)}
    # then by a new capture (an hour later): it is audited
    split(CAPTURE, tmp_path / "later", 1, shift=3600.0)[0].rename(garbage)
    res = run_audit([str(inp)], out, OPTIONS, workers=1, progress=False)
    assert res.bad == [] and res.total("files") == 1
    assert {r["file"] for r in table(out, "anomalies")} == {str(pieces[2]), str(malformed)}


def test_a_file_that_breaks_mid_way_is_skipped_reported_and_tried_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read error in the middle of a file (the decoder raises CaptureError after 40 messages): the file
    is skipped (its calls are not stored), a ``file.broken`` row names it, the point goes on from the
    state before it; the next run tries it again, and once it reads, its row goes."""
    import sigdiag.decode
    from sigdiag.capture import CaptureError

    inp = tmp_path / "in"
    pieces = split(CAPTURE, inp, 3)
    broken = str(pieces[1])
    real = sigdiag.decode.read_messages

    def flaky(path: Any, **kw: Any) -> Any:
        reader = real(path, **kw)
        if str(path) != broken:
            return reader

        def gen() -> Any:
            for i, m in enumerate(reader):
                if i == 40:
                    raise CaptureError(f"{path}: read error: Input/output error")
                yield m

        class Broken:
            anomalies = reader.anomalies
            anomaly_count = 0

            def __iter__(self) -> Any:
                return gen()

        return Broken()

    monkeypatch.setattr(sigdiag.decode, "read_messages", flaky)
    out = tmp_path / "out"
    res = run_audit([str(inp)], out, OPTIONS, workers=1, progress=False)
    assert res.bad == [(broken, "file.broken: read error: Input/output error")]
    assert res.total("files") == 2
    rows = table(out, "anomalies")
    assert [(r["file"], r["file_status"], r["scope"], r["name"], r["detail"]) for r in rows] == [
        (broken, "skipped", "file", "file.broken", "read error: Input/output error")
    ]
    calls = table(out, "calls")
    assert broken not in {f for c in calls for f in c["frame_files"]}
    # tried again (an I/O error is not the content's fault), stored once
    again = run_audit([str(inp)], out, OPTIONS, workers=1, progress=False)
    assert again.bad == res.bad and len(table(out, "anomalies")) == 1
    monkeypatch.setattr(sigdiag.decode, "read_messages", real)
    fixed = run_audit([str(inp)], out, OPTIONS, workers=1, progress=False)
    assert fixed.bad == [] and fixed.total("files") == 1
    assert table(out, "anomalies") == []
    assert broken in {f for c in table(out, "calls") for f in c["frame_files"]}


def test_run_warns_about_each_damaged_file_on_stderr(tmp_path: Path) -> None:
    inp = tmp_path / "in"
    pieces = split(CAPTURE, inp, 2)
    pieces[1].write_bytes(pieces[1].read_bytes()[:-40])
    n = len(list(open_capture(pieces[1], [])))
    r = runner.invoke(
        app, ["audit", str(inp), "--out", str(tmp_path / "out"), "--config", str(CONFIG), "-j", "1"]
    )
    assert r.exit_code == 0, r.output
    assert f"sigdiag: warning: {pieces[1]}: 1 anomaly: pcap.truncated_record x1 (frame {n + 1})" in r.stderr
    assert "2 files audited, 0 already done, 0 bad, 1 with anomalies" in r.stderr
    assert f"1 file with anomalies (rows in {tmp_path / 'out' / 'anomalies'}):" in r.stdout


# -- Parquet types -------------------------------------------------------------------------------------------
TIME = pa.timestamp("us", tz="UTC")


def test_audit_tables_store_utc_timestamps_and_nullable_int_causes(tmp_path: Path) -> None:
    import pandas as pd

    from sigdiag.calls.pipeline import iter_calls

    pieces = split(CAPTURE, tmp_path / "in", 2)
    pieces[1].write_bytes(pieces[1].read_bytes()[:-40])  # an anomaly row too
    out = tmp_path / "out"
    run_audit([str(tmp_path / "in")], out, OPTIONS, workers=1, progress=False)
    schemas = {
        name: ds.dataset(out / name, format="parquet", partitioning="hive").schema
        for name in ("calls", "findings", "anomalies")
    }
    for col in ("start", "end", "acm_ts", "alert_ts", "anm_ts", "rel_ts", "rlc_ts"):
        assert schemas["calls"].field(col).type == TIME, col
    for col in ("start", "window_start", "window_end", "ts"):
        assert schemas["findings"].field(col).type == TIME, col
    assert schemas["anomalies"].field("ts").type == TIME
    assert schemas["calls"].field("cause").type == pa.int16()
    assert schemas["calls"].field("cause_location").type == pa.int16()
    assert schemas["calls"].field("frame_files").type == pa.list_(pa.string())
    calls = pd.read_parquet(out / "calls")
    assert str(calls["cause"].dtype) == "Int16" and calls["cause"].isna().any()
    assert str(calls["start"].dtype) == "datetime64[us, UTC]"
    assert str(calls["opc"].dtype) == "Int64"
    # the times are the calls' times, to the microsecond
    want = sorted(round(c.start, 6) for c in iter_calls(CAPTURE, config=CONFIG))
    got = sorted(round(t.timestamp(), 6) for t in calls["start"])
    assert got == want
    assert str(pd.read_parquet(out / "findings")["ts"].dtype) == "datetime64[us, UTC]"
    assert str(pd.read_parquet(out / "anomalies")["frame"].dtype) == "Int64"


def test_calls_parquet_output_has_the_same_types(tmp_path: Path) -> None:
    import pandas as pd

    path = tmp_path / "calls.parquet"
    r = runner.invoke(app, ["calls", str(CAPTURE), "--config", str(CONFIG), "-f", "parquet", "-o", str(path)])
    assert r.exit_code == 0, r.output
    schema = pq.read_schema(path)
    for col in ("start", "end", "acm_ts", "anm_ts", "rel_ts", "rlc_ts"):
        assert schema.field(col).type == TIME, col
    assert schema.field("cause").type == pa.int16() and schema.field("cause_location").type == pa.int16()
    df = pd.read_parquet(path)
    assert str(df["cause"].dtype) == "Int16" and df["cause"].isna().any() and df["cause"].notna().any()
    assert str(df["start"].dtype) == "datetime64[us, UTC]"


def test_times_read_back_as_epoch_seconds_for_the_summary() -> None:
    from sigdiag.report.parquet import arrow_table, float_seconds, micros

    t = arrow_table({"start": [1_709_254_800.123456, None], "cause": [16, None], "n": [1, 2]})
    assert t.schema.field("start").type == TIME and t.schema.field("cause").type == pa.int16()
    back = float_seconds(t).to_pylist()
    assert back == [
        {"start": 1_709_254_800.123456, "cause": 16, "n": 1},
        {"start": None, "cause": None, "n": 2},
    ]
    assert micros(float("nan")) is None and micros(1.5) == 1_500_000


# -- no worker outlives the audit ----------------------------------------------------------------------------
def _alive(pids: list[int]) -> list[int]:
    """The pids that are still running (a zombie waiting for its reaper has ended)."""
    left = []
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state not in ("Z", "X"):
            left.append(pid)
    return left


def _group(pgid: int) -> list[int]:
    """The running processes of a process group (psutil when installed, else /proc)."""
    try:
        import psutil
    except ImportError:
        psutil = None
    if psutil is not None:
        pids = []
        for p in psutil.process_iter(["pid", "status"]):
            try:
                if os.getpgid(p.pid) == pgid and p.info["status"] != psutil.STATUS_ZOMBIE:
                    pids.append(p.pid)
            except (ProcessLookupError, PermissionError, psutil.Error):
                continue
        return pids
    pids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                fields = Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
                pids.append(int(d))
    return pids


def _wait_gone(pgid: int, seconds: float) -> list[int]:
    t0 = time.monotonic()
    left = _group(pgid)
    while left and time.monotonic() - t0 < seconds:
        time.sleep(0.05)
        left = _group(pgid)
    return left


_CHILD = """
import os, sys, time
sys.path.insert(0, {src!r})
if os.fork() == 0:
    if sys.argv[1] == "watchdog":
        sys.platform = "other"  # no prctl: the portable watchdog thread
    from sigdiag.audit.worker import die_with_parent
    how = die_with_parent(os.getppid(), interval=0.05)
    print(how, os.getpid(), flush=True)
    time.sleep(60)
    os._exit(0)
time.sleep(60)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and prctl: Linux")
@pytest.mark.parametrize("mode", ["prctl", "watchdog"])
def test_a_worker_dies_with_its_parent(mode: str) -> None:
    """``die_with_parent`` in a child: SIGKILL its parent alone, the child goes too (both mechanisms)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _CHILD.format(src=str(ROOT / "src")), mode],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        how, pid = proc.stdout.readline().split()
        assert how == mode
        assert _alive([int(pid)]) == [int(pid)]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        t0 = time.monotonic()
        while _alive([int(pid)]) and time.monotonic() - t0 < 5:
            time.sleep(0.02)
        assert _alive([int(pid)]) == []
    finally:
        for p in _group(proc.pid):
            os.kill(p, signal.SIGKILL)
        proc.wait()


def _files_done(out: Path) -> int:
    n = 0
    for p in (out / "_state").glob("*.json") if (out / "_state").is_dir() else []:
        if p.name == "run.json":
            continue
        with contextlib.suppress(OSError, ValueError, KeyError):
            n += len(json.loads(p.read_text())["files"])
    return n


def _totals(out: Path) -> dict[str, Any]:
    calls = table(out, "calls")
    findings = table(out, "findings")
    return {
        "calls": len(calls),
        "call_keys": sorted((c["point"], c["call_id"]) for c in calls),
        "outcomes": Counter(c["outcome"] for c in calls),
        "findings": Counter(f["rule"] for f in findings),
    }


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and prctl: Linux")
@pytest.mark.timeout(240)
def test_sigkill_of_the_audit_process_leaves_no_worker_and_the_rerun_matches(tmp_path: Path) -> None:
    """`sigdiag audit` with 2 workers killed by SIGKILL (the audit process alone, not its group) mid-run:
    within a few seconds no process of its group is left and no file is committed after the kill; the
    rerun resumes, and seizures, stored calls and findings equal those of an uninterrupted run."""
    inp = tmp_path / "in"
    for i, name in enumerate(("north", "south", "east")):
        split(CAPTURE, inp / name, 12, prefix=name, shift=i * 0.5)
    ref = run_audit([str(inp)], tmp_path / "ref", OPTIONS, workers=2, progress=False)
    out = tmp_path / "out"
    cmd = [
        sys.executable,
        "-c",
        "from sigdiag.cli import main; main()",
        "audit",
        str(inp),
        "--out",
        str(out),
        "--workers",
        "2",
        "--config",
        str(CONFIG),
        "-f",
        "jsonl",
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    killed_at = None
    for attempt in range(3):
        proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, env=env
        )
        try:
            t0 = time.monotonic()
            while proc.poll() is None and time.monotonic() - t0 < 120:
                if _files_done(out) >= 3 + 4 * attempt:
                    os.kill(proc.pid, signal.SIGKILL)  # the audit process only: its workers must follow
                    killed_at = _files_done(out)
                    break
                time.sleep(0.005)
            proc.wait()
            if killed_at is not None:
                left = _wait_gone(proc.pid, 5.0)
                assert left == [], f"processes of the killed audit still running: {left}"
                break
        finally:
            for p in _group(proc.pid):
                os.kill(p, signal.SIGKILL)
    assert killed_at is not None, "the run finished before it could be killed"
    assert proc.returncode == -signal.SIGKILL
    stopped = _files_done(out)
    time.sleep(1.0)
    assert _files_done(out) == stopped < 36, "a worker went on committing after the audit was killed"
    again = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=180)
    assert again.returncode == 0, again.stderr
    rows = [json.loads(line) for line in again.stdout.splitlines()]
    assert sum(r["seizures"] for r in rows) == sum(r["seizures"] for r in ref.rows)
    assert sum(r["findings_total"] for r in rows) == sum(r["findings_total"] for r in ref.rows)
    key = lambda r: (r["trunk"], r["bucket"])  # noqa: E731
    assert sorted(rows, key=key) == json.loads(json.dumps(sorted(ref.rows, key=key)))
    assert _totals(out) == _totals(tmp_path / "ref")
    assert _files_done(out) == 36
    assert [p for p in out.rglob(".*") if p.is_file()] == []
