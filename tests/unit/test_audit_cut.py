"""A capture point cut inside a file (issue 16, :mod:`sigdiag.audit.parts`): a point that is one large file,
or fewer files than workers, is read in pieces by several workers and merged, with exactly the stored
calls, findings, anomalies and KPI rows of one worker reading the file.  Each piece decodes its file from
the start (frame numbers, reassembly and point-code formats are the whole file's) and correlates from a cut
both neighbours find (:class:`sigdiag.calls.parts.Cut`); the file is committed once, with the part that
reads its end (a part ending inside a file is held).  Tested: the plan's cuts and its frame estimates;
one file in 2, 3 and 4 pieces; a damaged file (frame and message anomalies, a record cut by the end of the
file, the per-file bound on stored rows); files and pieces mixed; a part read again while another is held;
the audit killed while a piece is held."""

from __future__ import annotations

import gzip
import struct
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from sigdiag.audit import file_anomalies
from sigdiag.audit.parts import (
    COMMIT_BYTES,
    PART_BYTES_ENV,
    PART_FACTOR,
    SKIP_SHARE,
    Span,
    frame_at,
    plan,
)
from sigdiag.audit.runner import _absolute, run_audit
from sigdiag.audit.worker import PointTask, first_ts, process_point
from sigdiag.capture import PcapWriter, open_capture
from tests.unit.test_audit import split
from tests.unit.test_audit_parts import kill_at_merge, point_name, tables

ROOT = Path(__file__).resolve().parents[2]
#: parts of at least this many bytes (the file is about 3.6 MB)
SMALL = 256 * 1024


@pytest.fixture(autouse=True)
def small_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PART_BYTES_ENV, str(SMALL))


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One capture file of the simulator's fault mix (6,000 calls, every kind of fault but those of
    circuit groups: a group supervision message across a cut sends the part to be read again), busy: 40
    calls a second on 4,000 circuits a trunk, half the messages in the timers' tick of the one before (so
    that a cut must be where the timers run, not merely at its frame)."""
    import yaml

    from sigdiag.simulate import simulate

    tmp = tmp_path_factory.mktemp("big")
    scenario = yaml.safe_load((ROOT / "captures" / "all-faults.yaml").read_text(encoding="utf-8"))
    scenario["traffic"]["cps"] = 40
    for trunk in scenario["trunks"]:
        trunk["cics"] = "1-4000"
    scenario["faults"] = [
        f for f in scenario["faults"] if f["type"] != "circuit-reset-burst" and not f.get("group")
    ]
    (tmp / "busy.yaml").write_text(yaml.safe_dump(scenario), encoding="utf-8")
    folder = tmp / "probe"
    folder.mkdir()
    path = folder / "probe_00000_20240301.pcap"
    simulate(str(path), str(tmp / "busy.yaml"), calls=6000, seed=5, fmt="pcap")
    for extra in folder.glob("*.*"):  # (the simulator's truth and config files beside it)
        if extra != path:
            extra.unlink()
    return path


@pytest.fixture(scope="module")
def damaged(big: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same traffic with one ACM or CPG record in 7 cut short by 9 octets (frame-level decoding
    anomalies), an octet of another one in 7 changed (message-level ones), all through the file, and the
    last record cut by the end of the file.  (Only messages that do not end or hold a call: the calls
    still end, so the parts are merged, not read again.)"""
    from sigdiag.decode import read_messages

    folder = tmp_path_factory.mktemp("damaged") / "probe"
    folder.mkdir()
    path = folder / big.name
    progress = sorted({int(m.frame) for m in read_messages(str(big)) if m.type in ("ACM", "CPG")})
    cut = set(progress[::7])
    changed = set(progress[3::7])
    frames = list(open_capture(str(big), []))
    with PcapWriter(path, frames[0].linktype) as w:
        for f in frames:
            data = f.data
            if f.number in cut:
                data = data[:-9]
            elif f.number in changed:  # (an ISUP octet near the end: a pointer out of range)
                data = data[:-3] + b"\x7f" + data[-2:]
            w.write(data, f.ts)
    data = path.read_bytes()
    path.write_bytes(data[:-30])
    return path


