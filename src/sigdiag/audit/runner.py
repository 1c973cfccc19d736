"""Running an audit: find the files, group them into capture points, process the points in parallel
(local process pool or a Dask cluster), then summarise from the stored results."""

from __future__ import annotations

import fcntl
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from sigdiag.audit.discover import find_captures, group_points, point_id
from sigdiag.audit.store import STATE_DIR, atomic_write, committed_parts, recover_all
from sigdiag.audit.worker import PointTask, process_point

__all__ = ["ENGINES", "AuditError", "AuditResult", "Progress", "damaged_files", "report", "run_audit"]

ENGINES = ("local", "dask")

#: Version of the stored tables' layout (2: times as UTC timestamps, cause as int16, ``frame_files``,
#: the ``anomalies`` table).  An output folder of another version is not added to.
TABLES_VERSION = 2


class AuditError(Exception):
    """A usage or input error (the command line prints it on one line and exits with code 2)."""


@dataclass
class AuditResult:
    """What a run did (``points``: one result dict per capture point) and the summary rows."""

    out: Path
    points: list[dict[str, Any]] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    #: Every file with stored anomaly rows, this run's and earlier runs' (:func:`damaged_files`).
    damaged: list[dict[str, Any]] = field(default_factory=list)

    def total(self, key: str) -> int:
        return sum(int(p.get(key, 0)) for p in self.points)

    @property
    def bad(self) -> list[tuple[str, str]]:
        return [(str(b[0]), str(b[1])) for p in self.points for b in p.get("bad", [])]

    @property
    def damaged_now(self) -> list[tuple[str, dict[str, Any]]]:
        """Files audited in this run whose decoding reported anomalies: ``(path, summary)``."""
        return [(str(d[0]), dict(d[1])) for p in self.points for d in p.get("damaged", [])]

    @property
    def max_rss_kb(self) -> int:
        return max((int(p.get("max_rss_kb", 0)) for p in self.points), default=0)


