"""Trunks and circuits: a trunk's run-time state and hops, circuit pools and releases, circuit events.

* :class:`TrunkRT`: one trunk at run time (templates, number sources, hops, pooled flows, the fast
  path's copies of them); :meth:`CircuitEvents._build_trunks` makes them and their hops
  (:mod:`sigdiag.simulate.framing`), sharing SCTP associations between trunks with the same addresses;
* :class:`CircuitPool`: a trunk's idle circuits; a pending release is one int in the run's heap
  (:func:`_release_key`);
* :class:`CircuitEvents` (the run's part, see :mod:`sigdiag.simulate.runstate`): the faults that act on
  circuits: dual seizure, unequipped circuit, circuit reset bursts (RSC, GRS), blocking (BLO, CGB) with
  attempts on the blocked circuits, and repeat-attempt groups.
"""

from __future__ import annotations

import heapq
import json
import random
from collections.abc import Callable
from typing import Any

from sigdiag.simulate.faults import FaultSpec
from sigdiag.simulate.flows import Call, FlowTail, NumberSource
from sigdiag.simulate.framing import (
    BiccSctpHop,
    Hop,
    M2paHop,
    M2uaHop,
    M3uaHop,
    Mtp2Hop,
    SctpAssociation,
    UdpHop,
    item_key,
)
from sigdiag.simulate.isupgen import Templates
from sigdiag.simulate.runstate import RunState
from sigdiag.simulate.scenario import TrunkSpec

#: A pending circuit release is one int, ``time << _REL_TIME | (order + _REL_ORDER) << 48 | trunk << 32 |
#: CIC`` (:func:`_release_key`), not a tuple: the heap then compares ints (about five times cheaper than
#: tuples, and a heap push and pop make some twelve comparisons per call) and the order is the same as
#: that of ``(time, order)`` (unique: ``order`` is a sequence number, or minus the call id on the fast
#: path).  Trunk indexes are below 2**16 and CICs below 2**32 (four octets in BICC).
_REL_ORDER = 1 << 41
_REL_TIME = 90
_U32_MASK = 0xFFFFFFFF


class CircuitPool:
    """Idle circuits of one trunk: O(1) random take, take of a given CIC, and give back."""

    __slots__ = ("free", "pos")

    def __init__(self, ranges: tuple[tuple[int, int], ...]) -> None:
        self.free = [c for a, b in ranges for c in range(a, b + 1)]
        self.pos = {c: i for i, c in enumerate(self.free)}

    def _remove_at(self, i: int) -> int:
        free = self.free
        c = free[i]
        last = free.pop()
        if last != c:
            free[i] = last
            self.pos[last] = i
        del self.pos[c]
        return c

    def take_random(self, rng: random.Random) -> int | None:
        n = len(self.free)
        if not n:
            return None
        return self._remove_at(int(rng.random() * n))

    def take(self, cic: int) -> bool:
        i = self.pos.get(cic)
        if i is None:
            return False
        self._remove_at(i)
        return True

    def give(self, cic: int) -> None:
        if cic not in self.pos:
            self.pos[cic] = len(self.free)
            self.free.append(cic)

    def is_free(self, cic: int) -> bool:
        return cic in self.pos


