"""A capture cut into rotated files at every kind of boundary gives what the whole capture gives (issue 16,
point 2: identical results).

``sigdiag audit`` stitches the rotated files of one capture point (:mod:`sigdiag.audit.worker`).  Each
flow below is one whole capture, a table of messages in capture order (tests/conformance/split.py);
``CUT`` marks where a file ends.  The whole capture is audited as one file (the reference, itself checked
against :func:`sigdiag.iter_calls` and :func:`sigdiag.rules.check` of that file); the same packets cut
into 2, 3 and more files (at that boundary, around it, at every message) are audited as one capture
point, and the calls (every column), the findings (every column, members and frames included) and the
summary's KPI rows must be the same.  Frame numbers are compared as positions in the whole capture.
Exchange A (point code 1001) sends ``>``, B (2002) ``<``; A to B is trunk 1001-2002.

These tests found two bugs where frame numbers of two files meet in one finding (frame numbers restart
at 1 in each file): a ladder described a later message of the call as its IAM when their numbers matched,
and a windowed finding's frames merged members of different files that had the same number and were
ordered by number across files; both fixed in ``sigdiag.rules.findings`` (the last two tests).
"""

from __future__ import annotations

import itertools
import random
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tests.conformance.flows import Row
from tests.conformance.split import (
    Audit,
    Frame,
    Split,
    assert_same,
    audit_point,
    audit_run,
    capture,
    differences,
    library,
    rules_of,
    write_split,
)

#: where a file ends, in a flow's table
CUT: Row = (-1.0, "|", "CUT", {})


def _iam(t: float, cic: int, called: str = "0219876543", **p: Any) -> Row:
    return (t, ">", "IAM", {"called": called, "cic": cic, **p})


def _m(t: float, direction: str, typ: str, cic: int, **p: Any) -> Row:
    return (t, direction, typ, {"cic": cic, **p})


@dataclass
class Flow:
    """A whole capture with its boundaries, and what the whole capture must give (so that the flow
    shows what it is about): ``calls`` in IAM order as (CIC, outcome, release_end, flags), findings per
    rule."""

    table: list[Row]
    calls: list[tuple[int, str, str | None, list[str]]]
    rules: dict[str, int]
    #: also split into one file per message
    each: bool = True
    #: messages out of time order on purpose (else the table must be in time order)
    reordered: bool = False
    rows: list[Row] = field(init=False)
    cuts: list[int] = field(init=False)

    def __post_init__(self) -> None:
        self.rows, self.cuts = [], []
        for r in self.table:
            if r is CUT:
                self.cuts.append(len(self.rows))
            else:
                self.rows.append(r)
        times = [r[0] for r in self.rows]
        if not self.reordered and times != sorted(times):
            raise ValueError(f"messages out of time order: {times}")


def _answered(cic: int, t: float, rel: float, **iam: Any) -> list[Row]:
    """An answered call released by the caller at ``rel`` s, with its RLC 10 ms later."""
    return [
        _iam(t, cic, **iam),
        _m(t + 1.0, "<", "ACM", cic),
        _m(t + 3.0, "<", "ANM", cic),
        _m(rel, ">", "REL", cic, cause=16),
        _m(rel + 0.01, "<", "RLC", cic),
    ]


def _failed(cic: int, t: float, cause: int, called: str = "0219876543", location: int = 3) -> list[Row]:
    """A call released by the called side 0.5 s after its IAM with ``cause``, RLC 10 ms later."""
    return [
        _iam(t, cic, called),
        _m(t + 0.5, "<", "REL", cic, cause=cause, location=location),
        _m(t + 0.51, ">", "RLC", cic),
    ]


def _timeline(rows: list[Row], cuts_at: Sequence[float]) -> list[Row]:
    """``rows`` in time order with a CUT before the first message at or after each time of ``cuts_at``."""
    out: list[Row] = []
    pending = sorted(cuts_at)
    for r in sorted(rows, key=lambda r: r[0]):
        while pending and r[0] >= pending[0]:
            out.append(CUT)
            pending.pop(0)
        out.append(r)
    return out


