"""The HTML report's data (:class:`~sigdiag.report.reportdata.ReportData`) from an audit folder, read
from its stored tables: no capture is read again.

KPIs are counted from the ``calls`` table by the stats accumulator, as :mod:`sigdiag.audit.summary`
counts them (a stored row has every attribute the accumulator reads from a call), grouped by the
stored ``trunk`` (named at audit time as ``sigdiag stats --by trunk`` names it), by the UTC hour of the
IAM (as ``stats --by hour``) and by trunk and chart bucket; the alerts are those of ``sigdiag audit
report``; findings come from the ``findings`` table with their ladders, each with its call's row.
"""

from __future__ import annotations

import heapq
import json
import math
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sigdiag.audit.runner import AuditError, damage_text, damaged_files, read_run, report
from sigdiag.audit.store import STATE_DIR, committed_parts, state_files
from sigdiag.audit.summary import (
    CALL_COLUMNS,
    GROUP_SEP,
    CallRow,
    GroupedStats,
    alert_text,
    group_name,
    iter_alerts,
    read_columns,
    read_rows,
)
from sigdiag.calls.settings import CallSettings
from sigdiag.calls.stats import StatsAccumulator
from sigdiag.report.reportdata import MAX_CALL_ROWS, ReportData, call_table_row, chart_bucket

__all__ = ["report_from_audit"]

#: JSON text columns of the findings table.
_JSON = ("calls", "frames", "frame_files", "evidence", "ladder", "links", "population", "rate")

_COLUMNS = [*CALL_COLUMNS, "calling", "call_id", "cic", "link", "pc_format", "point", "file"]


def _label(ts: float, size: int, fmt: str) -> str:
    return datetime.fromtimestamp(math.floor(ts / size) * size, UTC).strftime(fmt)


def report_from_audit(
    folder: str | Path, *, trunks: Any = None, title: str | None = None, warnings: list[str] | None = None
) -> ReportData:
    """The report's data for an audit output folder (raises :class:`AuditError` when it is not one or
    its tables cannot be read).  ``trunks`` (a trunk map) only names the ladders' columns: the trunks of
    the KPIs were named when the audit ran.  ``warnings`` collects what the summary left out."""
    out = Path(folder)
    run = read_run(out)
    if run is None:
        raise AuditError(f"{out}: not an audit output folder (no {STATE_DIR}/run.json)")
    data = ReportData(
        title=title or f"sigdiag report: audit {out.name}", source="audit folder", inputs=[str(out)]
    )
    data.trunks = trunks
    summary = report(out, None, None, warnings)  # repairs what a crash left, as audit report does
    data.alerts = [{**a, "text": alert_text(a)} for a in iter_alerts(summary)]
    settings = CallSettings().with_assignments((run.get("options") or {}).get("set") or None)
    try:
        wanted = _findings(out, data)
        named = _calls(out, data, settings, wanted)
    except OSError as exc:
        raise AuditError(f"cannot read the stored results in {out}: {exc}") from None
    data.finding_calls = [named.get((f.get("point"), f.get("call_id"))) for f in data.findings]
    _files(out, data)
    return data


def _findings(out: Path, data: ReportData) -> set[tuple[Any, Any]]:
    """The findings, by time then rule; returns the ``(point, call_id)`` of the calls they name."""
    rows = []
    for r in read_rows(committed_parts(out, "findings", []), None):
        for k in _JSON:
            if isinstance(r.get(k), str):
                r[k] = json.loads(r[k])
        rows.append(r)
    rows.sort(
        key=lambda r: (r["ts"] if r.get("ts") is not None else math.inf, r["rule"], r.get("call_id") or 0)
    )
    data.findings = rows
    return {(r.get("point"), r["call_id"]) for r in rows if r.get("call_id") is not None}


def _starts(parts: list[Path]) -> tuple[float | None, float | None]:
    lo = hi = None
    for c in read_columns(parts, ["start"]):
        values = [v for v in c["start"] if v is not None]
        if values:
            lo = min(values) if lo is None else min(lo, *values)
            hi = max(values) if hi is None else max(hi, *values)
    return lo, hi


