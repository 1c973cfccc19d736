"""Windowed rules: the state the rule engine keeps between records, and how it turns into findings.

* *count rules* (no ``share``): per (rule, group), a sliding :class:`Window` of the matching records of
  the last ``window_s`` and the open :class:`Burst`; a group that has seen one record only keeps it as a
  plain ``(time, member)`` pair (``singles``) until a second one comes;
* *share rules*: per (rule, group), one :class:`Bin` per second of IAM time with traffic, evaluated at the
  end (:meth:`WindowedRules._flush_bins`).

:meth:`WindowedRules.settle` forgets what no record still to come can change (an audit point settles
before it saves its state after each file: the state follows the traffic of the last windows).

:class:`WindowedRules` is the part of :class:`~sigdiag.rules.engine.Engine` that keeps this state (its
attributes ``windows``, ``_singles``, ``_bins`` are what :meth:`Engine.snapshot` takes), bounds it
(``max_groups``, :meth:`WindowedRules.bound_warnings`) and merges the state of a later part of the traffic
into it (:meth:`WindowedRules._merge_windows`).
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterable
from itertools import pairwise
from typing import Any

from sigdiag.rules.bins import (
    _SLACK,
    MAX_MEMBERS,
    Bin,
    Burst,
    Head,
    Judged,
    SecondBins,
    Window,
    _first_second,
    _insert,
    max_groups_of,
)
from sigdiag.rules.facts import Context
from sigdiag.rules.findings import FindingMaker
from sigdiag.rules.loader import Rule, RuleSet
from sigdiag.rules.settling import _Clean, _Pending, _pinned, _share_status, _share_windows

__all__ = ["WindowedRules"]


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
        self._pending_contexts: dict[int, tuple[Any, Context]] = {}  # (settle's, not state)

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
            bins = self._bins[(rule.id, group)] = SecondBins()
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
        the same records).  Windows :meth:`settle` judged already are not judged again: their bursts come
        in their place."""
        keys = sorted(bins)
        judged: list[Judged] = getattr(bins, "judged", [])
        start = -math.inf
        for lo, hi, found in [*judged, (math.inf, math.inf, [])]:
            closed, burst = self._scan_share(rule, bins, keys, start, lo)
            if burst is not None:  # (``lo`` is clean: nothing after it can touch the burst)
                closed.append(self._share_burst(rule, bins, keys, burst))
            for b in (*closed, *found):
                self._emit(rule, group, b)
            start = hi

    def _scan_share(
        self, rule: Rule, bins: dict[int, Bin], keys: list[int], start: float, stop: float
    ) -> tuple[list[Burst], list[Any] | None]:
        """The windows of a share rule's group that end with a second of ``keys`` (sorted ``bins``) from
        ``start`` (no burst open there) up to before ``stop`` (see :meth:`_flush_bins`): the bursts closed
        there, in order, and the burst still open after the last (``[start, end, peak]``, or None)."""
        assert rule.window_s is not None
        n = max(1, math.ceil(rule.window_s))
        first = _first_second(bins)
        closed: list[Burst] = []
        # the open burst: [start, end, peak], peak = (matched, population, lo, hi, window start, window end)
        burst: list[Any] | None = None
        for k, matched, population, lo, hi, holds in _share_windows(rule, bins, keys, start, stop):
            if not holds:
                continue
            ws, we = max(k - n + 1, first), k + 1
            if burst is not None and ws > burst[1]:  # neither overlaps nor touches the burst: a new one
                closed.append(self._share_burst(rule, bins, keys, burst))
                burst = None
            if burst is None:
                burst = [ws, we, (matched, population, lo, hi, ws, we)]
                continue
            burst[1] = we
            pm, pp = burst[2][0], burst[2][1]
            if matched * pp > pm * population or (matched * pp == pm * population and matched > pm):
                burst[2] = (matched, population, lo, hi, ws, we)
        return closed, burst

    def _share_burst(self, rule: Rule, bins: dict[int, Bin], keys: list[int], burst: list[Any]) -> Burst:
        """The burst of a share rule's finding (:meth:`_scan_share`), its members and its evidence."""
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
        return b

    # -- settling: forgetting what can no longer matter ------------------------------------------------------
    def _context(self, call: Any) -> Context:
        raise NotImplementedError  # (the engine's)

    def settle(self, pending: Iterable[Any], start: float, end: float, record: float) -> None:
        """Forget what no record still to come can change (no finding changes, nor its order): count-rule
        records more than a window older than any record their group can still get, share-rule windows
        that can no longer change (:meth:`_settle_bins`).  The state then follows the last windows'
        traffic, not the history.  The caller promises what can still come (fed, accepted or merged):
        records of the calls of ``pending`` (open, or finished and not yet refined; a called number may
        still grow), of calls not seen yet with IAM time >= ``start`` and release time >= ``end``, and
        circuit records >= ``record`` (:meth:`sigdiag.rules.stream.PointStream.settle`).  ``max_groups``
        counts the groups held, so it is reached later.  A later part (``part_start``) settles its
        count rules only (its first windows need the bins of the part before)."""
        calls = _Pending(pending, self._context, self._pending_contexts)
        horizon: dict[str, float] = {}
        for rule in self.rules:
            if rule.windowed:
                if rule.scope == "circuit":
                    horizon[rule.id] = record
                elif rule.share is not None or rule.time_of == "start":
                    horizon[rule.id] = start
                else:
                    horizon[rule.id] = end
                if rule.share is not None and self.part_start is None:
                    seconds = {} if rule.scope == "circuit" else calls.seconds(rule)
                    self._settle_bins(rule, horizon[rule.id], seconds)
        self._settle_counts(horizon, calls)

    def _settle_counts(self, horizon: dict[str, float], calls: _Pending) -> None:
        """:meth:`settle` for the count rules: a group whose records are all a window before any it can
        still get is as if it had none (the next starts a new window either way).  A single record goes;
        a window keeps its place (the order bursts are written out at the end) without its records (the
        periodic sweep takes it); an open burst stays until its group's next record or the end."""
        limit: dict[str, float] = {}  # the records of a group before it: perhaps too old to matter
        for rule in self.rules:
            if rule.windowed and rule.share is None:
                assert rule.window_s is not None
                limit[rule.id] = horizon[rule.id] - rule.window_s - _SLACK
        old: list[tuple[tuple[str, Any], float]] = []
        for key, (t, _member) in self._singles.items():
            if t < limit[key[0]]:
                old.append((key, t))
        singles = len(old)
        for key, w in self.windows.items():
            if w.burst is None and w.entries and w.entries[-1][0] < limit[key[0]]:
                old.append((key, w.entries[-1][0]))
        dropped: list[tuple[str, Any]] = []
        for i, (key, t) in enumerate(old):
            rule = self.rules[key[0]]
            assert rule.window_s is not None
            if rule.scope != "circuit":
                pins = calls.pins(rule)
                if _pinned(pins, key[1], rule.group_by == "called") - t <= rule.window_s + _SLACK:
                    continue  # a call not judged yet may still come within a window of it
            if i < singles:
                del self._singles[key]
                self._groups[key[0]] -= 1
                dropped.append(key)
            else:
                self.windows[key].entries.clear()
        if dropped and self._heads is not None:  # a later part: what it judged itself stays known as such
            self._settled.update(dropped)

    def _settle_bins(self, rule: Rule, horizon: float, seconds: dict[Any, list[int]]) -> None:
        """:meth:`settle` for a share rule: in each group the windows that can no longer change (every
        second before ``horizon`` is complete but those of the group's pending calls) are judged between
        *clean* seconds (no window that holds or may change ends in the ``n`` before: no burst crosses
        them); their bursts wait for the end (:class:`SecondBins`), the bins only they needed go.  A call
        open for an hour keeps the bins of its own windows, not the hour's."""
        by_prefix = rule.group_by == "called"
        for key, bins in self._bins.items():
            if key[0] != rule.id or not bins or not math.isfinite(horizon):
                continue
            if by_prefix:
                g = str(key[1])
                pending = sorted({t for i in range(len(g) + 1) for t in seconds.get(g[:i], ())})
            else:
                pending = sorted(set(seconds.get(key[1], ())))
            if not isinstance(bins, SecondBins):
                bins = self._bins[key] = SecondBins(bins)
            self._judge_bins(rule, bins, math.floor(horizon), pending)

    def _judge_bins(self, rule: Rule, bins: SecondBins, cut: int, pending: list[int]) -> None:
        """:meth:`_settle_bins` for one group: the windows ending from ``cut`` on, and those of the
        ``pending`` seconds, may change."""
        assert rule.window_s is not None
        n = max(1, math.ceil(rule.window_s))
        keys = sorted(bins)
        judged = bins.judged
        unknown, bad = _share_status(rule, bins, keys, cut, pending)
        clean = _Clean(bad, n)
        bins.first = _first_second(bins)
        found: list[Judged] = []
        edges = [(-math.inf, -math.inf), *((a, b) for a, b, _ in judged), (math.inf, math.inf)]
        for (_, g0), (g1, _) in pairwise(edges):  # each stretch not judged yet, up to ``cut``
            if g0 >= cut:
                break
            start = g0
            for x in [*unknown[bisect_left(unknown, g0) : bisect_left(unknown, g1)], g1]:
                a = start if start == g0 else clean.after(start)
                b = x if x == g1 else clean.before(x)
                if a < b:
                    closed, burst = self._scan_share(rule, bins, keys, a, b)
                    if burst is not None:  # (``b`` is clean: nothing after it can touch the burst)
                        closed.append(self._share_burst(rule, bins, keys, burst))
                    found.append((a, b, closed))
                if x >= cut:  # every window from there on may still change
                    break
                start = x + n + 1
        if not found:
            return
        merged: list[Judged] = []
        for a, b, bursts in sorted([*judged, *found], key=lambda x: x[0]):
            if merged and merged[-1][1] >= a:
                merged[-1] = (merged[-1][0], b, merged[-1][2] + bursts)
            else:
                merged.append((a, b, bursts))
        bins.judged = merged
        for a, b, _ in merged:  # the bins only judged windows held
            for k in keys[bisect_left(keys, a) : bisect_left(keys, b - n + 1)]:
                bins.pop(k, None)

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
        for (rid, group), bins in sorted(self._bins.items(), key=lambda kv: _first_second(kv[1])):
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
            if getattr(other_bins, "judged", None):
                raise ValueError("a later part's share bins were settled: its first windows needed ours")
            if mine is None:
                self._bins[key] = other_bins
                continue
            rule = self.rules[key[0]]
            assert rule.window_s is not None
            n = max(1, math.ceil(rule.window_s))
            for a, b, _ in getattr(mine, "judged", ()):
                if any(a - 2 * n < s < b for s in other_bins):  # a window judged, or its edge, would change
                    raise ValueError(f"a later part has records of {key} where this engine settled")
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
