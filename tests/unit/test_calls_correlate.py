"""Correlation scenarios: the situations real captures show (issue 4, "Handles")."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from sigdiag.calls import CALL_KEYS, CallSettings, Correlator, iter_calls
from sigdiag.calls.keys import call_key
from tests.unit.test_calls_builder import A, B, Flow, by_iam, correlate

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "captures"


def test_complete_call_fields() -> None:
    f = Flow()
    iam = f.msg("IAM", called="0453114", calling="01058722000", calling_nai=3)
    f.msg("SAM", digits="2345", st=True, dt=0.5)
    acm = f.msg("ACM", fwd=False, status=0, dt=1.25)  # no indication: alerting comes in the CPG
    cpg = f.msg("CPG", fwd=False, event=1, dt=0.25)
    anm = f.msg("ANM", fwd=False, dt=4.0)
    rel = f.msg("REL", fwd=True, cause=16, location=1, dt=30.0)
    rlc = f.msg("RLC", fwd=False, dt=0.01)
    _, calls = correlate(f.messages)
    (c,) = calls
    d = c.as_dict()
    assert list(d) == list(CALL_KEYS)
    assert d["call_id"] == 1 and d["protocol"] == "isup" and (d["opc"], d["dpc"], d["cic"]) == (A, B, 5)
    assert d["iam_frame"] == iam.frame and d["start"] == iam.ts and d["end"] == rlc.ts
    assert d["called"] == "04531142345" and d["called_complete"] is True and d["sam_count"] == 1
    assert d["calling"] == "01058722000" and d["calling_nai"] == 3
    assert (d["acm_ts"], d["alert_ts"], d["anm_ts"], d["rel_ts"], d["rlc_ts"]) == (
        acm.ts,
        cpg.ts,
        anm.ts,
        rel.ts,
        rlc.ts,
    )
    assert d["released_by"] == "calling" and d["cause"] == 16 and d["cause_location"] == 1
    assert d["phase"] == "answered" and d["end_reason"] == "released"
    assert d["outcome"] == "answered" and d["outcome_detail"] == "answered" and d["outcome_by"] == "outcomes"
    assert d["pdd_ms"] == pytest.approx(1250.0)  # from the SAM (latest address message) to the ACM
    assert d["answer_delay_ms"] == pytest.approx(4250.0)
    assert d["conversation_s"] == pytest.approx(30.0)
    assert d["flags"] == [] and d["duplicates"] == 0 and d["frames"] == [m.frame for m in f.messages]


def _busy_flow() -> Flow:
    """Calls on three circuits, out-of-order messages, copies, a reset and an orphan."""
    f = Flow()
    for cic in (1, 2, 3):
        f.msg("IAM", cic=cic, called=f"045311{cic}")
        f.msg("ACM", cic=cic, fwd=False, dt=0.5)
    f.msg("ANM", cic=1, fwd=False, dt=1.0)
    f.copy(f.messages[-1])
    f.msg("REL", cic=2, fwd=False, cause=17, dt=0.3)
    f.msg("RLC", cic=2, dt=0.01)
    f.msg("RSC", cic=3, dt=2.0)
    f.msg("RLC", cic=3, fwd=False, dt=0.01)
    f.msg("ANM", cic=7, fwd=False, dt=0.5)  # no IAM: an orphan
    f.msg("REL", cic=1, cause=16, dt=20.0)
    f.msg("IAM", cic=2, called="0453119", dt=0.001)  # the circuit seized again
    f.msg("RLC", cic=1, fwd=False, dt=0.01)
    f.msg("ACM", cic=2, fwd=False, dt=0.2)
    return f


@pytest.mark.parametrize("cut", [1, 4, 8, 11, 14, 17])
def test_a_snapshot_restored_in_a_new_correlator_changes_nothing(cut: int) -> None:
    import pickle

    messages = _busy_flow().messages
    c, whole = correlate(messages)
    first = Correlator(CallSettings())
    got = []
    for m in messages[:cut]:
        first.feed(m)
    got += first.take()
    saved = pickle.dumps(first.snapshot())
    second = Correlator(CallSettings())
    second.restore(pickle.loads(saved))
    assert second.messages == cut
    for m in messages[cut:]:
        second.feed(m)
    second.close()
    got += second.take()
    assert [x.as_dict() for x in got] == [x.as_dict() for x in whole]
    assert second.messages == c.messages == len(messages)
    for counter in ("duplicates", "orphan_count", "circuit_event_count", "evictions", "calls"):
        assert getattr(second, counter) == getattr(c, counter), counter


def test_cic_reuse_closes_the_previous_call() -> None:
    f = Flow()
    f.msg("IAM")
    f.msg("ACM", fwd=False)
    second = f.msg("IAM", called="0219999")  # no release seen: a capture gap
    f.msg("REL", fwd=False, cause=17)
    f.msg("RLC")
    third = f.msg("IAM", fwd=False, dt=5.0)  # the same circuit, now seized from the other side
    f.msg("REL", fwd=True, cause=34)
    f.msg("RLC", fwd=False)
    _, calls = correlate(f.messages)
    got = by_iam(calls)
    assert len(calls) == 3
    assert got[1].end_reason == "superseded" and got[1].outcome == "unknown"
    assert got[second.frame].outcome == "subscriber" and got[second.frame].called == "0219999"
    c3 = got[third.frame]
    assert (c3.opc, c3.dpc) == (B, A) and c3.released_by == "called" and c3.outcome == "network"


def test_mid_call_start_reports_orphans_and_invents_no_call() -> None:
    f = Flow()
    acm = f.msg("ACM", fwd=False)
    anm = f.msg("ANM", fwd=False)
    rel = f.msg("REL", fwd=True)
    rlc = f.msg("RLC", fwd=False)
    iam = f.msg("IAM", dt=2.0)
    c, calls = correlate(f.messages)
    assert [x.iam_frame for x in calls] == [iam.frame]
    assert c.orphan_count == 4 and [o.frame for o in c.orphans] == [
        acm.frame,
        anm.frame,
        rel.frame,
        rlc.frame,
    ]
    assert c.orphans[0].as_dict()["type"] == "ACM" and calls[0].frames == [iam.frame]


def test_open_calls_at_the_end_are_unknown_not_failures() -> None:
    f = Flow()
    a = f.msg("IAM", cic=1)
    b = f.msg("IAM", cic=2)
    f.msg("ACM", cic=2, fwd=False)
    f.msg("ANM", cic=2, fwd=False)
    c_ = f.msg("IAM", cic=3)
    f.msg("ACM", cic=3, fwd=False)
    f.msg("REL", cic=3, fwd=False, cause=19)
    _, calls = correlate(f.messages)
    got = by_iam(calls)
    assert got[a.frame].outcome == "unknown" and got[a.frame].end_reason == "open"
    assert got[a.frame].end_ts is None and got[a.frame].as_dict()["end"] is None
    assert got[b.frame].outcome == "answered" and got[b.frame].end_reason == "open"
    assert got[b.frame].conversation_s is None
    # REL seen, RLC not: released (outcome from the cause), not open
    assert got[c_.frame].outcome == "subscriber" and got[c_.frame].end_reason == "release_unacknowledged"


def test_duplicates_on_two_hops_give_one_call() -> None:
    f = Flow()
    iam = f.msg("IAM")
    f.copy(iam)
    acm = f.msg("ACM", fwd=False)
    anm = f.msg("ANM", fwd=False, dt=0.0001)
    f.copy(acm, 0.0003)  # interleaved: ACM, ANM, ACM, ANM as in the fs-mod_isup capture
    f.copy(anm, 0.0003)
    rel = f.msg("REL", fwd=True)
    f.copy(rel)
    rlc = f.msg("RLC", fwd=False)
    f.copy(rlc)
    c, calls = correlate(f.messages)
    (call,) = calls
    assert call.duplicates == 5 and c.duplicates == 5 and c.orphan_count == 0
    assert call.frames == [iam.frame, acm.frame, anm.frame, rel.frame, rlc.frame]
    assert call.outcome == "answered" and call.flags == []


def test_identical_messages_far_apart_are_not_duplicates() -> None:
    f = Flow()
    f.msg("IAM")
    f.msg("SAM", digits="5", dt=0.4)
    f.msg("SAM", digits="5", dt=0.4)  # the caller dialled 5 twice: same bytes, 400 ms apart
    _, (call,) = correlate(f.messages)
    assert call.called == "045311455" and call.sam_count == 2 and call.duplicates == 0


@pytest.mark.skipif(not (SHARED / "MANIFEST.tsv").is_file(), reason="../shared/captures is absent")
def test_fs_mod_isup_capture_is_one_call() -> None:
    reader = iter_calls(SHARED / "fs-mod_isup__isup_m3ua_mgcp_call.pcap")
    (call,) = list(reader)
    assert call.iam_frame == 48 and call.duplicates == 5 and reader.correlator.orphan_count == 0
    assert (call.outcome, call.cause, call.released_by, call.cic) == ("answered", 16, "calling", 1)


def test_release_collision() -> None:
    f = Flow()
    f.msg("IAM")
    f.msg("ACM", fwd=False)
    f.msg("ANM", fwd=False)
    rel = f.msg("REL", fwd=True, cause=16, dt=20)
    f.msg("REL", fwd=False, cause=16, dt=0.06)
    f.msg("RLC", fwd=False, dt=0.002)
    f.msg("RLC", fwd=True, dt=0.000001)
    c, (call,) = correlate(f.messages)
    assert "release_collision" in call.flags and call.released_by == "calling" and call.rel_ts == rel.ts
    assert call.end_reason == "released" and len(call.frames) == 7 and c.orphan_count == 0


@pytest.mark.parametrize(("cic", "winner"), [(5, A), (6, B)])
def test_dual_seizure_follows_q764_control(cic: int, winner: int) -> None:
    """The exchange with the higher point code (B) controls the even circuits, A the odd ones."""
    f = Flow()
    first = f.msg("IAM", cic=cic, fwd=True)
    second = f.msg("IAM", cic=cic, fwd=False, dt=0.002)
    f.msg("ACM", cic=cic, fwd=winner == B)
    f.msg("ANM", cic=cic, fwd=winner == B)
    f.msg("REL", cic=cic, fwd=winner == A, cause=16, dt=10)
    f.msg("RLC", cic=cic, fwd=winner != A)
    _, calls = correlate(f.messages)
    got = by_iam(calls)
    win = got[first.frame if winner == A else second.frame]
    lose = got[second.frame if winner == A else first.frame]
    assert win.opc == winner and win.outcome == "answered"
    assert lose.end_reason == "dual_seizure" and lose.outcome == "network"
    assert lose.outcome_detail == "dual-seizure-backed-off"


def test_sam_after_rel_keeps_the_digits() -> None:
    """The reference fault's crossing case: the backward REL is sent before the SAM arrives."""
    f = Flow()
    f.msg("IAM", called="0453114")
    rel = f.msg("REL", fwd=False, cause=38, location=3, dt=0.2)
    f.msg("SAM", digits="2345", st=True, dt=0.002)
    f.msg("RLC", fwd=True, dt=0.003)
    _, (call,) = correlate(f.messages)
    assert call.called == "04531142345" and call.sam_count == 1 and "sam_after_rel" in call.flags
    assert call.rel_ts == rel.ts and call.outcome == "network" and call.released_by == "called"
    assert call.last_addr_ts == call.start  # a SAM after the REL does not restart T7


