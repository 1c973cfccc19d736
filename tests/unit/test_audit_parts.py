"""A capture point read in parallel parts and merged in time order (issue 16, :mod:`sigdiag.audit.parts`):
the stored calls, findings and anomalies and the KPI rows are those of one worker reading the files in
order, with 2 and 4 workers, whoever reads a part (a part task, or the point's task when none took it),
and when the audit is killed between a part and its merge (the rerun gives the same).  The input is the
simulator's fault mix (every kind of fault, so some parts are read again in the merge: a fallback, also
exact) cut into rotated files; parts are made small so that a small input is cut in several."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sigdiag.audit import parts as parts_module
from sigdiag.audit.parts import PART_BYTES_ENV, PartTask, plan, process_part
from sigdiag.audit.runner import _absolute, run_audit
from sigdiag.audit.worker import PointTask, first_ts, process_point
from tests.unit.test_audit import split

ROOT = Path(__file__).resolve().parents[2]
#: parts of at least this many bytes (the input is about 3.5 MB in 24 files)
SMALL = 256 * 1024


@pytest.fixture(scope="module")
def rotated(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    from sigdiag.simulate import simulate

    tmp = tmp_path_factory.mktemp("parts")
    whole = tmp / "whole.pcap"
    simulate(str(whole), str(ROOT / "captures" / "all-faults.yaml"), calls=6000, seed=5, fmt="pcap")
    (tmp / "probe").mkdir()
    return split(whole, tmp / "probe", 24)


@pytest.fixture(autouse=True)
def small_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PART_BYTES_ENV, str(SMALL))


def point_name(rotated: list[Path]) -> str:
    """The capture point's name as the audit groups the files (what its rows say)."""
    from sigdiag.audit.discover import group_points

    (name,) = group_points([str(p) for p in rotated], "name")
    return str(name)


def tables(out: Path) -> dict[str, list[str]]:
    """The stored tables, each row as JSON without ``file`` (the file being read when the row was
    written), sorted."""
    import pyarrow.dataset as ds

    got = {}
    for name in ("calls", "findings", "anomalies"):
        rows = []
        if (out / name).is_dir():
            rows = ds.dataset(out / name, format="parquet", partitioning="hive").to_table().to_pylist()
        got[name] = sorted(json.dumps({k: v for k, v in r.items() if k != "file"}, default=str) for r in rows)
    return got


