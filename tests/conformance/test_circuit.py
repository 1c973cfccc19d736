"""Circuit supervision and special set-up of Q.764 and the Q.784.1 tests, as hand-written flows: dual
seizure, blocking (BLO/UBL, CGB/CGU), reset (RSC, GRS), continuity check (COT) and the unequipped CIC
(UCIC).  Exchange A has point code 1001, B 2002: B controls the even-numbered circuits."""

from __future__ import annotations

from pathlib import Path

from tests.conformance.flows import A, B, Row, run_flow


def test_dual_seizure_on_an_even_circuit(tmp_path: Path) -> None:
    """Q.784.1 tests 2.1 (both-way circuit selection) and 6.2.1 (automatic repeat attempt after dual
    seizure); Q.764 2.10.1: A and B seize CIC 2 at once; B (the higher point code) controls the even
    circuits, so A's call backs off and A repeats the attempt on CIC 3."""
    rows: list[Row] = [
        (0.0, ">", "IAM", {"called": "0219876543", "cic": 2}),
        (0.002, "<", "IAM", {"called": "0107777000", "cic": 2}),
        (0.3, ">", "IAM", {"called": "0219876543", "cic": 3}),  # A's repeat attempt
        (1.0, ">", "ACM", {"cic": 2}),  # A proceeds with B's call
        (1.2, "<", "ACM", {"cic": 3}),
        (5.0, ">", "ANM", {"cic": 2}),
        (6.0, "<", "ANM", {"cic": 3}),
        (20.0, "<", "REL", {"cause": 16, "cic": 2}),
        (20.01, ">", "RLC", {"cic": 2}),
        (21.0, ">", "REL", {"cause": 16, "cic": 3}),
        (21.01, "<", "RLC", {"cic": 3}),
    ]
    r = run_flow(tmp_path, rows)
    assert len(r.calls) == 3
    loser = next(c for c in r.calls if c.end_reason == "dual_seizure")
    winner = next(c for c in r.calls if c.cic == 2 and c is not loser)
    repeat = r.call(cic=3)
    assert (loser.opc, loser.outcome, loser.outcome_detail) == (A, "network", "dual-seizure-backed-off")
    assert (winner.opc, winner.outcome) == (B, "answered") and "dual_seizure" in winner.flags
    assert repeat.outcome == "answered" and repeat.flags == []
    assert r.rules() == {"dual-seizure": 1} and r.of("dual-seizure")[0].iam_frame == loser.iam_frame


def test_blo_ubl_and_an_iam_on_the_blocked_circuit(tmp_path: Path) -> None:
    """Q.784.1 test 1.3.2 (circuit blocking/unblocking); Q.764 2.8.2: B blocks CIC 5 (BLO, BLA); an IAM from
    A on it while blocked is an error; after UBL/UBA the circuit carries a call normally."""
    rows: list[Row] = [
        (0.0, "<", "BLO", {"cic": 5}),
        (0.05, ">", "BLA", {"cic": 5}),
        (10.0, ">", "IAM", {"called": "0219876543", "cic": 5}),
        (10.5, "<", "REL", {"cause": 34, "location": 3, "cic": 5}),
        (10.51, ">", "RLC", {"cic": 5}),
        (20.0, "<", "UBL", {"cic": 5}),
        (20.05, ">", "UBA", {"cic": 5}),
        (30.0, ">", "IAM", {"called": "0219876543", "cic": 5}),
        (31.0, "<", "ACM", {"cic": 5}),
        (35.0, "<", "ANM", {"cic": 5}),
        (60.0, ">", "REL", {"cause": 16, "cic": 5}),
        (60.01, "<", "RLC", {"cic": 5}),
    ]
    r = run_flow(tmp_path, rows)
    blocked, normal = sorted(r.calls, key=lambda c: c.start)
    assert blocked.flags == ["iam_on_blocked_circuit"] and blocked.outcome == "network"
    assert normal.flags == [] and normal.outcome == "answered"
    (f,) = r.of("blocked-circuit-attempt")
    assert f.iam_frame == blocked.iam_frame and r.rules() == {"blocked-circuit-attempt": 1}


def test_cgb_cgu_status_bits(tmp_path: Path) -> None:
    """Q.784.1 test 1.3.1 (circuit group blocking/unblocking); Q.764 2.8.2: B blocks CICs 1, 3 and 4 of
    the group 1-8 (maintenance CGB, status bits); IAMs on CIC 3 (blocked) and CIC 2 (not blocked)."""
    rows: list[Row] = [
        (0.0, "<", "CGB", {"cic": 1, "range": 7, "bits": "10110000"}),
        (0.05, ">", "CGBA", {"cic": 1, "range": 7, "bits": "10110000"}),
        (5.0, ">", "IAM", {"called": "0219876543", "cic": 3}),
        (5.5, "<", "REL", {"cause": 34, "location": 3, "cic": 3}),
        (5.51, ">", "RLC", {"cic": 3}),
        (6.0, ">", "IAM", {"called": "0219876543", "cic": 2}),
        (6.5, "<", "REL", {"cause": 17, "location": 1, "cic": 2}),
        (6.51, ">", "RLC", {"cic": 2}),
        (9.0, "<", "CGU", {"cic": 1, "range": 7, "bits": "10110000"}),
        (9.05, ">", "CGUA", {"cic": 1, "range": 7, "bits": "10110000"}),
    ]
    r = run_flow(tmp_path, rows)
    assert r.call(cic=3).flags == ["iam_on_blocked_circuit"] and r.call(cic=2).flags == []
    assert r.rules() == {"blocked-circuit-attempt": 1}


