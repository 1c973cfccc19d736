"""The audit summary: KPIs per trunk and time bucket from the stored call rows, findings per rule, alerts.

KPIs are those of ``sigdiag stats`` computed by the same code: the stored call rows are fed to a
:class:`~sigdiag.calls.stats.StatsAccumulator` whose groups are ``(trunk, bucket)`` instead of one of
its ``--by`` keys (a row carries every attribute the accumulator reads from a call), so the definitions
cannot drift.  The ``trunk`` of a row was named at audit time exactly as ``stats --by trunk`` names it.

Alerts (:class:`Thresholds`, from ``--thresholds FILE``) for each trunk and bucket:

* **threshold**: ``network_loss_rate`` above the maximum, or ``asr`` below the minimum (per trunk
  overrides under ``trunks:``);
* **baseline**: the bucket departs from the trunk's own other buckets.  For a bucket with a rate x, the
  baseline is the mean m and sample standard deviation s of the same rate over the trunk's *other*
  buckets (leave-one-out, so a bad bucket does not hide itself) that have at least ``min_completed``
  completed calls; there must be at least ``min_buckets`` of them.  With s' = max(s, ``min_stdev``), the
  z-score is (x - m) / s'; an alert is raised when z >= ``z`` for the network-loss rate (worse = higher)
  or z <= -``z`` for ASR (worse = lower).  Buckets with fewer than ``min_completed`` completed calls
  raise no alert of either kind.
"""

from __future__ import annotations

import math
import re
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from operator import attrgetter
from os import PathLike
from pathlib import Path
from typing import Any, NamedTuple

from sigdiag.calls.settings import CallSettings
from sigdiag.calls.stats import STATS_KEYS, StatsAccumulator
from sigdiag.settings import ConfigError, check_keys

__all__ = [
    "CALL_COLUMNS",
    "GROUP_SEP",
    "SUMMARY_KEYS",
    "CallRow",
    "GroupedStats",
    "Thresholds",
    "alerts",
    "bucket_label",
    "bucket_labels",
    "group_name",
    "load_thresholds",
    "parse_bucket",
    "read_columns",
    "read_rows",
    "summarize",
]

#: Keys of a summary row: trunk, bucket, the stats KPIs (without ``group``), findings, alerts.
SUMMARY_KEYS: tuple[str, ...] = (
    "trunk",
    "bucket",
    *(k for k in STATS_KEYS if k != "group"),
    "findings_total",
    "findings",
    "alerts",
)

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_bucket(text: str) -> int:
    """``30m``, ``1h``, ``6h``, ``1d``, ``900s`` (or plain seconds) -> seconds; ValueError if bad."""
    m = re.fullmatch(r"\s*(\d+)\s*([smhd]?)\s*", text)
    if not m or int(m.group(1)) <= 0:
        raise ValueError(f"--bucket must be a duration like 15m, 1h or 1d, not {text!r}")
    return int(m.group(1)) * _UNITS[m.group(2) or "s"]


def bucket_label(ts: float | None, seconds: int) -> str:
    """The UTC start of the bucket holding ``ts``: ``YYYY-MM-DD HH:MM``."""
    if ts is None or not math.isfinite(ts):
        return "unknown"
    return _start_label(math.floor(ts / seconds) * seconds)


def _start_label(start: int) -> str:
    return datetime.fromtimestamp(start, UTC).strftime("%Y-%m-%d %H:%M")


def bucket_labels(
    times: Iterable[float | None], seconds: int, memo: dict[int, str] | None = None
) -> list[str]:
    """:func:`bucket_label` of each time (one date formatted per bucket, not per time: ``memo`` holds
    the labels of the buckets seen, by bucket number)."""
    memo = {} if memo is None else memo
    out: list[str] = []
    add = out.append
    floor, isfinite = math.floor, math.isfinite
    for ts in times:
        if ts is None or not isfinite(ts):
            add("unknown")
            continue
        n = floor(ts / seconds)
        label = memo.get(n)
        if label is None:
            label = memo[n] = _start_label(n * seconds)
        add(label)
    return out


