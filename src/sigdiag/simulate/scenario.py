"""Scenario files for ``sigdiag simulate``: schema, defaults and a loader whose errors name the line.

A scenario is a YAML mapping (documented in ``docs/scenario.md``) with the sections ``trunks``,
``traffic``, ``numbers``, ``outcomes``, ``faults`` and ``capture``.  Every section is optional; what is
missing comes from :func:`default_scenario`.  :func:`load_scenario` checks every key and value and
raises :class:`ScenarioError` with ``"<file>:<line>: <where>: <problem>"`` for the first thing that is
wrong, so that ``sigdiag simulate`` can print one clear line and exit with code 2.

Durations are :class:`Dist` values: a number (fixed), ``[min, max]`` (uniform), or a mapping
``{dist: lognormal|exponential|uniform|fixed, median|mean|value, sigma, min, max}``; the unit is in
the key's name (``_s`` seconds, ``_ms`` milliseconds).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

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
    "default_scenario",
    "load_scenario",
    "parse_scenario",
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

_NAI_NAMES = {"subscriber": 1, "unknown": 2, "national": 3, "international": 4}
_PLAN_NAMES = {"unknown": 0, "isdn": 1, "data": 3, "telex": 4, "private": 5}


class ScenarioError(ValueError):
    """A scenario file is wrong: the message is ``<file>:<line>: <where>: <problem>``."""


# --------------------------------------------------------------------------------------------------
# Value types


@dataclass(frozen=True, slots=True)
class Dist:
    """A random quantity: fixed, uniform, lognormal (median, sigma) or exponential (mean), clamped to
    ``[lo, hi]``.  Units are those of the key that holds it (seconds or milliseconds)."""

    kind: str = "fixed"
    a: float = 0.0
    b: float = 0.0
    lo: float = 0.0
    hi: float = math.inf

    @staticmethod
    def fixed(value: float) -> Dist:
        return Dist("fixed", value, value, value, value)

    @staticmethod
    def uniform(lo: float, hi: float) -> Dist:
        return Dist("uniform", lo, hi, lo, hi)

    def sampler(self, rng: random.Random, scale: float = 1.0) -> Callable[[], int]:
        """A function drawing one value, multiplied by ``scale`` and rounded to an integer (used with
        scale 1e6 for seconds to microseconds, 1e3 for milliseconds to microseconds).

        Lognormal draws use a 4096-point inverse-CDF table with linear interpolation (one
        ``random()`` per draw); exponential draws invert the CDF directly.
        """
        lo, hi = self.lo * scale, self.hi * scale
        r = rng.random
        if self.kind == "fixed":
            v = round(self.a * scale)
            return lambda: v
        if self.kind == "uniform":
            a, width = self.a * scale, (self.b - self.a) * scale
            return lambda: round(a + width * r())
        if self.kind == "lognormal":
            table = _lognormal_table(self.a * scale, self.b, lo, hi)
            n = len(table) - 1

            def draw_lognormal() -> int:
                x = r() * n
                k = int(x)
                a = table[k]
                return round(a + (table[k + 1] - a) * (x - k))

            return draw_lognormal
        mean = self.a * scale
        log = math.log

        def draw_exponential() -> int:
            v = -mean * log(1.0 - r())
            return round(lo if v < lo else hi if v > hi else v)

        return draw_exponential


_TABLE_POINTS = 4096


def _lognormal_table(median: float, sigma: float, lo: float, hi: float) -> list[float]:
    """Quantiles of a lognormal distribution at (i + 0.5) / N, clamped to [lo, hi], plus the last again."""
    from statistics import NormalDist

    nd = NormalDist()
    out = []
    for i in range(_TABLE_POINTS):
        v = median * math.exp(sigma * nd.inv_cdf((i + 0.5) / _TABLE_POINTS))
        out.append(lo if v < lo else hi if v > hi else v)
    out.append(out[-1])
    return out


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
        spec = _FAULT_PARAMS.get(self.type, {}).get(key)
        return spec[1] if spec is not None else None


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

DEFAULT_OUTCOMES: tuple[OutcomeEntry, ...] = (
    OutcomeEntry("answered", 0.62, 16),
    OutcomeEntry("user_busy", 0.11, 17),
    OutcomeEntry("no_answer", 0.09, 19),
    OutcomeEntry("no_user_responding", 0.01, 18),
    OutcomeEntry("subscriber_absent", 0.03, 20),
    OutcomeEntry("rejected", 0.01, 21),
    OutcomeEntry("number_changed", 0.002, 22),
    OutcomeEntry("caller_abandon", 0.08, 16),
    OutcomeEntry("misdial", 0.02, 1),
    OutcomeEntry("network", 0.004, 34),
    OutcomeEntry("network", 0.003, 41),
    OutcomeEntry("network", 0.002, 3),
    OutcomeEntry("network", 0.001, 27),
)

DEFAULT_CALLED: tuple[NumberPattern, ...] = (
    NumberPattern("0453", 11, 3.0),
    NumberPattern("010", 11, 4.0),
    NumberPattern("021", 11, 3.0),
    NumberPattern("138", 11, 4.0),
    NumberPattern("0755", 11, 2.0),
)
DEFAULT_CALLING: tuple[NumberPattern, ...] = (
    NumberPattern("010", 11, 3.0),
    NumberPattern("0451", 11, 2.0),
    NumberPattern("139", 11, 3.0),
    NumberPattern("02", 11, 2.0),
)


#: The trunks used when a scenario has no ``trunks`` section.
DEFAULT_TRUNKS: list[dict[str, Any]] = [
    {
        "name": "isup-m3ua",
        "carrier": "m3ua",
        "protocol": "isup",
        "pc_format": "itu",
        "opc": 2061,
        "dpc": 2089,
        "cics": "1-1023",
        "routing_context": 10,
    },
    {
        "name": "bicc-m3ua",
        "carrier": "m3ua",
        "protocol": "bicc",
        "pc_format": "china",
        "opc": "10-27-44",
        "dpc": "10-27-61",
        "cics": "1-4000",
    },
]


def default_scenario() -> Scenario:
    """The mix used without a scenario file: healthy traffic (no faults) on two M3UA trunks, one ISUP
    with ITU 14-bit point codes and one BICC with China 24-bit point codes, 20 calls/s, 1000 calls."""
    return replace(
        parse_scenario({}, "<default>"), name="default", description="healthy traffic, default mix"
    )


# --------------------------------------------------------------------------------------------------
# YAML with line numbers


class _LMap(dict[Any, Any]):
    """A mapping from the YAML file that remembers the line of itself and of each key."""

    line: int
    lines: dict[Any, int]


class _LList(list[Any]):
    """A sequence from the YAML file that remembers the line of itself and of each item."""

    line: int
    lines: list[int]


def _yaml_load(text: str, source: str) -> Any:
    import yaml

    from sigdiag.settings import ConfigError, load_yaml, yaml_loader_class

    # bounded (size, nesting depth, alias expansion: sigdiag.settings.YamlLimits), safe tags only
    class Loader(yaml_loader_class()):  # type: ignore[misc]
        pass

    def mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> _LMap:
        loader.flatten_mapping(node)
        out = _LMap()
        out.line = node.start_mark.line + 1
        out.lines = {}
        for knode, vnode in node.value:
            key = loader.construct_object(knode, deep=True)
            line = knode.start_mark.line + 1
            try:
                hash(key)
            except TypeError:
                raise ScenarioError(f"{source}:{line}: a mapping key must be a plain value") from None
            if key in out:
                raise ScenarioError(
                    f"{source}:{line}: duplicate key {key!r} (first on line {out.lines[key]})"
                )
            out[key] = loader.construct_object(vnode, deep=True)
            out.lines[key] = line
        return out

    def sequence(loader: yaml.SafeLoader, node: yaml.SequenceNode) -> _LList:
        out = _LList()
        out.line = node.start_mark.line + 1
        out.lines = []
        for item in node.value:
            out.append(loader.construct_object(item, deep=True))
            out.lines.append(item.start_mark.line + 1)
        return out

    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, sequence)
    try:
        return load_yaml(text, source, loader=Loader)
    except ConfigError as exc:
        raise ScenarioError(str(exc)) from None


class _Ctx:
    """Where we are in the file, for error messages."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, line: int, where: str, problem: str) -> ScenarioError:
        loc = f"{self.source}:{line}" if line else self.source
        return ScenarioError(f"{loc}: {where}: {problem}" if where else f"{loc}: {problem}")