def test_rlc_without_rel() -> None:
    f = Flow()
    f.msg("IAM")
    f.msg("ACM", fwd=False)
    f.msg("RLC", fwd=False, dt=3)
    _, (call,) = correlate(f.messages)
    assert call.end_reason == "rlc_without_rel" and call.outcome == "network"
    assert call.outcome_detail == "release-without-rel" and call.phase == "alerting"


def test_rlc_before_rel_in_the_file_within_the_reorder_window() -> None:
    f = Flow()
    f.msg("IAM")
    f.msg("ACM", fwd=False)
    rlc = f.msg("RLC", fwd=True, dt=3)
    rel = f.msg("REL", fwd=False, cause=19, ts=rlc.ts - 0.001)  # captured later, sent earlier
    c, (call,) = correlate(f.messages)
    assert call.rel_ts == rel.ts and call.cause == 19 and call.released_by == "called"
    assert call.end_reason == "released" and call.outcome == "subscriber" and "out_of_order" in call.flags
    assert "rlc_without_rel" not in call.flags and c.orphan_count == 0


def test_time_stamps_a_few_ms_out_of_order() -> None:
    """File order is the probe's order; time stamps jittered by a few ms (earlier) change nothing."""
    f = Flow()
    iam = f.msg("IAM")
    acm = f.msg("ACM", fwd=False, ts=iam.ts - 0.002)  # stamped 2 ms before the IAM
    f.msg("ANM", fwd=False, dt=5)
    rel = f.msg("REL", fwd=True, dt=10)
    f.msg("RLC", fwd=False, ts=rel.ts - 0.003)
    c, (call,) = correlate(f.messages)
    assert call.outcome == "answered" and call.acm_ts == acm.ts and call.pdd_ms == 0.0
    assert call.end_reason == "released" and c.orphan_count == 0 and len(call.frames) == 5


