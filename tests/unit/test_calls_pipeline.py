"""Files in, calls out: iter_calls, calls_frame, stats_frame, filters, by_start and the refiner hook."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sigdiag.calls import (
    CALL_KEYS,
    REFINERS,
    STATS_KEYS,
    CallSettings,
    calls_frame,
    iter_calls,
    register_refiner,
    stats_frame,
)
from sigdiag.capture import CaptureError
from sigdiag.model import Payload
from tests.unit.test_calls_builder import Flow, body, correlate, write_capture


def _capture(tmp_path: Path) -> Path:
    f = Flow()
    f.msg("IAM", cic=1, called="0453114")
    f.msg("SAM", cic=1, digits="2345", st=True)
    f.msg("REL", cic=1, fwd=False, cause=28, dt=0.005)
    f.msg("RLC", cic=1)
    f.msg("IAM", cic=2, called="0219999", st=True)
    f.msg("ANM", cic=2, fwd=False)
    f.msg("REL", cic=2, cause=16, dt=30)
    f.msg("RLC", cic=2, fwd=False)
    return write_capture(tmp_path / "p.pcap", f)


def test_iter_calls_streams_calls_with_counters(tmp_path: Path) -> None:
    reader = iter_calls(_capture(tmp_path))
    calls = list(reader)
    assert [c.called for c in calls] == ["04531142345", "0219999"]
    assert reader.correlator.messages == 8 and reader.reader.anomaly_count == 0
    assert [m.type for m in calls[0].messages] == ["IAM", "SAM", "REL", "RLC"]


def test_filters(tmp_path: Path) -> None:
    path = _capture(tmp_path)
    assert [c.cic for c in iter_calls(path, number="2345")] == [1]
    assert [c.cic for c in iter_calls(path, cic=2)] == [2]
    assert list(iter_calls(path, number="999", cic=1)) == []


def test_refiners_change_the_outcome_before_filters_and_stats(tmp_path: Path) -> None:
    """The hook the diagnosis rules use: a REL right after a SAM is a digit-collection fault."""

    def digit_collection(call: Any) -> None:
        if call.sam_count and call.released_by == "called" and call.rel_ts - call.last_addr_ts < 1.0:
            call.override_outcome("network", "incomplete-digit-collection", "incomplete-digit-collection")

    path = _capture(tmp_path)
    calls = list(iter_calls(path, refiners=[digit_collection]))
    assert (calls[0].outcome, calls[0].base_outcome, calls[0].outcome_by) == (
        "network",
        "caller",
        "incomplete-digit-collection",
    )
    df = stats_frame(path, refiners=[digit_collection])
    assert df["network_loss"][0] == 1 and df["caller_failures"][0] == 0
    df = stats_frame(path, refiners=())  # the cause-based classes only
    assert df["network_loss"][0] == 0 and df["caller_failures"][0] == 1
    # the calls layer knows nothing of the rules above it: by default, the cause-based classes
    calls = list(iter_calls(path))
    assert (calls[0].outcome, calls[0].outcome_by) == ("caller", "outcomes")
    # the rules' outcome refiner handed in: the same refinement, from rules/
    from sigdiag.rules.check import outcome_refiner

    calls = list(iter_calls(path, refiners=[outcome_refiner()]))
    assert (calls[0].outcome, calls[0].outcome_by) == ("network", "incomplete-digit-collection")


def test_report_frames_apply_the_shipped_rules_by_default(tmp_path: Path) -> None:
    """sigdiag.report.frames (and sigdiag.calls_frame, sigdiag.stats_frame): the outcomes the command
    line shows, the shipped rules' outcome overrides applied."""
    import sigdiag
    from sigdiag.report import frames

    path = _capture(tmp_path)
    calls = list(frames.iter_calls(path))
    assert (calls[0].outcome, calls[0].outcome_by) == ("network", "incomplete-digit-collection")
    assert [c.outcome for c in frames.iter_calls(path, refiners=())] == ["caller", "answered"]
    for stats in (frames.stats_frame, sigdiag.stats_frame):
        df = stats(path)
        assert df["network_loss"][0] == 1 and df["caller_failures"][0] == 0
    for calls_df in (frames.calls_frame, sigdiag.calls_frame):
        df = calls_df(path)
        assert list(df["outcome"]) == ["network", "answered"]
        assert list(df["base_outcome"]) == ["caller", "answered"]


