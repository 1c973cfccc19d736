"""What rule conditions read: the *facts* of a record (:data:`CALL_FACTS` for call records,
:data:`EVENT_FACTS` for circuit records), the :class:`Context` of one record (its facts, cached, the
evidence bound and the labels of the conditions that held), a call's messages decoded again from its
timeline, trunk names, and the templates of findings (:func:`render_template`).

The condition language that reads them is :mod:`sigdiag.rules.language`.  IAM parameters are read with
the codec's named field readers (:mod:`sigdiag.codec.fields`) on the IAM's raw parameters: decoding
every parameter of every IAM would cost more than all the rules together.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from operator import attrgetter, itemgetter
from typing import Any

from sigdiag.codec.fields import (
    CALLING_PARTY_NUMBER,
    HOP_COUNTER,
    address_presentation,
    hop_counter,
    nature_of_address,
    numbering_plan,
    param_value,
)

__all__ = [
    "CALL_FACTS",
    "DIRECT_FACTS",
    "EVENT_FACTS",
    "Context",
    "TemplateValues",
    "cached_reader",
    "decode_timeline_entry",
    "render_template",
    "trunk_name",
]


# -- facts -------------------------------------------------------------------------------------------------
# Each fact is a function of the context; the context caches the values for one record.


def _calling_facts(ctx: Context, name: str) -> Any:
    """The calling-number facts of the IAM, all four put in the context's cache at once (a rule that reads
    one reads the others): present, length, nature of address and numbering plan of the calling party
    number."""
    call = ctx.call
    calling = call.calling
    cache = ctx._cache
    cache["calling_present"] = calling is not None
    cache["calling_length"] = None if calling is None else len(calling)
    v = None
    for code, value in call.iam.raw_params:  # (param_value, inline: this runs for every call)
        if code == CALLING_PARTY_NUMBER:
            v = value
            break
    cache["calling_nai"] = None if v is None else nature_of_address(v)
    cache["calling_plan"] = None if v is None else numbering_plan(v)
    return cache[name]


def _calling_presentation(ctx: Context) -> int | None:
    v = param_value(ctx.call.iam.raw_params, CALLING_PARTY_NUMBER)
    return None if v is None else address_presentation(v)


def _iam_st(ctx: Context) -> bool:
    return bool(ctx.call.iam.called_complete)


def _hop_counter(ctx: Context) -> int | None:
    v = param_value(ctx.call.iam.raw_params, HOP_COUNTER)
    return None if v is None else hop_counter(v)


def _held_s(ctx: Context) -> float | None:
    c = ctx.call
    if c.anm_ts is None:
        return None
    end = c.rel_ts if c.rel_ts is not None else ctx.capture_end
    return None if end is None else round(max(end - c.anm_ts, 0.0), 3)


def _rlc_delay_ms(ctx: Context) -> float | None:
    c = ctx.call
    if c.rel_ts is None:
        return None
    end = c.rlc_ts
    if end is None:
        end = ctx.capture_end if c.end_reason == "open" else (c.end_ts or c.last_ts)
    return None if end is None else round(max(end - c.rel_ts, 0.0) * 1000.0, 1)


def cached_reader(name: str) -> Callable[[Context], Any]:
    """A reader of a computed fact: the context's cache first (a dictionary look-up, no method call)."""

    def read(ctx: Context) -> Any:
        cache = ctx._cache
        return cache[name] if name in cache else ctx.fact(name)

    return read


def _facts(
    reader: Callable[[str], Callable[[Context], Any]], docs: tuple[tuple[str, str], ...]
) -> dict[str, tuple[Callable[[Context], Any], str]]:
    """A facts table: name -> (``reader(name)``, description)."""
    return {name: (reader(name), doc) for name, doc in docs}


def _attr(name: str) -> Callable[[Context], Any]:
    get = attrgetter(name)
    return lambda ctx: get(ctx.call)


