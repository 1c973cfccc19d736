"""The engines that run an audit's tasks: a local process pool (:func:`run_local`) or a Dask cluster
(:func:`run_dask`), both stopping cleanly on a signal (:class:`~sigdiag.audit.stopping.Stop`).

A task is a picklable :class:`~sigdiag.audit.worker.PointTask`;
:func:`~sigdiag.audit.worker.process_point` runs it in a worker and returns a plain dict (``stopped``:
the signal number when the worker stopped before the end).  Both engines return the results of the
tasks that ran, in the order they finished, and raise what the first failure means in the audit process
(:func:`worker_failed`).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sigdiag.audit.errors import AuditError, store_failed
from sigdiag.audit.parts import PartTask, process_part
from sigdiag.audit.stopping import Stop
from sigdiag.audit.store import StoreError
from sigdiag.audit.worker import PointTask, process_point

__all__ = ["Task", "run_dask", "run_local", "run_task", "worker_failed"]

#: What the engines run: a capture point (read and merged in time order), or a later part of one.
Task = PointTask | PartTask


def run_task(task: Task) -> dict[str, Any]:
    """Run one task in a worker (a plain dict back: see :func:`~sigdiag.audit.worker.process_point` and
    :func:`~sigdiag.audit.parts.process_part`)."""
    if isinstance(task, PartTask):
        return process_part(task)
    return process_point(task)


def worker_failed(exc: BaseException, out: Path) -> BaseException:
    """What a failed task raises in the audit process: a clear error for a store that cannot be written
    or a worker process that died; anything else (a bug) as it is."""
    from concurrent.futures.process import BrokenProcessPool

    if isinstance(exc, StoreError):
        return store_failed(exc, out)
    if isinstance(exc, BrokenProcessPool) or type(exc).__name__ == "KilledWorker":  # Dask's, after retries
        return AuditError(
            "a worker process ended abruptly (killed, or out of memory); the results stored so far in "
            f"{out} are intact; run the same command again to resume"
        )
    return exc


#: The garbage collector's thresholds in a worker (Python's default: 700, 10, 10).
GC_THRESHOLDS = (50_000, 20, 20)


def settle_heap() -> None:
    """In a new worker process: move every object it starts with (the modules forked from the audit
    process; a Dask worker's own state, four times the objects of a pool process) out of the collector's
    reach (``gc.freeze``), so that a task's full collections walk only what the task made.  No collection
    first: it took 65 to 80 ms in a Dask worker, on the run's critical path, to free a few start-up cycles.
    And collect less often (:data:`GC_THRESHOLDS`): an audit makes long-lived records (messages kept in
    calls, rows, a part's outcome) and almost no cyclic garbage, and the collections of the default
    thresholds walked them again and again (measured on one file of 90,343 messages: a point read in 3.0
    to 4.5 s, a part of the whole file in 3.9 to 4.3 s; with these thresholds 1.8 to 2.3 s and 2.1 to
    2.4 s, the same peak memory)."""
    import gc

    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


# -- local process pool ------------------------------------------------------------------------------------
def _init_worker(queue: Any, parent: int, stop_event: Any = None) -> None:
    from sigdiag.audit import worker

    settle_heap()

    worker.die_with_parent(parent)  # no worker goes on alone when the audit process is killed
    worker.arm_stop_signals()  # a Ctrl-C (the whole process group) or a SIGTERM: stop cleanly, no traceback
    worker.set_stop_event(stop_event)
    worker.set_progress(queue.put)


def run_local(
    tasks: Sequence[Task],
    workers: int,
    on_file: Callable[[dict[str, Any]], None],
    stop: Stop | None = None,
    out: Path | None = None,
) -> list[Any]:
    """Run ``tasks`` in a pool of ``workers`` processes; ``on_file`` gets each file's progress event (in
    this process).  A signal (``stop``) or a failure sets the pool's stop event (the running tasks stop
    at their next safe place) and cancels the tasks not started; a second signal kills the workers."""
    import multiprocessing as mp
    import queue as queue_mod
    import signal
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    stop = stop or Stop(False)
    outp = out or Path(tasks[0].out if tasks else ".")
    ctx = mp.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    q = ctx.Queue()
    event = ctx.Event()
    results: list[Any] = []
    failure: BaseException | None = None

    def drain(timeout: float = 0.0) -> None:
        while True:
            try:
                on_file(q.get(timeout=timeout) if timeout else q.get_nowait())
            except queue_mod.Empty:
                break

    ex = ProcessPoolExecutor(
        max_workers=workers, mp_context=ctx, initializer=_init_worker, initargs=(q, os.getpid(), event)
    )
    killed = False
    try:
        with stop.working():
            pending = {ex.submit(run_task, t) for t in tasks}
            while pending:
                finished, pending = wait(pending, timeout=0.05, return_when=FIRST_COMPLETED)
                drain()
                for f in finished:
                    if f.cancelled():
                        continue
                    exc = f.exception()
                    if exc is not None:
                        failure = failure or worker_failed(exc, outp)
                        continue
                    r = f.result()
                    results.append(r)
                    if r.get("stopped", 0) > 1 and not stop.requested:
                        stop.request(int(r["stopped"]))  # a worker got the signal alone: the audit stops
                if (stop.requested or failure is not None) and not event.is_set():
                    event.set()  # the running points stop at their next safe place
                    for f in pending:
                        f.cancel()  # and no more are started
                stop.waiting()
                if stop.forced and not killed:
                    for proc in list(getattr(ex, "_processes", {}).values()):
                        with contextlib.suppress(OSError):
                            os.kill(proc.pid, signal.SIGKILL)
                    killed = True
                    break
            drain(0.05)
    finally:
        ex.shutdown(wait=not killed, cancel_futures=True)
    if stop.requested:
        raise stop.interrupted(killed)
    if failure is not None:
        raise failure
    return results


# -- Dask --------------------------------------------------------------------------------------------------
#: Settings of the LocalCluster the audit starts (not of a cluster it connects to): on Linux its worker
#: processes are forked from the audit process (as the local pool's are), so they start in a tenth of a
#: second with every module already imported, instead of starting a new interpreter that imports Dask,
#: then pyarrow and pandas on its first point; and Dask's sampling profiler (a thread that walks the
#: worker's stack every 10 ms, for the dashboard the audit does not open) is off.
_LOCAL_CLUSTER_CONFIG = {
    "distributed.worker.multiprocessing-method": "fork" if sys.platform.startswith("linux") else "spawn",
    "distributed.worker.profile.enabled": False,
}


def _preimport() -> None:
    """Import what a point's or a part's task imports on first use (decoding, correlation, rules, storage,
    pyarrow, pandas), so that the workers forked from this process have it (the first task on each worker
    would pay it on the critical path); the audit's summary needs some of it anyway."""
    import sigdiag.audit.tables
    import sigdiag.calls.parts
    import sigdiag.decode
    import sigdiag.report.parquet
    import sigdiag.rules.engine
    import sigdiag.rules.stream  # noqa: F401

    for name in ("pyarrow.parquet", "pyarrow.compute", "pandas"):
        with contextlib.suppress(ImportError):
            __import__(name)