class Progress:
    """A one-line progress bar with ETA on a terminal (by bytes of input); nothing otherwise."""

    def __init__(
        self, files: int, total_bytes: int, stream: TextIO | None = None, enabled: bool | None = None
    ):
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.files = files
        self.total = max(total_bytes, 1)
        self.done_files = 0
        self.done_bytes = 0
        self.messages = 0
        self.t0 = time.monotonic()
        self._last = 0.0

    def update(self, event: dict[str, Any]) -> None:
        self.done_files += 1
        self.done_bytes += int(event.get("bytes", 0))
        self.messages += int(event.get("messages", 0))
        self.draw()

    def draw(self, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < 0.2:
            return
        self._last = now
        frac = min(self.done_bytes / self.total, 1.0)
        elapsed = now - self.t0
        eta = "--:--"
        if 0 < frac < 1:
            left = int(elapsed / frac * (1 - frac))
            eta = f"{left // 3600}:{left // 60 % 60:02d}:{left % 60:02d}"
        elif frac >= 1:
            eta = "0:00:00"
        width = 30
        fill = int(frac * width)
        line = (
            f"\r[{'#' * fill}{'.' * (width - fill)}] {frac * 100:5.1f}% {self.done_files}/{self.files} files"
            f" {self.messages} msgs ETA {eta} "
        )
        self.stream.write(line)
        self.stream.flush()

    def finish(self) -> None:
        if self.enabled:
            self.draw(force=True)
            self.stream.write("\n")
            self.stream.flush()


def _fingerprint(options: dict[str, Any]) -> dict[str, Any]:
    """What makes stored results comparable: the options and the content of the files they name."""
    import hashlib

    def digest(p: str | None) -> str | None:
        if not p:
            return None
        try:
            return hashlib.sha256(Path(p).read_bytes()).hexdigest()[:16]
        except OSError:
            return None

    fp = json.loads(json.dumps(options, sort_keys=True, default=str))
    fp["trunks_sha"] = digest(options.get("trunks"))
    fp["outcomes_sha"] = digest(options.get("outcomes"))
    fp["config_sha"] = digest((options.get("decode") or {}).get("config"))
    return dict(fp)


def _lock_out(out: Path) -> int:
    d = out / STATE_DIR
    d.mkdir(parents=True, exist_ok=True)
    fd = os.open(d / "run.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise AuditError(f"{out}: another audit is running on this folder") from None
    return fd


def read_run(out: Path) -> dict[str, Any] | None:
    try:
        return dict(json.loads((out / STATE_DIR / "run.json").read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None


def validate_options(options: dict[str, Any]) -> None:
    """Load every settings file once here, so a bad one is one error line before any work starts."""
    from sigdiag.audit.worker import _config
    from sigdiag.rules.loader import RuleError
    from sigdiag.settings import ConfigError

    try:
        _config(options)
    except (ConfigError, RuleError, ValueError) as exc:
        raise AuditError(str(exc)) from None


# -- engines -----------------------------------------------------------------------------------------------
_queue: Any = None


def _init_worker(queue: Any, parent: int) -> None:
    from sigdiag.audit import worker

    worker.die_with_parent(parent)  # no worker goes on alone when the audit process is killed
    worker.set_progress(queue.put)


def _run_local(tasks: list[PointTask], workers: int, on_file: Callable[[dict[str, Any]], None]) -> list[Any]:
    import multiprocessing as mp
    import queue as queue_mod
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    ctx = mp.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    q = ctx.Queue()
    results: list[Any] = []
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=ctx, initializer=_init_worker, initargs=(q, os.getpid())
    ) as ex:
        pending = {ex.submit(process_point, t) for t in tasks}
        while pending:
            finished, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            while True:
                try:
                    on_file(q.get_nowait())
                except queue_mod.Empty:
                    break
            for f in finished:
                results.append(f.result())
        while True:
            try:
                on_file(q.get(timeout=0.05))
            except queue_mod.Empty:
                break
    return results


def _run_dask(
    tasks: list[PointTask], scheduler: str | None, workers: int, on_point: Callable[[dict[str, Any]], None]
) -> list[Any]:
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise AuditError('--engine dask needs dask.distributed: pip install "sigdiag[audit]"') from None
    cluster = None
    try:
        if scheduler:
            try:
                client = Client(scheduler, timeout="15s")
            except (OSError, TimeoutError) as exc:
                raise AuditError(f"cannot connect to the Dask scheduler at {scheduler}: {exc}") from None
        else:
            cluster = LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
            )
            client = Client(cluster)
        try:
            futures = [
                client.submit(process_point, t, pure=False, key=f"sigdiag-audit-{t.pid}-{time.time_ns()}")
                for t in tasks
            ]
            results = []
            for fut in as_completed(futures):
                r = fut.result()
                on_point(r)
                results.append(r)
            return results
        finally:
            client.close()
    finally:
        if cluster is not None:
            cluster.close()


def run_audit(
    paths: list[str],
    out: str | os.PathLike[str],
    options: dict[str, Any] | None = None,
    *,
    engine: str = "local",
    scheduler: str | None = None,
    workers: int | None = None,
    point_mode: str = "name",
    bucket_s: int = 3600,
    thresholds: Any = None,
    progress: Progress | bool | None = None,
) -> AuditResult:
    """Audit capture files into ``out`` and summarise (see :mod:`sigdiag.audit`).

    ``options``: ``decode`` (keyword options of :func:`sigdiag.read_messages`, plus ``config``), ``set``
    (correlation settings ``NAME=VALUE``), ``trunks`` (trunk map file), ``outcomes`` (file),
    ``rule_dirs``, ``rule_settings``.  Raises :class:`AuditError` for bad input.
    """
    from sigdiag.audit.discover import InputError

    t0 = time.perf_counter()
    if engine not in ENGINES:
        raise AuditError(f"--engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    n_workers = workers if workers is not None else (os.cpu_count() or 1)
    if n_workers < 1:
        raise AuditError("--workers must be at least 1")
    opts = _absolute(dict(options or {}))
    try:
        files = find_captures([str(p) for p in paths])
        points = group_points(files, point_mode)
    except (InputError, ValueError) as exc:
        raise AuditError(str(exc)) from None
    if not files:
        raise AuditError("no capture files found (pcap, pcapng, cap, optionally .gz)")
    validate_options(opts)
    outp = Path(out).resolve()
    try:
        outp.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AuditError(f"cannot create {outp}: {exc.strerror}") from None
    lock = _lock_out(outp)
    try:
        fp = _fingerprint(opts)
        run = read_run(outp)
        if run is not None and int(run.get("version", 1)) != TABLES_VERSION:
            raise AuditError(
                f"{outp} holds results stored by another version of sigdiag (tables version "
                f"{run.get('version', 1)}, this one writes {TABLES_VERSION}); use another --out"
            )
        if run is not None and run.get("fingerprint") != fp:
            raise AuditError(
                f"{outp} holds results made with other settings (decoding, trunks, rules...); "
                "use another --out or the same settings"
            )
        meta = {"fingerprint": fp, "bucket_s": bucket_s, "options": opts, "version": TABLES_VERSION}
        if thresholds is not None:
            meta["thresholds"] = thresholds.as_dict()
        atomic_write(outp / STATE_DIR / "run.json", json.dumps(meta, indent=1, sort_keys=True).encode())
        recover_all(outp)
        tasks = [
            PointTask(str(outp), point_id(key), key, fl, opts)
            for key, fl in sorted(points.items(), key=lambda kv: -sum(_size(f) for f in kv[1]))
        ]
        total_bytes = sum(_size(f) for f in files)
        bar = (
            progress
            if isinstance(progress, Progress)
            else Progress(len(files), total_bytes, enabled=progress)
        )
        if engine == "local":
            results = _run_local(tasks, n_workers, bar.update)
        else:
            sizes = {t.name: (len(t.files), sum(_size(f) for f in t.files)) for t in tasks}

            def on_point(r: dict[str, Any]) -> None:
                n, b = sizes.get(r["point"], (0, 0))
                bar.done_files += n - 1
                bar.update({"bytes": b, "messages": r.get("messages", 0)})

            results = _run_dask(tasks, scheduler, n_workers, on_point)
        bar.finish()
        result = AuditResult(outp, sorted(results, key=lambda r: r["point"]))
        result.rows = summary_rows(outp, bucket_s, thresholds, opts)
        result.damaged = damaged_files(outp)
        result.seconds = time.perf_counter() - t0
        return result
    finally:
        fcntl.flock(lock, fcntl.LOCK_UN)
        os.close(lock)


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def _absolute(opts: dict[str, Any]) -> dict[str, Any]:
    """File options as absolute paths (workers may run elsewhere, in another folder)."""
    for k in ("trunks", "outcomes"):
        if opts.get(k):
            opts[k] = str(Path(opts[k]).resolve())
    if opts.get("rule_dirs"):
        opts["rule_dirs"] = [str(Path(d).resolve()) for d in opts["rule_dirs"]]
    dec = dict(opts.get("decode") or {})
    if dec.get("config"):
        dec["config"] = str(Path(dec["config"]).resolve())
    opts["decode"] = {k: v for k, v in dec.items() if v is not None}
    return opts


def summary_rows(out: Path, bucket_s: int, thresholds: Any, options: dict[str, Any]) -> list[dict[str, Any]]:
    from sigdiag.audit.summary import Thresholds, summarize
    from sigdiag.calls.settings import CallSettings

    settings = CallSettings().with_assignments(options.get("set") or None)
    return summarize(
        committed_parts(out, "calls"),
        committed_parts(out, "findings"),
        bucket_s,
        settings,
        thresholds if thresholds is not None else Thresholds(),
    )


def report(
    out: str | os.PathLike[str], bucket_s: int | None = None, thresholds: Any = None
) -> list[dict[str, Any]]:
    """The summary rows again from the stored results of ``out`` (no decoding).  ``bucket_s`` and
    ``thresholds`` default to those of the last run."""
    from sigdiag.audit.summary import thresholds_from

    outp = Path(out)
    run = read_run(outp)
    if run is None:
        raise AuditError(f"{outp}: not an audit output folder (no {STATE_DIR}/run.json)")
    lock = _lock_out(outp)
    try:
        recover_all(outp)
    finally:
        fcntl.flock(lock, fcntl.LOCK_UN)
        os.close(lock)
    if thresholds is None and run.get("thresholds") is not None:
        thresholds = thresholds_from(run["thresholds"])
    return summary_rows(
        outp, bucket_s or int(run.get("bucket_s", 3600)), thresholds, run.get("options") or {}
    )


def damaged_files(out: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Per file with stored anomaly rows (the ``anomalies`` table), sorted by file: ``file``, ``point``,
    ``status`` (``audited`` or ``skipped``), ``error`` (why a skipped file was skipped: ``name: detail``,
    else None), ``anomalies`` (decoding anomalies stored), ``not_stored`` (counted beyond those),
    ``names`` (count per anomaly name) and ``frames`` (the first five frame numbers with an anomaly)."""
    from sigdiag.audit.summary import read_rows

    files: dict[tuple[str, str], dict[str, Any]] = {}
    columns = ["point", "file", "file_status", "scope", "frame", "name", "detail"]
    for r in read_rows(committed_parts(Path(out), "anomalies"), columns):
        key = (r["file"], r["file_status"])
        d = files.get(key)
        if d is None:
            d = files[key] = {
                "file": r["file"],
                "point": r["point"],
                "status": r["file_status"],
                "error": None,
                "anomalies": 0,
                "not_stored": 0,
                "names": {},
                "frames": [],
            }
        if r["scope"] == "file":
            if r["name"] == "file.anomalies_not_stored":
                d["not_stored"] += int(str(r["detail"]).split(" ", 1)[0])
            else:
                d["error"] = f"{r['name']}: {r['detail']}"
            continue
        d["anomalies"] += 1
        d["names"][r["name"]] = d["names"].get(r["name"], 0) + 1
        if r["frame"] is not None:
            d["frames"].append(int(r["frame"]))
    out_rows = []
    for key in sorted(files):
        d = files[key]
        d["frames"] = sorted(set(d["frames"]))[:5]
        d["names"] = dict(sorted(d["names"].items(), key=lambda kv: (-kv[1], kv[0])))
        out_rows.append(d)
    return out_rows


def damage_text(d: dict[str, Any]) -> str:
    """One line on a damaged file: ``FILE: skipped: file.not_a_capture: ...`` or ``FILE: 3 anomalies:
    pcap.truncated_record x1, ... (frames 12, 40)``."""
    parts = []
    if d["error"]:
        parts.append(f"skipped: {d['error']}" if d["status"] == "skipped" else d["error"])
    n = d["anomalies"] + d["not_stored"]
    if n:
        names = ", ".join(f"{k} x{v}" for k, v in list(d["names"].items())[:4])
        if len(d["names"]) > 4:
            names += ", ..."
        frames = d["frames"]
        where = f" (frame{'s' if len(frames) > 1 else ''} {', '.join(map(str, frames))})" if frames else ""
        state = "" if d["status"] == "audited" or d["error"] else " (file skipped)"
        parts.append(f"{n} anomal{'y' if n == 1 else 'ies'}: {names}{where}{state}")
    return f"{d['file']}: " + "; ".join(parts)