class CallRow(NamedTuple):
    """A stored call row seen as a call by the stats accumulator (the attributes it reads)."""

    outcome: str | None
    conversation_s: float | None
    phase: str | None
    cause: int | None
    pdd_ms: float | None
    answer_delay_ms: float | None
    called: str
    start: float | None
    group: str


#: ``_new_row(values)``: a :class:`CallRow` of a tuple of values (in C: no Python call per row)
_new_row: Callable[[tuple[Any, ...]], CallRow] = partial(tuple.__new__, CallRow)

GROUP_SEP = "\x1f"
#: ``group_name(trunk, bucket)``: the name of a group of rows, trunk and bucket joined by ``GROUP_SEP``
group_name: Callable[[Any, str], str] = ("{}" + GROUP_SEP + "{}").format


class GroupedStats(StatsAccumulator):
    """The stats accumulator grouping by the row's ``group`` (``(trunk, bucket)`` in the summary)."""

    def _grouper(self) -> Callable[[Any], str]:
        return attrgetter("group")


#: the columns of the calls table a :class:`CallRow` is made of (its ``group`` aside)
CALL_COLUMNS = [
    "trunk",
    "start",
    "outcome",
    "conversation_s",
    "phase",
    "cause",
    "pdd_ms",
    "answer_delay_ms",
    "called",
]


def _batches(parts: list[Path], columns: list[str] | None) -> Iterator[Any]:
    """The record batches of the part files (memory bounded by a batch, not the table; ``columns`` None:
    every column); times as epoch seconds."""
    if not parts:
        return
    import pyarrow.dataset as ds

    from sigdiag.report.parquet import float_seconds

    dataset = ds.dataset([str(p) for p in parts], format="parquet")
    for batch in dataset.to_batches(columns=columns, batch_size=65536):
        yield float_seconds(batch)


def read_columns(parts: list[Path], columns: list[str]) -> Iterator[dict[str, list[Any]]]:
    """The columns of the part files as Python lists, a batch of rows at a time (memory bounded by a
    batch, not the table); times as epoch seconds."""
    for b in _batches(parts, columns):
        yield {name: b.column(i).to_pylist() for i, name in enumerate(b.schema.names)}


def read_rows(parts: list[Path], columns: list[str] | None) -> Iterator[dict[str, Any]]:
    """Rows of the part files, a batch at a time (memory bounded by a batch, not the table; ``columns``
    None: every column); times as epoch seconds."""
    for b in _batches(parts, columns):
        yield from b.to_pylist()


def summarize(
    call_parts: list[Path],
    finding_parts: list[Path],
    bucket_s: int,
    settings: CallSettings | None = None,
    thresholds: Thresholds | None = None,
) -> list[dict[str, Any]]:
    """Summary rows (:data:`SUMMARY_KEYS`), sorted by trunk then bucket; alerts filled in."""
    acc = GroupedStats(None, None, settings or CallSettings())
    labels: dict[int, str] = {}
    for c in read_columns(call_parts, CALL_COLUMNS):
        groups = map(group_name, c["trunk"], bucket_labels(c["start"], bucket_s, labels))
        called = [v or "" for v in c["called"]]
        cols = (c["outcome"], c["conversation_s"], c["phase"], c["cause"], c["pdd_ms"], c["answer_delay_ms"])
        records = map(_new_row, zip(*cols, called, c["start"], groups, strict=True))
        # (a row has every attribute of a call the accumulator reads)
        deque(map(acc.add, records), maxlen=0)  # type: ignore[arg-type]
    pairs: Counter[tuple[str, Any]] = Counter()
    for c in read_columns(finding_parts, ["rule", "trunk", "ts"]):
        trunks = [t or "-" for t in c["trunk"]]
        groups = map(group_name, trunks, bucket_labels(c["ts"], bucket_s, labels))
        pairs.update(zip(groups, c["rule"], strict=True))
    rule_counts: dict[str, Counter[str]] = {}
    for (g, rule), n in pairs.items():
        rule_counts.setdefault(g, Counter())[rule] = n
    kpis = {r["group"]: r for r in acc.rows()}
    rows: list[dict[str, Any]] = []
    for g in sorted(set(kpis) | set(rule_counts)):
        trunk, bucket = g.split(GROUP_SEP, 1)
        k = kpis.get(g) or StatsAccumulator.empty_row(g)
        counts = rule_counts.get(g, Counter())
        row: dict[str, Any] = {"trunk": trunk, "bucket": bucket}
        row.update({key: k[key] for key in STATS_KEYS if key != "group"})
        row["findings_total"] = sum(counts.values())
        row["findings"] = dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
        row["alerts"] = []
        rows.append(row)
    alerts(rows, thresholds or Thresholds())
    return rows