#: Facts of a call record: name -> (function, description).  Every key of the call record is a fact.
CALL_FACTS: dict[str, tuple[Callable[[Context], Any], str]] = _facts(
    _attr,
    (
        ("call_id", "call number in the capture"),
        ("protocol", "isup or bicc"),
        ("carrier", "m3ua, m2pa, m2ua, mtp2, mtp3, sctp or sip-i"),
        ("opc", "point code of the calling side"),
        ("dpc", "point code of the called side"),
        ("cic", "circuit identification code (BICC: call instance code)"),
        ("iam_frame", "frame number of the IAM"),
        ("start", "time of the IAM (epoch seconds)"),
        ("called", "called number: IAM digits then every SAM's digits"),
        ("called_complete", "an ST digit ended the called number (IAM or SAM)"),
        ("calling", "calling party number digits (None without one)"),
        ("sam_count", "number of SAMs"),
        ("acm_ts", "time of the ACM"),
        ("anm_ts", "time of the ANM or CON"),
        ("rel_ts", "time of the first REL"),
        ("rlc_ts", "time of the RLC"),
        ("release_end", "what ended the wait for the RLC: rlc, iam, reset, blocked, capture_end, evicted"),
        ("release_wait_ms", "ms from the first REL to that end (the RLC, new IAM, reset, capture end)"),
        ("released_by", "calling or called: who sent the first REL"),
        ("cause", "cause value of the first REL (or UCIC/supervision: None)"),
        ("cause_location", "cause location of the first REL"),
        ("phase", "setup, alerting or answered when the call was released"),
        ("end_reason", "how the call record ended: released, open, ucic, dual_seizure, reset, ..."),
        ("outcome", "answered, subscriber, caller, network or unknown (after earlier rules)"),
        ("outcome_detail", "finer outcome class"),
        ("base_outcome", "outcome from the cause value alone (outcomes table)"),
        ("pdd_ms", "post-dial delay in ms"),
        ("answer_delay_ms", "ACM to ANM in ms"),
        ("conversation_s", "ANM to REL in seconds"),
        ("flags", "correlation facts: dual_seizure, release_collision, rel_repeated, sam_after_rel, ..."),
        ("answered", "an ANM or CON was seen"),
    ),
)
#: Call facts that are plain attributes of the call record (conditions read them directly; the
#: others are computed once per call and cached).
DIRECT_FACTS = frozenset(CALL_FACTS)

CALL_FACTS.update(
    {
        "trunk": (lambda ctx: ctx.trunk_of_call(), "trunk name (trunk map) or the point-code pair"),
        "open": (lambda ctx: ctx.call.end_reason == "open", "the call was still open at the capture end"),
        "iam_st": (_iam_st, "the IAM's called number ends with ST (en-bloc)"),
        "called_length": (lambda ctx: len(ctx.call.called), "digits in the called number"),
        "calling_present": (
            lambda ctx: _calling_facts(ctx, "calling_present"),
            "the IAM has a calling number",
        ),
        "calling_length": (lambda ctx: _calling_facts(ctx, "calling_length"), "digits in the calling number"),
        "calling_nai": (
            lambda ctx: _calling_facts(ctx, "calling_nai"),
            "nature of address of the calling party number",
        ),
        "calling_plan": (lambda ctx: _calling_facts(ctx, "calling_plan"), "calling numbering plan"),
        "calling_presentation": (_calling_presentation, "calling number presentation indicator"),
        "hop_counter": (_hop_counter, "hop counter of the IAM (None without one)"),
        "held_s": (_held_s, "answered calls: seconds from ANM to the REL or to the capture end"),
        "rlc_delay_ms": (
            _rlc_delay_ms,
            "ms from the first REL to the RLC (to the end of the call, or of the capture, without one)",
        ),
        "duplicates": (lambda ctx: len(ctx.call.duplicate_frames), "messages seen twice (two hops)"),
    }
)


# -- digit collection (issue 13 point 9: the delay that incomplete-digit-collection recommends) --------------
def _digit_gap_ms(ctx: Context) -> float | None:
    """The longest gap (ms) between two consecutive address messages from the calling side, from the IAM
    to the last SAM (IAM -> SAM, SAM -> SAM); None without a SAM."""
    last: float | None = None
    longest: float | None = None
    for _frame, ts, type_, direction, _raw in ctx.call.timeline:
        if direction != 0 or type_ not in ("IAM", "SAM"):
            continue
        if last is not None and type_ == "SAM":
            gap = (ts - last) * 1000.0
            longest = gap if longest is None or gap > longest else longest
        last = ts
    return None if longest is None else round(max(longest, 0.0), 1)


