"""Finding calls in capture files: by number, call id, CIC, point code or the rule of a finding.

:func:`select_calls` runs ``check``'s pipeline (decoding, correlation, outcome refinement and the rules)
over capture files and returns, for each matching call, a :class:`Selected`: the call row, its ladder
rows, the findings that name it and the (file, frame) of each of its messages (copies seen on other
links included).  ``sigdiag flow``, ``extract``, ``report`` and ``check --evidence`` use it; audit
folders are searched by :func:`sigdiag.audit.lookup.select_audit_calls`, which returns the same
:class:`Selected`.

Matching is ``check``'s: ``number`` is contained in the called or calling number, ``cic`` is the call's
CIC, ``opc``/``dpc`` a point code on either side; ``call_id`` is the call id that ``calls`` and ``check``
print (ids start again in each capture file: with several files, each file's call of that id matches);
``rule`` selects the calls that a finding of that rule names (a windowed finding: each of its member
calls).  The filters combine (all must hold).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "Selected",
    "attach_findings",
    "call_frames",
    "call_key",
    "calls_named",
    "finding_keys",
    "parse_call_id",
    "select_calls",
]


@dataclass
class Selected:
    """One matching call.

    ``call``: a ``Call.as_dict()`` row (captures, with ``file``) or a calls-table row (audit folder);
    ``rows``: its ladder rows (as :func:`sigdiag.rules.findings.ladder_of`, plus ``file`` and ``ts``);
    ``findings``: the ``Finding.as_dict()`` rows (with ``file``) that name the call; ``frames``: the
    (capture file path, frame number) of every message of the call, copies on other links included, in
    time order."""

    call: dict[str, Any]
    rows: list[dict[str, Any]] = field(default_factory=list)
    findings: list[dict[str, Any]] = field(default_factory=list)
    frames: list[tuple[str, int]] = field(default_factory=list)


def parse_call_id(value: str | int | None) -> int | None:
    """A call id as ``calls`` and ``check`` print it (an integer); ValueError otherwise."""
    if value is None:
        return None
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if not text.isdigit():
        raise ValueError(f"a call id is a whole number as 'sigdiag calls' prints it, not {value!r}")
    return int(text)


def call_key(call_id: Any, iam_frame: Any, start: Any) -> tuple[int, int, float] | None:
    """What names one call across files: its id, IAM frame and start time (ms precision).  Windowed
    findings name member calls this way (their members carry no file)."""
    if call_id is None or iam_frame is None or start is None:
        return None
    return (int(call_id), int(iam_frame), round(float(start), 3))


def finding_keys(f: Mapping[str, Any]) -> set[tuple[int, int, float]]:
    """The :func:`call_key` of every call a finding names (its call, or its member calls)."""
    keys = set()
    k = call_key(f.get("call_id"), f.get("iam_frame"), f.get("start"))
    if k is not None:
        keys.add(k)
    for m in f.get("members") or ():
        k = call_key(m.get("call_id"), m.get("iam_frame"), m.get("ts"))
        if k is not None:
            keys.add(k)
    return keys


def _pc(value: str | int | None, pc_format: str) -> int | None:
    if value is None or isinstance(value, int):
        return value
    from sigdiag.carrier.mtp import parse_pc

    return parse_pc(value, pc_format)


def _ruleset(rules_dir: Any, number_plan: Any, rule_settings: Any) -> Any:
    from sigdiag.rules.loader import load_rules, number_plan_settings, parse_assignments

    overrides: dict[str, dict[str, Any]] = {}
    if number_plan is not None:
        for rid, values in number_plan_settings(number_plan).items():
            overrides.setdefault(rid, {}).update(values)
    if rule_settings:
        extra = rule_settings if isinstance(rule_settings, Mapping) else parse_assignments(rule_settings)
        for rid, values in extra.items():
            overrides.setdefault(rid, {}).update(values)
    if rules_dir is None:
        dirs: list[Any] = []
    elif isinstance(rules_dir, str | Path):
        dirs = [rules_dir]
    else:
        dirs = list(rules_dir)
    return load_rules(dirs, overrides)


def _selected(call: Any, path: Path) -> Selected:
    """The :class:`Selected` of an in-memory call read from ``path`` (findings filled later)."""
    from sigdiag.report.ladder import ladder_rows

    file = str(path)
    row = call.as_dict()
    row["file"] = file
    rows = ladder_rows(call, file)
    for r in rows:
        r["frame"] = int(r["frame"])
    return Selected(row, rows, [], call_frames(call, file))


def call_frames(call: Any, file: str) -> list[tuple[str, int]]:
    """The (file, frame) of every message of an in-memory call read from ``file``, its copies on other
    links included, in frame order."""
    frames = {int(t[0]) for t in call.timeline} | {int(f) for f in call.duplicate_frames}
    return [(file, f) for f in sorted(frames)]


class _Selector:
    """The call predicate and what is kept of the calls that pass."""

    def __init__(self, flt: Any, call_id: int | None, keys: set[Any] | None) -> None:
        self.flt = flt
        self.call_id = call_id
        self.keys = keys
        self.found: list[Selected] = []
        self.found_keys: list[Any] = []

    def __call__(self, call: Any, path: Path) -> None:
        if self.call_id is not None and call.call_id != self.call_id:
            return
        key = call_key(call.call_id, call.iam.frame, call.start)
        if self.keys is not None and key not in self.keys:
            return
        if not self.flt.call_ok(call):
            return
        self.found.append(_selected(call, path))
        self.found_keys.append(key)


def _run(paths: Sequence[Path], ruleset: Any, tmap: Any, dsettings: Any, pc: Any, selector: Any) -> list[Any]:
    """One ``check`` run over ``paths`` with every finding kept (as dicts with ``file`` and
    ``members``); ``selector(call, path)`` sees every call."""
    from sigdiag.rules.check import CheckRun, FindingFilter

    run = CheckRun(
        paths, ruleset, FindingFilter(), tmap, None, None, dsettings, pc, workers=1, on_call=selector
    )
    found = []
    for f in run:
        d = {**f.as_dict(), "file": f.file, "members": [dict(m) for m in f.members]}
        found.append(d)
    return found


def select_calls(
    paths: Sequence[str | Path],
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
    """The calls of capture files ``paths`` that match every filter given, in file then start order.

    ``settings``: the :class:`~sigdiag.settings.DecodeSettings` (default: the defaults); ``rules_dir``: a
    folder (or folders) of extra rules; ``trunks``: a trunk map (file or loaded); ``number_plan``: a
    number-plan file; ``rule_settings``: rule setting overrides (``{"rule": {"setting": value}}`` or
    ``["rule.setting=value"]``); ``pc``: how point codes are printed in the findings' messages.  ``opc``
    and ``dpc`` are point codes (int, or text in the settings' point-code format).  Raises ValueError
    for a bad call id, point code or unknown rule, :class:`~sigdiag.rules.loader.RuleError` for bad rules,
    :class:`~sigdiag.capture.CaptureError` for a file that is not a capture.
    """
    from sigdiag.calls.stats import TrunkMap, load_trunks
    from sigdiag.rules.check import FindingFilter
    from sigdiag.settings import DecodeSettings

    dsettings = settings if settings is not None else DecodeSettings()
    cid = parse_call_id(call_id)
    flt = FindingFilter(number, cic, _pc(opc, dsettings.pc_format), _pc(dpc, dsettings.pc_format))
    ruleset = _ruleset(rules_dir, number_plan, rule_settings)
    if rule is not None and rule not in ruleset.rules:
        raise ValueError(f"unknown rule {rule!r}; see sigdiag rules list")
    tmap = load_trunks(trunks) if trunks is not None and not isinstance(trunks, TrunkMap) else trunks
    files = [Path(p) for p in paths]
    keys: set[Any] | None = None
    if rule is not None:  # first the findings of the rule, then the calls they name
        findings = _run(files, ruleset, tmap, dsettings, pc, lambda call, path: None)
        keys = set()
        for f in findings:
            if f["rule"] == rule:
                keys |= finding_keys(f)
        if not keys:
            return []
    selector = _Selector(flt, cid, keys)
    findings = _run(files, ruleset, tmap, dsettings, pc, selector)
    return attach_findings(selector.found, selector.found_keys, findings)


def attach_findings(
    found: list[Selected], keys: Sequence[Any], findings: Iterable[dict[str, Any]]
) -> list[Selected]:
    """Give each selected call (``keys``: their :func:`call_key`) the findings that name it (``members``
    left out: the finding rows are ``Finding.as_dict()`` with ``file``)."""
    index: dict[Any, list[Selected]] = {}
    for s, k in zip(found, keys, strict=True):
        index.setdefault(k, []).append(s)
    for f in findings:
        row = {k: v for k, v in f.items() if k != "members"}
        for k in finding_keys(f):
            for s in index.get(k, ()):
                s.findings.append(row)
    return found


def calls_named(
    paths: Sequence[str | os.PathLike[str]],
    keys: set[tuple[int, int, float]],
    *,
    settings: Any = None,
    refiner: Any = None,
) -> dict[tuple[int, int, float], tuple[str, Any]]:
    """The in-memory calls whose :func:`call_key` is in ``keys`` (as ``check`` correlates them: same
    decoding ``settings``, default correlation settings; ``refiner``: an outcome refiner such as
    :class:`~sigdiag.rules.check.OutcomeRefiner`), with the file each was read from."""
    from sigdiag.calls.outcomes import load_outcomes
    from sigdiag.calls.pipeline import CallReader
    from sigdiag.calls.settings import CallSettings
    from sigdiag.settings import DecodeSettings

    dsettings = settings if settings is not None else DecodeSettings()
    table = load_outcomes(None)
    found: dict[tuple[int, int, float], tuple[str, Any]] = {}
    if not keys:
        return found
    for p in paths:
        reader = CallReader(
            p, dsettings, CallSettings(keep_messages=False), table, [refiner] if refiner else []
        )
        if refiner is not None:
            refiner.clock = lambda c=reader.correlator: c.now
        for call in reader:
            k = call_key(call.call_id, call.iam.frame, call.start)
            if k in keys:
                found[k] = (str(p), call)
    return found
