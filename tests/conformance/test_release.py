"""Release procedures of Q.764 (2.3, 2.10.6) and the T1/T5 tests of Q.784.1, as hand-written flows.

Every flow is a table of (seconds, direction, message, parameters) written to a pcap (tests/conformance/
flows.py) and read back with the library.  The rule setting ``t1_ms`` of release-not-acknowledged (and of
release-unacknowledged-at-capture-end) is 4000 ms unless a test sets it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conformance.flows import Row, run_flow

NOT_ACK = "release-not-acknowledged"
AT_END = "release-unacknowledged-at-capture-end"


def answered(rel_at: float = 30.0, cic: int = 1) -> list[Row]:
    """An en-bloc call answered at 5 s, released by the calling side (A) at ``rel_at`` s; no RLC yet."""
    return [
        (0.0, ">", "IAM", {"called": "0219876543", "st": True, "cic": cic}),
        (1.5, "<", "ACM", {"cic": cic}),
        (5.0, "<", "ANM", {"cic": cic}),
        (rel_at, ">", "REL", {"cause": 16, "cic": cic}),
    ]


def other_circuit(at: float, cic: int = 9) -> list[Row]:
    """An unrelated short call on another circuit, its RLC at ``at`` s (it sets where the capture ends)."""
    return [
        (at - 3.0, ">", "IAM", {"called": "0211111111", "cic": cic}),
        (at - 1.0, "<", "REL", {"cause": 17, "cic": cic}),
        (at, ">", "RLC", {"cic": cic}),
    ]


# -- normal release ------------------------------------------------------------------------------------------
def test_calling_party_clears_after_answer(tmp_path: Path) -> None:
    """Q.784.1 test 3.3 (calling party clears after answer); Q.764 2.3.1: REL forward, RLC back."""
    r = run_flow(tmp_path, [*answered(), (30.02, "<", "RLC", {})])
    c = r.call()
    assert (c.outcome, c.released_by, c.cause, c.phase) == ("answered", "calling", 16, "answered")
    assert (c.end_reason, c.release_end, c.release_wait_ms) == ("released", "rlc", 20.0)
    assert c.flags == [] and r.findings == []


def test_called_party_clears_after_answer(tmp_path: Path) -> None:
    """Q.784.1 test 3.4 (called party clears after answer); Q.764 2.3.2: REL backward, RLC forward."""
    rows: list[Row] = [*answered()[:3], (40.0, "<", "REL", {"cause": 16}), (40.01, ">", "RLC", {})]
    r = run_flow(tmp_path, rows)
    c = r.call()
    assert (c.outcome, c.released_by, c.release_end, c.conversation_s) == ("answered", "called", "rlc", 35.0)
    assert r.findings == []


def test_calling_party_clears_before_answer(tmp_path: Path) -> None:
    """Q.784.1 test 3.2 (calling party clears before answer): an abandoned call, the caller's doing."""
    rows: list[Row] = [
        (0.0, ">", "IAM", {"called": "0219876543"}),
        (1.5, "<", "ACM", {}),
        (9.0, ">", "REL", {"cause": 16}),
        (9.01, "<", "RLC", {}),
    ]
    r = run_flow(tmp_path, rows)
    c = r.call()
    assert (c.outcome, c.outcome_detail, c.released_by, c.phase) == (
        "caller",
        "caller-abandon",
        "calling",
        "alerting",
    )
    assert r.findings == []


def test_collision_of_rel_messages(tmp_path: Path) -> None:
    """Q.784.1 test 3.8 (collision of REL messages); Q.764 2.3.5: both exchanges send REL, each answers the
    other's with RLC.  A collision, not a release that went unacknowledged."""
    rows: list[Row] = [
        *answered(),
        (30.001, "<", "REL", {"cause": 16}),
        (30.01, ">", "RLC", {}),
        (30.012, "<", "RLC", {}),
    ]
    r = run_flow(tmp_path, rows)
    c = r.call()
    assert c.flags == ["release_collision"] and c.released_by == "calling" and c.release_end == "rlc"
    assert r.rules() == {"release-collision": 1}


# -- T1 and T5: failure to receive a RLC ---------------------------------------------------------------------
def test_rel_repeated_at_t1_then_acknowledged(tmp_path: Path) -> None:
    """Q.784.1 test 5.2.3 (T1 and T5: failure to receive a RLC); Q.764 2.10.6: on T1 expiry the REL is sent
    again.  The repeat proves T1 expired even though the repeated REL was acknowledged, and even when the
    exchange's T1 (here 4 s) is shorter than the rule's setting."""
    rows: list[Row] = [*answered(), (34.0, ">", "REL", {"cause": 16}), (34.02, "<", "RLC", {})]
    for t1_ms in (4000, 15000):
        r = run_flow(tmp_path, rows, settings={NOT_ACK: {"t1_ms": t1_ms}}, name=f"t1-{t1_ms}.pcap")
        c = r.call()
        assert c.flags == ["rel_repeated"] and (c.release_end, c.release_wait_ms) == ("rlc", 4020.0)
        assert r.rules() == {NOT_ACK: 1}
        (f,) = r.of(NOT_ACK)
        assert (
            f.cic == 1 and f.evidence["because"] == "the releasing side sent the REL again (its T1 expired)"
        )


