"""One message seen on two links (issue 13, point 6): the ``link`` of messages, calls and findings, and
copies on a second link counted once.

The flows are built with the codec's encoder (:class:`tests.unit.test_calls_builder.Flow`); each message
gets the link it is seen on.  The capture tests rebuild bundled captures and hand-built flows as if a
second link (another SCTP association; a second MTP2 interface) saw every message again 3 to 5 ms later
(:mod:`tests.unit._links`) and compare calls and findings with the one-link capture.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sigdiag.calls import CALL_KEYS, CallSettings, Correlator, iter_calls
from sigdiag.cli import app
from sigdiag.model import MESSAGE_KEYS, Message
from sigdiag.rules.check import check
from sigdiag.rules.engine import FINDING_KEYS
from tests.unit._links import (
    Record,
    delayed,
    flow_records,
    merge_by_time,
    read_records,
    second_association,
    two_links,
    write_records,
)
from tests.unit.test_calls_builder import A, B, Flow

ROOT = Path(__file__).resolve().parents[2]
CAPTURES = ROOT / "captures"
L1 = "m3ua:10.0.0.1:2905-10.0.0.2:2905"
L2 = "m3ua:10.0.0.65:2905-10.0.0.66:2905"


def on(link: str, *messages: Message) -> None:
    for m in messages:
        m.link = link


def copy(f: Flow, m: Message, dt: float = 0.004, link: str = L2) -> Message:
    """``m`` seen again on ``link``, ``dt`` later (appended to the flow)."""
    c = f.copy(m, dt)
    c.link = link
    return c


def run(messages: list[Message], **settings: Any) -> tuple[Correlator, list[Any]]:
    c = Correlator(CallSettings(**settings))
    calls = list(c.run(messages))
    return c, calls


def basic_call(f: Flow, cic: int = 5) -> list[Message]:
    ms = [
        f.msg("IAM", cic=cic),
        f.msg("ACM", cic=cic, fwd=False, dt=0.001),
        f.msg("ANM", cic=cic, fwd=False, dt=2.0),
        f.msg("REL", cic=cic, cause=16, dt=30.0),
        f.msg("RLC", cic=cic, fwd=False, dt=0.002),
    ]
    on(L1, *ms)
    return ms


def summary(calls: list[Any]) -> list[tuple[Any, ...]]:
    return sorted((c.opc, c.dpc, c.cic, c.outcome, c.outcome_detail, c.end_reason) for c in calls)


# -- the column ------------------------------------------------------------------------------------------
def test_link_is_a_key_of_messages_calls_and_findings() -> None:
    assert "link" in MESSAGE_KEYS
    assert {"link", "links"} <= set(CALL_KEYS)
    assert {"link", "links"} <= set(FINDING_KEYS)
    f = Flow()
    ms = basic_call(f)
    assert ms[0].as_dict()["link"] == L1
    _, (call,) = run(f.messages)
    d = call.as_dict()
    assert list(d) == list(CALL_KEYS)
    assert d["link"] == L1 and d["links"] == [L1] and d["duplicates"] == 0


def test_a_call_seen_on_two_links_without_copies_names_both() -> None:
    """Load sharing: the forward messages on one link, the backward ones on another; one call."""
    f = Flow()
    ms = basic_call(f)
    on(L2, ms[1], ms[2], ms[4])
    c, (call,) = run(f.messages)
    assert call.links == [L1, L2] and call.link == L1 and c.duplicates == 0
    assert call.outcome == "answered" and call.frames == [m.frame for m in ms]


# -- copies on a second link -----------------------------------------------------------------------------
def test_every_message_copied_on_a_second_link_counts_once() -> None:
    f = Flow()
    ms = basic_call(f)
    one = summary(run(list(f.messages))[1])
    copies = [copy(f, m) for m in ms]
    messages = sorted(f.messages, key=lambda m: m.ts)
    c, calls = run(messages)
    assert summary(calls) == one and c.orphan_count == 0
    (call,) = calls
    assert call.links == [L1, L2]
    assert call.duplicate_frames == [m.frame for m in copies] and c.duplicates == len(copies)
    assert call.frames == [m.frame for m in ms]  # the timeline keeps the first sight of each message


def test_the_copy_seen_first_is_the_one_kept_whatever_the_order() -> None:
    """The second link is the earlier one: its copies come 4 ms before the originals."""
    f = Flow()
    ms = basic_call(f)
    copies = [copy(f, m, dt=-0.004) for m in ms]
    messages = sorted(f.messages, key=lambda m: m.ts)
    c, (call,) = run(messages)
    assert call.links == [L2, L1] and call.link == L2
    assert call.frames == [m.frame for m in copies] and sorted(call.duplicate_frames) == [m.frame for m in ms]
    assert call.outcome == "answered" and c.orphan_count == 0


def test_the_copy_of_an_iam_after_the_originals_later_messages() -> None:
    """IAM and ACM on link 1, then the IAM's copy on link 2 (after the ACM), then the ACM's copy."""
    f = Flow()
    iam = f.msg("IAM")
    acm = f.msg("ACM", fwd=False, dt=0.002)
    on(L1, iam, acm)
    copy(f, iam, dt=0.003)  # 1 ms after the ACM
    copy(f, acm, dt=0.003)
    c, (call,) = run(f.messages)
    assert call.state != 1 and call.acm_ts == acm.ts  # still past the ACM: the IAM copy did not restart it
    assert "dual_seizure" not in call.flags and c.calls == 1 and c.duplicates == 2


def test_copies_of_a_dual_seizure_make_no_third_call() -> None:
    """Both IAMs of a dual seizure on link 1, their copies on link 2: still one winner and one loser."""
    f = Flow()
    a_iam = f.msg("IAM", called="0219999")
    b_iam = f.msg("IAM", fwd=False, called="0107777", dt=0.001)
    on(L1, a_iam, b_iam)
    a_copy = copy(f, a_iam)
    b_copy = copy(f, b_iam)
    rel = f.msg("REL", cause=16, dt=1.0)
    rlc = f.msg("RLC", fwd=False, dt=0.002)
    on(L1, rel, rlc)
    c, calls = run(f.messages)
    assert len(calls) == 2 and c.calls == 2 and c.orphan_count == 0
    (loser,) = [x for x in calls if x.end_reason == "dual_seizure"]
    (winner,) = [x for x in calls if x is not loser]
    assert loser.opc == B and winner.opc == A  # CIC 5 (odd): the lower point code controls it
    assert loser.duplicate_frames == [b_copy.frame] and loser.links == [L1, L2]
    assert winner.duplicate_frames == [a_copy.frame]


def test_a_copy_after_the_call_was_written_out_is_no_orphan() -> None:
    """With no linger the released call is written out at once: the RLC's copy 4 ms later is still
    counted once and listed on the call (the call is held for the cross-link window)."""
    f = Flow()
    ms = basic_call(f)
    rlc_copy = copy(f, ms[-1])
    f.msg("IAM", cic=9, dt=1.0).link = L1  # time goes on
    c, calls = run(f.messages, linger_ms=0)
    call = next(x for x in calls if x.cic == 5)
    assert c.orphan_count == 0 and c.calls == 2
    assert call.duplicate_frames == [rlc_copy.frame] and call.links == [L1, L2]


def test_a_copy_after_the_next_iam_on_the_circuit() -> None:
    """RLC and the circuit's next IAM on link 1, then their copies on link 2: the RLC's copy is not an
    RLC without REL of the new call, the IAM's copy not a CIC reuse."""
    f = Flow()
    ms = basic_call(f)
    iam2 = f.msg("IAM", called="0107777", dt=0.001)
    iam2.link = L1
    rlc_copy = copy(f, ms[-1], dt=0.003)
    iam2_copy = copy(f, iam2, dt=0.003)
    rel2 = f.msg("REL", fwd=False, cause=17, dt=1.0)
    rlc2 = f.msg("RLC", dt=0.002)
    on(L1, rel2, rlc2)
    c, calls = run(f.messages)
    assert [(x.called, x.end_reason, x.outcome) for x in calls] == [
        ("0453114", "released", "answered"),
        ("0107777", "released", "subscriber"),
    ]
    assert calls[0].duplicate_frames == [rlc_copy.frame] and calls[1].duplicate_frames == [iam2_copy.frame]
    assert c.orphan_count == 0 and not any("rlc_without_rel" in x.flags for x in calls)


