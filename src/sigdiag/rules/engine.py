"""The rule engine: call records and circuit records in, findings out, streaming.

One :class:`Engine` evaluates a :class:`~sigdiag.rules.loader.RuleSet`, and every driver feeds it the
same way: ``check`` in one process (:mod:`sigdiag.rules.check`), ``check`` with the engine in a second
process (:mod:`sigdiag.rules.parallel`) and the audit workers (:mod:`sigdiag.audit.worker`).

The API
-------
Input, in the order the correlator produces it:

* :meth:`Engine.refine` (a finished call, before it is counted anywhere: usable as a refiner of
  :mod:`sigdiag.calls.pipeline`), :meth:`Engine.circuit_event` and :meth:`Engine.orphan` (the
  correlator's callbacks), :meth:`Engine.record` (a circuit record already made);
* :meth:`Engine.feed`: the same as a :class:`Batch`, as it travels between processes: named columns
  (``calls`` and their ``clocks``: the input's clock when a call was handed out still open; circuit
  ``records``: :meth:`Engine.circuit_record`, :meth:`Engine.orphan_record`; input ``files``) and the
  order of the items (``kinds``).  A NamedTuple of lists: named, and it pickles as fast as the lists
  (an object per item would cost the busier main process a Python call per item).

Output: :meth:`Engine.findings` drains the findings so far (a call's findings when the call is refined,
a burst's when it ends); :meth:`Engine.finish` closes the open bursts and evaluates the share rules at
the end of the input (then :meth:`Engine.findings` once more).  ``bound_warnings()`` and ``evicted`` say
what the memory bounds dropped; ``calls``, ``records`` and ``matches`` count.

State: :meth:`Engine.snapshot` gives an :class:`EngineState` (a picklable dataclass: counters, pending
findings, the windows of the count rules, the bins of the share rules); :meth:`Engine.restore` puts one
into an engine made from the same rules, which then goes on exactly as the first would have (the audit
carries a capture point's state from one file to the next so).

Parts: the traffic cut in time into consecutive parts (issue 16) is judged by one engine per part, each
later part's made with ``part_start`` (the time its part starts), and merged in time order:
``first.merge(second.snapshot())``, then the third, ... and ``finish()`` on the first.  An engine with
``part_start`` keeps, per count-rule group that starts within a window of ``part_start``, the group's
records (its *head*, :class:`~sigdiag.rules.bins.Head`) until one comes more than a window after them:
only from then on can no record of an earlier part change what the group does, so only then does it judge
the group's records itself.  :meth:`Engine.merge` adds counters and evictions, takes the later part's
pending findings, adds share-rule bins second by second, sends the later part's heads through this
engine's windows in time order, and for every group the later part judged itself closes this engine's
window of the group (its burst is written out) and takes the later part's.  The findings are then those
of one engine over all the parts; their order may differ (a burst that a later part closes comes after
that part's pending findings), and so may the evictions of ``max_groups``, which each part applies to its
own groups.  A head lasts as long as the group's records keep coming within a window of each other (a
burst that lasts the whole part is held whole until the merge).  An engine with ``part_start`` that is
finished without a merge judges its heads first (as if nothing came before).  Configuration is not state:
the rules, ``trunks``, ``pc``, ``file`` and ``clock`` are the engine's own.

Rules
-----
* **call rules** (``scope: call``, no window) on every finished call: a match is a finding about that
  call, and a rule with an ``outcome`` refines the call's outcome (:meth:`Call.override_outcome`) before
  the call is counted anywhere;
* **windowed rules** (``window`` + ``threshold``; scope ``trunk-window``, or ``call``/``circuit`` with a
  window), per group (trunk, called number, ...) in windows of ``seconds`` (:mod:`sigdiag.rules.windows`):

  - *count rules* (no ``share``): when at least ``count`` records match within a sliding window, a burst
    opens; it grows while matches keep coming within the window and is one finding when it ends
    (``window_start``/``window_end``: the times of its first and last match, ``count``, the members);
  - *share rules* (``share``, ``of``, ``min_population``): the population is the records that satisfy
    ``of``, the matches are those of the population that match; a window holds when it has at least
    ``count`` matches, ``min_population`` records and matches / population >= ``share``.  Both are
    counted over the same records: those whose IAM is in the window.  The finding of a burst of such
    windows gives its worst window's ``count``, ``population`` and ``rate`` (at most 1) and edges;
* **circuit rules** (``scope: circuit``) on circuit supervision messages and orphan messages.

Time is the records' own: in count rules a call counts at its release (``time: release``, the default:
calls finish in about that order) or at its IAM (``time: start``); in share rules always at its IAM.
Memory is bounded: count rules keep per group only the records of the last window, and at most
``threshold.count`` of them once a burst is open (the burst counts the rest); share rules one bin per
second with traffic; at most :data:`MAX_MEMBERS` member references per finding (the count goes on).
Each windowed rule keeps at most ``max_groups`` groups (a rule setting, default
:data:`DEFAULT_MAX_GROUPS`): beyond it the groups seen longest ago are dropped (count rules: a group's open
burst is written out first) or evaluated at once (share rules), and :attr:`Engine.evicted` counts them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sigdiag.rules.bins import DEFAULT_MAX_GROUPS, MAX_MEMBERS, Bin, Head, Window, grouper, record_group
from sigdiag.rules.facts import CALL_FACTS, EVENT_FACTS, Context, trunk_name
from sigdiag.rules.findings import FINDING_KEYS, Finding, call_member
from sigdiag.rules.language import OPERATORS
from sigdiag.rules.loader import RuleSet
from sigdiag.rules.windows import WindowedRules

__all__ = [
    "CALL",
    "DEFAULT_MAX_GROUPS",
    "FILE",
    "FINDING_KEYS",
    "MAX_MEMBERS",
    "RECORD",
    "Batch",
    "Engine",
    "EngineState",
    "Finding",
    "Verdict",
]


#: What a call or a circuit record adds to the windowed rules (:meth:`Engine.judge`): per windowed rule
#: it enters, ``(rule id, group, time, member)`` (a share rule's member is None when the call is in the
#: population without matching).
Verdict = list[tuple[str, Any, float, Any]]


def _appender(out: Verdict) -> Callable[[Any, Any, float, Any], None]:
    """What the windowed rules would add, appended to ``out`` instead (:meth:`Engine.judge`)."""

    def append(rule: Any, group: Any, t: float, member: Any) -> None:
        out.append((rule.id, group, t, member))

    return append


# -- input batches -----------------------------------------------------------------------------------------
#: kinds of the items of a :class:`Batch`
CALL, RECORD, FILE = 0, 1, 2


class Batch(NamedTuple):
    """Input of the engine in named columns (how it travels between processes: a list per column pickles
    at the speed of a list, with no object per item).  ``kinds`` gives the items in order, one octet each:
    :data:`CALL` takes the next of ``calls`` (a finished call) and of ``clocks`` (the input's latest time
    when the call was handed out still open: its capture end; else None); :data:`RECORD` the next of
    ``records`` (a circuit record: :meth:`Engine.circuit_record`, :meth:`Engine.orphan_record`);
    :data:`FILE` the next of ``files`` (the records that follow come from that input file)."""

    kinds: bytearray
    calls: list[Any]
    clocks: list[float | None]
    records: list[dict[str, Any]]
    files: list[str]

    @classmethod
    def new(cls) -> Batch:
        return cls(bytearray(), [], [], [], [])

    def add_call(self, call: Any, clock: float | None = None) -> None:
        self.kinds.append(CALL)
        self.calls.append(call)
        self.clocks.append(clock)

    def add_record(self, record: dict[str, Any]) -> None:
        self.kinds.append(RECORD)
        self.records.append(record)

    def add_file(self, name: str) -> None:
        self.kinds.append(FILE)
        self.files.append(name)

    def clear(self) -> None:
        self.kinds.clear()
        self.calls.clear()
        self.clocks.clear()
        self.records.clear()
        self.files.clear()


@dataclass
class EngineState:
    """The run-time state of an :class:`Engine` (:meth:`Engine.snapshot`): picklable, named.  It holds the
    engine's own objects, not copies: pickle it (or stop feeding the engine) before the engine goes on."""

    #: ids of the rules, in order (a state goes only into an engine of the same rules)
    rules: tuple[str, ...]
    calls: int = 0
    records: int = 0
    #: findings per rule so far
    matches: dict[str, int] = field(default_factory=dict)
    #: groups dropped or evaluated early by ``max_groups``, per rule
    evicted: dict[str, int] = field(default_factory=dict)
    #: groups held now per windowed rule
    groups: dict[str, int] = field(default_factory=dict)
    capture_end: float | None = None
    #: the latest time a count rule saw, and how many records count rules took (their sweep's clock)
    now: float = float("-inf")
    adds: int = 0
    #: findings made and not yet taken (:meth:`Engine.findings`)
    pending: list[Finding] = field(default_factory=list)
    #: count rules: per (rule id, group), the window of its last records and its open burst
    windows: dict[tuple[str, Any], Window] = field(default_factory=dict)
    #: count rules: per (rule id, group) that saw one record only, that record ``(time, member)``
    singles: dict[tuple[str, Any], tuple[float, Any]] = field(default_factory=dict)
    #: share rules: per (rule id, group), its bins by second of IAM time
    bins: dict[tuple[str, Any], dict[int, Bin]] = field(default_factory=dict)
    #: an engine of a later part (``part_start``): the count-rule groups' heads not yet judged, and the
    #: groups whose head is complete
    part_start: float | None = None
    heads: dict[tuple[str, Any], Head] = field(default_factory=dict)
    settled: set[tuple[str, Any]] = field(default_factory=set)