def one_worker(folder: Path, out: Path) -> tuple[dict[str, list[str]], Any, dict[str, Any]]:
    res = run_audit([str(folder)], out, {}, workers=1, signals=False)
    assert res.points[0].get("merged", 0) == 0
    return tables(out), res.rows, res.points[0]


def in_parts(folder: Path, n: int, tmp: Path) -> tuple[dict[str, list[str]], dict[str, Any]]:
    """The point's task reads every part itself (no part tasks), in this process."""
    files = sorted(str(p) for p in folder.iterdir())
    spans = plan(None, files, first_ts, n)
    task = PointTask(str(tmp), "p1", point_name([Path(f) for f in files]), files, _absolute({}), "run", spans)
    result = process_point(task)
    return tables(tmp), result


# -- the plan ------------------------------------------------------------------------------------------------
def true_frame(path: Path, offset: int) -> int:
    """The frame whose record holds byte ``offset`` of a classic pcap file (walking the record headers)."""
    data = path.read_bytes()
    pos, n = 24, 0
    while pos < len(data):
        n += 1
        (incl,) = struct.unpack_from("<I", data, pos + 8)
        if pos + 16 + incl > offset:
            return n
        pos += 16 + incl
    return 0


def test_frame_estimates(big: Path, tmp_path: Path) -> None:
    """The frame about an offset: exact in the sampled records, within 3 % of the file's frames beyond;
    0 past the end and for gzip-compressed files (not cut)."""
    size = big.stat().st_size
    frames = len(list(open_capture(str(big), [])))
    assert frame_at(str(big), 100_000) == true_frame(big, 100_000)
    for share in (0.25, 0.5, 0.75):
        off = int(size * share)
        assert abs(frame_at(str(big), off) - true_frame(big, off)) < frames * 0.03
    gz = tmp_path / "big.pcap.gz"
    gz.write_bytes(gzip.compress(big.read_bytes(), compresslevel=1))
    assert frame_at(str(gz), 100_000) == 0


def test_the_plan_cuts_a_large_file(big: Path, tmp_path: Path) -> None:
    """One file, four workers: four parts of about equal cost (a later part also decodes the file's
    bytes before its cut, so it holds fewer), each starting where the one before stops; a
    gzip-compressed file is not cut; small files beside it are not cut either."""
    spans = plan(None, [str(big)], first_ts, 4)
    assert len(spans) == 4 and all(s.files == [(str(big), 0)] for s in spans)
    assert spans[0].start == 0 and spans[-1].stop == 0
    for a, b in pairwise(spans):
        assert a.stop == b.start > 0
    # each part's cost about the same: the first (read by the point's task) its bytes and a commit; a
    # later one its bytes at a part's cost and a share of those before it, that it decodes too
    costs = [spans[0].size + COMMIT_BYTES]
    costs += [
        PART_FACTOR * s.size + SKIP_SHARE * sum(x.size for x in spans[:i]) for i, s in enumerate(spans)
    ][1:]
    assert max(costs) < min(costs) * 1.1
    assert spans[0].size > spans[-1].size * 1.2 and sum(s.size for s in spans) == big.stat().st_size
    gz = tmp_path / "big.pcap.gz"
    gz.write_bytes(gzip.compress(big.read_bytes(), compresslevel=1))
    assert len(plan(None, [str(gz)], first_ts, 4)) == 1
    small = split(big, tmp_path / "rot", 12)
    spans = plan(None, [str(p) for p in small], first_ts, 3)
    assert len(spans) == 3 and all(s.start == s.stop == 0 for s in spans)