def test_late_rlc_after_t1(tmp_path: Path) -> None:
    """Q.764 2.10.6: an RLC that comes after T1 did not stop T1 in time (a late RLC is found)."""
    r = run_flow(tmp_path, [*answered(), (36.0, "<", "RLC", {})])
    c = r.call()
    assert (c.release_end, c.release_wait_ms, c.rlc_ts - c.rel_ts) == ("rlc", 6000.0, pytest.approx(6.0))
    (f,) = r.of(NOT_ACK)
    assert f.evidence["because"] == "no RLC within 4000 ms of the first REL (waited 6000.0 ms, then: rlc)"
    assert r.rules() == {NOT_ACK: 1}


def test_rlc_within_t1_is_no_finding(tmp_path: Path) -> None:
    """Q.764 2.3.1: an RLC within T1 (here 3.5 s, T1 4 s; then 6 s with T1 set to 10 s) ends the release."""
    r = run_flow(tmp_path, [*answered(), (33.5, "<", "RLC", {})], name="a.pcap")
    assert r.call().release_wait_ms == 3500.0 and r.findings == []
    r = run_flow(
        tmp_path, [*answered(), (36.0, "<", "RLC", {})], settings={NOT_ACK: {"t1_ms": 10000}}, name="b.pcap"
    )
    assert r.call().release_wait_ms == 6000.0 and r.of(NOT_ACK) == []


def test_no_rlc_then_new_iam_on_the_circuit(tmp_path: Path) -> None:
    """Q.764 2.10.6: no RLC within T1, and the circuit is seized again by a new IAM (CIC reuse): the first
    call's REL was never acknowledged.  The new call is an ordinary call."""
    rows: list[Row] = [
        *answered(),
        (45.0, ">", "IAM", {"called": "0215550000"}),
        (46.0, "<", "ACM", {}),
        (47.0, "<", "REL", {"cause": 17}),
        (47.01, ">", "RLC", {}),
    ]
    r = run_flow(tmp_path, rows)
    first, second = sorted(r.calls, key=lambda c: c.start)
    assert (first.end_reason, first.release_end, first.release_wait_ms) == (
        "release_unacknowledged",
        "iam",
        15000.0,
    )
    assert first.outcome == "answered" and first.rlc_ts is None
    assert (second.outcome, second.release_end, second.called) == ("subscriber", "rlc", "0215550000")
    (f,) = r.of(NOT_ACK)
    assert f.iam_frame == first.iam_frame and "then: iam" in f.evidence["because"]
    assert r.rules() == {NOT_ACK: 1}


def test_new_iam_before_t1_claims_nothing(tmp_path: Path) -> None:
    """Q.764 2.10.6: the next IAM comes 1 s after the REL, before T1 could expire: no finding."""
    rows: list[Row] = [*answered(), (31.0, "<", "IAM", {"called": "0215550000"}), (32.0, ">", "ACM", {})]
    r = run_flow(tmp_path, rows)
    first = min(r.calls, key=lambda c: c.start)
    assert (first.release_end, first.release_wait_ms) == ("iam", 1000.0)
    assert r.of(NOT_ACK) == [] and r.of(AT_END) == []


def test_no_rlc_then_rsc_after_t5(tmp_path: Path) -> None:
    """Q.784.1 test 5.2.3; Q.764 2.10.6: no RLC, and when T5 expires the releasing exchange resets the
    circuit (RSC), answered by an RLC.  That RLC answers the reset, not the REL."""
    rows: list[Row] = [*answered(), (90.0, ">", "RSC", {}), (90.02, "<", "RLC", {})]
    r = run_flow(tmp_path, rows)
    c = r.call()
    assert (c.release_end, c.release_wait_ms, c.rlc_ts) == ("reset", 60000.0, None)
    assert c.flags == ["circuit_reset"] and c.end_reason == "release_unacknowledged"
    assert r.rules() == {NOT_ACK: 1}


