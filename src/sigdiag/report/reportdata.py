"""What the HTML report shows (:class:`ReportData`), gathered from capture files.

Two passes over the captures: the ``check`` run (:class:`~sigdiag.rules.check.CheckRun`) gives the
findings, messages, links and decoding anomalies; then the calls are read again with the refiners that
``sigdiag stats`` uses and counted by the stats accumulator
(:class:`~sigdiag.calls.stats.StatsAccumulator`) all together, by trunk, by hour and by trunk and time
bucket (the charts), so every KPI of the report is the figure ``stats`` gives for the same input and
options.  An audit folder fills the same dataclass from its Parquet tables
(:mod:`sigdiag.audit.reportdata`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from os import PathLike
from pathlib import Path
from typing import Any

from sigdiag.calls.stats import StatsAccumulator

__all__ = [
    "CALL_TABLE_KEYS",
    "MAX_CALL_ROWS",
    "ReportData",
    "TrunkBuckets",
    "bucket_text",
    "call_table_row",
    "chart_bucket",
    "report_from_captures",
]

#: At most this many calls are listed in the report's calls table (the first by start time).
MAX_CALL_ROWS = 20_000

#: The keys of a row of the report's calls table.
CALL_TABLE_KEYS: tuple[str, ...] = (
    "file",
    "call_id",
    "start",
    "trunk",
    "cic",
    "calling",
    "called",
    "outcome",
    "cause",
    "pdd_ms",
    "conversation_s",
)


@dataclass
class ReportData:
    """Everything the report shows, as plain values.

    KPI rows (``total``, ``by_trunk``, ``by_hour``) are ``sigdiag stats`` rows
    (:data:`~sigdiag.calls.stats.STATS_KEYS`); ``trunk_buckets`` rows (the charts') add ``trunk`` and
    ``bucket`` (the UTC start of a time bucket of ``bucket_s`` seconds).  ``findings`` are
    ``Finding.as_dict()`` rows with ``file``; ``finding_calls`` holds, parallel to them, the call row
    each names (a ``Call.as_dict()`` row or a calls-table row; None for findings about several calls).
    ``links`` are per link: ``link``, ``pc_format``, ``decided_by``, ``messages``, ``anomalous_share``,
    ``low_confidence`` (None where not known).  ``call_rows`` (:data:`CALL_TABLE_KEYS`) are at most
    :data:`MAX_CALL_ROWS` of the ``calls``."""

    title: str
    source: str  # "captures" or "audit folder"
    inputs: list[str]
    calls: int = 0
    messages: int | None = None
    start: float | None = None
    end: float | None = None
    links: list[dict[str, Any]] = field(default_factory=list)
    anomalies: list[tuple[str, int]] = field(default_factory=list)
    anomaly_total: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    total: dict[str, Any] = field(default_factory=dict)
    by_trunk: list[dict[str, Any]] = field(default_factory=list)
    by_hour: list[dict[str, Any]] = field(default_factory=list)
    trunk_buckets: list[dict[str, Any]] = field(default_factory=list)
    bucket_s: int = 3600
    findings: list[dict[str, Any]] = field(default_factory=list)
    finding_calls: list[dict[str, Any] | None] = field(default_factory=list)
    call_rows: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    trunks: Any = None  # the trunk map (names the ladder columns), or None
    pc: Callable[[int | None], str] = str  # how point codes are written (decimal or structured)

    @property
    def by_rule(self) -> dict[str, int]:
        """Findings per rule, most frequent first."""
        return dict(Counter(f["rule"] for f in self.findings).most_common())


_SEP = "\x1f"


#: The time buckets the charts can use, in seconds: the smallest that cuts the period into at most
#: :data:`MAX_CHART_BUCKETS` is taken.
CHART_BUCKETS: tuple[int, ...] = (60, 300, 900, 3600, 6 * 3600, 86400)
MAX_CHART_BUCKETS = 48


def bucket_text(seconds: int) -> str:
    """``1 minute``, ``5 minutes``, ``1 hour``, ``6 hours``, ``1 day``."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            n = seconds // size
            return f"{n} {unit}" + ("s" if n != 1 else "")
    return f"{seconds} s"


class TrunkBuckets(StatsAccumulator):
    """The stats accumulator grouping by trunk (named as ``stats --by trunk`` names it) and time bucket
    (its UTC start, ``YYYY-MM-DD HH:MM``)."""

    def __init__(
        self, bucket_s: int = 3600, trunks: Any = None, settings: Any = None, pc_display: str = "decimal"
    ) -> None:
        self.bucket_s = bucket_s
        self.trunk_of = StatsAccumulator("trunk", trunks, settings, pc_display)._group_of
        super().__init__(None, trunks, settings, pc_display)

    def _grouper(self) -> Callable[[Any], str]:
        trunk_of, size = self.trunk_of, self.bucket_s
        labels: dict[int, str] = {}

        def group(c: Any) -> str:
            n = int(c.start // size)
            label = labels.get(n)
            if label is None:
                label = labels[n] = datetime.fromtimestamp(n * size, UTC).strftime("%Y-%m-%d %H:%M")
            return trunk_of(c) + _SEP + label

        return group

    def trunk_rows(self) -> list[dict[str, Any]]:
        """The rows with ``trunk`` and ``bucket`` in place of ``group``, by trunk then bucket."""
        out = []
        for r in self.rows():
            trunk, bucket = r.pop("group").split(_SEP, 1)
            out.append({"trunk": trunk, "bucket": bucket, **r})
        return out


def chart_bucket(first: float | None, last: float | None) -> int:
    """The chart bucket for calls that start from ``first`` to ``last`` (:data:`CHART_BUCKETS`)."""
    span = (last - first) if first is not None and last is not None else 0.0
    for size in CHART_BUCKETS:
        if span / size <= MAX_CHART_BUCKETS:
            return size
    return CHART_BUCKETS[-1]


def call_table_row(row: dict[str, Any], trunk: str, file: str | None) -> dict[str, Any]:
    """A row of the report's calls table from a call row."""
    out = {k: row.get(k) for k in CALL_TABLE_KEYS}
    out["trunk"] = trunk
    out["file"] = file
    return out


def report_from_captures(
    paths: Sequence[str | PathLike[str]],
    *,
    rules: Any,
    refiners: Sequence[Any],
    decode_settings: Any,
    call_settings: Any,
    outcomes: Any,
    trunks: Any = None,
    pc: Callable[[int | None], str] = str,
    title: str | None = None,
    workers: int | None = 1,
) -> ReportData:
    """The report's data for capture files.  ``rules`` (a :class:`~sigdiag.rules.loader.RuleSet`) find
    the findings as ``check`` does; ``refiners``, ``call_settings`` and ``outcomes`` (an outcome table)
    make the calls as ``stats`` makes them (for ``sigdiag stats``'s figures: the refiners of
    :func:`sigdiag.cli.calls.call_pipeline`).  Raises what :class:`~sigdiag.rules.check.CheckRun` raises
    for a file that is not a capture."""
    from sigdiag.rules.check import CheckRun, FindingFilter

    files = [Path(p) for p in paths]
    data = ReportData(
        title=title or "sigdiag report: " + ", ".join(p.name for p in files),
        source="captures",
        inputs=[str(p) for p in files],
        trunks=trunks,
        pc=pc,
    )
    run = CheckRun(files, rules, FindingFilter(), trunks, None, None, decode_settings, pc, workers=workers)
    data.findings = [{**f.as_dict(), "file": f.file} for f in run]
    summary = run.summary()
    data.messages = summary["messages"]
    data.links = [dict(link) for link in summary["links"]]
    data.notes = list(summary["memory_bounds"])
    names: Counter[str] = Counter()
    for _, reader in run.readers:
        data.anomaly_total += reader.reader.anomaly_count
        names.update(a.name for a in reader.reader.anomalies)
    data.anomalies = names.most_common()
    if data.anomaly_total > names.total():
        data.notes.append(f"{data.anomaly_total - names.total()} more decoding anomalies not itemised")
    wanted = {(f["file"], f["call_id"]) for f in data.findings if f["call_id"] is not None}
    named = _count_calls(files, data, wanted, refiners, decode_settings, call_settings, outcomes)
    data.finding_calls = [named.get((f["file"], f["call_id"])) for f in data.findings]
    return data


def _count_calls(
    files: Iterable[Path],
    data: ReportData,
    wanted: set[tuple[Any, Any]],
    refiners: Sequence[Any],
    decode_settings: Any,
    call_settings: Any,
    outcomes: Any,
) -> dict[tuple[Any, Any], dict[str, Any]]:
    """Read the calls as ``stats`` does and fill the KPIs, outcomes, period and calls table of ``data``;
    returns the rows of the calls in ``wanted`` (``(file, call_id)``)."""
    from sigdiag.calls.pipeline import CallReader, by_start

    pc_display = decode_settings.pc_display
    tmap = data.trunks
    total = StatsAccumulator(None, tmap, call_settings, pc_display)
    by_trunk = StatsAccumulator("trunk", tmap, call_settings, pc_display)
    by_hour = StatsAccumulator("hour", tmap, call_settings, pc_display)
    buckets = [TrunkBuckets(size, tmap, call_settings, pc_display) for size in CHART_BUCKETS]
    trunk_of = buckets[0].trunk_of
    outcomes_seen: Counter[str] = Counter()
    named: dict[tuple[Any, Any], dict[str, Any]] = {}
    several = len(data.inputs) > 1
    last_start: float | None = None
    for path in files:
        reader = CallReader(path, decode_settings, call_settings, outcomes, refiners)
        for r in refiners:  # the capture end of calls still open, as in stats
            if hasattr(r, "clock"):
                r.clock = lambda c=reader.correlator: c.now
        for call in by_start(reader):
            for acc in (total, by_trunk, by_hour, *buckets):
                acc.add(call)
            outcomes_seen[call.outcome or "unknown"] += 1
            data.calls += 1
            end = call.end_ts if call.end_ts is not None else call.start
            data.start = call.start if data.start is None else min(data.start, call.start)
            data.end = end if data.end is None else max(data.end, end)
            last_start = call.start if last_start is None else max(last_start, call.start)
            key = (str(path), call.call_id)
            if key in wanted or len(data.call_rows) < MAX_CALL_ROWS:
                row = call.as_dict()
                if key in wanted:
                    named[key] = row
                if len(data.call_rows) < MAX_CALL_ROWS:
                    trunk = trunk_of(call)
                    data.call_rows.append(call_table_row(row, trunk, str(path) if several else None))
    data.outcomes = dict(sorted(outcomes_seen.items()))
    data.total = total.rows()[0] if total.groups else StatsAccumulator.empty_row("all")
    data.by_trunk = by_trunk.rows()
    data.by_hour = by_hour.rows()
    data.bucket_s = chart_bucket(data.start, last_start)
    data.trunk_buckets = buckets[CHART_BUCKETS.index(data.bucket_s)].trunk_rows()
    return named
