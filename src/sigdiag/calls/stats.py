"""KPIs over finished calls (``sigdiag stats``): ASR, NER, connection rate, network loss and more.

Definitions (DOMAIN.md section 5; ``docs/calls.md`` has the table).  Calls whose outcome is
``unknown`` (still open at the end of the capture, evicted, no release seen) are counted in ``seizures``
and ``open`` but left out of every rate: they are neither successes nor failures.

* ``completed`` = seizures - open
* ``asr`` = answered / completed; ``ner`` = (answered + subscriber) / completed
* ``valid_attempts`` = completed - caller failures; ``connection_rate`` = answered / valid_attempts;
  ``network_loss_rate`` = network / valid_attempts
* ``blocked_calls`` = network losses before any ACM (never reached the called side);
  ``blocked_share`` = blocked_calls / completed
* ``effective_answered`` = answered calls whose conversation lasted at least ``effective_s``;
  ``effective_rate`` = effective_answered / completed
* ``avg_conversation_s`` over answered calls with a known conversation time; ``pdd_mean_ms`` and
  ``pdd_p95_ms`` (nearest-rank percentile) over calls with a post-dial delay; ``answer_delay_mean_ms``
* ``top_causes``: the five most frequent cause values of calls not answered, ``[[cause, count], ...]``
* ``repeat_attempts``: calls to a called number that another call attempted within ``repeat_window_s``
  before (by start time)

Groups (``by``): ``trunk`` (a trunk map names trunks by OPC, DPC and CIC ranges, in either direction;
otherwise the trunk is the unordered point-code pair), ``opc-dpc`` (calling side -> called side),
``hour`` (UTC hour of the IAM), ``cause``, ``prefix`` (first ``prefix_digits`` digits of the called
number); without ``by`` one row named ``all``.
"""

from __future__ import annotations

import math
from array import array
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from os import PathLike
from pathlib import Path
from typing import Any

from sigdiag.calls.correlate import Call
from sigdiag.calls.settings import CallSettings
from sigdiag.settings import ConfigError

__all__ = ["GROUP_BY", "STATS_KEYS", "StatsAccumulator", "TrunkMap", "compute_stats", "load_trunks"]

GROUP_BY = ("trunk", "opc-dpc", "hour", "cause", "prefix")

#: The keys of every stats row, in output order.
STATS_KEYS: tuple[str, ...] = (
    "group",
    "seizures",
    "open",
    "completed",
    "answered",
    "asr",
    "ner",
    "valid_attempts",
    "connection_rate",
    "network_loss",
    "network_loss_rate",
    "subscriber_failures",
    "caller_failures",
    "blocked_calls",
    "blocked_share",
    "effective_answered",
    "effective_rate",
    "avg_conversation_s",
    "pdd_mean_ms",
    "pdd_p95_ms",
    "answer_delay_mean_ms",
    "top_causes",
    "repeat_attempts",
)


class TrunkMap:
    """Names trunks: ``(name, point code A, point code B, CIC ranges or None)``, in either direction."""

    def __init__(self, trunks: Iterable[tuple[str, int, int, list[tuple[int, int]] | None]] = ()) -> None:
        self._by_pair: dict[tuple[int, int], list[tuple[str, list[tuple[int, int]] | None]]] = {}
        self.names: list[str] = []
        for name, a, b, ranges in trunks:
            pair = (a, b) if a <= b else (b, a)
            self._by_pair.setdefault(pair, []).append((name, ranges))
            self.names.append(name)

    def name(self, opc: int | None, dpc: int | None, cic: int | None) -> str | None:
        """The trunk of a call, or None when no trunk matches."""
        if opc is None or dpc is None:
            return None
        entries = self._by_pair.get((opc, dpc) if opc <= dpc else (dpc, opc))
        if not entries:
            return None
        for name, ranges in entries:
            if ranges is None:
                return name
            if cic is not None:
                for lo, hi in ranges:
                    if lo <= cic <= hi:
                        return name
        return None


