"""Windowed rules: the state the rule engine keeps between records, and how it turns into findings.

* *count rules* (no ``share``): per (rule, group), a sliding :class:`Window` of the matching records of
  the last ``window_s`` and the open :class:`Burst`; a group that has seen one record only keeps it as a
  plain ``(time, member)`` pair (``singles``) until a second one comes;
* *share rules*: per (rule, group), one :class:`Bin` per second of IAM time with traffic, evaluated at the
  end (:meth:`WindowedRules._flush_bins`).

:class:`WindowedRules` is the part of :class:`~sigdiag.rules.engine.Engine` that keeps this state (its
attributes ``windows``, ``_singles``, ``_bins`` are what :meth:`Engine.snapshot` takes), bounds it
(``max_groups``, :meth:`WindowedRules.bound_warnings`) and merges the state of a later part of the traffic
into it (:meth:`WindowedRules._merge_windows`).
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import deque
from collections.abc import Callable
from typing import Any

from sigdiag.rules.facts import Context
from sigdiag.rules.findings import FindingMaker
from sigdiag.rules.loader import Rule, RuleError, RuleSet

__all__ = ["DEFAULT_MAX_GROUPS", "MAX_MEMBERS", "Bin", "Burst", "Head", "Window", "WindowedRules"]

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


class WindowedRules(FindingMaker):
    """The windowed-rule state of the engine (a base of :class:`~sigdiag.rules.engine.Engine`)."""

    rules: RuleSet
    windows: dict[tuple[str, Any], Window]
    _singles: dict[tuple[str, Any], tuple[float, Any]]
    _bins: dict[tuple[str, Any], dict[int, Bin]]
    max_groups: dict[str, int]
    _groups: dict[str, int]
    evicted: dict[str, int]
    _now: float
    _adds: int
    part_start: float | None
    _heads: dict[tuple[str, Any], Head] | None
    _settled: set[tuple[str, Any]]

    def _init_windows(self, rules: RuleSet, part_start: float | None = None) -> None:
        self.windows = {}
        self._singles = {}
        # share rules: per (rule, group), 1-second bins, evaluated at the end
        self._bins = {}
        # the memory bound of each windowed rule: max_groups, groups held now, groups evicted so far
        self.max_groups = {r.id: max_groups_of(r) for r in rules if r.windowed}
        self._groups = dict.fromkeys(self.max_groups, 0)
        #: groups dropped (count rules) or evaluated early (share rules) by max_groups: rule id -> how many
        self.evicted = {}
        self._now = float("-inf")
        self._adds = 0
        # a later part of the traffic: the heads of the count-rule groups that start within a window of
        # the part's start, and the groups whose head is complete (a record came a window after it)
        self.part_start = part_start
        self._heads = {} if part_start is not None else None
        self._settled = set()

    # -- count rules ---------------------------------------------------------------------------------------
    def _window_add(self, rule: Rule, group: Any, t: float, member: Any) -> None:
        """A matching record of a count rule: a sliding window per group (share rules: :meth:`_bin`).

        Most groups of a rule grouped by number never see a second record: a group's first record is kept
        as a plain pair (``singles``: no window object, nothing for the garbage collector to walk) until
        a second one comes within the window."""
        assert rule.window_s is not None
        self._adds += 1
        if t > self._now:
            self._now = t
        if self._adds % 20_000 == 0:
            self._sweep()
        key = (rule.id, group)
        if self._heads is not None and self._in_head(rule, key, t, member):
            return
        w = self.windows.get(key)
        entry = (t, member)
        if w is None:
            first = self._singles.pop(key, None)
            if first is None:  # a new group
                n = self._groups[rule.id] = self._groups[rule.id] + 1
                if n > self.max_groups[rule.id]:
                    self._evict_groups(rule)
            if first is None or abs(t - first[0]) > rule.window_s:
                if rule.count > 1:
                    self._singles[key] = entry
                    return
                first = None
            w = self.windows[key] = Window()
            if first is not None:
                w.entries.append(first)
        self._slide(rule, group, w, entry)

    def _slide(self, rule: Rule, group: Any, w: Window, entry: tuple[float, Any]) -> None:
        """A record into the window of its group: the burst the window has left behind closes, a burst
        opens when the window holds ``count`` records, an open burst takes the record."""
        assert rule.window_s is not None
        t = entry[0]
        entries = w.entries
        if w.burst is not None and t - w.burst.last > rule.window_s:
            self._emit_burst(rule, group, w)
        if not entries or t >= entries[-1][0]:
            entries.append(entry)
        else:  # a few ms out of order: insert in place
            _insert(entries, entry)
        horizon = entries[-1][0] - rule.window_s
        while entries[0][0] < horizon:
            entries.popleft()
        if len(entries) >= rule.count:
            b = w.burst
            if b is None:
                # the burst opens: every match still in the window belongs to it
                b = w.burst = Burst(self.file)
                for et, mem in entries:
                    b.add(et, mem)
            else:
                b.add(t, entry[1])
                # the burst counts its records: the window needs only its newest ``count`` (the burst
                # ends when a record comes a whole window after its last, and then every entry is old)
                if len(entries) > rule.count:
                    entries.popleft()

    def _in_head(self, rule: Rule, key: tuple[str, Any], t: float, member: Any) -> bool:
        """A later part's record: kept in its group's head (True) while the group's records come within a
        window of the part's start and then of each other; judged here (False) once a record comes more
        than a window after them (with the records of the part before, the whole traffic would be in the
        same state at that record: nothing earlier is within a window of it)."""
        assert self._heads is not None and self.part_start is not None and rule.window_s is not None
        head = self._heads.get(key)
        if head is None:
            if key in self._settled or key in self.windows or key in self._singles:
                return False
            if t - self.part_start > rule.window_s:  # the group starts a window after the part
                self._settled.add(key)
                return False
            head = self._heads[key] = Head()
        elif t - head.last > rule.window_s:  # the head is complete
            self._settled.add(key)
            return False
        head.add(t, member)
        return True

    def _sweep(self) -> None:
        """Drop the windows of groups that have been quiet for a whole window (bounded memory with
        many groups, e.g. one per called number), closing their bursts."""
        now = self._now
        groups = self._groups
        for key, (t, _member) in list(self._singles.items()):
            rule = self.rules[key[0]]
            assert rule.window_s is not None
            if now - t > rule.window_s:
                del self._singles[key]
                groups[key[0]] -= 1
        for (rid, group), w in list(self.windows.items()):
            rule = self.rules[rid]
            assert rule.window_s is not None
            last = w.entries[-1][0] if w.entries else float("-inf")
            if w.burst is not None:
                last = max(last, w.burst.last)
            if now - last > rule.window_s:
                if w.burst is not None:
                    self._emit_burst(rule, group, w)
                del self.windows[(rid, group)]
                groups[rid] -= 1

    def _evict_groups(self, rule: Rule) -> None:
        """A count rule holds more than ``max_groups`` groups: drop those quiet for a window, then the
        oldest of the rule's single-record groups, then its windows (an open burst is written out first),
        down to 15/16 of the bound (the next eviction is not at the next group)."""
        rid = rule.id
        self._sweep()
        limit = self.max_groups[rid]
        excess = self._groups[rid] - (limit - limit // 16)
        if excess <= 0:
            return
        dropped = 0
        singles = self._singles
        for key in [k for k in singles if k[0] == rid][:excess]:
            del singles[key]
            dropped += 1
        if dropped < excess:
            windows = self.windows
            mine = [k for k in windows if k[0] == rid]
            mine.sort(key=lambda k: windows[k].burst is not None)  # (stable: oldest first) bursts last
            for key in mine[: excess - dropped]:
                w = windows.pop(key)
                if w.burst is not None:
                    self._emit_burst(rule, key[1], w)
                dropped += 1
        self._groups[rid] -= dropped
        self.evicted[rid] = self.evicted.get(rid, 0) + dropped

    def bound_warnings(self) -> list[str]:
        """One line per windowed rule whose ``max_groups`` bound dropped groups (none when no rule
        reached its bound)."""
        out = []
        for rid, n in self.evicted.items():
            rule = self.rules[rid]
            what = "evaluated early" if rule.share is not None else "dropped"
            out.append(
                f"rule {rid}: {n} groups (by {rule.group_by}) {what} beyond max_groups "
                f"{self.max_groups[rid]}: a burst spanning them may be missed or split"
            )
        return out

    def _emit_burst(self, rule: Rule, group: Any, w: Window) -> None:
        b = w.burst
        w.burst = None
        if b is not None:
            self._emit(rule, group, b)

    # -- share rules -----------------------------------------------------------------------------------------
    # A share (e.g. a network-loss rate) is matches / population over the same calls: those whose IAM is
    # in the window, on the same group.  Calls come out when they end: an answered call that started in
    # a window comes out minutes later, after the quick failures of the same window; so share rules
    # count calls by IAM time in one-second bins (memory: one bin per second with traffic, per group)
    # and are evaluated over the complete bins at the end (:meth:`_flush_bins`).
    def _bin(self, rule: Rule, group: Any, t: float, member: Any) -> None:
        """A record of a share rule's population (``member``: it matches too, else None)."""
        bins = self._bins.get((rule.id, group))
        if bins is None:
            n = self._groups[rule.id] = self._groups[rule.id] + 1
            if n > self.max_groups[rule.id]:
                self._evict_bins(rule)
            bins = self._bins[(rule.id, group)] = {}
        k = math.floor(t)
        b = bins.get(k)
        if b is None:
            b = bins[k] = Bin(self.file)
        b.population += 1
        if member is not None:
            b.matched += 1
            if len(b.members) < MAX_MEMBERS:
                b.members.append(member)

    def _evict_bins(self, rule: Rule) -> None:
        """A share rule holds more than ``max_groups`` groups: evaluate the groups seen first (their
        findings come now) and drop their bins, down to 15/16 of the bound."""
        rid = rule.id
        limit = self.max_groups[rid]
        excess = self._groups[rid] - (limit - limit // 16)
        mine = [k for k in self._bins if k[0] == rid][:excess]
        for key in mine:
            self._flush_bins(rule, key[1], self._bins.pop(key))
        self._groups[rid] -= len(mine)
        self.evicted[rid] = self.evicted.get(rid, 0) + len(mine)

    def _flush_bins(self, rule: Rule, group: Any, bins: dict[int, Bin]) -> None:
        """The findings of a share rule on one group.

        Windows are ``n`` whole seconds (``window_s`` rounded up) of IAM time: the window ending with
        second ``k`` holds the records of seconds ``k-n+1 .. k``; one window ends with every second that
        has traffic (a sliding window, evaluated at each record).  A window holds the threshold when its
        matches are at least ``count``, its population at least ``min_population`` (and 1) and matches /
        population at least ``share``.  Windows that hold and overlap or touch are one burst, and the
        burst is one finding: ``count``, ``population`` and ``rate`` are those of its worst window (the
        highest share; then the most matches; then the earliest), ``window_start``/``window_end`` that
        window's edges (``window_start <= IAM time < window_end``; the start clipped to the group's first
        second with traffic); the evidence adds the whole burst (``burst_start``/``burst_end`` from its
        first to its last second with a match, ``burst_count``, ``burst_population``, ``burst_rate`` over
        the same records)."""
        assert rule.window_s is not None and rule.share is not None
        n = max(1, math.ceil(rule.window_s))
        keys = sorted(bins)
        first = keys[0]  # the group's first second with traffic
        need_pop = max(rule.min_population, 1)
        lo = hi = 0
        matched = population = 0
        # each burst: [start, end, peak], peak = (matched, population, lo, hi, window start, window end)
        burst: list[Any] | None = None
        for k in keys:  # the window ending with each second that has traffic
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
            if matched < rule.count or population < need_pop or matched / population < rule.share:
                continue
            ws, we = max(k - n + 1, first), k + 1
            if burst is not None and ws > burst[1]:  # neither overlaps nor touches the burst: a new one
                self._emit_share(rule, group, bins, keys, burst)
                burst = None
            if burst is None:
                burst = [ws, we, (matched, population, lo, hi, ws, we)]
                continue
            burst[1] = we
            pm, pp = burst[2][0], burst[2][1]
            if matched * pp > pm * population or (matched * pp == pm * population and matched > pm):
                burst[2] = (matched, population, lo, hi, ws, we)
        if burst is not None:
            self._emit_share(rule, group, bins, keys, burst)

    def _emit_share(
        self, rule: Rule, group: Any, bins: dict[int, Bin], keys: list[int], burst: list[Any]
    ) -> None:
        """The finding of a share rule's burst (:meth:`_flush_bins`)."""
        start, end, (matched, population, lo, hi, ws, we) = burst
        b = Burst(None)
        b.count, b.population, b.first, b.last = matched, population, float(ws), float(we)
        for key in keys[lo:hi]:
            bb = bins[key]
            if bb.matched:
                if b.file is None:
                    b.file = bb.file
                room = MAX_MEMBERS - len(b.members)
                b.members.extend(bb.members[:room])
        # the whole burst, from its first to its last second with a match
        i, j = bisect_left(keys, start), bisect_left(keys, end)
        hits = [key for key in keys[i:j] if bins[key].matched]
        bm = sum(bins[key].matched for key in hits)
        bp = sum(
            bins[key].population for key in keys[bisect_left(keys, hits[0]) : bisect_left(keys, hits[-1] + 1)]
        )
        b.extra = {
            "share_pct": round(100.0 * rule.share, 2) if rule.share is not None else None,  # the limit
            "burst_start": float(hits[0]),
            "burst_end": float(hits[-1] + 1),
            "burst_s": float(hits[-1] + 1 - hits[0]),
            "burst_count": bm,
            "burst_population": bp,
            "burst_rate": round(bm / bp, 4),
            "burst_rate_pct": round(100.0 * bm / bp, 1),
        }
        self._emit(rule, group, b)

    # -- end and merge ---------------------------------------------------------------------------------------
    def _close_windows(self) -> None:
        """Close every open burst and evaluate the share rules (end of the input)."""
        if self._heads:  # nothing came before this part: judge its heads as the first records
            windows, singles, heads, settled = self.windows, self._singles, self._heads, self._settled
            self.windows, self._singles, self._heads, self._settled = {}, {}, None, set()
            self._merge_windows(windows, singles, {}, heads, settled)
        for (rid, group), w in list(self.windows.items()):
            if w.burst is not None:
                self._emit_burst(self.rules[rid], group, w)
        self.windows.clear()
        self._singles.clear()
        for (rid, group), bins in sorted(self._bins.items(), key=lambda kv: min(kv[1])):
            self._flush_bins(self.rules[rid], group, bins)
        self._bins.clear()
        self._groups = dict.fromkeys(self.max_groups, 0)

    def _replay(self, heads: dict[tuple[str, Any], Head]) -> None:
        """The records of ``heads`` through this engine's windows, in time order."""
        records = [(t, key, m) for key, head in heads.items() for t, m in head.records]
        records.sort(key=lambda r: r[0])
        for t, (rid, group), member in records:
            self._window_add(self.rules[rid], group, t, member)

    def _merge_windows(
        self,
        windows: dict[tuple[str, Any], Window],
        singles: dict[tuple[str, Any], tuple[float, Any]],
        bins: dict[tuple[str, Any], dict[int, Bin]],
        heads: dict[tuple[str, Any], Head],
        settled: set[tuple[str, Any]],
    ) -> None:
        """Take the windowed-rule state of an engine made with ``part_start`` that saw the traffic after
        this engine's (see :meth:`Engine.merge`).  Share bins add up second by second.  A count rule's
        heads go through this engine's windows in time order, as they would have in one engine; then
        every group the later part judged itself (its head complete, or started a window after the cut)
        closes ours (a record came a window after everything we hold) and its window takes our place."""
        for key, other_bins in bins.items():
            mine = self._bins.get(key)
            if mine is None:
                self._bins[key] = other_bins
                continue
            for second, b in other_bins.items():
                have = mine.get(second)
                if have is None:
                    mine[second] = b
                else:
                    have.add(b)
        self._replay(heads)
        for key in (*windows, *singles, *settled):
            if self._heads is not None and key in self._heads:  # our own head is complete too
                self._settled.add(key)
            w = self.windows.pop(key, None)
            if w is not None and w.burst is not None:
                self._emit_burst(self.rules[key[0]], key[1], w)
            self._singles.pop(key, None)
        self.windows.update(windows)
        self._singles.update(singles)
        groups = dict.fromkeys(self.max_groups, 0)
        for rid, _group in (*self.windows, *self._singles, *self._bins):
            groups[rid] += 1
        self._groups = groups