def _arm_dask_worker() -> None:
    """On a worker of the audit's own LocalCluster: a Ctrl-C or a SIGTERM sent to the whole process group
    asks its points to stop cleanly, instead of interrupting the worker with a traceback or killing it
    (Dask would start another and run its points again to the end); and the worker ends when the audit
    process (its parent: the nannies live in it) ends, however it ends.  Dask's own watch, a pipe from the
    parent, is not enough for forked workers: a sibling forked later holds a copy of the pipe, which then
    never closes (seen: two workers left running after a SIGKILL of the audit)."""
    import os

    from sigdiag.audit import worker

    worker.arm_stop_signals()
    worker.die_with_parent(os.getppid())
    settle_heap()


def _worker_check(paths: list[str]) -> dict[str, Any]:
    """On a worker of a cluster the audit connects to: its sigdiag version and which of ``paths`` it
    does not see."""
    import sigdiag

    return {"version": sigdiag.__version__, "missing": [p for p in paths if not os.path.exists(p)]}


def _no_listener(scheduler: str) -> str | None:
    """Why nothing can answer at a ``tcp://`` address (refused, unknown host...), without waiting for
    Dask's connect timeout; None when a TCP connection opens (or for another scheme)."""
    import socket

    from distributed.comm.addressing import parse_address, parse_host_port
    from distributed.comm.registry import get_backend

    scheme, loc = parse_address(scheduler)
    get_backend(scheme)  # ValueError for an unknown scheme, before any Client exists
    if scheme != "tcp":
        return None
    host, port = parse_host_port(loc)
    try:
        socket.create_connection((host, port), timeout=5.0).close()
    except TimeoutError:
        return None  # Dask's own connect says more, after its timeout
    except (OSError, OverflowError) as exc:  # OverflowError: a port above 65535
        return getattr(exc, "strerror", None) or str(exc)
    return None