def test_backward_message_before_its_iam_in_the_file_is_replayed() -> None:
    f = Flow()
    acm = f.msg("ACM", fwd=False)
    iam = f.msg("IAM", ts=acm.ts - 0.003)  # written after the ACM, stamped before it
    f.msg("ANM", fwd=False, dt=2)
    f.msg("REL", fwd=False, dt=2)
    f.msg("RLC", fwd=True)
    c, (call,) = correlate(f.messages)
    assert call.iam_frame == iam.frame and call.acm_ts == acm.ts and acm.frame in call.frames
    assert call.outcome == "answered" and "out_of_order" in call.flags and c.orphan_count == 0


def test_rsc_ends_the_call_and_its_rlc_is_no_orphan() -> None:
    f = Flow()
    f.msg("IAM")
    rsc = f.msg("RSC", fwd=False, dt=1)
    f.msg("RLC", fwd=True, dt=0.01)
    f.msg("RSC", cic=9, fwd=False, dt=0.5)  # idle circuit
    f.msg("RLC", cic=9, fwd=True, dt=2.0)  # after the linger time: still the answer to the RSC
    c, (call,) = correlate(f.messages)
    assert call.end_reason == "reset" and call.outcome == "network" and call.outcome_detail == "circuit-reset"
    assert call.released_by is None and rsc.frame in call.frames  # no REL: nobody "released"
    assert c.orphan_count == 0 and c.circuit_event_count == 2
    assert c.circuit_events[0].calls == [call.call_id]


