"""SVG written directly: a few escaped primitives (:func:`svg_document`, :func:`text`, :func:`element`)
and the call ladder drawn with them (:func:`ladder_svg`).

Every string given to these functions is escaped (``&``, ``<``, ``>`` and quotes) here, so text from a
capture or a user file (digits, trunk names, rule messages) shows as text and never becomes markup.  The
documents are standalone: the SVG namespace, a ``viewBox`` (they scale to any width), a ``<title>``, a
generic font family and no reference to anything outside the document.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sigdiag.report.ladder import Arrow, Ladder

__all__ = ["attrs", "element", "esc", "ladder_svg", "ladders_svg", "svg_document", "text"]

SVG_NS = "http://www.w3.org/2000/svg"


def esc(value: Any) -> str:
    """``value`` as text safe in XML/HTML content and quoted attribute values."""
    return escape(str(value), quote=True)


def attrs(**values: Any) -> str:
    """Attributes ``name="value"`` (escaped), in the order given; ``font_size`` is written ``font-size``
    and ``class_`` ``class``; None values are left out."""
    out = []
    for name, value in values.items():
        if value is None:
            continue
        key = name.rstrip("_").replace("_", "-")
        out.append(f' {key}="{esc(value)}"')
    return "".join(out)


def element(tag: str, body: str = "", **values: Any) -> str:
    """``<tag attrs>body</tag>`` (``body`` is markup already made by these functions), or ``<tag/>``."""
    if not body:
        return f"<{tag}{attrs(**values)}/>"
    return f"<{tag}{attrs(**values)}>{body}</{tag}>"


def text(x: float, y: float, s: Any, **values: Any) -> str:
    """A ``<text>`` element at (x, y) with ``s`` escaped; ``tooltip`` adds a ``<title>`` child (the whole
    of a text that was cut) unless it is ``s`` itself."""
    tooltip = values.pop("tooltip", None)
    inner = (f"<title>{esc(tooltip)}</title>" if tooltip and tooltip != s else "") + esc(s)
    return f"<text{attrs(x=_n(x), y=_n(y), **values)}>{inner}</text>"


def svg_document(width: float, height: float, body: str, title: str, desc: str | None = None) -> str:
    """A standalone SVG document of ``width`` x ``height`` user units that scales to its container (width
    100 %, the height following the ``viewBox``), with ``title`` (and ``desc``) escaped."""
    head = f"<title>{esc(title)}</title>" + (f"<desc>{esc(desc)}</desc>" if desc else "")
    return (
        f'<svg xmlns="{SVG_NS}" viewBox="0 0 {_n(width)} {_n(height)}" width="100%"'
        f' role="img" font-family="sans-serif" font-size="13">{head}{body}</svg>\n'
    )


def _n(value: float) -> str:
    """A coordinate: an integer when it is one, else one decimal."""
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


# -- the ladder ----------------------------------------------------------------------------------------------
WIDTH = 900
LEFT_X = 240  # the calling side's column
RIGHT_X = 620  # the called side's column
TOP = 70  # the first message row
ROW = 56  # height of a message row
INFO_CHARS = 58  # info text longer than this is cut (the whole text is the tooltip)
COLOURS = {"forward": "#1f4e8c", "backward": "#8c3a1f", "unknown": "#555555"}
MARK_COLOUR = "#b00020"


def _cut(s: str, n: int) -> str:
    return s if len(s) <= n else s[: n - 1] + "\u2026"


def _message(ladder: Ladder, a: Arrow, y: float) -> str:
    """One message: its arrow, type, key content, times and frame, and the rule ids that mark it."""
    from sigdiag.display import format_ts

    fwd = a.direction != "backward"
    x1, x2 = (LEFT_X, RIGHT_X) if fwd else (RIGHT_X, LEFT_X)
    tip = x2 - 10 if fwd else x2 + 10
    colour = COLOURS.get(a.direction, COLOURS["unknown"])
    dash = "6 4" if a.direction == "unknown" else None
    when = format_ts(a.ts)[11:23]
    parts = [
        element(
            "line",
            x1=x1,
            y1=_n(y),
            x2=_n(tip),
            y2=_n(y),
            stroke=colour,
            stroke_width=2,
            stroke_dasharray=dash,
        ),
        element("polygon", points=f"{x2},{_n(y)} {tip},{_n(y - 5)} {tip},{_n(y + 5)}", fill=colour),
        text(
            (LEFT_X + RIGHT_X) / 2,
            y - 6,
            a.type,
            text_anchor="middle",
            font_weight="bold",
            font_size=14,
            fill=colour,
            class_="type",
        ),
        text(10, y - 4, f"+{a.offset_ms:.1f} ms", font_size=13, class_="offset"),
        text(10, y + 12, f"{when}  #{ladder.frame_label(a)}", font_size=12, fill="#444444", class_="time"),
    ]
    if a.info:
        parts.append(
            text(
                (LEFT_X + RIGHT_X) / 2,
                y + 16,
                _cut(a.info, INFO_CHARS),
                text_anchor="middle",
                font_size=12,
                class_="info",
                tooltip=a.info,
            )
        )
    if a.marks:
        parts.append(
            text(
                (LEFT_X + RIGHT_X) / 2,
                y + 31,
                "\u25c6 " + ", ".join(a.marks),
                font_size=12,
                text_anchor="middle",
                fill=MARK_COLOUR,
                font_weight="bold",
                class_="mark",
            )
        )
    return element("g", "".join(parts), class_="message", data_frame=a.frame, data_type=a.type)


def _gap(y1: float, y2: float, label: str, x: float) -> str:
    """A bracket from y1 to y2 at x with its label (a judged interval)."""
    path = f"M{_n(x)},{_n(y1)} h6 V{_n(y2)} h-6"
    return element(
        "g",
        element("path", d=path, fill="none", stroke="#666666", stroke_width=1.5)
        + text(x + 10, (y1 + y2) / 2 + 4, label, font_size=12, fill="#333333"),
        class_="gap",
    )


def _ladder_body(ladder: Ladder) -> tuple[str, float]:
    """The drawing of one ladder and its height."""
    n = len(ladder.arrows)
    bottom = TOP + ROW * max(n, 1)
    height = bottom + 30 + 18 * len(ladder.files)
    body = [
        element("rect", x=0, y=0, width=WIDTH, height=_n(height), fill="#ffffff"),
        text(
            10,
            20,
            _cut(ladder.title, 100),
            font_size=14,
            font_weight="bold",
            class_="title",
            tooltip=ladder.title,
        ),
    ]
    for x, label in ((LEFT_X, ladder.left), (RIGHT_X, ladder.right)):
        body.append(
            element("rect", x=x - 110, y=30, width=220, height=24, rx=4, fill="#eef2f7", stroke="#1f4e8c")
        )
        body.append(
            text(x, 47, _cut(label, 30), text_anchor="middle", font_size=13, class_="column", tooltip=label)
        )
        body.append(element("line", x1=x, y1=54, x2=x, y2=_n(bottom), stroke="#999999", stroke_width=1))
    by_frame: dict[int, float] = {}  # (a gap names frames: the first message of that number)
    for i, a in enumerate(ladder.arrows):
        y = TOP + ROW * i + 14
        by_frame.setdefault(a.frame, y)
        body.append(_message(ladder, a, y))
    for i, g in enumerate(ladder.gaps):
        y1, y2 = by_frame.get(g.start_frame), by_frame.get(g.end_frame)
        if y1 is None or y2 is None:
            continue
        body.append(_gap(y1 + 2, y2 - 2, f"{g.name}: {g.ms:.1f} ms", RIGHT_X + 20 + 12 * i))
    for i, name in enumerate(ladder.files, 1):
        line = f"frames #{i}:N are in {name}"
        body.append(text(10, bottom + 18 * i, _cut(line, 120), font_size=12, class_="file", tooltip=line))
    if not ladder.arrows:
        body.append(text(WIDTH / 2, TOP + 20, "no messages", text_anchor="middle"))
    return "".join(body), height


def ladder_svg(ladder: Ladder) -> str:
    """The ladder as a standalone SVG document: a column per signalling point, an arrow per message in
    time order with its type, key content, offset from the IAM, time of day and frame, the judged gaps
    as brackets at the right, and the rule ids that name a frame."""
    body, height = _ladder_body(ladder)
    desc = f"{ladder.left} to {ladder.right}: {len(ladder.arrows)} messages"
    return svg_document(WIDTH, height, body, ladder.title, desc)


def ladders_svg(ladders: Sequence[Ladder]) -> str:
    """Several ladders in one standalone SVG document, one below the other (one ladder: as
    :func:`ladder_svg`)."""
    if len(ladders) == 1:
        return ladder_svg(ladders[0])
    parts, y = [], 0.0
    for lad in ladders:
        body, height = _ladder_body(lad)
        parts.append(element("g", body, transform=f"translate(0,{_n(y)})", class_="ladder"))
        y += height + 20
    title = f"{len(ladders)} call ladders: " + "; ".join(lad.title for lad in ladders[:3])
    return svg_document(WIDTH, max(y - 20, 1), "".join(parts), _cut(title, 300))