def _calls(
    out: Path, data: ReportData, settings: CallSettings, wanted: set[tuple[Any, Any]]
) -> dict[tuple[Any, Any], dict[str, Any]]:
    """Count the stored calls into the KPIs, outcomes, links and calls table of ``data``; returns the full
    rows of the calls in ``wanted``."""
    parts = committed_parts(out, "calls", [])
    first, last = _starts(parts)
    data.start = first
    data.bucket_s = size = chart_bucket(first, last)
    total, by_trunk, by_hour, buckets = (GroupedStats(None, None, settings) for _ in range(4))
    outcomes: Counter[str] = Counter()
    links: Counter[tuple[str, str | None]] = Counter()
    heap: list[tuple[float, int, dict[str, Any]]] = []
    n = 0
    for c in read_columns(parts, _COLUMNS):
        for r in (dict(zip(c, values, strict=True)) for values in zip(*c.values(), strict=True)):
            start = r["start"] if r["start"] is not None else math.nan
            base = (
                r["outcome"],
                r["conversation_s"],
                r["phase"],
                r["cause"],
                r["pdd_ms"],
                r["answer_delay_ms"],
            )
            args = (*base, r["called"] or "", start)
            trunk = r["trunk"] or "-"
            total.add(CallRow(*args, "all"))  # type: ignore[arg-type]
            by_trunk.add(CallRow(*args, trunk))  # type: ignore[arg-type]
            hour = _label(start, 3600, "%Y-%m-%d %H:00") if math.isfinite(start) else "unknown"
            by_hour.add(CallRow(*args, hour))  # type: ignore[arg-type]
            bucket = _label(start, size, "%Y-%m-%d %H:%M") if math.isfinite(start) else "unknown"
            buckets.add(CallRow(*args, group_name(trunk, bucket)))  # type: ignore[arg-type]
            outcomes[r["outcome"] or "unknown"] += 1
            links[(r["link"] or "-", r["pc_format"])] += 1
            n += 1
            item = (-start if math.isfinite(start) else -math.inf, -n, r)
            if len(heap) < MAX_CALL_ROWS:
                heapq.heappush(heap, item)
            else:
                heapq.heappushpop(heap, item)
    data.calls = n
    data.outcomes = dict(sorted(outcomes.items()))
    data.links = [
        {
            "link": link,
            "pc_format": fmt,
            "decided_by": None,
            "messages": count,
            "anomalous_share": None,
            "low_confidence": None,
        }
        for (link, fmt), count in sorted(links.items())
    ]
    data.total = total.rows()[0] if total.groups else StatsAccumulator.empty_row("all")
    data.by_trunk = by_trunk.rows()
    data.by_hour = by_hour.rows()
    rows = []
    for r in buckets.rows():
        trunk, bucket = r.pop("group").split(GROUP_SEP, 1)
        rows.append({"trunk": trunk, "bucket": bucket, **r})
    data.trunk_buckets = rows
    several = len({item[2]["file"] for item in heap}) > 1
    data.call_rows = [
        call_table_row(r, r["trunk"] or "-", r["file"] if several else None)
        for _, _, r in sorted(heap, key=lambda item: (-item[0], -item[1]))
    ]
    data.end = _last_end(parts)
    return _named(parts, wanted)


def _last_end(parts: list[Path]) -> float | None:
    hi = None
    for c in read_columns(parts, ["end", "start"]):
        for e, s in zip(c["end"], c["start"], strict=True):
            v = e if e is not None else s
            if v is not None and (hi is None or v > hi):
                hi = v
    return hi


def _named(parts: list[Path], wanted: set[tuple[Any, Any]]) -> dict[tuple[Any, Any], dict[str, Any]]:
    """The full stored rows of the calls ``wanted`` (``(point, call_id)``), read with a filter on the
    call ids."""
    if not parts or not wanted:
        return {}
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    from sigdiag.report.parquet import float_seconds

    ids = sorted({cid for _, cid in wanted})
    dataset = ds.dataset([str(p) for p in parts], format="parquet")
    out: dict[tuple[Any, Any], dict[str, Any]] = {}
    for batch in dataset.to_batches(filter=pc.field("call_id").isin(ids)):
        for r in float_seconds(batch).to_pylist():
            key = (r.get("point"), r["call_id"])
            if key in wanted:
                out[key] = r
    return out


def _files(out: Path, data: ReportData) -> None:
    """Messages read (from the capture points' states), decoding anomalies by name (the ``anomalies``
    table) and the files with anomalies (notes)."""
    messages = 0
    for p in state_files(out):
        try:
            st = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        messages += sum(int(f.get("messages") or 0) for f in st.get("files", []))
    data.messages = messages
    names: Counter[str] = Counter()
    for r in read_rows(committed_parts(out, "anomalies", []), ["scope", "name"]):
        if r["scope"] != "file":
            names[r["name"]] += 1
    data.anomalies = names.most_common()
    data.anomaly_total = names.total()
    data.notes += [damage_text(d) for d in damaged_files(out)]