def test_copies_of_parked_messages_are_listed_when_the_iam_comes() -> None:
    """An ACM ahead of its IAM in file order (time stamps a little out of order) and the ACM's copy:
    the ACM is replayed onto the call and its copy listed there."""
    f = Flow()
    iam = f.msg("IAM")
    acm = f.msg("ACM", fwd=False, dt=0.002)
    on(L1, iam, acm)
    acm_copy = copy(f, acm, dt=0.001)
    messages = [acm, acm_copy, iam]  # file order
    c, (call,) = run(messages)
    assert c.orphan_count == 0 and call.acm_ts == acm.ts
    assert call.duplicate_frames == [acm_copy.frame] and call.links == [L1, L2]


def test_orphans_seen_on_two_links_are_one_orphan_each() -> None:
    f = Flow()
    rel = f.msg("REL", fwd=False, cause=16)
    rlc = f.msg("RLC", dt=0.002)
    on(L1, rel, rlc)
    copy(f, rel)
    copy(f, rlc)
    c, calls = run(sorted(f.messages, key=lambda m: m.ts))
    assert calls == [] and c.orphan_count == 2 and c.duplicates == 2
    assert [(o.type, o.link, o.links) for o in c.orphans] == [("REL", L1, [L1, L2]), ("RLC", L1, [L1, L2])]


