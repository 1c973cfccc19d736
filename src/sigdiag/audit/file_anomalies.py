"""The anomaly rows of one capture file, as the audit stores them (table ``anomalies``): the reader's
frame-level anomalies and each decoded message's, bounded per file (:data:`MAX_ANOMALY_ROWS` of each kind,
the rest counted in one row), and what a run reports of them (:func:`summary_of`)."""

from __future__ import annotations

from typing import Any

__all__ = ["MAX_ANOMALY_ROWS", "FileAnomalies", "summary_of"]

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

    def message(self, m: Any) -> None:
        from sigdiag.audit.tables import anomaly_row

        for a in m.anomalies:
            self.messages += 1
            if self.messages > MAX_ANOMALY_ROWS:
                self.not_stored += 1
                continue
            self.rows.append(
                anomaly_row(self.point, self.path, "", "message", a.name, a.detail, a.frame, m.ts)
            )

    def finish(self, reader: Any, status: str, error: tuple[str, str] | None = None) -> list[dict[str, Any]]:
        """Every row, marked ``status``; ``error``: (name, detail) of a file-level row first."""
        from sigdiag.audit.tables import anomaly_row

        rows: list[dict[str, Any]] = []
        if error is not None:
            rows.append(anomaly_row(self.point, self.path, status, "file", *error))
        if reader is not None:
            kept = list(reader.anomalies)
            rows += [
                anomaly_row(self.point, self.path, status, "frame", a.name, a.detail, a.frame) for a in kept
            ]
            self.not_stored += reader.anomaly_count - len(kept)
        for r in self.rows:
            r["file_status"] = status
        rows += self.rows
        if self.not_stored:
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
