"""Finding capture files and grouping them into capture points.

``PATH`` arguments are files, directories (walked recursively) or glob patterns (``*``, ``?``, ``[...]``,
``**``).  In directories only names ending ``.pcap``, ``.pcapng``, ``.cap`` (each optionally ``.gz``) or
rotated forms such as ``x.pcap1`` count; a file named explicitly is taken whatever its name.

A *capture point* is a set of files written one after the other by one probe (rotation).  ``--point``:

* ``name`` (default): same folder and same name once the rotation parts are stripped: the extension,
  ``.gz``, a counter glued to the extension (tcpdump ``-C``: ``x.pcap``, ``x.pcap1``), and trailing
  counters and time stamps joined by ``_``, ``-`` or ``.`` (dumpcap ``x_00001_20240301120000.pcapng``,
  ``x-0001.pcap``, ``x.2024-03-01T12-00-00.pcap``);
* ``folder``: every capture file of one folder is one point;
* ``file``: every file is its own point (independent captures).
"""

from __future__ import annotations

import glob
import hashlib
import os
import re
from pathlib import Path

__all__ = ["POINT_MODES", "find_captures", "group_points", "point_key"]

POINT_MODES = ("name", "folder", "file")

_CAPTURE_NAME = re.compile(r"\.(pcapng|pcap|cap)\d*(\.gz)?$", re.IGNORECASE)
_EXT = re.compile(r"\.(pcapng|pcap|cap)\d*$", re.IGNORECASE)
_ROTATION = re.compile(r"([_.\-]+[0-9][0-9TtZz:+\-]*)+$")


class InputError(Exception):
    """A PATH that names nothing readable (the command line exits with code 2)."""


def _is_capture_name(name: str) -> bool:
    return bool(_CAPTURE_NAME.search(name))


def find_captures(paths: list[str]) -> list[str]:
    """The capture files named by ``paths`` (sorted, each once, absolute)."""
    found: dict[str, None] = {}
    for raw in paths:
        p = Path(raw)
        if p.is_file():
            found[str(p.resolve())] = None
            continue
        if p.is_dir():
            for dirpath, dirnames, filenames in os.walk(p):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                for fn in sorted(filenames):
                    if _is_capture_name(fn) and not fn.startswith("."):
                        found[str((Path(dirpath) / fn).resolve())] = None
            continue
        if glob.has_magic(raw):
            matches = sorted(glob.glob(raw, recursive=True))
            files = [m for m in matches if Path(m).is_file()]
            for m in matches:
                if Path(m).is_dir():
                    files += [f for f in find_captures([m])]
            if not files:
                raise InputError(f"{raw}: no files match")
            for f in files:
                found[str(Path(f).resolve())] = None
            continue
        raise InputError(f"{raw}: no such file or directory")
    return sorted(found)


def point_key(path: str, mode: str = "name") -> str:
    """The capture point of a file: ``folder/stem`` (``name``), ``folder`` or the path itself."""
    p = Path(path)
    if mode == "file":
        return str(p)
    if mode == "folder":
        return str(p.parent)
    name = p.name
    if name.lower().endswith(".gz"):
        name = name[:-3]
    name = _EXT.sub("", name)
    stem = _ROTATION.sub("", name) or name
    return str(p.parent / stem)


def point_id(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def group_points(files: list[str], mode: str = "name") -> dict[str, list[str]]:
    """``{point key: [files]}`` for the files."""
    if mode not in POINT_MODES:
        raise ValueError(f"--point must be one of {', '.join(POINT_MODES)}, not {mode!r}")
    points: dict[str, list[str]] = {}
    for f in files:
        points.setdefault(point_key(f, mode), []).append(f)
    return points
