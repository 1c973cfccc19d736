"""The call ladder (``sigdiag flow``): one column per signalling point, one arrow per message in time
order with its key content, the gaps the rules judge, and the frames a finding names marked with the rule.

:func:`ladder_from_rows` builds a :class:`Ladder` from a call row and its ladder rows (captures and audit
folders alike); :func:`ladder_of_call` from an in-memory call.  It is drawn as text that fits a terminal
(:func:`ladder_text`, Rich), as a standalone SVG (:func:`ladder_svg`, :mod:`sigdiag.report.svg`), as a
Mermaid ``sequenceDiagram`` (:func:`ladder_mermaid`) and as a self-contained HTML page of several ladders
(:func:`flow_html`).  Every string from a capture or a user file is escaped for the format it goes into.

The calling side (the IAM's OPC) is the left column, the called side the right one: a forward message goes
left to right.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sigdiag.report.svg import ladder_svg

__all__ = [
    "Arrow",
    "Gap",
    "Ladder",
    "flow_html",
    "ladder_from_rows",
    "ladder_mermaid",
    "ladder_of_call",
    "ladder_rows",
    "ladder_svg",
    "ladder_text",
    "message_info",
]


@dataclass(frozen=True)
class Arrow:
    """One message of the call."""

    frame: int  # frame number in its file
    file: str | None  # capture file name (audit folders: across rotated files), None for one file
    ts: float  # absolute epoch seconds
    offset_ms: float  # from the IAM
    type: str  # "IAM", "SAM", "ACM", "REL", ...
    direction: str  # "forward" (calling side -> called side) | "backward" | "unknown"
    info: str  # key content: digits, cause, indicators
    marks: tuple[str, ...] = ()  # rule ids of findings naming this frame


@dataclass(frozen=True)
class Gap:
    """A judged interval written on the ladder, from one message to another."""

    name: str  # "PDD", "SAM to REL", "answer delay", "release wait"
    start_frame: int
    end_frame: int
    ms: float


@dataclass(frozen=True)
class Ladder:
    """A call's ladder: its columns, messages, gaps, outcome and the findings about it."""

    call_id: int | str
    title: str
    left: str  # column label: point code (and trunk name when known)
    right: str
    left_pc: str
    right_pc: str
    arrows: tuple[Arrow, ...]
    gaps: tuple[Gap, ...]
    outcome: str | None
    findings: tuple[dict[str, Any], ...]
    trunk: str | None = None  # the trunk name from the trunk map, when known
    start: float | None = None  # time of the IAM (epoch seconds)

    @property
    def files(self) -> tuple[str, ...]:
        """The capture files of the messages when there are several (rotated files of an audit), in
        the order first seen; empty when all come from one file."""
        seen = tuple(dict.fromkeys(a.file for a in self.arrows if a.file))
        return seen if len(seen) > 1 else ()

    def frame_label(self, a: Arrow) -> str:
        """The frame number, prefixed with the file's place in :attr:`files` (``2:14``) when the
        messages come from several files."""
        files = self.files
        return f"{files.index(a.file) + 1}:{a.frame}" if files and a.file in files else str(a.frame)


# -- key content of a message ------------------------------------------------------------------------------
def message_info(m: Any) -> str:
    """A few words on a decoded message: IAM and SAM digits, cause value and name (as
    :func:`sigdiag.rules.findings.ladder_of` says them), and for ACM/CPG/CON the indicators: the
    called party's status and charge indicator of the backward call indicators, the CPG event."""
    from sigdiag.codec import catalogue as P
    from sigdiag.codec import names as N
    from sigdiag.codec.fields import BACKWARD_CALL_INDICATORS, EVENT_INFORMATION, param_value
    from sigdiag.rules.findings import ladder_info

    base = ladder_info(m)
    if m is None or m.type not in ("ACM", "CPG", "CON"):
        return base
    words = []
    bci = param_value(m.raw_params, BACKWARD_CALL_INDICATORS)
    if bci is not None:
        status = P.BACKWARD_CALL_INDICATORS.reader("called_partys_status")(bci)
        charge = P.BACKWARD_CALL_INDICATORS.reader("charge")(bci)
        if status is not None:
            words.append("called party: " + N.CALLED_STATUS.get(status, str(status)))
        if charge is not None:
            words.append("charge indicator: " + N.CHARGE.get(charge, str(charge)))
    event = param_value(m.raw_params, EVENT_INFORMATION)
    if event is not None:
        value = P.EVENT_INFORMATION.reader("event")(event)
        if value is not None:
            words.append("event " + N.EVENT_INDICATOR.get(value, str(value)))
    return ", ".join(w for w in (*words, base) if w)