def test_grs_range_resets_every_call_of_the_range() -> None:
    f = Flow()
    for cic in (10, 11, 13, 14, 20):
        f.msg("IAM", cic=cic)
    f.msg("ACM", cic=13, fwd=False)
    f.msg("ANM", cic=13, fwd=False)
    grs = f.msg("GRS", cic=10, fwd=False, range=3)  # circuits 10-13
    f.msg("GRA", cic=10, fwd=True, dt=0.01, range=3)
    c, calls = correlate(f.messages)
    got = {x.cic: x for x in calls}
    assert {k for k, x in got.items() if "circuit_reset" in x.flags} == {10, 11, 13}
    assert got[13].outcome == "answered" and got[13].conversation_s == pytest.approx(grs.ts - got[13].anm_ts)
    assert got[10].outcome == "network" and got[14].end_reason == "open" and got[20].end_reason == "open"
    assert c.circuit_events[0].cics == (10, 11, 12, 13)


def test_cgb_maintenance_flags_and_hardware_ends_calls() -> None:
    f = Flow()
    f.msg("IAM", cic=32)
    f.msg("IAM", cic=33)
    f.msg("IAM", cic=34)
    f.msg("CGB", cic=32, fwd=False, range=7, status=0b011, cgsm=0)  # maintenance: circuits 32, 33
    f.msg("REL", cic=32, fwd=True, cause=41)  # Q.764: the calling side releases and re-attempts
    f.msg("RLC", cic=32, fwd=False)
    f.msg("CGB", cic=34, fwd=False, range=0, status=0b1, cgsm=1)  # hardware failure: circuit 34
    c, calls = correlate(f.messages)
    got = {x.cic: x for x in calls}
    assert got[32].blocked and (got[32].outcome, got[32].outcome_detail) == ("network", "blocked-circuit")
    assert got[33].blocked and got[33].end_reason == "open"
    assert got[34].end_reason == "blocked" and got[34].outcome_detail == "circuit-blocked"
    assert c.circuit_events[0].cics == (32, 33)


def test_blocked_call_released_by_the_caller_is_a_network_loss() -> None:
    f = Flow()
    f.msg("IAM")
    f.msg("BLO", fwd=False, dt=0.05)
    f.msg("REL", fwd=True, cause=16, dt=0.01)
    f.msg("RLC", fwd=False)
    _, (call,) = correlate(f.messages)
    assert call.blocked and call.outcome == "network" and call.outcome_detail == "blocked-circuit"