# -- the flows -----------------------------------------------------------------------------------------------
FLOWS: dict[str, Flow] = {
    # Q.764 2.1: IAM and ACM in one file, ANM and REL (and RLC) in the next
    "iam-acm|anm-rel": Flow(
        [
            _iam(0.0, 1),
            _m(1.2, "<", "ACM", 1),
            *_failed(2, 1.5, 17),
            CUT,
            _m(5.0, "<", "ANM", 1),
            _m(30.0, ">", "REL", 1, cause=16),
            _m(30.01, "<", "RLC", 1),
        ],
        [(1, "answered", "rlc", []), (2, "subscriber", "rlc", [])],
        {},
    ),
    # the IAM in one file, the backward REL and the RLC in the next
    "iam|rel-rlc": Flow(
        [
            *_answered(2, 0.0, 4.0)[:3],
            _iam(3.5, 1, "0453114"),
            CUT,
            _m(4.0, ">", "REL", 2, cause=16),
            _m(4.01, "<", "RLC", 2),
            _m(4.3, "<", "REL", 1, cause=34, location=3),
            _m(4.31, ">", "RLC", 1),
        ],
        [(2, "answered", "rlc", []), (1, "network", "rlc", [])],
        {},
    ),
    # Q.764 2.3.1: the REL at the end of one file, its RLC 0.4 s later in the next; a second REL that the
    # next file never acknowledges, which runs on past T1 (4 s): not acknowledged, judged at the end of
    # the last file (in the first file alone it would be "capture ends before T1")
    "rel|rlc": Flow(
        _timeline(
            [
                *_answered(1, 0.0, 30.0)[:4],
                *_answered(3, 2.0, 30.2)[:4],
                _m(30.4, "<", "RLC", 1),
                *_failed(9, 38.0, 17),
            ],
            [30.3],
        ),
        [(1, "answered", "rlc", []), (3, "answered", "capture_end", []), (9, "subscriber", "rlc", [])],
        {"release-not-acknowledged": 1},
    ),
    # Q.764 2.1.1, 2.2: overlap dialling with SAMs on both sides of the boundary; the reference fault
    # (a backward REL 5 ms after a SAM of the previous file) and a REL that crosses a SAM across the cut
    "sams": Flow(
        [
            _iam(0.0, 4, "0219", st=False),
            _m(0.3, ">", "SAM", 4, digits="87"),
            CUT,
            _m(0.6, ">", "SAM", 4, digits="65"),
            _m(0.9, ">", "SAM", 4, digits="43", st=True),
            _m(1.5, "<", "ACM", 4),
            _iam(2.0, 5, "0453", st=False),
            _m(2.4, ">", "SAM", 5, digits="11"),
            CUT,
            _m(2.405, "<", "REL", 5, cause=28, location=3),
            _m(2.41, ">", "RLC", 5),
            _m(4.0, "<", "ANM", 4),
            _iam(5.0, 6, "0456", st=False),
            _m(5.4, "<", "REL", 6, cause=28, location=3),
            CUT,
            _m(5.401, ">", "SAM", 6, digits="77"),
            _m(5.41, ">", "RLC", 6),
            _m(20.0, ">", "REL", 4, cause=16),
            _m(20.01, "<", "RLC", 4),
        ],
        [
            (4, "answered", "rlc", []),
            (5, "network", "rlc", []),
            (6, "network", "rlc", ["sam_after_rel"]),
        ],
        {"incomplete-digit-collection": 2},
    ),
    # a call over three files: the middle file holds one of its messages (the ANM) between other calls'
    "three-files-part": Flow(
        [
            _iam(0.0, 1),
            _m(1.0, "<", "ACM", 1),
            CUT,
            *_failed(2, 2.0, 17),
            _m(3.0, "<", "ANM", 1),
            *_failed(3, 3.5, 34),
            CUT,
            _m(20.0, ">", "REL", 1, cause=16),
            _m(20.01, "<", "RLC", 1),
        ],
        [(1, "answered", "rlc", []), (2, "subscriber", "rlc", []), (3, "network", "rlc", [])],
        {},
    ),
    # ... and none of its messages (a T7 of 20 s runs through the middle file: no ACM, REL after 25 s)
    "three-files-none": Flow(
        [
            *_answered(1, 0.0, 40.0)[:3],
            _iam(4.0, 7, "0219555000"),
            CUT,
            *_failed(2, 10.0, 17),
            CUT,
            _m(29.0, ">", "REL", 7, cause=102, location=1),
            _m(29.01, "<", "RLC", 7),
            _m(40.0, ">", "REL", 1, cause=16),
            _m(40.01, "<", "RLC", 1),
        ],
        [(1, "answered", "rlc", []), (7, "network", "rlc", []), (2, "subscriber", "rlc", [])],
        {"t7-expiry": 1},
    ),
    # a file that starts mid-call (CPG, ANM and REL of calls whose IAMs are in the previous file), and
    # one that starts with messages of a call whose IAM is in no file (orphans, one finding per circuit
    # and 300 s window: their REL ends the first file, their RLC starts the next)
    "mid-call-and-orphans": Flow(
        [
            _m(0.0, "<", "ANM", 7),
            _iam(0.5, 1),
            _m(1.0, "<", "ACM", 1),
            _iam(1.5, 2),
            _m(9.99, "<", "REL", 7, cause=16),
            CUT,
            _m(10.0, ">", "RLC", 7),
            _m(10.2, "<", "CPG", 1),
            _m(10.5, "<", "ANM", 1),
            _m(11.0, "<", "REL", 2, cause=17, location=1),
            _m(11.01, ">", "RLC", 2),
            CUT,
            _m(12.0, "<", "ACM", 8),
            _m(12.5, "<", "REL", 8, cause=16),
            _m(12.51, ">", "RLC", 8),
            _m(30.0, ">", "REL", 1, cause=16),
            _m(30.01, "<", "RLC", 1),
        ],
        [(1, "answered", "rlc", []), (2, "subscriber", "rlc", [])],
        {"orphan-message": 2},
    ),
    # Q.764 2.8.2: B blocks CIC 5 (BLO, BLA) in one file; A's IAM on it comes in the next
    "blo|iam": Flow(
        [
            _m(0.0, "<", "BLO", 5),
            _m(0.05, ">", "BLA", 5),
            *_failed(6, 1.0, 17, location=1),
            CUT,
            _iam(10.0, 5),
            _m(10.5, "<", "REL", 5, cause=34, location=3),
            _m(10.51, ">", "RLC", 5),
            _m(20.0, "<", "UBL", 5),
            CUT,
            _m(20.05, ">", "UBA", 5),
            *_answered(5, 30.0, 60.0),
        ],
        [
            (6, "subscriber", "rlc", []),
            (5, "network", "rlc", ["iam_on_blocked_circuit"]),
            (5, "answered", "rlc", []),
        ],
        {"blocked-circuit-attempt": 1},
    ),
    # Q.764 2.8.2: CGB of CICs 1, 3 and 4 in one file, IAMs on 3 (blocked) and 2 in the next, CGU in a third
    "cgb|iam|cgu": Flow(
        [
            _m(0.0, "<", "CGB", 1, range=7, bits="10110000"),
            _m(0.05, ">", "CGBA", 1, range=7, bits="10110000"),
            CUT,
            *_failed(3, 5.0, 34),
            *_failed(2, 6.0, 17, location=1),
            CUT,
            _m(9.0, "<", "CGU", 1, range=7, bits="10110000"),
            _m(9.05, ">", "CGUA", 1, range=7, bits="10110000"),
            *_failed(3, 10.0, 17, location=1),
        ],
        [
            (3, "network", "rlc", ["iam_on_blocked_circuit"]),
            (2, "subscriber", "rlc", []),
            (3, "subscriber", "rlc", []),
        ],
        {"blocked-circuit-attempt": 1},
    ),
    # Q.764 2.9.3: calls of one file ended by an RSC and a GRS in the next; with the RSC on an idle circuit
    # before the cut, three resets within 60 s: a circuit-reset burst over the boundary
    "calls|rsc-grs": Flow(
        _timeline(
            [
                *_answered(1, 0.0, 99.0)[:3],
                *_answered(17, 1.0, 99.0)[:3],
                _m(5.0, "<", "RSC", 30),
                _m(5.02, ">", "RLC", 30),
                _m(40.0, "<", "RSC", 1),
                _m(40.02, ">", "RLC", 1),
                _m(41.0, "<", "GRS", 16, range=3),
                _m(41.05, ">", "GRA", 16, range=3, status="00"),
            ],
            [40.0],
        ),
        [(1, "answered", None, ["circuit_reset"]), (17, "answered", None, ["circuit_reset"])],
        {"circuit-reset-burst": 1},
    ),
    # Q.764 2.8.2: a hardware-failure CGB in the next file ends the call of the previous one at once
    "call|cgb-hardware": Flow(
        [
            _iam(0.0, 1),
            _m(1.0, "<", "ACM", 1),
            *_answered(2, 2.0, 30.0)[:3],
            CUT,
            _m(10.0, "<", "CGB", 1, range=7, bits="10000000", hardware=True),
            _m(10.05, ">", "CGBA", 1, range=7, bits="10000000", hardware=True),
            *_answered(2, 2.0, 30.0)[3:],
        ],
        [(1, "network", None, ["circuit_blocked_hardware"]), (2, "answered", "rlc", [])],
        {},
    ),
    # repeat-attempts (4 attempts to one number within 300 s): 3 failed calls before the cut, 3 after
    "repeat-attempts": Flow(
        _timeline([r for i in range(6) for r in _failed(10 + i, 10.0 * i, 17, "0219876500", 1)], [25.0]),
        [(10 + i, "subscriber", "rlc", []) for i in range(6)],
        {"repeat-attempts": 1},
    ),
    # congestion-burst (5 calls with cause 34/42 and 5 % of the completed calls within 30 s, by IAM time)
    # over the boundary, between answered calls
    "congestion-burst": Flow(
        _timeline(
            [
                r
                for i in range(8)
                for r in _failed(20 + i, 2.0 + 2.0 * i, 34 if i % 2 else 42, f"02198765{i:02d}")
            ]
            + [r for i in range(3) for r in _answered(40 + i, 1.0 + 6.0 * i, 25.0 + i)],
            [9.0],
        ),
        [
            (c, o, "rlc", [])
            for _, c, o in sorted(
                [(2.0 + 2.0 * i, 20 + i, "network") for i in range(8)]
                + [(1.0 + 6.0 * i, 40 + i, "answered") for i in range(3)]
            )
        ],
        {"congestion-burst": 1},
        each=False,
    ),
    # trunk-loss-rate (8 network losses and 5 % of at least 30 attempts within 60 s) and short-answered-
    # calls (5 answered calls under 4 s of conversation and 5 % of the answered calls within 60 s), over
    # two boundaries
    "trunk-loss-and-short-calls": Flow(
        _timeline(
            [
                r
                for i in range(32)
                for r in (
                    _failed(100 + i, 1.5 * i, 41, f"0219{i:04d}", 2)
                    if i % 3 == 1
                    else _answered(
                        100 + i, 1.5 * i, 1.5 * i + (5.0 if i % 4 == 0 else 12.0), called=f"0219{i:04d}"
                    )
                )
            ],
            [17.0, 33.0],
        ),
        [(100 + i, "network" if i % 3 == 1 else "answered", "rlc", []) for i in range(32)],
        {"trunk-loss-rate": 1, "short-answered-calls": 1},
        each=False,
    ),
    # the same message on two links 3 ms apart (a mirrored port): one copy in each file, for the IAM, an
    # ANM and the call's last message (the RLC: a call ending so is held 50 ms for its copies)
    "cross-link-copies": Flow(
        [
            _iam(0.0, 1),
            CUT,
            _iam(0.003, 1, link=1),
            _m(1.0, "<", "ACM", 1),
            _m(3.0, "<", "ANM", 1, link=1),
            CUT,
            _m(3.003, "<", "ANM", 1),
            *_failed(2, 4.0, 17, location=1),
            _m(20.0, ">", "REL", 1, cause=16),
            _m(20.01, "<", "RLC", 1),
            CUT,
            _m(20.013, "<", "RLC", 1, link=1),
            *_failed(3, 21.0, 17, location=1),
        ],
        [(1, "answered", "rlc", []), (2, "subscriber", "rlc", []), (3, "subscriber", "rlc", [])],
        {},
    ),
    # messages a few ms out of time order across the boundaries (reorder window, 50 ms): an ACM whose
    # frame ends one file, just before its IAM's frame, which starts the next one 3 ms earlier by time
    # stamp (the ACM is parked, then joins its call), and an RLC that ends a file before its REL
    "out-of-order": Flow(
        [
            *_answered(1, 0.0, 30.0)[:3],
            _m(5.003, "<", "ACM", 2),
            CUT,
            _iam(5.0, 2),
            _m(8.0, "<", "ANM", 2),
            _m(30.01, "<", "RLC", 1),
            CUT,
            _m(30.0, ">", "REL", 1, cause=16),
            _m(35.0, "<", "REL", 2, cause=16),
            _m(35.01, ">", "RLC", 2),
        ],
        [(1, "answered", "rlc", ["out_of_order"]), (2, "answered", "rlc", ["out_of_order"])],
        {},
        reordered=True,
    ),
}


