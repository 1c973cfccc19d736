"""The condition language of diagnosis rules: small, declarative, compiled to closures, never ``eval``.

A rule's ``match`` is one *condition*: a YAML mapping with one keyword (plus that keyword's options).
Conditions read *facts* (a fixed vocabulary, :data:`CALL_FACTS` for call records and :data:`EVENT_FACTS`
for circuit records) and a call's *message timeline*; nothing else of Python is reachable, so a rule
file can do no more than these conditions say (docs/rules.md has the reference):

``all: [C, ...]`` / ``any: [C, ...]`` / ``not: C``
    combinators (``any`` stops at the first branch that holds: its bindings and labels are kept);
``field: NAME`` + one operator
    a fact compared with a value: ``eq``, ``ne``, ``lt``, ``le``, ``gt``, ``ge``, ``in``, ``not_in``,
    ``contains`` (list member or substring), ``startswith`` (a string or a list of them), ``matches``
    (regular expression, searched), ``exists`` (true: the fact is known); a missing fact (None) fails
    every operator except ``exists: false``, ``ne`` and ``not_in``;
``param: TYPE.parameter.field`` + one operator
    a decoded parameter of the call's first message of that type (``IAM.hop_counter.hop_counter``;
    binds ``<as>``, default the last key);
``present: SEL`` / ``absent: SEL``
    a message of the timeline matches the selector (binds ``<as>_frame`` and ``<as>_ts``);
``count: SEL`` + one operator
    how many timeline messages match (binds ``<as>``, default ``count``);
``sequence: [SEL, SEL, ...]``
    the selectors match messages in this order (not necessarily adjacent; binds ``<as>_frames``);
``gap: {from: SEL, to: SEL, ...}`` + one operator
    milliseconds from the *latest* ``from`` message before the *first* ``to`` message that follows a
    ``from`` message; ``else: end`` measures to the end of the call when no ``to`` message came
    (binds ``<as>_ms``, ``<as>_from_frame``, ``<as>_to_frame``, ``<as>_from``, ``<as>_to``).

A *selector* is a message type (``IAM``), optionally with a direction: ``IAM>`` sent by the calling side
(forward), ``<REL`` by the called side (backward); ``*`` is any type; a list of selectors is any of them.
Every condition may carry ``label: TEXT``, recorded in the evidence when the condition holds, and ``as:
NAME`` for the names it binds.  A value written ``$name`` is the rule setting ``name``.

This module is the language's parser and compiler (conditions to closures); what the closures read (the
facts, the :class:`~sigdiag.rules.facts.Context` of a record, templates) is :mod:`sigdiag.rules.facts`,
whose names are re-exported here.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from sigdiag.rules.facts import (
    CALL_FACTS,
    DIRECT_FACTS,
    EVENT_FACTS,
    Context,
    TemplateValues,
    cached_reader,
    decode_timeline_entry,
    render_template,
    trunk_name,
)

__all__ = [
    "CALL_FACTS",
    "EVENT_FACTS",
    "OPERATORS",
    "Condition",
    "ConditionError",
    "Context",
    "Selector",
    "TemplateValues",
    "compile_condition",
    "decode_timeline_entry",
    "parse_selector",
    "render_template",
    "trunk_name",
]


class ConditionError(ValueError):
    """A condition is malformed; ``node`` is the YAML node (for the line) when known."""

    def __init__(self, message: str, node: Any = None) -> None:
        super().__init__(message)
        self.node = node


# -- selectors ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Selector:
    """Messages of the timeline: types (None: any) and direction (0 forward, 1 backward, None: any)."""

    alternatives: tuple[tuple[frozenset[str] | None, int | None], ...]

    def __call__(self, entry: tuple[int, float, str, int, bytes]) -> bool:
        t, d = entry[2], entry[3]
        for types, direction in self.alternatives:
            if (types is None or t in types) and (direction is None or d == direction or d < 0):
                return True
        return False

    def matcher(self) -> Callable[[tuple[int, float, str, int, bytes]], bool]:
        """The same test as a plain function, specialised for the common one-alternative selectors."""
        if len(self.alternatives) == 1:
            types, d = self.alternatives[0]
            if types is not None and d is None:
                return lambda e: e[2] in types
            if types is not None:
                return lambda e: e[2] in types and (e[3] == d or e[3] < 0)
        return self.__call__

    @property
    def types(self) -> frozenset[str] | None:
        """Every type the selector can match (None: any type); a call whose timeline has none of them
        cannot match, which conditions test first."""
        out: set[str] = set()
        for types, _d in self.alternatives:
            if types is None:
                return None
            out |= types
        return frozenset(out)

    def text(self) -> str:
        parts = []
        for types, d in self.alternatives:
            name = "*" if types is None else "|".join(sorted(types))
            parts.append(f"{name}>" if d == 0 else f"<{name}" if d == 1 else name)
        return " or ".join(parts)


_SEL = re.compile(r"^(<)?([A-Z][A-Z0-9]*|\*)(>)?$")


def parse_selector(value: Any, known_types: Iterable[str] | None = None, node: Any = None) -> Selector:
    """``"IAM"``, ``"IAM>"``, ``"<REL"``, ``"*"`` or a list of them."""
    items = value if isinstance(value, list) else [value]
    if not items:
        raise ConditionError("a message selector list must not be empty", node)
    known = set(known_types) if known_types is not None else None
    alts = []
    for item in items:
        m = _SEL.match(item) if isinstance(item, str) else None
        if m is None or (m.group(1) and m.group(3)):
            raise ConditionError(
                f"bad message selector {item!r}: expected a message type such as IAM, 'IAM>' "
                "(from the calling side) or '<REL' (from the called side)",
                node,
            )
        name = m.group(2)
        if known is not None and name != "*" and name not in known:
            raise ConditionError(f"unknown message type {name!r} in selector {item!r}", node)
        direction = 1 if m.group(1) else 0 if m.group(3) else None
        alts.append((None if name == "*" else frozenset((name,)), direction))
    return Selector(tuple(alts))


# -- operators ---------------------------------------------------------------------------------------------
_NUMBER_TYPES = frozenset((int, float))  # exact types: booleans are not numbers here


def _num(v: Any) -> bool:
    return type(v) in _NUMBER_TYPES


def _op_contains(x: Any, v: Any) -> bool:
    t = type(x)
    if t is list or t is tuple or t is set or t is frozenset:
        return v in x
    return t is str and isinstance(v, str) and v in x


def _op_in(x: Any, v: Any) -> bool:
    try:
        return x in v
    except TypeError:  # an unhashable fact (a list such as flags, a parameter dict) in a frozenset
        return False


def _op_startswith(x: Any, v: Any) -> bool:
    # the compiler checked v: a string or a list of strings
    return type(x) is str and x.startswith(tuple(v) if isinstance(v, list) else v)


#: Operator name -> (test(fact, value), accepts None facts).
OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": lambda x, v: type(x) in _NUMBER_TYPES and x < v,
    "le": lambda x, v: type(x) in _NUMBER_TYPES and x <= v,
    "gt": lambda x, v: type(x) in _NUMBER_TYPES and x > v,
    "ge": lambda x, v: type(x) in _NUMBER_TYPES and x >= v,
    "in": lambda x, v: _op_in(x, v),
    "not_in": lambda x, v: not _op_in(x, v),
    "contains": _op_contains,
    "startswith": _op_startswith,
    "matches": lambda x, v: isinstance(x, str) and v.search(x) is not None,
    "exists": lambda x, v: (x is not None) == v,
}
_NONE_OK = frozenset(("ne", "not_in", "exists", "eq"))
_NUMERIC = frozenset(("lt", "le", "gt", "ge"))

Condition = Callable[[Context], bool]

_KEYWORDS = ("all", "any", "not", "field", "param", "present", "absent", "count", "sequence", "gap")
_COMMON = ("label", "as")


class _Compiler:
    def __init__(
        self,
        settings: Mapping[str, Any],
        facts: Mapping[str, Any],
        known_types: Iterable[str] | None,
        lines: Callable[[Any], Any],
    ) -> None:
        self.settings = settings
        self.facts = facts
        self.known_types = set(known_types) if known_types is not None else None
        self.node_of = lines  # maps a python object to its YAML node, for error lines
        self.timeline_used = False
        self.params_used: set[str] = set()
        # ids of compiled conditions that can bind evidence or labels, and of plain field tests
        # (fact getter, name, operator, value, accepts None) that 'all' can evaluate in one loop
        self._binds: set[int] = set()
        self._last_children: tuple[Condition, ...] = ()
        self._simple: dict[int, tuple[Any, str, Any, Any, bool]] = {}
        self._first: dict[int, tuple[Any, str, Any, Any, bool]] = {}  # 'all' -> its first plain test
        self._fields: dict[int, tuple[tuple[Any, str, Any, Any, bool], ...]] = {}  # 'all' of plain tests
        # condition -> message types of which the timeline must have one for it to hold
        self._needs: dict[int, frozenset[str]] = {}
        self._keep: list[Any] = []  # keeps compiled closures alive while their ids are in use

    # values ----------------------------------------------------------------------------------------------
    def value(self, v: Any, where: Any) -> Any:
        if isinstance(v, str) and v.startswith("$"):
            name = v[1:]
            if name not in self.settings:
                raise ConditionError(f"{v!r} names no setting of this rule", self.node_of(where))
            return self.settings[name]
        if isinstance(v, list):
            out: list[Any] = []
            for item in v:
                x = self.value(item, where)
                out.extend(x) if isinstance(item, str) and item.startswith("$") and isinstance(
                    x, list
                ) else out.append(x)
            return out
        return v

    def operator(self, spec: dict[str, Any], allowed_extra: tuple[str, ...]) -> tuple[str, Any]:
        ops = [k for k in spec if k in OPERATORS]
        others = [k for k in spec if k not in OPERATORS and k not in allowed_extra and k not in _COMMON]
        if others:
            raise ConditionError(f"unknown key(s) {', '.join(map(str, others))}", self.node_of(spec))
        if len(ops) != 1:
            raise ConditionError(
                f"expected exactly one operator ({', '.join(OPERATORS)}), found {len(ops)}",
                self.node_of(spec),
            )
        op = ops[0]
        v = self.value(spec[op], spec)
        if op in ("in", "not_in"):
            if not isinstance(v, list):
                raise ConditionError(f"'{op}' needs a list", self.node_of(spec))
            v = frozenset(v) if all(isinstance(x, int | str) for x in v) else tuple(v)
        elif op in _NUMERIC:
            if not _num(v):
                raise ConditionError(f"'{op}' needs a number, not {v!r}", self.node_of(spec))
        elif op == "matches":
            try:
                v = re.compile(str(v))
            except re.error as exc:
                raise ConditionError(f"bad regular expression {v!r}: {exc}", self.node_of(spec)) from None
        elif op == "exists" and not isinstance(v, bool):
            raise ConditionError("'exists' needs true or false", self.node_of(spec))
        elif op == "startswith":
            if not (isinstance(v, str) or (isinstance(v, list) and all(isinstance(p, str) for p in v))):
                raise ConditionError("'startswith' needs a string or a list of strings", self.node_of(spec))
            v = tuple(v) if isinstance(v, list) else v
        return op, v

    @staticmethod
    def test(op: str, v: Any) -> Callable[[Any], bool]:
        f = OPERATORS[op]
        if op in _NONE_OK:
            return lambda x: f(x, v)
        return lambda x: x is not None and f(x, v)

    def selector(self, v: Any, where: Any) -> Selector:
        self.timeline_used = True
        return parse_selector(v, self.known_types, self.node_of(where))

    # conditions ------------------------------------------------------------------------------------------
    def compile(self, spec: Any) -> Condition:
        cond, label = self.child(spec)
        if label is None:
            return cond

        def labelled(ctx: Context) -> bool:
            if cond(ctx):
                ctx.labels.append(label)
                return True
            return False

        self._binds.add(id(labelled))
        if id(cond) in self._needs:
            self._needs[id(labelled)] = self._needs[id(cond)]
        self._keep.append(labelled)
        return labelled

    def child(self, spec: Any) -> tuple[Condition, str | None]:
        """A condition without its label, and the label (``any`` records the label itself)."""
        if not isinstance(spec, dict):
            raise ConditionError(
                f"a condition must be a mapping with one of {', '.join(_KEYWORDS)}", self.node_of(spec)
            )
        keys = [k for k in spec if k in _KEYWORDS]
        if len(keys) != 1:
            raise ConditionError(
                f"a condition needs exactly one of {', '.join(_KEYWORDS)} (found "
                f"{', '.join(map(str, keys)) or 'none'})",
                self.node_of(spec),
            )
        kw = keys[0]
        cond = getattr(self, "_" + kw)(spec)
        self._keep.append(cond)
        if kw in ("param", "present", "count", "sequence", "gap"):
            self._binds.add(id(cond))
        label = spec.get("label")
        return cond, None if label is None else str(label)

    def _only(self, spec: dict[str, Any], *allowed: str) -> None:
        extra = [k for k in spec if k not in allowed and k not in _COMMON]
        if extra:
            raise ConditionError(f"unknown key(s) {', '.join(map(str, extra))}", self.node_of(spec))

    def _list(self, spec: dict[str, Any], kw: str) -> list[Condition]:
        self._only(spec, kw)
        items = spec[kw]
        if not isinstance(items, list) or not items:
            raise ConditionError(f"'{kw}' needs a non-empty list of conditions", self.node_of(spec))
        return [self.compile(c) for c in items]

    # 'all' and 'any' are the hot path of every rule: the common shapes get flat loops (fewer Python
    # calls than one closure per child), and only children that can bind evidence pay for the rollback.
    def _all(self, spec: dict[str, Any]) -> Condition:
        fn = self._all_of(spec)
        first = self._simple.get(id(self._last_children[0]))
        if first is not None:
            self._first[id(fn)] = first
        needs = next((self._needs[id(c)] for c in self._last_children if id(c) in self._needs), None)
        if needs is not None:
            self._needs[id(fn)] = needs
        self._keep.append(fn)
        return fn

    def _all_of(self, spec: dict[str, Any]) -> Condition:
        conds = tuple(self._list(spec, "all"))
        self._last_children = conds
        binds = any(id(c) in self._binds for c in conds)
        simple = [self._simple.get(id(c)) for c in conds]
        if all(x is not None for x in simple):
            fields = tuple(x for x in simple if x is not None)
            all_fields = self._any_fields(((fields, None),))  # one branch: every test must hold
            self._fields[id(all_fields)] = fields
            return all_fields
        if not binds:

            def all_plain(ctx: Context) -> bool:
                for c in conds:  # noqa: SIM110  (a plain loop: cheaper than all() over a generator)
                    if not c(ctx):
                        return False
                return True

            return all_plain

        def all_(ctx: Context) -> bool:
            # a failed 'all' leaves no trace: drop the labels and bindings of the branches that held
            labels = ctx.labels
            n = len(labels)
            ev = ctx.evidence
            before = dict(ev) if ev else None
            for c in conds:
                if not c(ctx):
                    if len(labels) > n:
                        del labels[n:]
                    if before is None:
                        if ev:
                            ev.clear()
                    elif ev != before:
                        ev.clear()
                        ev.update(before)
                    return False
            return True

        self._binds.add(id(all_))
        return all_

    def _any(self, spec: dict[str, Any]) -> Condition:
        self._only(spec, "any")
        items = spec["any"]
        if not isinstance(items, list) or not items:
            raise ConditionError("'any' needs a non-empty list of conditions", self.node_of(spec))
        pairs = tuple(self.child(c) for c in items)
        # every branch a plain test or an 'all' of plain tests: one flat loop (no call per branch)
        flat = []
        for c, label in pairs:
            simple = self._simple.get(id(c))
            fields = (simple,) if simple is not None else self._fields.get(id(c))
            if fields is None:
                break
            flat.append((fields, label))
        if len(flat) == len(pairs):
            return self._any_fields(tuple(flat))
        any_ = self._any_of(pairs)
        if all(id(c) in self._needs for c, _ in pairs):
            self._needs[id(any_)] = frozenset().union(*(self._needs[id(c)] for c, _ in pairs))
        return any_

    def _any_of(self, pairs: tuple[tuple[Condition, str | None], ...]) -> Condition:

        def any_(ctx: Context) -> bool:
            for c, label in pairs:
                if c(ctx):
                    if label is not None:
                        ctx.labels.append(label)
                    return True
            return False

        if any(id(c) in self._binds or label is not None for c, label in pairs):
            self._binds.add(id(any_))
        return any_

    def _any_fields(self, branches: tuple[tuple[tuple[Any, ...], str | None], ...]) -> Condition:
        """Branches of plain field tests ``(getter or None, fact, operator, value, accepts None)``, with
        their labels, in one flat loop: the first branch whose tests all hold wins."""

        def any_fields(ctx: Context) -> bool:
            call = ctx.call
            cache = ctx._cache
            for fields, label in branches:
                for get, name, f, v, none_ok in fields:
                    if get is not None:
                        x = get(call)
                    elif name in cache:
                        x = cache[name]
                    else:
                        x = ctx.fact(name)
                    if (x is None and not none_ok) or not f(x, v):
                        break
                else:
                    if label is not None:
                        ctx.labels.append(label)
                    return True
            return False

        if any(label is not None for _, label in branches):
            self._binds.add(id(any_fields))
        self._keep.append(any_fields)
        return any_fields

    def _not(self, spec: dict[str, Any]) -> Condition:
        self._only(spec, "not")
        inner = self.compile(spec["not"])

        def negated(ctx: Context) -> bool:
            n = len(ctx.labels)
            before = dict(ctx.evidence)
            held = inner(ctx)
            del ctx.labels[n:]
            if held:  # what the inner condition bound is not evidence of 'not'
                ctx.evidence.clear()
                ctx.evidence.update(before)
            return not held

        return negated

    def _field(self, spec: dict[str, Any]) -> Condition:
        name = spec["field"]
        if not isinstance(name, str) or name not in self.facts:
            raise ConditionError(
                f"unknown fact {name!r}; facts: {', '.join(sorted(self.facts))}", self.node_of(spec)
            )
        op, v = self.operator(spec, ("field",))
        f = OPERATORS[op]
        none_ok = op in _NONE_OK
        cond: Condition
        if self.facts is CALL_FACTS and name in DIRECT_FACTS:
            # a plain attribute of the call record: read it, no cache (the hot path of most rules)
            get = attrgetter(name)
            if none_ok:
                cond = lambda ctx: f(get(ctx.call), v)  # noqa: E731
            else:
                cond = lambda ctx: (x := get(ctx.call)) is not None and f(x, v)  # noqa: E731
            self._simple[id(cond)] = (get, name, f, v, none_ok)
        else:
            fact = cached_reader(name)
            if none_ok:
                cond = lambda ctx: f(fact(ctx), v)  # noqa: E731
            else:
                cond = lambda ctx: (x := fact(ctx)) is not None and f(x, v)  # noqa: E731
            self._simple[id(cond)] = (None, name, f, v, none_ok)
        self._keep.append(cond)
        return cond

    def _param(self, spec: dict[str, Any]) -> Condition:
        path = spec["param"]
        parts = path.split(".") if isinstance(path, str) else []
        if len(parts) < 2 or not all(parts):
            raise ConditionError(
                f"'param' needs TYPE.parameter[.field...], e.g. IAM.hop_counter, not {path!r}",
                self.node_of(spec),
            )
        mtype, keys = parts[0], parts[1:]
        if self.known_types is not None and mtype not in self.known_types:
            raise ConditionError(f"unknown message type {mtype!r} in {path!r}", self.node_of(spec))
        self.params_used.add(mtype)
        op, v = self.operator(spec, ("param",))
        test = self.test(op, v)
        name = str(spec.get("as", keys[-1]))

        def param(ctx: Context) -> bool:
            m = ctx.message(mtype)
            x: Any = None if m is None else m.params
            for k in keys:
                if not isinstance(x, dict):
                    x = None
                    break
                x = x.get(k)
            if test(x):
                ctx.evidence[name] = x
                return True
            return False

        return param

    def _present(self, spec: dict[str, Any], absent: bool = False) -> Condition:
        kw = "absent" if absent else "present"
        self._only(spec, kw)
        selector = self.selector(spec[kw], spec)
        sel = selector.matcher()
        name = str(spec.get("as", kw if not absent else "absent"))
        need = selector.types
        if absent:
            if need is None:
                return lambda ctx: not any(sel(e) for e in ctx.timeline)
            return lambda ctx: need.isdisjoint(ctx.types()) or not any(sel(e) for e in ctx.timeline)

        def present(ctx: Context) -> bool:
            if need is not None and need.isdisjoint(ctx.types()):
                return False
            for e in ctx.timeline:
                if sel(e):
                    ctx.evidence[name + "_frame"] = e[0]
                    ctx.evidence[name + "_ts"] = e[1]
                    return True
            return False

        if need is not None:
            self._needs[id(present)] = need
        return present

    def _absent(self, spec: dict[str, Any]) -> Condition:
        return self._present(spec, absent=True)

    def _count(self, spec: dict[str, Any]) -> Condition:
        selector = self.selector(spec["count"], spec)
        sel = selector.matcher()
        op, v = self.operator(spec, ("count",))
        test = self.test(op, v)
        name = str(spec.get("as", "count"))
        need = selector.types

        def count(ctx: Context) -> bool:
            if need is not None and need.isdisjoint(ctx.types()):
                n = 0
            else:
                n = sum(1 for e in ctx.timeline if sel(e))
            if test(n):
                ctx.evidence[name] = n
                return True
            return False

        return count

    def _sequence(self, spec: dict[str, Any]) -> Condition:
        self._only(spec, "sequence")
        items = spec["sequence"]
        if not isinstance(items, list) or len(items) < 2:
            raise ConditionError("'sequence' needs a list of at least two selectors", self.node_of(spec))
        selectors = [self.selector(s, spec) for s in items]
        sels = tuple(x.matcher() for x in selectors)
        name = str(spec.get("as", "sequence")) + "_frames"
        needs = [x.types for x in selectors if x.types is not None]

        def sequence(ctx: Context) -> bool:
            if needs:
                present = ctx.types()
                if any(n.isdisjoint(present) for n in needs):
                    return False
            frames = []
            i = 0
            for e in ctx.timeline:
                if sels[i](e):
                    frames.append(e[0])
                    i += 1
                    if i == len(sels):
                        ctx.evidence[name] = frames
                        return True
            return False

        if needs:
            self._needs[id(sequence)] = needs[0]
        return sequence

    def _gap(self, spec: dict[str, Any]) -> Condition:
        g = spec["gap"]
        if not isinstance(g, dict) or "from" not in g or "to" not in g:
            raise ConditionError("'gap' needs a mapping with 'from' and 'to' selectors", self.node_of(spec))
        extra = [k for k in g if k not in ("from", "to", "else")]
        if extra:
            raise ConditionError(f"unknown key(s) in gap: {', '.join(map(str, extra))}", self.node_of(g))
        to_end = g.get("else", "fail")
        if to_end not in ("fail", "end"):
            raise ConditionError("gap 'else' must be 'fail' or 'end'", self.node_of(g))
        src = self.selector(g["from"], g)
        dst = self.selector(g["to"], g)
        op, v = self.operator(spec, ("gap",))
        test = self.test(op, v)
        name = str(spec.get("as", "gap"))
        use_end = to_end == "end"
        needs = [x.types for x in ((src,) if use_end else (src, dst)) if x.types is not None]
        src_m, dst_m = src.matcher(), dst.matcher()

        def gap(ctx: Context) -> bool:
            if needs:
                present = ctx.types()
                if any(n.isdisjoint(present) for n in needs):
                    return False
            last_from = None
            to = None
            for e in ctx.timeline:
                if last_from is not None and dst_m(e):
                    to = e
                    break
                if src_m(e):
                    last_from = e
            if last_from is None:
                return False
            if to is not None:
                t_to: float | None = to[1]
            elif use_end:
                c = ctx.call
                t_to = ctx.capture_end if c.end_reason == "open" else (c.end_ts or c.last_ts)
            else:
                return False
            if t_to is None:
                return False
            ms = round(max(t_to - last_from[1], 0.0) * 1000.0, 1)
            if not test(ms):
                return False
            ev = ctx.evidence
            ev[name + "_ms"] = ms
            ev[name + "_from_frame"] = last_from[0]
            ev[name + "_from"] = last_from[2]
            ev[name + "_to_frame"] = None if to is None else to[0]
            ev[name + "_to"] = "end of call" if to is None else to[2]
            return True

        return gap


@dataclass
class CompiledCondition:
    """A compiled ``match``: the predicate and what it needs (the timeline, decoded messages)."""

    test: Condition
    timeline: bool
    params: frozenset[str]
    #: a plain field test that must hold for the condition to hold (the condition itself, or the first
    #: test of a top-level 'all'): ``(getter or None, fact, operator, value, accepts None)``.  The engine
    #: tries it inline before calling ``test``, which most calls then never reach.
    guard: tuple[Any, str, Any, Any, bool] | None = None
    #: message types of which the call's timeline must have one for the condition to hold (None: no
    #: such set is known); the engine skips the rule for calls without them
    needs: frozenset[str] | None = None
    #: the guard is the whole condition (a single plain field test without label or binding)
    exact: bool = False


def compile_condition(
    spec: Any,
    settings: Mapping[str, Any],
    facts: Mapping[str, Any],
    known_types: Iterable[str] | None = None,
    node_of: Callable[[Any], Any] = lambda obj: None,
) -> CompiledCondition:
    """Compile a condition; :class:`ConditionError` (with the YAML node when ``node_of`` finds it)."""
    c = _Compiler(settings, facts, known_types, node_of)
    test = c.compile(spec)
    simple = c._simple.get(id(test))
    guard = simple or c._first.get(id(test))
    needs = c._needs.get(id(test))
    exact = simple is not None
    return CompiledCondition(test, c.timeline_used, frozenset(c.params_used), guard, needs, exact)
