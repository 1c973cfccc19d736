"""``sigdiag audit --engine dask --scheduler ADDRESS`` against a Dask cluster started outside the audit (a
LocalCluster of 2 worker processes in a subprocess of its own session, as ``dask scheduler`` and ``dask
worker`` would be): the same results as ``--engine local``, the cluster left running and usable (its workers
the same processes, their signal handling untouched), a second audit on it, Ctrl-C of the audit stopping the
points on the external workers without harming them, and one-line errors for an address nobody listens on
and for a malformed one.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sigdiag.cli import app
from tests.unit.test_audit_faults import CONFIG, cli, env, kill_group, make_input, totals, wait_for

pytest.importorskip("distributed")

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()

CLUSTER = """
import logging, sys
from distributed import LocalCluster

if __name__ == "__main__":
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, scheduler_port=0,
                           dashboard_address=None, silence_logs=logging.ERROR)
    print(cluster.scheduler_address, flush=True)
    sys.stdin.read()  # until the test closes standard input
    cluster.close()
"""


class External:
    """A LocalCluster running in a subprocess (its own session): its address, and a client of it."""

    def __init__(self, folder: Path, **environ: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        script = folder / "cluster.py"
        script.write_text(CLUSTER)
        self.log = (folder / "cluster.log").open("w")
        self.proc = subprocess.Popen(
            [sys.executable, str(script)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            start_new_session=True,
            env=env(**environ),  # this checkout's sigdiag on the workers
        )
        assert self.proc.stdout is not None
        self.address = self.proc.stdout.readline().strip()
        assert self.address.startswith("tcp://"), (folder / "cluster.log").read_text()
        from distributed import Client

        self.client = Client(self.address, timeout="30s", set_as_default=False)

    def worker_state(self) -> dict[str, tuple[int, str, str]]:
        """Per worker: its pid and its SIGINT and SIGTERM handlers (as text)."""

        def state() -> tuple[int, str, str]:
            return os.getpid(), repr(signal.getsignal(signal.SIGINT)), repr(signal.getsignal(signal.SIGTERM))

        answers: dict[str, tuple[int, str, str]] = self.client.run(state)
        return answers

    def usable(self) -> bool:
        return bool(self.client.submit(sum, [1, 2], pure=False).result(timeout=30) == 3)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.close()
        if self.proc.poll() is None and self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(15)
        kill_group(self.proc)  # whatever is left of it
        self.log.close()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[External]:
    ext = External(tmp_path_factory.mktemp("cluster"))
    try:
        yield ext
    finally:
        ext.close()


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]], dict[str, Any]]:
    """The input (two capture points, a damaged file and a file that is not a capture), and the summary
    rows and totals of ``--engine local`` over it."""
    base = tmp_path_factory.mktemp("input")
    make_input(base / "in")
    out = base / "local"
    args = ["audit", str(base / "in"), "--out", str(out), "--config", str(CONFIG), "-j", "2", "-f", "jsonl"]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    return base / "in", rows, totals(out, rows)


def audit(inp: Path, out: Path, scheduler: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    """``sigdiag audit`` as a user runs it (a subprocess), on the cluster at ``scheduler``."""
    return subprocess.run(
        cli(inp, out, "--engine", "dask", "--scheduler", scheduler),
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env(),
    )


def test_external_cluster_gives_the_local_results_and_is_left_running(
    tmp_path: Path, cluster: External, local: tuple[Path, list[dict[str, Any]], dict[str, Any]]
) -> None:
    inp, rows, ref = local
    before = cluster.worker_state()
    assert len(before) == 2
    for n in (1, 2):  # a second audit on the same cluster works as the first
        out = tmp_path / f"out{n}"
        r = audit(inp, out, cluster.address)
        assert r.returncode == 0, r.stderr
        assert "Traceback" not in r.stderr
        got = [json.loads(line) for line in r.stdout.splitlines()]
        assert got == rows  # summary rows, byte for byte as JSON
        assert totals(out, got) == ref  # each stored call with its outcome, findings per rule, anomalies
        # the cluster is left running, with the same worker processes, their signal handling untouched
        assert cluster.proc.poll() is None
        assert cluster.worker_state() == before
        assert cluster.usable()
    # a rerun on it skips every file already done
    r = audit(inp, tmp_path / "out1", cluster.address)
    assert r.returncode == 0, r.stderr
    assert "audit: 0 files audited, 8 already done, 1 bad" in r.stderr  # (the file that is not a capture)
    assert [json.loads(line) for line in r.stdout.splitlines()] == rows


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port  # closed again: nobody listens there


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("refused", "cannot connect to the Dask scheduler at tcp://127.0.0.1:{port}: Connection refused"),
        ("tcp://no-such-host.invalid:8786", "cannot connect to the Dask scheduler at tcp://no-such-host"),
        ("tcp://", "--scheduler 'tcp://' is not a Dask scheduler address"),
        ("localhost", "--scheduler 'localhost' is not a Dask scheduler address"),
        ("nonsense://host:8786", "--scheduler 'nonsense://host:8786' is not a Dask scheduler address"),
    ],
)
def test_scheduler_that_cannot_be_reached_is_one_error_line(
    tmp_path: Path, local: tuple[Path, list[dict[str, Any]], dict[str, Any]], address: str, expected: str
) -> None:
    inp = local[0]
    port = _free_port()
    if address == "refused":
        address = f"tcp://127.0.0.1:{port}"
    t0 = time.monotonic()
    r = audit(inp, tmp_path / "out", address, timeout=60)
    assert r.returncode == 2, r.stderr
    assert r.stderr.splitlines() == [r.stderr.strip()], r.stderr  # one line, no traceback
    assert r.stderr.startswith("sigdiag: error: " + expected.format(port=port)), r.stderr
    assert r.stdout == ""
    assert time.monotonic() - t0 < 45  # not Dask's connect timeout retried (a bound, not a speed test)


def test_ctrl_c_stops_the_points_on_the_external_workers_and_leaves_them_running(
    tmp_path: Path, cluster: External, local: tuple[Path, list[dict[str, Any]], dict[str, Any]]
) -> None:
    """SIGINT to the audit's process group (Ctrl-C; the cluster is in another session) while a worker of
    an external cluster is paused at its first file: the audit asks the workers to stop its points
    (``request_stop``), they stop at that safe place, the audit exits 130 with its one line, and the
    cluster keeps running with the same workers; the same command then resumes (on the other external
    cluster: a worker of this one that ran no point in the interrupted audit would pause again)."""
    inp, rows, ref = local
    marker = tmp_path / "paused"
    ext = External(tmp_path / "cluster", SIGDIAG_AUDIT_PAUSE=f"file:1:{marker}")
    try:
        before = ext.worker_state()
        out = tmp_path / "out"
        cmd = cli(inp, out, "--engine", "dask", "--scheduler", ext.address)
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
            env=env(),
        )
        try:
            assert wait_for(marker.exists, proc, 60)
            os.killpg(proc.pid, signal.SIGINT)
            _, stderr = proc.communicate(timeout=40)  # a paused worker not asked to stop waits 60 s
        finally:
            kill_group(proc)
        assert proc.returncode == 130, stderr
        assert stderr.splitlines() == [stderr.strip()], stderr
        assert stderr.startswith("sigdiag: audit interrupted by SIGINT (workers stopped cleanly)"), stderr
        # the workers were asked to stop (a paused worker otherwise waits 60 s), and are still there
        assert ext.proc.poll() is None
        assert ext.worker_state() == before
        assert ext.usable()
        r = audit(inp, out, cluster.address)
        assert r.returncode == 0, r.stderr
        got = [json.loads(line) for line in r.stdout.splitlines()]
        assert got == rows
        assert totals(out, got) == ref
    finally:
        ext.close()


def test_workers_that_cannot_see_the_files_or_run_another_version_are_one_error_line(tmp_path: Path) -> None:
    """What the audit checks on the workers of a cluster it did not start (a stand-in client answering as
    the workers would): each path they must see, and sigdiag's version."""
    import sigdiag
    from sigdiag.audit import AuditError
    from sigdiag.audit.engines import _check_workers, _worker_check
    from sigdiag.audit.worker import PointTask

    capture = tmp_path / "a.pcap"
    capture.write_bytes(b"")
    trunks = tmp_path / "trunks.yaml"
    task = PointTask(str(tmp_path / "out"), "p", "a", [str(capture)], {"trunks": str(trunks)}, "run")

    class Client:
        def __init__(self, **changes: Any) -> None:
            self.changes = changes

        def run(self, fn: Any, *args: Any) -> dict[str, Any]:
            return {"tcp://w1:1": fn(*args), "tcp://w2:1": {**fn(*args), **self.changes}}

    with pytest.raises(
        AuditError, match=r"the Dask worker tcp://w1:1 does not see .*/out: the workers must see"
    ):
        _check_workers(Client(), "tcp://s:1", [task], tmp_path / "out")
    (tmp_path / "out").mkdir()
    with pytest.raises(AuditError, match=r"tcp://w1:1 does not see .*/trunks\.yaml"):
        _check_workers(Client(), "tcp://s:1", [task], tmp_path / "out")
    trunks.write_text("{}\n")
    _check_workers(Client(), "tcp://s:1", [task], tmp_path / "out")  # all seen, same version
    assert _worker_check([str(capture), str(tmp_path / "gone")])["missing"] == [str(tmp_path / "gone")]
    with pytest.raises(
        AuditError, match=rf"tcp://w2:1 runs sigdiag 0\.0\.1, this audit {sigdiag.__version__}"
    ):
        _check_workers(Client(version="0.0.1"), "tcp://s:1", [task], tmp_path / "out")
