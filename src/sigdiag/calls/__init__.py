"""Calls: correlation of decoded messages into calls, outcome classification and KPIs.

::

    from sigdiag.calls import iter_calls, calls_frame, stats_frame
    for call in iter_calls("capture.pcap"):
        print(call.call_id, call.called, call.outcome, call.outcome_detail)
    calls_frame("capture.pcap")                 # one row per call (CALL_KEYS)
    stats_frame("capture.pcap", by="trunk")     # one row per trunk (STATS_KEYS)

Pieces: :mod:`~sigdiag.calls.machine` (the state machine as a table), :mod:`~sigdiag.calls.correlate`
(the streaming correlator; its parts :mod:`~sigdiag.calls.step`, :mod:`~sigdiag.calls.actions`,
:mod:`~sigdiag.calls.circuits`, :mod:`~sigdiag.calls.copies`, :mod:`~sigdiag.calls.bounds` and
:mod:`~sigdiag.calls.ledger`), :mod:`~sigdiag.calls.record` (the call record),
:mod:`~sigdiag.calls.keys` (the call key), :mod:`~sigdiag.calls.outcomes` (the outcome table,
``outcomes.yaml``), :mod:`~sigdiag.calls.stats` (KPIs and trunk maps) and :mod:`~sigdiag.calls.pipeline`
(files in, calls out; the refiner hook for the diagnosis rules); ``sigdiag calls`` and ``sigdiag stats``
are in :mod:`sigdiag.cli.calls`.  ``docs/calls.md`` documents it all.
"""

from __future__ import annotations

from sigdiag.calls.correlate import CALL_KEYS, Call, CircuitEvent, Correlator, CorrelatorState, Orphan
from sigdiag.calls.outcomes import (
    OUTCOMES,
    OutcomesError,
    OutcomeTable,
    default_outcomes_path,
    load_outcomes,
    parse_outcomes,
)
from sigdiag.calls.pipeline import (
    REFINERS,
    CallFilter,
    CallReader,
    calls_frame,
    iter_calls,
    register_refiner,
    stats_frame,
)
from sigdiag.calls.settings import CallSettings, load_call_settings
from sigdiag.calls.stats import GROUP_BY, STATS_KEYS, StatsAccumulator, TrunkMap, compute_stats, load_trunks

__all__ = [
    "CALL_KEYS",
    "GROUP_BY",
    "OUTCOMES",
    "REFINERS",
    "STATS_KEYS",
    "Call",
    "CallFilter",
    "CallReader",
    "CallSettings",
    "CircuitEvent",
    "Correlator",
    "CorrelatorState",
    "Orphan",
    "OutcomeTable",
    "OutcomesError",
    "StatsAccumulator",
    "TrunkMap",
    "calls_frame",
    "compute_stats",
    "default_outcomes_path",
    "iter_calls",
    "load_call_settings",
    "load_outcomes",
    "load_trunks",
    "parse_outcomes",
    "register_refiner",
    "stats_frame",
]