def test_iam_on_a_blocked_circuit_is_flagged() -> None:
    f = Flow()
    f.msg("BLO", fwd=False)
    f.msg("BLA", fwd=True)
    f.msg("IAM", dt=1)
    f.msg("REL", fwd=False, cause=44)
    f.msg("RLC", fwd=True)
    f.msg("UBL", fwd=False)
    f.msg("IAM", dt=1)
    c, calls = correlate(f.messages)
    assert "iam_on_blocked_circuit" in calls[0].flags and calls[0].outcome == "network"
    assert "iam_on_blocked_circuit" not in calls[1].flags
    assert c.orphan_count == 0


def test_ucic_answer_to_an_iam() -> None:
    f = Flow()
    f.msg("IAM")
    f.msg("UCIC", fwd=False, dt=0.01)
    f.msg("UCIC", cic=77, fwd=False, dt=0.01)  # on an idle circuit: a circuit event, not an orphan
    c, (call,) = correlate(f.messages)
    assert call.end_reason == "ucic" and call.outcome_detail == "unequipped-circuit"
    assert c.orphan_count == 0 and c.circuit_event_count == 1


def test_t7_expiry_without_backward_message() -> None:
    f = Flow()
    f.msg("IAM", cic=1)
    f.msg("REL", cic=1, fwd=True, cause=102, dt=20.5)
    f.msg("RLC", cic=1, fwd=False)
    f.msg("IAM", cic=2)
    f.msg("REL", cic=2, fwd=True, cause=16, dt=21)  # no answer from the network for 21 s: not the caller
    f.msg("RLC", cic=2, fwd=False)
    f.msg("IAM", cic=3)
    f.msg("REL", cic=3, fwd=True, cause=16, dt=5)  # the caller gave up after 5 s
    f.msg("RLC", cic=3, fwd=False)
    f.msg("IAM", cic=4, dt=1)  # open at the end, T7 before it: still open, so unknown (not a failure)
    f.msg("IAM", cic=6, dt=25)  # open at the end, just now
    _, calls = correlate(f.messages)
    got = {x.cic: (x.outcome, x.outcome_detail) for x in calls}
    assert got[1] == ("network", "t7-expiry") and got[2] == ("network", "t7-expiry")
    assert got[3] == ("caller", "caller-abandon-before-alerting")
    assert got[4] == got[6] == ("unknown", "open-at-capture-end")
    assert {x.cic: x.t7_expired for x in calls}[4]  # the fact is there for the diagnosis rules
    assert _t7_setting_is_used()


def _t7_setting_is_used() -> bool:
    f = Flow()
    f.msg("IAM")
    f.msg("REL", fwd=True, cause=16, dt=21)
    f.msg("RLC", fwd=False)
    _, (call,) = correlate(f.messages, t7_s=30)
    return call.outcome == "caller"


def test_bicc_calls_are_keyed_by_call_instance_code() -> None:
    f = Flow(protocol="bicc")
    a = f.msg("IAM", cic=100_000)
    b = f.msg("IAM", cic=100_001)
    f.msg("REL", cic=100_000, fwd=False, cause=17)
    f.msg("RLC", cic=100_000, fwd=True)
    f.msg("ANM", cic=100_001, fwd=False)
    c, calls = correlate(f.messages)
    got = by_iam(calls)
    assert got[a.frame].protocol == "bicc" and got[a.frame].outcome == "subscriber"
    assert got[b.frame].cic == 100_001 and got[b.frame].outcome == "answered"
    assert ("bicc", A, B, 100_000) not in c.table


def test_isup_and_bicc_with_the_same_code_are_different_calls() -> None:
    f = Flow()
    f.msg("IAM", cic=7)
    g = Flow(protocol="bicc", t0=f.ts + 0.01)
    g.frame = f.frame
    g.msg("IAM", cic=7)
    _, calls = correlate(f.messages + g.messages)
    assert sorted(x.protocol for x in calls) == ["bicc", "isup"]