def _type_mask(types: frozenset[str]) -> int:
    """Bits of the message type codes (any variant) of these message names, as in ``Call.types``."""
    from sigdiag.codec.messages import ANSI_MESSAGES, ITU_MESSAGES

    mask = 0
    for table in (ITU_MESSAGES, ANSI_MESSAGES):
        for code, spec in table.items():
            if spec.abbr in types:
                mask |= 1 << code
    return mask


def _circuit_dict(
    kind: str, x: Any, cic: int | None, cics: list[int], circuits: int, reason: str | None
) -> dict[str, Any]:
    """The fields a circuit record has whatever made it (:meth:`Engine.circuit_record`,
    :meth:`Engine.orphan_record`)."""
    return {
        "record": kind,
        "type": x.type,
        "frame": x.frame,
        "ts": x.ts,
        "opc": x.opc,
        "dpc": x.dpc,
        "cic": cic,
        "cics": cics,
        "circuits": circuits,
        "reason": reason,
        "protocol": x.protocol,
        "link": getattr(x, "link", None),
    }


class Engine(WindowedRules):
    """Evaluates a :class:`RuleSet` (see the module's docstring for the API)."""

    def __init__(
        self,
        rules: RuleSet,
        trunks: Any = None,
        file: str | None = None,
        pc: Callable[[int], str] = str,
        part_start: float | None = None,
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
                grouper(r.group_by),
                r.time_of == "start",
            )
            for r in self.call_windows
        ]
        self._trunk_cache: dict[tuple[Any, ...], str] = {}
        self.pending: list[Finding] = []
        self.calls = 0
        self.records = 0
        self.capture_end: float | None = None
        #: the time of the input's latest record (the correlator's clock): the capture end for open calls
        self.clock: Any = None
        self.matches: dict[str, int] = {r.id: 0 for r in rules}
        self._init_windows(rules, part_start)

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
        self._judge(call, None)

    def judge(self, call: Any) -> Verdict:
        """:meth:`refine` without the windows: the call rules are evaluated (the outcome refined, the
        call's findings made, counted), and what the call adds to the windowed rules is returned instead
        of added, for :meth:`accept` (here or in the engine of another process) in the order one engine
        would have seen the calls."""
        out: Verdict = []
        self._judge(call, out)
        return out

    def accept(self, verdict: Verdict) -> None:
        """Add to the windowed rules what :meth:`judge` or :meth:`judge_record` returned (in the order the
        calls and records came: count rules depend on it).  ``refine(call)`` is ``accept(judge(call))``."""
        rules = self.rules
        for rid, group, t, member in verdict:
            rule = rules[rid]
            if rule.share is None:
                self._window_add(rule, group, t, member)
            else:
                self._bin(rule, group, t, member)

    def _judge(self, call: Any, out: Verdict | None) -> None:
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
                self.pending.append(self._call_finding(rule, call, ctx))
        if self._window_tests:
            self._window_rules(call, ctx if ctx is not None else self._context(call), out)

    def _window_rules(self, call: Any, ctx: Context, out: Verdict | None = None) -> None:
        """The windowed rules on a finished call: count rules add its match to their window, share rules
        count it in their population's bin (and its match); with ``out``, appended to it instead."""
        add: Callable[[Any, Any, float, Any], None]
        add_bin: Callable[[Any, Any, float, Any], None]
        if out is None:
            add, add_bin = self._window_add, self._bin
        else:
            add = add_bin = _appender(out)
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
                if matched and (group := group_of(ctx)) is not None:
                    if member is None:
                        member = call_member(call)
                    add(rule, group, call.start if at_start else t_rel, member)
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
            if in_pop and (group := group_of(ctx)) is not None:
                if matched and member is None:
                    member = call_member(call)
                add_bin(rule, group, call.start, member if matched else None)

    def outcome_only(self) -> Engine:
        """An engine with only the rules that refine outcomes (what ``calls`` and ``stats`` apply)."""
        return Engine(RuleSet(self.refining), self.trunks, self.file, self.pc)

    def _end_for(self, call: Any) -> float | None:
        if call.end_reason == "open":
            if self.clock is not None:
                return float(self.clock())
            return self.capture_end if self.capture_end is not None else call.last_ts
        return call.end_ts

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
        return _circuit_dict(
            "circuit-event", ev, ev.cics[0] if ev.cics else None, list(ev.cics), len(ev.cics), None
        )

    @staticmethod
    def orphan_record(o: Any) -> dict[str, Any]:
        """The circuit record of an orphan message."""
        rec = _circuit_dict("orphan", o, o.cic, [o.cic] if o.cic is not None else [], 1, o.reason)
        rec["links"] = getattr(o, "links", None)
        return rec

    def record(self, rec: dict[str, Any]) -> None:
        """Evaluate the circuit rules on a circuit record (:meth:`circuit_record`, :meth:`orphan_record`)."""
        self._judge_record(rec, None)

    def judge_record(self, rec: dict[str, Any]) -> Verdict:
        """:meth:`record` without the windows (see :meth:`judge`)."""
        out: Verdict = []
        self._judge_record(rec, out)
        return out

    def _judge_record(self, rec: dict[str, Any], out: Verdict | None) -> None:
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
                self.pending.append(
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
                    group = record_group(rule, rec)
                    if group is not None:
                        if out is None:
                            self._window_add(rule, group, rec["ts"], dict(rec))
                        else:
                            out.append((rule.id, group, rec["ts"], dict(rec)))
                continue
            # a share rule: the records of the population count; a match outside it does not
            if rule.of is not None and not rule.of.test(ctx):
                continue
            group = record_group(rule, rec)
            if group is not None:
                if out is None:
                    self._bin(rule, group, rec["ts"], dict(rec) if matched else None)
                else:
                    out.append((rule.id, group, rec["ts"], dict(rec) if matched else None))

    # -- named input -----------------------------------------------------------------------------------------
    def feed(self, batch: Batch) -> None:
        """Evaluate a :class:`Batch`, item by item in order (how the parallel check's engine process is
        fed)."""
        refine, record = self.refine, self.record
        calls, clocks, records, files = (
            iter(batch.calls),
            iter(batch.clocks),
            iter(batch.records),
            iter(batch.files),
        )
        for kind in batch.kinds:
            if kind == CALL:
                clock = next(clocks)
                if clock is not None:  # an open call: the capture end is the clock of that moment
                    self.capture_end = clock
                refine(next(calls))
            elif kind == RECORD:
                record(next(records))
            else:
                self.file = next(files)

    # -- state -----------------------------------------------------------------------------------------------
    def snapshot(self) -> EngineState:
        """The engine's run-time state (its own objects: pickle it before the engine goes on)."""
        return EngineState(
            rules=tuple(r.id for r in self.rules),
            calls=self.calls,
            records=self.records,
            matches=self.matches,
            evicted=self.evicted,
            groups=self._groups,
            capture_end=self.capture_end,
            now=self._now,
            adds=self._adds,
            pending=self.pending,
            windows=self.windows,
            singles=self._singles,
            bins=self._bins,
            part_start=self.part_start,
            heads=self._heads or {},
            settled=self._settled,
        )

    def _check_rules(self, state: EngineState) -> None:
        ids = tuple(r.id for r in self.rules)
        if state.rules != ids:
            raise ValueError(f"an engine state of rules {list(state.rules)} does not fit rules {list(ids)}")

    def restore(self, state: EngineState) -> None:
        """Continue from ``state`` (:meth:`snapshot` of an engine of the same rules)."""
        self._check_rules(state)
        self.calls, self.records = state.calls, state.records
        self.matches, self.evicted, self._groups = state.matches, state.evicted, state.groups
        self.capture_end, self._now, self._adds = state.capture_end, state.now, state.adds
        self.pending = state.pending
        self.windows, self._singles, self._bins = state.windows, state.singles, state.bins
        self.part_start, self._settled = state.part_start, state.settled
        self._heads = state.heads if state.part_start is not None else None

    def merge(self, later: EngineState) -> None:
        """Add the state of an engine of the same rules, made with ``part_start``, that saw the part of
        the traffic after this engine's (see the module's docstring)."""
        self._check_rules(later)
        if later.part_start is None:
            raise ValueError("merge takes the state of an engine made with part_start (a later part)")
        self.calls += later.calls
        self.records += later.records
        for rid, n in later.matches.items():
            self.matches[rid] = self.matches.get(rid, 0) + n
        for rid, n in later.evicted.items():
            self.evicted[rid] = self.evicted.get(rid, 0) + n
        if later.capture_end is not None and (
            self.capture_end is None or later.capture_end > self.capture_end
        ):
            self.capture_end = later.capture_end
        self.pending.extend(later.pending)
        self._merge_windows(later.windows, later.singles, later.bins, later.heads, later.settled)
        self._now = max(self._now, later.now)
        self._adds += later.adds

    # -- output ----------------------------------------------------------------------------------------------
    def findings(self) -> list[Finding]:
        """The findings made since the last call (drained)."""
        out = self.pending
        self.pending = []
        return out

    take = findings

    def finish(self) -> None:
        """Close every open burst and evaluate the share rules (end of the input)."""
        self._close_windows()

    def run(self, calls: Iterable[Any]) -> Iterator[Finding]:
        """Refine and evaluate a stream of calls, yielding findings as they come, then the bursts."""
        for call in calls:
            self.refine(call)
            if self.pending:
                yield from self.findings()
        self.finish()
        yield from self.findings()