def ladder_rows(call: Any, file: str | None = None) -> list[dict[str, Any]]:
    """The rows of :func:`sigdiag.rules.findings.ladder_of` for an in-memory call, with ``ts`` (epoch
    seconds), ``file`` and the ACM/CPG/CON indicators that ladder_of leaves out (:func:`message_info`)."""
    from sigdiag.rules.facts import decode_timeline_entry
    from sigdiag.rules.findings import ladder_of

    rows = ladder_of(call)
    for row, entry in zip(rows, call.timeline, strict=True):
        row["ts"] = entry[1]
        row["file"] = file
        if entry[2] in ("ACM", "CPG", "CON"):
            row["info"] = message_info(decode_timeline_entry(call, entry))
    return rows


# -- the model ---------------------------------------------------------------------------------------------
def _pc_text(value: Any, pc: Callable[[int], str]) -> str:
    if value is None:
        return "-"
    return pc(value) if isinstance(value, int) else str(value)


def _trunk(call: Mapping[str, Any], trunks: Any, pc: Callable[[int], str]) -> str | None:
    """The trunk name from the trunk map; else the call row's ``trunk`` (audit tables) unless it is only
    the point-code pair."""
    opc, dpc = call.get("opc"), call.get("dpc")
    if trunks is not None:
        name = trunks.name(opc, dpc, call.get("cic"))
        return None if name is None else str(name)
    name = call.get("trunk")
    if not name or not isinstance(opc, int) or not isinstance(dpc, int):
        return None
    lo, hi = sorted((opc, dpc))
    return None if str(name) in (f"{pc(lo)}-{pc(hi)}", f"{lo}-{hi}", call.get("carrier")) else str(name)


def _finding_frames(f: Mapping[str, Any], frames: set[int]) -> set[int]:
    """The frames of the ladder a finding names: those of its evidence (``..._frame``, ``..._frames``),
    else its IAM frame (a finding about the whole call), else its frames."""
    named: set[int] = set()
    for key, value in (f.get("evidence") or {}).items():
        if key.endswith("_frame") and isinstance(value, int):
            named.add(int(value))
        elif key.endswith("_frames") and isinstance(value, list | tuple):
            named.update(int(v) for v in value if isinstance(v, int))
    named &= frames
    if named:
        return named
    iam = f.get("iam_frame")
    if isinstance(iam, int) and iam in frames:
        return {int(iam)}
    return {int(x) for x in f.get("frames") or () if isinstance(x, int)} & frames


def _names_call(f: Mapping[str, Any], call_id: Any) -> bool:
    if call_id is None:
        return True
    return f.get("call_id") == call_id or call_id in (f.get("calls") or ())


ALERTING = ("ACM", "CON", "ANM")


def _gap(name: str, a: Arrow, b: Arrow, ms: Any) -> Gap:
    value = float(ms) if isinstance(ms, int | float) and math.isfinite(ms) else b.offset_ms - a.offset_ms
    return Gap(name, a.frame, b.frame, round(value, 1))


def _first(arrows: Sequence[Arrow], after: int, test: Callable[[Arrow], bool]) -> int | None:
    return next((i for i in range(after, len(arrows)) if test(arrows[i])), None)