def _line_of(container: Any, key: Any, default: int = 0) -> int:
    if isinstance(container, _LMap):
        return container.lines.get(key, container.line)
    if isinstance(container, _LList) and isinstance(key, int) and 0 <= key < len(container.lines):
        return container.lines[key]
    return default


class _Section:
    """Typed access to one mapping of the file; every key must be consumed or it is reported."""

    def __init__(self, ctx: _Ctx, data: Any, where: str, line: int) -> None:
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ctx.fail(line, where, f"expected a mapping, got {_kind(data)}")
        self.ctx = ctx
        self.data: dict[Any, Any] = data
        self.where = where
        self.line = getattr(data, "line", line)
        self.used: set[Any] = set()

    def key_line(self, key: str) -> int:
        return _line_of(self.data, key, self.line)

    def path(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def fail(self, key: str, problem: str) -> ScenarioError:
        return self.ctx.fail(self.key_line(key), self.path(key), problem)

    def has(self, key: str) -> bool:
        return key in self.data

    def raw(self, key: str, default: Any = None) -> Any:
        self.used.add(key)
        return self.data.get(key, default)

    def number(self, key: str, default: float, lo: float = -math.inf, hi: float = math.inf) -> float:
        v = self.raw(key, None)
        if v is None:
            return default
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise self.fail(key, f"expected a number, got {_kind(v)}")
        if not lo <= v <= hi:
            raise self.fail(key, f"{v} is out of range [{lo}, {hi}]")
        return float(v)

    def integer(self, key: str, default: int, lo: int = -(1 << 62), hi: int = 1 << 62) -> int:
        v = self.raw(key, None)
        if v is None:
            return default
        if isinstance(v, bool) or not isinstance(v, int):
            raise self.fail(key, f"expected an integer, got {_kind(v)}")
        if not lo <= v <= hi:
            raise self.fail(key, f"{v} is out of range [{lo}, {hi}]")
        return v

    def opt_integer(self, key: str, lo: int = 0, hi: int = 1 << 62) -> int | None:
        if self.data.get(key) is None:
            self.used.add(key)
            return None
        return self.integer(key, 0, lo, hi)

    def share(self, key: str, default: float) -> float:
        return self.number(key, default, 0.0, 1.0)

    def boolean(self, key: str, default: bool) -> bool:
        v = self.raw(key, None)
        if v is None:
            return default
        if not isinstance(v, bool):
            raise self.fail(key, f"expected true or false, got {_kind(v)}")
        return v

    def text(self, key: str, default: str, choices: Sequence[str] | None = None) -> str:
        v = self.raw(key, None)
        if v is None:
            return default
        if not isinstance(v, str | int) or isinstance(v, bool):
            raise self.fail(key, f"expected text, got {_kind(v)}")
        v = str(v)
        if choices is not None and v not in choices:
            raise self.fail(key, f"must be one of {', '.join(choices)}, not {v!r}")
        return v

    def int_range(
        self, key: str, default: tuple[int, int], lo: int = 0, hi: int = 1 << 30
    ) -> tuple[int, int]:
        """An integer or ``[min, max]``."""
        v = self.raw(key, None)
        if v is None:
            return default
        if isinstance(v, int) and not isinstance(v, bool):
            a = b = v
        elif (
            isinstance(v, list)
            and len(v) == 2
            and all(isinstance(x, int) and not isinstance(x, bool) for x in v)
        ):
            a, b = v
        else:
            raise self.fail(key, f"expected an integer or [min, max], got {_kind(v)}")
        if not lo <= a <= b <= hi:
            raise self.fail(key, f"[{a}, {b}] must satisfy {lo} <= min <= max <= {hi}")
        return a, b

    def dist(self, key: str, default: Dist, positive: bool = True) -> Dist:
        if key not in self.data:
            return default
        return _parse_dist(self.ctx, self.raw(key), self.path(key), self.key_line(key), positive)

    def section(self, key: str) -> _Section:
        return _Section(self.ctx, self.raw(key), self.path(key), self.key_line(key))

    def finish(self, extra_known: Sequence[str] = ()) -> None:
        unknown = [k for k in self.data if k not in self.used and k not in extra_known]
        if unknown:
            k = unknown[0]
            known = sorted({str(x) for x in self.used} | set(extra_known))
            raise self.ctx.fail(
                _line_of(self.data, k, self.line),
                self.path(str(k)),
                f"unknown key; known keys here: {', '.join(known)}",
            )


def _kind(v: Any) -> str:
    if v is None:
        return "nothing"
    if isinstance(v, bool):
        return f"a boolean ({v})"
    if isinstance(v, dict):
        return "a mapping"
    if isinstance(v, list):
        return "a list"
    if isinstance(v, str):
        return f"text {v!r}"
    return f"{type(v).__name__} {v!r}"


def _parse_dist(ctx: _Ctx, v: Any, where: str, line: int, positive: bool) -> Dist:
    def num(x: Any, what: str) -> float:
        if isinstance(x, bool) or not isinstance(x, int | float):
            raise ctx.fail(line, where, f"{what}: expected a number, got {_kind(x)}")
        if x < 0 or (positive and what in ("median", "mean") and x <= 0):
            raise ctx.fail(line, where, f"{what} must be positive, got {x}")
        return float(x)

    if isinstance(v, int | float) and not isinstance(v, bool):
        return Dist.fixed(num(v, "value"))
    if isinstance(v, list):
        if len(v) != 2:
            raise ctx.fail(line, where, "a uniform range is [min, max]")
        a, b = num(v[0], "min"), num(v[1], "max")
        if a > b:
            raise ctx.fail(line, where, f"min {a} is greater than max {b}")
        return Dist.uniform(a, b)
    if isinstance(v, dict):
        s = _Section(ctx, v, where, line)
        kind = s.text("dist", "lognormal", ("fixed", "uniform", "lognormal", "exponential"))
        lo = s.number("min", 0.0, 0.0)
        hi = s.number("max", math.inf, 0.0)
        if lo > hi:
            raise s.fail("min", f"min {lo} is greater than max {hi}")
        if kind == "fixed":
            value = s.number("value", -1.0, 0.0)
            if value < 0:
                raise ctx.fail(line, where, "a fixed distribution needs 'value'")
            s.finish()
            return Dist.fixed(value)
        if kind == "uniform":
            if not (s.has("min") and s.has("max")):
                raise ctx.fail(line, where, "a uniform distribution needs 'min' and 'max'")
            s.finish()
            return Dist.uniform(lo, hi)
        if kind == "lognormal":
            median = s.number("median", 0.0, 0.0)
            if median <= 0:
                raise ctx.fail(line, where, "a lognormal distribution needs a positive 'median'")
            sigma = s.number("sigma", 0.5, 0.0, 5.0)
            s.finish()
            return Dist("lognormal", median, sigma, lo, hi)
        mean = s.number("mean", 0.0, 0.0)
        if mean <= 0:
            raise ctx.fail(line, where, "an exponential distribution needs a positive 'mean'")
        s.finish()
        return Dist("exponential", mean, 0.0, lo, hi)
    raise ctx.fail(line, where, f"expected a number, [min, max] or a distribution mapping, got {_kind(v)}")


# --------------------------------------------------------------------------------------------------
# Sections


def _parse_pc(s: _Section, key: str, pc_format: str, default: int) -> int:
    v = s.raw(key, None)
    if v is None:
        return default
    bits = PC_BITS[pc_format]
    if isinstance(v, int) and not isinstance(v, bool):
        value = v
    elif isinstance(v, str):
        from sigdiag.carrier.mtp import parse_pc

        try:
            value = parse_pc(v, pc_format)
        except ValueError as exc:
            raise s.fail(key, str(exc)) from None
    else:
        raise s.fail(key, f"expected a point code (decimal or structured text), got {_kind(v)}")
    if not 0 <= value < (1 << bits):
        raise s.fail(key, f"point code {value} does not fit the {bits} bits of the {pc_format} format")
    return value


def _parse_cics(
    s: _Section, key: str, default: tuple[tuple[int, int], ...], bits: int
) -> tuple[tuple[int, int], ...]:
    v = s.raw(key, None)
    if v is None:
        return default
    items = v if isinstance(v, list) else [v]
    out: list[tuple[int, int]] = []
    for item in items:
        if isinstance(item, int) and not isinstance(item, bool):
            a = b = item
        elif (
            isinstance(item, str)
            and item.replace(" ", "").replace("-", "").isdigit()
            and item.count("-") <= 1
        ):
            parts = item.replace(" ", "").split("-")
            a, b = int(parts[0]), int(parts[-1])
        else:
            raise s.fail(
                key, f"expected a CIC range like '1-960', an integer, or a list of them; got {_kind(item)}"
            )
        if not 0 <= a <= b < (1 << bits):
            raise s.fail(key, f"CIC range {a}-{b} must be within 0-{(1 << bits) - 1}")
        out.append((a, b))
    out.sort()
    for (_, b1), (a2, _) in pairwise(out):
        if a2 <= b1:
            raise s.fail(key, "CIC ranges overlap")
    total = sum(b - a + 1 for a, b in out)
    if total > 200_000:
        raise s.fail(key, f"{total} circuits is too many for one trunk (at most 200000)")
    return tuple(out)


def _enum_or_int(s: _Section, key: str, default: int, names: Mapping[str, int], hi: int) -> int:
    v = s.raw(key, None)
    if v is None:
        return default
    if isinstance(v, str) and v in names:
        return names[v]
    if isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= hi:
        return v
    raise s.fail(key, f"expected one of {', '.join(names)} or an integer 0-{hi}, got {_kind(v)}")


def _parse_numbers(ctx: _Ctx, v: Any, where: str, line: int) -> tuple[NumberPattern, ...]:
    if not isinstance(v, list) or not v:
        raise ctx.fail(line, where, "expected a non-empty list of number patterns")
    out = []
    for i, item in enumerate(v):
        s = _Section(ctx, item, f"{where}[{i}]", _line_of(v, i, line))
        prefix = s.text("prefix", "")
        if not all(c in "0123456789ABCDEabcde" for c in prefix):
            raise s.fail("prefix", f"digits only, got {prefix!r}")
        length = s.integer("length", max(len(prefix), 1), 0, 40)
        if length < len(prefix):
            raise s.fail("length", f"length {length} is shorter than the prefix {prefix!r}")
        pat = NumberPattern(
            prefix=prefix.upper(),
            length=length,
            weight=s.number("weight", 1.0, 0.0),
            nai=_enum_or_int(s, "nai", 3, _NAI_NAMES, 127),
            plan=_enum_or_int(s, "plan", 1, _PLAN_NAMES, 7),
            screening=s.integer("screening", 3, 0, 3),
            presentation=s.integer("presentation", 0, 0, 3),
        )
        s.finish()
        out.append(pat)
    if sum(p.weight for p in out) <= 0:
        raise ctx.fail(line, where, "the weights add up to zero")
    return tuple(out)


def _parse_trunk(ctx: _Ctx, item: Any, i: int, line: int, names: set[str]) -> TrunkSpec:
    s = _Section(ctx, item, f"trunks[{i}]", line)
    name = s.text("name", f"trunk{i + 1}")
    if name in names:
        raise s.fail("name", f"trunk name {name!r} is used twice")
    s.where = f"trunks[{i}] ({name})"
    carrier = s.text("carrier", "m3ua", CARRIERS)
    protocol = s.text("protocol", "bicc" if carrier == "bicc" else "isup", PROTOCOLS)
    if carrier == "bicc" and protocol != "bicc":
        raise s.fail("protocol", "carrier bicc (BICC directly on SCTP) carries protocol bicc")
    variant = s.text("variant", "itu", VARIANTS)
    if protocol == "bicc" and variant != "itu":
        raise s.fail("variant", "BICC uses the ITU message formats")
    pc_format = s.text("pc_format", "ansi" if variant == "ansi" else "itu", PC_FORMATS)
    opc = _parse_pc(s, "opc", pc_format, 1 + 2 * i)
    dpc = _parse_pc(s, "dpc", pc_format, 2 + 2 * i)
    if opc == dpc:
        raise s.fail("dpc", "OPC and DPC are the same point code")
    cic_bits = 32 if protocol == "bicc" else (14 if variant == "ansi" else 12)
    default_hi = 4000 if protocol == "bicc" else (1 << cic_bits) - 1
    cics = _parse_cics(s, "cics", ((1, default_hi),), cic_bits)
    ipv = s.integer("ip_version", 4, 4, 6)
    if ipv not in (4, 6):
        raise s.fail("ip_version", "4 or 6")
    default_a = f"10.{(i // 250) % 250}.{i % 250}.1" if ipv == 4 else f"2001:db8:{i:x}::1"
    default_b = f"10.{(i // 250) % 250}.{i % 250}.2" if ipv == 4 else f"2001:db8:{i:x}::2"
    default_stp = f"10.{(i // 250) % 250}.{i % 250}.254" if ipv == 4 else f"2001:db8:{i:x}::fe"
    ip = s.section("ip")
    a_ip = ip.text("a", default_a)
    b_ip = ip.text("b", default_b)
    stp_ip = ip.text("stp", default_stp)
    vlan = ip.opt_integer("vlan", 0, 4095)
    ip.finish()
    import ipaddress

    for key, addr in (("a", a_ip), ("b", b_ip), ("stp", stp_ip)):
        try:
            parsed = ipaddress.ip_address(addr)
        except ValueError:
            raise ip.fail(key, f"not an IP address: {addr!r}") from None
        if parsed.version != ipv:
            raise ip.fail(key, f"{addr} is not an IPv{ipv} address (ip_version is {ipv})")
    default_port = {"m3ua": 2905, "m2pa": 3565, "m2ua": 2904, "bicc": 9900, "sip-i": 5060, "mtp2": 0}[carrier]
    sport = s.integer("sport", default_port, 0, 65535)
    dport = s.integer("dport", default_port, 0, 65535)
    streams = s.integer("streams", 16, 2, 65535)
    hops = s.integer("hops", 1, 1, 2)
    trunk = TrunkSpec(
        name=name,
        carrier=carrier,
        protocol=protocol,
        variant=variant,
        pc_format=pc_format,
        opc=opc,
        dpc=dpc,
        ni=s.integer("ni", 2, 0, 3),
        cics=cics,
        weight=s.number("weight", 1.0, 0.0),
        ip_version=ipv,
        a_ip=a_ip,
        b_ip=b_ip,
        stp_ip=stp_ip,
        vlan=vlan,
        sport=sport,
        dport=dport,
        streams=streams,
        routing_context=s.opt_integer("routing_context", 0, 0xFFFFFFFF),
        network_appearance=s.opt_integer("network_appearance", 0, 0xFFFFFFFF),
        hops=hops,
        hop_delay_ms=s.dist("hop_delay_ms", Dist.uniform(0.2, 2.0)),
        m2ua_interface=s.integer("m2ua_interface", i, 0, 0xFFFFFFFF),
        mtp2_fcs=s.boolean("mtp2_fcs", False),
        hop_counter=s.opt_integer("hop_counter", 0, 31),
        called=_parse_numbers(ctx, s.raw("called"), s.path("called"), s.key_line("called"))
        if s.has("called")
        else (),
        calling=(
            _parse_numbers(ctx, s.raw("calling"), s.path("calling"), s.key_line("calling"))
            if s.has("calling")
            else ()
        ),
        line=s.line,
    )
    s.finish()
    names.add(name)
    return trunk


def _parse_busy_hours(s: _Section, key: str) -> tuple[tuple[int, int], ...]:
    v = s.raw(key, None)
    if v is None:
        return ()
    if not isinstance(v, list):
        raise s.fail(key, "expected a list of 'HH:MM-HH:MM' periods")
    out = []
    for item in v:
        text = str(item).replace(" ", "")
        try:
            a, b = text.split("-")
            ah, am = [*a.split(":"), "0"][:2]
            bh, bm = [*b.split(":"), "0"][:2]
            start, end = int(ah) * 60 + int(am), int(bh) * 60 + int(bm)
        except ValueError:
            raise s.fail(key, f"expected 'HH:MM-HH:MM', got {item!r}") from None
        if not (0 <= start < end <= 24 * 60):
            raise s.fail(key, f"period {item!r} must lie within one day, start before end")
        out.append((start, end))
    return tuple(out)


def _parse_traffic(ctx: _Ctx, v: Any, line: int) -> TrafficSpec:
    s = _Section(ctx, v, "traffic", line)
    d = TrafficSpec()
    ov = s.section("overlap")
    iam_digits = ov.int_range("iam_digits", d.iam_digits, 0, 30)
    spec = TrafficSpec(
        cps=s.number("cps", d.cps, 1e-6, 1e6),
        busy_hours=_parse_busy_hours(s, "busy_hours"),
        off_peak=s.number("off_peak", 1.0 if not s.has("busy_hours") else 0.3, 0.0, 1.0),
        holding_s=s.dist("holding_s", d.holding_s),
        pdd_ms=s.dist("pdd_ms", d.pdd_ms),
        alert_ms=s.dist("alert_ms", d.alert_ms),
        ring_s=s.dist("ring_s", d.ring_s),
        no_answer_s=s.dist("no_answer_s", d.no_answer_s),
        abandon_s=s.dist("abandon_s", d.abandon_s),
        early_release_ms=s.dist("early_release_ms", d.early_release_ms),
        response_ms=s.dist("response_ms", d.response_ms),
        caller_releases=s.share("caller_releases", d.caller_releases),
        early_abandon=s.share("early_abandon", d.early_abandon),
        cpg_share=s.share("cpg_share", d.cpg_share),
        con_share=s.share("con_share", d.con_share),
        overlap_share=ov.share("share", d.overlap_share),
        iam_digits=iam_digits,
        sams=ov.int_range("sams", d.sams, 1, 20),
        inter_digit_ms=ov.dist("inter_digit_ms", d.inter_digit_ms),
        final_st=ov.share("final_st", d.final_st),
        en_bloc_st=s.share("en_bloc_st", d.en_bloc_st),
        min_release_after_sam_ms=ov.number("min_release_after_sam_ms", d.min_release_after_sam_ms, 0.0),
        line=s.line,
    )
    ov.finish()
    s.finish()
    if spec.response_ms.lo < 1.0 and spec.response_ms.kind != "fixed":
        raise s.fail("response_ms", "responses need at least 1 ms (min >= 1)")
    return spec


def _parse_outcomes(ctx: _Ctx, v: Any, line: int) -> tuple[OutcomeEntry, ...]:
    s = _Section(ctx, v, "outcomes", line)
    out: list[OutcomeEntry] = []
    for key in list(s.data):
        if key == "network":
            net = s.raw("network")
            if not isinstance(net, dict):
                raise s.fail(
                    "network", "expected a mapping of cause value -> weight, e.g. {34: 0.004, 41: 0.002}"
                )
            for cause, w in net.items():
                cl = _line_of(net, cause, s.key_line("network"))
                if isinstance(cause, bool) or not isinstance(cause, int) or not 1 <= cause <= 127:
                    raise ctx.fail(cl, "outcomes.network", f"cause values are integers 1-127, got {cause!r}")
                if isinstance(w, bool) or not isinstance(w, int | float) or w < 0:
                    raise ctx.fail(cl, f"outcomes.network.{cause}", f"expected a weight >= 0, got {_kind(w)}")
                out.append(OutcomeEntry("network", float(w), cause))
            continue
        if key not in OUTCOME_KINDS:
            raise ctx.fail(
                s.key_line(str(key)), f"outcomes.{key}", f"unknown outcome; known: {', '.join(OUTCOME_KINDS)}"
            )
        w = s.number(str(key), 0.0, 0.0)
        out.append(OutcomeEntry(str(key), w, OUTCOME_KINDS[str(key)][1]))
    s.finish()
    if not out or sum(o.weight for o in out) <= 0:
        raise ctx.fail(s.line, "outcomes", "the outcome weights add up to zero")
    return tuple(out)


#: Type-specific fault parameters: name -> (kind, default) where kind checks the value.
_FAULT_PARAMS: dict[str, dict[str, tuple[str, Any]]] = {
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


def _parse_fault(ctx: _Ctx, item: Any, i: int, line: int, trunks: Mapping[str, TrunkSpec]) -> FaultSpec:
    s = _Section(ctx, item, f"faults[{i}]", line)
    ftype = s.text("type", "")
    if not ftype:
        raise ctx.fail(s.line, f"faults[{i}]", f"needs a 'type'; one of: {', '.join(FAULT_TYPES)}")
    if ftype not in FAULT_TYPES:
        raise s.fail("type", f"unknown fault type {ftype!r}; known: {', '.join(FAULT_TYPES)}")
    s.where = f"faults[{i}] ({ftype})"
    rate = s.share("rate", 0.0)
    count = s.integer("count", 0, 0, 10_000_000)
    if ftype in BURST_FAULTS:
        if s.has("rate") and rate:
            raise s.fail("rate", f"{ftype} is a burst: give 'count' (and 'start_s'), not 'rate'")
        if not count:
            count = (
                10
                if ftype not in ("circuit-reset-burst", "blocked-circuit-attempt", "repeat-attempts")
                else 1
            )
    elif not rate and not count:
        raise ctx.fail(s.line, s.where, "give 'rate' (share of calls) or 'count' (extra calls)")
    start_s = s.number("start_s", -1.0, 0.0) if s.has("start_s") else None
    end_s = s.number("end_s", -1.0, 0.0) if s.has("end_s") else None
    if start_s is not None and end_s is not None and end_s < start_s:
        raise s.fail("end_s", f"end_s {end_s} is before start_s {start_s}")
    names: tuple[str, ...] = ()
    if s.has("trunks") or s.has("trunk"):
        key = "trunks" if s.has("trunks") else "trunk"
        v = s.raw(key)
        names_list = v if isinstance(v, list) else [v]
        for n in names_list:
            if not isinstance(n, str) or n not in trunks:
                raise s.fail(key, f"no trunk named {n!r}; trunks: {', '.join(trunks)}")
        names = tuple(names_list)
    eligible = [trunks[n] for n in names] if names else list(trunks.values())
    if ftype in CIRCUIT_FAULTS:
        bad = [t.name for t in eligible if t.carrier == "sip-i"]
        if names and bad:
            raise s.fail("trunks", f"{ftype} needs circuits; trunk {bad[0]!r} is SIP-I")
        eligible = [t for t in eligible if t.carrier != "sip-i"]
        if not eligible:
            raise ctx.fail(s.line, s.where, f"{ftype} needs circuits, and every trunk is SIP-I")
        names = tuple(t.name for t in eligible)
    if ftype in BURST_FAULTS and len(names) != 1:
        names = (eligible[0].name,)
    params: dict[str, Any] = {}
    for pname, (pkind, default) in _FAULT_PARAMS[ftype].items():
        if not s.has(pname):
            if default is not None:
                params[pname] = default
            continue
        params[pname] = _fault_param(ctx, s, pname, pkind)
    s.finish(extra_known=("type", "rate", "count", "start_s", "end_s", "trunks", "trunk"))
    return FaultSpec(
        type=ftype,
        rate=rate,
        count=count,
        start_s=start_s,
        end_s=end_s,
        trunks=names,
        params=params,
        line=s.line,
    )


def _fault_param(ctx: _Ctx, s: _Section, name: str, kind: str) -> Any:
    if kind == "dist":
        return s.dist(name, Dist.fixed(0.0))
    if kind == "share":
        return s.share(name, 0.0)
    if kind == "num":
        return s.number(name, 0.0, 0.0)
    if kind == "int":
        return s.integer(name, 0, 0, 1 << 31)
    if kind == "int4":
        return s.integer(name, 0, 0, 15)
    if kind == "bool":
        return s.boolean(name, False)
    if kind == "irange":
        return s.int_range(name, (0, 0), 0, 1000)
    if kind == "cause":
        return s.integer(name, 0, 1, 127)
    if kind == "nai":
        return _enum_or_int(s, name, 3, _NAI_NAMES, 127)
    if kind == "digits":
        v = s.text(name, "")
        if not v or not all(c in "0123456789" for c in v):
            raise s.fail(name, f"expected decimal digits, got {v!r}")
        return v
    if kind.startswith("choice:"):
        return s.text(name, "", kind[7:].split(","))
    if kind == "outcome":
        v = s.text(name, "", [k for k in OUTCOME_KINDS if k != "network"])
        return v
    if kind == "causes":
        v = s.raw(name)
        if not isinstance(v, list) or not v or not all(isinstance(c, int) and 1 <= c <= 127 for c in v):
            raise s.fail(name, "expected a non-empty list of cause values 1-127")
        return tuple(v)
    if kind == "anomalies":
        v = s.raw(name)
        if (
            not isinstance(v, list)
            or not v
            or not all(isinstance(c, str) and c in CALLING_ANOMALIES for c in v)
        ):
            raise s.fail(name, f"expected a list of: {', '.join(CALLING_ANOMALIES)}")
        return tuple(v)
    raise AssertionError(kind)  # pragma: no cover


def _parse_start(s: _Section, key: str, default: float) -> tuple[float, float]:
    """(epoch seconds, UTC offset in seconds of the time given)."""
    v = s.raw(key, None)
    if v is None:
        return default, 8 * 3600.0
    if isinstance(v, bool):
        raise s.fail(key, "expected an ISO 8601 time or epoch seconds")
    if isinstance(v, int | float):
        return float(v), 0.0
    if isinstance(v, datetime):
        dt = v
    elif isinstance(v, date):
        dt = datetime(v.year, v.month, v.day)
    elif isinstance(v, str):
        try:
            dt = datetime.fromisoformat(v)
        except ValueError:
            raise s.fail(key, f"not an ISO 8601 time: {v!r}") from None
    else:
        raise s.fail(key, f"expected an ISO 8601 time or epoch seconds, got {_kind(v)}")
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    offset = dt.utcoffset()
    return dt.timestamp(), offset.total_seconds() if offset is not None else 0.0


def _parse_capture(ctx: _Ctx, v: Any, line: int) -> CaptureSpec:
    s = _Section(ctx, v, "capture", line)
    d = CaptureSpec()
    start, offset = _parse_start(s, "start", d.start)
    spec = CaptureSpec(
        start=start,
        utc_offset_s=offset,
        warmup_s=s.number("warmup_s", 0.0, 0.0, 86400.0),
        end=s.text("end", "drain", ("drain", "cut")),
        tail_s=s.number("tail_s", d.tail_s, 0.0),
        jitter_share=s.share("jitter_share", 0.0),
        jitter_max_ms=s.number("jitter_max_ms", d.jitter_max_ms, 0.0, 1000.0),
        format=s.text("format", "", ("pcap", "pcapng")) or None,
        line=s.line,
    )
    s.finish()
    return spec


def parse_scenario(data: Any, source: str = "<scenario>") -> Scenario:
    """Build a :class:`Scenario` from parsed YAML (as :func:`load_scenario` reads it)."""
    ctx = _Ctx(source)
    top = _Section(ctx, data, "", 1)
    v = top.raw("trunks") if top.has("trunks") else DEFAULT_TRUNKS
    tl = top.key_line("trunks")
    if not isinstance(v, list) or not v:
        raise ctx.fail(tl, "trunks", "expected a non-empty list of trunks")
    names: set[str] = set()
    trunks = tuple(_parse_trunk(ctx, item, i, _line_of(v, i, tl), names) for i, item in enumerate(v))
    if sum(t.weight for t in trunks) <= 0:
        raise ctx.fail(top.key_line("trunks"), "trunks", "the trunk weights add up to zero")
    traffic = (
        _parse_traffic(ctx, top.raw("traffic"), top.key_line("traffic"))
        if top.has("traffic")
        else TrafficSpec()
    )
    called, calling = DEFAULT_CALLED, DEFAULT_CALLING
    if top.has("numbers"):
        ns = top.section("numbers")
        if ns.has("called"):
            called = _parse_numbers(ctx, ns.raw("called"), "numbers.called", ns.key_line("called"))
        if ns.has("calling"):
            calling = _parse_numbers(ctx, ns.raw("calling"), "numbers.calling", ns.key_line("calling"))
        ns.finish()
    outcomes = (
        _parse_outcomes(ctx, top.raw("outcomes"), top.key_line("outcomes"))
        if top.has("outcomes")
        else DEFAULT_OUTCOMES
    )
    by_name = {t.name: t for t in trunks}
    faults: tuple[FaultSpec, ...] = ()
    if top.has("faults"):
        v = top.raw("faults")
        fl = top.key_line("faults")
        if v is None:
            v = []
        if not isinstance(v, list):
            raise ctx.fail(fl, "faults", "expected a list of faults")
        faults = tuple(_parse_fault(ctx, item, i, _line_of(v, i, fl), by_name) for i, item in enumerate(v))
    capture = (
        _parse_capture(ctx, top.raw("capture"), top.key_line("capture"))
        if top.has("capture")
        else CaptureSpec()
    )
    scenario = Scenario(
        name=top.text("name", Path(source).stem if source[:1] != "<" else "scenario"),
        description=top.text("description", ""),
        calls=top.integer("calls", 1000, 0, 1 << 40),
        duration_s=(top.number("duration_s", 0.0, 1e-3) if top.has("duration_s") else None),
        trunks=trunks,
        traffic=traffic,
        called=called,
        calling=calling,
        outcomes=outcomes,
        faults=faults,
        capture=capture,
        source=source,
    )
    top.finish()
    return scenario


def load_scenario(path: str | Path) -> Scenario:
    """Read and check a scenario file; :class:`ScenarioError` names the file, the line and the problem."""
    from sigdiag.settings import ConfigError, read_config_text

    p = Path(path)
    try:
        text = read_config_text(p, "scenario")
    except ConfigError as exc:
        raise ScenarioError(str(exc)) from None
    data = _yaml_load(text, str(p))
    if data is None:
        raise ScenarioError(f"{p}:1: the file is empty; expected a scenario mapping (docs/scenario.md)")
    return parse_scenario(data, str(p))


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
