"""What a windowed rule can still be changed by (:meth:`sigdiag.rules.windows.WindowedRules.settle`): the
calls not judged yet and the groups and seconds they pin (:class:`_Pending`), and the share windows that
no record still to come can change."""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator
from itertools import pairwise
from typing import Any

from sigdiag.rules.bins import Bin, SecondBins, grouper
from sigdiag.rules.facts import Context
from sigdiag.rules.loader import Rule

__all__: list[str] = []


class _Pending:
    """The calls not yet judged, as :meth:`WindowedRules.settle` asks about them: per call rule, the
    earliest time of a record that each group can still get (:meth:`pins`)."""

    def __init__(
        self, calls: Iterable[Any], context: Callable[[Any], Context], known: dict[int, tuple[Any, Context]]
    ) -> None:
        self.calls = list({id(c): c for c in calls}.values())  # (a call may be listed twice)
        self._context = context
        self._known = known  # the last settle's: id -> (call, context) (held: the id stays the call's)
        self._contexts: list[Context] | None = None
        self._pins: dict[str, dict[Any, float]] = {}

    def contexts(self) -> list[Context]:
        if self._contexts is None:
            known = self._known
            now: dict[int, tuple[Any, Context]] = {}
            for c in self.calls:
                had = known.get(id(c))
                now[id(c)] = had if had is not None and had[0] is c else (c, self._context(c))
            known.clear()
            known.update(now)
            self._contexts = [ctx for _, ctx in now.values()]
        return self._contexts

    def _entries(self, rule: Rule) -> list[tuple[Any, float]]:
        """(group, time) of each call (rules by called number: the number so far)."""
        at_start = rule.share is not None or rule.time_of == "start"
        if rule.group_by in ("called", "all"):
            groups: Iterable[Any] = (
                c.called or "" if rule.group_by == "called" else "all" for c in self.calls
            )
        else:
            groups = map(grouper(rule.group_by), self.contexts())
        out = []
        for call, g in zip(self.calls, groups, strict=True):
            if g is None:
                continue
            if at_start:
                out.append((g, call.start))
            else:  # released at its REL, or when its last message came (open at the end, evicted)
                out.append((g, call.last_ts if call.rel_ts is None else min(call.rel_ts, call.last_ts)))
        return out

    def pins(self, rule: Rule) -> dict[Any, float]:
        """Group -> the earliest time (IAM or release, as the rule counts) of a call that may be in it."""
        pins = self._pins.get(rule.id)
        if pins is None:
            pins = self._pins[rule.id] = {}
            for g, t in self._entries(rule):
                if t < pins.get(g, math.inf):
                    pins[g] = t
        return pins

    def seconds(self, rule: Rule) -> dict[Any, list[int]]:
        """Group -> the seconds (IAM time) of the calls that may be in it (share rules)."""
        out: dict[Any, list[int]] = {}
        for g, t in self._entries(rule):
            out.setdefault(g, []).append(math.floor(t))
        return out


def _pinned(pins: dict[Any, float], group: Any, by_prefix: bool) -> float:
    """The earliest time of a record that ``group`` can still get from pending calls (:class:`_Pending`;
    by called number: from calls whose number so far starts the group's)."""
    if not pins:
        return math.inf
    if not by_prefix:
        return pins.get(group, math.inf)
    g = str(group)
    return min(pins.get(g[:i], math.inf) for i in range(len(g) + 1))


class _Clean:
    """The *clean* positions among ``bad`` seconds (sorted, distinct): those with no bad second in the
    ``n`` seconds before them (a position ``c`` after ``b`` is clean up to the next bad second)."""

    def __init__(self, bad: list[int], n: int) -> None:
        self.bad, self.n = bad, n
        nexts = [*bad[1:], math.inf]
        self.starts = [b + n + 1 for b, nxt in zip(bad, nexts, strict=True) if nxt - b > n]
        self.ends = [bad[0], *(nxt for b, nxt in pairwise(bad) if nxt - b > n)]

    def _is(self, c: float) -> int:
        """-1 when ``c`` is clean, else the index of the bad second before it."""
        i = bisect_left(self.bad, c) - 1
        return -1 if i < 0 or self.bad[i] < c - self.n else i

    def after(self, c: float) -> float:
        """The first clean position from ``c`` on."""
        return c if self._is(c) < 0 else self.starts[bisect_left(self.starts, c)]

    def before(self, c: float) -> float:
        """The last clean position up to ``c``."""
        i = self._is(c)
        return c if i < 0 else self.ends[bisect_right(self.ends, self.bad[i]) - 1]


def _share_windows(
    rule: Rule, bins: dict[int, Bin], keys: list[int], start: float, stop: float
) -> Iterator[tuple[int, int, int, int, int, bool]]:
    """The windows of a share rule's group that end with a second of ``keys`` (``bins`` sorted) from
    ``start`` to before ``stop`` (:meth:`WindowedRules._flush_bins`): ``(second, matches, population, lo,
    hi, holds)``, ``keys[lo:hi]`` the seconds in the window."""
    assert rule.window_s is not None and rule.share is not None
    n = max(1, math.ceil(rule.window_s))
    need_pop = max(rule.min_population, 1)
    i = bisect_left(keys, start)
    lo = hi = bisect_right(keys, keys[i] - n) if i < len(keys) else i
    matched = population = 0
    for k in keys[i:]:
        if k >= stop:
            return
        while hi < len(keys) and keys[hi] <= k:
            b = bins[keys[hi]]
            matched += b.matched
            population += b.population
            hi += 1
        while lo < hi and keys[lo] <= k - n:
            b = bins[keys[lo]]
            matched -= b.matched
            population -= b.population
            lo += 1
        holds = matched >= rule.count and population >= need_pop and matched / population >= rule.share
        yield k, matched, population, lo, hi, holds


def _share_status(
    rule: Rule, bins: SecondBins, keys: list[int], cut: int, pending: list[int]
) -> tuple[list[int], list[int]]:
    """The windows of a share rule's group not judged yet (:meth:`WindowedRules._judge_bins`): the seconds
    of those that may still change (a pending second in them, ``cut`` and after), and of those that may
    change or hold (both sorted)."""
    assert rule.window_s is not None
    n = max(1, math.ceil(rule.window_s))
    judged = bins.judged
    unknown = [u for u in pending if u < cut]
    unknown.append(cut)
    bad = list(unknown)
    j = 0
    for k, _, _, _, _, holds in _share_windows(rule, bins, keys, -math.inf, cut):
        while j < len(judged) and judged[j][1] <= k:
            j += 1
        if j < len(judged) and judged[j][0] <= k:
            continue  # judged already
        i = bisect_left(pending, k - n + 1)
        if i < len(pending) and pending[i] <= k:
            unknown.append(k)  # a pending second in the window
            bad.append(k)
        elif holds:
            bad.append(k)
    return sorted(set(unknown)), sorted(set(bad))