def _digit_gap_units(ctx: Context) -> int | None:
    """:func:`_digit_gap_ms` in units of 0.1 s, rounded up (at least 1)."""
    gap = ctx.fact("digit_gap_ms")
    return None if gap is None else max(math.ceil(round(gap, 1) / 100.0), 1)


CALL_FACTS["digit_gap_ms"] = (_digit_gap_ms, "longest ms between the IAM and a SAM or two SAMs (forward)")
CALL_FACTS["digit_gap_units"] = (_digit_gap_units, "digit_gap_ms in units of 0.1 s, rounded up")


def _ev(name: str) -> Callable[[Context], Any]:
    return lambda ctx: ctx.record.get(name)


#: Facts of circuit records (circuit supervision messages and orphan messages).
EVENT_FACTS: dict[str, tuple[Callable[[Context], Any], str]] = _facts(
    _ev,
    (
        ("record", "circuit-event (RSC, GRS, BLO, CGB, UCIC, ...) or orphan"),
        ("type", "message type"),
        ("frame", "frame number"),
        ("ts", "time (epoch seconds)"),
        ("opc", "point code of the sender"),
        ("dpc", "point code of the receiver"),
        ("cic", "CIC of the message"),
        ("circuits", "number of circuits the message covers"),
        ("reason", "orphans: why no call was found"),
        ("protocol", "isup or bicc"),
        ("trunk", "trunk name (trunk map) or the point-code pair"),
        ("key", "opc-dpc-cic of the message (orphans group by it)"),
    ),
)


_TYPE_OF = itemgetter(2)  # the message type of a timeline entry


class Context:
    """What conditions see of one record: ``call`` (a call record) or ``record`` (a circuit record dict),
    the facts vocabulary, the evidence bound so far and the labels of the conditions that held."""

    call: Any
    record: dict[str, Any]

    __slots__ = (
        "_cache",
        "call",
        "capture_end",
        "evidence",
        "facts",
        "labels",
        "pc",
        "record",
        "timeline",
        "trunk_cache",
        "trunks",
    )

    def __init__(
        self,
        facts: Mapping[str, tuple[Callable[[Context], Any], str]],
        call: Any = None,
        record: dict[str, Any] | None = None,
        trunks: Any = None,
        capture_end: float | None = None,
        pc: Callable[[int], str] = str,
        trunk_cache: dict[tuple[Any, ...], str] | None = None,
    ) -> None:
        self.pc = pc
        self.trunk_cache = trunk_cache
        self.facts = facts
        self.call = call
        self.record = record or {}
        self.timeline: list[tuple[int, float, str, int, bytes]] = call.timeline if call is not None else []
        self.trunks = trunks
        self.capture_end = capture_end
        self._cache: dict[str, Any] = {}
        self.evidence: dict[str, Any] = {}
        self.labels: list[str] = []

    def fact(self, name: str) -> Any:
        cache = self._cache
        if name in cache:
            return cache[name]
        value = cache[name] = self.facts[name][0](self)
        return value

    def trunk_of_call(self) -> str:
        c = self.call
        cache = self.trunk_cache
        if cache is None:
            return trunk_name(self.trunks, c.opc, c.dpc, c.cic, c.carrier, self.pc)
        # names repeat for every call of a circuit (with a trunk map) or point-code pair (without)
        key = (c.opc, c.dpc, c.cic if self.trunks is not None else None, c.carrier)
        name = cache.get(key)
        if name is None:
            if len(cache) > 100_000:
                cache.clear()
            name = cache[key] = trunk_name(self.trunks, c.opc, c.dpc, c.cic, c.carrier, self.pc)
        return name

    def message(self, type_: str) -> Any:
        """The call's first message of a type (None if absent): a kept decoded message, else decoded
        from the timeline's octets."""
        c = self.call
        if type_ == "IAM":
            return c.iam
        key = "message:" + type_
        if key in self._cache:
            return self._cache[key]
        m = None
        kept = getattr(c, "messages", None)
        if kept is not None:  # the calls kept their decoded messages (CallSettings.keep_messages)
            m = next((x for x in kept if x.type == type_), None)
        else:
            for e in self.timeline:
                if e[2] == type_:
                    m = decode_timeline_entry(c, e)
                    break
        self._cache[key] = m
        return m

    def types(self) -> frozenset[str]:
        """The message types of the call's timeline (selectors test it first)."""
        t = self._cache.get("types:")
        if t is None:
            t = self._cache["types:"] = frozenset(map(_TYPE_OF, self.timeline))
        return t