def test_circuit_supervision_copied_acts_once() -> None:
    f = Flow()
    rsc = f.msg("RSC", cic=7)
    rlc = f.msg("RLC", cic=7, fwd=False, dt=0.01)
    on(L1, rsc, rlc)
    copy(f, rsc)
    copy(f, rlc)
    c, _ = run(sorted(f.messages, key=lambda m: m.ts))
    assert c.circuit_event_count == 1 and c.orphan_count == 0 and c.duplicates == 2
    assert c.circuit_events[0].link == L1


def test_the_same_octets_again_on_the_same_link_are_a_new_message() -> None:
    """Two SAMs with the same digit 30 ms apart on link 1 (beyond the same-link window of 20 ms), each
    copied on link 2: both count, their copies do not."""
    f = Flow()
    iam = f.msg("IAM")
    s1 = f.msg("SAM", digits="5", dt=0.5)
    s2 = f.msg("SAM", digits="5", dt=0.03)
    on(L1, iam, s1, s2)
    copy(f, iam)
    copy(f, s1)
    copy(f, s2)
    c, (call,) = run(sorted(f.messages, key=lambda m: m.ts))
    assert call.sam_count == 2 and call.called == "045311455" and c.duplicates == 3


def test_the_cross_link_window_is_a_setting() -> None:
    """Copies 4 ms later are copies within the default 50 ms; with a 2 ms window they are messages of
    their own (the IAM's copy then ends the call as a CIC reuse)."""
    f = Flow()
    ms = basic_call(f)
    for m in ms:
        copy(f, m)
    messages = sorted(f.messages, key=lambda m: m.ts)
    assert CallSettings().cross_link_window_ms == 50.0
    assert run(messages)[0].calls == 1
    assert run(messages, cross_link_window_ms=2)[0].calls == 2
    assert CallSettings().with_assignments(["cross_link_window_ms=10"]).cross_link_window_ms == 10.0


# -- captures with a second link ---------------------------------------------------------------------------
def _calls(path: Path, **kw: Any) -> tuple[int, Counter[tuple[Any, ...]]]:
    calls = list(iter_calls(path, **kw))
    return len(calls), Counter((c.opc, c.dpc, c.cic, c.outcome, c.outcome_detail) for c in calls)


def _findings(path: Path, **kw: Any) -> Counter[tuple[Any, ...]]:
    """Findings without their link fields (and frames, which differ between the captures)."""
    return Counter(
        (f.rule, f.call_id is not None, f.opc, f.dpc, f.cic, f.count) for f in check(path, workers=1, **kw)
    )


def _config(capture: Path) -> dict[str, Any]:
    cfg = capture.with_name(capture.name.split(".")[0] + ".config.yaml")
    return {"config": str(cfg)} if cfg.is_file() else {}


@pytest.mark.parametrize(
    ("name", "low", "high"),
    [
        ("all-faults.pcap", 3.0, 5.0),
        ("all-faults.pcap", -5.0, -3.0),  # the second link sees every message first
        ("realism.pcap", 3.0, 5.0),  # already two hops for one trunk: now four
        ("carriers.pcapng", 3.0, 5.0),  # M3UA, M2PA, M2UA, BICC on SCTP, SIP-I and an MTP2 interface
    ],
)
def test_bundled_capture_on_two_links_gives_the_same_calls_and_findings(
    tmp_path: Path, name: str, low: float, high: float
) -> None:
    src = CAPTURES / name
    two = two_links(src, tmp_path / ("two" + src.suffix), seed=1, low_ms=low, high_ms=high)
    kw = _config(src)
    assert _calls(two, **kw) == _calls(src, **kw)
    assert _findings(two, **kw) == _findings(src, **kw)
    links = {link for c in iter_calls(src, **kw) for link in c.links}
    assert len({link for c in iter_calls(two, **kw) for link in c.links}) == 2 * len(links)