@settings(max_examples=60, deadline=None)
@given(
    opc=st.one_of(st.none(), st.integers(0, 3)),
    dpc=st.one_of(st.none(), st.integers(0, 3)),
    cic=st.integers(0, 2),
    sip=st.one_of(st.none(), st.sampled_from(["a@x", "b@x"])),
    link=st.sampled_from(["l1", "l2"]),
    protocol=st.sampled_from(["isup", "bicc"]),
)
def test_the_correlator_keys_a_call_by_call_key(
    opc: int | None, dpc: int | None, cic: int, sip: str | None, link: str, protocol: str
) -> None:
    """The per-message loop writes the call key out inline (speed): it must be :func:`call_key`'s, and a
    message from the other side (point codes swapped) must find the same call."""
    iam = Flow().msg("IAM")
    iam.opc, iam.dpc, iam.cic, iam.sip_call_id, iam.link, iam.protocol = opc, dpc, cic, sip, link, protocol
    c = Correlator(CallSettings())
    c.feed(iam)
    assert list(c.table) == [call_key(iam)] and c.table[call_key(iam)].iam is iam
    back = Flow().msg("ACM", fwd=False, dt=1.0)
    back.opc, back.dpc, back.cic, back.sip_call_id, back.link, back.protocol = (
        dpc,
        opc,
        cic,
        sip,
        link,
        protocol,
    )
    assert call_key(back) == call_key(iam)
    c.feed(back)
    assert c.orphan_count == 0 and [t[2] for t in c.table[call_key(iam)].timeline] == ["IAM", "ACM"]


def test_sip_i_calls_are_keyed_by_call_id() -> None:
    f = Flow()
    f.msg("IAM", sip="a@x", called="5551234")
    f.msg("IAM", sip="b@x", called="5559999")
    f.msg("IAM", sip="a@x", called="5551234", dt=0.5)  # INVITE retransmission
    f.msg("ACM", sip="a@x")
    f.msg("ANM", sip="a@x")
    f.msg("REL", sip="b@x", cause=17)
    f.msg("REL", sip="a@x", cause=16, dt=30)
    f.msg("REL", sip="c@x", cause=17)  # no INVITE seen
    c, calls = correlate(f.messages)
    got = {x.sip_call_id: x for x in calls}
    assert got["a@x"].outcome == "answered" and got["a@x"].duplicates == 1 and got["a@x"].cic is None
    assert got["a@x"].released_by is None  # SIP-I carries no point codes: unknown after answer
    assert got["b@x"].outcome == "subscriber" and got["b@x"].released_by == "called"
    assert c.orphan_count == 1 and c.orphans[0].sip_call_id == "c@x"


def test_sip_i_caller_abandon_is_inferred_from_the_cause() -> None:
    f = Flow()
    f.msg("IAM", sip="a@x")
    f.msg("ACM", sip="a@x")
    f.msg("REL", sip="a@x", cause=16, dt=8)
    _, (call,) = correlate(f.messages)
    assert call.released_by == "calling" and call.outcome == "caller"


def test_open_call_cap_evicts_the_oldest_and_counts() -> None:
    f = Flow()
    for cic in range(1, 11):
        f.msg("IAM", cic=cic)
    c, calls = correlate(f.messages, max_open_calls=4)
    assert c.evictions == 6 and len(calls) == 10
    evicted = [x for x in calls if x.end_reason == "evicted"]
    assert sorted(x.cic for x in evicted) == [1, 2, 3, 4, 5, 6] and all(
        x.outcome == "unknown" for x in evicted
    )


def test_released_calls_do_not_count_as_evictions() -> None:
    f = Flow()
    for cic in range(1, 6):
        f.msg("IAM", cic=cic)
        f.msg("REL", cic=cic, fwd=False, cause=17)
        f.msg("RLC", cic=cic, fwd=True)
    c, calls = correlate(f.messages, max_open_calls=2)
    assert c.evictions == 0 and len(calls) == 5 and all(x.outcome == "subscriber" for x in calls)


def test_memory_is_bounded_by_open_calls() -> None:
    """20 000 short calls one after the other: the open-call table never holds more than a few."""
    rng = random.Random(3)
    c = Correlator(CallSettings(linger_ms=50))
    f = Flow(step=0.01)  # a call takes 50 ms: copies of a message (20 ms window) never span two calls
    peak = finished = 0
    for i in range(20_000):
        cic = rng.randrange(1, 4000)
        for typ, fwd in (("IAM", True), ("ACM", False), ("ANM", False), ("REL", True), ("RLC", False)):
            c.feed(f.msg(typ, cic=cic, fwd=fwd))
        f.messages.clear()
        f.raw.clear()
        finished += len(c.take())
        peak = max(peak, len(c.table))
        if i % 1000 == 0:
            assert len(c._parked) < 100 and len(c._linger_q) < 100
    c.close()
    finished += len(c.take())
    assert finished == 20_000 and peak <= 60


