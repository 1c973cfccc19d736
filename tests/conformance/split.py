"""One whole capture cut into rotated files, audited stitched and whole, and compared (the helpers of
tests/conformance/test_boundaries.py).

A flow is a table of messages as in :mod:`tests.conformance.flows` (``(seconds, direction, type, params)``),
but kept in the order given: the order of the rows is the capture order, so that a message a few
milliseconds out of time order stays where it is.  ``params["link"]`` (0 or 1) puts a message on a second
SCTP association between the same exchanges (a mirrored port: the same message seen on two links).  The
frames of the whole capture are made once (:func:`capture`); a split writes slices of them
(:func:`write_split`), so the files hold exactly the packets of the whole capture.

Frame numbers start again at 1 in every file; the comparison maps each stored frame (``frames`` with
``frame_files``, ``iam_frame``, the ladder, frame numbers in the evidence and the message) back to its
position in the whole capture (:class:`Locator`), so frames are compared too; a number that could be in
two files of the row, with nothing in the row to tell which, equals either (:class:`Ambiguous`).  The
``file`` and ``point`` columns (the file being read when a row was written, the point's name) are not
compared.

:func:`assert_same` lists every difference.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sigdiag.capture.writer import PcapWriter
from sigdiag.carrier import link as wire_link
from sigdiag.carrier import sctp as wire_sctp
from sigdiag.carrier.sigtran import build_m3ua_data
from tests.conformance.flows import T0, A, B, Row, encode

__all__ = [
    "Ambiguous",
    "Audit",
    "Frame",
    "Locator",
    "Split",
    "assert_same",
    "audit_point",
    "audit_run",
    "call_norm",
    "capture",
    "differences",
    "finding_norm",
    "library",
    "rules_of",
    "same_ids",
    "write_split",
]

#: the two SCTP associations (links) between A and B: addresses of each exchange on each
_LINK_IP = {0: {A: "192.0.2.1", B: "192.0.2.2"}, 1: {A: "198.51.100.1", B: "198.51.100.2"}}
_TIMES = frozenset(
    ("start", "end", "acm_ts", "alert_ts", "anm_ts", "rel_ts", "rlc_ts", "ts", "window_start", "window_end")
)
#: columns stored as JSON text (``population`` and ``rate`` of findings are stored as text: the audit's
#: findings table has no numeric type for them)
_JSON = frozenset(("links", "calls", "frames", "frame_files", "evidence", "ladder", "population", "rate"))
#: columns naming where a row was written, not what it says
_WHERE = frozenset(("point", "file", "day", "frame_files"))
_FRAME_WORDS = re.compile(r"\b(frames?) (\d+(?:, \d+)*)")


# -- the whole capture and its files -------------------------------------------------------------------------
@dataclass(frozen=True)
class Frame:
    """One packet of the whole capture: its time stamp, octets and what it is (for messages)."""

    ts: float
    data: bytes
    label: str


def capture(rows: Sequence[Row], cic: int = 1) -> list[Frame]:
    """The frames of the flow, in the order of ``rows`` (M3UA DATA over SCTP over IPv4/Ethernet, as
    :func:`tests.conformance.flows.write_flow` writes them, on link ``params["link"]``, default 0)."""
    tsn: dict[tuple[int, int], int] = {}
    out: list[Frame] = []
    for i, (t, direction, typ, p) in enumerate(rows):
        if direction not in (">", "<"):
            raise ValueError(f"row {i}: direction must be '>' or '<', not {direction!r}")
        opc, dpc = (A, B) if direction == ">" else (B, A)
        link = int(p.get("link", 0))
        c = int(p.get("cic", cic))
        m3ua = build_m3ua_data(opc, dpc, 5, 2, 0, i & 0x0F, encode(typ, c, p), routing_context=1)
        tsn[(opc, link)] = tsn.get((opc, link), 0) + 1
        chunk = wire_sctp.data_chunk(m3ua, tsn[(opc, link)], ppid=3)
        ip = _LINK_IP[link]
        packet = wire_sctp.sctp_packet(ip[opc], ip[dpc], 2905, 2905, [chunk])
        label = f"{typ}{direction}CIC{c}{'/link1' if link else ''}@{t:g}s"
        out.append(Frame(T0 + t, wire_link.encapsulate(1, packet), label))
    return out


def _write(path: Path, frames: Sequence[Frame]) -> Path:
    with PcapWriter(path, 1) as w:
        for f in frames:
            w.write(f.data, f.ts)
    return path


@dataclass
class Split:
    """A capture's files, in capture order (``files[i]`` holds frames ``spans[i]``: offset and count)."""

    files: list[Path]
    spans: list[tuple[int, int]]
    frames: list[Frame]

    def locator(self) -> Locator:
        return Locator({str(p): s for p, s in zip(self.files, self.spans, strict=True)}, self.frames)

    def describe(self) -> str:
        """The files and their messages, one line each (for a failure's message)."""
        lines = []
        for p, (o, n) in zip(self.files, self.spans, strict=True):
            labels = " ".join(f.label for f in self.frames[o : o + n])
            lines.append(f"  {p.name}: {labels}")
        return "\n".join(lines)


