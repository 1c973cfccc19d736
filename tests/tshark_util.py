"""Run tshark as the independent oracle and line its fields up with sigdiag's messages."""

from __future__ import annotations

import csv
import re
import shlex
import shutil
import subprocess
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pytest

TSHARK = shutil.which("tshark")
needs_tshark = pytest.mark.skipif(TSHARK is None, reason="tshark not installed")

#: tshark field -> how the value of one occurrence is normalised for comparison.
FIELDS = (
    "frame.number",
    "m3ua.protocol_data_opc",
    "m3ua.protocol_data_dpc",
    "mtp3.opc",
    "mtp3.dpc",
    "isup.cic",
    "bicc.cic",
    "isup.message_type",
    "isup.called",
    "isup.calling",
    "isup.subsequent_number",
    "isup.cause_indicator",
    "q931.cause_location",
)


def manifest_options(manifest: Path) -> dict[str, list[str]]:
    """The tshark options each shared capture needs, from the '(... -o ...)' note in MANIFEST.tsv."""
    out: dict[str, list[str]] = {}
    with manifest.open(newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            m = re.search(r"Verified with tshark [\d.]+ \(([^)]*)\)", row["notes"])
            opts = m.group(1) if m else ""
            out[row["local_name"]] = shlex.split(opts) if "-o" in opts else []
    return out


def shared_cases(manifest: Path) -> list[tuple[str, list[str]]]:
    """``(capture name, tshark options)`` of every shared capture, by name; none when the folder is
    absent (the tests that use them skip)."""
    return sorted(manifest_options(manifest).items()) if manifest.is_file() else []


def tshark_frames(path: Path, options: Sequence[str] = ()) -> list[dict[str, Any]]:
    """What tshark decodes in every frame with ISUP/BICC: its messages (type, CIC, OPC, DPC in order)
    and, per frame, the called/calling/subsequent digits and cause values of those messages."""
    assert TSHARK is not None
    cmd = [TSHARK, "-n", "-r", str(path), *options, "-Y", "isup or bicc", "-T", "fields"]
    cmd += ["-E", "occurrence=a", "-E", "aggregator=|", "-E", "separator=\t"]
    for field in FIELDS:
        cmd += ["-e", field]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=900).stdout
    frames: list[dict[str, Any]] = []
    for line in out.splitlines():
        cells = dict(zip(FIELDS, line.split("\t"), strict=False))
        f = {k: (v.split("|") if v else []) for k, v in cells.items()}
        cics = f["isup.cic"] or f["bicc.cic"]
        opcs = f["m3ua.protocol_data_opc"] or f["mtp3.opc"]
        dpcs = f["m3ua.protocol_data_dpc"] or f["mtp3.dpc"]
        messages = [
            {"type_code": int(t), "cic": _int_at(cics, i), "opc": _int_at(opcs, i), "dpc": _int_at(dpcs, i)}
            for i, t in enumerate(f["isup.message_type"])
        ]
        frames.append(
            {
                "frame": int(cells["frame.number"]),
                "messages": messages,
                "called": [strip_st(v) for v in f["isup.called"] if v],
                "calling": [strip_st(v) for v in f["isup.calling"] if v],
                "subsequent": [strip_st(v) for v in f["isup.subsequent_number"] if v],
                "cause": [int(v) for v in f["isup.cause_indicator"]],
                "cause_location": [int(v) for v in f["q931.cause_location"]],
            }
        )
    return frames


def _int_at(values: list[str], i: int) -> int | None:
    if not values:
        return None
    v = values[i] if i < len(values) else values[-1]
    return int(v, 0) if v else None


def strip_st(digits: str) -> str:
    """tshark prints the ST digit as a trailing 'F'; sigdiag leaves ST out of the digits."""
    return digits[:-1] if digits.endswith("F") else digits


PER_FRAME = ("called", "calling", "subsequent", "cause", "cause_location")


def compare(ours: Iterable[Any], theirs: list[dict[str, Any]]) -> tuple[int, list[str]]:
    """Compare sigdiag's messages with tshark's frames: (messages compared, readable differences)."""
    by_frame: dict[int, list[Any]] = defaultdict(list)
    for m in ours:
        by_frame[m.frame].append(m)
    their = {t["frame"]: t for t in theirs}
    problems: list[str] = []
    compared = 0
    for frame in sorted(set(by_frame) | set(their)):
        ms = by_frame.get(frame, [])
        t = their.get(frame, {"messages": [], **{k: [] for k in PER_FRAME}})
        if len(ms) != len(t["messages"]):
            problems.append(f"frame {frame}: sigdiag {len(ms)} messages, tshark {len(t['messages'])}")
            continue
        for m, tm in zip(ms, t["messages"], strict=True):
            compared += 1
            for key in ("type_code", "cic", "opc", "dpc"):
                if tm[key] is not None and getattr(m, key) != tm[key]:
                    problems.append(f"frame {frame}: {key} sigdiag {getattr(m, key)} tshark {tm[key]}")
        for key in PER_FRAME:
            got = [getattr(m, key) for m in ms if getattr(m, key) not in (None, "")]
            if got != t[key]:
                problems.append(f"frame {frame}: {key} sigdiag {got} tshark {t[key]}")
    return compared, problems