def test_settings_are_validated_and_parsed() -> None:
    from sigdiag.settings import ConfigError

    s = CallSettings().with_assignments(["t7_s=25", "max_open_calls=1000", "keep_messages=no"])
    assert (s.t7_s, s.max_open_calls, s.keep_messages) == (25.0, 1000, False)
    for bad in (["t7_s"], ["nope=1"], ["t7_s=abc"], ["max_open_calls=0"], ["t7_s=-1"]):
        with pytest.raises(ConfigError):
            CallSettings().with_assignments(bad)


def test_call_settings_file(tmp_path: Path) -> None:
    from sigdiag.calls import load_call_settings
    from sigdiag.settings import ConfigError

    p = tmp_path / "s.yaml"
    p.write_text("pc_format: itu\ncalls:\n  t7_s: 30\n  duplicate_window_ms: 5\n")
    s = load_call_settings(p)
    assert (s.t7_s, s.duplicate_window_ms) == (30, 5)
    p.write_text("calls:\n  t8_s: 30\n")
    with pytest.raises(ConfigError, match="t8_s"):
        load_call_settings(p)


def test_keep_messages_setting() -> None:
    f = Flow()
    f.msg("IAM")
    f.msg("REL", fwd=False, cause=17)
    _, (call,) = correlate(f.messages, keep_messages=True)
    assert [m.type for m in call.messages] == ["IAM", "REL"]
    _, (call,) = correlate(f.messages, keep_messages=False)
    assert call.messages is None and [t[2] for t in call.timeline] == ["IAM", "REL"]


# -- property: many interleaved calls ----------------------------------------------------------------------

FLOWS = {
    "answered": [("IAM", True), ("ACM", False), ("ANM", False), ("REL", True), ("RLC", False)],
    "busy": [("IAM", True), ("REL", False), ("RLC", True)],
    "abandon": [("IAM", True), ("ACM", False), ("REL", True), ("RLC", False)],
}
EXPECTED = {"answered": "answered", "busy": "subscriber", "abandon": "caller"}


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.sampled_from(sorted(FLOWS)), min_size=1, max_size=30),
    st.randoms(use_true_random=False),
    st.booleans(),
)
def test_interleaved_calls_are_all_found(kinds: list[str], rnd: random.Random, duplicate: bool) -> None:
    """Calls on distinct circuits, their messages interleaved at random (each call's order kept), some
    messages copied on a second hop: every call is found once with its outcome."""
    f = Flow()
    queues = []
    for i, kind in enumerate(kinds):
        causes = {"answered": 16, "busy": 17, "abandon": 16}
        queues.append([(typ, fwd, i + 1, causes[kind]) for typ, fwd in FLOWS[kind]])
    iam_frames: dict[int, int] = {}
    while queues:
        q = rnd.choice(queues)
        typ, fwd, cic, cause = q.pop(0)
        m = f.msg(typ, cic=cic, fwd=fwd, cause=cause, dt=rnd.uniform(0.0001, 0.5))
        if typ == "IAM":
            iam_frames[cic] = m.frame
        if duplicate and rnd.random() < 0.3:
            f.copy(m, 0.0001)
        if not q:
            queues.remove(q)
    # T7 out of the way: with 30 calls interleaved at up to 0.5 s per message a call's first backward
    # message can come more than 20 s after its IAM, a T7 expiry by the rules (not what this is about)
    c, calls = correlate(f.messages, t7_s=3600)
    assert c.orphan_count == 0
    assert sorted(x.iam_frame for x in calls) == sorted(iam_frames.values())
    for x in calls:
        assert x.outcome == EXPECTED[kinds[x.cic - 1]], (x, x.flags)
        assert x.end_reason == "released"


