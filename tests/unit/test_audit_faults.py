"""Faults in the middle of an audit (issue 14, point 4).

* the audit process killed (SIGKILL) at 10 seeded random moments, among them each step of a commit (a
  worker paused there by the ``SIGDIAG_AUDIT_PAUSE`` hook): nothing of the audit is left running and the
  rerun's totals (seizures, stored calls, findings, anomaly rows) equal an uninterrupted run's;
* SIGINT and SIGTERM (to the audit process alone, or to its whole process group as Ctrl-C and service
  managers do) stop it cleanly: exit status 130 / 143, one line saying how to resume, no traceback,
  nothing half-written, no worker left, the folder readable and resumable; the same with ``--engine dask``
  and its LocalCluster, whose workers also end with a killed audit;
* a full disk or a read-only output folder (a fault-injecting writer, and a real small tmpfs where this
  machine lets the tests mount one) is a one-line error with exit status 2, and what was stored stays
  readable and resumable;
* a committed Parquet part cut short, and a staged part never committed, are found, named in a warning
  and redone, and the totals equal an uninterrupted run's.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sigdiag.audit import report
from sigdiag.audit.store import check_part, state_files
from sigdiag.cli import app
from tests.unit.test_audit_provenance import (
    CAPTURE,
    CONFIG,
    _files_done,
    _group,
    _wait_gone,
    split,
    table,
)

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

ROOT = Path(__file__).resolve().parents[2]
LINUX = sys.platform.startswith("linux")
linux_only = pytest.mark.skipif(not LINUX, reason="/proc, prctl and process groups: Linux")
runner = CliRunner()


# -- inputs and totals ---------------------------------------------------------------------------------------
def make_input(folder: Path) -> list[Path]:
    """Two capture points of 4 rotated files each, one with a record cut by the end of its last file (an
    anomaly row) and a file that is not a capture (a skipped file's row, committed on its own)."""
    north = split(CAPTURE, folder / "north", 4, prefix="north")
    split(CAPTURE, folder / "south", 4, prefix="south", shift=0.5)
    north[-1].write_bytes(north[-1].read_bytes()[:-40])
    (folder / "north" / "north_00009_20240301.pcap").write_bytes(b"not a capture\n" * 8)
    return sorted(folder.rglob("*.pcap"))


N_FILES = 9


def totals(out: Path, rows: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """What must be equal to an uninterrupted run: seizures (summary), the stored calls (each one, by
    point and call id, with its outcome), the findings per rule and the anomaly rows."""
    if rows is None:
        rows = report(out)
    calls = table(out, "calls")
    return {
        "seizures": sum(r["seizures"] for r in rows),
        "findings_total": sum(r["findings_total"] for r in rows),
        "calls": len(calls),
        "call_keys": sorted((c["point"], c["call_id"], c["outcome"]) for c in calls),
        "findings": Counter(f["rule"] for f in table(out, "findings")),
        "anomalies": Counter((a["file"], a["name"], a["frame"]) for a in table(out, "anomalies")),
    }


def rerun(inp: Path, out: Path, workers: int = 2) -> tuple[dict[str, Any], list[str]]:
    """``sigdiag audit`` in this process (as the interrupted runs, so with the same settings); the totals
    and the warnings it printed."""
    args = ["audit", str(inp), "--out", str(out), "--config", str(CONFIG), "-j", str(workers), "-f", "jsonl"]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    prefix = "sigdiag: warning: "
    warnings = [line[len(prefix) :] for line in r.stderr.splitlines() if line.startswith(prefix)]
    return totals(out, rows), warnings


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """The input folder and the totals of an uninterrupted run over it."""
    base = tmp_path_factory.mktemp("faults")
    make_input(base / "in")
    ref = rerun(base / "in", base / "ref")[0]
    assert ref["calls"] > 100 and ref["findings"] and len(ref["anomalies"]) == 2
    assert ref["seizures"] == ref["calls"]
    return base / "in", ref


def clean(out: Path) -> None:
    """Nothing half-written is visible: no temporary file, every part a table lists is whole, no part in
    a table folder that no state lists, and no rename pending."""
    assert [p for p in out.rglob(".*") if p.is_file()] == []
    listed: set[str] = set()
    for p in state_files(out):
        st = json.loads(p.read_text())
        assert st.get("pending", []) == [], p
        listed |= set(st["parts"])
        for rel in st["parts"]:
            assert check_part(out / rel, st["info"].get(rel)) is None, rel
    on_disk = {
        str(p.relative_to(out))
        for t in ("calls", "findings", "anomalies")
        for p in (out / t).rglob("*.parquet")
    }
    assert on_disk == listed


def cli(inp: Path, out: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-c",
        "from sigdiag.cli import main; main()",
        "audit",
        str(inp),
        "--out",
        str(out),
        "--config",
        str(CONFIG),
        "-f",
        "jsonl",
        *extra,
    ]


def env(**kw: str) -> dict[str, str]:
    e = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    e.pop("SIGDIAG_AUDIT_PAUSE", None)
    e.update(kw)
    return e


def paused(
    cmd: list[str],
    pause: str,
    *,
    stdout: int = subprocess.DEVNULL,
    stderr: int = subprocess.PIPE,
    text: bool = True,
) -> subprocess.Popen[Any]:
    """The audit ``cmd`` started in its own session with the pause hook ``SIGDIAG_AUDIT_PAUSE=pause``
    (``step:n:marker``: the process that reaches the step writes its pid to the marker and waits)."""
    return subprocess.Popen(
        cmd,
        stdout=stdout,
        stderr=stderr,
        text=text,
        start_new_session=True,
        env=env(SIGDIAG_AUDIT_PAUSE=pause),
    )


def wait_for(cond: Any, proc: subprocess.Popen[Any], seconds: float = 60.0) -> bool:
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        if cond():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.005)
    return False


def staged(out: Path) -> list[Path]:
    return sorted(p for p in (out / "_staging").rglob("*.parquet")) if (out / "_staging").is_dir() else []


def kill_group(proc: subprocess.Popen[Any]) -> None:
    for p in _group(proc.pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(p, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(5)


# -- SIGKILL at 10 random moments ----------------------------------------------------------------------------
STEPS = ("file", "staged", "snapshot", "committed", "renamed")


def moments(seed: int = 1414) -> list[tuple[str, int, float]]:
    """10 moments: each step of a commit at a random occurrence (1 to 4 in a worker), and five times
    'after k files committed, plus a random delay' spread over the run."""
    rng = random.Random(seed)
    out = [(step, rng.randint(1, 4), 0.0) for step in STEPS]  # each worker's point has 4 captures
    # 'k files committed' from early to late in the run (1 to 7 of the 8 captures)
    out += [
        ("files", rng.randint(1 + j * 6 // 5, 1 + (j + 1) * 6 // 5), rng.uniform(0.0, 0.03)) for j in range(5)
    ]
    rng.shuffle(out)
    return out


@linux_only
@pytest.mark.timeout(240)
def test_sigkill_at_10_random_moments_leaves_nothing_running_and_the_rerun_equals(
    tmp_path: Path, inputs: tuple[Path, dict[str, Any]]
) -> None:
    inp, ref = inputs
    report_rows: list[dict[str, Any]] = []
    t_start = time.monotonic()
    for i, (step, n, delay) in enumerate(moments()):
        out = tmp_path / f"out{i}"
        marker = tmp_path / f"paused{i}"
        kw = {"SIGDIAG_AUDIT_PAUSE": f"{step}:{n}:{marker}"} if step != "files" else {}
        proc = subprocess.Popen(
            cli(inp, out, "-j", "2"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
            env=env(**kw),
        )
        seen_staged: list[Path] = []
        try:
            if step == "files":
                reached = wait_for(lambda out=out, n=n: _files_done(out) >= n, proc)
                time.sleep(delay)
            else:
                reached = wait_for(marker.exists, proc)
                seen_staged = staged(out)
                if step in ("staged", "snapshot"):
                    assert seen_staged, f"{step}: a part is staged and not committed"
            assert reached, f"moment {step}:{n} never reached: {proc.stderr.read() if proc.stderr else ''}"
            done_at_kill = _files_done(out)
            os.kill(proc.pid, signal.SIGKILL)  # the audit process alone: its workers must follow
            proc.wait(10)
            left = _wait_gone(proc.pid, 5.0)
            assert left == [], f"{step}:{n}: processes of the killed audit still running: {left}"
            assert _files_done(out) <= done_at_kill + 1  # at most the commit under way when killed
            # with two workers the one not paused may commit what was staged when looked at: only the
            # parts still staged after the kill must be named by the rerun
            seen_staged = [p for p in seen_staged if p.exists()]
        finally:
            kill_group(proc)
        got, warnings = rerun(inp, out)
        assert got == ref, f"kill at {step}:{n}: the rerun differs from an uninterrupted run"
        clean(out)
        if step in ("staged", "snapshot"):
            # the part left staged by the kill is named and its file audited again
            for p in seen_staged:
                assert any(str(p) in w and "uncommitted" in w for w in warnings), (p, warnings)
        report_rows.append({"moment": f"{step}:{n}", "files_at_kill": done_at_kill, "left": len(left)})
    assert len(report_rows) == 10
    assert time.monotonic() - t_start < 120
    print(json.dumps(report_rows))


# -- SIGINT / SIGTERM ----------------------------------------------------------------------------------------
@linux_only
@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("sig", "to", "code"),
    [
        (signal.SIGINT, "process", 130),
        (signal.SIGINT, "group", 130),
        (signal.SIGTERM, "process", 143),
        (signal.SIGTERM, "group", 143),
    ],
)
def test_sigint_and_sigterm_stop_cleanly_with_the_state_saved(
    tmp_path: Path, inputs: tuple[Path, dict[str, Any]], sig: int, to: str, code: int
) -> None:
    """A worker is paused between its commit point and the renames (the state replaced, its parts still
    staged) when the signal comes: it finishes that commit, then stops; the audit exits 130 / 143 with
    one line and no traceback, no process is left, the folder is consistent and readable, and the rerun
    equals an uninterrupted run."""
    inp, ref = inputs
    out = tmp_path / "out"
    marker = tmp_path / "paused"
    cmd = cli(inp, out, "-j", "2")
    proc = paused(cmd, f"committed:2:{marker}", stdout=subprocess.PIPE)
    try:
        assert wait_for(marker.exists, proc), proc.communicate()[1]
        pending = [s for p in state_files(out) if (s := json.loads(p.read_text()))["pending"]]
        assert pending, "paused between the commit point and the renames"
        (os.killpg if to == "group" else os.kill)(proc.pid, sig)
        stdout, stderr = proc.communicate(timeout=60)
        assert _wait_gone(proc.pid, 3.0) == []
    finally:
        kill_group(proc)
    assert proc.returncode == code, stderr
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    name = signal.Signals(sig).name
    assert lines[0].startswith(f"sigdiag: audit interrupted by {name} (workers stopped cleanly): ")
    assert f"files done and saved in {out}; to resume, run again: sigdiag audit " in lines[0]
    assert stdout == ""
    done = _files_done(out)
    assert 2 <= done < N_FILES
    skipped = sum(len(json.loads(p.read_text()).get("bad", {})) for p in state_files(out))
    assert f"{done + skipped} of {N_FILES} files" in lines[0]
    clean(out)  # the paused commit was finished, nothing else half-done
    # readable as it is, by the report and by any Parquet reader
    r = runner.invoke(app, ["audit", "report", str(out)])
    assert r.exit_code == 0 and r.stderr == "", r.output
    assert len(table(out, "calls")) > 0
    # resumable: the same command finishes it
    again = subprocess.run(cmd, capture_output=True, text=True, env=env(), timeout=120)
    assert again.returncode == 0, again.stderr
    assert f"{N_FILES - 1 - done} files audited, {done} already done, 1 bad" in again.stderr
    assert totals(out) == ref


@linux_only
@pytest.mark.timeout(120)
def test_a_worker_alone_terminated_stops_the_audit_cleanly(
    tmp_path: Path, inputs: tuple[Path, dict[str, Any]]
) -> None:
    """SIGTERM to one worker process (not to the audit): the worker stops at its next safe place, and the
    audit stops too (its results would be incomplete) with exit status 143 and the one line."""
    inp, ref = inputs
    out = tmp_path / "out"
    marker = tmp_path / "paused"
    proc = paused(cli(inp, out, "-j", "1"), f"file:3:{marker}")
    try:
        assert wait_for(marker.exists, proc)
        worker = int(marker.read_text())
        assert worker != proc.pid
        os.kill(worker, signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
        assert _wait_gone(proc.pid, 3.0) == []
    finally:
        kill_group(proc)
    assert proc.returncode == 143, stderr
    assert stderr.startswith("sigdiag: audit interrupted by SIGTERM") and len(stderr.splitlines()) == 1
    clean(out)
    assert rerun(inp, out)[0] == ref


# -- Dask ----------------------------------------------------------------------------------------------------
def _dask() -> None:
    pytest.importorskip("distributed")


@linux_only
@pytest.mark.timeout(180)
def test_dask_local_cluster_workers_end_with_a_killed_audit(
    tmp_path: Path, inputs: tuple[Path, dict[str, Any]]
) -> None:
    """``--engine dask`` with the LocalCluster the audit starts: SIGKILL of the audit process alone while
    a Dask worker is paused inside a commit; within seconds none of its processes (Dask workers, their
    nanny children, multiprocessing helpers) is left, and the rerun equals an uninterrupted run."""
    _dask()
    inp, ref = inputs
    out = tmp_path / "out"
    marker = tmp_path / "paused"
    proc = paused(
        cli(inp, out, "-j", "2", "--engine", "dask"),
        f"committed:2:{marker}",
        stderr=subprocess.DEVNULL,
        text=False,
    )
    try:
        assert wait_for(marker.exists, proc, 120)
        assert len(_group(proc.pid)) >= 3  # the audit and its Dask worker processes
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        left = _wait_gone(proc.pid, 10.0)
        assert left == [], f"Dask processes of the killed audit still running: {left}"
    finally:
        kill_group(proc)
    assert rerun(inp, out)[0] == ref


@linux_only
@pytest.mark.timeout(180)
def test_dask_ctrl_c_stops_cleanly(tmp_path: Path, inputs: tuple[Path, dict[str, Any]]) -> None:
    """Ctrl-C (SIGINT to the whole process group, the Dask workers included) with ``--engine dask``: exit
    status 130, the one line, no traceback and no Dask log, nothing left running, resumable."""
    _dask()
    inp, ref = inputs
    out = tmp_path / "out"
    marker = tmp_path / "paused"
    proc = paused(cli(inp, out, "-j", "2", "--engine", "dask"), f"file:2:{marker}", stdout=subprocess.PIPE)
    try:
        assert wait_for(marker.exists, proc, 120)
        os.killpg(proc.pid, signal.SIGINT)
        _, stderr = proc.communicate(timeout=90)
        assert _wait_gone(proc.pid, 10.0) == []
    finally:
        kill_group(proc)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    lines = [ln for ln in stderr.splitlines() if "resource_tracker" not in ln and ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("sigdiag: audit interrupted by SIGINT"), stderr
    clean(out)
    assert rerun(inp, out)[0] == ref


# -- a full disk, a read-only folder -------------------------------------------------------------------------
class FaultyOpen:
    """A fault-injecting ``open`` for the modules that write the output folder: the ``n``-th file opened
    for writing takes a few octets and then fails with ``OSError(err)``, as a full disk does."""

    def __init__(self, n: int, err: int = errno.ENOSPC) -> None:
        self.n = n
        self.err = err
        self.calls = 0

    def __call__(self, file: Any, mode: str = "r", *args: Any, **kw: Any) -> Any:
        f = open(file, mode, *args, **kw)  # noqa: SIM115
        if "w" not in mode:
            return f
        self.calls += 1
        if self.calls != self.n:
            return f
        err = self.err

        class Failing:
            def __enter__(self) -> Failing:
                return self

            def __exit__(self, *exc: Any) -> None:
                f.close()

            def write(self, data: Any) -> int:
                f.write(bytes(data)[:7])
                f.flush()
                raise OSError(err, os.strerror(err))

            def __getattr__(self, name: str) -> Any:
                return getattr(f, name)

        return Failing()


def inject(monkeypatch: pytest.MonkeyPatch, fault: FaultyOpen) -> None:
    import sigdiag.audit.store
    import sigdiag.audit.tables

    for mod in (sigdiag.audit.store, sigdiag.audit.tables):
        monkeypatch.setattr(mod, "open", fault, raising=False)


def readable(out: Path) -> None:
    """What was stored reads: the report, and every table folder with pyarrow (no stray file in it)."""
    report(out)
    for t in ("calls", "findings", "anomalies"):
        if (out / t).is_dir():
            pq.read_table(out / t)


@pytest.mark.timeout(180)
@pytest.mark.parametrize("n", [1, 2, 3, 5, 7, 8, 9, 21])
def test_a_full_disk_is_one_clear_error_and_the_stored_results_stay_readable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, inputs: tuple[Path, dict[str, Any]], n: int
) -> None:
    """The n-th write into the output folder fails with ENOSPC after a few octets (with one worker, n = 1
    is run.json, 2 a skipped file's anomaly part, 3 its commit, 5 a calls part, 7 a snapshot, 8 a file's
    commit, 9 the state saved after its renames, 21 a part later on): a one-line error naming the file
    and the reason, exit status 2; what was committed stays readable; the rerun equals."""
    inp, ref = inputs
    out = tmp_path / "out"
    inject(monkeypatch, FaultyOpen(n))
    args = ["audit", str(inp), "--out", str(out), "--config", str(CONFIG), "-j", "1", "-f", "jsonl"]
    r = runner.invoke(app, args)
    assert r.exit_code == 2, r.output
    assert r.stdout == "" and len(r.stderr.splitlines()) == 1, r.stderr
    line = r.stderr.strip()
    assert line.startswith(f"sigdiag: error: cannot write {out}/") and "No space left on device" in line
    where = {
        1: "/_state/run.json:",
        2: "/_staging/anomalies/",
        5: "/_staging/calls/",
        7: ".snap:",
        21: "/_staging/",
    }
    assert where.get(n, ".json:") in line.split(": No space")[0] + ":"
    assert f"the results stored so far in {out} are intact and readable" in line
    assert "Traceback" not in r.output
    monkeypatch.undo()
    if (out / "_state" / "run.json").exists():
        readable(out)
    got, _ = rerun(inp, out, workers=1)
    assert got == ref
    clean(out)


@linux_only
@pytest.mark.timeout(120)
def test_a_read_only_output_folder_is_one_clear_error_and_stays_readable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, inputs: tuple[Path, dict[str, Any]]
) -> None:
    """An output folder that cannot be written (EROFS from the injected writer: the tests run as root,
    whom chmod does not stop) after two files: the error is one line with exit status 2, the report reads
    it, and the rerun finishes it."""
    inp, ref = inputs
    out = tmp_path / "out"
    rerun(inp / "north", out, workers=1)
    inject(monkeypatch, FaultyOpen(1, errno.EROFS))
    args = ["audit", str(inp), "--out", str(out), "--config", str(CONFIG), "-j", "1"]
    r = runner.invoke(app, args)
    assert r.exit_code == 2 and len(r.stderr.splitlines()) == 1, r.output
    assert "Read-only file system" in r.stderr and "Traceback" not in r.output
    monkeypatch.undo()
    readable(out)
    assert rerun(inp, out, workers=1)[0] == ref


def _mount_tmpfs(where: Path, size_kb: int) -> bool:
    if not LINUX or os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    where.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(where)], capture_output=True
    )
    return r.returncode == 0


@linux_only
@pytest.mark.timeout(180)
def test_a_real_full_then_read_only_tmpfs(tmp_path: Path, inputs: tuple[Path, dict[str, Any]]) -> None:
    """On a real 200 KB tmpfs (skipped where mounting is not allowed): the audit fills it, stops with one
    line (ENOSPC, exit status 2); the report reads what was stored; remounted read-only, the report still
    reads it and a new audit is one line (EROFS, exit 2); copied to a roomy disk, the rerun equals."""
    inp, ref = inputs
    mnt = tmp_path / "mnt"
    if not _mount_tmpfs(mnt, 200):
        pytest.skip("cannot mount a tmpfs here (needs root and CAP_SYS_ADMIN)")
    try:
        out = mnt / "out"
        r = subprocess.run(cli(inp, out, "-j", "1"), capture_output=True, text=True, env=env(), timeout=120)
        assert r.returncode == 2, r.stderr
        assert len(r.stderr.splitlines()) == 1 and "No space left on device" in r.stderr, r.stderr
        assert r.stdout == ""
        assert 0 < _files_done(out) < N_FILES
        rep = subprocess.run(
            [*cli(inp, out)[:3], "audit", "report", str(out)],
            capture_output=True,
            text=True,
            env=env(),
        )
        assert rep.returncode == 0 and rep.stderr == "", rep.stderr
        readable(out)
        subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
        rep = subprocess.run(
            [*cli(inp, out)[:3], "audit", "report", str(out)],
            capture_output=True,
            text=True,
            env=env(),
        )
        assert rep.returncode == 0 and rep.stderr == "", rep.stderr
        again = subprocess.run(
            cli(inp, out, "-j", "1"), capture_output=True, text=True, env=env(), timeout=120
        )
        assert again.returncode == 2 and len(again.stderr.splitlines()) == 1, again.stderr
        assert "Read-only file system" in again.stderr
        copy = tmp_path / "copy"
        shutil.copytree(out, copy)
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)
    assert rerun(inp, copy, workers=1)[0] == ref
    clean(copy)


# -- parts cut short, parts never committed ------------------------------------------------------------------
def test_check_part_tells_a_whole_part_from_a_damaged_one(tmp_path: Path) -> None:
    p = tmp_path / "x.parquet"
    pq.write_table(pa.table({"a": list(range(100))}), p)
    size = p.stat().st_size
    assert check_part(p, [size, 100]) is None and check_part(p) is None
    assert check_part(tmp_path / "none.parquet") == "missing"
    data = p.read_bytes()
    p.write_bytes(data[: size // 2])
    assert check_part(p, [size, 100]) == f"cut short: {size // 2} of {size} bytes"
    assert check_part(p) is not None and "no footer" in str(check_part(p))
    p.write_bytes(data + b"xx")
    assert check_part(p, [size, 100]) == f"{size + 2} bytes, {size} when committed"
    p.write_bytes(b"PAR1" + b"\0" * 20 + (10_000).to_bytes(4, "little") + b"PAR1")
    assert "footer length" in str(check_part(p))


def _a_part(out: Path, table_name: str) -> tuple[Path, dict[str, Any]]:
    for sp in state_files(out):
        st = json.loads(sp.read_text())
        for rel in st["parts"]:
            if rel.startswith(table_name + "/") and rel not in st["tail"]:
                return out / rel, st
    raise AssertionError("no part")


@pytest.mark.timeout(120)
def test_a_committed_part_cut_short_is_named_and_redone(
    tmp_path: Path, inputs: tuple[Path, dict[str, Any]]
) -> None:
    inp, ref = inputs
    out = tmp_path / "out"
    shutil.copytree(inp.parent / "ref", out)
    part, st = _a_part(out, "calls")
    size, rows = st["info"][str(part.relative_to(out))]
    os.truncate(part, size // 2)
    # the report names it, leaves it out and says how many rows, without a traceback
    r = runner.invoke(app, ["audit", "report", str(out), "-f", "jsonl"])
    assert r.exit_code == 0, r.output
    assert r.stderr.splitlines()[0] == (
        f"sigdiag: warning: {part}: damaged (cut short: {size // 2} of {size} bytes): left out of this "
        f"summary ({rows} rows); run the audit again on the same captures to redo it"
    )
    assert sum(json.loads(x)["seizures"] for x in r.stdout.splitlines()) == ref["seizures"] - rows
    # the audit redoes it: its capture point again from its first file
    got, warnings = rerun(inp, out)
    assert [w for w in warnings if str(part) in w] == [
        f"{part}: damaged (cut short: {size // 2} of {size} bytes): redone (point {st['point']} audited "
        "again from its first file)"
    ]
    assert got == ref
    clean(out)


@pytest.mark.timeout(120)
def test_a_damaged_part_whose_captures_are_gone_is_left_out_and_named(
    tmp_path: Path, inputs: tuple[Path, dict[str, Any]]
) -> None:
    """The captures were rotated away since: the damaged part cannot be redone; it is left out of the
    stored results (which stay readable) and the warning says how many rows are lost."""
    inp, ref = inputs
    mine = tmp_path / "in"
    shutil.copytree(inp, mine)
    out = tmp_path / "out"
    rerun(mine, out)
    part, st = _a_part(out, "findings")
    rows = st["info"][str(part.relative_to(out))][1]
    part.write_bytes(part.read_bytes()[:-9])
    first = sorted(f["path"] for f in st["files"])[0]
    Path(first).unlink()
    _, warnings = rerun(mine, out)
    (w,) = [w for w in warnings if str(part) in w]
    assert f"cannot be redone because 1 capture file(s) of point {st['point']} audited before" in w
    assert w.endswith(f"left out, {rows} rows lost")
    readable(out)
    assert not part.exists()
    assert sum(totals(out)["findings"].values()) == sum(ref["findings"].values()) - rows


@linux_only
@pytest.mark.timeout(120)
def test_a_staged_part_never_committed_is_named_removed_and_its_file_redone(
    tmp_path: Path, inputs: tuple[Path, dict[str, Any]]
) -> None:
    """The audit killed while a worker has written a file's parts to the staging folder and not yet
    committed them: the rerun names each such part, removes it, audits the file again, and equals."""
    inp, ref = inputs
    out = tmp_path / "out"
    marker = tmp_path / "paused"
    proc = paused(cli(inp, out, "-j", "1"), f"snapshot:3:{marker}", stderr=subprocess.DEVNULL, text=False)
    try:
        assert wait_for(marker.exists, proc)
        left = staged(out)
        assert left
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        assert _wait_gone(proc.pid, 5.0) == []
    finally:
        kill_group(proc)
    assert staged(out) == left and _files_done(out) == 2  # the third file's commit never happened
    r = runner.invoke(app, ["audit", str(inp), "--out", str(out), "--config", str(CONFIG), "-j", "1"])
    assert r.exit_code == 0, r.output
    for p in left:
        assert (
            f"sigdiag: warning: {p}: a part left uncommitted by an interrupted run: removed (its capture "
            "file is audited again)"
        ) in r.stderr
    assert staged(out) == []
    assert totals(out) == ref
    clean(out)


@linux_only
@pytest.mark.timeout(120)
def test_a_worker_killed_alone_is_one_clear_error(
    tmp_path: Path, inputs: tuple[Path, dict[str, Any]]
) -> None:
    """SIGKILL of one worker process (the kernel's out-of-memory killer does that): one error line, exit
    status 2, no traceback, no process left; the rerun equals."""
    inp, ref = inputs
    out = tmp_path / "out"
    marker = tmp_path / "paused"
    proc = paused(cli(inp, out, "-j", "2"), f"staged:2:{marker}")
    try:
        assert wait_for(marker.exists, proc)
        os.kill(int(marker.read_text()), signal.SIGKILL)
        _, stderr = proc.communicate(timeout=60)
        assert _wait_gone(proc.pid, 5.0) == []
    finally:
        kill_group(proc)
    assert proc.returncode == 2, stderr
    assert (
        stderr.startswith("sigdiag: error: a worker process ended abruptly") and len(stderr.splitlines()) == 1
    )
    assert rerun(inp, out)[0] == ref


@linux_only
@pytest.mark.timeout(120)
def test_a_second_sigint_stops_a_stuck_worker_at_once(
    tmp_path: Path, inputs: tuple[Path, dict[str, Any]]
) -> None:
    """A worker that cannot reach a safe place (stopped with SIGSTOP here): after the first SIGINT the
    audit waits and says so after 2 s; the second one kills the workers at once; exit status 130, the
    line says so, nothing is left running, and the rerun equals."""
    inp, ref = inputs
    out = tmp_path / "out"
    marker = tmp_path / "paused"
    proc = paused(cli(inp, out, "-j", "2"), f"file:2:{marker}")
    try:
        assert wait_for(marker.exists, proc)
        os.kill(int(marker.read_text()), signal.SIGSTOP)
        os.kill(proc.pid, signal.SIGINT)
        time.sleep(2.5)
        assert proc.poll() is None  # waiting for the stuck worker
        os.kill(proc.pid, signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
        assert _wait_gone(proc.pid, 5.0) == []
    finally:
        kill_group(proc)
    assert proc.returncode == 130, stderr
    assert stderr.splitlines() == [
        "sigdiag: stopping: waiting for the workers to reach a safe place (send Ctrl-C again to stop them "
        "at once)",
        stderr.splitlines()[1],
    ]
    assert stderr.splitlines()[1].startswith(
        "sigdiag: audit interrupted by SIGINT (workers stopped at once): "
    )
    assert rerun(inp, out)[0] == ref


def test_results_of_an_older_layout_are_not_added_to(
    tmp_path: Path, inputs: tuple[Path, dict[str, Any]]
) -> None:
    """An output folder written by a sigdiag whose saved state or tables differ (here: version 2, whose
    state between files was not a named StreamState; 3, whose call ids were not positions) is refused with
    one clear line, not resumed into."""
    inp, _ = inputs
    out = tmp_path / "out"
    subprocess.run(cli(inp, out), capture_output=True, check=False, timeout=600)
    run_file = out / "_state" / "run.json"
    meta = json.loads(run_file.read_text())
    from sigdiag.audit.runner import TABLES_VERSION

    assert meta["version"] == TABLES_VERSION
    meta["version"] = TABLES_VERSION - 1
    run_file.write_text(json.dumps(meta))
    proc = subprocess.run(cli(inp, out), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 2, proc.stderr
    old, new = TABLES_VERSION - 1, TABLES_VERSION
    assert f"another version of sigdiag (tables version {old}, this one writes {new})" in proc.stderr
    assert "Traceback" not in proc.stderr