def _connect(scheduler: str) -> Any:
    """A client of the scheduler at ``scheduler`` (a cluster the audit did not start: it is neither
    changed nor closed), or an :class:`AuditError` saying why not in one line."""
    from distributed import Client

    where = f"the Dask scheduler at {scheduler}"
    try:
        why = _no_listener(scheduler)
    except (ValueError, TypeError) as exc:
        raise AuditError(
            f"--scheduler {scheduler!r} is not a Dask scheduler address ({exc}); give tcp://HOST:PORT"
        ) from None
    if why is not None:
        raise AuditError(f"cannot connect to {where}: {why} (is a Dask scheduler running there?)")
    client = Client.__new__(Client)
    try:
        client.__init__(scheduler, timeout="15s", set_as_default=False)  # type: ignore[misc]
    except BaseException as exc:
        client.status = "closed"  # a Client that failed to start: its finaliser would wait 30 s to close it
        if isinstance(exc, (ValueError, TypeError)):  # e.g. tls:// without Dask's TLS settings
            raise AuditError(f"--scheduler {scheduler!r}: {exc}") from None
        if isinstance(exc, (OSError, TimeoutError)):
            raise AuditError(f"cannot connect to {where}: {exc}") from None
        raise
    return client


def _dask_client(scheduler: str | None, workers: int) -> tuple[Any, Any]:
    """``(client, cluster)``: a client of the scheduler at ``scheduler`` (cluster None), or of a
    LocalCluster of ``workers`` processes started here."""
    try:
        import dask
        from distributed import Client, LocalCluster
    except ImportError:
        raise AuditError('--engine dask needs dask.distributed: pip install "sigdiag[audit]"') from None
    import logging
    import warnings

    if scheduler:
        return _connect(scheduler), None
    _preimport()
    # its workers are child processes of this one that end when it ends, however it ends (Dask's nanny
    # holds a pipe each worker watches); its logs stay quiet below errors
    with dask.config.set(_LOCAL_CLUSTER_CONFIG), warnings.catch_warnings():
        # Python >= 3.12 warns of any fork in a process with threads; the forking thread is Dask's, the
        # others wait (the local pool forks likewise)
        warnings.filterwarnings("ignore", ".*use of fork\\(\\) may lead to deadlocks", DeprecationWarning)
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            # no dashboard, but the scheduler serves /health on some port: any free one, not 8787 (taken
            # by another cluster, Dask would warn on standard error)
            scheduler_kwargs={"dashboard_address": ":0"},
            silence_logs=logging.ERROR,
        )
    try:
        client = Client(cluster, set_as_default=False)
        client.run(_arm_dask_worker)
    except BaseException:
        cluster.close()
        raise
    return client, cluster


def _key(t: Task) -> str:
    part = f"-part{t.k}" if isinstance(t, PartTask) else ""
    return f"sigdiag-audit-{t.pid}{part}-{time.time_ns()}"


def _settings_files(options: dict[str, Any]) -> list[str]:
    """The files and folders a task's options name (absolute paths: the audit made them so)."""
    found = [options.get("trunks"), options.get("outcomes"), (options.get("decode") or {}).get("config")]
    return [str(p) for p in found + list(options.get("rule_dirs") or []) if p]


def _check_workers(client: Any, scheduler: str, tasks: Sequence[Task], out: Path) -> None:
    """The workers of a cluster the audit did not start run this sigdiag and see the output folder, the
    settings files and the capture files (the first of each point) at the same paths; else one error
    line.  (Workers that join later are not checked.)"""
    import sigdiag

    paths = [str(out)] + (_settings_files(tasks[0].options) if tasks else [])
    paths += [t.files[0] for t in tasks if isinstance(t, PointTask) and t.files]
    try:
        answers = client.run(_worker_check, paths)
    except Exception as exc:  # whatever stops a worker from running sigdiag's code
        raise AuditError(
            f"the workers of the Dask scheduler at {scheduler} cannot run sigdiag ({type(exc).__name__}: "
            f"{exc}); install sigdiag {sigdiag.__version__} on every worker"
        ) from None
    for addr, info in sorted(answers.items()):
        if info["version"] != sigdiag.__version__:
            raise AuditError(
                f"the Dask worker {addr} runs sigdiag {info['version']}, this audit {sigdiag.__version__}; "
                "install the same version on every worker"
            )
        if info["missing"]:
            raise AuditError(
                f"the Dask worker {addr} does not see {info['missing'][0]}: the workers must see the "
                "capture files, --out and the settings files at the same absolute paths as this process "
                "(a shared file system)"
            )