def test_the_plan_cuts_the_large_file_among_small_ones(big: Path, tmp_path: Path) -> None:
    """Two small files and the large one after them, in two parts: the cut falls inside the large file."""
    pieces = split(big, tmp_path / "rot", 40, shift=-86400.0)  # (a day before it)
    files = [*pieces[:2], big]
    spans = plan(None, [str(p) for p in files], first_ts, 2)
    assert len(spans) == 2
    assert [p for p, _ in spans[0].files] == [str(p) for p in files]
    assert spans[1].files == [(str(big), 2)] and spans[0].stop == spans[1].start > 0


# -- the results ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("workers", [2, 4])
def test_one_file_read_by_several_workers(workers: int, big: Path, tmp_path: Path) -> None:
    """The audit of one file with 2 and 4 workers: the same tables and KPI rows as one worker's, the file
    counted once, the merge itself used (no part read again)."""
    want, rows, point1 = one_worker(big.parent, tmp_path / "one")
    res = run_audit([str(big.parent)], tmp_path / "out", {}, workers=workers, signals=False)
    (point,) = res.points
    assert point["files"] == 1 and point["messages"] == point1["messages"]
    assert point["calls"] == point1["calls"] and point["findings"] == point1["findings"]
    assert point.get("merged", 0) == workers - 1 and not point.get("fallbacks")
    assert tables(tmp_path / "out") == want
    assert res.rows == rows
    assert len(want["calls"]) > 6000 and len(want["findings"]) > 10


@pytest.mark.parametrize("bound", [None, 5])
def test_a_damaged_file_in_pieces(bound: int | None, damaged: Path, tmp_path: Path, monkeypatch) -> None:
    """Frame-level and message-level anomalies all through the file and a record cut by its end: each
    stored once, by the piece that read it; the per-file bound on stored rows falls where it falls in the
    whole file (``bound``: 5 rows of each kind; the rest counted in one row, once); the run's summary of
    the damaged file the same."""
    if bound is not None:
        monkeypatch.setattr(file_anomalies, "MAX_ANOMALY_ROWS", bound)
    files = [str(damaged)]
    task = PointTask(str(tmp_path / "one"), "p1", point_name([damaged]), files, _absolute({}), "run", None)
    whole = process_point(task)
    want = tables(tmp_path / "one")
    got, result = in_parts(damaged.parent, 4, tmp_path / "out")
    assert result["merged"] == 3 and not result.get("fallbacks")  # the pieces' rows, not read again
    assert got == want
    assert result["damaged"] == whole["damaged"] and result["anomalies"] == whole["anomalies"]
    names = [r for r in want["anomalies"]]
    assert any('"scope": "frame"' in r for r in names) and any('"scope": "message"' in r for r in names)
    assert any("pcap.truncated_record" in r for r in names)
    if bound is not None:
        assert sum("file.anomalies_not_stored" in r for r in names) == 1


def test_files_and_pieces_mixed(big: Path, tmp_path: Path) -> None:
    """Small rotated files and the large file after them, read by 3 workers: the same as one worker."""
    folder = tmp_path / "probe"
    pieces = split(big, folder, 40, prefix="probe")
    small = pieces[:3]
    for p in pieces[3:]:
        p.unlink()
    large = folder / "probe_00099_20240301.pcap"
    # the rest of the traffic as one large file
    rest = split(big, tmp_path / "rest", 40, prefix="probe")[3:]
    frames = [f for p in rest for f in open_capture(str(p), [])]
    with PcapWriter(large, frames[0].linktype) as w:
        for f in frames:
            w.write(f.data, f.ts)
    want, rows, _ = one_worker(folder, tmp_path / "one")
    res = run_audit([str(folder)], tmp_path / "out", {}, workers=3, signals=False)
    (point,) = res.points
    assert point["files"] == len(small) + 1
    assert tables(tmp_path / "out") == want and res.rows == rows


