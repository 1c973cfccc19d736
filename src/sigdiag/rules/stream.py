"""One stream of messages through a correlator and the rule engine, whose state can be saved and taken up
again: what an audit worker runs for a capture point, file after file (:mod:`sigdiag.audit.worker`).

:class:`PointStream` is built from plain options (:func:`stream_config`: decode settings, call settings,
outcome table, trunk map, rules and their settings, as the audit's task carries them); :meth:`feed` takes
decoded messages, :meth:`calls` the finished calls (not yet refined: the caller refines each with
``stream.engine.refine``, then names its trunk with :meth:`trunk_of`), :meth:`snapshot` gives the state of
both as bytes (a pickled :class:`StreamState`) and ``PointStream(options, state)`` continues from them.
Both parts are the public states of the correlator and the engine (their ``snapshot`` and ``restore``).
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sigdiag.calls.correlate import CorrelatorState
from sigdiag.rules.engine import Engine, EngineState

__all__ = ["PointStream", "StreamState", "stream_config"]


@dataclass
class StreamState:
    """The state of a :class:`PointStream` between two files: the correlator's (its open calls, queues,
    counters: :meth:`sigdiag.calls.correlate.Correlator.snapshot`) and the engine's
    (:meth:`sigdiag.rules.engine.Engine.snapshot`)."""

    correlator: CorrelatorState
    engine: EngineState


class PointStream:
    """Correlator + rule engine of one capture point (see the module's docstring)."""

    def __init__(self, options: dict[str, Any], state: bytes | None = None) -> None:
        from sigdiag.calls.correlate import Correlator
        from sigdiag.calls.stats import StatsAccumulator

        self.options = options
        cfg = stream_config(options)
        self.decode_settings = cfg["decode"]
        self.engine = Engine(cfg["rules"], cfg["trunks"], pc=cfg["pc"])
        self.correlator = Correlator(
            cfg["call_settings"],
            cfg["outcomes"],
            on_orphan=self.engine.orphan,
            on_circuit_event=self.engine.circuit_event,
        )
        if state is not None:
            saved = pickle.loads(state)
            if not isinstance(saved, StreamState):
                raise ValueError("not a saved state of a capture point (an older sigdiag's?)")
            self.correlator.restore(saved.correlator)
            self.engine.restore(saved.engine)
        self.engine.clock = lambda c=self.correlator: c.now
        namer = StatsAccumulator("trunk", cfg["trunks"], cfg["call_settings"], cfg["pc_display"])
        #: the trunk of a call exactly as `sigdiag stats --by trunk` names it
        self.trunk_of: Callable[[Any], str] = namer._group_of
        self._step = self.correlator._step

    def snapshot(self) -> bytes:
        """The correlator's and the engine's state, pickled together (shared objects stay shared)."""
        state = StreamState(self.correlator.snapshot(), self.engine.snapshot())
        return pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)

    def feed(self, messages: list[Any]) -> None:
        self._step(messages)

    def calls(self) -> list[Any]:
        return self.correlator.take()

    def close(self) -> None:
        self.correlator.close()


_CONFIG_CACHE: dict[str, dict[str, Any]] = {}


def stream_config(options: dict[str, Any]) -> dict[str, Any]:
    """Settings objects from a task's plain options (cached per process: loading rules costs): ``decode``,
    ``call_settings``, ``outcomes``, ``trunks``, ``rules``, ``pc`` (how point codes print), ``pc_display``.
    Raises the settings' errors (:class:`~sigdiag.settings.ConfigError`, ``RuleError``...)."""
    key = json.dumps(options, sort_keys=True, default=str)
    cfg = _CONFIG_CACHE.get(key)
    if cfg is not None:
        return cfg
    from sigdiag.calls.outcomes import load_outcomes
    from sigdiag.calls.settings import CallSettings
    from sigdiag.calls.stats import load_trunks
    from sigdiag.carrier.mtp import format_pc
    from sigdiag.decode import resolve_settings
    from sigdiag.rules.loader import load_rules

    dec = dict(options.get("decode") or {})
    config = dec.pop("config", None)
    dsettings = resolve_settings(None, config, **dec)
    csettings = CallSettings(keep_messages=False).with_assignments(options.get("set") or None)
    trunks = load_trunks(options["trunks"]) if options.get("trunks") else None
    rules = load_rules(options.get("rule_dirs") or (), options.get("rule_settings") or None)
    pc_display = dsettings.pc_display
    fmt = dsettings.pc_format
    pc: Callable[[int], str] = str
    if pc_display == "structured":

        def pc(v: int) -> str:
            return format_pc(v, fmt, True)

    cfg = {
        "decode": dsettings,
        "call_settings": csettings,
        "outcomes": load_outcomes(options.get("outcomes")),
        "trunks": trunks,
        "rules": rules,
        "pc": pc,
        "pc_display": pc_display,
    }
    _CONFIG_CACHE.clear()
    _CONFIG_CACHE[key] = cfg
    return cfg
