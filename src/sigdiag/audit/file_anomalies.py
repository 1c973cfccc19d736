"""The anomaly rows of one capture file, as the audit stores them (table ``anomalies``): the reader's
frame-level anomalies and each decoded message's, bounded per file (:data:`MAX_ANOMALY_ROWS` of each kind,
the rest counted in one row), and what a run reports of them (:func:`summary_of`)."""

from __future__ import annotations

from typing import Any

__all__ = ["MAX_ANOMALY_ROWS", "FileAnomalies", "joined", "kinds_of", "summary_of"]

#: Anomaly rows stored per file and kind (frame-level, message-level); the rest are counted in one row.
MAX_ANOMALY_ROWS = 10_000


class FileAnomalies:
    """The anomaly rows of one file: frame-level ones (the reader's) and message-level ones (each decoded
    message's), at most :data:`MAX_ANOMALY_ROWS` of each kind, the rest counted."""

    def __init__(self, point: str, path: str) -> None:
        self.point = point
        self.path = path
        self.rows: list[dict[str, Any]] = []
        self.messages = 0  # message-level anomalies seen
        self.not_stored = 0

    def message(self, m: Any, own: bool = True) -> None:
        """A decoded message's anomalies; ``own`` false: counted only (a message before the piece of the
        file this reading stores, :meth:`piece`), so that the bound falls where it falls in the file."""
        from sigdiag.audit.tables import anomaly_row

        for a in m.anomalies:
            self.messages += 1
            if self.messages > MAX_ANOMALY_ROWS:
                self.not_stored += 1
                continue
            if own:
                self.rows.append(
                    anomaly_row(self.point, self.path, "", "message", a.name, a.detail, a.frame, m.ts)
                )

    def finish(
        self,
        reader: Any,
        status: str,
        error: tuple[str, str] | None = None,
        frames: tuple[int, int | None] = (0, None),
        last: bool = True,
    ) -> list[dict[str, Any]]:
        """Every row, marked ``status``; ``error``: (name, detail) of a file-level row first.  A piece of a
        file (a capture point's part cut inside it): ``frames``, the reader's frame-level anomalies it
        stores (the indices in the reader's list when the piece started and ended); ``last``, whether it
        holds the file's end (then the count of what was not stored, the whole file's)."""
        from sigdiag.audit.tables import anomaly_row

        rows: list[dict[str, Any]] = []
        if error is not None:
            rows.append(anomaly_row(self.point, self.path, status, "file", *error))
        if reader is not None:
            kept = list(reader.anomalies)
            lo, hi = frames
            rows += [
                anomaly_row(self.point, self.path, status, "frame", a.name, a.detail, a.frame)
                for a in kept[lo:hi]
            ]
            self.not_stored += reader.anomaly_count - len(kept)
        for r in self.rows:
            r["file_status"] = status
        rows += self.rows
        if self.not_stored and last:
            rows.append(
                anomaly_row(
                    self.point,
                    self.path,
                    status,
                    "file",
                    "file.anomalies_not_stored",
                    f"{self.not_stored} more anomalies of this file were counted but not stored "
                    f"(at most {MAX_ANOMALY_ROWS} frame and {MAX_ANOMALY_ROWS} message anomalies per file)",
                )
            )
        return rows


def summary_of(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """What a run reports of one file's anomaly rows: how many, by name, the first frames."""
    names: dict[str, int] = {}
    frames: list[int] = []
    for r in rows:
        if r["name"] == "file.anomalies_not_stored":
            continue
        names[r["name"]] = names.get(r["name"], 0) + 1
        if r["frame"] is not None and len(frames) < 5:
            frames.append(int(r["frame"]))
    return {"anomalies": sum(names.values()), "names": names, "frames": frames}


def kinds_of(rows: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The summaries of a piece of a file's frame-level rows and of its other rows (in a file's rows, the
    frame-level ones come first): :func:`joined` puts the pieces of a file together."""
    return summary_of([r for r in rows if r["scope"] == "frame"]), summary_of(
        [r for r in rows if r["scope"] != "frame"]
    )


def joined(pieces: list[tuple[dict[str, Any], dict[str, Any]]]) -> dict[str, Any] | None:
    """The summary of a file read in pieces (:func:`kinds_of` of each, in file order): what
    :func:`summary_of` gives of the whole file's rows; None when it has none."""
    names: dict[str, int] = {}
    frames: list[int] = []
    for kind in (0, 1):
        for piece in pieces:
            for name, n in piece[kind]["names"].items():
                names[name] = names.get(name, 0) + n
            frames += piece[kind]["frames"]
    if not names:
        return None
    return {"anomalies": sum(names.values()), "names": names, "frames": frames[:5]}