def test_a_part_read_again_while_a_piece_is_held(big: Path, tmp_path: Path, monkeypatch) -> None:
    """The merge of the third of four parts cannot be proved equal (made so here): the point's task reads
    the file again from the last commit (what is held is dropped) up to the third part's stop, then merges
    the fourth: the same tables as one worker's."""
    from sigdiag.audit import parts as parts_module
    from sigdiag.calls.parts import Fallback

    original = parts_module.merge_outcome

    def refuse_part_2(stream: Any, outcome: Any, *args: Any) -> Any:
        if outcome.k == 2:
            raise Fallback("made to fall back")
        return original(stream, outcome, *args)

    monkeypatch.setattr(parts_module, "merge_outcome", refuse_part_2)
    want, _, _ = one_worker(big.parent, tmp_path / "one")
    got, result = in_parts(big.parent, 4, tmp_path / "out")
    assert result["fallbacks"] == ["part 2: made to fall back"] and result["merged"] == 2
    assert result["files"] == 1
    assert got == want


def test_killed_while_a_piece_is_held(big: Path, tmp_path: Path) -> None:
    """The audit killed (SIGKILL, the whole process group) when the point's task is about to merge the
    third of four parts of one file, the two before merged and held (nothing of the file committed): the
    rerun reads the file again, nothing lost, nothing counted twice."""
    want, _, _ = one_worker(big.parent, tmp_path / "one")
    out = tmp_path / "out"
    rerun = kill_at_merge(big.parent, out, 4, 2, tmp_path)
    assert not (out / "calls").is_dir() or not any((out / "calls").rglob("*.parquet"))  # nothing committed
    rerun()
    assert tables(out) == want
    assert not any((out / "_parts").rglob("*.parquet"))


def test_a_plan_of_pieces_read_by_one_task_in_order(big: Path, tmp_path: Path) -> None:
    """Spans given by hand (a cut past the file's end: the second piece is empty) still give one
    worker's result: both sides find the same cut, the last piece commits the file."""
    want, _, _ = one_worker(big.parent, tmp_path / "one")
    spans = [Span([(str(big), 0)], 0, 10**9), Span([(str(big), 0)], 10**9, 0)]
    task = PointTask(str(tmp_path / "out"), "p1", point_name([big]), [str(big)], _absolute({}), "run", spans)
    result = process_point(task)
    assert result["files"] == 1 and result["merged"] == 1
    assert tables(tmp_path / "out") == want


@pytest.mark.parametrize("bundled", ["carriers.pcapng", "reference-fault.pcap", None])
def test_real_and_bundled_captures_cut_inside(
    bundled: str | None, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch
) -> None:
    """Every real capture (read in place) and two bundled ones (pcapng with several carriers; the
    reference fault, China point codes) cut inside in 3 and 5 parts, however small (parts of any size):
    the stored calls, findings and anomalies of one worker, whatever merged or read again."""
    monkeypatch.setenv(PART_BYTES_ENV, "1")
    if bundled is None:
        shared = request.getfixturevalue("shared_captures")
        caps = sorted(p for p in shared.iterdir() if ".pcap" in p.name)
        assert caps
    else:
        caps = [ROOT / "captures" / bundled]
    opts = _absolute({"decode": {"pc_format": "china"}} if bundled == "reference-fault.pcap" else {})
    for cap in caps:
        files = [str(cap)]
        process_point(PointTask(str(tmp_path / cap.name / "one"), "p1", "x", files, opts, "r", None))
        want = tables(tmp_path / cap.name / "one")
        cut = 0
        for n in (3, 5):
            spans = plan(None, files, first_ts, n)
            cut += len(spans) > 1
            out = tmp_path / cap.name / str(n)
            result = process_point(PointTask(str(out), "p1", "x", files, opts, "r", spans))
            assert result["files"] == 1, cap.name
            assert tables(out) == want, f"{cap.name} in {len(spans)} parts"
        assert cut, f"{cap.name} was never cut"