def test_no_rlc_then_group_reset(tmp_path: Path) -> None:
    """Q.764 2.10.6 and 2.10.3 (reset of circuit groups): a GRS covering the circuit ends the wait."""
    rows: list[Row] = [
        *answered(cic=2),
        (70.0, ">", "GRS", {"cic": 1, "range": 3}),
        (70.05, "<", "GRA", {"cic": 1, "range": 3, "status": "00"}),
    ]
    r = run_flow(tmp_path, rows)
    c = r.call()
    assert (c.cic, c.release_end, c.release_wait_ms) == (2, "reset", 40000.0)
    assert r.rules() == {NOT_ACK: 1}


def test_full_t1_t5_procedure(tmp_path: Path) -> None:
    """Q.784.1 test 5.2.3; Q.764 2.10.6: REL repeated every T1 (15 s) until T5 (60 s), then RSC and its RLC.
    One finding for the call, flagged as repeated and reset."""
    rows: list[Row] = [*answered()]
    rows += [(30.0 + 15.0 * k, ">", "REL", {"cause": 16}) for k in (1, 2, 3)]
    rows += [(90.0, ">", "RSC", {}), (90.01, "<", "RLC", {})]
    r = run_flow(tmp_path, rows)
    c = r.call()
    assert c.flags == ["rel_repeated", "circuit_reset"] and (c.release_end, c.release_wait_ms) == (
        "reset",
        60000.0,
    )
    assert r.rules() == {NOT_ACK: 1}


def test_no_rlc_at_capture_end_after_t1(tmp_path: Path) -> None:
    """Q.764 2.10.6; DOMAIN.md section 7: the capture runs 10 s (more than T1) past the REL, no RLC: found.
    The wait is measured to the capture's last time stamp (another circuit's RLC), not the call's."""
    r = run_flow(tmp_path, [*answered(), *other_circuit(40.0)])
    c = r.call(cic=1)
    assert (c.release_end, c.release_wait_ms, c.end_ts) == ("capture_end", 10000.0, c.rel_ts)
    assert r.rules() == {NOT_ACK: 1}


def test_no_rlc_at_capture_end_before_t1(tmp_path: Path) -> None:
    """DOMAIN.md section 7: the capture ends 2 s after the REL, before T1 (4 s) could expire: nothing can be
    claimed; an info finding says the capture ends before T1."""
    r = run_flow(tmp_path, [*answered(), *other_circuit(32.0)])
    c = r.call(cic=1)
    assert (c.release_end, c.release_wait_ms) == ("capture_end", 2000.0)
    assert r.rules() == {AT_END: 1}
    (f,) = r.of(AT_END)
    assert f.severity == "info" and f.cic == 1 and "capture ends before T1" in f.message
    # the same capture judged with T1 = 1.5 s: now T1 has passed
    r = run_flow(
        tmp_path,
        [*answered(), *other_circuit(32.0)],
        settings={NOT_ACK: {"t1_ms": 1500}},
        name="b.pcap",
    )
    assert r.rules() == {NOT_ACK: 1}
    # and with T1 = 10 s the info rule follows: still nothing claimed, still the info finding
    r = run_flow(
        tmp_path, [*answered(), *other_circuit(32.0)], settings={NOT_ACK: {"t1_ms": 10000}}, name="c.pcap"
    )
    assert r.rules() == {AT_END: 1} and "before T1 (10000 ms)" in r.of(AT_END)[0].message


def test_repeated_rel_at_capture_end_is_found_not_info(tmp_path: Path) -> None:
    """Q.764 2.10.6: a REL repeated before the capture ends proves T1 expired, however soon the end comes."""
    rows: list[Row] = [*answered(), (34.0, ">", "REL", {"cause": 16})]
    r = run_flow(tmp_path, rows)
    assert r.call().release_end == "capture_end" and r.rules() == {NOT_ACK: 1}


def test_released_by_the_called_side_without_rlc(tmp_path: Path) -> None:
    """Q.764 2.3.2 and 2.10.6: the called side's REL gets no RLC from the calling side; a new IAM comes."""
    rows: list[Row] = [
        *answered()[:3],
        (20.0, "<", "REL", {"cause": 16}),
        (50.0, ">", "IAM", {"called": "0215550000"}),
        (50.5, "<", "ACM", {}),
        (51.0, ">", "REL", {"cause": 16}),
        (51.01, "<", "RLC", {}),
    ]
    r = run_flow(tmp_path, rows)
    first = min(r.calls, key=lambda c: c.start)
    assert (first.released_by, first.release_end, first.release_wait_ms) == ("called", "iam", 30000.0)
    (f,) = r.of(NOT_ACK)
    assert f.evidence["released_by"] == "called" and "from the called side" in f.message