TYPES = ["IAM", "SAM", "ACM", "CPG", "ANM", "CON", "REL", "RLC", "RSC", "GRS", "BLO", "UBL", "CGB", "UCIC"]
TYPES += ["COT"]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(TYPES),
            st.integers(1, 4),  # CIC
            st.booleans(),  # forward
            st.floats(-0.005, 2.0),  # time step (sometimes backwards)
            st.integers(0, 3),  # variant of the message (digits, cause)
        ),
        max_size=60,
    ),
    st.integers(1, 6),
)
# a GRS over two busy circuits belongs to both calls (found by the search)
@example([("IAM", 1, False, 0.0, 0)] * 3 + [("IAM", 2, False, 0.0, 0), ("GRS", 1, False, 0.0, 1)], 2)
def test_any_message_sequence_gives_consistent_calls(steps: list[tuple], cap: int) -> None:
    """Whatever the order and timing: no exception, one call per IAM that is not a copy, every call
    classified once, the open-call table within its cap, every message accounted for."""
    f = Flow()
    for typ, cic, fwd, dt, v in steps:
        kw: dict = {}
        if typ == "IAM":
            kw = {"called": f"04531{v}"}
        elif typ == "SAM":
            kw = {"digits": str(v)}
        elif typ == "REL":
            kw = {"cause": (16, 17, 34, 1)[v]}
        elif typ in ("GRS", "CGB"):
            kw = {"range": v, "cgsm": v % 2} if typ == "CGB" else {"range": v}
        f.msg(typ, cic=cic, fwd=fwd, dt=max(dt, 0.0) if v else dt, **kw)
    c = Correlator(CallSettings(max_open_calls=cap))
    calls = []
    for m in f.messages:
        c.feed(m)
        assert len(c.table) <= cap
        calls += c.take()
    c.close()
    calls += c.take()
    iams = sum(1 for m in f.messages if m.type == "IAM")
    assert len(calls) == c.calls <= iams
    assert len({x.call_id for x in calls}) == len(calls)
    for x in calls:
        assert x.outcome in ("answered", "subscriber", "caller", "network", "unknown")
        assert x.end_reason is not None and x.phase in ("setup", "alerting", "answered")
        assert x.pdd_ms is None or x.pdd_ms >= 0
        assert x.conversation_s is None or x.conversation_s >= 0
        assert x.as_dict()["frames"][0] == x.iam_frame
    assert all(len(set(x.frames)) == len(x.frames) for x in calls)
    attached = {frame for x in calls for frame in x.frames}  # (a group message may act on several calls)
    assert len(attached) + c.duplicates + c.orphan_count <= len(f.messages)


# -- the wait for the RLC (issue 13: release without RLC) ----------------------------------------------------
def test_release_end_of_an_rlc_captured_before_its_rel() -> None:
    """An RLC ahead of its REL in the file (the REL's time stamp 1 ms earlier): acknowledged after 1 ms."""
    f = Flow()
    f.msg("IAM")
    f.msg("ACM", fwd=False)
    rlc = f.msg("RLC", fwd=True, dt=3)
    f.msg("REL", fwd=False, cause=19, ts=rlc.ts - 0.001)
    _, (call,) = correlate(f.messages)
    assert (call.release_end, call.release_wait_ms) == ("rlc", 1.0)


def test_release_end_of_sip_i_calls_is_none() -> None:
    """SIP-I carries no RLC (Q.1912.5): the REL ends the call, there is no wait to measure."""
    f = Flow()
    f.msg("IAM", sip="a@x", called="5551234")
    f.msg("ACM", sip="a@x")
    f.msg("REL", sip="a@x", cause=16, dt=30)
    f.msg("IAM", sip="b@x", called="5559999", dt=60)
    _, calls = correlate(f.messages)
    call = next(c for c in calls if c.rel_ts is not None)
    assert call.end_reason == "released" and (call.release_end, call.release_wait_ms) == (None, None)


def test_release_end_of_an_evicted_release() -> None:
    """A call still waiting for its RLC when the open-call table is full: measured to the eviction."""
    f = Flow()
    f.msg("IAM", cic=1)
    rel = f.msg("REL", cic=1, fwd=False, cause=17, dt=1.0)
    f.msg("IAM", cic=2, dt=5.0)
    last = f.msg("IAM", cic=3, dt=1.0)
    _, calls = correlate(f.messages, max_open_calls=2)
    first = next(c for c in calls if c.cic == 1)
    assert first.release_end == "evicted"
    assert first.release_wait_ms == pytest.approx((last.ts - rel.ts) * 1000.0)


def test_release_end_is_measured_to_the_capture_end_not_the_call_end() -> None:
    f = Flow()
    f.msg("IAM", cic=1)
    f.msg("ACM", cic=1, fwd=False)
    rel = f.msg("REL", cic=1, cause=16, dt=2.0)
    end = f.msg("IAM", cic=2, dt=7.5)  # another circuit: the capture goes on
    _, calls = correlate(f.messages)
    call = next(c for c in calls if c.cic == 1)
    assert call.end_ts == rel.ts and call.end_reason == "release_unacknowledged"
    assert (call.release_end, call.release_wait_ms) == (
        "capture_end",
        pytest.approx((end.ts - rel.ts) * 1000),
    )
