"""The correlation state machine: the table is complete, and every transition does what it says.

Each (state, event) entry of :data:`sigdiag.calls.machine.TRANSITIONS` gets its own test: messages bring
a call on circuit (A, B, CIC 5) to the state, the event's message is fed, and the test checks the next
state and the action's effect (see the action list in :mod:`sigdiag.calls.machine`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from sigdiag.calls import CallSettings, Correlator
from sigdiag.calls.machine import (
    ANSWERED,
    EVENTS,
    IDLE,
    PROCEEDING,
    RELEASED,
    RELEASING,
    SETUP,
    STATE_NAMES,
    STATES,
    TRANSITIONS,
    check_table,
)
from sigdiag.model import Message
from tests.unit.test_calls_builder import A, B, Flow

KEY = ("isup", A, B, 5)

#: Messages that bring the call on KEY to each state.
PREFIX: dict[int, list[tuple[str, bool, dict[str, Any]]]] = {
    IDLE: [],
    SETUP: [("IAM", True, {})],
    PROCEEDING: [("IAM", True, {}), ("ACM", False, {})],
    ANSWERED: [("IAM", True, {}), ("ACM", False, {}), ("ANM", False, {})],
    RELEASING: [("IAM", True, {}), ("ACM", False, {}), ("ANM", False, {}), ("REL", True, {})],
    RELEASED: [
        ("IAM", True, {}),
        ("ACM", False, {}),
        ("ANM", False, {}),
        ("REL", True, {}),
        ("RLC", False, {}),
    ],
}

#: The message that makes each event on KEY.
EVENT_MESSAGE: dict[str, tuple[str, bool, dict[str, Any]]] = {
    "IAM": ("IAM", True, {"called": "0219999", "st": True}),
    "IAM_REV": ("IAM", False, {"called": "0107777", "st": True}),
    "SAM": ("SAM", True, {"digits": "99"}),
    "ACM": ("ACM", False, {}),
    "CPG": ("CPG", False, {"event": 1}),
    "ANS": ("ANM", False, {}),
    "REL_F": ("REL", True, {"cause": 31}),
    "REL_B": ("REL", False, {"cause": 17}),
    "RLC": ("RLC", False, {}),
    "RESET": ("RSC", False, {}),
    "BLOCK": ("BLO", False, {}),
    "BLOCK_HW": ("CGB", False, {"cic": 4, "range": 3, "status": 0b0010, "cgsm": 1}),
    "UCIC": ("UCIC", False, {}),
    "OTHER": ("COT", True, {}),
}


def run(state: int, event: str) -> tuple[Correlator, Message]:
    f = Flow()
    for typ, fwd, kw in PREFIX[state]:
        f.msg(typ, 5, fwd, **kw)
    typ, fwd, kw = EVENT_MESSAGE[event]
    kw = dict(kw)
    cic = kw.pop("cic", 5)
    m = f.msg(typ, cic, fwd, **kw)
    c = Correlator(CallSettings())
    for x in f.messages:
        c.feed(x)
    return c, m


def finished(c: Correlator) -> list[Any]:
    return list(c.done)


def _open(c: Correlator, m: Message) -> None:
    call = c.table[KEY]
    assert call.iam_frame == m.frame and call.called == m.called


def _park(c: Correlator, m: Message) -> None:
    assert any(x is m for x in c._parked.get(KEY, [])), "message not parked"
    c.close()
    assert c.orphan_count == 1 and c.orphans[0].frame == m.frame


def _circuit(c: Correlator, m: Message) -> None:
    assert KEY not in c.table and not c._parked
    assert c.circuit_event_count == 1 and c.circuit_events[0].frame == m.frame
    c.close()
    assert c.orphan_count == 0


def _reuse(c: Correlator, m: Message) -> None:
    (old,) = finished(c)
    assert old.call_id == 1 and old.end_reason in ("superseded", "released", "release_unacknowledged")
    assert c.table[KEY].call_id == 2 and c.table[KEY].iam_frame == m.frame


def _dual_seizure(c: Correlator, m: Message) -> None:
    (loser,) = finished(c)
    winner = c.table[KEY]
    assert loser.end_reason == "dual_seizure" and loser.outcome == "network"
    assert "dual_seizure" in loser.flags and "dual_seizure" in winner.flags
    # CIC 5 is odd: the exchange with the lower point code (A) controls it, so B's IAM backs off
    assert winner.opc == A and loser.opc == B and loser.iam_frame == m.frame


def _digits(c: Correlator, m: Message) -> None:
    call = c.table[KEY]
    assert call.called.endswith("99") and call.sam_count == 1


def _acm(c: Correlator, m: Message) -> None:
    call = c.table[KEY]
    assert call.acm_ts is not None and call.pdd_ms is not None and m.frame in call.frames


def _cpg(c: Correlator, m: Message) -> None:
    call = c.table[KEY]
    assert call.alert_ts is not None and m.frame in call.frames


def _answer(c: Correlator, m: Message) -> None:
    assert c.table[KEY].anm_ts == m.ts


def _release(c: Correlator, m: Message) -> None:
    call = c.table[KEY]
    assert call.rel_ts == m.ts and call.cause == m.cause
    assert call.released_by == ("calling" if m.opc == A else "called")


def _release_again(c: Correlator, m: Message) -> None:
    call = c.table[KEY]
    assert m.frame in call.frames
    expected = "rel_repeated" if m.opc == A else "release_collision"  # the first REL came from A
    assert expected in call.flags


def _rlc(c: Correlator, m: Message) -> None:
    assert c.table[KEY].rlc_ts == m.ts


def _rlc_without_rel(c: Correlator, m: Message) -> None:
    call = c.table[KEY]
    assert call.rlc_ts == m.ts and "rlc_without_rel" in call.flags and call.rel_ts is None


def _reset(c: Correlator, m: Message) -> None:
    call = c.table[KEY]
    assert "circuit_reset" in call.flags and m.frame in call.frames
    if call.rel_ts is None:
        assert call.end_reason == "reset"


def _block(c: Correlator, m: Message) -> None:
    assert c.table[KEY].blocked and m.frame in c.table[KEY].frames


def _block_hw(c: Correlator, m: Message) -> None:
    call = c.table[KEY]
    assert "circuit_blocked_hardware" in call.flags
    if call.rel_ts is None:
        assert call.end_reason == "blocked"


def _ucic(c: Correlator, m: Message) -> None:
    assert c.table[KEY].end_reason == "ucic"


def _late_sam(c: Correlator, m: Message) -> None:
    call = c.table[KEY]
    assert "sam_after_rel" in call.flags and call.called.endswith("99")


def _crossing(c: Correlator, m: Message) -> None:
    assert "crossed_release" in c.table[KEY].flags


def _attach(c: Correlator, m: Message) -> None:
    assert m.frame in c.table[KEY].frames


def _ignore(c: Correlator, m: Message) -> None:
    call = c.table.get(KEY)
    assert call is None or m.frame not in call.frames
    c.close()
    assert c.orphan_count == 0


def _late_rel(c: Correlator, m: Message) -> None:
    # the prefix has a REL already: a REL after the RLC is a second REL of the same call
    _release_again(c, m)


EFFECTS: dict[str, Callable[[Correlator, Message], None]] = {
    "open": _open,
    "park": _park,
    "circuit": _circuit,
    "reuse": _reuse,
    "dual_seizure": _dual_seizure,
    "digits": _digits,
    "acm": _acm,
    "cpg": _cpg,
    "answer": _answer,
    "release": _release,
    "release_again": _release_again,
    "rlc": _rlc,
    "rlc_without_rel": _rlc_without_rel,
    "late_rel": _late_rel,
    "reset": _reset,
    "block": _block,
    "block_hw": _block_hw,
    "ucic": _ucic,
    "late_sam": _late_sam,
    "crossing": _crossing,
    "attach": _attach,
    "ignore": _ignore,
}


def test_table_is_complete() -> None:
    check_table()
    assert len(TRANSITIONS) == len(STATES) * len(EVENTS) - 1  # IAM_REV needs a call
    assert {a for a, _ in TRANSITIONS.values()} == set(EFFECTS)
    for action, _ in TRANSITIONS.values():
        assert callable(getattr(Correlator, "_do_" + action))


@pytest.mark.parametrize(
    ("state", "event"),
    sorted(TRANSITIONS),
    ids=[f"{STATE_NAMES[s]}-{e}" for s, e in sorted(TRANSITIONS)],
)
def test_transition(state: int, event: str) -> None:
    action, nxt = TRANSITIONS[(state, event)]
    c, m = run(state, event)
    call = c.table.get(KEY)
    if nxt == IDLE:
        assert call is None
    else:
        assert call is not None and call.state == nxt, STATE_NAMES[call.state] if call else None
    EFFECTS[action](c, m)


def test_every_transition_leaves_a_consistent_call() -> None:
    """After any transition and the end of the capture, every call is classified exactly once."""
    for state, event in TRANSITIONS:
        c, _ = run(state, event)
        c.close()
        calls = list(c.done)
        assert len({x.call_id for x in calls}) == len(calls) == c.calls
        for x in calls:
            assert x.outcome in ("answered", "subscriber", "caller", "network", "unknown")
            assert x.end_reason is not None


def test_docs_show_the_table() -> None:
    """docs/calls.md has the transition table as it is in the code."""
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "calls.md").read_text(encoding="utf-8")
    rows = {line.split("|")[1].strip(): line for line in doc.splitlines() if line.startswith("| ")}
    for event in EVENTS:
        cells = [c.strip() for c in rows[event].split("|")[2:-1]]
        assert len(cells) == len(STATES), event
        for state, cell in zip(STATES, cells, strict=True):
            entry = TRANSITIONS.get((state, event))
            if entry is None:
                assert cell == "—", (event, state)
                continue
            action, nxt = entry
            assert cell.split(" → ")[0] == action, (event, STATE_NAMES[state], cell)
            shown = cell.split(" → ")[1] if " → " in cell else STATE_NAMES[state]
            assert shown == STATE_NAMES[nxt], (event, STATE_NAMES[state], cell)


#: What ends the wait for the RLC (the call's ``release_end``) for each event in RELEASING; the events not
#: listed leave the call waiting until the capture ends (Q.764 2.3.1, 2.10.6).
RELEASE_END: dict[str, str] = {
    "IAM": "iam",
    "IAM_REV": "iam",
    "RLC": "rlc",
    "RESET": "reset",
    "BLOCK_HW": "blocked",
}


@pytest.mark.parametrize("event", EVENTS)
def test_what_ends_an_unacknowledged_release(event: str) -> None:
    """Every event on a call waiting for its RLC: the call's ``release_end`` and ``release_wait_ms`` (from the
    first REL to the event, or to the capture's last time stamp)."""
    c, m = run(RELEASING, event)
    f_end = m.ts + 2.5  # the capture goes on on another circuit
    tail = Flow(t0=f_end)
    tail.frame = m.frame
    last = tail.msg("IAM", 77, True, ts=f_end)
    c.feed(last)
    c.close()
    (call,) = [x for x in c.done if x.key == KEY and x.rel_ts is not None]
    end = RELEASE_END.get(event, "capture_end")
    assert call.release_end == end
    to = last.ts if end == "capture_end" else m.ts
    assert call.release_wait_ms == pytest.approx((to - call.rel_ts) * 1000.0, abs=0.01)
    assert call.as_dict()["release_end"] == end


@pytest.mark.parametrize("state", [SETUP, PROCEEDING, ANSWERED])
def test_no_release_end_without_a_rel(state: int) -> None:
    for event in ("IAM", "RESET", "BLOCK_HW", "UCIC", "OTHER"):
        if (state, event) not in TRANSITIONS:
            continue
        c, _ = run(state, event)
        c.close()
        assert all(x.release_end is None and x.release_wait_ms is None for x in c.done if x.rel_ts is None)
