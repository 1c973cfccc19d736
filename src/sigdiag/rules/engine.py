"""The rule engine: call records and circuit records in, findings out, streaming.

:class:`Engine` evaluates

* **call rules** (``scope: call``, no window) on every finished call: a match is a finding about that
  call, and a rule with an ``outcome`` refines the call's outcome (:meth:`Call.override_outcome`) before
  the call is counted anywhere;
* **windowed rules** (``window`` + ``threshold``; scope ``trunk-window``, or ``call``/``circuit`` with a
  window), per group (trunk, called number, ...) in windows of ``seconds``:

  - *count rules* (no ``share``): when at least ``count`` records match within a sliding window, a burst
    opens; it grows while matches keep coming within the window and is one finding when it ends
    (``window_start``/``window_end``: the times of its first and last match, ``count``, the members);
  - *share rules* (``share``, ``of``, ``min_population``): the population is the records that satisfy
    ``of``, the matches are those of the population that match; a window holds when it has at least
    ``count`` matches, ``min_population`` records and matches / population >= ``share``.  Both are
    counted over the same records: those whose IAM is in the window.  The finding of a burst of such
    windows gives its worst window's ``count``, ``population`` and ``rate`` (at most 1) and edges
    (:meth:`Engine._flush_bins`);
* **circuit rules** (``scope: circuit``) on circuit supervision messages and orphan messages.

Time is the records' own: in count rules a call counts at its release (``time: release``, the default:
calls finish in about that order) or at its IAM (``time: start``); in share rules always at its IAM.
Memory is bounded: count rules keep per group only the records of the last window, and at most
``threshold.count`` of them once a burst is open (the burst counts the rest); share rules one bin per
second with traffic; at most :data:`MAX_MEMBERS` member references per finding (the count goes on).
Each windowed rule keeps at most ``max_groups`` groups (a rule setting, default
:data:`DEFAULT_MAX_GROUPS`): beyond it the groups seen longest ago are dropped (count rules: a group's open
burst is written out first) or evaluated at once (share rules), and :attr:`Engine.evicted` counts them
(:meth:`Engine.bound_warnings`).
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from operator import attrgetter
from typing import Any

from sigdiag.rules.language import (
    CALL_FACTS,
    EVENT_FACTS,
    OPERATORS,
    Context,
    TemplateValues,
    render_template,
    trunk_name,
)
from sigdiag.rules.loader import Rule, RuleError, RuleSet

__all__ = ["DEFAULT_MAX_GROUPS", "FINDING_KEYS", "MAX_MEMBERS", "Engine", "Finding"]

#: Member calls/records kept per windowed finding (the count is exact beyond it).
MAX_MEMBERS = 1000
#: Groups (called numbers, trunks, ...) a windowed rule keeps at most, unless the rule has a
#: ``max_groups`` setting.
DEFAULT_MAX_GROUPS = 100_000

#: Keys of :meth:`Finding.as_dict`, in output order.
FINDING_KEYS: tuple[str, ...] = (
    "rule",
    "severity",
    "category",
    "scope",
    "title",
    "call_id",
    "protocol",
    "opc",
    "dpc",
    "cic",
    "iam_frame",
    "start",
    "called",
    "calling",
    "outcome",
    "outcome_detail",
    "trunk",
    "link",
    "links",
    "confidence",
    "window_start",
    "window_end",
    "count",
    "population",
    "rate",
    "calls",
    "frames",
    "evidence",
    "message",
    "recommendation",
    "ladder",
)


@dataclass
class Finding:
    """One diagnosis: a rule that matched a call, a burst of records, or a circuit record."""

    rule: str
    severity: str
    category: str
    scope: str
    title: str
    message: str
    recommendation: str
    evidence: dict[str, Any]
    frames: list[int]
    ts: float
    call_id: int | None = None
    protocol: str | None = None
    opc: int | None = None
    dpc: int | None = None
    cic: int | None = None
    iam_frame: int | None = None
    start: float | None = None
    called: str | None = None
    calling: str | None = None
    outcome: str | None = None
    outcome_detail: str | None = None
    trunk: str | None = None
    link: str | None = None  # the signalling link (one), see links
    links: list[str] | None = None  # every link of the call(s) or record(s) of the finding
    #: "low" when a link of the finding decodes with too many anomalous messages (the point-code format
    #: is likely wrong: :attr:`sigdiag.decode.LinkReport.low_confidence`), else "normal"
    confidence: str = "normal"
    window_start: float | None = None
    window_end: float | None = None
    count: int | None = None
    population: int | None = None
    rate: float | None = None
    calls: list[int] | None = None
    ladder: list[dict[str, Any]] | None = None
    members: list[dict[str, Any]] = field(default_factory=list)
    file: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The finding with exactly :data:`FINDING_KEYS` (JSON-ready)."""
        return {k: getattr(self, k) for k in FINDING_KEYS}