class TrunkRT:
    """Run-time state of one trunk."""

    def pick_numbers(self) -> tuple[str, str, tuple[int, int, int, int]]:
        """(called, calling, calling attributes) of a new call."""
        called = self.called_draw()[0]
        calling, attrs = self.calling_draw()
        return called, calling, attrs

    def __init__(self, spec: TrunkSpec, index: int) -> None:
        self.spec = spec
        self.index = index
        self.name = spec.name
        self.sip = spec.carrier == "sip-i"
        self.no_pcs = spec.carrier in ("sip-i", "bicc")  # SIP-I and BICC on SCTP carry no point codes
        self.T = Templates(spec.protocol, spec.variant)
        self.pool = None if self.sip else CircuitPool(spec.cics)
        self.hops: list[tuple[int, Any]] = []  # (index in _Run.hop_list, delay sampler of a second hop)
        self.called: NumberSource | None = None
        self.calling: NumberSource | None = None
        self.called_draw: Callable[[], tuple[str, tuple[int, int, int, int]]] = _unset
        self.calling_draw: Callable[[], tuple[str, tuple[int, int, int, int]]] = _unset
        self.hop_counter: int | None = None
        self.tails: list[list[FlowTail | None]] = []
        self.overlap = 0.0  # share of overlap-sending calls (0 for ANSI trunks)
        self.sip_dialogs = 0
        self.single: int | None = None  # the hop (index) of a one-hop trunk
        self.fast = False  # one hop, circuits: eligible for the fast path (_Run._fast_caller)
        #: _Run._fast_caller's view of ``tails`` (same shape): (flow with item keys, free_at, FlowTail)
        self.fast_tails: list[list[tuple[Any, ...] | None]] = []
        self.lane = 0  # item key of the single hop with direction 0, SLS 0 and no data
        # _Run._fast_caller's copy of the number sources (NumberSource.draw inlined): cumulative weights,
        # total, and (format, modulus) or (format, modulus, calling attributes) per pattern
        self.called_cum: list[float] = []
        self.called_total = 0.0
        self.called_fmt: list[tuple[Any, ...]] = []
        self.calling_cum: list[float] = []
        self.calling_total = 0.0
        self.calling_fmt: list[tuple[Any, ...]] = []
        #: IAM hex templates (Templates.iam_hex) and the length of CIC + IAM, by (called pattern, calling
        #: pattern, ST)
        self.iam_hex: list[tuple[str, str, str, int] | None] = []
        self.prefix = ""  # the truth row's trunk fields, JSON-encoded
        self.prefix_fwd = ""  # ... and the point codes of a call from A to B


def _unset() -> tuple[str, tuple[int, int, int, int]]:  # pragma: no cover - replaced at set-up
    raise AssertionError("number source not set up")


def _no_fast_path(t: int, b: int) -> None:  # pragma: no cover - only trunks with tr.fast are called
    raise AssertionError("not a fast-path trunk")


def _release_key(t: int, order: int, trunk: int, cic: int) -> int:
    """A pending circuit release in the heap ``_Run.releases``: see :data:`_REL_ORDER`."""
    return (t << _REL_TIME) + ((order + _REL_ORDER) << 48 | trunk << 32 | cic)


