"""Evidence slices: exactly the frames of some calls, copied into a new capture file.

:func:`write_slice` takes (capture file, frame number) pairs (a :class:`~sigdiag.report.select.Selected`'s
``frames``, from one or several files) and writes those records, each once, in time order, with their
original octets, on-wire length, link type and time stamps (microseconds), to a classic pcap file, or to
a pcapng file when they come from several link types or from several interfaces of one pcapng file (one
interface per source interface, named after its file).  Each source file is read once, up to its last
frame wanted.  The file is written under a temporary name and renamed: a failure leaves no partial slice.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["EvidenceFile", "SliceError", "SliceResult", "evidence_name", "write_evidence", "write_slice"]


class SliceError(Exception):
    """A frame asked for is not in its capture file (or the file cannot be read)."""


@dataclass
class SliceResult:
    """What :func:`write_slice` wrote: the path, ``pcap`` or ``pcapng``, the number of frames, and the
    source (file, frame) of each record in the order written."""

    path: Path
    format: str
    frames: int
    sources: list[tuple[str, int]] = field(default_factory=list)


def _read(frames: Iterable[tuple[str, int]]) -> list[tuple[str, Any]]:
    """The records wanted, as (file, Frame); SliceError for a frame that is not there."""
    from sigdiag.capture import CaptureError, open_capture

    wanted: dict[str, set[int]] = {}
    for path, n in frames:
        wanted.setdefault(str(path), set()).add(int(n))
    out: list[tuple[str, Any]] = []
    for path, numbers in wanted.items():
        last = max(numbers)
        got = 0
        try:
            for fr in open_capture(path, []):
                if fr.number in numbers:
                    out.append((path, fr))
                    got += 1
                if fr.number >= last:
                    break
        except CaptureError as exc:
            raise SliceError(str(exc)) from None
        if got != len(numbers):
            missing = sorted(numbers - {fr.number for p, fr in out if p == path})
            shown = ", ".join(map(str, missing[:5])) + (" ..." if len(missing) > 5 else "")
            raise SliceError(f"{path}: frame {shown} not in the file (changed or cut since it was read?)")
    return out


def write_slice(frames: Iterable[tuple[str, int]], out: str | os.PathLike[str]) -> SliceResult:
    """Write the records ``frames`` names (duplicates once) to ``out``, in time order; see the module.
    Raises :class:`SliceError` when a frame is missing, OSError when ``out`` cannot be written."""
    from sigdiag.capture import PcapngWriter, PcapWriter
    from sigdiag.capture.writer import PcapngInterface

    frames = list(frames)
    target = Path(out)
    with contextlib.suppress(OSError):
        if any(target.resolve() == Path(p).resolve() for p in {p for p, _ in frames}):
            raise SliceError(f"{target} is a capture the frames are read from: write the slice elsewhere")
    records = _read(frames)
    order = {p: i for i, p in enumerate(dict.fromkeys(p for p, _ in records))}
    records.sort(key=lambda r: (r[1].ts, order[r[0]], r[1].number))
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    linktypes = {fr.linktype for _, fr in records}
    sources = {(p, fr.interface) for p, fr in records}
    per_file = {p for p, _ in sources}
    pcapng = len(linktypes) > 1 or len(sources) > len(per_file)
    try:
        if pcapng:
            ifaces: dict[tuple[str, int], int] = {}
            for p, fr in records:
                ifaces.setdefault((p, fr.interface), len(ifaces))
            linktype_of = {(p, fr.interface): fr.linktype for p, fr in records}
            described = [PcapngInterface(linktype_of[k], f"{Path(k[0]).name}#{k[1]}") for k in ifaces]
            with PcapngWriter(tmp, described) as w:
                for p, fr in records:
                    w.write(fr.data, fr.ts, ifaces[(p, fr.interface)], fr.orig_len)
        else:
            with PcapWriter(tmp, next(iter(linktypes)) if linktypes else 1) as pw:
                for _, fr in records:
                    pw.write(fr.data, fr.ts, 0, fr.orig_len)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return SliceResult(
        target, "pcapng" if pcapng else "pcap", len(records), [(p, fr.number) for p, fr in records]
    )


# -- check --evidence ----------------------------------------------------------------------------------------
@dataclass
class EvidenceFile:
    """What :func:`write_evidence` wrote for one finding: its slice and its SVG ladder (None when the
    finding names no call)."""

    rule: str
    slice: Path
    frames: int
    ladder: Path | None


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def evidence_name(rule: str, call_ids: Sequence[Any], frame: int | None = None) -> str:
    """``<rule>-call<id>`` (a windowed finding: ``<rule>-call<first>-and-<n>-more``; no call:
    ``<rule>-frame<first frame>``), made safe as a file name: letters, digits, ``.``, ``_`` and ``-``
    only, no leading dot, at most 120 characters."""
    if call_ids:
        tail = f"call{call_ids[0]}" + (f"-and-{len(call_ids) - 1}-more" if len(call_ids) > 1 else "")
    else:
        tail = f"frame{frame if frame is not None else 0}"
    name = _UNSAFE.sub("_", f"{rule}-{tail}").lstrip(".") or "finding"
    return name[:120]


def _unique(name: str, used: set[str]) -> str:
    """``name``, or ``name-2``, ``name-3``... when a finding of this run already took it."""
    out, n = name, 1
    while out in used:
        n += 1
        out = f"{name}-{n}"
    used.add(out)
    return out


def write_evidence(
    paths: Sequence[str | os.PathLike[str]],
    findings: Sequence[Any],
    folder: str | os.PathLike[str],
    *,
    settings: Any = None,
    refiner: Any = None,
    trunks: Any = None,
    pc: Callable[[int], str] = str,
) -> list[EvidenceFile]:
    """For each finding of a ``check`` run over capture files ``paths``: a slice of the frames of the
    calls it names (a windowed finding: every member call, in one slice; a finding about no call: its
    frames) and the SVG ladder of its (first) call, named :func:`evidence_name` ``.pcap`` / ``.svg`` in
    ``folder`` (made if needed).  ``findings`` are :class:`~sigdiag.rules.engine.Finding` objects;
    ``settings``, ``refiner``: the run's decoding settings and outcome refiner, so that the calls are read
    again as ``check`` read them (a second pass over the files, correlation only).  A finding with no
    frame gets nothing.  Raises :class:`SliceError`, OSError."""
    from sigdiag.report.ladder import ladder_of_call, ladder_svg
    from sigdiag.report.select import call_frames, call_key, calls_named, finding_keys

    rows = [{**f.as_dict(), "file": f.file, "members": [dict(m) for m in f.members]} for f in findings]
    wanted: set[Any] = set()
    for r in rows:
        wanted |= finding_keys(r)
    calls = calls_named(paths, wanted, settings=settings, refiner=refiner)
    naming: dict[Any, list[dict[str, Any]]] = {}
    for r in rows:
        for k in finding_keys(r):
            naming.setdefault(k, []).append({k2: v for k2, v in r.items() if k2 != "members"})
    out_dir = Path(folder)
    out_dir.mkdir(parents=True, exist_ok=True)
    used: set[str] = set()
    written = []
    for r in rows:
        keys = _ordered_keys(r)
        members = [calls[k] for k in keys if k in calls]
        frames = [fr for path, call in members for fr in call_frames(call, path)]
        if not members and r.get("frames") and r.get("file"):
            frames = [(str(r["file"]), int(x)) for x in r["frames"]]
        if not frames:
            continue
        ids = [call.call_id for _, call in members]
        first = min((int(x) for x in r.get("frames") or ()), default=None)
        name = _unique(evidence_name(str(r["rule"]), ids, first), used)
        result = write_slice(frames, out_dir / f"{name}.pcap")
        svg_path = None
        if members:
            call = members[0][1]
            ladder = ladder_of_call(
                call, naming.get(call_key(call.call_id, call.iam.frame, call.start), []), trunks, pc
            )
            svg_path = out_dir / f"{name}.svg"
            svg_path.write_text(ladder_svg(ladder), encoding="utf-8")
        written.append(EvidenceFile(str(r["rule"]), result.path, result.frames, svg_path))
    return written


def _ordered_keys(r: dict[str, Any]) -> list[Any]:
    """The :func:`~sigdiag.report.select.call_key` of the calls a finding row names, its own call first,
    then its members in their order."""
    from sigdiag.report.select import call_key

    out = []
    k = call_key(r.get("call_id"), r.get("iam_frame"), r.get("start"))
    if k is not None:
        out.append(k)
    for m in r.get("members") or ():
        k = call_key(m.get("call_id"), m.get("iam_frame"), m.get("ts"))
        if k is not None and k not in out:
            out.append(k)
    return out
