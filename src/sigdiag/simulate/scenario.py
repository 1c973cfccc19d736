"""The scenario of ``sigdiag simulate``: its schema (trunks, traffic, numbers, outcomes, faults, capture),
its defaults, and the choice of the capture format.

A scenario is a YAML mapping (documented in ``docs/scenario.md``) with the sections ``trunks``,
``traffic``, ``numbers``, ``outcomes``, ``faults`` and ``capture``.  Every section is optional; what is
missing comes from the defaults here and in :func:`sigdiag.simulate.scenario_parse.default_scenario`.
This module holds the frozen value types; the other parts of a scenario have their own modules:
:mod:`sigdiag.simulate.dist` (random durations), :mod:`sigdiag.simulate.faults` (the fault catalogue),
:mod:`sigdiag.simulate.scenario_yaml` (reading the file with line numbers) and
:mod:`sigdiag.simulate.scenario_parse` (checking it: :func:`~sigdiag.simulate.scenario_parse.load_scenario`
raises :class:`ScenarioError` with ``"<file>:<line>: <where>: <problem>"`` for the first thing that is
wrong, so that ``sigdiag simulate`` can print one clear line and exit with code 2).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sigdiag.simulate.dist import Dist
from sigdiag.simulate.faults import (
    CIRCUIT_FAULTS,
    FAULT_TYPES,
    FaultSpec,
)

__all__ = [
    "CARRIERS",
    "CIRCUIT_FAULTS",
    "FAULT_TYPES",
    "OUTCOME_KINDS",
    "CaptureSpec",
    "Dist",
    "FaultSpec",
    "NumberPattern",
    "OutcomeEntry",
    "Scenario",
    "ScenarioError",
    "TrafficSpec",
    "TrunkSpec",
    "resolve_format",
]

CARRIERS = ("m3ua", "m2pa", "m2ua", "mtp2", "bicc", "sip-i")
PROTOCOLS = ("isup", "bicc")
VARIANTS = ("itu", "ansi")
PC_FORMATS = ("itu", "ansi", "china", "japan")
PC_BITS = {"itu": 14, "ansi": 24, "china": 24, "japan": 16}

#: Outcome mix keys: name -> (class, default cause, who releases, phase of the release).
OUTCOME_KINDS: dict[str, tuple[str, int, str]] = {
    "answered": ("answered", 16, "either"),
    "user_busy": ("subscriber", 17, "called"),
    "no_user_responding": ("subscriber", 18, "called"),
    "no_answer": ("subscriber", 19, "called"),
    "subscriber_absent": ("subscriber", 20, "called"),
    "rejected": ("subscriber", 21, "called"),
    "number_changed": ("subscriber", 22, "called"),
    "caller_abandon": ("caller", 16, "calling"),
    "misdial": ("caller", 1, "called"),
    "network": ("network", 0, "called"),
}


class ScenarioError(ValueError):
    """A scenario file is wrong: the message is ``<file>:<line>: <where>: <problem>``."""


@dataclass(frozen=True, slots=True)
class NumberPattern:
    """Numbers made of ``prefix`` plus random digits up to ``length`` (or ``prefix`` alone when it is
    that long), with the Q.763 address attributes used for them."""

    prefix: str
    length: int
    weight: float = 1.0
    nai: int = 3
    plan: int = 1
    screening: int = 3
    presentation: int = 0
    #: (nature of address, numbering plan, screening, presentation) of a calling number
    attrs: tuple[int, int, int, int] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "attrs", (self.nai, self.plan, self.screening, self.presentation))


@dataclass(frozen=True, slots=True)
class TrunkSpec:
    """One trunk (a route between two signalling points) and how it is carried."""

    name: str
    carrier: str = "m3ua"
    protocol: str = "isup"
    variant: str = "itu"
    pc_format: str = "itu"
    opc: int = 1
    dpc: int = 2
    ni: int = 2
    cics: tuple[tuple[int, int], ...] = ((1, 1023),)
    weight: float = 1.0
    ip_version: int = 4
    a_ip: str = ""
    b_ip: str = ""
    stp_ip: str = ""
    vlan: int | None = None
    sport: int = 0
    dport: int = 0
    streams: int = 16
    routing_context: int | None = None
    network_appearance: int | None = None
    hops: int = 1
    hop_delay_ms: Dist = field(default_factory=lambda: Dist.uniform(0.2, 2.0))
    m2ua_interface: int = 0
    mtp2_fcs: bool = False
    hop_counter: int | None = None
    called: tuple[NumberPattern, ...] = ()
    calling: tuple[NumberPattern, ...] = ()
    line: int = 0


@dataclass(frozen=True, slots=True)
class TrafficSpec:
    """Arrivals, timing and digit sending of healthy calls."""

    cps: float = 20.0
    busy_hours: tuple[tuple[int, int], ...] = ()  # (start minute, end minute) of the day
    off_peak: float = 1.0
    holding_s: Dist = field(default_factory=lambda: Dist("lognormal", 60.0, 1.0, 5.0, 3600.0))
    pdd_ms: Dist = field(default_factory=lambda: Dist("lognormal", 1500.0, 0.5, 200.0, 8000.0))
    alert_ms: Dist = field(default_factory=lambda: Dist.uniform(50.0, 800.0))
    ring_s: Dist = field(default_factory=lambda: Dist("lognormal", 8.0, 0.6, 1.0, 50.0))
    no_answer_s: Dist = field(default_factory=lambda: Dist.uniform(30.0, 60.0))
    abandon_s: Dist = field(default_factory=lambda: Dist.uniform(2.0, 25.0))
    early_release_ms: Dist = field(default_factory=lambda: Dist("lognormal", 1200.0, 0.6, 100.0, 10000.0))
    response_ms: Dist = field(default_factory=lambda: Dist.uniform(2.0, 30.0))
    caller_releases: float = 0.55
    early_abandon: float = 0.2
    cpg_share: float = 0.3
    con_share: float = 0.02
    overlap_share: float = 0.0
    iam_digits: tuple[int, int] = (4, 8)
    sams: tuple[int, int] = (1, 3)
    inter_digit_ms: Dist = field(default_factory=lambda: Dist("lognormal", 600.0, 0.5, 150.0, 4000.0))
    final_st: float = 0.5
    en_bloc_st: float = 1.0
    min_release_after_sam_ms: float = 1500.0
    line: int = 0


@dataclass(frozen=True, slots=True)
class OutcomeEntry:
    """One entry of the outcome mix: kind (a key of :data:`OUTCOME_KINDS`), weight and cause value."""

    kind: str
    weight: float
    cause: int


@dataclass(frozen=True, slots=True)
class CaptureSpec:
    """Capture window and realism options."""

    start: float = 1709254800.0  # 2024-03-01T09:00:00+08:00
    utc_offset_s: float = 8 * 3600.0  # local time of the busy hours
    warmup_s: float = 0.0
    end: str = "drain"  # drain | cut
    tail_s: float = 2.0
    jitter_share: float = 0.0
    jitter_max_ms: float = 3.0
    format: str | None = None  # pcap | pcapng; None: from the output name (.pcapng) or pcap
    line: int = 0


@dataclass(frozen=True, slots=True)
class Scenario:
    """A whole scenario (see ``docs/scenario.md``)."""

    name: str = "default"
    description: str = ""
    calls: int = 1000
    duration_s: float | None = None
    trunks: tuple[TrunkSpec, ...] = ()
    traffic: TrafficSpec = field(default_factory=TrafficSpec)
    called: tuple[NumberPattern, ...] = ()
    calling: tuple[NumberPattern, ...] = ()
    outcomes: tuple[OutcomeEntry, ...] = ()
    faults: tuple[FaultSpec, ...] = ()
    capture: CaptureSpec = field(default_factory=CaptureSpec)
    source: str = "<default>"

    def trunk(self, name: str) -> TrunkSpec:
        for t in self.trunks:
            if t.name == name:
                return t
        raise KeyError(name)


# --------------------------------------------------------------------------------------------------
# Defaults

#: The default outcome mix: kind, weight, cause value.
DEFAULT_OUTCOMES: tuple[OutcomeEntry, ...] = tuple(
    OutcomeEntry(kind, float(weight), int(cause))
    for kind, weight, cause in map(
        str.split,
        """
        answered            0.62   16
        user_busy           0.11   17
        no_answer           0.09   19
        no_user_responding  0.01   18
        subscriber_absent   0.03   20
        rejected            0.01   21
        number_changed      0.002  22
        caller_abandon      0.08   16
        misdial             0.02   1
        network             0.004  34
        network             0.003  41
        network             0.002  3
        network             0.001  27
        """.strip().splitlines(),
    )
)


def _patterns(weights: dict[str, float], length: int = 11) -> tuple[NumberPattern, ...]:
    """Number patterns of one length from ``{prefix: weight}``."""
    return tuple(NumberPattern(prefix, length, weight) for prefix, weight in weights.items())


DEFAULT_CALLED = _patterns({"0453": 3.0, "010": 4.0, "021": 3.0, "138": 4.0, "0755": 2.0})
DEFAULT_CALLING = _patterns({"010": 3.0, "0451": 2.0, "139": 3.0, "02": 2.0})


def resolve_format(scenario: Scenario, fmt: str | None, out: str | Path) -> str:
    """The capture format: ``fmt`` (CLI), else the scenario's ``capture.format``, else ``pcapng`` for an
    output name ending in ``.pcapng``, else ``pcap``.  MTP2 trunks (link type 140) cannot share a classic
    pcap file with IP trunks: that is a :class:`ScenarioError`."""
    chosen = fmt or scenario.capture.format or ("pcapng" if str(out).lower().endswith(".pcapng") else "pcap")
    if chosen not in ("pcap", "pcapng"):
        raise ScenarioError(f"format must be pcap or pcapng, not {chosen!r}")
    kinds = {t.carrier == "mtp2" for t in scenario.trunks}
    if chosen == "pcap" and len(kinds) == 2:
        raise ScenarioError(
            f"{scenario.source}: MTP2 trunks (link type 140) and IP trunks cannot share a classic pcap file; "
            "use --format pcapng (or capture.format: pcapng)"
        )
    if chosen == "pcap":
        mtp2 = {(t.pc_format, t.variant) for t in scenario.trunks if t.carrier == "mtp2"}
        if len(mtp2) > 1:
            raise ScenarioError(
                f"{scenario.source}: MTP2 trunks with different point-code formats or variants need one "
                "interface each: use --format pcapng"
            )
    return chosen