# -- alerts ------------------------------------------------------------------------------------------------
_LIMIT_KEYS = ("network_loss_rate", "asr")
_BASELINE_KEYS = ("z", "min_buckets", "min_completed", "min_stdev")


@dataclass
class Thresholds:
    """Alert settings (see the module docstring); ``per_trunk`` overrides the limits of named trunks."""

    network_loss_rate: float | None = 0.05
    asr: float | None = None
    z: float | None = 3.0
    min_buckets: int = 3
    min_completed: int = 10
    min_stdev: float = 0.01
    per_trunk: dict[str, dict[str, float | None]] = field(default_factory=dict)

    def limit(self, trunk: str, key: str) -> float | None:
        over = self.per_trunk.get(trunk)
        if over is not None and key in over:
            return over[key]
        value: float | None = getattr(self, key)
        return value

    def as_dict(self) -> dict[str, Any]:
        return {
            "network_loss_rate": self.network_loss_rate,
            "asr": self.asr,
            "baseline": {k: getattr(self, k) for k in _BASELINE_KEYS},
            "trunks": self.per_trunk,
        }


def _number(value: Any, where: str, key: str, allow_none: bool = True) -> float | None:
    """A threshold value: rates (``network_loss_rate``, ``asr``) from 0 to 1, the others 0 or more."""
    if value is None and allow_none:
        return None
    rate = key.rsplit(".", 1)[-1] in _LIMIT_KEYS
    allowed = "from 0 to 1" if rate else "of 0 or more"
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
        or (rate and value > 1)
    ):
        raise ConfigError(f"{where}: {key} must be a number {allowed}, not {value!r}")
    return float(value)


