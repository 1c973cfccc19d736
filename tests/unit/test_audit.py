"""``sigdiag audit``: stitching of rotated files, resumption, corrupt files, report, stored tables, alerts."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sigdiag.audit import AuditError, Thresholds, report, run_audit
from sigdiag.audit.discover import find_captures, group_points, point_key
from sigdiag.audit.summary import alerts, parse_bucket, thresholds_from
from sigdiag.calls.stats import STATS_KEYS, compute_stats
from sigdiag.capture import PcapWriter, open_capture
from sigdiag.cli import app

ROOT = Path(__file__).resolve().parents[2]
CAPTURE = ROOT / "captures" / "all-faults.pcap"
CONFIG = ROOT / "captures" / "all-faults.config.yaml"
OPTIONS = {"decode": {"config": str(CONFIG)}}


def split(src: Path, folder: Path, pieces: int, prefix: str = "probe", shift: float = 0.0) -> list[Path]:
    """Split a capture into ``pieces`` rotated files ``prefix_00000.pcap`` ... (time stamps + shift)."""
    folder.mkdir(parents=True, exist_ok=True)
    frames = list(open_capture(src, []))
    out = []
    n = len(frames)
    for i in range(pieces):
        chunk = frames[i * n // pieces : (i + 1) * n // pieces]
        p = folder / f"{prefix}_{i:05d}_2024030{1 + i // 100}.pcap"
        with PcapWriter(p, chunk[0].linktype) as w:
            for f in chunk:
                w.write(f.data, f.ts + shift)
        out.append(p)
    return out


def summary(rows: list[dict]) -> list[dict]:
    return sorted(rows, key=lambda r: (r["trunk"], r["bucket"]))


@pytest.fixture(scope="module")
def whole(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    out = tmp_path_factory.mktemp("whole")
    return run_audit([str(CAPTURE)], out, OPTIONS, workers=1, progress=False).rows


def test_split_capture_gives_the_same_kpis_as_the_whole_file(tmp_path: Path, whole: list[dict]) -> None:
    from sigdiag.calls.pipeline import iter_calls

    files = split(CAPTURE, tmp_path / "in", 23)
    res = run_audit([str(tmp_path / "in")], tmp_path / "out", OPTIONS, workers=2, progress=False)
    assert res.total("files") == 23 and len(res.points) == 1
    assert summary(res.rows) == summary(whole)
    # and the same KPIs as `sigdiag stats --by trunk` on the whole file (one hour bucket here)
    stats = compute_stats(iter_calls(CAPTURE, config=CONFIG), by="trunk")
    assert [r["bucket"] for r in res.rows] == ["2024-03-01 01:00"] * len(stats)
    for got, want in zip(res.rows, stats, strict=True):
        assert got["trunk"] == want["group"]
        assert {k: got[k] for k in STATS_KEYS if k != "group"} == {
            k: want[k] for k in STATS_KEYS if k != "group"
        }
    # no call lost or counted twice at the 22 boundaries
    import pandas as pd

    calls = pd.read_parquet(tmp_path / "out" / "calls")
    assert len(calls) == sum(r["seizures"] for r in whole)
    assert calls["call_id"].is_unique
    assert len(files) == 23


def test_stored_tables_open_in_pandas_and_pyarrow(tmp_path: Path, whole: list[dict]) -> None:
    import pandas as pd
    import pyarrow.dataset as ds

    run_audit([str(CAPTURE)], tmp_path, OPTIONS, workers=1, progress=False)
    calls = pd.read_parquet(tmp_path / "calls")
    assert set(calls["day"].astype(str)) == {"2024-03-01"}
    assert {"trunk", "outcome", "start", "point", "file", "cause"} <= set(calls.columns)
    assert len(calls) == sum(r["seizures"] for r in whole)
    findings = ds.dataset(tmp_path / "findings", format="parquet", partitioning="hive").to_table().to_pandas()
    assert len(findings) == sum(r["findings_total"] for r in whole)
    assert set(findings["rule"]) >= {"incomplete-digit-collection", "trunk-loss-rate"}
    per_rule = findings.groupby("rule").size().to_dict()
    total: dict[str, int] = {}
    for r in whole:
        for k, v in r["findings"].items():
            total[k] = total.get(k, 0) + v
    assert per_rule == total


def test_rerun_skips_done_files_and_new_rotations_are_stitched(tmp_path: Path, whole: list[dict]) -> None:
    files = split(CAPTURE, tmp_path / "all", 6)
    first = tmp_path / "in"
    first.mkdir()
    for f in files[:3]:
        shutil.copy(f, first / f.name)
    out = tmp_path / "out"
    r1 = run_audit([str(first)], out, OPTIONS, workers=1, progress=False)
    assert r1.total("files") == 3
    r2 = run_audit([str(first)], out, OPTIONS, workers=1, progress=False)
    assert r2.total("files") == 0 and r2.total("skipped") == 3
    assert summary(r2.rows) == summary(r1.rows)
    # the probe writes three more files: calls open at the end of the first run are finished now
    for f in files[3:]:
        shutil.copy(f, first / f.name)
    r3 = run_audit([str(first)], out, OPTIONS, workers=1, progress=False)
    assert r3.total("files") == 3 and r3.total("skipped") == 3
    assert summary(r3.rows) == summary(whole)
    assert summary(report(out)) == summary(whole)


def test_corrupt_file_is_reported_and_skipped(tmp_path: Path, whole: list[dict]) -> None:
    split(CAPTURE, tmp_path / "in", 5)
    (tmp_path / "in" / "probe_00002_x.pcap").write_bytes(b"this is not a capture at all" * 10)
    res = run_audit([str(tmp_path / "in")], tmp_path / "out", OPTIONS, workers=1, progress=False)
    assert [Path(p).name for p, _ in res.bad] == ["probe_00002_x.pcap"]
    assert res.total("files") == 5
    assert summary(res.rows) == summary(whole)


def test_truncated_gzip_mid_file_is_audited_up_to_the_cut_and_reported(tmp_path: Path) -> None:
    import gzip

    from sigdiag.audit.runner import damaged_files

    files = split(CAPTURE, tmp_path / "in", 4)
    data = gzip.compress(files[1].read_bytes())
    bad = tmp_path / "in" / "probe_00001_20240301.pcap.gz"
    bad.write_bytes(data[: len(data) // 2])
    whole_frames = len(list(open_capture(files[1], [])))
    files[1].unlink()
    out = tmp_path / "out"
    res = run_audit([str(tmp_path / "in")], out, OPTIONS, workers=1, progress=False)
    assert res.bad == [] and res.total("files") == 4
    # what inflated is audited; the cut is an anomaly of that file, at the frame where it stopped
    [(path, info)] = res.damaged_now
    assert path == str(bad) and info["names"] == {"gzip.corrupt": 1}
    assert 0 < info["frames"][0] <= whole_frames
    assert [(d["file"], d["status"]) for d in damaged_files(out)] == [(str(bad), "audited")]
    assert sum(r["seizures"] for r in res.rows) > 0


def test_crash_at_every_commit_step_is_recovered(tmp_path: Path, whole: list[dict], monkeypatch) -> None:
    """Simulated crashes (an exception at the n-th rename/unlink of the commit), then a rerun."""
    from sigdiag.audit import store, worker

    split(CAPTURE, tmp_path / "in", 4)
    real_replace = os.replace
    for n in range(1, 12, 2):
        out = tmp_path / f"out{n}"
        calls = {"n": 0}

        def flaky(a, b, *, _n=n, _calls=calls):  # type: ignore[no-untyped-def]
            _calls["n"] += 1
            if _calls["n"] == _n:
                raise KeyboardInterrupt("crash")
            return real_replace(a, b)

        monkeypatch.setattr(store.os, "replace", flaky)
        with pytest.raises(KeyboardInterrupt):
            worker.process_point(_task(tmp_path / "in", out))
        monkeypatch.setattr(store.os, "replace", real_replace)
        res = run_audit([str(tmp_path / "in")], out, OPTIONS, workers=1, progress=False)
        assert summary(res.rows) == summary(whole), n


def _task(folder: Path, out: Path):  # type: ignore[no-untyped-def]
    from sigdiag.audit.discover import point_id
    from sigdiag.audit.runner import _absolute
    from sigdiag.audit.worker import PointTask

    files = find_captures([str(folder)])
    key = point_key(files[0])
    out.mkdir(parents=True, exist_ok=True)
    return PointTask(str(out.resolve()), point_id(key), key, files, _absolute(dict(OPTIONS)))


def test_dask_engine_matches_local(tmp_path: Path, whole: list[dict]) -> None:
    pytest.importorskip("distributed")
    from distributed import Client, LocalCluster

    inp = tmp_path / "in"
    split(CAPTURE, inp / "a", 4, prefix="a")
    split(CAPTURE, inp / "b", 3, prefix="b", shift=3600.0)
    local = run_audit([str(inp)], tmp_path / "local", OPTIONS, workers=2, progress=False)
    cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None)
    with cluster, Client(cluster):
        res = run_audit(
            [str(inp)],
            tmp_path / "dask",
            OPTIONS,
            engine="dask",
            scheduler=cluster.scheduler_address,
            progress=False,
        )
    assert res.total("files") == 7 and len(res.points) == 2
    assert summary(res.rows) == summary(local.rows)
    assert len({r["bucket"] for r in res.rows}) == 2


def test_point_grouping_and_discovery(tmp_path: Path) -> None:
    assert point_key("/d/probe1_00001_20240301120000.pcapng") == "/d/probe1"
    assert point_key("/d/x.pcap3") == point_key("/d/x.pcap") == "/d/x"
    assert point_key("/d/x-0007.pcap.gz") == "/d/x"
    assert point_key("/d/x.2024-03-01T12-00-00.pcap") == "/d/x"
    assert point_key("/d/all-faults.pcap") == "/d/all-faults"
    assert point_key("/d/a_1.pcap", "folder") == "/d"
    assert point_key("/d/a_1.pcap", "file") == "/d/a_1.pcap"
    for name in ("a_1.pcap", "a_2.pcap.gz", "b_1.pcapng", "notes.txt", ".hidden.pcap"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.cap").write_bytes(b"")
    files = find_captures([str(tmp_path)])
    assert [Path(f).name for f in files] == ["a_1.pcap", "a_2.pcap.gz", "b_1.pcapng", "c.cap"]
    assert [Path(f).name for f in find_captures([str(tmp_path / "a_*")])] == ["a_1.pcap", "a_2.pcap.gz"]
    groups = group_points(files)
    assert sorted(len(v) for v in groups.values()) == [1, 1, 2]
    assert len(group_points(files, "folder")) == 2


def test_bucket_parsing_and_thresholds() -> None:
    assert parse_bucket("1h") == 3600 and parse_bucket("15m") == 900 and parse_bucket("1d") == 86400
    with pytest.raises(ValueError):
        parse_bucket("soon")
    t = thresholds_from(
        {"asr": 0.5, "network_loss_rate": None, "baseline": {"z": 2}, "trunks": {"T": {"asr": 0.1}}}
    )
    assert t.asr == 0.5 and t.network_loss_rate is None and t.z == 2 and t.limit("T", "asr") == 0.1
    from sigdiag.settings import ConfigError

    with pytest.raises(ConfigError):
        thresholds_from({"loss": 1})


def _row(bucket: int, completed: int, loss: float, asr: float) -> dict:
    return {
        "trunk": "T",
        "bucket": f"b{bucket:02d}",
        "completed": completed,
        "network_loss_rate": loss,
        "asr": asr,
        "alerts": [],
    }


def test_baseline_alert_is_leave_one_out_zscore() -> None:
    rows = [_row(i, 100, 0.02 + 0.002 * (i % 3), 0.6) for i in range(8)]
    rows.append(_row(8, 100, 0.09, 0.6))  # loss jumps
    rows.append(_row(9, 100, 0.02, 0.35))  # ASR drops
    rows.append(_row(10, 3, 0.9, 0.0))  # too few calls to judge
    out = alerts(rows, Thresholds(network_loss_rate=None, z=3.0))
    kinds = {(a["bucket"], a["metric"], a["kind"]) for a in out}
    assert kinds == {("b08", "network_loss_rate", "baseline"), ("b09", "asr", "baseline")}
    out = alerts([dict(r, alerts=[]) for r in rows], Thresholds(network_loss_rate=0.05, asr=0.5, z=None))
    assert {(a["bucket"], a["metric"]) for a in out} == {("b08", "network_loss_rate"), ("b09", "asr")}


# -- command line ------------------------------------------------------------------------------------------
runner = CliRunner()


def test_cli_audit_and_report(tmp_path: Path, whole: list[dict]) -> None:
    split(CAPTURE, tmp_path / "in", 3)
    out = tmp_path / "out"
    th = tmp_path / "th.yaml"
    th.write_text("network_loss_rate: 0.1\nasr: 0.55\n")
    r = runner.invoke(
        app,
        [
            "audit",
            str(tmp_path / "in"),
            "--out",
            str(out),
            "--config",
            str(CONFIG),
            "--workers",
            "1",
            "--format",
            "jsonl",
            "--thresholds",
            str(th),
        ],
    )
    assert r.exit_code == 0, r.output
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert summary(rows)[0]["seizures"] == summary(whole)[0]["seizures"]
    metrics = {(x["trunk"], a["metric"]) for x in rows for a in x["alerts"]}
    assert metrics == {("2061-3001", "network_loss_rate"), ("2061-3001", "asr")}
    r2 = runner.invoke(app, ["audit", "report", str(out), "--format", "jsonl"])
    assert r2.exit_code == 0, r2.output
    assert [json.loads(line) for line in r2.stdout.splitlines()] == rows  # the stored thresholds are reused
    r3 = runner.invoke(app, ["audit", "report", str(out), "--format", "csv", "--bucket", "1d"])
    assert r3.exit_code == 0
    lines = r3.stdout.splitlines()
    assert lines[0].startswith("trunk,bucket,seizures") and len(lines) == 3
    assert ",2024-03-01 00:00," in lines[1]
    r4 = runner.invoke(app, ["audit", "report", str(out)])
    assert r4.exit_code == 0 and "2 alerts:" in r4.stdout and "ASR 52.9 % below limit 55.0 %" in r4.stdout
    assert "2061-3001" in r4.stdout and "loss rate" in r4.stdout
    # rates as percentages with one decimal and the PDD in seconds, as in every other text output
    line = next(x for x in r4.stdout.splitlines() if x.startswith("2061-3001"))
    assert " 52.9 % " in line and " s " in line and "0.5294" not in line
    r5 = runner.invoke(
        app,
        [
            "audit",
            "run",
            str(tmp_path / "in"),
            "--out",
            str(out),
            "--config",
            str(CONFIG),
            "-j",
            "1",
            "-f",
            "csv",
        ],
    )
    assert r5.exit_code == 0 and "0 files audited, 3 already done" in r5.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["audit", "/nonexistent/x.pcap"], "no such file or directory"),
        (["audit", "CAP", "--bucket", "soon"], "--bucket must be a duration"),
        (["audit", "CAP", "--trunks", "/nonexistent.yaml"], "cannot read trunk map"),
        (["audit", "CAP", "--thresholds", "/nonexistent.yaml"], "cannot read thresholds"),
        (["audit", "CAP", "--engine", "spark"], "Invalid value"),
        (["audit", "report", "/nonexistent-dir"], "no such folder"),
        (["audit", "report", "EMPTY"], "not an audit output folder"),
    ],
)
def test_cli_errors_are_one_line_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    args = [str(CAPTURE) if a == "CAP" else str(tmp_path) if a == "EMPTY" else a for a in args]
    if args[0] == "audit" and args[1] != "report":
        args += ["--out", str(tmp_path / "out")]
    r = runner.invoke(app, args)
    assert r.exit_code == 2, r.output
    assert message in r.output
    assert "Traceback" not in r.output


def test_rerun_with_other_settings_is_refused(tmp_path: Path) -> None:
    run_audit([str(CAPTURE)], tmp_path, OPTIONS, workers=1, progress=False)
    with pytest.raises(AuditError, match="other settings"):
        run_audit([str(CAPTURE)], tmp_path, {"decode": {"pc_format": "china"}}, workers=1, progress=False)


def test_progress_bar_only_on_a_terminal() -> None:
    import io

    from sigdiag.audit.runner import Progress

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    quiet = io.StringIO()
    p = Progress(2, 200, stream=quiet)
    p.update({"bytes": 100, "messages": 5})
    p.finish()
    assert quiet.getvalue() == ""
    tty = Tty()
    p = Progress(2, 200, stream=tty)
    p.update({"bytes": 100, "messages": 5})
    p.draw(force=True)
    p.finish()
    text = tty.getvalue()
    assert "50.0%" in text and "1/2 files" in text and "ETA" in text and text.endswith("\n")
