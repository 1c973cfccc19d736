"""The state of the windowed rules, piece by piece (:mod:`sigdiag.rules.windows` keeps it): a count
rule's sliding :class:`Window` and its :class:`Burst`, a share rule's :class:`Bin` per second of IAM time
(:class:`SecondBins`), a later part's :class:`Head`, and the groups records fall in (:func:`grouper`,
:func:`record_group`)."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from typing import Any

from sigdiag.rules.facts import Context
from sigdiag.rules.loader import Rule, RuleError

__all__ = [
    "DEFAULT_MAX_GROUPS",
    "MAX_MEMBERS",
    "Bin",
    "Burst",
    "Head",
    "Judged",
    "SecondBins",
    "Window",
    "grouper",
    "max_groups_of",
    "record_group",
]

#: Member calls/records kept per windowed finding (the count is exact beyond it).
MAX_MEMBERS = 1000
#: Groups (called numbers, trunks, ...) a windowed rule keeps at most, unless the rule has a
#: ``max_groups`` setting.
DEFAULT_MAX_GROUPS = 100_000


def max_groups_of(rule: Rule) -> int:
    """The ``max_groups`` setting of a windowed rule (:data:`DEFAULT_MAX_GROUPS` without one)."""
    value = rule.settings.get("max_groups", DEFAULT_MAX_GROUPS)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise RuleError(f"setting {rule.id}.max_groups must be a whole number of at least 1, not {value!r}")
    return value


def grouper(group_by: str | None) -> Callable[[Context], Any]:
    """The group of a call for a windowed rule (None: not grouped)."""
    if group_by == "trunk":

        def trunk(ctx: Context) -> Any:
            cache = ctx._cache
            return cache["trunk"] if "trunk" in cache else ctx.fact("trunk")

        return trunk
    if group_by == "all":
        return lambda ctx: "all"
    if group_by == "called":
        return lambda ctx: ctx.call.called or None
    if group_by == "calling":
        return lambda ctx: ctx.call.calling or None
    if group_by == "opc-dpc":
        return lambda ctx: f"{ctx.call.opc}-{ctx.call.dpc}"
    return lambda ctx: f"{ctx.call.opc}-{ctx.call.dpc}-{ctx.call.cic}"


def record_group(rule: Rule, rec: dict[str, Any]) -> Any:
    """The group of a circuit record for a windowed rule (calls: :func:`grouper`)."""
    g = rule.group_by
    if g == "trunk":
        return rec.get("trunk")
    if g == "all":
        return "all"
    if g == "opc-dpc":
        return f"{rec.get('opc')}-{rec.get('dpc')}"
    return rec.get("key")


class Burst:
    """The records of one windowed finding: count rules add their matches (``first``/``last``: the times
    of the first and last); share rules set ``count``, ``population`` and ``first``/``last`` (the
    window's edges) at once, and ``extra`` (the whole burst)."""

    __slots__ = ("count", "extra", "file", "first", "last", "members", "population")

    def __init__(self, file: str | None) -> None:
        self.file = file  # the input file of the burst's first records (several files: windows span them)
        self.count = 0
        self.first = float("inf")
        self.last = float("-inf")
        self.members: list[Any] = []  # call member tuples or circuit record dicts
        self.population: int | None = None  # share rules: the records of the window's population
        self.extra: dict[str, Any] = {}

    def add(self, t: float, member: Any) -> None:
        self.count += 1
        self.first = min(self.first, t)
        self.last = max(self.last, t)
        if len(self.members) < MAX_MEMBERS:
            self.members.append(member)

    def absorb(self, other: Burst) -> None:
        """Take the records of a burst that continues this one (a later part of the traffic)."""
        self.count += other.count
        self.first = min(self.first, other.first)
        self.last = max(self.last, other.last)
        self.members.extend(other.members[: max(MAX_MEMBERS - len(self.members), 0)])


class Window:
    """Sliding window of one count rule over one group: the matching records of the last window."""

    __slots__ = ("burst", "entries")

    def __init__(self) -> None:
        self.entries: deque[tuple[float, Any]] = deque()  # (time, member), in time order
        self.burst: Burst | None = None


class Bin:
    """One second of IAM time of a share rule's group: records of the population, those that matched,
    the first :data:`MAX_MEMBERS` matching members, the input file of its first record."""

    __slots__ = ("file", "matched", "members", "population")

    def __init__(self, file: str | None) -> None:
        self.matched = 0
        self.population = 0
        self.members: list[Any] = []
        self.file = file

    def add(self, other: Bin) -> None:
        """Count the records of the same second seen by another part of the traffic."""
        self.matched += other.matched
        self.population += other.population
        self.members.extend(other.members[: max(MAX_MEMBERS - len(self.members), 0)])


def _bins_of(first: float, judged: list[Judged], *columns: list[Any]) -> SecondBins:
    """A :class:`SecondBins` again from its pickle (:meth:`SecondBins.__reduce__`)."""
    bins = SecondBins()
    bins.first, bins.judged = first, judged
    for second, matched, population, members, file in zip(*columns, strict=True):
        b = bins[second] = Bin(file)
        b.matched, b.population, b.members = matched, population, members
    return bins


#: Windows of a share rule's group judged early (:meth:`WindowedRules.settle`): those ending with a second
#: from ``lo`` to before ``hi`` (both *clean*: no window that holds, nor one still open to change, ends in
#: the ``n`` seconds before), and the bursts found there, in order (findings at the end, as if judged then).
Judged = tuple[float, float, list[Burst]]


class SecondBins(dict[int, Bin]):
    """The bins of one group of a share rule, by second of IAM time, and what :meth:`WindowedRules.settle`
    judged of them already (``judged``: :data:`Judged` intervals, in time order); the bins no window left
    to judge needs are gone, so ``first`` keeps the group's first second with traffic.  A plain dict of
    bins is the same group with nothing judged.  Pickled as columns (no object per bin)."""

    __slots__ = ("first", "judged")

    def __init__(self, bins: dict[int, Bin] | None = None) -> None:
        super().__init__(bins or {})
        self.first: float = math.inf
        self.judged: list[Judged] = []

    def __reduce__(self) -> tuple[Any, ...]:
        values = self.values()
        return (
            _bins_of,
            (
                self.first,
                self.judged,
                list(self),
                [b.matched for b in values],
                [b.population for b in values],
                [b.members for b in values],
                [b.file for b in values],
            ),
        )


def _first_second(bins: dict[int, Bin]) -> float:
    """The first second with traffic of a share rule's group (an int; infinite for none)."""
    first: float = getattr(bins, "first", math.inf)
    return min(first, min(bins)) if bins else first


class Head:
    """The records of one count-rule group at the start of a later part of the traffic (an engine made
    with ``part_start``), until the group is quiet for a window: they are not judged here but by the
    engine of the part before, when the parts are merged (:meth:`WindowedRules._merge_windows`)."""

    __slots__ = ("last", "records")

    def __init__(self) -> None:
        self.records: list[tuple[float, Any]] = []  # (time, member), in the order they came
        self.last = float("-inf")  # the latest time of the records

    def add(self, t: float, member: Any) -> None:
        self.records.append((t, member))
        if t > self.last:
            self.last = t


def _insert(entries: deque[tuple[float, Any]], entry: tuple[float, Any]) -> None:
    """A record a few ms out of order: into its place in the window."""
    i = len(entries)
    t = entry[0]
    while i > 0 and entries[i - 1][0] > t:
        i -= 1
    entries.insert(i, entry)


#: Seconds beyond a window that :meth:`WindowedRules.settle` wants between a group's last record and the
#: next it can get (float rounding of time stamps of ~1e9 s: a record exactly a window later stays judged
#: as the engine would judge it).
_SLACK = 0.001
