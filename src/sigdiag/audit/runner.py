"""Running an audit: find the files, group them into capture points, process the points in parallel
(:mod:`sigdiag.audit.engines`: a local process pool or a Dask cluster), then summarise from the stored
results; the run's bookkeeping (the output folder's lock, its settings, progress) and the summaries
read again from a folder (:func:`report`, :func:`damaged_files`).  Stopping on a signal:
:mod:`sigdiag.audit.stopping`; the errors: :mod:`sigdiag.audit.errors`."""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from sigdiag.audit.discover import find_captures, group_points, point_id
from sigdiag.audit.engines import Task, run_dask, run_local
from sigdiag.audit.errors import AuditError, AuditInterrupted, store_failed
from sigdiag.audit.parts import PartTask
from sigdiag.audit.stopping import Stop
from sigdiag.audit.store import STATE_DIR, StoreError, atomic_write, committed_parts, recover_all
from sigdiag.audit.worker import PointTask

__all__ = [
    "ENGINES",
    "AuditError",
    "AuditInterrupted",
    "AuditResult",
    "Progress",
    "damaged_files",
    "report",
    "run_audit",
]

ENGINES = ("local", "dask")

#: Version of the stored results' layout (2: times as UTC timestamps, cause as int16, ``frame_files``,
#: the ``anomalies`` table; 3: the state saved between a point's files is a named
#: :class:`~sigdiag.rules.stream.StreamState`, which an older run's state is not; 4: call ids are the
#: IAM's position in the point, files are numbered, frames know their position).  An output folder of
#: another version is not added to (``audit report`` still reads it).
TABLES_VERSION = 4


@dataclass
class AuditResult:
    """What a run did (``points``: one result dict per capture point) and the summary rows."""

    out: Path
    points: list[dict[str, Any]] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    #: Every file with stored anomaly rows, this run's and earlier runs' (:func:`damaged_files`).
    damaged: list[dict[str, Any]] = field(default_factory=list)
    #: What was found and repaired in the output folder (parts left uncommitted by an interrupted run,
    #: parts cut short), one line each.
    warnings: list[str] = field(default_factory=list)
    #: The later parts' tasks (:func:`sigdiag.audit.parts.process_part`): one result dict each.
    parts: list[dict[str, Any]] = field(default_factory=list)

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
        self.done_files += 0 if event.get("piece") else 1  # (a piece of a file: its last piece counts it)
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


def _lock_out(out: Path, read_only: bool = False) -> int:
    """Hold the output folder's lock (one audit at a time).  ``read_only``: a folder that cannot be
    written (a read-only file system, no permission) is locked through a read-only descriptor when the
    lock file exists, and not at all otherwise (nobody can write it either)."""
    d = out / STATE_DIR
    lock = d / "run.lock"
    try:
        d.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        if not read_only:
            raise store_failed(StoreError(f"cannot write {lock}: {exc.strerror}", exc.errno), out) from None
        try:
            fd = os.open(lock, os.O_RDONLY)
        except OSError:
            return -1
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise AuditError(f"{out}: another audit is running on this folder") from None
    return fd


def _unlock(fd: int) -> None:
    if fd >= 0:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


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
    signals: bool = True,
) -> AuditResult:
    """Audit capture files into ``out`` and summarise (see :mod:`sigdiag.audit`).

    ``options``: ``decode`` (keyword options of :func:`sigdiag.read_messages`, plus ``config``), ``set``
    (correlation settings ``NAME=VALUE``), ``trunks`` (trunk map file), ``outcomes`` (file),
    ``rule_dirs``, ``rule_settings``.  Raises :class:`AuditError` for bad input or an output folder that
    cannot be written (what was committed stays readable).  ``signals`` (called from the main thread):
    SIGINT and SIGTERM stop the audit cleanly and raise :class:`AuditInterrupted` (the handlers are
    restored on return).
    """
    with Stop(signals) as stop:
        return _run_audit(
            paths, out, options, engine, scheduler, workers, point_mode, bucket_s, thresholds, progress, stop
        )