def thresholds_from(data: Any, where: str = "thresholds") -> Thresholds:
    """:class:`Thresholds` from a parsed mapping (see :func:`load_thresholds`)."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping")
    check_keys(data, (*_LIMIT_KEYS, "baseline", "trunks"), where)
    t = Thresholds()
    for k in _LIMIT_KEYS:
        if k in data:
            setattr(t, k, _number(data[k], where, k))
    _baseline_from(data.get("baseline") or {}, where, t)
    trunks = data.get("trunks") or {}
    if not isinstance(trunks, dict):
        raise ConfigError(f"{where}: trunks must be a mapping of trunk name to limits")
    for name, over in trunks.items():
        if not isinstance(over, dict) or set(over) - set(_LIMIT_KEYS):
            raise ConfigError(f"{where}: trunks.{name} must map network_loss_rate and/or asr to numbers")
        t.per_trunk[str(name)] = {k: _number(v, where, f"trunks.{name}.{k}") for k, v in over.items()}
    return t


def _baseline_from(base: Any, where: str, t: Thresholds) -> None:
    """The ``baseline`` section of a thresholds mapping, set on ``t``."""
    if not isinstance(base, dict):
        raise ConfigError(f"{where}: baseline must be a mapping")
    check_keys(base, _BASELINE_KEYS, where, "baseline keys")
    if "z" in base:
        t.z = _number(base["z"], where, "baseline.z")
    for k in ("min_buckets", "min_completed"):
        if k in base:
            v = _number(base[k], where, f"baseline.{k}", allow_none=False)
            assert v is not None
            if v < 0 or v != int(v):
                raise ConfigError(f"{where}: baseline.{k} must be a whole number >= 0")
            setattr(t, k, int(v))
    if "min_stdev" in base:
        v = _number(base["min_stdev"], where, "baseline.min_stdev", allow_none=False)
        assert v is not None
        t.min_stdev = v


def load_thresholds(path: str | PathLike[str] | None) -> Thresholds:
    """Read an alert settings YAML file (None: the defaults)::

    network_loss_rate: 0.05     # alert above this network-loss rate (null: off) [default 0.05]
    asr: 0.40                   # alert below this ASR (null: off) [default off]
    baseline:                   # departures from the trunk's own other buckets
      z: 3.0                    # z-score that alerts (null: off) [default 3]
      min_buckets: 3            # other buckets needed for a baseline [default 3]
      min_completed: 10         # completed calls a bucket needs to count or alert [default 10]
      min_stdev: 0.01           # floor of the baseline's standard deviation [default 0.01]
    trunks:                     # per-trunk limits
      BJ-SH-01: {network_loss_rate: 0.10, asr: 0.30}
    """
    if path is None:
        return Thresholds()
    from sigdiag.settings import load_yaml_file

    # bounded: size, nesting depth and alias expansion (sigdiag.settings.YamlLimits)
    data = load_yaml_file(path, "thresholds")
    if data is None:
        raise ConfigError(f"{path}:1: the file is empty; expected a mapping of alert thresholds")
    return thresholds_from(data, str(path))


def _baseline(values: list[float], i: int) -> tuple[float, float] | None:
    others = values[:i] + values[i + 1 :]
    if len(others) < 2:
        return None
    mean = sum(others) / len(others)
    var = sum((v - mean) ** 2 for v in others) / (len(others) - 1)
    return mean, math.sqrt(var)


def alerts(rows: list[dict[str, Any]], t: Thresholds) -> list[dict[str, Any]]:
    """Fill each row's ``alerts`` (list of dicts: kind, metric, value, limit or baseline) and return all."""
    out: list[dict[str, Any]] = []
    by_trunk: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_trunk.setdefault(r["trunk"], []).append(r)
    for trunk, trows in by_trunk.items():
        eligible = [r for r in trows if (r["completed"] or 0) >= max(t.min_completed, 1)]
        for r in eligible:
            loss = r["network_loss_rate"]
            limit = t.limit(trunk, "network_loss_rate")
            if loss is not None and limit is not None and loss > limit:
                r["alerts"].append(
                    {"kind": "threshold", "metric": "network_loss_rate", "value": loss, "limit": limit}
                )
            asr = r["asr"]
            limit = t.limit(trunk, "asr")
            if asr is not None and limit is not None and asr < limit:
                r["alerts"].append({"kind": "threshold", "metric": "asr", "value": asr, "limit": limit})
        if t.z is not None:
            for metric, sign in (("network_loss_rate", 1.0), ("asr", -1.0)):
                pts = [(r, r[metric]) for r in eligible if r[metric] is not None]
                values = [v for _, v in pts]
                if len(values) < t.min_buckets + 1:
                    continue
                for i, (r, v) in enumerate(pts):
                    b = _baseline(values, i)
                    if b is None:
                        continue
                    mean, sd = b
                    z = (v - mean) / max(sd, t.min_stdev)
                    if sign * z >= t.z:
                        r["alerts"].append(
                            {
                                "kind": "baseline",
                                "metric": metric,
                                "value": v,
                                "baseline_mean": round(mean, 4),
                                "baseline_stdev": round(sd, 4),
                                "z": round(z, 2),
                            }
                        )
        for r in trows:
            out += [{"trunk": trunk, "bucket": r["bucket"], **a} for a in r["alerts"]]
    return out


_METRIC_NAMES = {"asr": "ASR", "network_loss_rate": "network-loss rate"}


def alert_text(a: dict[str, Any]) -> str:
    """One line for an alert, rates as percentages with one decimal as in every text output
    (``ASR 52.9 % below limit 55.0 %``)."""
    from sigdiag.calls.report import pct_text

    name = _METRIC_NAMES.get(a["metric"], a["metric"])
    if a["kind"] == "threshold":
        rel = "above" if a["metric"] == "network_loss_rate" else "below"
        return f"{name} {pct_text(a['value'])} {rel} limit {pct_text(a['limit'])}"
    return (
        f"{name} {pct_text(a['value'])} vs baseline {pct_text(a['baseline_mean'])} "
        f"± {pct_text(a['baseline_stdev'])} (z {a['z']})"
    )


def iter_alerts(rows: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for r in rows:
        for a in r["alerts"]:
            yield {"trunk": r["trunk"], "bucket": r["bucket"], **a}
