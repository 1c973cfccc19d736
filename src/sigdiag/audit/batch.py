"""What a capture point's task writes between two commits: rows staged as Parquet parts (:class:`Parts`),
and a :class:`Batch` of them with the files they come from, the counts a run reports and what a commit
needs, held while a part ends inside a file (committed with the part that reads the file's end)."""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sigdiag.audit.file_anomalies import joined
from sigdiag.audit.store import STAGING_DIR, StoreError, store_op

__all__ = ["CHUNK_ROWS", "Batch", "Parts", "day", "staged"]

#: Rows buffered before a part file is written (bounds a worker's memory whatever the file size).
CHUNK_ROWS = 20_000


# -- rows ----------------------------------------------------------------------------------------------------
def day(ts: float | None) -> str:
    if ts is None or not math.isfinite(ts):
        return "unknown"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")


class Parts:
    """Buffers rows per (table, day) and writes them as staged part files; lists (staged, final) names."""

    def __init__(self, out: Path, pid: str, seq: int) -> None:
        self.out = out
        self.pid = pid
        self.seq = seq
        self.rows: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.count = 0
        self.findings = 0
        self.chunk = 0
        self.written: list[tuple[str, str]] = []
        #: final name -> [bytes, rows] of each part written
        self.info: dict[str, list[int]] = {}

    def add(self, table: str, day: str, row: dict[str, Any]) -> None:
        self.rows.setdefault((table, day), []).append(row)
        self.count += 1
        if table == "findings":
            self.findings += 1
        if self.count >= CHUNK_ROWS:
            self.flush()

    def flush(self) -> None:
        from sigdiag.audit.tables import write_part

        for (table, day), rows in sorted(self.rows.items()):
            name = f"part-{self.pid}-{self.seq:05d}-{self.chunk:04d}.parquet"
            rel_dir = f"{table}/day={day}"
            # uncommitted parts stay outside the table folders, so that no reader (pandas, pyarrow,
            # DuckDB's globs, which do read dot files) ever sees one; the rename into place is atomic
            tmp = f"{STAGING_DIR}/{rel_dir}/{name}"
            size = write_part(table, rows, self.out / tmp)
            self.written.append((tmp, f"{rel_dir}/{name}"))
            self.info[f"{rel_dir}/{name}"] = [size, len(rows)]
            self.chunk += 1
        self.rows.clear()
        self.count = 0

    def adopt(self, table: str, day: str, src: Path, size: int, rows: int) -> None:
        """A part file written elsewhere (a later part's, in its folder), moved in as staged."""
        name = f"part-{self.pid}-{self.seq:05d}-{self.chunk:04d}.parquet"
        rel_dir = f"{table}/day={day}"
        tmp = f"{STAGING_DIR}/{rel_dir}/{name}"
        with store_op(self.out / tmp):
            (self.out / tmp).parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, self.out / tmp)
        self.written.append((tmp, f"{rel_dir}/{name}"))
        self.info[f"{rel_dir}/{name}"] = [size, rows]
        self.chunk += 1

    def discard(self) -> None:
        """Forget the rows and delete the staged parts (best effort: what is left is removed by the next
        run)."""
        self.rows.clear()
        for tmp, _ in self.written:
            with contextlib.suppress(OSError):
                (self.out / tmp).unlink(missing_ok=True)
        self.written.clear()
        self.info.clear()

    def commit_into(self, state: dict[str, Any]) -> list[str]:
        """Record the parts written in ``state`` (listed, pending rename, sizes); their final names."""
        new = [f for _, f in self.written]
        state["pending"] = [list(x) for x in self.written]
        state.setdefault("info", {}).update(self.info)
        return new


@contextlib.contextmanager
def staged(parts: Parts) -> Iterator[Parts]:
    """Write into ``parts``; a failure of the store (disk full, ...) deletes what was staged, and goes on."""
    try:
        yield parts
    except StoreError:
        parts.discard()
        raise


class Batch:
    """What was read since the point's last commit, to be committed together: its staged rows, the
    records of the files it finished, every file it read (a part read again reads them from the last
    commit), each file's pieces' anomaly summaries, and the counts the run reports once it is committed.
    A batch is held (not committed) while what was read ends inside a file."""

    def __init__(self, out: Path, pid: str, seq: int) -> None:
        self.parts = Parts(out, pid, seq)
        self.files: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.pieces: dict[str, list[Any]] = {}
        self.damaged: list[tuple[str, dict[str, Any]]] = []
        self.counts = {"files": 0, "messages": 0, "calls": 0, "findings": 0, "anomalies": 0, "bytes": 0}

    def piece(self, path: str, kinds: Any, record: dict[str, Any] | None = None) -> None:
        """A file read, or a piece of it (``kinds``: its anomaly rows' summaries,
        :func:`~sigdiag.audit.file_anomalies.kinds_of`); ``record``: the file's record when this piece
        is its end."""
        if path not in self.pieces:
            self.paths.append(path)
        self.pieces.setdefault(path, []).append(kinds)
        if record is not None:
            self.files.append(record)
            self.counts["files"] += 1
            self.counts["bytes"] += int(record["size"])
            summary = joined(self.pieces[path])
            if summary is not None:
                self.damaged.append((path, summary))

    def add_to(self, result: dict[str, Any]) -> None:
        """The counts, once committed, into a run's result."""
        for k, n in self.counts.items():
            result[k] += n
        result["findings"] += self.parts.findings
        result["damaged"] += self.damaged

    def discard(self) -> None:
        self.parts.discard()
