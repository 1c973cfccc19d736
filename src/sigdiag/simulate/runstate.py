"""The state of one simulation run, shared by the parts of the run.

A run (:class:`sigdiag.simulate.engine._Run`) is one object assembled from one class per job:

* :mod:`sigdiag.simulate.engine`: arrivals, the main loops, call generation and queueing;
* :mod:`sigdiag.simulate.circuits`: trunks, their hops and circuit pools, circuit events and the faults
  that take circuits (dual seizure, unequipped circuits, blocking, resets, repeat attempts);
* :mod:`sigdiag.simulate.fastpath`: the inlined generator of healthy en-bloc calls;
* :mod:`sigdiag.simulate.output`: writing the time-ordered buckets, in this process or a writer process;
* :mod:`sigdiag.simulate.truth`: the truth rows, the events file, ladders and the decode settings.

:class:`RunState` declares the attributes they share (set by ``_Run.__init__``) and the methods one
part calls in another.  It has no behaviour of its own.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sigdiag.simulate.circuits import TrunkRT
    from sigdiag.simulate.faults import FaultSpec
    from sigdiag.simulate.flows import Call, CallFactory
    from sigdiag.simulate.framing import CaptureEmitter, Hop
    from sigdiag.simulate.output import _EmitWorker, _Writer
    from sigdiag.simulate.scenario import Scenario
    from sigdiag.simulate.truth import SimulationResult

__all__ = ["BUCKET_US", "NEVER", "RunState"]

#: Queued messages are kept in buckets of this many micro-seconds (one second).
BUCKET_US = 1_000_000
NEVER = 1 << 62  # a time after every event (µs)


class RunState:
    """The attributes of a run (see the module docstring)."""

    sc: Scenario
    seed: int
    fmt: str
    ncalls: int
    paths: tuple[Path, Path, Path, Path]
    rng_arr: random.Random
    rng: random.Random
    rng_net: random.Random
    rng_jit: random.Random
    rng_sched: random.Random
    epoch_us: int
    start_us: int
    warmup_us: int
    factory: CallFactory
    fast_outcomes: list[int]
    en_bloc_st: float
    minute_factors: list[float] | None
    seq: int
    call_seq: int
    event_seq: int
    group_seq: int
    buckets: defaultdict[int, list[tuple[Any, ...]]]
    releases: list[int]
    sched: list[tuple[int, int, str, Any]]
    result: SimulationResult
    trunks: list[TrunkRT]
    hop_list: list[Hop]
    interfaces: list[tuple[int, str]]
    trunk_cum: list[float]
    first_ts: int | None
    last_ts: int
    rate_faults: list[FaultSpec]
    by_name: dict[str, TrunkRT]
    cap_end: int | None
    truth_buf: list[str]
    w: _Writer | None
    emitter: CaptureEmitter
    flush: Callable[[list[tuple[Any, ...]], int], None]
    worker: _EmitWorker | None
    slow_buckets: set[int]
    _last_unsorted: list[tuple[Any, ...]] | None
    ftruth: IO[str] | None
    fevents: IO[str] | None

    # methods one part calls in another (defined by engine._Run and its parts)
    _new_call: Callable[..., Call | None]
    _dispatch: Callable[[Call], None]
    _numbers: Callable[[Call, TrunkRT, FaultSpec | None], None]
    _schedule: Callable[[int, str, Any], None]
    _pick_trunk: Callable[[FaultSpec], TrunkRT]
    _push: Callable[[TrunkRT, int, int, bytes, int, Any], None]
    _event: Callable[[dict[str, Any]], None]
    _ts: Callable[[int], float]
    _truth_row: Callable[[Call, int, int], str]
    _tail_json: Callable[[Call], str]