def write_split(
    folder: Path, frames: Sequence[Frame], cuts: Iterable[int], names: Sequence[str] | None = None
) -> Split:
    """Write ``frames`` as rotated files cut before each position of ``cuts`` (0 < cut < len(frames)).
    ``names``: the files' names in capture order (default ``probe_00000_20250615.pcap``, ...)."""
    edges = [0, *sorted(set(cuts)), len(frames)]
    if any(b <= a for a, b in itertools.pairwise(edges)):
        raise ValueError(f"cuts {sorted(set(cuts))} must lie strictly inside 0..{len(frames)}")
    if names is None:
        names = [f"probe_{i:05d}_20250615.pcap" for i in range(len(edges) - 1)]
    if len(names) != len(edges) - 1:
        raise ValueError(f"{len(edges) - 1} files, {len(names)} names")
    folder.mkdir(parents=True, exist_ok=True)
    files, spans = [], []
    for name, a, b in zip(names, edges, edges[1:], strict=False):
        files.append(_write(folder / name, frames[a:b]))
        spans.append((a, b - a))
    return Split(files, spans, list(frames))


# -- frames back to the whole capture ------------------------------------------------------------------------
class Ambiguous:
    """A frame number found in two files of a row, with nothing to tell which: equal to either."""

    def __init__(self, candidates: Iterable[int]) -> None:
        self.candidates = frozenset(candidates)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Ambiguous):
            return bool(self.candidates & other.candidates)
        return other in self.candidates

    def __hash__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return "|".join(str(c) for c in sorted(self.candidates))


class Locator:
    """Maps frame ``n`` of a file to its position (1-based) in the whole capture."""

    def __init__(self, spans: Mapping[str, tuple[int, int]], frames: Sequence[Frame]) -> None:
        self.spans = dict(spans)
        self.ts = [f.ts for f in frames]

    def only(self) -> str:
        """The file of a frame that does not name its file (the library's reading of one file)."""
        if len(self.spans) != 1:
            raise AssertionError(f"a frame without its file, and {len(self.spans)} files")
        return next(iter(self.spans))

    def at(self, n: int, file: str | None) -> int:
        """Frame ``n`` of ``file`` (None: the only file)."""
        offset, count = self.spans[file if file is not None else self.only()]
        if not 1 <= n <= count:
            raise AssertionError(f"{file} has no frame {n} (it has {count})")
        return offset + n

    def guess(
        self, n: int, files: Iterable[str | None], within: Iterable[int] = (), when: float | None = None
    ) -> int | Ambiguous:
        """Frame ``n`` of one of ``files`` (the files of the row's frames).  When it could be in several:
        the one among ``within`` (the row's frames), else the one whose time stamp is ``when``, if one is."""
        names = {f if f is not None else self.only() for f in files}
        found = sorted({self.spans[f][0] + n for f in names if n <= self.spans[f][1]})
        if not found:
            raise AssertionError(f"frame {n} is in none of the row's files {sorted(names)}")
        if len(found) > 1:
            found = [g for g in found if g in set(within)] or found
        if len(found) > 1 and when is not None:
            found = [g for g in found if abs(self.ts[g - 1] - when) < 1e-6] or found
        return found[0] if len(found) == 1 else Ambiguous(found)


# -- rows ----------------------------------------------------------------------------------------------------
def _seconds(v: Any) -> Any:
    """A time as seconds from the flow's 0.0 (rounded to the microsecond)."""
    if v is None:
        return None
    ts = v.timestamp() if isinstance(v, datetime) else float(v)
    return round(ts - T0, 6)