def unacknowledged_mix() -> tuple[list[Row], dict[int, str]]:
    """Fourteen RELs that never get an RLC, one per circuit, and ten healthy calls: three followed by a new
    IAM after T1, three by an RSC, three repeated at T1 and then nothing, three left at a capture end more
    than T1 later, two at a capture end less than T1 later.  Returns the rows and, per CIC, what ends it."""
    rows: list[Row] = []
    ends: dict[int, str] = {}
    kinds = ["iam"] * 3 + ["reset"] * 3 + ["rel"] * 3 + ["capture_end"] * 3 + ["before_t1"] * 2
    for i, kind in enumerate(kinds):
        cic = 10 + i
        t0 = 2.0 * i
        rel = 599.0 - 0.5 * (i - 12) if kind == "before_t1" else t0 + 30.0
        rows += [
            (t0, ">", "IAM", {"called": f"021555{i:04d}", "cic": cic}),
            (t0 + 1.0, "<", "ACM", {"cic": cic}),
            (t0 + 3.0, "<", "ANM", {"cic": cic}),
            (rel, ">" if i % 2 else "<", "REL", {"cause": 16, "cic": cic}),
        ]
        if kind == "iam":
            rows += [(rel + 20.0, ">", "IAM", {"called": "0218880000", "cic": cic})]
            rows += [
                (rel + 21.0, "<", "REL", {"cause": 17, "cic": cic}),
                (rel + 21.01, ">", "RLC", {"cic": cic}),
            ]
        elif kind == "reset":
            t5 = rel + 300.0 + 70.0 * (i - 3)  # more than a minute apart: no circuit-reset-burst
            rows += [(t5, ">", "RSC", {"cic": cic}), (t5 + 0.02, "<", "RLC", {"cic": cic})]
        elif kind == "rel":
            rows += [(rel + 10.0, ">" if i % 2 else "<", "REL", {"cause": 16, "cic": cic})]
        ends[cic] = kind
    for i in range(10):  # healthy calls on other circuits; the last RLC at 601 s ends the capture
        cic = 100 + i
        t0 = 60.0 * i
        rows += [
            (t0, ">", "IAM", {"called": f"021777{i:04d}", "cic": cic}),
            (t0 + 1.0, "<", "ACM", {"cic": cic}),
            (t0 + 4.0, "<", "ANM", {"cic": cic}),
            (t0 + 50.0 if i < 9 else 600.99, "<" if i % 2 else ">", "REL", {"cause": 16, "cic": cic}),
            (t0 + 50.01 if i < 9 else 601.0, ">" if i % 2 else "<", "RLC", {"cic": cic}),
        ]
    return rows, ends


def test_every_unacknowledged_rel_is_found(tmp_path: Path) -> None:
    """Q.764 2.10.6; DOMAIN.md section 7 ("No RLC is a finding too"): every REL that got no RLC within T1
    is found, whatever came next on the circuit; those the capture ends on before T1 are info only; the
    healthy calls give nothing.  (Before issue 13 the rule found 6 of these 12: only the RSC and the
    repeated-REL cases.)"""
    rows, ends = unacknowledged_mix()
    r = run_flow(tmp_path, rows)
    assert len(r.calls) == 14 + 3 + 10  # the three new IAMs make calls of their own
    first = {c.cic: c for c in r.calls if c.cic in ends and c.iam.called.startswith("021555")}
    for cic, kind in ends.items():
        want = "capture_end" if kind in ("rel", "before_t1") else kind
        assert first[cic].release_end == want, (cic, kind, first[cic].release_end)
    found = {f.cic for f in r.of(NOT_ACK)}
    assert found == {cic for cic, kind in ends.items() if kind != "before_t1"}
    assert {f.cic for f in r.of(AT_END)} == {cic for cic, kind in ends.items() if kind == "before_t1"}
    assert r.rules() == {NOT_ACK: 12, AT_END: 2}
    # the rules in a second process (check on two CPUs) see the same calls
    from sigdiag.rules import check

    two = list(check(tmp_path / "flow.pcap", workers=2))
    assert sorted((f.rule, f.cic, f.message) for f in two) == sorted(
        (f.rule, f.cic, f.message) for f in r.findings
    )


def test_both_release_rules_share_t1() -> None:
    """The two release rules judge the same T1: what one does not claim, the other reports."""
    from sigdiag.rules import load_rules

    rules = load_rules()
    assert rules[NOT_ACK].settings["t1_ms"] == rules[AT_END].settings["t1_ms"] == 4000
    # one T1: setting it on release-not-acknowledged moves both (settings_from); the info rule's own
    # setting, when given, wins
    rules = load_rules(settings={NOT_ACK: {"t1_ms": 9000}})
    assert rules[NOT_ACK].settings["t1_ms"] == rules[AT_END].settings["t1_ms"] == 9000
    rules = load_rules(settings={NOT_ACK: {"t1_ms": 9000}, AT_END: {"t1_ms": 5000}})
    assert (rules[NOT_ACK].settings["t1_ms"], rules[AT_END].settings["t1_ms"]) == (9000, 5000)
