"""The decode tree of one frame (:mod:`sigdiag.report.dissect`) as indented text for a terminal."""

from __future__ import annotations

from typing import Any

__all__ = ["tree_text"]

Node = dict[str, Any]


def tree_text(root: Node, width: int = 80) -> str:
    """The tree as indented text for a terminal of ``width`` columns (hex octets wrapped)."""
    lines: list[str] = []
    _text(root, 0, width, lines)
    return "\n".join(lines) + "\n"


def _text(n: Node, depth: int, width: int, lines: list[str]) -> None:
    pad = "  " * depth
    if n["layer"] == "parameter":
        head = f"{n['part']} 0x{n['code'] & 0xFF:02X} {n['name']}, length {n['length']}"
        _wrap(pad, head, width, lines, hexa=False)
        _wrap(f"{pad}  raw ", n["raw"], width, lines)
        for f in n["fields"]:
            _field_line(f"{pad}    ", f, width, lines)
    else:
        lines.append(f"{pad}{n['layer']}")
        for f in n["fields"]:
            _field_line(f"{pad}  ", f, width, lines)
    for a in n["anomalies"]:
        _wrap(f"{pad}  ! ", a, width, lines, hexa=False)
    if n.get("stop"):
        _wrap(f"{pad}  stopped: ", n["stop"], width, lines, hexa=False)
    for c in n["children"]:
        _text(c, depth + 1, width, lines)


def _field_line(pad: str, f: dict[str, Any], width: int, lines: list[str]) -> None:
    value = f.get("text", f["value"])
    text = f"{f['name']}: {value}"
    if "raw" in f and f["raw"] and len(f["raw"]) <= 16:
        text += f" [{f['raw']}]"
    _wrap(pad, text, width, lines, hexa=False)


def _wrap(pad: str, text: str, width: int, lines: list[str], hexa: bool = True) -> None:
    """``text`` after ``pad``, cut into lines of at most ``width`` columns (hex in whole octets, with a
    space between octets; words elsewhere)."""
    room = max(16, width - len(pad))
    if hexa:
        octets = [text[i : i + 2] for i in range(0, len(text), 2)] or [""]
        per = max(1, (room + 1) // 3)
        rows = [" ".join(octets[i : i + per]) for i in range(0, len(octets), per)]
        lines.append(pad + rows[0])
        lines += [" " * len(pad) + r for r in rows[1:]]
        return
    cont = " " * min(len(pad) + 2, width - 16)
    line = pad
    for word in str(text).split(" "):
        if len(line) + len(word) > width and line.strip():
            lines.append(line.rstrip())
            line = cont
        while len(line) + len(word) > width:  # a word longer than a line
            cut = width - len(line)
            lines.append(line + word[:cut])
            line, word = cont, word[cut:]
        line += word + " "
    lines.append(line.rstrip())
