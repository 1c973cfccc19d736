"""The simulator's main loop: arrivals, call generation and queueing, and the run's files.

This module owns the run (:class:`_Run`): the arrival loops, scheduled faults, the general call
generator and the queueing of messages into buckets.  The run's other parts are in
:mod:`sigdiag.simulate.circuits` (trunks, circuits, circuit events), :mod:`sigdiag.simulate.fastpath`
(the hot path), :mod:`sigdiag.simulate.output` (writing the buckets) and :mod:`sigdiag.simulate.truth`
(truth rows, events, decode settings); :mod:`sigdiag.simulate.runstate` lists what they share.

Memory stays bounded by the calls in progress: calls are generated in arrival order, their messages
go into one-second buckets, and a bucket is sorted and written as soon as no later arrival can add to
it.  Circuits are taken from per-trunk pools and given back when a call's RLC is sent (a heap of
release times).  Everything random comes from ``random.Random`` streams seeded from ``seed``, so the
same scenario, call count and seed give byte-identical files.

The hot path (healthy en-bloc calls on one-hop trunks, :mod:`sigdiag.simulate.fastpath`) is written for speed:
a queued message is a flat tuple ``(offset, key, data, tag)`` whose ``key`` already says hop,
direction, SLS and data length, so :class:`~sigdiag.simulate.framing.CaptureEmitter` writes M3UA records
from cached templates; the number draws, the IAM encoding, the circuit release and the truth rows are
inlined.  Every shortcut draws the same random numbers in the same order as the general path and
writes the same bytes (the shipped example captures are reproduced byte for byte by the tests).

Queued times are *offsets* in micro-seconds from the start of their one-second bucket, not times from
the capture start: offsets stay below 2**30, where CPython keeps an int in one machine digit and adds,
divides, compares and sorts it on fast paths, while times from the capture start pass 2**30 after 18
minutes of traffic (the benchmark's run spans three hours).  A pooled flow keeps each message's delay
split into whole buckets and an offset (:meth:`~sigdiag.simulate.fastpath.FastPath._fast_tail`), so
queueing a message needs no division at all.

Outputs (written under temporary names, then renamed, so nothing is half-written):

* the capture (pcap with micro-second time stamps, or pcapng);
* ``<out>.truth.jsonl``: one row per call whose IAM is in the capture, in IAM frame order;
* ``<out>.events.jsonl``: faults that are not one call (circuit resets, blocking windows, bursts,
  repeat-attempt groups, orphan messages);
* ``<out>.config.yaml``: the decode settings for the capture (point-code formats and variants per link).
"""

from __future__ import annotations

import contextlib
import gc
import heapq
import math
import os
import random
import time
from bisect import bisect
from collections import defaultdict
from collections.abc import Callable, Iterator
from itertools import accumulate, islice, repeat
from operator import mul, sub, truediv
from pathlib import Path
from typing import IO, Any

from sigdiag.simulate.circuits import _REL_TIME, _U32_MASK, CircuitEvents, TrunkRT, _release_key
from sigdiag.simulate.fastpath import FastPath
from sigdiag.simulate.faults import BURST_FAULTS, CALLING_ANOMALIES, EVENT_FAULTS, FaultSpec
from sigdiag.simulate.flows import IAM, Call, CallFactory, anomalous_calling
from sigdiag.simulate.framing import CaptureEmitter, item_key
from sigdiag.simulate.output import BucketWriter, _EmitWorker, _first, _Writer
from sigdiag.simulate.runstate import BUCKET_US, NEVER
from sigdiag.simulate.scenario import OUTCOME_KINDS, Scenario, resolve_format
from sigdiag.simulate.sipi import SipDialog
from sigdiag.simulate.truth import SimulationResult, TruthWriter, output_paths

__all__ = ["SimulationResult", "output_paths", "run"]


def _no_fast_path(t: int, b: int) -> None:  # pragma: no cover - only trunks with tr.fast are called
    raise AssertionError("not a fast-path trunk")


