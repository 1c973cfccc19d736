"""Basic call set-up of Q.764 2.1-2.2 and the Q.784.1 basic call tests, as hand-written flows: normal calls
en bloc and overlap, unsuccessful calls for each cause class, and the set-up timers T7, T9 and T35."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conformance.flows import Row, run_flow


def test_normal_call_en_bloc(tmp_path: Path) -> None:
    """Q.784.1 tests 2.2.1 ("en bloc" operation) and 2.3.1 (ordinary call); Q.764 2.1.1: the IAM carries
    the whole number with ST; ACM, CPG alerting, ANM, release by the caller."""
    rows: list[Row] = [
        (0.0, ">", "IAM", {"called": "0219876543", "st": True}),
        (1.8, "<", "ACM", {"status": 0}),  # no indication: alerting comes in the CPG
        (2.0, "<", "CPG", {"event": 1}),
        (9.0, "<", "ANM", {}),
        (69.0, ">", "REL", {"cause": 16}),
        (69.015, "<", "RLC", {}),
    ]
    r = run_flow(tmp_path, rows)
    c = r.call()
    assert (c.called, c.called_complete, c.sam_count) == ("0219876543", True, 0)
    assert (c.outcome, c.outcome_detail, c.released_by, c.cause) == ("answered", "answered", "calling", 16)
    assert (c.pdd_ms, c.alert_ts - c.start) == (1800.0, pytest.approx(2.0))  # PDD: IAM to ACM
    assert (c.answer_delay_ms, c.conversation_s) == (7200.0, 60.0)
    assert [t[2] for t in c.timeline] == ["IAM", "ACM", "CPG", "ANM", "REL", "RLC"]
    assert c.flags == [] and r.findings == []


def test_normal_call_overlap(tmp_path: Path) -> None:
    """Q.784.1 test 2.2.2 (overlap operation with SAM); Q.764 2.1.2: the IAM carries the first digits, SAMs
    the rest, the last with ST; the called side waits for the complete number before it answers."""
    rows: list[Row] = [
        (0.0, ">", "IAM", {"called": "0453114", "st": False}),
        (0.6, ">", "SAM", {"digits": "23"}),
        (1.1, ">", "SAM", {"digits": "45", "st": True}),
        (2.5, "<", "ACM", {}),
        (8.0, "<", "ANM", {}),
        (30.0, "<", "REL", {"cause": 16}),
        (30.01, ">", "RLC", {}),
    ]
    r = run_flow(tmp_path, rows)
    c = r.call()
    assert (c.called, c.called_complete, c.sam_count) == ("04531142345", True, 2)
    assert (c.outcome, c.released_by, c.pdd_ms) == ("answered", "called", 1400.0)  # from the last SAM
    assert r.findings == []


@pytest.mark.parametrize(
    ("cause", "location", "outcome", "detail"),
    [
        (1, 4, "caller", "unallocated-number"),
        (28, 4, "caller", "invalid-number-format"),
        (17, 1, "subscriber", "user-busy"),
        (18, 4, "subscriber", "no-user-responding"),
        (20, 4, "subscriber", "subscriber-absent"),
        (21, 1, "subscriber", "call-rejected"),
        (27, 4, "network", "destination-out-of-order"),
        (34, 3, "network", "no-circuit-available"),
        (38, 3, "network", "network-out-of-order"),
        (41, 3, "network", "temporary-failure"),
        (42, 3, "network", "switching-equipment-congestion"),
        (47, 3, "network", "resource-unavailable"),
        (111, 3, "network", "protocol-error"),
        (127, 3, "network", "interworking"),
    ],
)
def test_unsuccessful_call_each_cause_class(
    tmp_path: Path, cause: int, location: int, outcome: str, detail: str
) -> None:
    """Q.784.1 test 4.1 (validate a set of known causes for release); Q.764 2.2 (unsuccessful call set-up),
    Q.850 cause classes: the called side releases before answer with the cause; the calling side answers
    RLC.  Caller (misdial), subscriber and network outcomes come from the cause value."""
    rows: list[Row] = [
        (0.0, ">", "IAM", {"called": "0219876543", "st": True}),
        (1.2, "<", "REL", {"cause": cause, "location": location}),
        (1.21, ">", "RLC", {}),
    ]
    r = run_flow(tmp_path, rows)
    c = r.call()
    assert (c.cause, c.cause_location, c.released_by, c.phase) == (cause, location, "called", "setup")
    assert (c.outcome, c.outcome_detail, c.release_end) == (outcome, detail, "rlc")
    assert r.findings == []


def test_t7_expiry(tmp_path: Path) -> None:
    """Q.784.1 test 5.2.1 (T7: waiting for an ACM or CON); Q.764 2.1.4: no backward message within T7 (20-30
    s) of the latest address message; the calling side releases with cause 102."""
    rows: list[Row] = [
        (0.0, ">", "IAM", {"called": "0219876543"}),
        (25.0, ">", "REL", {"cause": 102, "location": 2}),
        (25.01, "<", "RLC", {}),
    ]
    r = run_flow(tmp_path, rows)
    c = r.call()
    assert (c.outcome, c.outcome_detail, c.released_by, c.t7_expired) == (
        "network",
        "t7-expiry",
        "calling",
        True,
    )
    assert r.rules() == {"t7-expiry": 1}


def test_t7_not_reached(tmp_path: Path) -> None:
    """Q.764 2.1.4: the caller gives up after 8 s without any backward message: no T7 expiry."""
    rows: list[Row] = [
        (0.0, ">", "IAM", {"called": "0219876543"}),
        (8.0, ">", "REL", {"cause": 16, "location": 1}),
        (8.01, "<", "RLC", {}),
    ]
    r = run_flow(tmp_path, rows)
    assert r.call().outcome_detail == "caller-abandon-before-alerting" and r.findings == []


def test_t9_expiry(tmp_path: Path) -> None:
    """Q.784.1 test 5.2.2 (T9: waiting for an answer message); Q.764 2.1.7: the called party is alerted but
    does not answer within T9 (1.5-3 min); the exchange that runs T9 releases with cause 19."""
    rows: list[Row] = [
        (0.0, ">", "IAM", {"called": "0219876543"}),
        (2.0, "<", "ACM", {}),
        (122.0, ">", "REL", {"cause": 19, "location": 2}),
        (122.01, "<", "RLC", {}),
    ]
    r = run_flow(tmp_path, rows)
    c = r.call()
    assert (c.outcome, c.outcome_detail, c.phase, c.released_by) == (
        "subscriber",
        "no-answer",
        "alerting",
        "calling",
    )
    assert r.findings == []


def test_t35_expiry(tmp_path: Path) -> None:
    """Q.764 2.1.2.1 (overlap: T35) and DOMAIN.md section 3: the number stays incomplete (no ST) and no
    digit comes within T35 (15-20 s) of the latest one; the called side releases with cause 28."""
    rows: list[Row] = [
        (0.0, ">", "IAM", {"called": "02198", "st": False}),
        (0.8, ">", "SAM", {"digits": "76"}),
        (16.8, "<", "REL", {"cause": 28, "location": 4}),
        (16.81, ">", "RLC", {}),
    ]
    r = run_flow(tmp_path, rows)
    c = r.call()
    assert (c.called, c.called_complete, c.released_by) == ("0219876", False, "called")
    assert (c.outcome, c.outcome_detail, c.outcome_by) == ("caller", "t35-expiry", "t35-expiry")
    assert r.rules() == {"t35-expiry": 1} and r.of("t35-expiry")[0].severity == "info"


def test_incomplete_digit_collection_is_not_t35(tmp_path: Path) -> None:
    """DOMAIN.md section 4 (the reference fault): the REL comes 8 ms after a SAM, long before T35: the
    receiving exchange analysed an incomplete number; a configuration fault, not a caller's misdial."""
    rows: list[Row] = [
        (0.0, ">", "IAM", {"called": "0453114", "st": False}),
        (0.5, ">", "SAM", {"digits": "2345", "st": True}),
        (0.508, "<", "REL", {"cause": 38, "location": 3}),
        (0.52, ">", "RLC", {}),
    ]
    r = run_flow(tmp_path, rows)
    c = r.call()
    assert (c.outcome, c.outcome_detail) == ("network", "incomplete-digit-collection")
    assert r.rules() == {"incomplete-digit-collection": 1}