def _plain(row: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in row.items():
        if k in _JSON and isinstance(v, str):
            v = json.loads(v)
        elif k in _TIMES:
            v = _seconds(v)
        out[k] = v
    return out


def _frames(row: dict[str, Any], loc: Locator) -> list[str | None]:
    """Replace ``row["frames"]`` by whole-capture positions; the files of the frames."""
    frames = row.get("frames")
    if frames is None:
        return []
    files = row.get("frame_files") or [None] * len(frames)
    if len(files) != len(frames):
        raise AssertionError(f"frames {frames} and frame_files {files} differ in length")
    row["frames"] = [loc.at(int(n), f) for n, f in zip(frames, files, strict=True)]
    return list(files)


def _iam_frame(row: dict[str, Any], files: list[str | None], loc: Locator) -> None:
    if row.get("iam_frame") is not None:
        when = None if row.get("start") is None else T0 + row["start"]
        row["iam_frame"] = loc.guess(int(row["iam_frame"]), files or [None], row.get("frames") or (), when)


def call_norm(row: Mapping[str, Any], loc: Locator) -> dict[str, Any]:
    """A stored call row (or ``Call.as_dict()``) with whole-capture frames and times from 0.0."""
    r = _plain(row)
    files = _frames(r, loc)
    _iam_frame(r, files, loc)
    return {k: v for k, v in r.items() if k not in _WHERE}


def _text_frames(text: str, files: list[str | None], within: list[int], loc: Locator) -> Any:
    """``text`` as it is, or, when it names frames ("frame 12", "frames 3, 4"), a list of its pieces with
    each frame number as a whole-capture position."""
    pieces: list[Any] = []
    at = 0
    for m in _FRAME_WORDS.finditer(text):
        pieces.append(text[at : m.start(2)])
        for i, x in enumerate(m.group(2).split(", ")):
            pieces += [", "] if i else []
            pieces.append(loc.guess(int(x), files, within))
        at = m.end(2)
    return [*pieces, text[at:]] if pieces else text


def finding_norm(row: Mapping[str, Any], loc: Locator) -> dict[str, Any]:
    """A stored finding row (or :func:`sigdiag.audit.tables.finding_row` of a finding) likewise; frame
    numbers in the ladder, the evidence and the message too."""
    r = _plain(row)
    files = _frames(r, loc) or [None]
    within = list(r.get("frames") or ())
    _iam_frame(r, files, loc)
    start = r.get("start")
    for step in r.get("ladder") or ():
        when = None if start is None else T0 + start + float(step.get("offset_ms") or 0.0) / 1000
        step["frame"] = loc.guess(int(step["frame"]), files, within, when)
    evidence = r.get("evidence") or {}
    for k, v in evidence.items():
        if "frame" in k and isinstance(v, int):
            evidence[k] = loc.guess(v, files, within)
        elif "frame" in k and isinstance(v, list):
            evidence[k] = [loc.guess(int(x), files, within) for x in v]
        elif isinstance(v, str):
            evidence[k] = _text_frames(v, files, within, loc)
    if isinstance(r.get("message"), str):
        r["message"] = _text_frames(r["message"], files, within, loc)
    return {k: v for k, v in r.items() if k not in _WHERE}


# -- audits --------------------------------------------------------------------------------------------------
@dataclass
class Audit:
    """What one audit (or the library) made of a capture, normalised: calls, findings, summary rows."""

    calls: list[dict[str, Any]]
    findings: list[dict[str, Any]]
    summary: list[dict[str, Any]] | None = None
    points: list[dict[str, Any]] = field(default_factory=list)


def _table(out: Path, name: str) -> list[dict[str, Any]]:
    import pyarrow.dataset as ds

    if not (out / name).is_dir():
        return []
    return list(ds.dataset(out / name, format="parquet", partitioning="hive").to_table().to_pylist())


def same_ids(
    a: Audit, points: Sequence[Any] | None = None, finding_points: Sequence[Any] | None = None
) -> Audit:
    """Call ids named by their IAM's position in the whole capture (an audit numbers a call by its IAM's
    file, frame and index in the frame, within its capture point; the library 1, 2, 3...): in calls,
    findings and their lists of calls and members.  ``points``, ``finding_points``: the capture point of
    each call and finding (ids are unique within a point)."""
    cp = list(points) if points is not None else [None] * len(a.calls)
    fp = list(finding_points) if finding_points is not None else [None] * len(a.findings)
    ids = {(p, c["call_id"]): f"IAM {c['iam_frame']}" for p, c in zip(cp, a.calls, strict=True)}

    def one(p: Any, v: Any) -> Any:
        return ids.get((p, v), v)

    for p, c in zip(cp, a.calls, strict=True):
        c["call_id"] = one(p, c.get("call_id"))
    for p, f in zip(fp, a.findings, strict=True):
        f["call_id"] = one(p, f.get("call_id"))
        if isinstance(f.get("calls"), list):
            f["calls"] = [one(p, x) for x in f["calls"]]
        for m in f.get("members") or ():
            if isinstance(m, dict) and "call_id" in m:
                m["call_id"] = one(p, m["call_id"])
    return a


def _stored(out: Path, loc: Locator, points: list[dict[str, Any]], summary: list[dict[str, Any]]) -> Audit:
    calls, findings = _table(out, "calls"), _table(out, "findings")
    return same_ids(
        Audit([call_norm(r, loc) for r in calls], [finding_norm(r, loc) for r in findings], summary, points),
        [r.get("point") for r in calls],
        [r.get("point") for r in findings],
    )


def audit_point(
    split: Split,
    out: Path,
    order: Sequence[int] | None = None,
    options: dict[str, Any] | None = None,
    parts: bool = False,
) -> Audit:
    """Audit the split's files as one capture point with the audit's worker (:func:`process_point`), the
    files handed over in ``order`` (indexes into ``split.files``; default: capture order); the summary
    rows as ``audit`` makes them from the stored tables (one-hour buckets).  ``parts``: every file a part
    of its own, read from an empty state and merged (:mod:`sigdiag.audit.parts`; the worker reads them
    itself), as with several workers."""
    from sigdiag.audit.parts import Span
    from sigdiag.audit.runner import summary_rows
    from sigdiag.audit.worker import PointTask, first_ts, process_point

    opts = dict(options or {})
    files = [str(split.files[i]) for i in (order if order is not None else range(len(split.files)))]
    groups = None
    if parts:  # one file each, numbered by first time stamp (as the plan numbers them)
        ordered = sorted(files, key=lambda f: (first_ts(f), f))
        groups = [Span([(f, i)]) for i, f in enumerate(ordered)]
    result = process_point(PointTask(str(out), "p1", "probe", files, opts, "run", groups))
    if result["bad"] or result["files"] != len(files) or result["stopped"]:
        raise AssertionError(f"the audit's worker did not audit every file: {result}")
    if (
        parts
        and len(files) > 1
        and result.get("merged", 0) + len(result.get("fallbacks", [])) != len(files) - 1
    ):
        raise AssertionError(f"the parts were not merged: {result}")
    return _stored(out, split.locator(), [result], summary_rows(out, 3600, None, opts))


def audit_run(paths: Sequence[Path], splits: Sequence[Split], out: Path, workers: int) -> Audit:
    """The whole audit (:func:`sigdiag.audit.run_audit`, local engine, ``workers`` processes) of
    ``paths``, whose files are those of ``splits``."""
    from sigdiag.audit import run_audit

    spans: dict[str, tuple[int, int]] = {}
    frames: list[Frame] = []
    for s in splits:  # one locator over every split: each split's positions shifted past the previous
        for p, (o, n) in zip(s.files, s.spans, strict=True):
            spans[str(p)] = (len(frames) + o, n)
        frames += s.frames
    res = run_audit([str(p) for p in paths], out, {}, workers=workers, progress=False)
    if res.bad or res.warnings:
        raise AssertionError(f"audit run: bad files {res.bad}, warnings {res.warnings}")
    return _stored(out, Locator(spans, frames), res.points, res.rows)


def library(split: Split) -> Audit:
    """The library's reading of a one-file capture: :func:`sigdiag.iter_calls` (outcomes refined by the
    shipped rules) and :func:`sigdiag.rules.check` (one process), as rows (no summary)."""
    from sigdiag.audit.tables import finding_row
    from sigdiag.report.frames import iter_calls
    from sigdiag.rules import check
    from sigdiag.rules.facts import trunk_name

    (path,) = split.files
    loc = split.locator()
    calls = []
    for c in iter_calls(path):  # the trunk as the audit names it (no trunk map: the point codes)
        calls.append(
            {**call_norm(c.as_dict(), loc), "trunk": trunk_name(None, c.opc, c.dpc, c.cic, c.carrier)}
        )
    findings = [finding_norm(finding_row(f, "", ""), loc) for f in check(path, workers=1)]
    return same_ids(Audit(calls, findings))


# -- comparison ----------------------------------------------------------------------------------------------
def _call_key(r: Mapping[str, Any]) -> tuple[Any, ...]:
    return (r.get("opc"), r.get("dpc"), r.get("cic"), r.get("start"))


def _call_label(r: Mapping[str, Any]) -> str:
    return (
        f"call CIC {r.get('cic')} {r.get('opc')}->{r.get('dpc')} IAM at {r.get('start')} s "
        f"(call_id {r.get('call_id')}, {r.get('outcome')})"
    )


def _finding_key(r: Mapping[str, Any]) -> tuple[Any, ...]:
    return (
        r.get("rule"),
        r.get("opc"),
        r.get("dpc"),
        r.get("cic"),
        r.get("start"),
        r.get("called"),
        r.get("window_start"),
    )


def _finding_label(r: Mapping[str, Any]) -> str:
    where = f"CIC {r['cic']}" if r.get("cic") is not None else f"trunk {r.get('trunk')}"
    when = r.get("start") if r.get("start") is not None else r.get("window_start")
    extra = f", {r['count']} members" if r.get("count") is not None else ""
    return f"finding {r.get('rule')} on {where} at {when} s{extra}"


def _keyed(rows: Iterable[dict[str, Any]], key: Any) -> dict[tuple[Any, ...], dict[str, Any]]:
    out: dict[tuple[Any, ...], dict[str, Any]] = {}
    for r in rows:
        k = key(r)
        i = 1
        while (*k, i) in out:
            i += 1
        out[(*k, i)] = r
    return out


def _delta(path: str, a: Any, b: Any) -> Iterable[tuple[str, Any, Any]]:
    """Where ``a`` and ``b`` differ: (path, value in a, value in b), down to the differing items of equal
    length lists and the differing keys of mappings."""
    if a == b:
        return
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b), key=str):
            yield from _delta(f"{path}.{k}", a.get(k, "<absent>"), b.get(k, "<absent>"))
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b) and not isinstance(a[0], str):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            yield from _delta(f"{path}[{i}]", x, y)
    else:
        yield path, a, b