def _dense_flow(seed: int, carrier_calls: int = 60) -> Flow:
    """Busy circuits: calls on 2 CICs back to back (the next IAM often 1 ms after the RLC), dual
    seizures, busy and answered calls, orphans (a REL/RLC pair without IAM, CIC 9), resets (CIC 8)."""
    rnd = random.Random(seed)
    f = Flow(step=0.001)
    for _ in range(carrier_calls):
        kind = rnd.choice(["answered", "busy", "dual", "orphan", "reset"])
        cic = {"orphan": 9, "reset": 8}.get(kind) or rnd.choice((1, 2))
        if kind == "dual":
            f.msg("IAM", cic=cic, called="0219999", dt=0.001)
            f.msg("IAM", cic=cic, fwd=False, called="0107777", dt=0.001)
            f.msg("ACM", cic=cic, fwd=cic % 2 == 0, dt=0.2)
            f.msg("REL", cic=cic, fwd=cic % 2 == 1, cause=16, dt=0.5)
            f.msg("RLC", cic=cic, fwd=cic % 2 == 0, dt=0.002)
        elif kind == "orphan":  # (not the same octets again within the windows: a message of its own)
            f.msg("REL", cic=cic, fwd=False, cause=16, dt=0.06)
            f.msg("RLC", cic=cic, dt=0.002)
        elif kind == "reset":
            f.msg("RSC", cic=cic, dt=0.06)
            f.msg("RLC", cic=cic, fwd=False, dt=0.002)
        else:
            f.msg("IAM", cic=cic, called="0453114", dt=0.001)
            f.msg("SAM", cic=cic, digits="2", dt=0.01)
            f.msg("ACM", cic=cic, fwd=False, dt=0.1)
            if kind == "answered":
                f.msg("ANM", cic=cic, fwd=False, dt=0.5)
                f.msg("REL", cic=cic, cause=16, dt=rnd.uniform(1, 3))
            else:
                f.msg("REL", cic=cic, fwd=False, cause=17, dt=0.05)
            f.msg("RLC", cic=cic, fwd=kind != "answered", dt=0.002)
    return f


@pytest.mark.parametrize("carrier", ["m3ua", "mtp2"])
@pytest.mark.parametrize("seed", [1, 2])
def test_busy_hand_built_flow_on_two_links(tmp_path: Path, carrier: str, seed: int) -> None:
    """A hand-built flow with busy circuits written as M3UA (a second association) or MTP2 (a second
    interface of a pcapng), copies 3-5 ms later: same calls, same findings; the calls name both links."""
    records = flow_records(_dense_flow(seed).raw, carrier)
    one = write_records(tmp_path / "one.pcapng", [r._replace(interface=0) for r in records])
    if carrier == "mtp2":
        copies = [Record(r.ts, r.linktype, 1, r.data) for r in records]
    else:
        copies = [Record(r.ts, r.linktype, 0, second_association(r.data)) for r in records]
    second = delayed(copies, random.Random(seed))
    both = write_records(tmp_path / "two.pcapng", merge_by_time(records, second))
    n_one, calls_one = _calls(one)
    n_two, calls_two = _calls(both)
    assert (n_two, calls_two) == (n_one, calls_one) and n_one > 30
    assert _findings(both) == _findings(one)
    assert {r.rule for r in check(one, workers=1)} >= {"dual-seizure", "orphan-message"}
    expected = {"mtp2:if0", "mtp2:if1"} if carrier == "mtp2" else {L1, L2}
    assert {link for c in iter_calls(both) for link in c.links} == expected
    dup = sum(c.duplicates for c in iter_calls(both))
    assert dup > 0


def test_findings_name_the_links_of_their_calls(tmp_path: Path) -> None:
    src = CAPTURES / "all-faults.pcap"
    two = two_links(src, tmp_path / "two.pcap", seed=3)
    findings = list(check(two, workers=1))
    assert findings
    for f in findings:
        d = f.as_dict()
        assert list(d) == list(FINDING_KEYS)
        if f.call_id is not None and f.scope == "call" and f.count is None:
            assert f.links is not None and len(f.links) == 2 and f.link == f.links[0], f
        elif f.calls:  # windowed: the links of their calls
            assert f.links and len(f.links) == 2 and f.link is None, f
        elif f.rule == "orphan-message":  # orphans: every link the message was seen on
            assert len(f.links or []) == 2, f
        else:  # circuit supervision: the link it was first seen on
            assert f.links and (f.link is None or f.link == f.links[0]), f