def _max_groups(rule: Rule) -> int:
    """The ``max_groups`` setting of a windowed rule (:data:`DEFAULT_MAX_GROUPS` without one)."""
    value = rule.settings.get("max_groups", DEFAULT_MAX_GROUPS)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise RuleError(f"setting {rule.id}.max_groups must be a whole number of at least 1, not {value!r}")
    return value


# -- ladders -----------------------------------------------------------------------------------------------
def _summary_of(m: Any) -> str:
    """A few words on a message for the ladder: digits, cause."""
    if m is None:
        return ""
    t = m.type
    if t == "IAM":
        st = "" if m.called_complete else " (no ST)"
        calling = f", calling {m.calling}" if m.calling else ", no calling number"
        return f"called {m.called}{st}{calling}"
    if t == "SAM":
        return f"digits {m.subsequent}" + (" + ST" if m.called_complete else "")
    if m.cause is not None:
        from sigdiag.codec.names import cause_name, location_short

        return f"cause {m.cause} ({cause_name(m.cause)}), location {location_short(m.cause_location)}"
    return ""


@cache
def _ladder_decodes() -> frozenset[str]:
    """Message types whose ladder line always needs decoding: SAM (digits) and those with the cause
    indicators as a mandatory parameter (REL, CFN, ...); other types say something only when an optional
    cause indicators parameter (code 0x12) is in their octets."""
    from sigdiag.codec.messages import ANSI_MESSAGES, ITU_MESSAGES

    cause = 0x12
    types = {"SAM"}
    for table in (ITU_MESSAGES, ANSI_MESSAGES):
        types.update(spec.abbr for spec in table.values() if cause in spec.variable)
    return frozenset(types)


def ladder_of(call: Any) -> list[dict[str, Any]]:
    """The call's messages with their offset from the IAM (ms), direction and a few words each (the
    messages are decoded again from the timeline's octets)."""
    from sigdiag.rules.language import decode_timeline_entry

    t0 = call.start
    iam = call.iam
    always = _ladder_decodes()
    out = []
    for entry in call.timeline:
        frame, ts, type_, direction, raw = entry
        if frame == iam.frame:
            m = iam
        elif type_ in always or b"\x12" in raw:
            m = decode_timeline_entry(call, entry)
        else:  # no digits, and no cause indicators (parameter 0x12) can be in these octets: nothing to say
            m = None
        out.append(
            {
                "frame": frame,
                "offset_ms": round((ts - t0) * 1000.0, 1),
                "direction": "forward" if direction == 0 else "backward" if direction == 1 else "unknown",
                "type": type_,
                "info": _summary_of(m),
            }
        )
    return out


# -- windows -----------------------------------------------------------------------------------------------
#: what a windowed finding keeps of a member call: (field name in the finding, attribute of the call).  A
#: member is a tuple of the attributes (made for every matching call); :func:`_member_dict` names them
#: when the finding is written.
_MEMBER = (
    ("call_id", "call_id"),
    ("iam_frame", "iam.frame"),
    ("ts", "start"),
    ("opc", "opc"),
    ("dpc", "dpc"),
    ("cic", "cic"),
    ("called", "called"),
    ("calling", "calling"),
    ("cause", "cause"),
    ("outcome", "outcome"),
    ("conversation_s", "conversation_s"),
)
_MEMBER_FIELDS = (*(name for name, _ in _MEMBER), "links")
_call_attrs = attrgetter(*(attr for _, attr in _MEMBER))
_MEMBER_TS = _MEMBER_FIELDS.index("ts")