def _diff_rows(
    what: str,
    whole: Iterable[dict[str, Any]],
    part: Iterable[dict[str, Any]],
    key: Any,
    label: Any,
) -> list[str]:
    a, b = _keyed(whole, key), _keyed(part, key)
    lines = []
    if len(a) != len(b):
        lines.append(f"{what}: {len(a)} in the whole capture, {len(b)} in the split one")
    for k in sorted(set(a) | set(b), key=repr):
        if k not in b:
            lines.append(f"missing in the split capture: {label(a[k])}")
        elif k not in a:
            lines.append(f"only in the split capture: {label(b[k])}")
        else:
            for col, va, vb in _delta("", a[k], b[k]):
                lines.append(f"{label(a[k])}: {col[1:]}: whole {va!r}, split {vb!r}")
    return lines


def differences(whole: Audit, part: Audit, summary: bool = True) -> list[str]:
    """Every difference between two readings of one capture, one line each (empty: the same calls with
    every column, the same findings with every column, the same summary rows)."""
    lines = _diff_rows("calls", whole.calls, part.calls, _call_key, _call_label)
    lines += _diff_rows("findings", whole.findings, part.findings, _finding_key, _finding_label)
    if summary and whole.summary is not None and part.summary is not None:
        lines += _diff_rows(
            "summary rows",
            whole.summary,
            part.summary,
            lambda r: (r.get("trunk"), r.get("bucket")),
            lambda r: f"summary row {r.get('trunk')} {r.get('bucket')}",
        )
    return lines


def rules_of(a: Audit) -> dict[str, int]:
    """Findings per rule."""
    out: dict[str, int] = {}
    for f in a.findings:
        out[f["rule"]] = out.get(f["rule"], 0) + 1
    return dict(sorted(out.items()))


def assert_same(
    whole: Audit, part: Audit, split: Split | None = None, what: str = "", limit: int = 40
) -> None:
    """Fail, listing the differences (and the files with their messages), unless ``part`` is ``whole``."""
    lines = differences(whole, part)
    if not lines:
        return
    head = f"{what or 'split capture'}: {len(lines)} difference(s) from the whole capture"
    shown = lines[:limit] + ([f"... and {len(lines) - limit} more"] if len(lines) > limit else [])
    files = f"\nfiles:\n{split.describe()}" if split is not None else ""
    raise AssertionError("\n".join([head, *(f"  {x}" for x in shown)]) + files)