#: a busy minute on one trunk: blocking, overlap dialling and the reference fault, copies on a second
#: link, an ACM captured before its IAM, orphans, a reset ending a call, repeat attempts to one number, a
#: REL never acknowledged
RICH = Flow(
    [
        _m(0.0, "<", "BLO", 5),
        _m(0.05, ">", "BLA", 5),
        _m(0.2, "<", "ANM", 7),
        _iam(0.5, 4, "0219", st=False),
        _m(0.8, ">", "SAM", 4, digits="87"),
        _m(1.1, ">", "SAM", 4, digits="6543", st=True),
        _iam(1.5, 1, "0219876500"),
        _iam(1.503, 1, "0219876500", link=1),
        _m(1.6, "<", "ACM", 4),
        _iam(2.0, 6, "0453", st=False),
        _m(2.4, ">", "SAM", 6, digits="11"),
        _m(2.405, "<", "REL", 6, cause=28, location=3),
        _m(2.41, ">", "RLC", 6),
        _m(2.5, "<", "REL", 1, cause=17, location=1),
        _m(2.51, ">", "RLC", 1),
        *_failed(5, 3.0, 34),
        _m(4.0, "<", "ANM", 4),
        *_failed(2, 5.0, 17, "0219876500", 1),
        _m(6.003, "<", "ACM", 3),
        _iam(6.0, 3),
        _m(8.0, "<", "ANM", 3),
        *_failed(8, 9.0, 17, "0219876500", 1),
        _m(10.0, "<", "RSC", 3),
        _m(10.02, ">", "RLC", 3),
        *_failed(9, 12.0, 17, "0219876500", 1),
        _m(14.0, ">", "REL", 4, cause=16),
        _m(14.01, "<", "RLC", 4),
        _m(14.013, "<", "RLC", 4, link=1),
        *_answered(10, 15.0, 19.0)[:4],
        _m(22.0, "<", "REL", 7, cause=16),
        *_failed(11, 25.0, 17, location=1),
    ],
    [
        (4, "answered", "rlc", []),
        (1, "subscriber", "rlc", []),
        (6, "network", "rlc", []),
        (5, "network", "rlc", ["iam_on_blocked_circuit"]),
        (2, "subscriber", "rlc", []),
        (3, "answered", None, ["out_of_order", "circuit_reset"]),
        (8, "subscriber", "rlc", []),
        (9, "subscriber", "rlc", []),
        (10, "answered", "capture_end", []),
        (11, "subscriber", "rlc", []),
    ],
    {
        "blocked-circuit-attempt": 1,
        "incomplete-digit-collection": 1,
        "orphan-message": 1,
        "release-not-acknowledged": 1,
        "repeat-attempts": 2,
    },
    reordered=True,
)

