"""Correlation in parallel parts (:mod:`sigdiag.calls.parts`): the parts merged give exactly what one
correlator gives reading the same files in order (every call, as a dict, in the order it is handed out;
every orphan and circuit event, in order), whatever the cuts: on the bundled captures (healthy traffic,
the simulator's fault mix, realism, carriers, the reference fault), cut at every file and at random; and
on hand-written boundaries (a call across the cut, CIC reuse across it, a copy straddling it, a blocked
circuit).  A merge that cannot be proved equal reads the part again (a fallback, with its reason): the
results are the same, and the tests say when the merge itself was used."""

from __future__ import annotations

import json
from functools import cache
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sigdiag.calls import parts as P
from sigdiag.calls.outcomes import load_outcomes
from sigdiag.calls.settings import CallSettings
from sigdiag.calls.step import timer_tick
from sigdiag.decode import read_messages
from sigdiag.model import Message
from tests.unit.test_calls_builder import Flow

ROOT = Path(__file__).resolve().parents[2]
CAPTURES = ["healthy.pcap", "all-faults.pcap", "realism.pcap", "reference-fault.pcap", "carriers.pcapng"]
LONG = ["sim:realism.yaml:3000", "sim:all-faults.yaml:3000"]
SETTINGS = CallSettings(keep_messages=False)
#: how far copies and out-of-order messages reach (seconds)
HORIZON = (
    max(SETTINGS.cross_link_window_ms, SETTINGS.duplicate_window_ms) + SETTINGS.reorder_window_ms
) / 1000


class PosFrame(int):
    """A frame number that knows the message's position in the input."""

    pos: int


def positioned(messages: list[Message]) -> list[Message]:
    for i, m in enumerate(messages):
        f = PosFrame(int(m.frame))
        f.pos = i
        m.frame = f
    return messages


@cache
def capture(name: str) -> list[Message]:
    """A bundled capture, or ``sim:SCENARIO:CALLS``: the simulator's traffic of a bundled scenario (long
    enough that most calls start and end within a part)."""
    if name.startswith("sim:"):
        import tempfile

        from sigdiag.simulate import simulate

        _, scenario, calls = name.split(":")
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "sim.pcap"
            simulate(str(out), str(ROOT / "captures" / scenario), calls=int(calls), seed=3, fmt="pcap")
            return positioned(list(read_messages(str(out))))
    return positioned(list(read_messages(str(ROOT / "captures" / name))))


def make() -> P.Tagged:
    return P.Tagged(SETTINGS, load_outcomes(), pos=lambda f: f.pos)


def split(messages: list[Message], sizes: list[int]) -> list[list[Message]]:
    """The messages as files of these sizes (the last takes the rest)."""
    files, i = [], 0
    for n in sizes:
        if i < len(messages):
            files.append(messages[i : i + n])
            i += n
    if i < len(messages):
        files.append(messages[i:])
    return files


def view(calls: list[tuple[Any, Any]], records: list[tuple[Any, Any]]) -> tuple[list[str], list[str]]:
    def rec(r: Any) -> dict[str, Any]:
        if hasattr(r, "as_dict"):
            return dict(r.as_dict())
        return {k: getattr(r, k) for k in ("frame", "ts", "type", "opc", "dpc", "cics", "calls")}

    def call(c: Any) -> dict[str, Any]:  # the record and what it is made of
        return c.as_dict() | {
            "timeline": [(int(f), ts, typ, d) for f, ts, typ, d, _ in c.timeline],
            "duplicate_frames": [int(f) for f in c.duplicate_frames],
        }

    return (
        [json.dumps(call(c), default=str, sort_keys=True) for _, c in calls],
        [json.dumps(rec(r), default=str, sort_keys=True) for _, r in records],
    )


def one_correlator(files: list[list[Message]]) -> tuple[list[str], list[str]]:
    c = make()
    calls, records = P.sequential(c, files)
    more_calls, more_records = c.end()
    return view(calls + more_calls, records + more_records)


def in_parts(files: list[list[Message]], cuts: list[int]) -> tuple[tuple[list[str], list[str]], list[str]]:
    calls, records, fallbacks = P.run_parts(files, cuts, make, HORIZON)
    return view(calls, records), fallbacks


def assert_same(expected: tuple[list[str], list[str]], got: tuple[list[str], list[str]]) -> None:
    for what, a, b in (("calls", expected[0], got[0]), ("records", expected[1], got[1])):
        assert len(a) == len(b), f"{what}: {len(a)} from one correlator, {len(b)} from the parts"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert x == y, f"{what} #{i} differs:\n one correlator: {x}\n parts:          {y}"


