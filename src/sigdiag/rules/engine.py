"""The rule engine: call records and circuit records in, findings out, streaming.

:class:`Engine` evaluates

* **call rules** (``scope: call``, no window) on every finished call: a match is a finding about that
  call, and a rule with an ``outcome`` refines the call's outcome (:meth:`Call.override_outcome`) before
  the call is counted anywhere;
* **windowed rules** (``window`` + ``threshold``; scope ``trunk-window``, or ``call``/``circuit`` with a
  window): the records that match are counted per group (trunk, called number, ...) in a sliding window
  of ``seconds``; when at least ``count`` match (and, with ``share``, that share of the records that
  satisfy ``of``), a burst opens; it grows while the threshold keeps holding and is one finding when it
  ends (``window_start``, ``window_end``, ``count``, the member calls);
* **circuit rules** (``scope: circuit``) on circuit supervision messages and orphan messages.

Time is the records' own: a call counts at its release (``time: release``, the default: calls finish in
about that order) or at its IAM (``time: start``).  Memory is bounded: per group only the records of the
last window, and at most :data:`MAX_MEMBERS` member references per burst (the count goes on).
"""

from __future__ import annotations

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
from sigdiag.rules.loader import Rule, RuleSet

__all__ = ["FINDING_KEYS", "MAX_MEMBERS", "Engine", "Finding"]