#: every flow by name
ALL: dict[str, Flow] = {**FLOWS, "rich": RICH}


# -- the reference: the whole capture read once ------------------------------------------------------------
@dataclass
class Whole:
    """A flow's frames, its whole capture audited as one file, and the library's reading of it."""

    frames: list[Frame]
    split: Split
    audit: Audit


class References:
    """The whole capture of each flow, audited once per session (lazily)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.done: dict[str, Whole] = {}

    def __call__(self, name: str) -> Whole:
        if name not in self.done:
            flow = ALL[name]
            frames = capture(flow.rows)
            d = self.folder / name
            split = write_split(d / "in", frames, [], ["whole_00000_20250615.pcap"])
            audit = audit_point(split, d / "out")
            self.done[name] = Whole(frames, split, audit)
        return self.done[name]


@pytest.fixture(scope="module")
def whole(tmp_path_factory: pytest.TempPathFactory) -> References:
    return References(tmp_path_factory.mktemp("whole"))


def _calls(a: Audit) -> list[tuple[Any, ...]]:
    rows = sorted(a.calls, key=lambda r: (r["start"], r["call_id"]))
    return [(r["cic"], r["outcome"], r["release_end"], r["flags"]) for r in rows]


@pytest.mark.parametrize("name", ALL)
def test_the_whole_capture_is_what_the_flow_is_about(name: str, whole: References) -> None:
    """The reference: the audit of the whole capture as one file gives the calls and findings the flow is
    written for, and the same calls and findings as the library (calls, check) reading that file."""
    flow, w = ALL[name], whole(name)
    assert _calls(w.audit) == flow.calls
    assert rules_of(w.audit) == flow.rules
    lib = library(w.split)
    assert differences(w.audit, lib, summary=False) == []


def _in_time_order(frames: Sequence[Frame], cuts: Sequence[int]) -> bool:
    """Whether the files of this cut come in capture order when ordered as the audit orders them (by
    their first time stamp, then name).  Not so when a file holds only messages captured later than the
    first message of the next file (a message a few ms out of order alone in its file): the audit reads
    that file after the next one, which is another capture than the whole one."""
    firsts = [frames[c].ts for c in (0, *sorted(cuts))]
    return all(a <= b for a, b in itertools.pairwise(firsts))


def _shapes(flow: Flow, frames: Sequence[Frame]) -> dict[str, list[int]]:
    """The ways of cutting a flow: at each boundary alone (2 files), at a boundary and halfway in the
    longer side (3 files), at every boundary, around the first boundary (files of one message on either
    side of it), and at every message (or, for the long flows, in 8 files and at every boundary); each
    only when its files come in capture order (:func:`_in_time_order`)."""
    n = len(flow.rows)
    out: dict[str, list[int]] = {}
    for c in flow.cuts:
        out[f"2 files at {c}"] = [c]
        other = c // 2 if c > n - c else (c + n) // 2
        if 0 < other < n and other != c:
            out[f"3 files at {c} and {other}"] = sorted({c, other})
    out["at every boundary"] = list(flow.cuts)
    c = flow.cuts[0]
    out["around the first boundary"] = [x for x in (c - 1, c, c + 1) if 0 < x < n]
    if flow.each:
        out["every message"] = list(range(1, n))
    else:
        out["8 files and every boundary"] = sorted({*flow.cuts, *(n * i // 8 for i in range(1, 8))})
    return {k: v for k, v in out.items() if _in_time_order(frames, v)}


def _split_and_compare(
    name: str, w: Whole, shapes: dict[str, list[int]], tmp_path: Path, parts: bool = False
) -> None:
    """Audit each cut of the flow and compare it with the whole capture (every difference of every cut
    listed); ``parts``: every file read as a part of its own and merged."""
    failures = []
    for i, (shape, cuts) in enumerate(shapes.items()):
        split = write_split(tmp_path / f"in{i}", w.frames, cuts)
        try:
            got = audit_point(split, tmp_path / f"out{i}", parts=parts)
            assert_same(w.audit, got, split, f"{name}, {shape}{', in parts' if parts else ''}")
        except AssertionError as exc:
            failures.append(str(exc))
    if failures:
        raise AssertionError("\n\n".join(failures))


@pytest.mark.parametrize("parts", [False, True], ids=["file-by-file", "in-parts"])
@pytest.mark.parametrize("name", list(FLOWS))
def test_split_at_the_boundary_gives_what_the_whole_capture_gives(
    name: str, parts: bool, whole: References, tmp_path: Path
) -> None:
    """The audit's worker, the files of one capture point in time order (read file by file, or each file
    a part read from an empty state and merged, as with several workers): calls, findings and KPI rows as
    in the whole capture, however the capture is cut."""
    w = whole(name)
    _split_and_compare(name, w, _shapes(FLOWS[name], w.frames), tmp_path, parts)


# -- every cut position of the rich flow ---------------------------------------------------------------------
def _sweep_one(w: Whole, cuts: list[int], tmp: Path) -> None:
    """Compare one cut of the rich flow, read file by file and in parts."""
    split = write_split(tmp / "in", w.frames, cuts)
    assert_same(w.audit, audit_point(split, tmp / "out"), split, f"rich flow cut at {cuts}")
    got = audit_point(split, tmp / "out-parts", parts=True)
    assert_same(w.audit, got, split, f"rich flow cut at {cuts}, in parts")


@pytest.mark.parametrize("cut", range(1, len(RICH.rows)))
def test_rich_flow_cut_at_every_message(cut: int, whole: References, tmp_path: Path) -> None:
    """Two files, cut before message ``cut`` of the rich flow: the same as the whole capture."""
    w = whole("rich")
    if not _in_time_order(w.frames, [cut]):
        pytest.fail("every 2-file cut of the rich flow is in time order")
    _sweep_one(w, [cut], tmp_path)


@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(cuts=st.sets(st.integers(1, len(RICH.rows) - 1), min_size=2, max_size=8))
def test_rich_flow_cut_anywhere_into_many_files(cuts: set[int], whole: References, tmp_path: Path) -> None:
    """3 to 9 files, cut anywhere (files whose time order is not the capture order aside): the same
    as the whole capture."""
    w = whole("rich")
    order = sorted(cuts)
    assume(_in_time_order(w.frames, order))
    tmp = Path(tempfile.mkdtemp(dir=tmp_path))  # examples share tmp_path, and may come again
    split = write_split(tmp / "in", w.frames, order)
    assert_same(w.audit, audit_point(split, tmp / "out"), split, f"rich flow cut at {order}")
    got = audit_point(split, tmp / "out-parts", parts=True)
    assert_same(w.audit, got, split, f"rich flow cut at {order}, in parts")


# -- files out of name order, and the whole audit ------------------------------------------------------------
#: a dumpcap ring buffer whose counter wrapped: the names sort otherwise than the files' times
WRAPPED = [f"probe_{n:05d}_20250615150{i}00.pcap" for i, n in enumerate((99998, 99999, 0, 1))]


def _unpadded(n: int) -> list[str]:
    """``mirror_1.pcap`` ... ``mirror_N.pcap``: by name, ``mirror_10`` comes before ``mirror_2``."""
    return [f"mirror_{i}.pcap" for i in range(1, n + 1)]


def test_files_out_of_name_order_are_read_in_time_order(whole: References, tmp_path: Path) -> None:
    """Files handed over in any order, with names that sort otherwise than their times (a wrapped ring
    buffer counter, counters without leading zeros): the audit reads them by time, as one capture."""
    w = whole("sams")
    split = write_split(tmp_path / "wrapped", w.frames, FLOWS["sams"].cuts, WRAPPED)
    assert sorted(p.name for p in split.files) != [p.name for p in split.files]
    for i, order in enumerate(([3, 2, 1, 0], [2, 0, 3, 1])):
        assert_same(
            w.audit, audit_point(split, tmp_path / f"out{i}", order), split, f"sams, files in order {order}"
        )
    w = whole("cross-link-copies")
    n = len(w.frames)
    split = write_split(tmp_path / "unpadded", w.frames, range(1, n), _unpadded(n))
    by_name = sorted(range(n), key=lambda i: split.files[i].name)
    assert by_name != list(range(n))
    order = list(range(n))
    random.Random(16).shuffle(order)
    for i, o in enumerate((by_name, order)):
        assert_same(
            w.audit, audit_point(split, tmp_path / f"o{i}", o), split, f"cross-link copies, order {o}"
        )


@pytest.mark.parametrize("workers", [1, 2])
def test_the_whole_audit_of_two_split_points(workers: int, whole: References, tmp_path: Path) -> None:
    """``run_audit`` (discovery, grouping into capture points by name, the local pool, the summary) on a
    folder holding two probes' rotated files, out of name order: the same calls, findings and KPI rows as
    the audit of the two whole captures."""
    a, b = whole("sams"), whole("cross-link-copies")
    ref = tmp_path / "whole"
    whole_a = write_split(ref, a.frames, [], ["probe.pcap"])
    whole_b = write_split(ref, b.frames, [], ["mirror.pcap"])
    want = audit_run([ref], [whole_a, whole_b], tmp_path / "out-whole", workers=1)
    folder = tmp_path / "in"
    split_a = write_split(folder, a.frames, FLOWS["sams"].cuts, WRAPPED)
    split_b = write_split(folder, b.frames, range(1, len(b.frames)), _unpadded(len(b.frames)))
    got = audit_run([folder], [split_a, split_b], tmp_path / "out", workers=workers)
    assert sorted(p["point"].rsplit("/", 1)[-1] for p in got.points) == ["mirror", "probe"]
    assert sum(p["files"] for p in got.points) == len(split_a.files) + len(split_b.files)
    assert_same(want, got, None, f"two points, {workers} worker(s)")
    assert want.summary and want.summary[0]["seizures"] == len(a.audit.calls) + len(b.audit.calls)


# -- the comparison fails when it should ---------------------------------------------------------------------
def test_the_comparison_names_what_differs(whole: References, tmp_path: Path) -> None:
    """The comparison is strict and says what differs: a call dropped, a column changed, a frame moved,
    a summary row changed; and an audit that lost a file differs from the whole capture."""
    w = whole("three-files-part")
    ok = Audit(w.audit.calls, w.audit.findings, w.audit.summary)
    assert differences(w.audit, ok) == []
    dropped = Audit(w.audit.calls[1:], w.audit.findings, w.audit.summary)
    lost = w.audit.calls[0]
    assert differences(w.audit, dropped) == [
        "calls: 3 in the whole capture, 2 in the split one",
        f"missing in the split capture: call CIC {lost['cic']} 1001->2002 IAM at {lost['start']} s "
        f"(call_id {lost['call_id']}, {lost['outcome']})",
    ]
    changed = [dict(c) for c in w.audit.calls]
    changed[0] = {**changed[0], "outcome": "network", "frames": [*changed[0]["frames"][:-1], 99]}
    assert w.audit.summary is not None
    (row,) = w.audit.summary
    lines = differences(w.audit, Audit(changed, w.audit.findings, [{**row, "answered": 0}]))
    c = changed[0]
    label = (
        f"call CIC {c['cic']} 1001->2002 IAM at {c['start']} s (call_id {c['call_id']}, {lost['outcome']})"
    )
    last = len(c["frames"]) - 1
    assert lines == [
        f"{label}: frames[{last}]: whole {lost['frames'][-1]}, split 99",
        f"{label}: outcome: whole {lost['outcome']!r}, split 'network'",
        f"summary row 1001-2002 2025-06-15 15:00: answered: whole {row['answered']}, split 0",
    ]
    # a file lost: the calls of the middle file are gone, the spanning call loses its answer
    split = write_split(tmp_path / "in", w.frames, FLOWS["three-files-part"].cuts)
    split.files.pop(1)
    split.spans.pop(1)
    part = audit_point(split, tmp_path / "out")
    with pytest.raises(AssertionError) as info:
        assert_same(w.audit, part, split, "the middle file lost")
    text = str(info.value)
    assert text.startswith("the middle file lost: ") and "missing in the split capture: call CIC 2" in text
    assert (
        "call CIC 1 1001->2002 IAM at 0.0 s (call_id IAM 1, answered): anm_ts: whole 3.0, split None" in text
    )


# -- the two bugs these tests found, each alone -------------------------------------------------------------
def test_the_ladder_names_each_message_of_a_call_across_files(tmp_path: Path) -> None:
    """An IAM on a blocked circuit, frame 2 of one file; its REL is frame 2 of the next file: the
    finding's ladder must describe the REL (its cause), not the IAM again."""
    rows: list[Row] = [
        _m(0.0, "<", "BLO", 5),
        _iam(10.0, 5),
        _iam(10.2, 9),
        _m(10.5, "<", "REL", 5, cause=34, location=3),
        _m(10.51, ">", "RLC", 5),
        _m(11.0, "<", "REL", 9, cause=17, location=1),
        _m(11.01, ">", "RLC", 9),
    ]
    part = audit_point(write_split(tmp_path / "in", capture(rows), [2]), tmp_path / "out")
    (f,) = part.findings
    assert f["rule"] == "blocked-circuit-attempt"
    assert [s["info"] for s in f["ladder"]] == [
        "called 0219876543, calling 01058722000",
        "cause 34 (No circuit/channel available), location TN",
        "",
    ]


def test_a_windowed_finding_lists_the_frame_of_every_member(tmp_path: Path) -> None:
    """Four failed calls to one number, one per file (each IAM is frame 1 of its file): the
    repeat-attempts finding must list four frames, in time order, each of its own file."""
    rows = [r for i in range(4) for r in _failed(10 + i, 10.0 * i, 17, "0219876500", 1)]
    part = audit_point(write_split(tmp_path / "in", capture(rows), [3, 6, 9]), tmp_path / "out")
    (f,) = part.findings
    assert (f["rule"], f["count"], f["calls"]) == (
        "repeat-attempts",
        4,
        ["IAM 1", "IAM 4", "IAM 7", "IAM 10"],
    )
    assert f["frames"] == [1, 4, 7, 10]
