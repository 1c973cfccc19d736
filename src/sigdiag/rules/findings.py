"""Findings: what the rule engine writes (:class:`Finding`), and how it fills one from a call, a burst of
records or a circuit record: template values, evidence, ladders, members.

:class:`FindingMaker` is the part of :class:`~sigdiag.rules.engine.Engine` that builds findings; it
reads the engine's ``pc``, ``trunks``, ``file``, ``matches`` and appends to ``pending``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from operator import attrgetter
from typing import Any, Protocol

from sigdiag.rules.facts import Context, TemplateValues, render_template, trunk_name
from sigdiag.rules.loader import Rule

__all__ = [
    "FINDING_KEYS",
    "Finding",
    "FindingMaker",
    "call_member",
    "ladder_info",
    "ladder_of",
    "member_dict",
]

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


# -- ladders -----------------------------------------------------------------------------------------------
def ladder_info(m: Any) -> str:
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
    from sigdiag.rules.facts import decode_timeline_entry

    t0 = call.start
    iam = call.iam
    always = _ladder_decodes()
    out = []
    for entry in call.timeline:
        frame, ts, type_, direction, raw = entry
        if frame == iam.frame and getattr(frame, "file", None) == getattr(iam.frame, "file", None):
            m = iam  # (an audit restarts frame numbers in each file: the same number elsewhere is not it)
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
                "info": ladder_info(m),
            }
        )
    return out


# -- members of windowed findings ---------------------------------------------------------------
#: what a windowed finding keeps of a member call: (field name in the finding, attribute of the call).  A
#: member is a tuple of the attributes (made for every matching call); :func:`member_dict` names them
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


def call_member(call: Any) -> tuple[Any, ...]:
    """A member call as a tuple of :data:`_MEMBER_FIELDS` (``links``: the links the call was seen on)."""
    return (*_call_attrs(call), getattr(call, "links", None))


def _member_order(m: dict[str, Any]) -> tuple[float, str, str, str]:
    """Members in time order; at the same time by circuit, so that the finding (its first member's point
    codes and numbers) does not depend on the order in which records of different circuits came."""
    return (m.get("ts") or 0.0, str(m.get("opc")), str(m.get("dpc")), str(m.get("cic")))


def _frames_of(members: list[dict[str, Any]]) -> list[Any]:
    """The members' frames, once each, in number order within each input file, the files in the order
    of their first member (an audit's frames restart at 1 in each file and know it: the same number in
    two files is two frames)."""
    by_file: dict[Any, set[Any]] = {}
    for m in members:
        f = m.get("frame")
        if f is not None:
            by_file.setdefault(getattr(f, "file", None), set()).add(f)
    return [f for frames in by_file.values() for f in sorted(frames)]


def _links_of(members: list[dict[str, Any]]) -> list[str]:
    """Every link of the member calls or records, in the order first seen."""
    out: list[str] = []
    for m in members:
        for link in m.get("links") or ([m["link"]] if m.get("link") else []):
            if link not in out:
                out.append(link)
    return out


def member_dict(m: Any) -> dict[str, Any]:
    """A member of a windowed finding as a mapping (call members are tuples until then)."""
    if isinstance(m, dict):
        return m
    d = dict(zip(_MEMBER_FIELDS, m, strict=True))
    d["frame"] = d["iam_frame"]
    return d


class BurstLike(Protocol):
    """What :meth:`FindingMaker._emit` reads of a burst (:class:`sigdiag.rules.bins.Burst`)."""

    count: int
    first: float
    last: float
    members: list[Any]
    population: int | None
    extra: dict[str, Any]
    file: str | None


class FindingMaker:
    """Builds the engine's findings (a base of :class:`~sigdiag.rules.engine.Engine`)."""

    pc: Callable[[int], str]
    trunks: Any
    file: str | None
    matches: dict[str, int]
    pending: list[Finding]

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

    def _emit(self, rule: Rule, group: Any, b: BurstLike) -> None:
        if b.count == 0:
            return
        self.matches[rule.id] += 1
        members = sorted((member_dict(m) for m in b.members), key=_member_order)
        calls = [m["call_id"] for m in members if m.get("call_id") is not None]
        frames = _frames_of(members)
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
        self.pending.append(
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