# -- output formats ----------------------------------------------------------------------------------------
def test_decode_outputs_have_the_link(tmp_path: Path) -> None:
    src = CAPTURES / "carriers.pcapng"
    two = two_links(src, tmp_path / "two.pcapng", seed=1)
    runner = CliRunner()
    out = runner.invoke(app, ["decode", str(two), "--format", "jsonl", "--type", "IAM"])
    assert out.exit_code == 0, out.output
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    links = Counter(r["link"] for r in rows)
    assert "mtp2:if1" in links and "mtp2:if2" in links and links["mtp2:if1"] == links["mtp2:if2"]
    assert all(list(r) == list(MESSAGE_KEYS) for r in rows)
    csv = runner.invoke(app, ["decode", str(two), "--format", "csv", "--type", "IAM"])
    header, first = csv.stdout.splitlines()[:2]
    assert header.split(",") == list(MESSAGE_KEYS) and rows[0]["link"] in first
    table = runner.invoke(app, ["decode", str(two), "--type", "IAM"])
    assert table.stdout.splitlines()[0].split()[-1] == "link" and "mtp2:if2" in table.stdout
    pq = tmp_path / "m.parquet"
    assert runner.invoke(app, ["decode", str(two), "--format", "parquet", "-o", str(pq)]).exit_code == 0
    import pyarrow.parquet as pqt

    assert "link" in pqt.read_table(pq).column_names


def test_calls_outputs_have_the_links(tmp_path: Path) -> None:
    src = CAPTURES / "healthy.pcap"
    two = two_links(src, tmp_path / "two.pcap", seed=1)
    runner = CliRunner()
    out = runner.invoke(app, ["calls", str(two), "--format", "jsonl"])
    assert out.exit_code == 0, out.output
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(rows) == 300 and all(len(r["links"]) == 2 and r["link"] == r["links"][0] for r in rows)
    table = runner.invoke(app, ["calls", str(two)])
    assert " + " in table.stdout.splitlines()[1]  # the table's link column names both


def test_records_round_trip(tmp_path: Path) -> None:
    """The capture rebuilding helpers keep every record (times to the microsecond, data, link type)."""
    src = CAPTURES / "carriers.pcapng"
    records = read_records(src)
    back = read_records(write_records(tmp_path / "x.pcapng", records))
    assert [(round(r.ts, 6), r.linktype, r.interface, r.data) for r in back] == [
        (round(r.ts, 6), r.linktype, r.interface, r.data) for r in records
    ]
    two = read_records(two_links(src, tmp_path / "two.pcapng", seed=1))
    assert len(two) == 2 * len(records) and all(a.ts <= b.ts for a, b in pairwise(two))


def test_a_new_call_on_the_circuit_within_the_window_is_not_a_copy() -> None:
    """A CIC reused at once (calls a few ms long, as in the benchmark's generator): the new call's ANM
    and RLC have the octets of the old call's, within ``duplicate_window_ms`` on the same link, but they
    are the new call's messages, not copies (a copy belongs to the call of its first sighting)."""
    f = Flow(step=0.001)
    first = [
        f.msg("IAM", called="0453114001"),
        f.msg("ACM", fwd=False),
        f.msg("ANM", fwd=False),
        f.msg("REL", cause=16),
        f.msg("RLC", fwd=False),
    ]
    second = [
        f.msg("IAM", called="0453114002"),
        f.msg("ACM", fwd=False),
        f.msg("ANM", fwd=False),
        f.msg("REL", cause=16),
        f.msg("RLC", fwd=False),
    ]
    on(L1, *first, *second)
    assert second[2].raw == first[2].raw and second[2].ts - first[2].ts < 0.02
    c, calls = run(list(f.messages))
    assert c.duplicates == 0 and [call.outcome for call in calls] == ["answered", "answered"]
    # and seen on a second link too, each copy is still counted once, on its own call
    copies = [copy(f, m) for m in first + second]
    c, calls = run(sorted(f.messages, key=lambda m: m.ts))
    assert [call.outcome for call in calls] == ["answered", "answered"] and c.duplicates == len(copies)
    assert [len(call.duplicate_frames) for call in calls] == [5, 5]