def load_trunks(path: str | PathLike[str]) -> TrunkMap:
    """Read a trunk map YAML file::

    pc_format: itu            # how to read structured point codes (itu | ansi | china | japan)
    trunks:
      - name: BJ-SH-01
        opc: 1201             # or "0-150-1"
        dpc: 2302
        cic: "1-31,64-95"     # optional: CIC ranges (a list of ints/ranges is also accepted)
    """
    import yaml

    from sigdiag.carrier.mtp import parse_pc
    from sigdiag.settings import check_keys, compose_yaml, construct_yaml, read_config_text

    p = Path(path)
    # bounded: size, nesting depth and alias expansion (sigdiag.settings.YamlLimits)
    text = read_config_text(p, "trunk map")
    root = compose_yaml(text, str(p))
    data = construct_yaml(root, str(p)) if root is not None else None
    if not isinstance(data, dict) or not isinstance(data.get("trunks"), list):
        raise ConfigError(f"{p}:1: expected a mapping with a 'trunks' list")
    check_keys(data, ("trunks", "pc_format"), f"{p}:1")
    lines: list[int] = []
    assert isinstance(root, yaml.MappingNode)
    for knode, vnode in root.value:
        if knode.value == "trunks" and isinstance(vnode, yaml.SequenceNode):
            lines = [n.start_mark.line + 1 for n in vnode.value]
    pc_format = str(data.get("pc_format", "itu"))
    if pc_format not in ("auto", "itu", "ansi", "china", "japan"):
        raise ConfigError(f"{p}:1: pc_format must be one of auto, itu, ansi, china, japan, not {pc_format!r}")
    out: list[tuple[str, int, int, list[tuple[int, int]] | None]] = []
    for i, item in enumerate(data["trunks"]):
        where = f"{p}:{lines[i] if i < len(lines) else 1}"
        if not isinstance(item, dict):
            raise ConfigError(f"{where}: each trunk must be a mapping with name, opc, dpc (and cic)")
        check_keys(item, ("name", "opc", "dpc", "cic"), where, "trunk keys")
        for k in ("name", "opc", "dpc"):
            if k not in item:
                raise ConfigError(f"{where}: trunk without {k!r}")
        try:
            opc = parse_pc(str(item["opc"]), pc_format)
            dpc = parse_pc(str(item["dpc"]), pc_format)
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        ranges = _cic_ranges(item.get("cic"), where)
        out.append((str(item["name"]), opc, dpc, ranges))
    return TrunkMap(out)


def _cic_ranges(value: Any, where: str) -> list[tuple[int, int]] | None:
    if value is None:
        return None
    items: list[Any]
    if isinstance(value, str):
        items = [v.strip() for v in value.split(",") if v.strip()]
    elif isinstance(value, list):
        items = value
    else:
        items = [value]
    out: list[tuple[int, int]] = []
    for item in items:
        try:
            if isinstance(item, int) and not isinstance(item, bool):
                lo = hi = item
            else:
                text = str(item)
                lo_s, sep, hi_s = text.partition("-")
                lo = int(lo_s)
                hi = int(hi_s) if sep else lo
        except ValueError:
            raise ConfigError(f'{where}: bad CIC range {item!r} (use e.g. "1-31,64-95")') from None
        if lo < 0 or hi < lo or hi > 0xFFFFFFFF:
            raise ConfigError(
                f"{where}: bad CIC range {item!r} "
                "(CICs are 0-4294967295: ITU 0-4095, ANSI 0-16383, BICC 32 bits)"
            )
        out.append((lo, hi))
    return out


class _Group:
    __slots__ = (
        "answer_delay",
        "answer_delay_n",
        "answered",
        "blocked",
        "caller",
        "causes",
        "conv",
        "conv_n",
        "effective",
        "network",
        "pdd",
        "repeats",
        "seizures",
        "subscriber",
        "unknown",
    )

    def __init__(self) -> None:
        self.seizures = self.unknown = self.answered = self.subscriber = self.caller = self.network = 0
        self.blocked = self.effective = self.conv_n = self.answer_delay_n = self.repeats = 0
        self.conv = self.answer_delay = 0.0
        self.pdd = array("d")
        self.causes: Counter[int] = Counter()