def _call_member(call: Any) -> tuple[Any, ...]:
    """A member call as a tuple of :data:`_MEMBER_FIELDS` (``links``: the links the call was seen on)."""
    return (*_call_attrs(call), getattr(call, "links", None))


def _member_order(m: dict[str, Any]) -> tuple[float, str, str, str]:
    """Members in time order; at the same time by circuit, so that the finding (its first member's point
    codes and numbers) does not depend on the order in which records of different circuits came."""
    return (m.get("ts") or 0.0, str(m.get("opc")), str(m.get("dpc")), str(m.get("cic")))


def _links_of(members: list[dict[str, Any]]) -> list[str]:
    """Every link of the member calls or records, in the order first seen."""
    out: list[str] = []
    for m in members:
        for link in m.get("links") or ([m["link"]] if m.get("link") else []):
            if link not in out:
                out.append(link)
    return out


def _type_mask(types: frozenset[str]) -> int:
    """Bits of the message type codes (any variant) of these message names, as in ``Call.types``."""
    from sigdiag.codec.messages import ANSI_MESSAGES, ITU_MESSAGES

    mask = 0
    for table in (ITU_MESSAGES, ANSI_MESSAGES):
        for code, spec in table.items():
            if spec.abbr in types:
                mask |= 1 << code
    return mask


def _grouper(group_by: str | None) -> Callable[[Context], Any]:
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


def _member_dict(m: Any) -> dict[str, Any]:
    """A member of a windowed finding as a mapping (call members are tuples until then)."""
    if isinstance(m, dict):
        return m
    d = dict(zip(_MEMBER_FIELDS, m, strict=True))
    d["frame"] = d["iam_frame"]
    return d


class _Burst:
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


class _Window:
    """Sliding window of one count rule over one group: the matching records of the last window."""

    __slots__ = ("burst", "entries")

    def __init__(self) -> None:
        self.entries: deque[tuple[float, Any]] = deque()  # (time, member), in time order
        self.burst: _Burst | None = None