@pytest.mark.parametrize("name", CAPTURES + LONG)
@pytest.mark.parametrize("files", [3, 10, 40])
def test_every_file_a_part(name: str, files: int) -> None:
    msgs = capture(name)
    fs = split(msgs, [len(msgs) // files + 1] * files)
    expected = one_correlator(fs)
    got, fallbacks = in_parts(fs, list(range(1, len(fs))))
    assert_same(expected, got)
    if name in ("healthy.pcap", "realism.pcap", "reference-fault.pcap"):
        assert fallbacks == []  # the merge itself was used for every part


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(CAPTURES + LONG),
    sizes=st.lists(st.integers(1, 400), min_size=1, max_size=12),
    cut_every=st.integers(1, 3),
)
def test_random_cuts(name: str, sizes: list[int], cut_every: int) -> None:
    """Files of random sizes (a file start restarts the correlator's loop), every ``cut_every``-th file
    starting a part."""
    fs = split(capture(name), sizes)
    cuts = list(range(cut_every, len(fs), cut_every))
    got, _ = in_parts(fs, cuts)
    assert_same(one_correlator(fs), got)


def test_the_parts_do_the_work() -> None:
    """On traffic longer than its calls, most calls come from the parts, not from the merge (the tests
    above are not only fallbacks or merges)."""
    msgs = capture(LONG[0])
    fs = split(msgs, [len(msgs) // 3 + 1] * 3)
    state = make()
    P.sequential(state, fs[:1])
    own = merged = 0
    for f in fs[1:]:
        part = P.run_part([f], make(), HORIZON)
        calls, _ = P.merge(state, part)
        own += len(part.calls)
        merged += len(calls) - len(part.calls)
    assert own > 2 * merged > 0


# -- boundaries written by hand ------------------------------------------------------------------------------
def _run(flow: Flow, cut_at: int) -> tuple[tuple[list[str], list[str]], list[str]]:
    msgs = positioned(flow.messages)
    fs = [msgs[:cut_at], msgs[cut_at:]]
    got, fallbacks = in_parts(fs, [1])
    assert_same(one_correlator(fs), got)
    return got, fallbacks


def test_a_call_across_the_cut() -> None:
    """IAM and ACM in the first part, ANM, REL and RLC in the next: one call with its five messages."""
    f = Flow(step=0.5)
    for m in ("IAM", "ACM"):
        f.msg(m, fwd=m == "IAM")
    f.msg("ANM", fwd=False)
    f.msg("REL")
    f.msg("RLC", fwd=False)
    f.msg("IAM", cic=9)
    f.msg("ACM", cic=9, fwd=False)
    (calls, records), fallbacks = _run(f, 2)
    first = json.loads(calls[0])
    assert fallbacks == [] and records == []
    assert [t[2] for t in first["timeline"]] == ["IAM", "ACM", "ANM", "REL", "RLC"]


def test_cic_reuse_across_the_cut() -> None:
    """A call released at the end of one part; the next part seizes the circuit again 0.5 s after the RLC
    (while the released call still waits for late messages): the new IAM writes the old call out."""
    f = Flow(step=0.2)
    f.msg("IAM")
    f.msg("ACM", fwd=False)
    f.msg("REL")
    f.msg("RLC", fwd=False)
    f.msg("IAM", cic=7, dt=0.3)  # the next part starts here
    f.msg("IAM", dt=0.5)  # CIC 5 again
    f.msg("ACM", fwd=False)
    (calls, _), fallbacks = _run(f, 4)
    assert fallbacks == []
    assert len(calls) == 3


def test_a_copy_straddling_the_cut() -> None:
    """The same ACM seen on a second link 3 ms later, the copy in the next part: counted once, listed on
    its call."""
    f = Flow(step=0.2)
    f.msg("IAM")
    acm = f.msg("ACM", fwd=False)
    f.copy(acm, dt=0.003)
    f.msg("ANM", fwd=False)
    f.msg("REL")
    f.msg("RLC", fwd=False)
    (calls, records), _ = _run(f, 2)
    assert len(calls) == 1 and records == []
    assert len(json.loads(calls[0])["duplicate_frames"]) == 1


def test_a_blocked_circuit_across_the_cut() -> None:
    """BLO in one part, an IAM on that circuit in the next: flagged as in one correlator (the merge cannot
    prove the part's call equal: the part is read again)."""
    f = Flow(step=0.3)
    f.msg("BLO", fwd=False)
    f.msg("BLA")
    f.msg("IAM", cic=8, dt=0.5)
    f.msg("IAM", dt=0.5)
    f.msg("REL", fwd=False, cause=34)
    f.msg("RLC")
    (calls, _), fallbacks = _run(f, 2)
    assert any("iam_on_blocked_circuit" in json.dumps(json.loads(c)["flags"]) for c in calls)
    assert fallbacks and "not idle" in fallbacks[0]


@pytest.mark.parametrize("late_rlc", [False, True])
def test_a_reset_waiting_for_its_rlc_across_the_cut(late_rlc: bool) -> None:
    """An RSC on an idle circuit at the end of one part; the next part seizes the circuit.  The reset still
    waits for its RLC: an RLC on the idle circuit within the acknowledgement window answers it (one
    correlator swallows it; the part alone would call it an orphan, so the part is read again); without
    such an RLC the part's call stands."""
    f = Flow(step=0.2)
    f.msg("IAM", cic=9)
    f.msg("RSC", cic=5)  # no answer yet
    f.msg("ACM", cic=9, fwd=False, dt=0.3)  # the next part starts here
    f.msg("IAM", dt=0.3)
    f.msg("ACM", fwd=False)
    f.msg("REL")
    f.msg("RLC", fwd=False)
    if late_rlc:
        f.msg("RLC", fwd=False, dt=2.0)  # the reset's answer, late, on the idle circuit
    (calls, records), fallbacks = _run(f, 2)
    assert len(calls) == 2 and [json.loads(r)["type"] for r in records] == ["RSC"]  # no orphan either way
    if late_rlc:
        assert fallbacks and "reset" in fallbacks[0]
    else:
        assert fallbacks == []


# -- cuts inside a file --------------------------------------------------------------------------------------
TICK = timer_tick(make())


def chunks(file: list[Message], targets: list[int]) -> list[P.Cut]:
    """One file cut at these frame targets (each side of a cut finds it in the whole file)."""
    bounds = [0, *targets, 0]
    return [P.Cut(file, TICK, a, b) for a, b in pairwise(bounds)]


def targets_at(file: list[Message], n: int) -> list[int]:
    """n - 1 frame targets spread over the file (the frames of messages at equal shares)."""
    return [int(file[len(file) * i // n].frame) for i in range(1, n)]


def test_a_cut_is_where_the_timers_run() -> None:
    """Each side of a cut finds the same message: the segments of a file hold its messages once each, in
    order; the timers of one correlator reading the file run at every cut message."""
    msgs = capture("sim:realism.yaml:3000")
    segs = chunks(msgs, targets_at(msgs, 7))
    got = [m for s in segs for m in s]
    assert [m.frame.pos for m in got] == [m.frame.pos for m in msgs]
    firsts = [s.first_frame for s in segs[1:]]
    assert [s.stop_frame for s in segs[:-1]] == firsts and all(f is not None for f in firsts)
    c = make()
    P.sequential(c, [msgs])
    ran = {p for p, _ in c.ran}
    for s in segs[1:]:
        first = next(iter(s))
        assert first.frame.pos in ran
        assert s.continues and not segs[0].continues


@pytest.mark.parametrize("name", CAPTURES + LONG)
@pytest.mark.parametrize("n", [2, 5])
def test_one_file_in_parts(name: str, n: int) -> None:
    """One file cut inside into n parts, each read from an empty correlator and merged: what one correlator
    gives reading the file (no fallback on healthy traffic: the merge itself was used)."""
    msgs = capture(name)
    segs = chunks(msgs, targets_at(msgs, n))
    expected = one_correlator([msgs])
    got, fallbacks = in_parts(segs, list(range(1, len(segs))))
    assert_same(expected, got)
    if name in ("healthy.pcap", "realism.pcap", LONG[0]):
        assert fallbacks == []


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(CAPTURES + LONG),
    sizes=st.lists(st.integers(50, 900), min_size=1, max_size=6),
    shares=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=4),
)
def test_random_cuts_inside_files(name: str, sizes: list[int], shares: list[float]) -> None:
    """Files of random sizes, some cut inside at random frames (a cut may find no message: an empty
    segment), every segment a part: the same as one correlator reading the files."""
    fs = split(capture(name), sizes)
    segments: list[Any] = []
    for i, f in enumerate(fs):
        share = shares[i % len(shares)]
        if 0 < share < 1 and len(f) > 1:
            segments += chunks(f, [int(f[min(len(f) - 1, int(len(f) * share))].frame)])
        else:
            segments.append(f)
    got, _ = in_parts(segments, list(range(1, len(segments))))
    assert_same(one_correlator(fs), got)


def test_a_cut_past_the_end_is_empty() -> None:
    """A target after the file's last frame: the first segment runs to the end, the second is empty."""
    msgs = capture("healthy.pcap")
    end = int(msgs[-1].frame) + 10
    a, b = chunks(msgs, [end])
    assert len(list(a)) == len(msgs) and a.last and a.stop_frame is None
    assert list(b) == [] and b.first_frame is None
    got, _ = in_parts([a, b], [1])
    assert_same(one_correlator([msgs]), got)


def test_a_part_hands_out_as_it_goes() -> None:
    """``take`` gets the part's own calls and records as they come, in order, a few hundred at a time:
    together what the part hands out without it, and what ``take`` returns is what the result keeps."""
    msgs = capture(LONG[1])
    fs = split(msgs, [len(msgs) // 2 + 1] * 2)
    whole = P.run_part(fs[1:], make(), HORIZON)
    seen: list[tuple[int, int]] = []

    def take(calls: list[Any], records: list[Any]) -> tuple[list[Any], list[Any]]:
        seen.append((len(calls), len(records)))
        return [(t, i) for i, (t, _) in enumerate(calls)], records

    got = P.run_part(fs[1:], make(), HORIZON, take)
    assert len(seen) > 3  # (not only at the end)
    assert [t for t, _ in got.calls] == [t for t, _ in whole.calls]
    assert all(isinstance(x, int) for _, x in got.calls)
    assert view([], got.records) == view([], whole.records)
    assert (got.orphans, got.events) == (whole.orphans, whole.events) and got.orphans > 0