def _minute_factors(spec: Scenario) -> list[float] | None:
    busy = spec.traffic.busy_hours
    if not busy:
        return None
    factors = [spec.traffic.off_peak] * 1440
    for a, b in busy:
        for m in range(a, b):
            factors[m] = 1.0
    return factors


class _Run(CircuitEvents, FastPath, BucketWriter, TruthWriter):
    """One simulation run (see the module docstring and :mod:`sigdiag.simulate.runstate`)."""

    def __init__(self, scenario: Scenario, out: Path, calls: int | None, seed: int, fmt: str | None) -> None:
        self.sc = scenario
        self.seed = seed
        self.fmt = resolve_format(scenario, fmt, out)
        self.ncalls = scenario.calls if calls is None else calls
        self.paths = output_paths(out)
        base = (seed & 0xFFFFFFFF) * 7919
        self.rng_arr = random.Random(base + 1)
        self.rng = random.Random(base + 2)
        self.rng_net = random.Random(base + 3)
        self.rng_jit = random.Random(base + 4)
        self.rng_sched = random.Random(base + 5)
        cap = scenario.capture
        self.epoch_us = round(cap.start * 1_000_000)
        self.start_us = 0
        self.warmup_us = round(cap.warmup_s * 1_000_000)
        self.factory = CallFactory(scenario.traffic, scenario.outcomes, self.rng)
        #: fast-path calls per outcome entry (their truth rows are counted in the result at the end)
        self.fast_outcomes = [0] * len(self.factory.outcomes)
        self.en_bloc_st = scenario.traffic.en_bloc_st
        self.minute_factors = _minute_factors(scenario)
        self.seq = 0
        self.call_seq = 0
        self.event_seq = 0
        self.group_seq = 0
        self.buckets: defaultdict[int, list[tuple[Any, ...]]] = defaultdict(list)
        # heap of pending circuit releases (_release_key: time, order, trunk, CIC in one int)
        self.releases: list[int] = []
        self.sched: list[tuple[int, int, str, Any]] = []
        self.result = SimulationResult(*self.paths, format=self.fmt, seed=seed)
        self._build_trunks()
        if len(self.trunks) > 0xFFFF:  # pragma: no cover - the release keys have 16 bits for the trunk
            raise ValueError("a scenario has at most 65,535 trunks")
        self.trunk_cum = list(accumulate(t.spec.weight for t in self.trunks))
        self.first_ts: int | None = None
        self.last_ts = 0
        self.rate_faults = [f for f in scenario.faults if f.rate > 0 and f.type not in BURST_FAULTS]
        self.by_name = {t.name: t for t in self.trunks}
        self.cap_end: int | None = None
        self.truth_buf: list[str] = []
        self.w: _Writer | None = None
        self.emitter = CaptureEmitter(self.hop_list, self.fmt == "pcapng", self.epoch_us)
        #: writes a bucket: _flush_bucket, or _flush_remote with a writer process (_EmitWorker)
        self.flush: Callable[[list[tuple[Any, ...]], int], None] = self._flush_bucket
        self.worker: _EmitWorker | None = None
        #: buckets holding items that are not fast-path calls (a Call's tag, a SIP message without ISUP)
        self.slow_buckets: set[int] = set()
        self._last_unsorted: list[tuple[Any, ...]] | None = None  # see _flush_remote
        self.ftruth: IO[str] | None = None
        self.fevents: IO[str] | None = None

    # -- set-up ---------------------------------------------------------------------------------------
    def _poisson(self, rng: random.Random) -> Iterator[int]:
        """Arrival times (µs from the capture start) of the traffic's calls (the same draws as the
        inlined copy in :meth:`_loop`)."""
        cps = self.sc.traffic.cps
        t = float(-self.warmup_us)
        n = 0
        limit = self.ncalls
        dur = self.sc.duration_s
        dur_us = dur * 1_000_000 if dur else None
        factors = self.minute_factors
        epoch_min = (self.sc.capture.start + self.sc.capture.utc_offset_s) / 60.0
        rnd = rng.random
        log = math.log
        while n < limit:
            t += -log(1.0 - rnd()) / cps * 1_000_000  # rng.expovariate(cps) seconds
            if factors is not None and rnd() >= factors[int(epoch_min + t / 60_000_000) % 1440]:
                continue
            if t >= 0:
                n += 1
                if dur_us is not None and t > dur_us:
                    return
            yield int(t)

    def _traffic_end(self) -> int:
        """The last arrival time, found by running a copy of the arrival stream."""
        clone = random.Random()
        clone.setstate(self.rng_arr.getstate())
        last = 0
        for last in self._poisson(clone):  # noqa: B007
            pass
        return max(last, 0)

    def _schedule(self, t: int, kind: str, payload: Any) -> None:
        self.seq += 1
        heapq.heappush(self.sched, (t, self.seq, kind, payload))

    def _plan_faults(self, t_end: int) -> None:
        rs = self.rng_sched
        span = max(t_end, 1_000_000)
        for f in self.sc.faults:
            start = round(f.start_s * 1e6) if f.start_s is not None else None
            if f.type in BURST_FAULTS:
                if start is None:
                    start = round(span * (0.2 + 0.6 * rs.random()))
                dur = round(float(f.p("duration_s", 30.0)) * 1e6)
                end = round(f.end_s * 1e6) if f.end_s is not None else start + dur
                if f.type in EVENT_FAULTS:
                    self._schedule(start, "event", f)
                    continue
                if f.type == "repeat-attempts":
                    for _ in range(f.count):
                        self._schedule(start + round(rs.random() * (end - start)), "repeat", f)
                    continue
                self._event(
                    {
                        "fault": f.type,
                        "scope": "trunk-window",
                        "trunk": f.trunks[0],
                        "window_start": self._ts(start),
                        "window_end": self._ts(end),
                        "count": f.count,
                    }
                )
                for _ in range(f.count):
                    self._schedule(start + round(rs.random() * (end - start)), "fault", f)
                continue
            if f.count:
                a = start if start is not None else 0
                b = round(f.end_s * 1e6) if f.end_s is not None else span
                for _ in range(f.count):
                    self._schedule(a + round(rs.random() * max(b - a, 0)), "fault", f)

    # -- main loop ------------------------------------------------------------------------------------
    def run(self) -> SimulationResult:
        t_start = time.perf_counter()
        needs_end = self.sc.capture.end == "cut" or any(
            f.count or f.type in BURST_FAULTS for f in self.sc.faults
        )
        t_end = self._traffic_end() if needs_end else 0
        if self.sc.capture.end == "cut":
            self.cap_end = t_end + round(self.sc.capture.tail_s * 1e6)
        tmp = [p.with_name(f".{p.name}.tmp{os.getpid()}") for p in self.paths]
        # The run allocates millions of short-lived tuples and creates no reference cycles: pausing the
        # cyclic garbage collector saves about a sixth of the time.
        gc_was_enabled = gc.isenabled()
        gc.disable()
        worker: _EmitWorker | None = None
        try:
            with (
                open(tmp[0], "wb") as fcap,
                open(tmp[1], "w", encoding="utf-8") as ftruth,
                open(tmp[2], "w", encoding="utf-8") as fevents,
            ):
                self.ftruth = ftruth
                self.fevents = fevents
                if self._use_worker():
                    worker = self.worker = _EmitWorker(
                        fcap, ftruth, self.fmt, self.interfaces, self.hop_list, self.epoch_us
                    )
                    self.flush = self._flush_remote
                else:
                    self.w = _Writer(fcap, self.fmt, self.interfaces)
                self._plan_faults(t_end)
                self._loop()
                if worker is not None:
                    worker.close()
                    worker = self.worker = None
                else:
                    assert self.w is not None
                    self.w.flush()
                ftruth.write("".join(self.truth_buf))
            tmp[3].write_text(self._config_yaml(), encoding="utf-8")
            for a, b in zip(tmp, self.paths, strict=True):
                os.replace(a, b)
        except BaseException:
            if worker is not None:
                worker.abort()
            for p in tmp:
                with contextlib.suppress(OSError):
                    p.unlink()
            raise
        finally:
            if gc_was_enabled:
                gc.enable()
        r = self.result
        r.elapsed_s = time.perf_counter() - t_start
        if self.first_ts is not None:
            r.duration_s = (self.last_ts - self.first_ts) / 1e6
        return r

    def _loop(self) -> None:
        """Arrivals in time order (Poisson traffic merged with scheduled items); before each arrival,
        the buckets it can no longer add to are written and the circuits released by then are idle."""
        if not self.sc.faults and self.cap_end is None and not self.warmup_us and self.minute_factors is None:
            self._loop_plain()
            return
        sched = self.sched
        heappop = heapq.heappop
        advance = self._advancer()
        cap_end = self.cap_end
        cur = -(self.warmup_us // BUCKET_US) - 2
        trunks = self.trunks
        one_trunk = trunks[0] if len(trunks) == 1 else None
        cum = self.trunk_cum
        total = cum[-1]
        rnd = self.rng.random
        gen = self._new_call
        fast_calls = [self._fast_caller(tr) if tr.fast else _no_fast_path for tr in trunks]
        fast = not self.rate_faults and cap_end is None and not self.warmup_us
        # Poisson arrivals, inlined (see _poisson, which must draw the same numbers)
        rng = self.rng_arr
        rnd_arr = rng.random
        log = math.log
        cps = self.sc.traffic.cps
        factors = self.minute_factors
        epoch_min = (self.sc.capture.start + self.sc.capture.utc_offset_s) / 60.0
        dur = self.sc.duration_s
        dur_us = dur * 1_000_000 if dur else math.inf
        remaining = self.ncalls
        tf = float(-self.warmup_us)
        inf = NEVER
        nxt = inf
        while True:
            if nxt == inf and remaining > 0:
                while True:
                    tf += -log(1.0 - rnd_arr()) / cps * 1_000_000  # rng.expovariate(cps) seconds
                    if factors is None or rnd_arr() < factors[int(epoch_min + tf / 60_000_000) % 1440]:
                        break
                if tf >= 0:
                    remaining -= 1
                    if tf > dur_us:
                        remaining = 0
                        continue
                nxt = int(tf)
            if sched and sched[0][0] < nxt:
                t, _, kind, payload = heappop(sched)
                src: tuple[str, Any] | None = (kind, payload)
            elif nxt != inf:
                t = nxt
                nxt = inf
                src = None
            else:
                break
            if cap_end is not None and t > cap_end:
                continue
            b = t // BUCKET_US
            cur = advance(t, b, cur)
            if src is None:
                tr = one_trunk or trunks[bisect(cum, rnd() * total)]
                if fast and tr.fast:
                    fast_calls[tr.index](t, b)
                else:
                    gen(t, tr, None, None, None, False, None)
            else:
                self._scheduled(t, src[0], src[1])
        self._drain()

    def _advancer(self) -> Callable[[int, int, int], int]:
        """The step of both loops before an arrival at ``t`` (bucket ``b``): write the buckets before
        ``b`` (from ``cur``, the next one to write) and make the circuits released up to ``t`` idle.
        Returns the next bucket to write."""
        buckets = self.buckets
        releases = self.releases
        heappop = heapq.heappop
        pools: list[Any] = [tr.pool for tr in self.trunks]  # by trunk index, as in the release keys
        flush = self.flush

        def advance(t: int, b: int, cur: int) -> int:
            while cur < b:
                lst = buckets.pop(cur, None)
                if lst:
                    flush(lst, cur)
                cur += 1
            limit = (t + 1) << _REL_TIME  # the releases up to t (see _release_key)
            while releases and releases[0] < limit:
                key = heappop(releases)
                pool = pools[(key >> 32) & 0xFFFF]
                cic = key & _U32_MASK
                if cic not in pool.pos:  # CircuitPool.give, inlined
                    pool.pos[cic] = len(pool.free)
                    pool.free.append(cic)
            return cur

        return advance

    def _loop_plain(self) -> None:
        """:meth:`_loop` for traffic without faults (nothing is ever scheduled), busy hours, warm-up or
        cut: the same arrivals (the same draws of ``rng_arr``, each a C-level pipeline of ``map`` and
        ``accumulate`` that makes the same float operations in the same order as :meth:`_poisson`), the
        same trunk draws, bucket writes and circuit releases, with less work per call."""
        advance = self._advancer()
        gen = self._new_call

        def general(tr: TrunkRT) -> Callable[[int, int], None]:
            def call(t: int, b: int) -> None:
                gen(t, tr, None, None, None, False, None)

            return call

        callers = [self._fast_caller(tr) if tr.fast else general(tr) for tr in self.trunks]
        one = callers[0] if len(callers) == 1 else None
        cum = self.trunk_cum
        total = cum[-1]
        rnd = self.rng.random
        dur = self.sc.duration_s
        dur_us = dur * 1_000_000 if dur else math.inf
        # tf += -log(1.0 - random()) / cps * 1_000_000, as tf - log(1.0 - random()) / cps * 1e6 (the
        # same value: negation is exact); one random() per arrival, drawn when the arrival is taken
        steps = map(
            mul,
            map(
                truediv,
                map(math.log, map((1.0).__sub__, iter(self.rng_arr.random, 2.0))),
                repeat(self.sc.traffic.cps),
            ),
            repeat(1e6),
        )
        arrivals = accumulate(steps, sub, initial=0.0)
        next(arrivals)  # the initial value
        cur = -2  # the bucket to write next
        for tf in islice(arrivals, self.ncalls):
            if tf > dur_us:
                break
            t = int(tf)
            b = t // BUCKET_US
            cur = advance(t, b, cur)
            (one or callers[bisect(cum, rnd() * total)])(t, b)
        self._drain()

    def _drain(self) -> None:
        """Write the buckets left at the end, and count the fast-path calls in the result."""
        buckets = self.buckets
        for k in sorted(buckets):
            self.flush(buckets.pop(k), k)
        r = self.result
        if self._last_unsorted is not None:
            self.last_ts += max(map(_first, self._last_unsorted))
        for entry, n in zip(self.factory.outcomes, self.fast_outcomes, strict=True):
            if n:
                r.outcomes[OUTCOME_KINDS[entry.kind][0]] += n
                r.calls += n

    def _pick_trunk(self, f: FaultSpec) -> TrunkRT:
        if not f.trunks:
            return self.trunks[bisect(self.trunk_cum, self.rng.random() * self.trunk_cum[-1])]
        if len(f.trunks) == 1:
            return self.by_name[f.trunks[0]]
        return self.by_name[f.trunks[self.rng.randrange(len(f.trunks))]]

    def _scheduled(self, t: int, kind: str, payload: Any) -> None:
        if kind == "fault":
            self._new_call(t, self._pick_trunk(payload), payload)
        elif kind == "repeat":
            self._repeat_group(t, payload)
        elif kind == "event":
            if payload.type == "circuit-reset-burst":
                self._reset_burst(t, payload)
            else:
                self._block(t, payload)
        elif kind == "call":  # a prepared call (retry, blocked attempt, repeat attempt)
            fn, args = payload
            fn(t, *args)

    # -- calls ----------------------------------------------------------------------------------------
    def _numbers(self, call: Call, tr: TrunkRT, f: FaultSpec | None) -> None:
        assert tr.called is not None and tr.calling is not None
        called, calling_number, call.calling_attrs = tr.pick_numbers()
        calling: str | None = calling_number
        if f is not None:
            prefix = f.params.get("called_prefix")
            if prefix:
                called = tr.called.pick_prefixed(prefix, f.params.get("called_length"))
            if f.params.get("calling"):
                calling = f.params["calling"]
                call.calling_attrs = (f.params.get("calling_nai", 3), 1, 3, 0)
            if f.type == "calling-number-anomaly":
                kinds = f.p("kinds", CALLING_ANOMALIES)
                anomaly = kinds[self.rng.randrange(len(kinds))]
                calling, call.calling_attrs = anomalous_calling(anomaly, calling, call.calling_attrs)
                call.fault_detail = anomaly
        call.called = called
        call.calling = calling

    def _new_call(
        self,
        t: int,
        tr: TrunkRT,
        f: FaultSpec | None,
        cic: int | None = None,
        numbers: tuple[str, str | None, Any] | None = None,
        reverse: bool = False,
        overlap: bool | None = None,
        related: int | None = None,
        group: int | None = None,
    ) -> Call | None:
        """Generate one call arriving at ``t`` on ``tr`` (with fault ``f``) and queue its messages.

        ``overlap`` says whether a healthy call sends its number in overlap (None: draw it)."""
        if f is None and self.rate_faults:
            f = self._rate_fault(t, tr)
        pool = tr.pool
        if pool is not None and cic is None:
            if f is not None and f.type == "dual-seizure":
                cic = self._controlled_cic(tr)
            else:
                cic = pool.take_random(self.rng)
            if cic is None:
                self.result.skipped += 1
                return None
        self.call_seq += 1
        call = Call(self.call_seq, tr, t)
        call.cic = cic
        if reverse:
            call.reverse = True
        if related is not None:
            call.related = related
        if group is not None:
            call.group = group
        if numbers is not None:
            call.called, call.calling, call.calling_attrs = numbers
        else:
            self._numbers(call, tr, f)
        fac = self.factory
        if overlap is None:
            overlap = bool(tr.overlap) and fac.r() < tr.overlap
        hop = tr.spec.hop_counter
        T = tr.T
        if f is None:
            if overlap:
                fac.healthy(call, T, fac.pick_outcome(), overlap, hop)
            else:
                # the common case: a pooled flow after a fresh IAM
                tail = fac.tail(T, hop, self._tail_json)
                call.flow = [
                    (
                        0,
                        0,
                        T.iam(call.called, fac.r() < self.en_bloc_st, call.calling, call.calling_attrs, hop),
                    ),
                    *tail.flow,
                ]
                call.kind = tail.kind
                call.outcome = call.intended = tail.outcome
                call.detail = tail.detail
                call.cause = tail.cause
                call.location = tail.location
                call.released_by = tail.released_by
                call.free_at = tail.free_at
                call.conv = tail.conv
                if related is None and group is None:
                    call.tail_json = tail.json
        else:
            self._faulty(call, tr, f, overlap)
        self._dispatch(call)
        return call

    def _faulty(self, call: Call, tr: TrunkRT, f: FaultSpec, overlap: bool) -> None:
        """Fill ``call`` with the flow of fault ``f``."""
        fac = self.factory
        hop = tr.spec.hop_counter
        if f.type == "dual-seizure":
            fac.healthy(call, tr.T, fac.pick_outcome(), overlap, hop)
            self._dual_seizure(call, tr, f)
        elif f.type == "unequipped-circuit":
            self._unequipped(call, tr, f, overlap)
        else:
            fac.fault(call, tr.T, f, overlap, hop)
            if f.type == "orphan-message":
                call.drop_iam = True
                call.fault = "orphan-message"

    def _rate_fault(self, t: int, tr: TrunkRT) -> FaultSpec | None:
        x = self.rng.random()
        acc = 0.0
        for f in self.rate_faults:
            if f.trunks and tr.name not in f.trunks:
                continue
            if f.start_s is not None and t < f.start_s * 1e6:
                continue
            if f.end_s is not None and t > f.end_s * 1e6:
                continue
            acc += f.rate
            if x < acc:
                return f
        return None

    def _push(self, tr: TrunkRT, t: int, direction: int, data: bytes, sls: int, tag: Any) -> None:
        """Queue one message on every hop of the trunk (the first hop's copy carries ``tag``).

        A queued item is ``(offset, key, data, tag)`` in the bucket of its time (``offset``:
        micro-seconds from the bucket's start, see the module docstring): ``key`` packs the hop index,
        direction, SLS and data length (:func:`item_key`), ``tag`` is 0 for a message, -1 for a SIP
        message without ISUP, or, on an IAM, what its truth row is written from (written with the IAM's
        frame number): the :class:`Call`, or the tuple of a fast-path call (:meth:`_fast_caller`).  A
        bucket that gets an item whose tag is not 0 is noted in ``slow_buckets``: with a writer process
        (:class:`_EmitWorker`) this process orders it and writes its :class:`Call` rows.
        """
        key: Any = 0
        if tag is False:
            key = -1
        elif tag is not None:
            key = tag
        cap_end = self.cap_end
        n = len(data)
        for hop, delay in tr.hops:
            tt = t if delay is None else t + delay()
            if tt < self.start_us or (cap_end is not None and tt > cap_end):
                continue
            b, u = divmod(tt, BUCKET_US)
            self.buckets[b].append((u, item_key(hop, direction, sls, n), data, key))
            if key != 0:
                self.slow_buckets.add(b)
            if key.__class__ is not int:
                key = 0  # the truth row goes with the first hop's copy

    def _dispatch(self, call: Call) -> None:
        """Queue a call's messages and arrange its truth row (written when its IAM is)."""
        tr = call.trunk
        t0 = call.t0
        flow = call.flow
        cap_end = self.cap_end
        visible = flow
        clipped = t0 < self.start_us or call.drop_iam or (cap_end is not None and t0 + flow[-1][0] > cap_end)
        if clipped:
            lo = self.start_us - t0
            hi = None if cap_end is None else cap_end - t0
            visible = [m for m in flow if m[0] >= lo and (hi is None or m[0] <= hi)]
            if call.drop_iam and visible and visible[0][2][0] == IAM:
                visible = visible[1:]
        iam_visible = bool(visible) and visible[0][0] == 0 and visible[0][2][0] == IAM and not call.drop_iam
        if not iam_visible:
            if visible:
                self._orphan(call, visible)
        elif clipped:
            self._observe(call, visible)
        if call.free_at is not None and call.cic is not None and tr.pool is not None:
            self.seq += 1
            heapq.heappush(self.releases, _release_key(t0 + call.free_at, self.seq, tr.index, call.cic))
        if not visible:
            return
        rev = 1 if call.reverse else 0
        if tr.sip:
            self._dispatch_sip(call, visible, iam_visible)
            return
        cicb = tr.T.cic(call.cic) if call.cic is not None else b""
        sls = (call.cic or 0) & 0x0F
        if tr.single is not None and cap_end is None and t0 >= self.start_us:
            # fast path: one hop, nothing clipped
            lane = item_key(tr.single, 0, sls, 0)
            buckets = self.buckets
            key: Any = call if iam_visible else 0
            for t, d, body in visible:
                b, u = divmod(t0 + t, BUCKET_US)
                data = cicb + body
                buckets[b].append((u, lane | (d ^ rev) << 24 | len(data), data, key))
                if key != 0:
                    self.slow_buckets.add(b)
                key = 0
            return
        push = self._push
        tag = call if iam_visible else None
        for t, d, body in visible:
            push(tr, t0 + t, d ^ rev, cicb + body, sls, tag)
            tag = None

    def _dispatch_sip(self, call: Call, visible: list[tuple[int, int, bytes]], iam_visible: bool) -> None:
        tr = call.trunk
        s = tr.spec
        tr.sip_dialogs += 1
        host = s.a_ip if ":" not in s.a_ip else "sigdiag.invalid"
        cid = f"{self.seed:x}{call.call_id:08x}{tr.index:02x}@{host}"
        call.sip_call_id = cid
        dialog = SipDialog(cid, s.a_ip, s.b_ip, call.calling or "", call.called, s.variant)
        # The dialog needs the whole flow (it tracks answer and release), including messages outside the
        # capture; only the visible ones are queued.
        vis = set(map(id, visible))
        t0 = call.t0
        first = True
        for m in call.flow:
            t, d, body = m
            out = dialog.map(d, body)
            if id(m) not in vis:
                continue
            for dt, dd, payload, isup in out:
                if isup:
                    tag: Any = call if first and iam_visible else None
                    first = False
                else:
                    tag = False
                self._push(tr, t0 + t + dt, dd, payload, 0, tag)


def run(
    scenario: Scenario, out: str | os.PathLike[str], calls: int | None, seed: int, fmt: str | None
) -> SimulationResult:
    """Run one simulation (see :func:`sigdiag.simulate.simulate`)."""
    r = _Run(scenario, Path(out), calls, seed, fmt)
    return r.run()