class Engine:
    """Evaluates a :class:`RuleSet`.  Feed it with :meth:`refine` (every finished call, before it is
    counted: usable as a refiner of :mod:`sigdiag.calls.pipeline`), :meth:`circuit_event` and
    :meth:`orphan` (the correlator's callbacks); :meth:`finish` at the end; :meth:`take` drains the
    findings so far."""

    def __init__(
        self,
        rules: RuleSet,
        trunks: Any = None,
        file: str | None = None,
        pc: Callable[[int], str] = str,
    ) -> None:
        self.rules = rules
        self.pc = pc
        self.trunks = trunks
        self.file = file
        self.call_rules = [r for r in rules if r.scope != "circuit" and not r.windowed]
        self.refining = [r for r in self.call_rules if r.outcome is not None]
        self.call_windows = [r for r in rules if r.scope != "circuit" and r.windowed]
        self.circuit_rules = [r for r in rules if r.scope == "circuit" and not r.windowed]
        self.circuit_windows = [r for r in rules if r.scope == "circuit" and r.windowed]
        # the hot loop's view of the rules: (rule, compiled test[, population test, share rule])
        self._call_tests = [(r, r.match.test, r.match.guard) for r in self.call_rules]
        self._index_call_rules()
        self._window_tests = [
            (
                r,
                r.match.test,
                r.match.exact,
                r.of,
                r.share is not None,
                r.match.guard,
                _grouper(r.group_by),
                r.time_of == "start",
            )
            for r in self.call_windows
        ]
        self._trunk_cache: dict[tuple[Any, ...], str] = {}
        self.windows: dict[tuple[str, Any], _Window] = {}
        self._singles: dict[tuple[str, Any], tuple[float, Any]] = {}
        self.findings: list[Finding] = []
        self.calls = 0
        self.records = 0
        self.capture_end: float | None = None
        #: the time of the input's latest record (the correlator's clock): the capture end for open calls
        self.clock: Any = None
        self.matches: dict[str, int] = {r.id: 0 for r in rules}
        self._now = float("-inf")
        self._adds = 0
        # share rules: per (rule, group), 1-second bins of [matched, population, members, file], evaluated
        # at the end
        self._bins: dict[tuple[str, Any], dict[int, list[Any]]] = {}
        # the memory bound of each windowed rule: max_groups, groups held now, groups evicted so far
        self.max_groups = {r.id: _max_groups(r) for r in rules if r.windowed}
        self._groups: dict[str, int] = dict.fromkeys(self.max_groups, 0)
        #: groups dropped (count rules) or evaluated early (share rules) by max_groups: rule id -> how many
        self.evicted: dict[str, int] = {}

    def _index_call_rules(self) -> None:
        """Which call rules a call can match, from cheap facts of the call record: rules whose guard is
        ``eq`` on a plain attribute are indexed by the value; rules whose guard is ``contains`` need the
        attribute non-empty (``flags``); rules that need a message type need its bit in ``call.types``.
        The rest are always tried.  Every rule still runs its own guard and test: the index only skips
        rules that cannot match."""
        eq, contains = OPERATORS["eq"], OPERATORS["contains"]
        always: list[int] = []
        by_value: dict[str, tuple[Any, dict[Any, list[int]]]] = {}
        by_truthy: dict[str, tuple[Any, list[int]]] = {}
        by_types: list[tuple[int, list[int]]] = []
        for i, rule in enumerate(self.call_rules):
            g = rule.match.guard
            get, name, f, v = (g[0], g[1], g[2], g[3]) if g is not None else (None, "", None, None)
            if get is not None and f is eq and isinstance(v, int | str | float | bool | None):
                by_value.setdefault(name, (get, {}))[1].setdefault(v, []).append(i)
            elif get is not None and f is contains and v != "":
                by_truthy.setdefault(name, (get, []))[1].append(i)
            elif rule.match.needs is not None:
                by_types.append((_type_mask(rule.match.needs), [i]))
            else:
                always.append(i)
        self._always = always
        self._by_value = [(get, {k: tuple(v) for k, v in table.items()}) for get, table in by_value.values()]
        self._by_truthy = [(get, tuple(idx)) for get, idx in by_truthy.values()]
        self._by_types = [(mask, tuple(idx)) for mask, idx in by_types]

    def _candidates(self, call: Any) -> list[int]:
        """Indexes (in rule order) of the call rules that this call can match (:meth:`_index_call_rules`)."""
        extra: list[int] = []
        for get, table in self._by_value:
            hit = table.get(get(call))
            if hit is not None:
                extra += hit
        for get, idx in self._by_truthy:
            if get(call):
                extra += idx
        if self._by_types:
            types = call.types  # a bit per message type code of the timeline
            for mask, idx in self._by_types:
                if types & mask:
                    extra += idx
        if not extra:
            return self._always
        extra += self._always
        extra.sort()
        return extra

    # -- calls -----------------------------------------------------------------------------------------------
    def _context(self, call: Any) -> Context:
        return Context(
            CALL_FACTS,
            call=call,
            trunks=self.trunks,
            capture_end=self._end_for(call),
            pc=self.pc,
            trunk_cache=self._trunk_cache,
        )

    def refine(self, call: Any) -> None:
        """Evaluate every call rule and windowed call rule on a finished call."""
        self.calls += 1
        ctx: Context | None = None  # made when a rule gets past its guard (most calls: never)
        tests = self._call_tests
        for i in self._candidates(call):
            rule, test, guard = tests[i]
            if guard is not None:  # the rule's first plain test, inline (most rules stop here)
                get, name, f, v, none_ok = guard
                if get is not None:
                    x = get(call)
                else:
                    if ctx is None:
                        ctx = self._context(call)
                    x = ctx._cache[name] if name in ctx._cache else ctx.fact(name)
                if (x is None and not none_ok) or not f(x, v):
                    continue
            if ctx is None:
                ctx = self._context(call)
            if ctx.evidence:
                ctx.evidence = {}
            if ctx.labels:
                ctx.labels = []
            if test(ctx):
                self.matches[rule.id] += 1
                if rule.outcome is not None:
                    call.override_outcome(rule.outcome[0], rule.outcome[1], rule.id)
                self.findings.append(self._call_finding(rule, call, ctx))
        if not self._window_tests:
            return
        if ctx is None:
            ctx = self._context(call)
        cache = ctx._cache
        t_rel = call.rel_ts if call.rel_ts is not None else (call.end_ts or call.last_ts)
        member = None
        for rule, test, exact, of, share, guard, group_of, at_start in self._window_tests:
            passed = True
            if guard is not None:
                get, name, f, v, none_ok = guard
                x = get(call) if get is not None else cache[name] if name in cache else ctx.fact(name)
                passed = (x is not None or none_ok) and f(x, v)
            if exact:  # the guard was the whole test
                matched = passed
            elif passed:
                if ctx.evidence:
                    ctx.evidence = {}
                if ctx.labels:
                    ctx.labels = []
                matched = test(ctx)
            else:
                matched = False
            if not share:  # a count rule: only its matching calls
                if matched:
                    group = group_of(ctx)
                    if group is not None:
                        if member is None:
                            member = _call_member(call)
                        self._window_add(rule, group, call.start if at_start else t_rel, member)
                continue
            # a share rule: every call of the population counts; a match outside it does not
            if of is None:
                in_pop = True
            elif of.exact:  # a plain field test, inline
                get, name, f, v, none_ok = of.guard
                x = get(call) if get is not None else cache[name] if name in cache else ctx.fact(name)
                in_pop = (x is not None or none_ok) and f(x, v)
            else:
                in_pop = of.test(ctx)
            if not in_pop:
                continue
            group = group_of(ctx)
            if group is None:
                continue
            if matched and member is None:
                member = _call_member(call)
            self._bin(rule, group, call.start, member if matched else None)

    def outcome_only(self) -> Engine:
        """An engine with only the rules that refine outcomes (what ``calls`` and ``stats`` apply)."""
        return Engine(RuleSet(self.refining), self.trunks, self.file, self.pc)

    def _end_for(self, call: Any) -> float | None:
        if call.end_reason == "open":
            if self.clock is not None:
                return float(self.clock())
            return self.capture_end if self.capture_end is not None else call.last_ts
        return call.end_ts

    def _values(self, rule: Rule, base: dict[str, Any], ctx: Context | None) -> dict[str, Any]:
        """Template values: settings, the record, the evidence, and ``because`` (the labels of the
        conditions that held, themselves templates); point codes as the user prints them."""
        values: dict[str, Any] = TemplateValues(rule.settings, ctx)
        values.update(base)
        for k in ("opc", "dpc"):
            if isinstance(values.get(k), int):
                values[k] = self.pc(values[k])
        if ctx is not None:
            values.update(ctx.evidence)
            if ctx.labels:
                values["because"] = "; ".join(render_template(label, values) for label in ctx.labels)
        return values

    def _call_finding(self, rule: Rule, call: Any, ctx: Context) -> Finding:
        from sigdiag.codec.names import cause_name, location_short

        evidence = dict(ctx.evidence)
        calling_prefix = (call.calling or "")[: max(len(call.calling or "") - 4, 0)] or call.calling
        base = {
            "call_id": call.call_id,
            "opc": call.opc,
            "dpc": call.dpc,
            "cic": call.cic,
            "called": call.called,
            "calling": call.calling,
            "called_prefix": call.iam.called,
            "calling_prefix": calling_prefix,
            "cause": call.cause,
            "cause_name": cause_name(call.cause) if call.cause is not None else None,
            "cause_location": location_short(call.cause_location),  # text: "TN" (Q.850 abbreviation)
            "released_by": call.released_by,
            "trunk": ctx.fact("trunk"),
            "iam_frame": call.iam.frame,
            "sam_count": call.sam_count,
            "conversation_s": call.conversation_s,
            "held_s": ctx.fact("held_s") if call.anm_ts is not None else None,
            "outcome": call.outcome,
            "outcome_detail": call.outcome_detail,
            "calling_nai": ctx.fact("calling_nai"),
            "calling_plan": ctx.fact("calling_plan"),
            "hop_counter": ctx.fact("hop_counter"),
        }
        values = self._values(rule, base, ctx)
        if ctx.labels:
            evidence["because"] = values["because"]
        for k in ("cause", "released_by", "sam_count"):
            evidence.setdefault(k, base[k])
        return self._finding(
            rule,
            values,
            evidence,
            frames=[t[0] for t in call.timeline],
            ts=call.start,
            call_id=call.call_id,
            protocol=call.protocol,
            opc=call.opc,
            dpc=call.dpc,
            cic=call.cic,
            iam_frame=call.iam.frame,
            start=call.start,
            called=call.called,
            calling=call.calling,
            outcome=call.outcome,
            outcome_detail=call.outcome_detail,
            trunk=base["trunk"],
            link=getattr(call, "link", None),
            links=list(getattr(call, "links", None) or ()) or None,
            ladder=ladder_of(call),
        )

    def _finding(
        self, rule: Rule, values: dict[str, Any], evidence: dict[str, Any], **fields: Any
    ) -> Finding:
        """A finding of ``rule``: its identity, the templates filled from ``values``, and ``fields``."""
        return Finding(
            rule=rule.id,
            severity=rule.severity,
            category=rule.category,
            scope=rule.scope,
            title=rule.title,
            message=render_template(rule.message, values).strip(),
            recommendation=render_template(rule.recommendation, values).strip(),
            evidence=evidence,
            **({"file": self.file} | fields),
        )

    @staticmethod
    def _group(rule: Rule, ctx: Context) -> Any:
        """The group of a circuit record for a windowed rule (calls: :func:`_grouper`)."""
        g = rule.group_by
        rec = ctx.record
        if g == "trunk":
            return rec.get("trunk")
        if g == "all":
            return "all"
        if g == "opc-dpc":
            return f"{rec.get('opc')}-{rec.get('dpc')}"
        return rec.get("key")

    # -- windows -----------------------------------------------------------------------------------------
    def _window_add(self, rule: Rule, group: Any, t: float, member: Any) -> None:
        """A matching record of a count rule: a sliding window per group (share rules: :meth:`_bin`)."""
        assert rule.window_s is not None
        self._adds += 1
        if t > self._now:
            self._now = t
        if self._adds % 20_000 == 0:
            self._sweep()
        key = (rule.id, group)
        w = self.windows.get(key)
        entry = (t, member)
        if w is None:
            # Most groups of a rule grouped by number never see a second record: keep their one record
            # as a plain tuple (no window object, nothing for the garbage collector to walk) until
            # a second one comes.
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
            w = self.windows[key] = _Window()
            if first is not None:
                w.entries.append(first)
        entries = w.entries
        # close a burst that the window has left behind
        if w.burst is not None and t - w.burst.last > rule.window_s:
            self._emit_burst(rule, group, w)
        if not entries or t >= entries[-1][0]:
            entries.append(entry)
        else:  # a few ms out of order: insert in place
            i = len(entries)
            while i > 0 and entries[i - 1][0] > t:
                i -= 1
            entries.insert(i, entry)
        horizon = entries[-1][0] - rule.window_s
        while entries[0][0] < horizon:
            entries.popleft()
        if len(entries) >= rule.count:
            b = w.burst
            if b is None:
                # the burst opens: every match still in the window belongs to it
                b = w.burst = _Burst(self.file)
                for et, mem in entries:
                    b.add(et, mem)
            else:
                b.add(t, member)
                # the burst counts its records: the window needs only its newest ``count`` (the burst
                # ends when a record comes a whole window after its last, and then every entry is old)
                if len(entries) > rule.count:
                    entries.popleft()

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

    def _emit_burst(self, rule: Rule, group: Any, w: _Window) -> None:
        b = w.burst
        w.burst = None
        if b is not None:
            self._emit(rule, group, b)

    def _emit(self, rule: Rule, group: Any, b: _Burst) -> None:
        if b.count == 0:
            return
        self.matches[rule.id] += 1
        members = sorted((_member_dict(m) for m in b.members), key=_member_order)
        calls = [m["call_id"] for m in members if m.get("call_id") is not None]
        frames = sorted({m["frame"] for m in members if m.get("frame") is not None})
        first = members[0] if members else {}
        links = _links_of(members)
        values = {
            "group": group,
            "trunk": group if rule.group_by == "trunk" else None,
            "count": b.count,
            "window_s": rule.window_s,
            "duration_s": round(b.last - b.first, 3),
            "population": b.population,
            "rate": round(b.count / b.population, 4) if b.population else None,
            "rate_pct": round(100.0 * b.count / b.population, 1) if b.population else None,
            **b.extra,
            "called": first.get("called"),
            "calling": first.get("calling"),
            "causes": sorted({m["cause"] for m in members if m.get("cause") is not None}),
            "types": sorted({m["type"] for m in members if m.get("type")}),
            "cics": sorted({c for m in members for c in (m.get("cics") or [m.get("cic")]) if c is not None}),
            "opc": first.get("opc"),
            "dpc": first.get("dpc"),
        }
        vals = self._values(rule, values, None)
        evidence = {k: v for k, v in values.items() if v not in (None, []) and k not in ("called", "calling")}
        evidence["group_by"] = rule.group_by
        self.findings.append(
            self._finding(
                rule,
                vals,
                evidence,
                frames=frames,
                ts=b.first,
                opc=first.get("opc"),
                dpc=first.get("dpc"),
                cic=first.get("cic") if len({m.get("cic") for m in members}) == 1 else None,
                called=first.get("called") if rule.group_by == "called" else None,
                calling=first.get("calling") if rule.group_by == "calling" else None,
                trunk=self._trunk_of_members(members) if rule.group_by != "trunk" else str(group),
                link=links[0] if len(links) == 1 else None,
                links=links or None,
                window_start=b.first,
                window_end=b.last,
                count=b.count,
                population=values["population"],
                rate=values["rate"],
                calls=calls or None,
                members=members,
                file=b.file or self.file,
            )
        )

    def _trunk_of_members(self, members: list[dict[str, Any]]) -> str | None:
        names = {
            trunk_name(
                self.trunks, m.get("opc"), m.get("dpc"), m.get("cic"), m.get("carrier") or "-", self.pc
            )
            for m in members
        }
        return names.pop() if len(names) == 1 else None

    # -- circuit records -----------------------------------------------------------------------------------
    def circuit_event(self, ev: Any) -> None:
        """A circuit supervision message (correlator callback)."""
        self.record(self.circuit_record(ev))

    def orphan(self, o: Any) -> None:
        """A message of no call in the capture (correlator callback)."""
        self.record(self.orphan_record(o))

    @staticmethod
    def circuit_record(ev: Any) -> dict[str, Any]:
        """The circuit record of a circuit supervision message (what circuit rules see)."""
        return {
            "record": "circuit-event",
            "type": ev.type,
            "frame": ev.frame,
            "ts": ev.ts,
            "opc": ev.opc,
            "dpc": ev.dpc,
            "cic": ev.cics[0] if ev.cics else None,
            "cics": list(ev.cics),
            "circuits": len(ev.cics),
            "reason": None,
            "protocol": ev.protocol,
            "link": getattr(ev, "link", None),
        }

    @staticmethod
    def orphan_record(o: Any) -> dict[str, Any]:
        """The circuit record of an orphan message."""
        return {
            "record": "orphan",
            "type": o.type,
            "frame": o.frame,
            "ts": o.ts,
            "opc": o.opc,
            "dpc": o.dpc,
            "cic": o.cic,
            "cics": [o.cic] if o.cic is not None else [],
            "circuits": 1,
            "reason": o.reason,
            "protocol": o.protocol,
            "link": getattr(o, "link", None),
            "links": getattr(o, "links", None),
        }

    def record(self, rec: dict[str, Any]) -> None:
        """Evaluate the circuit rules on a circuit record (:meth:`circuit_record`, :meth:`orphan_record`)."""
        self.records += 1
        opc, dpc, cic = rec["opc"], rec["dpc"], rec["cic"]
        rec["trunk"] = trunk_name(self.trunks, opc, dpc, cic, rec["protocol"] or "-", self.pc)
        lo, hi = (opc, dpc) if opc is not None and dpc is not None and opc > dpc else (dpc, opc)
        rec["key"] = f"{hi}-{lo}-{cic}"
        if not self.circuit_rules and not self.circuit_windows:
            return
        ctx = Context(EVENT_FACTS, record=rec, trunks=self.trunks, pc=self.pc)
        for rule in self.circuit_rules:
            ctx.evidence = {}
            ctx.labels = []
            if rule.match.test(ctx):
                self.matches[rule.id] += 1
                vals = self._values(rule, dict(rec), ctx)
                self.findings.append(
                    self._finding(
                        rule,
                        vals,
                        {"type": rec["type"], "cics": rec["cics"], "reason": rec["reason"]},
                        frames=[rec["frame"]],
                        ts=rec["ts"],
                        opc=opc,
                        dpc=dpc,
                        cic=cic,
                        trunk=rec["trunk"],
                        link=rec.get("link"),
                        links=rec.get("links") or ([rec["link"]] if rec.get("link") else None),
                    )
                )
        for rule in self.circuit_windows:
            ctx.evidence = {}
            ctx.labels = []
            matched = rule.match.test(ctx)
            if rule.share is None:
                if matched:
                    group = self._group(rule, ctx)
                    if group is not None:
                        self._window_add(rule, group, rec["ts"], dict(rec))
                continue
            # a share rule: the records of the population count; a match outside it does not
            if rule.of is not None and not rule.of.test(ctx):
                continue
            group = self._group(rule, ctx)
            if group is not None:
                self._bin(rule, group, rec["ts"], dict(rec) if matched else None)

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
            b = bins[k] = [0, 0, [], self.file]
        b[1] += 1
        if member is not None:
            b[0] += 1
            if len(b[2]) < MAX_MEMBERS:
                b[2].append(member)

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

    def _flush_bins(self, rule: Rule, group: Any, bins: dict[int, list[Any]]) -> None:
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
                matched += b[0]
                population += b[1]
                hi += 1
            while lo < hi and keys[lo] <= k - n:
                b = bins[keys[lo]]
                matched -= b[0]
                population -= b[1]
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
        self, rule: Rule, group: Any, bins: dict[int, list[Any]], keys: list[int], burst: list[Any]
    ) -> None:
        """The finding of a share rule's burst (:meth:`_flush_bins`)."""
        start, end, (matched, population, lo, hi, ws, we) = burst
        b = _Burst(None)
        b.count, b.population, b.first, b.last = matched, population, float(ws), float(we)
        for key in keys[lo:hi]:
            bb = bins[key]
            if bb[0]:
                if b.file is None and len(bb) > 3:  # (audit states saved before bins had it)
                    b.file = bb[3]
                room = MAX_MEMBERS - len(b.members)
                b.members.extend(bb[2][:room])
        # the whole burst, from its first to its last second with a match
        i, j = bisect_left(keys, start), bisect_left(keys, end)
        hits = [key for key in keys[i:j] if bins[key][0]]
        bm = sum(bins[key][0] for key in hits)
        bp = sum(bins[key][1] for key in keys[bisect_left(keys, hits[0]) : bisect_left(keys, hits[-1] + 1)])
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

    # -- end -------------------------------------------------------------------------------------------------
    def finish(self) -> None:
        """Close every open burst and evaluate the share rules (end of the input)."""
        for (rid, group), w in list(self.windows.items()):
            if w.burst is not None:
                self._emit_burst(self.rules[rid], group, w)
        self.windows.clear()
        self._singles.clear()
        for (rid, group), bins in sorted(self._bins.items(), key=lambda kv: min(kv[1])):
            self._flush_bins(self.rules[rid], group, bins)
        self._bins.clear()
        self._groups = dict.fromkeys(self.max_groups, 0)

    def take(self) -> list[Finding]:
        out = self.findings
        self.findings = []
        return out

    def run(self, calls: Iterable[Any]) -> Iterator[Finding]:
        """Refine and evaluate a stream of calls, yielding findings as they come, then the bursts."""
        for call in calls:
            self.refine(call)
            if self.findings:
                yield from self.take()
        self.finish()
        yield from self.take()