@pytest.fixture(scope="module")
def one_worker(rotated: list[Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Any]:
    out = tmp_path_factory.mktemp("one") / "out"
    res = run_audit([str(rotated[0].parent)], out, {}, workers=1, signals=False)
    assert res.points[0].get("merged", 0) == 0  # one worker: no parts
    return tables(out), res.rows


def test_the_plan(rotated: list[Path]) -> None:
    """Files by first time stamp, numbered after the point's files, cut into consecutive parts of at
    least the part size (here 4 of 3 to 7 files)."""
    files = [str(p) for p in reversed(rotated)]
    groups = plan(None, files, first_ts, 4)
    assert [p for g in groups for p, _ in g.files] == [str(p) for p in rotated]
    assert [n for g in groups for _, n in g.files] == list(range(len(rotated)))
    assert len(groups) == 4 and all(len(g.files) >= 3 for g in groups)
    # the point's task commits each file of the first part: it holds fewer files than the others
    assert len(groups[0].files) < min(len(g.files) for g in groups[1:])
    assert all(g.start == g.stop == 0 for g in groups)  # small files: cut between them, not inside
    done = {"files": [{"path": str(rotated[0]), "number": 0, "size": rotated[0].stat().st_size,
                       "mtime_ns": rotated[0].stat().st_mtime_ns}]}  # fmt: skip
    again = plan(done, files, first_ts, 4)
    assert again[0].files[0] == (str(rotated[1]), 1)  # the file done is left out, numbers go on


@pytest.mark.parametrize("workers", [2, 4])
def test_parts_give_what_one_worker_gives(
    workers: int, rotated: list[Path], one_worker: tuple[dict[str, Any], Any], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    res = run_audit([str(rotated[0].parent)], out, {}, workers=workers, signals=False)
    (point,) = res.points
    assert point["files"] == len(rotated)
    assert point.get("merged", 0) + len(point.get("fallbacks", [])) == workers - 1  # a part per worker
    assert point.get("merged", 0) >= 1  # the merge itself, not only reading again
    got = tables(out)
    want, rows = one_worker
    for name in ("calls", "findings", "anomalies"):
        assert got[name] == want[name], name
    assert res.rows == rows
    assert len(want["calls"]) > 6000 and len(want["findings"]) > 10


def test_the_point_task_reads_the_parts_nobody_took(
    rotated: list[Path], one_worker: tuple[dict[str, Any], Any], tmp_path: Path
) -> None:
    """No part task runs: the point's task reads every part itself, and merges them."""
    files = [str(p) for p in rotated]
    groups = plan(None, files, first_ts, 3)
    task = PointTask(str(tmp_path), "p1", point_name(rotated), files, _absolute({}), "run1", groups)
    result = process_point(task)
    assert result["merged"] + len(result.get("fallbacks", [])) == 2
    assert tables(tmp_path) == one_worker[0]


def test_a_part_read_by_its_task_is_merged_not_read_again(rotated: list[Path], tmp_path: Path) -> None:
    """A part task reads part 2 first (in its folder); the point's task merges what it read (it does not
    read it again), and a second part task for it finds it done."""
    files = [str(p) for p in rotated]
    groups = plan(None, files, first_ts, 3)
    opts = _absolute({})
    name = point_name(rotated)
    done = process_part(PartTask(str(tmp_path), "p1", name, 2, groups[2].files, opts, "run1"))
    assert done["files"] == len(groups[2].files) and not done["skipped"]
    again = process_part(PartTask(str(tmp_path), "p1", name, 2, groups[2].files, opts, "run1"))
    assert again["skipped"]
    read: list[int] = []
    original = parts_module.read_part

    def spy(task: PartTask) -> Any:
        read.append(task.k)
        return original(task)

    parts_module.read_part = spy  # type: ignore[assignment]
    try:
        result = process_point(PointTask(str(tmp_path), "p1", name, files, opts, "run1", groups))
    finally:
        parts_module.read_part = original  # type: ignore[assignment]
    assert read == [1] and result["files"] == len(files)
    assert not (tmp_path / "_parts" / "p1" / "run1" / "2").exists()  # merged, committed, cleared


def kill_at_merge(folder: Path, out: Path, workers: int, merge: int, tmp: Path) -> Callable[[], None]:
    """Run ``sigdiag audit folder`` with ``workers`` workers (small parts), kill it (SIGKILL, the whole
    process group) when the point's task is about to merge its ``merge``-th later part and check that it
    died so; returns a function that runs the same audit again to the end (its workers are gone)."""
    from tests.unit.test_audit_faults import _group, kill_group, wait_for

    marker = tmp / "paused.pid"
    cmd = [sys.executable, "-c", "from sigdiag.cli import main; main()", "audit", str(folder)]
    cmd += ["--out", str(out), "-j", str(workers), "-f", "jsonl"]
    env = dict(os.environ, SIGDIAG_AUDIT_PAUSE=f"part:{merge}:{marker}", **{PART_BYTES_ENV: str(SMALL)})
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True, env=env
    )
    try:
        assert wait_for(marker.exists, proc), proc.stderr.read() if proc.stderr else ""
    finally:
        kill_group(proc)
    assert proc.wait(10) == -signal.SIGKILL
    deadline = time.monotonic() + 20
    while _group(proc.pid) and time.monotonic() < deadline:  # the killed workers gone (their locks too)
        time.sleep(0.05)

    def rerun() -> None:
        again = subprocess.run(cmd, capture_output=True, text=True, env=env | {"SIGDIAG_AUDIT_PAUSE": ""})
        assert again.returncode == 0, again.stderr

    return rerun


def test_killed_between_a_part_and_its_merge(
    rotated: list[Path], one_worker: tuple[dict[str, Any], Any], tmp_path: Path
) -> None:
    """The audit killed (SIGKILL, the whole process group) when the point's task is about to merge its
    first later part, which a part task may have read already: the rerun finishes, nothing is lost and
    nothing counted twice (the same tables and KPIs as one worker's)."""
    out = tmp_path / "out"
    rerun = kill_at_merge(rotated[0].parent, out, 2, 1, tmp_path)
    assert (out / "_parts").is_dir()  # a part read and never merged
    rerun()
    assert tables(out) == one_worker[0]
    assert not any((out / "_parts").rglob("*.parquet"))  # every part merged, its folder cleared