def test_register_refiner() -> None:
    def noop(call: Any) -> None:
        return None

    try:
        assert register_refiner(noop) is noop
        register_refiner(noop)
        assert REFINERS.count(noop) == 1
    finally:
        REFINERS.remove(noop)


def test_calls_frame(tmp_path: Path) -> None:
    df = calls_frame(_capture(tmp_path), refiners=())
    assert list(df.columns) == list(CALL_KEYS) and len(df) == 2
    assert list(df["outcome"]) == ["caller", "answered"] and df["frames"][0] == [1, 2, 3, 4]
    assert calls_frame(_capture(tmp_path)).equals(df)  # the default: no refiner


def test_stats_frame_several_files_and_groups(tmp_path: Path) -> None:
    a = _capture(tmp_path)
    b = tmp_path / "b.pcap"
    b.write_bytes(a.read_bytes())
    df = stats_frame([a, b], by="cause")
    assert list(df.columns) == list(STATS_KEYS)
    assert list(df["group"]) == ["16", "28"] and list(df["seizures"]) == [2, 2]
    df = stats_frame(str(a), settings=CallSettings(effective_s=60))
    assert df["effective_answered"][0] == 0


def test_not_a_capture(tmp_path: Path) -> None:
    p = tmp_path / "x.txt"
    p.write_text("not a capture at all\n" * 4)
    with pytest.raises(CaptureError):
        iter_calls(p)


def _pcless(f: Flow, typ: str, cic: int, **kw: Any) -> Any:
    """A BICC message on SCTP (PPID 8): no point codes, keyed by the link and the call instance code."""
    from sigdiag.codec.isup import decode_payload

    f.frame += 1
    f.ts += kw.pop("dt", 0.1)
    data = body(typ, cic, "bicc", **kw)
    p = Payload(f.frame, f.ts, "sctp", "bicc", "itu", None, None, None, None, None, data, True)
    p.link = "sctp:10.0.0.1:9900-10.0.0.2:9900"
    m = decode_payload(p)
    f.messages.append(m)
    return m


def test_bicc_on_sctp_without_point_codes() -> None:
    f = Flow()
    _pcless(f, "IAM", 7, called="0453114")
    _pcless(f, "ACM", 7)
    _pcless(f, "ANM", 7)
    _pcless(f, "REL", 7, cause=16, dt=20)
    _pcless(f, "RLC", 7)
    _pcless(f, "IAM", 8)
    _pcless(f, "REL", 8, cause=17)
    _pcless(f, "RLC", 8)
    _pcless(f, "IAM", 9)
    _pcless(f, "REL", 9, cause=31, dt=3)
    _, calls = correlate(f.messages)
    got = {c.cic: c for c in calls}
    assert got[7].outcome == "answered" and got[7].released_by is None and got[7].pdd_ms == pytest.approx(100)
    assert got[8].outcome == "subscriber" and got[8].released_by == "called"
    assert got[9].outcome == "caller" and got[9].released_by == "calling"
    assert got[7].key == ("bicc", "sctp:10.0.0.1:9900-10.0.0.2:9900", 7)


def test_dual_seizure_without_point_codes_keeps_the_first_call() -> None:
    f = Flow()
    first = _pcless(f, "IAM", 7, called="0453114")
    second = _pcless(f, "IAM", 7, called="0107777", dt=0.002)
    _pcless(f, "ANM", 7)
    _pcless(f, "IAM", 8)
    _pcless(f, "IAM", 8, called="0219999", dt=1.0)  # after the glare window: CIC reuse
    _, calls = correlate(f.messages)
    got = {c.iam_frame: c for c in calls}
    assert got[first.frame].outcome == "answered" and "dual_seizure" in got[first.frame].flags
    assert got[second.frame].end_reason == "dual_seizure" and got[second.frame].outcome == "network"
    assert [c.end_reason for c in calls if c.cic == 8] == ["superseded", "open"]