def _rate(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def p95(values: Iterable[float]) -> float | None:
    """Nearest-rank 95th percentile (the smallest value with at least 95 % of the values at or below it)."""
    s = sorted(values)
    if not s:
        return None
    return s[max(math.ceil(0.95 * len(s)) - 1, 0)]


class StatsAccumulator:
    """Streams finished calls into KPI groups; :meth:`rows` gives one dict per group (:data:`STATS_KEYS`)."""

    def __init__(
        self,
        by: str | None = None,
        trunks: TrunkMap | None = None,
        settings: CallSettings | None = None,
        pc_display: str = "decimal",
    ) -> None:
        if by is not None and by not in GROUP_BY:
            raise ValueError(f"--by must be one of {', '.join(GROUP_BY)}, not {by!r}")
        self.by = by
        self.trunks = trunks
        self.settings = settings or CallSettings()
        self.structured = pc_display == "structured"
        self.groups: dict[str, _Group] = {}
        self._repeat_window = self.settings.repeat_window_s
        self._attempts: dict[str, list[list[Any]]] = {}
        self._max_start = float("-inf")
        self._pruned_at = 0
        self._group_of: Callable[[Call], str] = self._grouper()

    def _pc(self, pc: int | None, fmt: str | None) -> str:
        if pc is None:
            return "-"
        if not self.structured:
            return str(pc)
        from sigdiag.carrier.mtp import format_pc

        return format_pc(pc, fmt or "itu", True)

    def _grouper(self) -> Callable[[Call], str]:
        by = self.by
        if by is None:
            return lambda c: "all"
        if by == "opc-dpc":
            return lambda c: (
                c.carrier if c.pcless else f"{self._pc(c.opc, c.pc_format)}-{self._pc(c.dpc, c.pc_format)}"
            )
        if by == "trunk":

            def trunk(c: Call) -> str:
                if c.pcless:
                    return c.carrier
                if self.trunks is not None:
                    name = self.trunks.name(c.opc, c.dpc, c.cic)
                    if name is not None:
                        return name
                a, b = c.opc or 0, c.dpc or 0
                lo, hi = (a, b) if a <= b else (b, a)
                return f"{self._pc(lo, c.pc_format)}-{self._pc(hi, c.pc_format)}"

            return trunk
        if by == "hour":
            return lambda c: datetime.fromtimestamp(c.start, UTC).strftime("%Y-%m-%d %H:00")
        if by == "cause":
            return lambda c: "none" if c.cause is None else str(c.cause)
        n = self.settings.prefix_digits
        return lambda c: c.called[:n] if c.called else "none"

    def add(self, call: Call) -> None:
        """Count one finished call."""
        name = self._group_of(call)
        g = self.groups.get(name)
        if g is None:
            g = self.groups[name] = _Group()
        g.seizures += 1
        outcome = call.outcome
        if outcome == "unknown":
            g.unknown += 1
        elif outcome == "answered":
            g.answered += 1
            conv = call.conversation_s
            if conv is not None:
                g.conv += conv
                g.conv_n += 1
                if conv >= self.settings.effective_s:
                    g.effective += 1
        elif outcome == "subscriber":
            g.subscriber += 1
        elif outcome == "caller":
            g.caller += 1
        elif outcome == "network":
            g.network += 1
            if call.phase == "setup":
                g.blocked += 1
        if outcome != "answered" and call.cause is not None:
            g.causes[call.cause] += 1
        if call.pdd_ms is not None:
            g.pdd.append(call.pdd_ms)
        if call.answer_delay_ms is not None:
            g.answer_delay += call.answer_delay_ms
            g.answer_delay_n += 1
        if call.called:
            self._repeat(call.called, call.start, g, name)

    def _repeat(self, number: str, start: float, g: _Group, name: str) -> None:
        """Mark repeat attempts exactly, whatever order calls come in: a call is a repeat when another
        call to the same number started within the window before it; of two calls that started at the
        same moment, the one of the greater group name is (so the group counted does not depend on the
        order: an audit's summary reads its parts in any order)."""
        window = self._repeat_window
        entries = self._attempts.get(number)
        if entries is None:
            self._attempts[number] = [[start, False, g, name]]
        else:
            is_repeat = False
            for e in entries:
                t = e[0]
                if (t < start or (t == start and e[3] <= name)) and start - t <= window:
                    is_repeat = True
                elif (start < t or (t == start and name < e[3])) and t - start <= window and not e[1]:
                    e[1] = True
                    e[2].repeats += 1
            if is_repeat:
                g.repeats += 1
            entries.append([start, is_repeat, g, name])
            if len(entries) > 64:
                horizon = start - window - 6 * 3600.0
                entries[:] = [e for e in entries if e[0] >= horizon]
        if start > self._max_start:
            self._max_start = start
        if len(self._attempts) > self._pruned_at + 100_000:
            self._prune()

    def _prune(self) -> None:
        """Forget attempts far older than the newest call (calls finish at most a few hours late)."""
        horizon = self._max_start - self._repeat_window - 6 * 3600.0
        for number in [n for n, es in self._attempts.items() if max(e[0] for e in es) < horizon]:
            del self._attempts[number]
        self._pruned_at = len(self._attempts)

    def rows(self) -> list[dict[str, Any]]:
        """One row per group, sorted by group (numerically for causes)."""
        names = list(self.groups)
        if self.by == "cause":
            names.sort(key=lambda n: (n == "none", int(n) if n.isdigit() else 0, n))
        else:
            names.sort()
        return [self._row(name, self.groups[name]) for name in names]

    @classmethod
    def empty_row(cls, name: str) -> dict[str, Any]:
        """The row of a group without calls: every count 0, every rate and mean None."""
        return cls._row(name, _Group())

    @staticmethod
    def _row(name: str, g: _Group) -> dict[str, Any]:
        completed = g.seizures - g.unknown
        valid = completed - g.caller
        pdd = g.pdd
        top = sorted(g.causes.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
        p = p95(pdd)
        return {
            "group": name,
            "seizures": g.seizures,
            "open": g.unknown,
            "completed": completed,
            "answered": g.answered,
            "asr": _rate(g.answered, completed),
            "ner": _rate(g.answered + g.subscriber, completed),
            "valid_attempts": valid,
            "connection_rate": _rate(g.answered, valid),
            "network_loss": g.network,
            "network_loss_rate": _rate(g.network, valid),
            "subscriber_failures": g.subscriber,
            "caller_failures": g.caller,
            "blocked_calls": g.blocked,
            "blocked_share": _rate(g.blocked, completed),
            "effective_answered": g.effective,
            "effective_rate": _rate(g.effective, completed),
            "avg_conversation_s": round(g.conv / g.conv_n, 3) if g.conv_n else None,
            "pdd_mean_ms": round(sum(pdd) / len(pdd), 3) if pdd else None,
            "pdd_p95_ms": round(p, 3) if p is not None else None,
            "answer_delay_mean_ms": round(g.answer_delay / g.answer_delay_n, 3) if g.answer_delay_n else None,
            "top_causes": [[c, n] for c, n in top],
            "repeat_attempts": g.repeats,
        }


def compute_stats(
    calls: Iterable[Call],
    by: str | None = None,
    trunks: TrunkMap | None = None,
    settings: CallSettings | None = None,
    pc_display: str = "decimal",
) -> list[dict[str, Any]]:
    """KPI rows (:data:`STATS_KEYS`) for finished calls, grouped ``by`` (see the module docstring)."""
    acc = StatsAccumulator(by, trunks, settings, pc_display)
    for call in calls:
        acc.add(call)
    return acc.rows()
