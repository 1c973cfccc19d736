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
      prefix_digits: 4            # called-number prefix length for ``stats --by prefix``
      keep_messages: true         # keep each call's decoded messages on the Call (for the rule engine)
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from os import PathLike
from pathlib import Path
from typing import Any

from sigdiag.settings import ConfigError, read_yaml_mapping

__all__ = ["CallSettings", "load_call_settings"]


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
    prefix_digits: int = 4
    keep_messages: bool = True

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "keep_messages":
                if not isinstance(value, bool):
                    raise ConfigError(f"calls setting keep_messages must be true or false, not {value!r}")
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigError(f"calls setting {f.name} must be a number, not {value!r}")
            if value < 0:
                raise ConfigError(f"calls setting {f.name} must not be negative, not {value!r}")
        if self.max_open_calls < 1:
            raise ConfigError("calls setting max_open_calls must be at least 1")
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


def _coerce(name: str, value: Any) -> Any:
    if not isinstance(value, str):
        if name in ("max_open_calls", "prefix_digits") and isinstance(value, float) and value.is_integer():
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
        return int(text) if name in ("max_open_calls", "prefix_digits") else float(text)
    except ValueError:
        raise ConfigError(f"calls setting {name} must be a number, not {value!r}") from None


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