#: Member calls/records kept per windowed finding (the count is exact beyond it).
MAX_MEMBERS = 1000

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
    "window_start",
    "window_end",
    "count",
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
    window_start: float | None = None
    window_end: float | None = None
    count: int | None = None
    calls: list[int] | None = None
    ladder: list[dict[str, Any]] | None = None
    members: list[dict[str, Any]] = field(default_factory=list)
    file: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The finding with exactly :data:`FINDING_KEYS` (JSON-ready)."""
        return {k: getattr(self, k) for k in FINDING_KEYS}


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
        from sigdiag.codec.names import cause_name

        return f"cause {m.cause} ({cause_name(m.cause)}), location {m.cause_location}"
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
_MEMBER_FIELDS = tuple(name for name, _ in _MEMBER)
_call_member = attrgetter(*(attr for _, attr in _MEMBER))
_MEMBER_TS = _MEMBER_FIELDS.index("ts")


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
    __slots__ = ("count", "file", "first", "last", "members", "population")

    def __init__(self, file: str | None) -> None:
        self.file = file  # the input file of the burst's first records (several files: windows span them)
        self.count = 0
        self.first = float("inf")
        self.last = float("-inf")
        self.members: list[Any] = []  # call member tuples or circuit record dicts
        self.population = 0

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
            if not matched and not share:
                continue
            if of is None:
                in_pop = True
            elif of.exact:  # a plain field test, inline
                get, name, f, v, none_ok = of.guard
                x = get(call) if get is not None else cache[name] if name in cache else ctx.fact(name)
                in_pop = (x is not None or none_ok) and f(x, v)
            else:
                in_pop = of.test(ctx)
            if not matched and not (share and in_pop):
                continue
            group = group_of(ctx)
            if group is None:
                continue
            t = call.start if at_start else t_rel
            if matched and member is None:
                member = _call_member(call)
            if share:
                self._bin(rule, group, t, matched, in_pop, member if matched else None)
            else:
                self._window_add(rule, group, t, matched, in_pop, member)

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
        from sigdiag.codec.names import cause_name

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
            "cause_location": call.cause_location,
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
    def _window_add(self, rule: Rule, group: Any, t: float, matched: bool, in_pop: bool, member: Any) -> None:
        """A record for a windowed rule: share rules count matches and population in bins (evaluated at
        the end); count rules get only their matching records, in a sliding window per group."""
        assert rule.window_s is not None
        if rule.share is not None:
            self._bin(rule, group, t, matched, in_pop, member)
            return
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

    def _sweep(self) -> None:
        """Drop the windows of groups that have been quiet for a whole window (bounded memory with
        many groups, e.g. one per called number), closing their bursts."""
        now = self._now
        for key, (t, _member) in list(self._singles.items()):
            rule = self.rules[key[0]]
            assert rule.window_s is not None
            if now - t > rule.window_s:
                del self._singles[key]
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

    def _emit_burst(self, rule: Rule, group: Any, w: _Window) -> None:
        b = w.burst
        w.burst = None
        if b is not None:
            self._emit(rule, group, b)

    def _emit(self, rule: Rule, group: Any, b: _Burst) -> None:
        if b.count == 0:
            return
        self.matches[rule.id] += 1
        members = sorted((_member_dict(m) for m in b.members), key=lambda m: m.get("ts") or 0.0)
        calls = [m["call_id"] for m in members if m.get("call_id") is not None]
        frames = sorted({m["frame"] for m in members if m.get("frame") is not None})
        first = members[0] if members else {}
        values = {
            "group": group,
            "trunk": group if rule.group_by == "trunk" else None,
            "count": b.count,
            "window_s": rule.window_s,
            "duration_s": round(b.last - b.first, 3),
            "population": b.population or None,
            "rate": round(b.count / b.population, 3) if b.population else None,
            "rate_pct": round(100.0 * b.count / b.population, 1) if b.population else None,
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
                window_start=b.first,
                window_end=b.last,
                count=b.count,
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
                    )
                )
        for rule in self.circuit_windows:
            ctx.evidence = {}
            ctx.labels = []
            matched = rule.match.test(ctx)
            in_pop = rule.of.test(ctx) if rule.of is not None else True
            if matched or (rule.share is not None and in_pop):
                group = self._group(rule, ctx)
                if group is not None:
                    self._window_add(rule, group, rec["ts"], matched, in_pop, dict(rec) if matched else None)

    # -- share rules -----------------------------------------------------------------------------------------
    # A share (e.g. a network-loss rate) needs every call of the window, but calls come out when they end:
    # an answered call that started in a window comes out minutes later, after the quick failures of the
    # same window.  Evaluating as calls come would overstate the share; so share rules count calls by
    # IAM time in one-second bins (memory: one bin per second with traffic, per group) and are
    # evaluated over the complete bins at the end.
    def _bin(self, rule: Rule, group: Any, t: float, matched: bool, in_pop: bool, member: Any) -> None:
        bins = self._bins.get((rule.id, group))
        if bins is None:
            bins = self._bins[(rule.id, group)] = {}
        k = int(t)
        b = bins.get(k)
        if b is None:
            b = bins[k] = [0, 0, [], self.file]
        b[0] += matched
        b[1] += in_pop
        if member is not None and len(b[2]) < MAX_MEMBERS:
            b[2].append(member)

    def _flush_bins(self, rule: Rule, group: Any, bins: dict[int, list[Any]]) -> None:
        assert rule.window_s is not None
        window = rule.window_s
        dq: deque[tuple[int, list[Any]]] = deque()
        matched = population = 0
        burst: _Burst | None = None
        added: set[int] = set()
        for k in sorted(bins):
            b = bins[k]
            if burst is not None and k - burst.last > window:
                self._emit(rule, group, burst)
                burst, added = None, set()
            dq.append((k, b))
            matched += b[0]
            population += b[1]
            while dq[0][0] < k - window:
                _, old = dq.popleft()
                matched -= old[0]
                population -= old[1]
            if not b[0] or matched < rule.count or population < max(rule.min_population, 1):
                continue
            assert rule.share is not None
            if matched / population < rule.share:
                continue
            if burst is None:
                burst = _Burst(None)
            for bk, bb in dq:
                if bb[0] and bk not in added:
                    added.add(bk)
                    if burst.file is None and len(bb) > 3:  # (audit states saved before bins had it)
                        burst.file = bb[3]
                    for m in bb[2]:
                        burst.add(m[_MEMBER_TS] if isinstance(m, tuple) else m["ts"], m)
                    burst.count += bb[0] - len(bb[2])  # members beyond the cap still count
            burst.population = max(burst.population, population)
        if burst is not None:
            self._emit(rule, group, burst)

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
