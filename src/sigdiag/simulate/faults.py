"""The fault catalogue of the simulator: fault types, their groups, their parameters and defaults.

Every fault type is the id of the rule that should find it (``docs/scenario.md`` documents each type and
its parameters).  :data:`FAULT_PARAMS` gives, per type, each parameter's kind (how the scenario parser
checks it, :func:`sigdiag.simulate.scenario_parse._fault_param`) and default; :class:`FaultSpec` is one
fault of a scenario.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sigdiag.simulate.dist import Dist

__all__ = [
    "BURST_FAULTS",
    "CALLING_ANOMALIES",
    "CIRCUIT_FAULTS",
    "EVENT_FAULTS",
    "FAULT_PARAMS",
    "FAULT_TYPES",
    "FaultSpec",
]

#: Fault types = the ids of the rules that should find them (issue 5).
FAULT_TYPES = (
    "incomplete-digit-collection",
    "t35-expiry",
    "t7-expiry",
    "release-not-acknowledged",
    "release-collision",
    "dual-seizure",
    "unequipped-circuit",
    "circuit-reset-burst",
    "blocked-circuit-attempt",
    "congestion-burst",
    "calling-number-anomaly",
    "repeat-attempts",
    "hung-call",
    "unallocated-valid-prefix",
    "short-answered-calls",
    "orphan-message",
    "confusion",
    "hop-counter-exhausted",
    "trunk-loss-rate",
)
#: Faults that need circuits (a CIC and circuit supervision): not possible on SIP-I trunks.
CIRCUIT_FAULTS = frozenset(
    {
        "dual-seizure",
        "unequipped-circuit",
        "circuit-reset-burst",
        "blocked-circuit-attempt",
        "release-not-acknowledged",
        "release-collision",
    }
)
#: Faults that act on one trunk in a time window (count-based, ``trunk`` picks one trunk).
BURST_FAULTS = frozenset(
    {
        "circuit-reset-burst",
        "blocked-circuit-attempt",
        "congestion-burst",
        "short-answered-calls",
        "trunk-loss-rate",
        "repeat-attempts",
    }
)
#: Faults scheduled as circuit events rather than as calls.
EVENT_FAULTS = frozenset({"circuit-reset-burst", "blocked-circuit-attempt"})

CALLING_ANOMALIES = (
    "nai-spare",
    "nai-reserved",
    "plan-spare",
    "international-with-trunk-prefix",
    "national-with-international-prefix",
    "subscriber-too-long",
    "too-short",
    "missing",
)


@dataclass(frozen=True, slots=True)
class FaultSpec:
    """One injected fault (``type`` is the id of the rule that should find it)."""

    type: str
    rate: float = 0.0
    count: int = 0
    start_s: float | None = None
    end_s: float | None = None
    trunks: tuple[str, ...] = ()
    params: Mapping[str, Any] = field(default_factory=dict)
    line: int = 0

    def p(self, key: str, default: Any = None) -> Any:
        """A type-specific parameter, else ``default``, else the documented default of the type."""
        if key in self.params:
            return self.params[key]
        if default is not None:
            return default
        spec = FAULT_PARAMS.get(self.type, {}).get(key)
        return spec[1] if spec is not None else None


#: Type-specific fault parameters: name -> (kind, default) where kind checks the value.
FAULT_PARAMS: dict[str, dict[str, tuple[str, Any]]] = {
    "incomplete-digit-collection": {
        "gap_ms": ("dist", Dist.uniform(2.0, 40.0)),
        "crossing_share": ("share", 0.25),
        "cause": ("cause", 38),
        "location": ("int4", 3),
        "iam_digits": ("irange", (6, 8)),
        "sams": ("irange", (1, 2)),
        "final_st": ("share", 0.0),
        "calling": ("digits", None),
        "calling_nai": ("nai", 3),
        "called_prefix": ("digits", None),
        "called_length": ("int", None),
    },
    "t35-expiry": {
        "t35_s": ("dist", Dist.uniform(15.0, 20.0)),
        "iam_digits": ("irange", (4, 7)),
        "sams": ("irange", (0, 2)),
    },
    "t7-expiry": {
        "t7_s": ("dist", Dist.uniform(20.0, 30.0)),
        "cause": ("cause", 102),
        "location": ("int4", 2),
    },
    "release-not-acknowledged": {
        "t1_s": ("dist", Dist.uniform(10.0, 15.0)),
        "repeats": ("irange", (1, 2)),
        "then": ("choice:rlc,rsc,none", "rlc"),
        "t5_s": ("dist", Dist.fixed(300.0)),
        "outcome": ("outcome", "answered"),
    },
    "release-collision": {"gap_ms": ("dist", Dist.uniform(0.2, 3.0)), "outcome": ("outcome", "answered")},
    "dual-seizure": {"retry_ms": ("dist", Dist.uniform(50.0, 500.0))},
    "unequipped-circuit": {"retry_ms": ("dist", Dist.uniform(20.0, 300.0))},
    "circuit-reset-burst": {
        "rsc": ("int", 8),
        "grs": ("int", 1),
        "grs_range": ("irange", (8, 16)),
        "spread_s": ("num", 5.0),
        "from": ("choice:opc,dpc", "dpc"),
    },
    "blocked-circuit-attempt": {
        "circuits": ("int", 1),
        "group": ("bool", False),
        "blocked_s": ("num", 120.0),
        "attempts": ("int", 1),
        "cause": ("cause", 44),
        "from": ("choice:opc,dpc", "dpc"),
    },
    "congestion-burst": {
        "duration_s": ("num", 30.0),
        "causes": ("causes", (34, 42)),
        "release_ms": ("dist", Dist.uniform(20.0, 400.0)),
    },
    "calling-number-anomaly": {"kinds": ("anomalies", CALLING_ANOMALIES), "outcome": ("outcome", None)},
    "repeat-attempts": {
        "attempts": ("irange", (4, 6)),
        "interval_s": ("dist", Dist.uniform(5.0, 30.0)),
        "outcome": ("outcome", "user_busy"),
        "number": ("digits", None),
        "duration_s": ("num", 300.0),
    },
    "hung-call": {},
    "unallocated-valid-prefix": {"called_prefix": ("digits", None), "called_length": ("int", None)},
    "short-answered-calls": {"duration_s": ("num", 60.0), "conversation_s": ("dist", Dist.uniform(0.5, 3.0))},
    "orphan-message": {},
    "confusion": {"cause": ("cause", 97), "outcome": ("outcome", "answered")},
    "hop-counter-exhausted": {"hop_counter": ("int", 1)},
    "trunk-loss-rate": {"duration_s": ("num", 300.0), "causes": ("causes", (41, 27, 3, 38, 47))},
}