class _DaskRun:
    """The futures of one Dask run, collected as they finish (see :func:`run_dask`)."""

    def __init__(self, client: Any, stop: Stop, on_point: Callable[[dict[str, Any]], None], out: Path):
        self.client = client
        self.stop = stop
        self.on_point = on_point
        self.out = out
        self.results: list[Any] = []
        self.failure: BaseException | None = None

    def wait(self, tasks: Sequence[Task], submit: Callable[[Task], Any], slots: int, run: str) -> None:
        """Run ``tasks`` in their order, ``slots`` at a time (one a worker thread: a worker takes its next
        task when it is free, as in the local pool, instead of the scheduler handing every task out at the
        start), until every one is done, or cancelled after a second signal.  Each finished future is
        collected as soon as Dask reports it (a done callback), not by polling; no task starts after a
        signal."""
        import queue

        from sigdiag.audit.worker import request_stop

        stop = self.stop
        waiting = list(reversed(tasks))
        pending: set[Any] = set()
        finished: queue.SimpleQueue[Any] = queue.SimpleQueue()

        def start_next() -> None:
            if waiting and not stop.requested and self.failure is None:
                fut = submit(waiting.pop())
                pending.add(fut)
                fut.add_done_callback(finished.put)

        for _ in range(max(1, slots)):
            start_next()
        asked = False
        while pending:
            if stop.requested or self.failure is not None:
                if not asked:
                    # the running points stop at their next safe place
                    with contextlib.suppress(Exception):
                        self.client.run(request_stop, run)
                    asked = True
                stop.waiting()
                if stop.forced:
                    self.client.cancel(list(pending), force=True)
                    break
            try:
                fut = finished.get(timeout=0.1)
            except queue.Empty:
                continue
            if fut in pending:
                pending.discard(fut)
                self.collect(fut)
                start_next()

    def collect(self, fut: Any) -> None:
        """One finished future: its result, or the first failure (not after a signal)."""
        if fut.status == "cancelled":
            return
        err = fut.exception()
        if err is not None:
            if not self.stop.requested:
                self.failure = self.failure or worker_failed(err, self.out)
            return
        r = fut.result()
        if not r.get("stopped"):
            self.on_point(r)
        self.results.append(r)


def run_dask(
    tasks: Sequence[Task],
    scheduler: str | None,
    workers: int,
    on_point: Callable[[dict[str, Any]], None],
    stop: Stop | None = None,
    out: Path | None = None,
) -> list[Any]:
    """Run ``tasks`` on the Dask scheduler at ``scheduler``, or on a LocalCluster of ``workers``
    processes started for the run; ``on_point`` gets each task's result as it finishes.  A signal
    (``stop``) or a failure asks every worker to stop its points at their next safe place
    (:func:`~sigdiag.audit.worker.request_stop`); a second signal cancels them.  A cluster the audit
    connects to is left as it was: its workers' signal handling is not touched, and it is not closed."""
    import logging

    stop = stop or Stop(False)
    outp = out or Path(tasks[0].out if tasks else ".")
    cluster = None
    dask_run: _DaskRun | None = None
    try:
        with stop.working():
            client, cluster = _dask_client(scheduler, workers)
            try:
                if cluster is None and scheduler:
                    _check_workers(client, scheduler, tasks, outp)
                dask_run = _DaskRun(client, stop, on_point, outp)
                if not stop.requested:  # not when a signal came while connecting
                    slots = workers if cluster is not None else sum(client.nthreads().values())
                    dask_run.wait(
                        tasks,
                        lambda t: client.submit(run_task, t, pure=False, key=_key(t)),
                        slots,
                        tasks[0].run if tasks else "",
                    )
            finally:
                logging.getLogger("distributed").setLevel(
                    logging.CRITICAL if stop.requested else logging.ERROR
                )
                client.close()
    finally:
        if cluster is not None:
            cluster.close()
    if stop.requested:
        raise stop.interrupted(stop.forced)
    if dask_run is not None and dask_run.failure is not None:
        raise dask_run.failure
    return dask_run.results if dask_run is not None else []
