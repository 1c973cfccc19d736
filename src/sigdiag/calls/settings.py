"""Correlation and KPI settings: every threshold is a named setting with a default.

Settings come from keyword arguments (``CallSettings(t7_s=25)``), from ``--set NAME=VALUE`` on the
command line (:meth:`CallSettings.with_assignments`), or from a YAML file with a ``calls:`` mapping
(:func:`load_call_settings`)::

    calls:
      duplicate_window_ms: 20     # same message (same bytes, same direction) again on the same link: a copy
      cross_link_window_ms: 50    # same message seen on another link (a second SCTP association or MTP
                                  # link: a mirrored port, a second hop) within this: a copy, counted once
      reorder_window_ms: 50       # how far out of order messages may be (file order vs time stamps)
      linger_ms: 1000             # a released call waits this long for late RLCs before it is written
      t7_s: 20                    # Q.764 T7: no backward message this long after the last address message
      ack_window_s: 60            # an RLC this long after an RSC/GRS on an idle circuit acknowledges it
      glare_window_ms: 100        # without point codes, a second IAM this soon on a key is a dual seizure
      effective_s: 10             # answered calls with at least this conversation are "effective"
      repeat_window_s: 300        # a second attempt to a called number within this is a repeat attempt
      max_open_calls: 200000      # open-call table cap; the oldest call is evicted (and counted) beyond it
      max_parked: 100000          # messages parked waiting for their IAM; beyond it the oldest is an orphan
      max_sightings: 100000       # messages remembered to recognise copies; beyond it the oldest is forgotten
      max_circuits: 100000        # per-circuit state (blocked circuits,
                                  # pending resets, recent supervision); beyond it the oldest is forgotten
      prefix_digits: 4            # called-number prefix length for ``stats --by prefix``
      keep_messages: true         # keep each call's decoded messages on the Call (for the rule engine)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from os import PathLike
from pathlib import Path
from typing import Any

from sigdiag.settings import ConfigError, read_yaml_mapping

__all__ = ["RANGES", "CallSettings", "load_call_settings", "range_text"]

_HOUR_MS = 3_600_000.0
_DAY_S = 86_400.0

#: The allowed values of the numeric settings: (lowest, above it only, highest, whole number).  The
#: tolerance windows may be 0 (exact times only); timers and the windows that define an event need a
#: length; the upper bounds keep a slip (a window in ms given in us) from meaning nothing.  The counts
#: (memory bounds) not listed are whole numbers of at least 1.
RANGES: dict[str, tuple[float, bool, float, bool]] = {
    "duplicate_window_ms": (0.0, False, _HOUR_MS, False),
    "cross_link_window_ms": (0.0, False, _HOUR_MS, False),
    "reorder_window_ms": (0.0, False, _HOUR_MS, False),
    "linger_ms": (0.0, False, _HOUR_MS, False),
    "t7_s": (0.0, True, _DAY_S, False),
    "ack_window_s": (0.0, True, _DAY_S, False),
    "glare_window_ms": (0.0, False, _HOUR_MS, False),
    "effective_s": (0.0, False, _DAY_S, False),
    "repeat_window_s": (0.0, True, _DAY_S, False),
    "prefix_digits": (1, False, 32, True),
}
_COUNT_RANGE = (1, False, 1_000_000_000, True)


def _range(name: str) -> tuple[float, bool, float, bool]:
    return RANGES.get(name, _COUNT_RANGE)


def range_text(name: str) -> str:
    """The allowed values of the numeric setting ``name`` in words (``"a number above 0, at most 86400
    (seconds)"``)."""
    low, above, high, integer = _range(name)
    kind = "a whole number" if integer else "a number"
    unit = " (milliseconds)" if name.endswith("_ms") else " (seconds)" if name.endswith("_s") else ""
    start = f"above {low:.12g}" if above else f"from {low:.12g}"
    join = ", at most" if above else " to"
    return f"{kind} {start}{join} {high:.12g}{unit}"


@dataclass(frozen=True, slots=True)
class CallSettings:
    """Thresholds of call correlation, outcome classification and KPIs (see the module docstring)."""

    duplicate_window_ms: float = 20.0
    cross_link_window_ms: float = 50.0
    reorder_window_ms: float = 50.0
    linger_ms: float = 1000.0
    t7_s: float = 20.0
    ack_window_s: float = 60.0
    glare_window_ms: float = 100.0
    effective_s: float = 10.0
    repeat_window_s: float = 300.0
    max_open_calls: int = 200_000
    max_parked: int = 100_000
    max_sightings: int = 100_000
    max_circuits: int = 100_000
    prefix_digits: int = 4
    keep_messages: bool = True

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "keep_messages":
                if not isinstance(value, bool):
                    raise ConfigError(f"calls setting keep_messages must be true or false, not {value!r}")
                continue
            low, above, high, integer = _range(f.name)
            ok = not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)
            ok = ok and (value > low if above else value >= low) and value <= high
            if not ok or (integer and value != int(value)):
                raise ConfigError(f"calls setting {f.name} must be {range_text(f.name)}, not {value!r}")
        for name in _COUNTS:
            if getattr(self, name) < 1:
                raise ConfigError(f"calls setting {name} must be at least 1")
        if self.prefix_digits < 1:
            raise ConfigError("calls setting prefix_digits must be at least 1")

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    def with_options(self, **options: Any) -> CallSettings:
        """A copy with the given non-None options applied (unknown names raise :class:`ConfigError`)."""
        given = {k: v for k, v in options.items() if v is not None}
        unknown = set(given) - set(self.names())
        if unknown:
            raise ConfigError(f"unknown calls settings {sorted(unknown)}; known: {', '.join(self.names())}")
        return replace(self, **{k: _coerce(k, v) for k, v in given.items()})

    def with_assignments(self, assignments: list[str] | None) -> CallSettings:
        """A copy with ``NAME=VALUE`` strings (``--set``) applied."""
        options: dict[str, Any] = {}
        for item in assignments or []:
            name, sep, value = item.partition("=")
            if not sep or not name.strip():
                raise ConfigError(f"--set expects NAME=VALUE, not {item!r}")
            options[name.strip()] = value.strip()
        return self.with_options(**options)


#: The memory bounds (whole numbers, at least 1; see docs/calls.md, "Memory bounds").
_COUNTS = ("max_open_calls", "max_parked", "max_sightings", "max_circuits")
_INTEGERS = (*_COUNTS, "prefix_digits")


def _coerce(name: str, value: Any) -> Any:
    if not isinstance(value, str):
        if name in _INTEGERS and isinstance(value, float) and value.is_integer():
            return int(value)
        return value
    text = value.strip().lower()
    if name == "keep_messages":
        if text in ("true", "yes", "1", "on"):
            return True
        if text in ("false", "no", "0", "off"):
            return False
        raise ConfigError(f"calls setting keep_messages must be true or false, not {value!r}")
    try:
        return int(text) if name in _INTEGERS else float(text)
    except ValueError:
        allowed = range_text(name) if name in {f.name for f in fields(CallSettings)} else "a number"
        raise ConfigError(f"calls setting {name} must be {allowed}, not {value!r}") from None


def load_call_settings(path: str | PathLike[str], base: CallSettings | None = None) -> CallSettings:
    """Read the ``calls:`` mapping of a YAML file over ``base`` (other top-level keys are ignored)."""
    path = Path(path)
    data = read_yaml_mapping(path)
    section = data.get("calls") or {}
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: 'calls' must be a mapping of settings")
    try:
        return (base or CallSettings()).with_options(**section)
    except (ConfigError, TypeError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
