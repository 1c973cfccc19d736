"""The correlation state machine as data: states, events and the transition table.

Every message is turned into one *event* relative to the call on its key (its circuit: point-code pair
and CIC; for BICC the call instance code; for SIP-I the Call-ID), and :data:`TRANSITIONS` maps
``(state, event)`` to ``(action, next state)`` (:data:`EVENT_FORWARD`, :data:`EVENT_BACKWARD` and
:data:`EVENT_IDLE` say which event a message type is).  The actions are methods of
:class:`sigdiag.calls.correlate.Correlator` named ``_do_<action>`` (:mod:`sigdiag.calls.actions`,
:mod:`sigdiag.calls.circuits`).  ``docs/calls.md`` shows the same
table; ``tests/unit/test_calls_machine.py`` has a test for every entry.

States (of the call on one key):

* ``IDLE`` - no call on the key;
* ``SETUP`` - IAM seen, no backward message yet (address phase);
* ``PROCEEDING`` - ACM or CPG seen (the called side is being alerted);
* ``ANSWERED`` - ANM or CON seen;
* ``RELEASING`` - REL seen, RLC not yet (Q.764 2.3.1, 2.10.6: the releasing side's T1 runs); what ends
  this wait (the RLC, a new IAM, a reset, a hardware block or the capture end) is recorded on the call as
  ``release_end``, with ``release_wait_ms`` from the first REL; a repeated REL (``release_again``) does not
  end it;
* ``RELEASED`` - RLC seen or the call ended by circuit supervision; the call stays on its key for
  ``linger_ms`` to collect a release collision's second RLC or a REL that was captured out of order,
  then it is written out.

Events: ``IAM`` (an IAM in the direction of the call's IAM, or any IAM on an idle key), ``IAM_REV`` (an
IAM from the called side), ``SAM``, ``ACM`` and ``CPG`` (backward), ``ANS`` (ANM or CON, backward),
``REL_F`` / ``REL_B`` (REL from the calling / called side), ``RLC``, ``RESET`` (RSC, or GRS covering the
circuit), ``BLOCK`` (BLO, or maintenance CGB covering the circuit), ``BLOCK_HW`` (hardware-failure CGB),
``UCIC`` and ``OTHER`` (every other message: COT, CFN, FAC, INF, SUS, RES, APM, a forward ACM...).
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "ANSWERED",
    "EVENTS",
    "EVENT_BACKWARD",
    "EVENT_FORWARD",
    "EVENT_IDLE",
    "IDLE",
    "NOT_ATTACHING",
    "PROCEEDING",
    "RELEASED",
    "RELEASING",
    "SETUP",
    "STATES",
    "STATE_NAMES",
    "TRANSITIONS",
]

IDLE: Final = 0
SETUP: Final = 1
PROCEEDING: Final = 2
ANSWERED: Final = 3
RELEASING: Final = 4
RELEASED: Final = 5

STATES: tuple[int, ...] = (IDLE, SETUP, PROCEEDING, ANSWERED, RELEASING, RELEASED)
STATE_NAMES: dict[int, str] = {
    IDLE: "IDLE",
    SETUP: "SETUP",
    PROCEEDING: "PROCEEDING",
    ANSWERED: "ANSWERED",
    RELEASING: "RELEASING",
    RELEASED: "RELEASED",
}

EVENTS: tuple[str, ...] = (
    "IAM",
    "IAM_REV",
    "SAM",
    "ACM",
    "CPG",
    "ANS",
    "REL_F",
    "REL_B",
    "RLC",
    "RESET",
    "BLOCK",
    "BLOCK_HW",
    "UCIC",
    "OTHER",
)

#: Message type -> event, for a message from the calling side and from the called side (anything else:
#: OTHER).  Circuit supervision messages other than UCIC are turned into events per circuit
#: (:mod:`sigdiag.calls.circuits`).
EVENT_FORWARD: dict[str, str] = {"IAM": "IAM", "SAM": "SAM", "REL": "REL_F", "RLC": "RLC", "UCIC": "UCIC"}
EVENT_BACKWARD: dict[str, str] = {
    "IAM": "IAM_REV",
    "ACM": "ACM",
    "CPG": "CPG",
    "ANM": "ANS",
    "CON": "ANS",
    "REL": "REL_B",
    "RLC": "RLC",
    "UCIC": "UCIC",
}
#: Events on an idle key (no call: direction does not matter).
EVENT_IDLE: dict[str, str] = {
    "IAM": "IAM",
    "SAM": "SAM",
    "ACM": "ACM",
    "CPG": "CPG",
    "ANM": "ANS",
    "CON": "ANS",
    "REL": "REL_F",
    "RLC": "RLC",
    "UCIC": "UCIC",
}
#: Actions that do not add the message to the call's timeline (they make a call, or the message is not
#: the call's).
NOT_ATTACHING = frozenset(("open", "park", "circuit", "ignore", "reuse", "dual_seizure"))

#: ``(state, event) -> (action, next state)``.  Actions (methods ``_do_<action>`` of the correlator):
#:
#: ========================  =====================================================================
#: ``open``                  start a call with this IAM (and replay the messages parked on the key)
#: ``park``                  no call to attach to: hold the message for ``reorder_window_ms`` in case
#:                           its IAM comes later in the file, then report it as an orphan
#: ``circuit``               circuit supervision (or UCIC) on an idle circuit: a circuit event only
#: ``reuse``                 a new IAM on a busy key: write the old call out (CIC reuse), open the new
#: ``dual_seizure``          IAMs both ways before any backward message: Q.764 2.10.1.4 decides which
#:                           call the circuit keeps; the other is written out as a dual-seizure loser
#: ``digits``                SAM: append its digits to the called number
#: ``acm`` / ``cpg``         address complete / call progress: times, alerting
#: ``answer``                ANM or CON: answered
#: ``release``               first REL: who released, cause, phase
#: ``release_again``         a second REL: from the same side (a T1 repeat) or the other (collision)
#: ``rlc``                   RLC after REL: released
#: ``rlc_without_rel``       RLC with no REL: the call is released without a cause
#: ``late_rel``              REL after that RLC within ``reorder_window_ms``: captured out of order
#: ``reset``                 RSC/GRS: the call ends (if not released already)
#: ``block``                 BLO/CGB from the called side before any backward message: the call is
#:                           flagged (Q.764: the calling side releases and re-attempts elsewhere)
#: ``block_hw``              hardware-failure CGB: calls on those circuits end at once
#: ``ucic``                  unequipped CIC answer to the IAM: the call ends
#: ``late_sam``              SAM after REL: digits kept, flagged ``sam_after_rel``
#: ``crossing``              backward message after REL (it crossed the REL): attached, flagged
#: ``attach``                kept in the call's messages, no state change
#: ``ignore``                not part of the call (a circuit event after the call was released)
#: ========================  =====================================================================
TRANSITIONS: dict[tuple[int, str], tuple[str, int]] = {
    # IDLE: only an IAM starts a call; anything else is parked (then an orphan); supervision: circuit event.
    (IDLE, "IAM"): ("open", SETUP),
    (IDLE, "SAM"): ("park", IDLE),
    (IDLE, "ACM"): ("park", IDLE),
    (IDLE, "CPG"): ("park", IDLE),
    (IDLE, "ANS"): ("park", IDLE),
    (IDLE, "REL_F"): ("park", IDLE),
    (IDLE, "REL_B"): ("park", IDLE),
    (IDLE, "RLC"): ("park", IDLE),
    (IDLE, "RESET"): ("circuit", IDLE),
    (IDLE, "BLOCK"): ("circuit", IDLE),
    (IDLE, "BLOCK_HW"): ("circuit", IDLE),
    (IDLE, "UCIC"): ("circuit", IDLE),
    (IDLE, "OTHER"): ("park", IDLE),
    # SETUP: IAM seen, nothing back yet.
    (SETUP, "IAM"): ("reuse", SETUP),
    (SETUP, "IAM_REV"): ("dual_seizure", SETUP),
    (SETUP, "SAM"): ("digits", SETUP),
    (SETUP, "ACM"): ("acm", PROCEEDING),
    (SETUP, "CPG"): ("cpg", PROCEEDING),
    (SETUP, "ANS"): ("answer", ANSWERED),
    (SETUP, "REL_F"): ("release", RELEASING),
    (SETUP, "REL_B"): ("release", RELEASING),
    (SETUP, "RLC"): ("rlc_without_rel", RELEASED),
    (SETUP, "RESET"): ("reset", RELEASED),
    (SETUP, "BLOCK"): ("block", SETUP),
    (SETUP, "BLOCK_HW"): ("block_hw", RELEASED),
    (SETUP, "UCIC"): ("ucic", RELEASED),
    (SETUP, "OTHER"): ("attach", SETUP),
    # PROCEEDING: ACM/CPG seen.
    (PROCEEDING, "IAM"): ("reuse", SETUP),
    (PROCEEDING, "IAM_REV"): ("reuse", SETUP),
    (PROCEEDING, "SAM"): ("digits", PROCEEDING),
    (PROCEEDING, "ACM"): ("acm", PROCEEDING),
    (PROCEEDING, "CPG"): ("cpg", PROCEEDING),
    (PROCEEDING, "ANS"): ("answer", ANSWERED),
    (PROCEEDING, "REL_F"): ("release", RELEASING),
    (PROCEEDING, "REL_B"): ("release", RELEASING),
    (PROCEEDING, "RLC"): ("rlc_without_rel", RELEASED),
    (PROCEEDING, "RESET"): ("reset", RELEASED),
    (PROCEEDING, "BLOCK"): ("attach", PROCEEDING),
    (PROCEEDING, "BLOCK_HW"): ("block_hw", RELEASED),
    (PROCEEDING, "UCIC"): ("attach", PROCEEDING),
    (PROCEEDING, "OTHER"): ("attach", PROCEEDING),
    # ANSWERED: in conversation.
    (ANSWERED, "IAM"): ("reuse", SETUP),
    (ANSWERED, "IAM_REV"): ("reuse", SETUP),
    (ANSWERED, "SAM"): ("digits", ANSWERED),
    (ANSWERED, "ACM"): ("attach", ANSWERED),
    (ANSWERED, "CPG"): ("attach", ANSWERED),
    (ANSWERED, "ANS"): ("attach", ANSWERED),
    (ANSWERED, "REL_F"): ("release", RELEASING),
    (ANSWERED, "REL_B"): ("release", RELEASING),
    (ANSWERED, "RLC"): ("rlc_without_rel", RELEASED),
    (ANSWERED, "RESET"): ("reset", RELEASED),
    (ANSWERED, "BLOCK"): ("attach", ANSWERED),
    (ANSWERED, "BLOCK_HW"): ("block_hw", RELEASED),
    (ANSWERED, "UCIC"): ("attach", ANSWERED),
    (ANSWERED, "OTHER"): ("attach", ANSWERED),
    # RELEASING: REL seen, waiting for RLC.
    (RELEASING, "IAM"): ("reuse", SETUP),
    (RELEASING, "IAM_REV"): ("reuse", SETUP),
    (RELEASING, "SAM"): ("late_sam", RELEASING),
    (RELEASING, "ACM"): ("crossing", RELEASING),
    (RELEASING, "CPG"): ("crossing", RELEASING),
    (RELEASING, "ANS"): ("crossing", RELEASING),
    (RELEASING, "REL_F"): ("release_again", RELEASING),
    (RELEASING, "REL_B"): ("release_again", RELEASING),
    (RELEASING, "RLC"): ("rlc", RELEASED),
    (RELEASING, "RESET"): ("reset", RELEASED),
    (RELEASING, "BLOCK"): ("attach", RELEASING),
    (RELEASING, "BLOCK_HW"): ("block_hw", RELEASED),
    (RELEASING, "UCIC"): ("attach", RELEASING),
    (RELEASING, "OTHER"): ("attach", RELEASING),
    # RELEASED: done, lingering for late RLC/REL/SAM; other messages belong to a call we did not see.
    (RELEASED, "IAM"): ("reuse", SETUP),
    (RELEASED, "IAM_REV"): ("reuse", SETUP),
    (RELEASED, "SAM"): ("late_sam", RELEASED),
    (RELEASED, "ACM"): ("park", RELEASED),
    (RELEASED, "CPG"): ("park", RELEASED),
    (RELEASED, "ANS"): ("park", RELEASED),
    (RELEASED, "REL_F"): ("late_rel", RELEASED),
    (RELEASED, "REL_B"): ("late_rel", RELEASED),
    (RELEASED, "RLC"): ("attach", RELEASED),
    (RELEASED, "RESET"): ("ignore", RELEASED),
    (RELEASED, "BLOCK"): ("ignore", RELEASED),
    (RELEASED, "BLOCK_HW"): ("ignore", RELEASED),
    (RELEASED, "UCIC"): ("ignore", RELEASED),
    (RELEASED, "OTHER"): ("park", RELEASED),
}


def check_table() -> None:
    """Every (state, event) pair has exactly one entry (called by the tests)."""
    missing = [
        (s, e) for s in STATES for e in EVENTS if (s, e) not in TRANSITIONS and (s, e) != (IDLE, "IAM_REV")
    ]
    extra = [k for k in TRANSITIONS if k[0] not in STATES or k[1] not in EVENTS]
    if missing or extra:
        raise AssertionError(f"transition table: missing {missing}, unknown {extra}")