def _gaps(call: Mapping[str, Any], arrows: Sequence[Arrow]) -> list[Gap]:
    """The intervals the rules and KPIs judge: PDD (the last digits to the ACM, CPG alerting or answer,
    as ``pdd_ms``), SAM to REL (the latest SAM to a REL with no backward progress between), answer
    delay (ACM to ANM) and release wait (the first REL to the RLC)."""
    out: list[Gap] = []
    end = _first(
        arrows, 0, lambda a: a.type in ALERTING or (a.type == "CPG" and "alerting" in a.info.lower())
    )
    if end is not None:
        start = next((i for i in range(end - 1, -1, -1) if arrows[i].type in ("IAM", "SAM")), None)
        if start is not None:
            out.append(_gap("PDD", arrows[start], arrows[end], call.get("pdd_ms")))
    rel = _first(arrows, 0, lambda a: a.type == "REL")
    if rel is not None and arrows[rel].direction != "forward":
        for i in range(rel - 1, -1, -1):
            if arrows[i].type == "SAM":
                out.append(_gap("SAM to REL", arrows[i], arrows[rel], None))
                break
            if arrows[i].direction == "backward":  # progress came between: not a REL right after digits
                break
    acm = _first(arrows, 0, lambda a: a.type == "ACM")
    anm = None if acm is None else _first(arrows, acm, lambda a: a.type == "ANM")
    if acm is not None and anm is not None:
        out.append(_gap("answer delay", arrows[acm], arrows[anm], call.get("answer_delay_ms")))
    rlc = None if rel is None else _first(arrows, rel, lambda a: a.type == "RLC")
    if rel is not None and rlc is not None:
        out.append(_gap("release wait", arrows[rel], arrows[rlc], call.get("release_wait_ms")))
    return out


def _title(call: Mapping[str, Any], trunk: str | None) -> str:
    from sigdiag.codec.names import cause_name

    called = call.get("called") or "-"
    parts = [f"call {call.get('call_id')}: {call.get('calling') or '-'} -> {called}"]
    if call.get("cic") is not None:
        parts.append(f"CIC {call.get('cic')}")
    if trunk:
        parts.append(f"trunk {trunk}")
    outcome = call.get("outcome")
    if outcome:
        detail = call.get("outcome_detail")
        parts.append(f"{outcome}/{detail}" if detail and detail != outcome else str(outcome))
    cause = call.get("cause")
    if isinstance(cause, int):
        parts.append(f"cause {cause} ({cause_name(cause)})")
    return ", ".join(parts)


def ladder_from_rows(
    call: Mapping[str, Any],
    rows: Sequence[Mapping[str, Any]],
    findings: Sequence[Mapping[str, Any]] = (),
    trunks: Any = None,
    pc: Callable[[int], str] = str,
) -> Ladder:
    """The ladder of a call: ``call`` is a :meth:`Call.as_dict` row or an audit calls-table row;
    ``rows`` are :func:`~sigdiag.rules.findings.ladder_of`-style rows (``frame``, ``offset_ms``,
    ``direction``, ``type``, ``info``; ``file`` and ``ts`` optional); ``findings`` are
    :meth:`Finding.as_dict` rows (those that do not name the call are left out); ``trunks`` a trunk map
    (:class:`~sigdiag.calls.stats.TrunkMap`); ``pc`` prints a point code."""
    call_id = call.get("call_id")
    kept = tuple(dict(f) for f in findings if _names_call(f, call_id))
    frames = {int(r["frame"]) for r in rows}
    marks: dict[int, list[str]] = {}
    for f in kept:
        for frame in _finding_frames(f, frames):
            ids = marks.setdefault(frame, [])
            if f.get("rule") and f["rule"] not in ids:
                ids.append(str(f["rule"]))
    start = call.get("start")
    t0 = float(start) if isinstance(start, int | float) else None
    arrows = []
    for r in rows:
        offset = float(r.get("offset_ms") or 0.0)
        ts = r.get("ts")
        if not isinstance(ts, int | float):
            ts = (t0 or 0.0) + offset / 1000.0
        arrows.append(
            Arrow(
                frame=int(r["frame"]),
                file=r.get("file"),
                ts=float(ts),
                offset_ms=offset,
                type=str(r.get("type") or "?"),
                direction=str(r.get("direction") or "unknown"),
                info=str(r.get("info") or ""),
                marks=tuple(marks.get(int(r["frame"]), ())),
            )
        )
    trunk = _trunk(call, trunks, pc)
    left_pc, right_pc = _pc_text(call.get("opc"), pc), _pc_text(call.get("dpc"), pc)
    suffix = f" ({trunk})" if trunk else ""
    return Ladder(
        call_id=call_id if isinstance(call_id, int | str) else str(call_id),
        title=_title(call, trunk),
        left=left_pc + suffix,
        right=right_pc + suffix,
        left_pc=left_pc,
        right_pc=right_pc,
        arrows=tuple(arrows),
        gaps=tuple(_gaps(call, arrows)),
        outcome=call.get("outcome"),
        findings=kept,
        trunk=trunk,
        start=t0,
    )


