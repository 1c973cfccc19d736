"""Finding calls in an audit output folder, through its stored tables (no audit rerun).

:func:`select_audit_calls` reads the committed ``calls`` parts, keeps the rows that match (the filters
of :func:`sigdiag.report.select.select_calls`: number contained in called or calling, call id, CIC,
point code on either side, calls named by a finding of a rule), and returns the same
:class:`~sigdiag.report.select.Selected` as for captures: the call row (times as epoch seconds, lists as
lists), its ladder rows, the findings that name it (JSON columns parsed) and the (file, frame) of each
message from ``frames``/``frame_files`` — across the rotated files of the capture point.

Ladder rows come from the findings table when a finding of the call has one and it has no ACM, CPG or
CON (whose indicators it leaves out; ``ts`` is then the IAM time plus the row's offset, to 0.1 ms);
otherwise the files that hold the call's frames (only those) are read again with the audit's decoding
options and the rows made from those frames (:func:`sigdiag.report.ladder.ladder_rows`).  Call ids are unique
within a capture point: a call is (point, call id).  The calls table lists a call's messages, not the
copies seen on other links (it counts them in ``duplicates``).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from sigdiag.audit.store import STATE_DIR, committed_parts
from sigdiag.report.select import Selected, parse_call_id

__all__ = ["AuditLookupError", "audit_decode_settings", "is_audit_folder", "select_audit_calls"]

#: JSON text columns of the findings table
_JSON_COLUMNS = ("links", "calls", "frames", "frame_files", "evidence", "ladder")


class AuditLookupError(ValueError):
    """The folder is not an audit folder, or its tables cannot be read."""


def is_audit_folder(path: str | Path) -> bool:
    """Whether ``path`` is an audit output folder (``sigdiag audit --out``)."""
    p = Path(path)
    return p.is_dir() and (p / STATE_DIR / "run.json").is_file()


def _run_options(folder: Path) -> dict[str, Any]:
    from sigdiag.audit.runner import read_run

    run = read_run(folder)
    if run is None:
        raise AuditLookupError(f"{folder}: not an audit output folder (no {STATE_DIR}/run.json)")
    return dict(run.get("options") or {})


def audit_decode_settings(folder: str | Path) -> Any:
    """The decoding settings an audit ran with (to read its files' frames again as it read them)."""
    return _decode_settings(_run_options(Path(folder)))


def _decode_settings(options: dict[str, Any]) -> Any:
    from sigdiag.decode import resolve_settings

    decode = dict(options.get("decode") or {})
    config = decode.pop("config", None)
    return resolve_settings(None, config, **decode)


def _rows(folder: Path, table: str) -> Iterator[dict[str, Any]]:
    from sigdiag.audit.summary import read_rows
    from sigdiag.audit.tables import schema

    parts = committed_parts(folder, table, [])
    try:
        yield from read_rows(parts, list(schema(table).names))
    except OSError as exc:
        raise AuditLookupError(f"cannot read the stored results in {folder}: {exc}") from None


def _finding(row: dict[str, Any]) -> dict[str, Any]:
    """A findings-table row as a ``Finding.as_dict()`` row (JSON columns parsed)."""
    out = dict(row)
    for k in _JSON_COLUMNS:
        v = out.get(k)
        if isinstance(v, str):
            with contextlib.suppress(ValueError):
                out[k] = json.loads(v)
    return out


def _named(f: dict[str, Any]) -> set[int]:
    ids = set(f.get("calls") or ())
    if f.get("call_id") is not None:
        ids.add(f["call_id"])
    return {int(i) for i in ids}


class _Filter:
    def __init__(
        self,
        number: str | None,
        call_id: int | None,
        cic: int | None,
        opc: int | None,
        dpc: int | None,
        keys: set[tuple[Any, int]] | None,
    ) -> None:
        self.number, self.call_id, self.cic, self.opc, self.dpc, self.keys = (
            number,
            call_id,
            cic,
            opc,
            dpc,
            keys,
        )

    def __call__(self, row: dict[str, Any]) -> bool:
        n = self.number
        if n is not None and n not in (row.get("called") or "") and n not in (row.get("calling") or ""):
            return False
        if self.call_id is not None and row.get("call_id") != self.call_id:
            return False
        if self.cic is not None and row.get("cic") != self.cic:
            return False
        pcs = (row.get("opc"), row.get("dpc"))
        if (self.opc is not None and self.opc not in pcs) or (self.dpc is not None and self.dpc not in pcs):
            return False
        return self.keys is None or (row.get("point"), row.get("call_id")) in self.keys


def select_audit_calls(
    folder: str | Path,
    *,
    number: str | None = None,
    call_id: str | int | None = None,
    cic: int | None = None,
    opc: str | int | None = None,
    dpc: str | int | None = None,
    rule: str | None = None,
    settings: Any = None,
    rules_dir: Any = None,
    trunks: Any = None,
    number_plan: Any = None,
    rule_settings: Any = None,
    pc: Any = str,
) -> list[Selected]:
    """The calls of audit folder ``folder`` that match every filter given, by start time.

    Same keyword arguments as :func:`sigdiag.report.select.select_calls`; the rules, trunks and number
    plan are those the audit ran with (``rules_dir``, ``trunks``, ``number_plan``, ``rule_settings`` and
    ``pc`` are accepted and not used), ``settings`` (decoding settings) is used only to read frames again
    (default: the audit's own).  Raises :class:`AuditLookupError` (a ValueError) for a folder that is not
    an audit folder or cannot be read, ValueError for a bad call id or point code;
    :class:`~sigdiag.capture.CaptureError` when a capture file it must read again is gone.
    """
    from sigdiag.carrier.mtp import parse_pc

    del rules_dir, trunks, number_plan, rule_settings, pc  # (the audit's own were used)
    root = Path(folder)
    options = _run_options(root)
    dsettings = settings if settings is not None else _decode_settings(options)
    fmt = dsettings.pc_format
    flt = _Filter(
        number,
        parse_call_id(call_id),
        cic,
        parse_pc(opc, fmt) if isinstance(opc, str) else opc,
        parse_pc(dpc, fmt) if isinstance(dpc, str) else dpc,
        None,
    )
    findings = [_finding(r) for r in _rows(root, "findings")]
    if rule is not None:
        flt.keys = {(f.get("point"), i) for f in findings if f.get("rule") == rule for i in _named(f)}
        if not flt.keys:
            return []
    calls = sorted((r for r in _rows(root, "calls") if flt(r)), key=lambda r: r.get("start") or 0.0)
    by_call: dict[tuple[Any, Any], list[dict[str, Any]]] = {}
    for f in findings:
        for i in _named(f):
            by_call.setdefault((f.get("point"), i), []).append(f)
    out = [_selected(c, by_call.get((c.get("point"), c.get("call_id")), [])) for c in calls]
    _fill_rows_from_captures(out, dsettings)
    return out


def _selected(row: dict[str, Any], findings: list[dict[str, Any]]) -> Selected:
    call = dict(row)
    if isinstance(call.get("links"), str):  # (JSON text in the table, a list in Call.as_dict())
        with contextlib.suppress(ValueError):
            call["links"] = json.loads(call["links"])
    frames = [int(f) for f in call.get("frames") or ()]
    files = list(call.get("frame_files") or [None] * len(frames))
    pairs = [
        (str(p) if p is not None else str(call.get("file")), f) for p, f in zip(files, frames, strict=True)
    ]
    return Selected(call, [], list(findings), pairs)


def _stored_rows(s: Selected) -> list[dict[str, Any]]:
    """Ladder rows from the findings table's ladder of the call, when its files cannot be read again (times
    from the stored offsets, to 0.1 ms; no ACM/CPG/CON indicators)."""
    call = s.call
    ladder = next(
        (f["ladder"] for f in s.findings if f.get("call_id") == call.get("call_id") and f.get("ladder")), None
    )
    if not ladder or len(ladder) != len(s.frames):
        return []
    start = call.get("start") or 0.0
    rows = []
    for r, (p, _frame) in zip(ladder, s.frames, strict=True):
        row = {k: r.get(k) for k in ("frame", "offset_ms", "direction", "type", "info")}
        rows.append({**row, "file": p, "ts": round(start + (r.get("offset_ms") or 0.0) / 1000.0, 6)})
    return rows


def _fill_rows_from_captures(selected: list[Selected], dsettings: Any) -> None:
    """The calls' ladder rows from their frames read again (each file once; exact times, every message's
    key content), or from the stored ladder when a file is gone."""
    from sigdiag.capture import CaptureError
    from sigdiag.decode import read_messages

    wanted: dict[str, set[int]] = {}
    for s in selected:
        for p, f in s.frames:
            wanted.setdefault(p, set()).add(f)
    found: dict[tuple[str, int], list[Any]] = {}
    gone: set[str] = set()
    for path, frames in wanted.items():
        last = max(frames)
        try:
            for m in read_messages(path, settings=dsettings):
                n = int(m.frame)
                if n in frames:
                    found.setdefault((path, n), []).append(m)
                elif n > last:
                    break
        except (CaptureError, OSError):
            gone.add(path)  # (moved or deleted since the audit: the stored ladder tells what it can)
    for s in selected:
        if gone.intersection(p for p, _ in s.frames):
            s.rows = _stored_rows(s)
        else:
            s.rows = _ladder_rows(s, found)


def _direction(call: dict[str, Any], m: Any) -> int:
    opc, dpc = call.get("opc"), call.get("dpc")
    if opc is None or dpc is None:
        return 0 if m.type == "IAM" else -1
    if (m.opc, m.dpc) == (opc, dpc):
        return 0
    return 1 if (m.opc, m.dpc) == (dpc, opc) else -1


def _of_call(call: dict[str, Any], messages: Iterable[Any]) -> Any:
    """The message of a frame that belongs to the call (a frame may carry several)."""
    msgs = list(messages)
    for m in msgs:
        if call.get("sip_call_id") is not None and m.sip_call_id == call.get("sip_call_id"):
            return m
        if m.cic == call.get("cic") and {m.opc, m.dpc} == {call.get("opc"), call.get("dpc")}:
            return m
    return msgs[0] if len(msgs) == 1 else None


def _ladder_rows(s: Selected, found: dict[tuple[str, int], list[Any]]) -> list[dict[str, Any]]:
    from sigdiag.audit.tables import file_frame
    from sigdiag.report.ladder import ladder_rows

    call = s.call
    timeline = []
    iam = None
    for p, f in s.frames:
        m = _of_call(call, found.get((p, f), ()))
        if m is None:
            continue
        m.frame = file_frame(f, p)
        if iam is None and m.type == "IAM" and f == call.get("iam_frame"):
            iam = m
        timeline.append((m.frame, m.ts, m.type, _direction(call, m), m.raw))
    if iam is None or not timeline:
        return []
    view = SimpleNamespace(
        start=call.get("start") or iam.ts,
        iam=iam,
        timeline=timeline,
        protocol=iam.protocol,
        variant=iam.variant,
        sip_call_id=iam.sip_call_id,
    )
    rows = ladder_rows(view)
    for r, entry in zip(rows, timeline, strict=True):
        r["file"] = entry[0].file
        r["frame"] = int(entry[0])
    return rows