def agreement(ours: Iterable[Any], theirs: list[dict[str, Any]]) -> tuple[int, int, int, list[str]]:
    """:func:`compare`, frame by frame: (messages compared, messages agreed, messages in all, differences).

    A message agrees when its frame shows no difference at all; "in all" counts, per frame, the larger of
    sigdiag's and tshark's message counts, so messages that only one side found count as disagreements.
    """
    by_frame: dict[int, list[Any]] = defaultdict(list)
    for m in ours:
        by_frame[m.frame].append(m)
    their = {t["frame"]: t for t in theirs}
    compared = agreed = total = 0
    problems: list[str] = []
    for frame in sorted(set(by_frame) | set(their)):
        ms = by_frame.get(frame, [])
        t = their.get(frame)
        n, diffs = compare(ms, [t] if t is not None else [])
        compared += n
        total += max(len(ms), len(t["messages"]) if t is not None else 0)
        if diffs:
            problems += diffs
        else:
            agreed += n
    return compared, agreed, total, problems


#: Fields that only ANSI ISUP shows: tshark's ANSI ISUP dissector decodes the cause indicators itself
#: (``ansi_isup.cause_indicator``, ``isup.cause_location``) instead of handing them to Q.931.
ANSI_FIELDS = ("ansi_isup.cause_indicator", "isup.cause_location")


def tshark_frames_any_variant(path: Path, options: Sequence[str] = ()) -> list[dict[str, Any]]:
    """:func:`tshark_frames` (same output, one tshark run), with the causes of ANSI ISUP messages too.

    The cause values of a frame are its ``isup.cause_indicator`` values (ITU, via Q.850) followed by its
    ``ansi_isup.cause_indicator`` values (ANSI), and likewise the locations (``q931.cause_location``, then
    ``isup.cause_location``); tshark decodes a run with one MTP3 standard, so one of each pair is empty.
    """
    assert TSHARK is not None
    fields = FIELDS + ANSI_FIELDS
    cmd = [TSHARK, "-n", "-r", str(path), *options, "-Y", "isup or bicc", "-T", "fields"]
    cmd += ["-E", "occurrence=a", "-E", "aggregator=|", "-E", "separator=\t"]
    for name in fields:
        cmd += ["-e", name]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=900).stdout
    frames: list[dict[str, Any]] = []
    for line in out.splitlines():
        cells = dict(zip(fields, line.split("\t"), strict=False))
        f = {k: (v.split("|") if v else []) for k, v in cells.items()}
        cics = f["isup.cic"] or f["bicc.cic"]
        opcs = f["m3ua.protocol_data_opc"] or f["mtp3.opc"]
        dpcs = f["m3ua.protocol_data_dpc"] or f["mtp3.dpc"]
        frames.append(
            {
                "frame": int(cells["frame.number"]),
                "messages": [
                    {
                        "type_code": int(t),
                        "cic": _int_at(cics, i),
                        "opc": _int_at(opcs, i),
                        "dpc": _int_at(dpcs, i),
                    }
                    for i, t in enumerate(f["isup.message_type"])
                ],
                "called": [strip_st(v) for v in f["isup.called"] if v],
                "calling": [strip_st(v) for v in f["isup.calling"] if v],
                "subsequent": [strip_st(v) for v in f["isup.subsequent_number"] if v],
                "cause": [int(v) for v in f["isup.cause_indicator"] + f["ansi_isup.cause_indicator"]],
                "cause_location": [int(v) for v in f["q931.cause_location"] + f["isup.cause_location"]],
            }
        )
    return frames


def tshark_times(path: Path, options: Sequence[str] = ()) -> dict[int, float]:
    """``{frame number: frame.time_epoch}`` of the frames with ISUP/BICC."""
    assert TSHARK is not None
    cmd = [TSHARK, "-n", "-r", str(path), *options, "-Y", "isup or bicc", "-T", "fields"]
    cmd += ["-e", "frame.number", "-e", "frame.time_epoch"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=900).stdout
    return {int(n): float(t) for n, t in (line.split("\t") for line in out.splitlines() if line)}