def ladder_of_call(
    call: Any, findings: Iterable[Any] = (), trunks: Any = None, pc: Callable[[int], str] = str
) -> Ladder:
    """The ladder of an in-memory call (its timeline), with the findings (rows or
    :class:`~sigdiag.rules.findings.Finding` objects) that name it."""
    rows = [f.as_dict() if hasattr(f, "as_dict") else f for f in findings]
    return ladder_from_rows(call.as_dict(), ladder_rows(call), rows, trunks, pc)


# -- text ----------------------------------------------------------------------------------------------


def _lane(a: Arrow, width: int) -> str:
    """``|-- IAM ---------->|`` (forward), ``|<--------- REL --|`` (backward), ``|?- ... -?|``."""
    inner = width - 2
    name = f" {a.type} "
    if a.direction == "backward":
        body = "<" + "-" * max(inner - len(name) - 3, 0) + name + "--"
    elif a.direction == "forward":
        body = "--" + name + "-" * max(inner - len(name) - 3, 0) + ">"
    else:
        body = "?-" + name + "-" * max(inner - len(name) - 3, 0) + "?"
    return "|" + body[:inner] + "|"


def _clock(ts: float) -> str:
    from sigdiag.display import format_ts

    return format_ts(ts)[11:23]


def ladder_text(ladder: Ladder, width: int = 80) -> str:
    """The ladder as plain text no wider than ``width`` (Rich): a line per message with its offset from
    the IAM, time of day (UTC), frame and arrow, its key content and rule marks below, the judged gaps
    after the message that ends them, then the outcome and the findings."""
    from io import StringIO

    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from sigdiag.display import format_ts

    console = Console(
        file=StringIO(),
        width=width,
        color_system=None,
        emoji=False,
        highlight=False,
        force_terminal=False,
        soft_wrap=False,
    )
    lane_w = max(width - 9 - 12 - 6 - 6, 20)
    console.print(Text(ladder.title, style="bold"))
    day = format_ts(
        ladder.start if ladder.start is not None else (ladder.arrows[0].ts if ladder.arrows else None)
    )
    console.print(Text(f"A: {ladder.left} (calling side)   B: {ladder.right} (called side)"))
    if day:
        console.print(Text(f"{day[:10]}, times UTC; +ms from the IAM"))
    for i, name in enumerate(ladder.files, 1):
        console.print(Text(f"frames {i}:N are in {name}"))
    table = Table(box=None, pad_edge=False, padding=(0, 1), show_edge=False, show_header=True)
    table.add_column("+ms", justify="right", width=9, no_wrap=True)
    table.add_column("time", width=12, no_wrap=True)
    table.add_column("frame", justify="right", width=6, no_wrap=True)
    table.add_column(_columns_header(ladder, lane_w), width=lane_w, overflow="fold")
    ends: dict[int, list[Gap]] = {}
    for g in ladder.gaps:
        ends.setdefault(g.end_frame, []).append(g)
    label: dict[
        int, str
    ] = {}  # frame -> its label, the latest message of that number so far (a gap looks back)
    for a in ladder.arrows:
        label[a.frame] = ladder.frame_label(a)
        cell = Text(_lane(a, lane_w))
        if a.info:
            cell.append("\n" + a.info)
        if a.marks:
            cell.append("\n! " + ", ".join(a.marks), style="bold")
        table.add_row(f"{a.offset_ms:.1f}", _clock(a.ts), ladder.frame_label(a), cell)
        for g in ends.pop(a.frame, []):
            table.add_row(
                "",
                "",
                "",
                Text(
                    f"^ {g.name}: {g.ms:.1f} ms {_gap_frames(g, label, a)}",
                    style="italic",
                ),
            )
    console.print(table)
    if ladder.outcome:
        console.print(Text(f"outcome: {ladder.outcome}"))
    for f in ladder.findings:
        console.print(
            Text(f"[{str(f.get('severity') or '').upper()}] {f.get('rule')}: {f.get('title') or ''}")
        )
    out = console.file.getvalue()  # type: ignore[attr-defined]
    return "\n".join(line.rstrip() for line in out.splitlines()) + "\n"


