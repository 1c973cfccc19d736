"""One stream of messages through a correlator and the rule engine, whose state can be saved and taken up
again: what an audit worker runs for a capture point, file after file (:mod:`sigdiag.audit.worker`).

:class:`PointStream` is built from plain options (:func:`stream_config`: decode settings, call settings,
outcome table, trunk map, rules and their settings, as the audit's task carries them); :meth:`feed` takes
decoded messages, :meth:`calls` the finished calls (not yet refined: the caller refines each with
``stream.engine.refine``, then names its trunk with :meth:`trunk_of`), :meth:`snapshot` gives the state of
both as bytes (a pickled :class:`StreamState`) and ``PointStream(options, state)`` continues from them.
Both parts are the public states of the correlator and the engine (their ``snapshot`` and ``restore``).
Before it is saved, the engine forgets what no record still to come can change (:meth:`settle`), so the
state follows the traffic open at one time and of the rules' last windows, not the point's history; calls
and their IAMs pickle as tuples of their slots.
"""

from __future__ import annotations

import copyreg
import io
import json
import math
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from sigdiag.calls.correlate import CorrelatorState
from sigdiag.model import Message
from sigdiag.rules.engine import Engine, EngineState

__all__ = ["SETTLE_MARGIN_S", "PointStream", "StreamState", "stream_config"]


@dataclass
class StreamState:
    """The state of a :class:`PointStream` between two files: the correlator's (its open calls, queues,
    counters: :meth:`sigdiag.calls.correlate.Correlator.snapshot`) and the engine's
    (:meth:`sigdiag.rules.engine.Engine.snapshot`)."""

    correlator: CorrelatorState
    engine: EngineState


class PointStream:
    """Correlator + rule engine of one capture point (see the module's docstring)."""

    def __init__(
        self, options: dict[str, Any], state: bytes | None = None, pos: Callable[[Any], int] | None = None
    ) -> None:
        """``pos``: the position of a message in the point from its frame; with it, calls are numbered by
        their IAM's position (:class:`sigdiag.calls.parts.Positioned`), else in the order they start."""
        from sigdiag.calls.correlate import Correlator
        from sigdiag.calls.stats import StatsAccumulator

        self.options = options
        cfg = stream_config(options)
        self.decode_settings = cfg["decode"]
        self.engine = Engine(cfg["rules"], cfg["trunks"], pc=cfg["pc"])
        kw: dict[str, Any] = {
            "on_orphan": self.engine.orphan,
            "on_circuit_event": self.engine.circuit_event,
            "keep_records": 0,  # the engine sees every orphan and circuit event: no list of the first ones
        }
        if pos is None:
            self.correlator = Correlator(cfg["call_settings"], cfg["outcomes"], **kw)
        else:
            from sigdiag.calls.parts import Positioned

            self.correlator = Positioned(cfg["call_settings"], cfg["outcomes"], pos=pos, **kw)
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
        """The correlator's and the engine's state, pickled together (shared objects stay shared), after
        :meth:`settle`: its size follows the traffic of the last windows, not the point's history."""
        self.settle()
        state = StreamState(self.correlator.snapshot(), self.engine.snapshot())
        buf = io.BytesIO()
        pickler = pickle.Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL)
        pickler.dispatch_table = {**copyreg.dispatch_table, Message: _reduce_message}
        pickler.dump(state)
        return buf.getvalue()

    def settle(self) -> None:
        """Let the engine forget what no record still to come can change (:meth:`Engine.settle`), from
        what the correlator can still hand out: its open calls and the finished ones not yet taken; calls
        not seen yet, whose messages are no older than the latest time stamp by more than
        ``reorder_window_ms`` (and :data:`SETTLE_MARGIN_S`), and the messages parked for their IAM
        (released calls, orphans)."""
        c = self.correlator
        fresh = c.now - c.reorder_window - SETTLE_MARGIN_S
        parked = min((m.ts for msgs in c._parked.values() for m in msgs), default=math.inf)
        pending = [*c.table.values(), *c.done, *(call for _, _, call in c._linger_q)]
        later = min(fresh, parked)
        self.engine.settle(pending, start=fresh, end=later, record=later)

    def new_file(self) -> None:
        """A capture file starts (:meth:`sigdiag.calls.correlate.Correlator.new_file`)."""
        self.correlator.new_file()
        self._step = self.correlator._step

    def feed(self, messages: list[Any]) -> None:
        self._step(messages)

    def calls(self) -> list[Any]:
        return self.correlator.take()

    def close(self) -> None:
        self.correlator.close()


#: Seconds of time stamps out of order, beyond the correlator's ``reorder_window_ms``, that
#: :meth:`PointStream.settle` allows for the messages still to come.
SETTLE_MARGIN_S = 5.0

_MESSAGE_STATE = attrgetter(*Message.__slots__)


def _message_of(state: tuple[Any, ...]) -> Message:
    """A decoded message again from its slots (:func:`_reduce_message`)."""
    m = Message.__new__(Message)
    for k, v in zip(Message.__slots__, state, strict=True):
        setattr(m, k, v)
    return m


def _reduce_message(m: Message) -> str | tuple[Any, ...]:
    """A message of a saved state (the IAM of each open call) as the tuple of its slots."""
    try:
        return (_message_of, (_MESSAGE_STATE(m),))
    except AttributeError:  # (some slot unset)
        return m.__reduce_ex__(pickle.HIGHEST_PROTOCOL)


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