def test_hardware_cgb_ends_the_calls_on_its_circuits(tmp_path: Path) -> None:
    """Q.764 2.8.2 (hardware-failure oriented group blocking): the calls on the blocked circuits are
    released at once; a call on a circuit outside the status bits goes on."""
    rows: list[Row] = [
        (0.0, ">", "IAM", {"called": "0219876543", "cic": 1}),
        (1.0, "<", "ACM", {"cic": 1}),
        (2.0, ">", "IAM", {"called": "0219876544", "cic": 2}),
        (3.0, "<", "ACM", {"cic": 2}),
        (4.0, "<", "ANM", {"cic": 2}),
        (10.0, "<", "CGB", {"cic": 1, "range": 7, "bits": "10000000", "hardware": True}),
        (10.05, ">", "CGBA", {"cic": 1, "range": 7, "bits": "10000000", "hardware": True}),
        (30.0, ">", "REL", {"cause": 16, "cic": 2}),
        (30.01, "<", "RLC", {"cic": 2}),
    ]
    r = run_flow(tmp_path, rows)
    hit = r.call(cic=1)
    assert (hit.end_reason, hit.outcome, hit.outcome_detail) == ("blocked", "network", "circuit-blocked")
    assert "circuit_blocked_hardware" in hit.flags and r.call(cic=2).outcome == "answered"


def test_rsc_and_grs_on_idle_circuits(tmp_path: Path) -> None:
    """Q.784.1 tests 1.2.1 (RSC received on an idle circuit) and 1.2.5 (circuit group reset received);
    Q.764 2.10.3: the RLC answers the RSC and GRA the GRS; no call, no orphan message."""
    rows: list[Row] = [
        (0.0, "<", "RSC", {"cic": 7}),
        (0.02, ">", "RLC", {"cic": 7}),
        (5.0, "<", "GRS", {"cic": 16, "range": 7}),
        (5.05, ">", "GRA", {"cic": 16, "range": 7, "status": "00"}),
    ]
    r = run_flow(tmp_path, rows)
    assert r.calls == [] and r.findings == []


def test_reset_during_a_call(tmp_path: Path) -> None:
    """Q.784.1 test 5.3 (reset of circuits during a call); Q.764 2.10.3.1: an RSC on a circuit in a call
    ends the call (the RLC answers the RSC)."""
    rows: list[Row] = [
        (0.0, ">", "IAM", {"called": "0219876543"}),
        (1.0, "<", "ACM", {}),
        (3.0, "<", "ANM", {}),
        (40.0, "<", "RSC", {}),
        (40.02, ">", "RLC", {}),
    ]
    r = run_flow(tmp_path, rows)
    c = r.call()
    assert (c.end_reason, c.outcome, c.flags, c.rlc_ts, c.release_end) == (
        "reset",
        "answered",  # it was answered: the conversation took place
        ["circuit_reset"],
        None,
        None,
    )
    assert r.findings == []


def test_circuit_reset_burst(tmp_path: Path) -> None:
    """Q.764 2.10.3: three circuit resets on one trunk within a minute is a burst (rule setting
    min_resets 3 in window_s 60)."""
    rows: list[Row] = []
    for i, cic in enumerate((3, 4, 5)):
        rows += [(10.0 * i, "<", "RSC", {"cic": cic}), (10.0 * i + 0.02, ">", "RLC", {"cic": cic})]
    r = run_flow(tmp_path, rows)
    assert r.rules() == {"circuit-reset-burst": 1} and r.of("circuit-reset-burst")[0].count == 3


def test_continuity_check_call(tmp_path: Path) -> None:
    """Q.784.1 test 6.1.1 (continuity check required); Q.764 2.1.8: the IAM asks for a continuity check,
    COT (successful) follows before the called side sends ACM."""
    rows: list[Row] = [
        (0.0, ">", "IAM", {"called": "0219876543", "cot": True}),
        (0.4, ">", "COT", {"ok": True}),
        (1.5, "<", "ACM", {}),
        (6.0, "<", "ANM", {}),
        (20.0, ">", "REL", {"cause": 16}),
        (20.01, "<", "RLC", {}),
    ]
    r = run_flow(tmp_path, rows)
    c = r.call()
    assert [t[2] for t in c.timeline] == ["IAM", "COT", "ACM", "ANM", "REL", "RLC"]
    assert c.iam.params["nature_of_connection_indicators"]["continuity_check"] == 1
    assert c.outcome == "answered" and c.flags == [] and r.findings == []


def test_unequipped_cic(tmp_path: Path) -> None:
    """Q.784.1 test 1.1 (non-allocated circuits); Q.764 2.12 (unequipped CIC): B answers an IAM on a CIC it
    does not have with UCIC; the call ends there."""
    rows: list[Row] = [
        (0.0, ">", "IAM", {"called": "0219876543", "cic": 99}),
        (0.05, "<", "UCIC", {"cic": 99}),
    ]
    r = run_flow(tmp_path, rows)
    c = r.call()
    assert (c.end_reason, c.outcome, c.outcome_detail, c.flags) == (
        "ucic",
        "network",
        "unequipped-circuit",
        ["unequipped_circuit"],
    )
    assert r.rules() == {"unequipped-circuit": 1}