def _gap_frames(g: Gap, label: Mapping[int, str], end: Arrow) -> str:
    """``(frame 21 to 22)``: the gap's messages as the ladder labels them (``label``: frame -> label of
    the messages so far; ``end``: the message that ends the gap)."""
    return f"(frame {label.get(g.start_frame, str(g.start_frame))} to {label[end.frame]})"


def _columns_header(ladder: Ladder, width: int) -> str:
    """``A 1704716 ... 1706241 B`` spread over the lane's width (labels cut to fit)."""
    half = (width - 1) // 2
    left = ("A " + ladder.left_pc)[:half]
    right = (ladder.right_pc + " B")[:half]
    return left + " " * max(width - len(left) - len(right), 1) + right


# -- Mermaid ----------------------------------------------------------------------------------------------
#: characters Mermaid reads as syntax or markup in a sequence diagram: written as entity codes (``#35;``)
MERMAID_SPECIAL = frozenset("#;:<>\"'&`{}[]\\|%=")


def mermaid_text(value: Any) -> str:
    """Text safe in a Mermaid message, note or participant alias: line breaks and control characters
    become spaces, syntax characters entity codes (``#58;`` for ``:``)."""
    out = []
    for ch in str(value):
        if ch in MERMAID_SPECIAL:
            out.append(f"#{ord(ch)};")
        elif ch < " " or ch == "\x7f":
            out.append(" ")
        else:
            out.append(ch)
    return "".join(out).strip() or "-"


def ladder_mermaid(ladder: Ladder) -> str:
    """The ladder as a Mermaid ``sequenceDiagram`` (GitHub and GitLab render it): participants A and B
    with the column labels, an arrow per message with its offset, frame and key content, a note for each
    judged gap and each rule mark."""
    lines = [
        "sequenceDiagram",
        f"    participant A as {mermaid_text(ladder.left)}",
        f"    participant B as {mermaid_text(ladder.right)}",
        f"    Note over A,B: {mermaid_text(ladder.title)}",
    ]
    ends: dict[int, list[Gap]] = {}
    for g in ladder.gaps:
        ends.setdefault(g.end_frame, []).append(g)
    label: dict[int, str] = {}
    for a in ladder.arrows:
        label[a.frame] = ladder.frame_label(a)
        arrow = {"forward": "A->>B", "backward": "B->>A"}.get(a.direction, "A--)B")
        text = f"{a.type} +{a.offset_ms:.1f} ms, {_clock(a.ts)}, frame {label[a.frame]}"
        if a.info:
            text += f" - {a.info}"
        lines.append(f"    {arrow}: {mermaid_text(text)}")
        if a.marks:
            lines.append(f"    Note right of B: {mermaid_text('! ' + ', '.join(a.marks))}")
        for g in ends.pop(a.frame, []):
            gap = f"{g.name} {g.ms:.1f} ms {_gap_frames(g, label, a)}"
            lines.append(f"    Note over A,B: {mermaid_text(gap)}")
    return "\n".join(lines) + "\n"


# -- HTML ----------------------------------------------------------------------------------------------
def flow_html(ladders: Sequence[Ladder], title: str = "sigdiag flow") -> str:
    """A self-contained HTML page of ladders: a heading per call, its SVG ladder inline, its messages as
    a table and the findings about it (Jinja2 with autoescape; nothing outside the page)."""
    from pathlib import Path

    import jinja2
    from markupsafe import Markup

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    # ladder_svg escapes every string it writes: its markup goes in as it is
    items = [{"ladder": lad, "svg": Markup(ladder_svg(lad)), "clock": _clock} for lad in ladders]
    return env.get_template("flow.html.j2").render(title=title, items=items)