def _run_audit(
    paths: list[str],
    out: str | os.PathLike[str],
    options: dict[str, Any] | None,
    engine: str,
    scheduler: str | None,
    workers: int | None,
    point_mode: str,
    bucket_s: int,
    thresholds: Any,
    progress: Progress | bool | None,
    stop: Stop,
) -> AuditResult:
    import secrets

    from sigdiag.audit.discover import InputError

    t0 = time.perf_counter()
    if engine not in ENGINES:
        raise AuditError(f"--engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    n_workers = workers if workers is not None else (os.cpu_count() or 1)
    if n_workers < 1:
        raise AuditError("--workers must be at least 1")
    opts = _absolute(dict(options or {}))
    outp = Path(out).resolve()
    stop.out = outp
    try:
        files = find_captures([str(p) for p in paths])
        points = group_points(files, point_mode)
    except (InputError, ValueError) as exc:
        raise AuditError(str(exc)) from None
    if not files:
        raise AuditError("no capture files found (pcap, pcapng, cap, optionally .gz)")
    stop.files = [str(f) for f in files]
    validate_options(opts)
    try:
        outp.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AuditError(f"cannot create {outp}: {exc.strerror}") from None
    lock = _lock_out(outp)
    warnings: list[str] = []
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
        try:
            with stop.working():  # the folder is being written: a signal waits for the end of this
                atomic_write(
                    outp / STATE_DIR / "run.json", json.dumps(meta, indent=1, sort_keys=True).encode()
                )
                recover_all(outp, warnings)
        except StoreError as exc:
            raise store_failed(exc, outp) from None
        stop.check()
        token = f"{os.getpid()}-{secrets.token_hex(6)}"
        points_tasks = [
            PointTask(str(outp), point_id(key), key, fl, opts, token)
            for key, fl in sorted(points.items(), key=lambda kv: -sum(_size(f) for f in kv[1]))
        ]
        # largest first (a point's task weighs its first part): the workers end together
        later = _plan_parts(outp, points_tasks, n_workers)
        tasks: list[Task] = sorted([*points_tasks, *later], key=lambda t: -_task_bytes(t))
        total_bytes = sum(_size(f) for f in files)
        bar = (
            progress
            if isinstance(progress, Progress)
            else Progress(len(files), total_bytes, enabled=progress)
        )
        try:
            if engine == "local":
                results = run_local(tasks, n_workers, bar.update, stop, outp)
            else:
                sizes = {t.name: (len(t.files), sum(_size(f) for f in t.files)) for t in points_tasks}

                def on_point(r: dict[str, Any]) -> None:
                    if "part" in r:  # (a later part: its files count when its point is done)
                        return
                    n, b = sizes.get(r["point"], (0, 0))
                    bar.done_files += n - 1
                    bar.update({"bytes": b, "messages": r.get("messages", 0)})

                results = run_dask(tasks, scheduler, n_workers, on_point, stop, outp)
        finally:
            bar.finish()
        stop.check()
        result = AuditResult(outp, sorted((r for r in results if "part" not in r), key=lambda r: r["point"]))
        result.parts = [r for r in results if "part" in r]
        result.warnings = warnings + [n for r in result.points for n in r.get("notes", [])]
        result.rows = summary_rows(outp, bucket_s, thresholds, opts, result.warnings)
        result.damaged = damaged_files(outp)
        result.seconds = time.perf_counter() - t0
        return result
    finally:
        _unlock(lock)


#: Parts per worker over all the points (more: better balance, more merges).
PARTS_PER_WORKER = float(os.environ.get("SIGDIAG_AUDIT_PARTS_PER_WORKER") or 1)


def _plan_parts(out: Path, tasks: list[PointTask], workers: int) -> list[PartTask]:
    """With several workers, cut each capture point into parts of consecutive files, a large file cut
    inside (its share of the input times the workers, rounded up: one part per worker for one point, a
    point of 60 % of the input in two parts on two workers; :func:`sigdiag.audit.parts.plan`): each
    point's task reads its first part and merges the others in time order; the later parts are tasks of
    their own.  More parts balance unequal points better but cost more merges (measured on one point of
    46 files, 2 workers: one part per worker 1.88x, two 1.60x)."""
    from sigdiag.audit.parts import plan
    from sigdiag.audit.store import load_state
    from sigdiag.audit.worker import first_ts

    if workers < 2:
        return []
    sizes = {t.pid: sum(_size(f) for f in t.files) for t in tasks}
    total = sum(sizes.values()) or 1
    later: list[PartTask] = []
    for t in tasks:
        share = math.ceil(PARTS_PER_WORKER * workers * sizes[t.pid] / total - 1e-9)
        if share < 2:
            continue
        spans = plan(load_state(out, t.pid), t.files, first_ts, share)
        if len(spans) < 2:
            continue
        t.parts = spans
        later += [
            PartTask(str(out), t.pid, t.name, k, g.files, t.options, t.run, g.start, g.stop, g.size)
            for k, g in enumerate(spans)
            if k
        ]
    return later


def _task_bytes(t: Task) -> int:
    """What a task reads: a point's first part (all its files when it is not cut), a later part's files."""
    if isinstance(t, PartTask):
        return t.size or sum(_size(p) for p, _ in t.files)
    return t.parts[0].size if t.parts else sum(_size(f) for f in t.files)


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


def summary_rows(
    out: Path, bucket_s: int, thresholds: Any, options: dict[str, Any], warnings: list[str] | None = None
) -> list[dict[str, Any]]:
    """The summary rows from the committed parts.  A part that is not whole is left out and named in
    ``warnings`` with the rows it held (an audit run redoes it); a part that cannot be read is an
    :class:`AuditError`."""
    from sigdiag.audit.summary import Thresholds, summarize
    from sigdiag.calls.settings import CallSettings

    settings = CallSettings().with_assignments(options.get("set") or None)
    damaged: list[tuple[Path, str, int | None]] = []
    calls = committed_parts(out, "calls", damaged)
    findings = committed_parts(out, "findings", damaged)
    committed_parts(out, "anomalies", damaged)  # (read by damaged_files, which leaves them out too)
    if warnings is not None:
        for path, why, rows in damaged:
            lost = f"{rows} rows" if rows is not None else "its rows"
            warnings.append(
                f"{path}: damaged ({why}): left out of this summary ({lost}); run the audit again on the "
                "same captures to redo it"
            )
    try:
        return summarize(
            calls, findings, bucket_s, settings, thresholds if thresholds is not None else Thresholds()
        )
    except OSError as exc:  # pyarrow's errors reading a file (ArrowInvalid is not one: below)
        raise AuditError(f"cannot read the stored results in {out}: {exc}") from None
    except Exception as exc:
        if type(exc).__module__.startswith("pyarrow"):
            raise AuditError(f"cannot read the stored results in {out}: {exc}") from None
        raise


def report(
    out: str | os.PathLike[str],
    bucket_s: int | None = None,
    thresholds: Any = None,
    warnings: list[str] | None = None,
) -> list[dict[str, Any]]:
    """The summary rows again from the stored results of ``out`` (no decoding).  ``bucket_s`` and
    ``thresholds`` default to those of the last run.  A folder that cannot be written (read-only) is
    read as it is; what a crash left is then not repaired, parts still staged are read where they are.
    ``warnings``: what was repaired or left out, one line each."""
    from sigdiag.audit.summary import thresholds_from

    outp = Path(out)
    run = read_run(outp)
    if run is None:
        raise AuditError(f"{outp}: not an audit output folder (no {STATE_DIR}/run.json)")
    lock = _lock_out(outp, read_only=True)
    try:
        if os.access(outp / STATE_DIR, os.W_OK) and not _read_only_fs(outp):
            with contextlib.suppress(StoreError):  # cannot be written after all: read as it is
                recover_all(outp, warnings)
    finally:
        _unlock(lock)
    if thresholds is None and run.get("thresholds") is not None:
        thresholds = thresholds_from(run["thresholds"])
    return summary_rows(
        outp, bucket_s or int(run.get("bucket_s", 3600)), thresholds, run.get("options") or {}, warnings
    )


def _read_only_fs(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return True


def damaged_files(out: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Per file with stored anomaly rows (the ``anomalies`` table), sorted by file: ``file``, ``point``,
    ``status`` (``audited`` or ``skipped``), ``error`` (why a skipped file was skipped: ``name: detail``,
    else None), ``anomalies`` (decoding anomalies stored), ``not_stored`` (counted beyond those),
    ``names`` (count per anomaly name) and ``frames`` (the first five frame numbers with an anomaly)."""
    from sigdiag.audit.summary import read_rows

    files: dict[tuple[str, str], dict[str, Any]] = {}
    columns = ["point", "file", "file_status", "scope", "frame", "name", "detail"]
    for r in read_rows(committed_parts(Path(out), "anomalies", []), columns):
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