def decode_timeline_entry(call: Any, entry: tuple[int, float, str, int, bytes]) -> Any:
    """Decode one message of a call's timeline again from its octets (the correlator keeps the octets,
    not the decoded messages, so that memory stays small)."""
    from sigdiag.codec.isup import decode_message

    # the message's own fields as the codec gives them for bare octets (decode_bytes), with the frame
    # and time of the timeline
    return decode_message(
        entry[0],
        entry[1],
        "none",
        call.protocol,
        call.variant,
        None,
        None,
        None,
        None,
        None,
        bytes(entry[4]),
        call.sip_call_id is None,
    )


def trunk_name(
    trunks: Any,
    opc: int | None,
    dpc: int | None,
    cic: int | None,
    carrier: str,
    pc: Callable[[int], str] = str,
) -> str:
    """A trunk's name from the trunk map, else the point codes (lower first, as ``pc`` prints them), else
    the carrier."""
    if opc is None or dpc is None:
        return carrier
    if trunks is not None:
        name = trunks.name(opc, dpc, cic)
        if name is not None:
            return str(name)
    lo, hi = (opc, dpc) if opc <= dpc else (dpc, opc)
    return f"{pc(lo)}-{pc(hi)}"


class TemplateValues(dict[str, Any]):
    """Template values that fall back to the record's facts (any fact can appear in a message)."""

    def __init__(self, base: Mapping[str, Any], ctx: Context | None) -> None:
        super().__init__(base)
        self.ctx = ctx

    def __missing__(self, key: str) -> Any:
        ctx = self.ctx
        if ctx is not None and key in ctx.facts:
            return ctx.fact(key)
        raise KeyError(key)


_TEMPLATE = re.compile(r"\{([a-z_][a-z0-9_]*)(?::([^{}]*))?\}")


def render_template(text: str, values: Mapping[str, Any]) -> str:
    """Fill ``{name}`` and ``{name:spec}`` from ``values`` (format spec as for :func:`format`; a missing
    or None value prints as ``-``).  Nothing but names is looked up: no attribute or index access."""
    parts = _template_parts(text)
    out = [parts[0]]
    for name, spec, literal in parts[1]:
        try:
            v = values[name]
        except KeyError:
            v = None
        if v is None:
            out.append("-")
        elif isinstance(v, list | tuple):
            out.append(", ".join(str(x) for x in v))
        elif spec:
            try:
                out.append(format(v, spec))
            except (ValueError, TypeError):
                out.append(str(v))
        else:
            out.append(str(v))
        out.append(literal)
    return "".join(out)


@lru_cache(maxsize=4096)
def _template_parts(text: str) -> tuple[str, tuple[tuple[str, str | None, str], ...]]:
    """A template split once: the text before the first placeholder, then (name, format spec, the text
    up to the next placeholder) per placeholder."""
    fields = []
    pos = 0
    head = None
    for m in _TEMPLATE.finditer(text):
        literal = text[pos : m.start()]
        if head is None:
            head = literal
        else:
            fields[-1] = (*fields[-1][:2], literal)
        fields.append((m.group(1), m.group(2), ""))
        pos = m.end()
    if head is None:
        return text, ()
    fields[-1] = (*fields[-1][:2], text[pos:])
    return head, tuple(fields)