class CircuitEvents(RunState):
    """CIRCUITMIXIN"""

    def _build_trunks(self) -> None:
        sc = self.sc
        self.trunks = [TrunkRT(s, i) for i, s in enumerate(sc.trunks)]
        self.hop_list: list[Hop] = []
        assocs: dict[tuple[str, int, str, int], SctpAssociation] = {}
        ng = self.fmt == "pcapng"
        has_ip = any(t.carrier != "mtp2" for t in sc.trunks)
        self.interfaces: list[tuple[int, str]] = [(1, "eth0")] if has_ip else []
        if not ng and not has_ip:
            self.interfaces = [(140, "mtp2")]
        rng = self.rng_net

        def assoc(a: str, ap: int, b: str, bp: int, t: TrunkSpec) -> SctpAssociation:
            key = (a, ap, b, bp)
            if key not in assocs:
                assocs[key] = SctpAssociation(a, ap, b, bp, t.vlan, t.streams, rng)
            return assocs[key]

        for tr in self.trunks:
            s = tr.spec
            tr.called = NumberSource(s.called or sc.called, self.rng)
            tr.calling = NumberSource(s.calling or sc.calling, self.rng)
            tr.called_draw = tr.called.draw
            tr.calling_draw = tr.calling.draw
            tr.hop_counter = s.hop_counter
            tr.tails = self.factory.tail_pools(tr.T, s.hop_counter)
            si = 13 if s.protocol == "bicc" else 5
            legs = [(s.a_ip, s.b_ip)] if s.hops == 1 else [(s.a_ip, s.stp_ip), (s.stp_ip, s.b_ip)]
            for h, (a, b) in enumerate(legs):
                hop: Hop
                if s.carrier == "mtp2":
                    iface = len(self.interfaces) if ng else 0
                    if ng:
                        self.interfaces.append(
                            (140, f"mtp2-{s.name}" + (f"-hop{h + 1}" if s.hops > 1 else ""))
                        )
                    hop = Mtp2Hop(s.pc_format, si, s.ni, s.opc, s.dpc, s.mtp2_fcs, iface, rng)
                elif s.carrier == "sip-i":
                    hop = UdpHop(a, s.sport, b, s.dport, s.vlan)
                else:
                    asc = assoc(a, s.sport, b, s.dport, s)
                    if s.carrier == "m3ua":
                        hop = M3uaHop(asc, si, s.ni, s.opc, s.dpc, s.routing_context, s.network_appearance)
                    elif s.carrier == "m2pa":
                        hop = M2paHop(asc, s.pc_format, si, s.ni, s.opc, s.dpc, rng)
                    elif s.carrier == "m2ua":
                        hop = M2uaHop(asc, s.pc_format, si, s.ni, s.opc, s.dpc, s.m2ua_interface)
                    else:
                        hop = BiccSctpHop(asc)
                delay = None if h == 0 else s.hop_delay_ms.sampler(self.rng, 1000.0)
                tr.hops.append((len(self.hop_list), delay))
                self.hop_list.append(hop)
            head = {
                "trunk": s.name,
                "carrier": s.carrier,
                "protocol": s.protocol,
                "variant": s.variant,
                "pc_format": s.pc_format,
            }
            tr.prefix = json.dumps(head, separators=(",", ":"))[1:-1]
            tr.prefix_fwd = (
                f'{tr.prefix},"opc":null,"dpc":null'
                if tr.no_pcs
                else f'{tr.prefix},"opc":{s.opc},"dpc":{s.dpc}'
            )
            if len(tr.hops) == 1:
                tr.single = tr.hops[0][0]
                tr.fast = not tr.sip
                tr.lane = item_key(tr.single, 0, 0, 0)
                tr.fast_tails = [[None] * len(p) for p in tr.tails]
                called, calling = tr.called, tr.calling
                tr.called_cum, tr.called_total = called.cum, called.total
                tr.called_fmt = [f[:2] for f in called._fmt]
                tr.calling_cum, tr.calling_total = calling.cum, calling.total
                tr.calling_fmt = list(calling._fmt)
                tr.iam_hex = [None] * (len(tr.called_fmt) * len(tr.calling_fmt) * 2)
        for tr in self.trunks:
            tr.overlap = 0.0 if tr.spec.variant == "ansi" else sc.traffic.overlap_share

    # -- arrivals -------------------------------------------------------------------------------------

    def _controlled_cic(self, tr: TrunkRT) -> int | None:
        """An idle CIC that the trunk's OPC controls in a dual seizure (Q.764 2.10.1.4: the exchange with
        the higher point code controls the even-numbered circuits)."""
        pool = tr.pool
        assert pool is not None
        want_even = tr.spec.opc > tr.spec.dpc
        for _ in range(64):
            cic = pool.take_random(self.rng)
            if cic is None:
                return None
            if (cic % 2 == 0) == want_even:
                return cic
            pool.give(cic)
        return pool.take_random(self.rng)

    def _dual_seizure(self, call: Call, tr: TrunkRT, f: FaultSpec) -> None:
        """The far end seizes the same circuit for its own call a moment after our IAM; it does not
        control the circuit, so it backs off and retries its call on another circuit."""
        self.call_seq += 1
        other = Call(self.call_seq, tr, call.t0 + self.rng.randint(200, 3000))
        other.reverse = True
        other.cic = call.cic
        self._numbers(other, tr, None)
        other.flow = [
            (0, 0, tr.T.iam(other.called, True, other.calling, other.calling_attrs, tr.spec.hop_counter))
        ]
        other.outcome = other.intended = other.kind = "network"
        other.detail = "dual-seizure-backed-off"
        other.fault = "dual-seizure"
        other.related = call.call_id
        call.related = other.call_id
        other.free_at = None  # the circuit belongs to the winning call
        self._dispatch(other)
        retry_t = other.t0 + self.factory.sampler("retry", f.p("retry_ms", None), 1000.0)()
        nums = (other.called, other.calling, other.calling_attrs)
        self._schedule(retry_t, "call", (self._retry, (tr, nums, True, other.call_id)))

    def _retry(
        self, t: int, tr: TrunkRT, nums: tuple[str, str | None, Any], reverse: bool, related: int
    ) -> None:
        self._new_call(t, tr, None, numbers=nums, reverse=reverse, related=related)

    def _unequipped(self, call: Call, tr: TrunkRT, f: FaultSpec, overlap: bool) -> None:
        fac = self.factory
        flow, t_addr, _ = fac.address(call, tr.T, False, tr.spec.hop_counter)
        t_ucic = t_addr + fac.resp()
        flow.append((t_ucic, 1, tr.T.simple("UCIC")))
        call.flow = flow
        call.outcome = call.intended = call.kind = "network"
        call.detail = "unequipped-circuit"
        call.fault = "unequipped-circuit"
        call.free_at = None  # the circuit is taken out of service
        retry_t = call.t0 + t_ucic + fac.sampler("retry", f.p("retry_ms", None), 1000.0)()
        nums = (call.called, call.calling, call.calling_attrs)
        self._schedule(retry_t, "call", (self._retry, (tr, nums, False, call.call_id)))

    def _repeat_group(self, t: int, f: FaultSpec) -> None:
        tr = self._pick_trunk(f)
        assert tr.called is not None and tr.calling is not None
        number = f.params.get("number") or tr.called.pick()[0]
        calling, cpat = tr.calling.pick()
        nums = (number, calling, (cpat.nai, cpat.plan, cpat.screening, cpat.presentation))
        lo, hi = f.p("attempts", (4, 6))
        n = self.rng.randint(lo, hi)
        gap = self.factory.sampler("interval", f.p("interval_s", None), 1e6)
        self.group_seq += 1
        group = self.group_seq
        tt = t
        for _ in range(n):
            self._schedule(tt, "call", (self._repeat_attempt, (tr, f, nums, group)))
            tt += max(gap(), 1_000_000)
        self._event(
            {
                "fault": "repeat-attempts",
                "scope": "call-group",
                "trunk": tr.name,
                "group": group,
                "called": number,
                "calling": calling,
                "attempts": n,
                "window_start": self._ts(t),
                "window_end": self._ts(tt),
            }
        )

    def _repeat_attempt(
        self, t: int, tr: TrunkRT, f: FaultSpec, nums: tuple[str, str | None, Any], group: int
    ) -> None:
        self._new_call(t, tr, f, numbers=nums, group=group)

    # -- circuit events -------------------------------------------------------------------------------
    def _free_run(self, tr: TrunkRT, n: int, contiguous: bool) -> list[int]:
        """Take ``n`` idle circuits (consecutive CICs when ``contiguous``)."""
        pool = tr.pool
        assert pool is not None
        if not contiguous:
            out = []
            for _ in range(n):
                c = pool.take_random(self.rng)
                if c is None:
                    break
                out.append(c)
            return out
        for _ in range(200):
            c0 = pool.free[self.rng.randrange(len(pool.free))] if pool.free else None
            if c0 is None:
                return []
            run = list(range(c0, c0 + n))
            if all(pool.is_free(c) for c in run):
                for c in run:
                    pool.take(c)
                return run
        return []

    def _push_circuit(self, tr: TrunkRT, t: int, cic: int, direction: int, body: bytes) -> None:
        """Queue one circuit supervision message (A -> B when direction is 0)."""
        data = tr.T.cic(cic) + body
        sls = cic & 0x0F
        self._push(tr, t, direction, data, sls, None)

    def _reset_burst(self, t: int, f: FaultSpec) -> None:
        tr = self._pick_trunk(f)
        T = tr.T
        fac = self.factory
        side = 1 if f.p("from", "dpc") == "dpc" else 0
        spread = round(float(f.p("spread_s", 5.0)) * 1e6)
        cics = self._free_run(tr, int(f.p("rsc", 8)), False)
        last = t
        for c in cics:
            tc = t + self.rng.randrange(max(spread, 1))
            self._push_circuit(tr, tc, c, side, T.simple("RSC"))
            te = tc + fac.resp()
            self._push_circuit(tr, te, c, side ^ 1, T.rlc())
            last = max(last, te)
            self._release_at(te + 1000, tr, c)
        groups = []
        lo, hi = f.p("grs_range", (8, 16))
        for _ in range(int(f.p("grs", 1))):
            n = self.rng.randint(max(lo, 2), max(hi, 2))
            run = self._free_run(tr, n, True)
            if not run:
                continue
            tc = t + self.rng.randrange(max(spread, 1))
            self._push_circuit(tr, tc, run[0], side, T.grs(len(run)))
            te = tc + fac.resp()
            self._push_circuit(tr, te, run[0], side ^ 1, T.gra(len(run)))
            last = max(last, te)
            for c in run:
                self._release_at(te + 1000, tr, c)
            groups.append([run[0], run[-1]])
        fields = {"rsc_cics": sorted(cics), "grs_ranges": groups}
        self._circuit_event("circuit-reset-burst", tr, side, fields, t, last, count=len(cics) + len(groups))

    def _block(self, t: int, f: FaultSpec) -> None:
        """Block circuits (BLO or CGB from the far end), attempt calls on them, unblock later."""
        tr = self._pick_trunk(f)
        T = tr.T
        fac = self.factory
        side = 1 if f.p("from", "dpc") == "dpc" else 0
        n = max(1, int(f.p("circuits", 1)))
        group = bool(f.p("group", False)) and n >= 2
        cics = self._free_run(tr, n, group)
        if not cics:
            return
        blocked_us = round(float(f.p("blocked_s", 120.0)) * 1e6)
        t_unblock = t + blocked_us
        if group:
            mask = (1 << len(cics)) - 1
            self._push_circuit(tr, t, cics[0], side, T.group("CGB", len(cics), mask))
            self._push_circuit(tr, t + fac.resp(), cics[0], side ^ 1, T.group("CGBA", len(cics), mask))
            self._push_circuit(tr, t_unblock, cics[0], side, T.group("CGU", len(cics), mask))
            t_end = t_unblock + fac.resp()
            self._push_circuit(tr, t_end, cics[0], side ^ 1, T.group("CGUA", len(cics), mask))
        else:
            t_end = t_unblock
            for c in cics:
                self._push_circuit(tr, t, c, side, T.simple("BLO"))
                self._push_circuit(tr, t + fac.resp(), c, side ^ 1, T.simple("BLA"))
                self._push_circuit(tr, t_unblock, c, side, T.simple("UBL"))
                t_end = t_unblock + fac.resp()
                self._push_circuit(tr, t_end, c, side ^ 1, T.simple("UBA"))
        attempts = int(f.p("attempts", 1))
        for i in range(attempts):
            ta = t + 1_000_000 + self.rng.randrange(max(blocked_us - 2_000_000, 1))
            c = cics[i % len(cics)]
            self._schedule(ta, "call", (self._blocked_attempt, (tr, f, c, side)))
        for c in cics:
            self._release_at(t_end + 1000, tr, c)
        fields = {"cics": cics, "group": group}
        self._circuit_event("blocked-circuit-attempt", tr, side, fields, t, t_end, attempts=attempts)

    def _circuit_event(
        self, fault: str, tr: TrunkRT, side: int, fields: dict[str, Any], start: int, end: int, **tail: Any
    ) -> None:
        """The events-file row of a circuit event sent from ``side`` (0: the trunk's OPC) of ``tr``."""
        s = tr.spec
        opc, dpc = (s.opc, s.dpc) if side == 0 else (s.dpc, s.opc)
        row = {"fault": fault, "scope": "circuit", "trunk": tr.name, "opc": opc, "dpc": dpc, **fields}
        self._event({**row, "window_start": self._ts(start), "window_end": self._ts(end), **tail})

    def _blocked_attempt(self, t: int, tr: TrunkRT, f: FaultSpec, cic: int, side: int) -> None:
        """An IAM on a circuit the far end has blocked: released at once."""
        self.call_seq += 1
        call = Call(self.call_seq, tr, t)
        call.cic = cic
        call.reverse = side == 0  # the call comes from the side that did not block
        self._numbers(call, tr, None)
        fac = self.factory
        flow, t_addr, _ = fac.address(call, tr.T, False, tr.spec.hop_counter)
        cause = int(f.p("cause", 44))
        t_rel = t_addr + self.rng.randint(2_000, 50_000)
        fac.failed(call, flow, tr.T, t_rel, 1, cause, 3, "network", "blocked-circuit")
        call.fault = "blocked-circuit-attempt"
        call.free_at = None  # stays blocked; given back after unblocking
        self._dispatch(call)

    def _release_at(self, t: int, tr: TrunkRT, cic: int) -> None:
        if tr.pool is not None:
            self.seq += 1
            heapq.heappush(self.releases, _release_key(t, self.seq, tr.index, cic))

    # -- queueing -------------------------------------------------------------------------------------
