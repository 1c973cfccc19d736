"""Call flows: the ISUP messages of one call, with their times, for every outcome and call-level fault.

A flow is a list of ``(t_us, direction, body)``: time in microseconds after the IAM, direction 0
forward (from the calling side) or 1 backward, and the message body without CIC (see
:mod:`sigdiag.simulate.isupgen`).  :class:`Call` carries the flow and what the truth file says about
the call.  Q.764 procedures followed: IAM, optional SAMs (overlap), ACM or CON, optional CPG
(alerting), ANM, REL from the releasing side, RLC from the other side.

Timing rules that keep healthy traffic clean for the diagnosis rules:

* a backward release before ACM in an overlap call comes at least ``min_release_after_sam_ms`` after
  the latest SAM (faster releases there are the ``incomplete-digit-collection`` fault);
* every backward message before T7 (20 s) and every RLC within a few milliseconds;
* answered calls last at least ``holding_s.min`` seconds (5 s by default).
"""

from __future__ import annotations

import random
from bisect import bisect
from collections.abc import Callable
from itertools import accumulate
from typing import Any

from sigdiag.simulate.faults import FaultSpec
from sigdiag.simulate.isupgen import MESSAGE_TYPE, CallingAttrs, Templates
from sigdiag.simulate.scenario import OUTCOME_KINDS, NumberPattern, OutcomeEntry, TrafficSpec

__all__ = ["Call", "CallFactory", "NumberSource", "anomalous_calling", "cause_detail"]

REL, RLC, ANM, CON, SAM, IAM = (MESSAGE_TYPE[m] for m in ("REL", "RLC", "ANM", "CON", "SAM", "IAM"))

Flow = list[tuple[int, int, bytes]]

#: Pre-drawn healthy flows kept per template set, shared among the outcome entries by weight (at least
#: 16 each; see :meth:`CallFactory.tail`).
TAIL_POOL = 8192

_DETAIL = {
    1: "unallocated-number",
    2: "no-route-to-transit-network",
    3: "no-route-to-destination",
    16: "normal-clearing",
    17: "user-busy",
    18: "no-user-responding",
    19: "no-answer",
    20: "subscriber-absent",
    21: "call-rejected",
    22: "number-changed",
    25: "hop-counter-exhausted",
    27: "destination-out-of-order",
    28: "invalid-number-format",
    31: "normal-unspecified",
    34: "no-circuit-available",
    38: "network-out-of-order",
    41: "temporary-failure",
    42: "switching-equipment-congestion",
    44: "requested-circuit-not-available",
    47: "resource-unavailable",
    102: "recovery-on-timer-expiry",
    111: "protocol-error",
    127: "interworking",
}


def cause_detail(cause: int) -> str:
    """A short name for a cause value (``cause-<n>`` when it has none here)."""
    return _DETAIL.get(cause, f"cause-{cause}")


#: Cause location of a release: forward releases come from the calling side's network (2), backward
#: subscriber-side ones from the network serving the remote user (4), network ones from a transit node (3).
def _location(cause: int, side: int) -> int:
    if side == 0:
        return 2
    if cause < 32 and cause not in (2, 3, 25):
        return 4
    return 3


class NumberSource:
    """Draws numbers from weighted :class:`NumberPattern` entries."""

    def __init__(self, patterns: tuple[NumberPattern, ...], rng: random.Random) -> None:
        self.patterns = patterns
        self.cum = list(accumulate(p.weight for p in patterns))
        self.total = self.cum[-1]
        self.rng = rng
        self.r = rng.random
        # (format, 10**n, calling attributes) per pattern: prefix + n random digits
        self._fmt = [
            (
                f"{p.prefix.replace('%', '%%')}%0{p.length - len(p.prefix)}d",
                10 ** (p.length - len(p.prefix)),
                p.attrs,
            )
            if p.length > len(p.prefix)
            else (p.prefix.replace("%", "%%") + "%.0s", 1, p.attrs)
            for p in patterns
        ]
        self._single = self._fmt[0] if len(patterns) == 1 else None

    def pick(self) -> tuple[str, NumberPattern]:
        i = bisect(self.cum, self.r() * self.total) if len(self.cum) > 1 else 0
        fmt, mod, _ = self._fmt[i]
        return fmt % int(self.r() * mod), self.patterns[i]

    def draw(self) -> tuple[str, CallingAttrs]:
        """A number and the (calling) address attributes of its pattern: the hot-path :meth:`pick`."""
        r = self.r
        fmt, mod, attrs = self._single or self._fmt[bisect(self.cum, r() * self.total)]
        return fmt % int(r() * mod), attrs

    def pick_prefixed(self, prefix: str, length: int | None) -> str:
        """A number starting with ``prefix`` (length from the matching pattern, or ``length``)."""
        if length is None:
            length = next(
                (p.length for p in self.patterns if p.prefix.startswith(prefix[: len(p.prefix)])),
                max(len(prefix), 11),
            )
        n = length - len(prefix)
        if n <= 0:
            return prefix
        return f"{prefix}{self.rng.randrange(10**n):0{n}d}"


def anomalous_calling(
    kind: str, calling: str | None, attrs: tuple[int, int, int, int]
) -> tuple[str | None, tuple[int, int, int, int]]:
    """A calling number with the anomaly ``kind`` (see ``docs/scenario.md``)."""
    digits = calling or "01058722000"
    nai, plan, screening, presentation = attrs
    national = digits.lstrip("0") or "1058722000"
    if kind == "nai-spare":
        return digits, (0, plan, screening, presentation)
    if kind == "nai-reserved":
        return digits, (0x7E, plan, screening, presentation)
    if kind == "plan-spare":
        return digits, (nai, 0, screening, presentation)
    if kind == "international-with-trunk-prefix":
        return "0" + national, (4, 1, screening, presentation)
    if kind == "national-with-international-prefix":
        return "0086" + national, (3, 1, screening, presentation)
    if kind == "subscriber-too-long":
        return "0" + national, (1, 1, screening, presentation)
    if kind == "too-short":
        return national[:3], (3, 1, screening, presentation)
    return None, attrs  # missing


class Call:
    """One call attempt: its flow and its truth.

    Attributes not set by the generator keep the class-level defaults below (cheap to create: calls are
    made at the traffic's rate).
    """

    call_id = 0
    trunk: Any = None
    t0 = 0
    cic: int | None = None
    reverse = False
    called = ""
    calling: str | None = None
    calling_attrs: CallingAttrs = (3, 1, 3, 0)
    flow: Flow = []  # noqa: RUF012 - replaced, never mutated in place
    kind = "answered"
    outcome = "answered"
    intended = "answered"
    detail = ""
    cause: int | None = None
    location: int | None = None
    released_by: str | None = None
    conv: int | None = None  # µs from answer to the first REL (answered calls)
    fault: str | None = None
    fault_detail: str | None = None
    related: int | None = None
    group: int | None = None
    sam_count = 0
    free_at: int | None = 0  # µs after t0 when the circuit is idle again; None: never
    drop_iam = False
    sip_call_id: str | None = None
    tail_json: str | None = None  # the truth row's end, when it came with a pooled flow

    def __init__(self, call_id: int, trunk: Any, t0: int) -> None:
        self.call_id = call_id
        self.trunk = trunk
        self.t0 = t0


class FlowTail:
    """A pre-drawn healthy flow without its IAM, with what the truth says about it (see
    :meth:`CallFactory.tail`)."""

    __slots__ = (
        "cause",
        "conv",
        "detail",
        "flow",
        "free_at",
        "json",
        "kind",
        "location",
        "outcome",
        "released_by",
    )

    flow: Flow
    kind: str
    outcome: str
    detail: str
    cause: int | None
    location: int | None
    released_by: str | None
    free_at: int | None
    conv: int | None
    json: str

    def __init__(self, call: Call, json: str) -> None:
        self.flow = call.flow[1:]
        for name in _TAIL_FIELDS:
            setattr(self, name, getattr(call, name))
        self.json = json


#: The truth fields a pooled flow keeps from the call it was drawn for.
_TAIL_FIELDS = ("kind", "outcome", "detail", "cause", "location", "released_by", "free_at", "conv")


class CallFactory:
    """Builds the flows of healthy calls and of call-level faults for one scenario."""

    def __init__(self, traffic: TrafficSpec, outcomes: tuple[OutcomeEntry, ...], rng: random.Random) -> None:
        self.rng = rng
        self.r = rng.random
        self.tr = traffic
        self.outcomes = outcomes
        self.ocum = list(accumulate(o.weight for o in outcomes))
        self.ototal = self.ocum[-1]
        ms, s = 1000.0, 1_000_000.0
        self.pdd = traffic.pdd_ms.sampler(rng, ms)
        self.alert = traffic.alert_ms.sampler(rng, ms)
        self.ring = traffic.ring_s.sampler(rng, s)
        self.no_answer = traffic.no_answer_s.sampler(rng, s)
        self.abandon = traffic.abandon_s.sampler(rng, s)
        self.hold = traffic.holding_s.sampler(rng, s)
        self.early = traffic.early_release_ms.sampler(rng, ms)
        self.resp = traffic.response_ms.sampler(rng, ms)
        self.inter_digit = traffic.inter_digit_ms.sampler(rng, ms)
        self.min_after_sam = round(traffic.min_release_after_sam_ms * 1000)
        self._by_kind = {o.kind: o for o in outcomes}
        self._samplers: dict[Any, Any] = {}
        self._tails: dict[tuple[int, int | None], list[list[FlowTail | None]]] = {}
        self.pool_size = TAIL_POOL

    def sampler(self, key: Any, dist: Any, scale: float) -> Any:
        """A cached sampler for a fault parameter distribution."""
        k = id(dist), scale, key
        f = self._samplers.get(k)
        if f is None:
            f = self._samplers[k] = dist.sampler(self.rng, scale)
        return f

    def pick_outcome(self) -> OutcomeEntry:
        return self.outcomes[bisect(self.ocum, self.r() * self.ototal)]

    def tail(self, T: Templates, hop_counter: int | None, tail_json: Any) -> FlowTail:
        """A healthy en-bloc flow (after its IAM) drawn from a pool of pre-drawn flows per outcome entry
        and message template set (:data:`TAIL_POOL` shared by weight).

        The pool is filled lazily: a slot drawn for the first time gets a new flow from
        :meth:`healthy`; later draws of that slot reuse it.  Outcomes follow the mix exactly (the
        entry is drawn per call); timings are resampled from the pooled draws of the same
        distributions.  ``tail_json`` renders the truth row's end for a call with this flow.
        """
        pools = self.tail_pools(T, hop_counter)
        i = bisect(self.ocum, self.r() * self.ototal)
        pool = pools[i]
        k = int(self.r() * len(pool))
        t = pool[k]
        if t is None:
            t = pool[k] = self.new_tail(T, i, hop_counter, tail_json)
        return t

    def tail_pools(self, T: Templates, hop_counter: int | None) -> list[list[FlowTail | None]]:
        """The pools of :meth:`tail` for a template set: one list per outcome entry, sized by weight."""
        key = (id(T), hop_counter)
        pools = self._tails.get(key)
        if pools is None:
            pools = self._tails[key] = [
                [None] * max(16, round(self.pool_size * o.weight / self.ototal)) for o in self.outcomes
            ]
        return pools

    def new_tail(self, T: Templates, i: int, hop_counter: int | None, tail_json: Any) -> FlowTail:
        """Draw a new pooled flow for outcome entry ``i``."""
        c = Call(0, None, 0)
        self.healthy(c, T, self.outcomes[i], False, hop_counter, [(0, 0, b"\x01")], 0, -1)
        return FlowTail(c, tail_json(c))

    def outcome_named(self, kind: str) -> OutcomeEntry:
        o = self._by_kind.get(kind)
        return o if o is not None else OutcomeEntry(kind, 1.0, OUTCOME_KINDS[kind][1])

    # -- address phase --------------------------------------------------------------------------------
    def address(
        self,
        call: Call,
        T: Templates,
        overlap: bool,
        hop_counter: int | None,
        iam_digits: tuple[int, int] | None = None,
        sams: tuple[int, int] | None = None,
        final_st: float | None = None,
        complete: bool = True,
    ) -> tuple[Flow, int, int]:
        """IAM (and SAMs): returns (flow, time of the latest address message, time of the latest SAM or -1).

        With ``complete=False`` (T35) the caller stops dialling: the digits not sent are dropped from
        ``call.called``.
        """
        called = call.called
        r = self.r
        tr = self.tr
        if overlap and len(called) >= 2:
            lo, hi = iam_digits or tr.iam_digits
            hi = min(hi, len(called) - 1)
            lo = min(max(lo, 1), hi)
            k = self.rng.randint(lo, hi)
            rest = called[k:]
            slo, shi = sams or tr.sams
            nsam = self.rng.randint(min(slo, len(rest)), min(shi, len(rest)))
            if not complete:
                rest = rest[: self.rng.randint(0, max(len(rest) - 1, 0))]
                nsam = min(nsam, len(rest))
                if not nsam:
                    rest = ""  # the caller stopped after the IAM's digits
                call.called = called = called[:k] + rest
            flow: Flow = [(0, 0, T.iam(called[:k], False, call.calling, call.calling_attrs, hop_counter))]
            if nsam:
                cuts = sorted(self.rng.sample(range(1, len(rest)), nsam - 1)) if nsam > 1 else []
                bounds = [0, *cuts, len(rest)]
                t = 0
                fst = tr.final_st if final_st is None else final_st
                st_last = complete and r() < fst
                for i in range(nsam):
                    t += self.inter_digit()
                    last = i == nsam - 1
                    flow.append((t, 0, T.sam(rest[bounds[i] : bounds[i + 1]], last and st_last)))
                call.sam_count = nsam
                return flow, t, t
            return flow, 0, -1
        st = r() < tr.en_bloc_st if complete else False
        return [(0, 0, T.iam(called, st, call.calling, call.calling_attrs, hop_counter))], 0, -1

    # -- outcomes -------------------------------------------------------------------------------------
    def healthy(
        self,
        call: Call,
        T: Templates,
        entry: OutcomeEntry,
        overlap: bool,
        hop_counter: int | None,
        flow: Flow | None = None,
        t_addr: int = 0,
        t_sam: int = -1,
    ) -> None:
        """Fill ``call`` with the flow of a call ending as ``entry`` says."""
        if flow is None:
            flow, t_addr, t_sam = self.address(call, T, overlap, hop_counter)
        kind = entry.kind
        cls = OUTCOME_KINDS[kind][0]
        call.kind = kind
        call.outcome = call.intended = cls
        r = self.r
        resp = self.resp
        if kind == "answered":
            if r() < self.tr.con_share:
                t_ans = t_addr + self.pdd()
                flow.append((t_ans, 1, T.con()))
            else:
                t_acm = t_addr + self.pdd()
                t_ans = self._alerting(flow, T, t_acm)
                flow.append((t_ans, 1, T.anm()))
            t_rel = t_ans + self.hold()
            call.conv = t_rel - t_ans
            side = 0 if r() < self.tr.caller_releases else 1
            self._release(call, flow, t_rel, side, entry.cause if entry.cause else 16, T)
            call.detail = "answered"
            return
        if kind == "no_answer":
            t_acm = t_addr + self.pdd()
            t_last = self._alerting(flow, T, t_acm, ring=False)
            t_rel = max(t_acm + self.no_answer(), t_last + 1000)
            self._release(call, flow, t_rel, 1, entry.cause, T)
            call.detail = cause_detail(entry.cause)
            return
        if kind == "caller_abandon":
            cause = entry.cause
            if r() < self.tr.early_abandon:
                t_rel = t_addr + self.early()
                self._release(call, flow, t_rel, 0, 31 if r() < 0.3 else cause, T)
                call.detail = "caller-abandon-before-alerting"
                return
            t_acm = t_addr + self.pdd()
            t_last = self._alerting(flow, T, t_acm, ring=False)
            t_rel = max(t_acm + self.abandon(), t_last + 1000)
            self._release(call, flow, t_rel, 0, cause, T)
            call.detail = "caller-abandon"
            return
        # released by the called side before ACM: busy, absent, rejected, misdial, network causes
        t_rel = t_addr + self.early()
        if t_sam >= 0 and t_rel < t_sam + self.min_after_sam:
            t_rel = t_sam + self.min_after_sam + resp()
        self._release(call, flow, t_rel, 1, entry.cause, T)
        call.detail = "misdial" if kind == "misdial" else cause_detail(entry.cause)

    def _alerting(self, flow: Flow, T: Templates, t_acm: int, ring: bool = True) -> int:
        """ACM (+CPG alerting); returns the answer time when ``ring``, else the latest message time."""
        if self.r() < self.tr.cpg_share:
            flow.append((t_acm, 1, T.acm(0)))
            t_cpg = t_acm + self.alert()
            flow.append((t_cpg, 1, T.cpg(1)))
            last = t_cpg
        else:
            flow.append((t_acm, 1, T.acm(1)))
            last = t_acm
        if not ring:
            return last
        return max(t_acm + self.ring(), last + 1000)

    def _release(
        self, call: Call, flow: Flow, t_rel: int, side: int, cause: int, T: Templates, loc: int | None = None
    ) -> None:
        """REL from ``side`` at ``t_rel`` (location ``loc``, else the usual one for the cause and side)
        and the RLC from the other side a response time later; the call's release fields."""
        if loc is None:
            loc = _location(cause, side)
        flow.append((t_rel, side, T.rel(cause, loc)))
        t_rlc = t_rel + self.resp()
        flow.append((t_rlc, side ^ 1, T.rlc()))
        call.flow = flow
        call.cause = cause
        call.location = loc
        call.released_by = "calling" if side == 0 else "called"
        call.free_at = t_rlc

    def failed(
        self,
        call: Call,
        flow: Flow,
        T: Templates,
        t_rel: int,
        side: int,
        cause: int,
        loc: int,
        outcome: str,
        detail: str,
    ) -> None:
        """End ``flow`` with :meth:`_release` and mark the call's outcome (a fault's failed call)."""
        self._release(call, flow, t_rel, side, cause, T, loc)
        call.outcome = call.intended = call.kind = outcome
        call.detail = detail

    # -- call-level faults ----------------------------------------------------------------------------
    def fault(self, call: Call, T: Templates, f: FaultSpec, overlap: bool, hop_counter: int | None) -> None:
        """Fill ``call`` with the flow of fault ``f`` (call-level faults only)."""
        call.fault = f.type
        build = _FAULT_FLOWS.get(f.type)
        if build is not None:
            build(self, call, T, f, overlap, hop_counter)
            return
        # calling-number-anomaly, orphan-message and anything else on top of a healthy call
        kind = f.p("outcome", None)
        entry = self.outcome_named(kind) if kind else self.pick_outcome()
        self.healthy(call, T, entry, overlap, hop_counter)

    def _incomplete_digits(
        self, call: Call, T: Templates, f: FaultSpec, overlap: bool, hop_counter: int | None
    ) -> None:
        digits, sams = f.p("iam_digits", (6, 8)), f.p("sams", (1, 2))
        flow, _, t_sam = self.address(call, T, True, hop_counter, digits, sams, f.p("final_st", 0.0))
        cause = f.p("cause", 38)
        loc = f.p("location", 3)
        if call.sam_count and self.r() < f.p("crossing_share", 0.25):
            # the backward REL crosses the last SAM: sent before the SAM reached the releasing node
            last = flow.pop()
            t_prev = flow[-1][0]
            t_rel = t_prev + self.rng.randint(30_000, 300_000)
            flow.append((t_rel, 1, T.rel(cause, loc)))
            t_last = t_rel + self.rng.randint(300, 5_000)
            flow.append((t_last, 0, last[2]))
            call.fault_detail = "rel-crosses-sam"
        else:
            gap = self.sampler("gap", f.p("gap_ms", None), 1000.0)()
            t_rel = t_last = t_sam + max(gap, 100)
            flow.append((t_rel, 1, T.rel(cause, loc)))
            call.fault_detail = f"rel-{(t_rel - t_sam) / 1000:.1f}ms-after-sam"
        t_rlc = t_last + self.resp()
        flow.append((t_rlc, 0, T.rlc()))
        call.flow = flow
        call.outcome = call.intended = call.kind = "network"
        call.detail = "incomplete-digit-collection"
        call.cause = cause
        call.location = loc
        call.released_by = "called"
        call.free_at = t_rlc

    def _t35_expiry(
        self, call: Call, T: Templates, f: FaultSpec, overlap: bool, hop_counter: int | None
    ) -> None:
        digits, sams = f.p("iam_digits", (4, 7)), f.p("sams", (0, 2))
        flow, t_addr, _ = self.address(call, T, True, hop_counter, digits, sams, 0.0, complete=False)
        t_rel = t_addr + self.sampler("t35", f.p("t35_s", None), 1e6)()
        self.failed(call, flow, T, t_rel, 1, 28, 4, "caller", "t35-expiry")

    def _t7_expiry(
        self, call: Call, T: Templates, f: FaultSpec, overlap: bool, hop_counter: int | None
    ) -> None:
        flow, t_addr, _ = self.address(call, T, overlap, hop_counter)
        cause, loc = f.p("cause", 102), f.p("location", 2)
        t_rel = t_addr + self.sampler("t7", f.p("t7_s", None), 1e6)()
        self.failed(call, flow, T, t_rel, 0, cause, loc, "network", "t7-expiry")

    def _rel_not_acknowledged(
        self, call: Call, T: Templates, f: FaultSpec, overlap: bool, hop_counter: int | None
    ) -> None:
        self.healthy(call, T, self.outcome_named(f.p("outcome", "answered")), overlap, hop_counter)
        flow = call.flow
        flow.pop()  # no RLC
        t_rel, side, rel = flow[-1]
        t1 = self.sampler("t1", f.p("t1_s", None), 1e6)
        lo, hi = f.p("repeats", (1, 2))
        t = t_rel
        for _ in range(self.rng.randint(lo, hi)):
            t += t1()
            flow.append((t, side, rel))
        then = f.p("then", "rlc")
        t5 = t_rel + self.sampler("t5", f.p("t5_s", None), 1e6)()
        if then == "rlc":
            t_end = t + self.resp()
            flow.append((t_end, side ^ 1, T.rlc()))
            call.fault_detail = "rel-repeated-then-rlc"
        elif then == "rsc":
            flow.append((t5, side, T.simple("RSC")))
            t_end = t5 + self.resp()
            flow.append((t_end, side ^ 1, T.rlc()))
            call.fault_detail = "rel-repeated-then-rsc"
        else:
            t_end = t5
            call.fault_detail = "rel-never-acknowledged"
        call.free_at = t_end

    def _rel_collision(
        self, call: Call, T: Templates, f: FaultSpec, overlap: bool, hop_counter: int | None
    ) -> None:
        self.healthy(call, T, self.outcome_named(f.p("outcome", "answered")), overlap, hop_counter)
        flow = call.flow
        flow.pop()
        t_rel, side, _rel = flow[-1]
        gap = max(self.sampler("gap", f.p("gap_ms", None), 1000.0)(), 50)
        cause = call.cause or 16
        other = _location(cause, side ^ 1)
        flow.append((t_rel + gap, side ^ 1, T.rel(cause, other)))
        t1 = t_rel + gap + self.resp()
        t2 = t_rel + gap + self.resp()
        flow.append((min(t1, t2), side ^ 1, T.rlc()))
        flow.append((max(t1, t2) + 1, side, T.rlc()))
        call.free_at = max(t1, t2) + 1
        call.fault_detail = f"both-sides-rel-{gap / 1000:.1f}ms-apart"

    def _hung_call(
        self, call: Call, T: Templates, f: FaultSpec, overlap: bool, hop_counter: int | None
    ) -> None:
        self.healthy(call, T, self.outcome_named("answered"), overlap, hop_counter)
        del call.flow[-2:]
        call.free_at = None
        call.cause = call.location = call.released_by = call.conv = None
        call.detail = "hung"

    def _short_answered(
        self, call: Call, T: Templates, f: FaultSpec, overlap: bool, hop_counter: int | None
    ) -> None:
        hold = self.hold
        self.hold = self.sampler("conv", f.p("conversation_s", None), 1e6)
        try:
            self.healthy(call, T, self.outcome_named("answered"), False, hop_counter)
        finally:
            self.hold = hold
        call.detail = "short-answered"

    def _confusion(
        self, call: Call, T: Templates, f: FaultSpec, overlap: bool, hop_counter: int | None
    ) -> None:
        self.healthy(call, T, self.outcome_named(f.p("outcome", "answered")), overlap, hop_counter)
        flow = call.flow
        # FAC forward after the first backward message (or the IAM), CFN back: FAC not implemented
        i = next((k for k, m in enumerate(flow) if m[1] == 1), len(flow) - 1)
        t_after = flow[i][0]
        t_next = flow[i + 1][0] if i + 1 < len(flow) else t_after + 1_000_000
        t_fac = t_after + max(1, min(self.rng.randint(50_000, 400_000), (t_next - t_after) // 3))
        t_cfn = t_fac + max(1, min(self.resp(), (t_next - t_fac) // 2))
        flow[i + 1 : i + 1] = [(t_fac, 0, T.simple("FAC")), (t_cfn, 1, T.cfn(f.p("cause", 97), 4, "33"))]
        call.fault_detail = "cfn-to-fac"

    def _hop_counter(
        self, call: Call, T: Templates, f: FaultSpec, overlap: bool, hop_counter: int | None
    ) -> None:
        flow, t_addr, _ = self.address(call, T, False, f.p("hop_counter", 1))
        t_rel = t_addr + self.rng.randint(5_000, 150_000)
        self.failed(call, flow, T, t_rel, 1, 25, 3, "network", "hop-counter-exhausted")

    def _unallocated(
        self, call: Call, T: Templates, f: FaultSpec, overlap: bool, hop_counter: int | None
    ) -> None:
        self.healthy(call, T, OutcomeEntry("misdial", 1.0, 1), overlap, hop_counter)
        call.detail = "unallocated-number"

    def _congestion(
        self, call: Call, T: Templates, f: FaultSpec, overlap: bool, hop_counter: int | None
    ) -> None:
        causes = f.p("causes", (34, 42))
        cause = causes[self.rng.randrange(len(causes))]
        flow, t_addr, _ = self.address(call, T, False, hop_counter)
        delay = (
            self.sampler("rel", f.p("release_ms", None), 1000.0)()
            if f.p("release_ms", None)
            else self.early()
        )
        t_rel = t_addr + max(delay, 1000)
        self.failed(call, flow, T, t_rel, 1, cause, _location(cause, 1), "network", cause_detail(cause))

    def _repeat_attempt(
        self, call: Call, T: Templates, f: FaultSpec, overlap: bool, hop_counter: int | None
    ) -> None:
        self.healthy(call, T, self.outcome_named(f.p("outcome", "user_busy")), overlap, hop_counter)


#: The flow builders of the call-level faults (the others are a healthy call, see CallFactory.fault).
_FAULT_FLOWS: dict[str, Callable[[CallFactory, Call, Templates, FaultSpec, bool, int | None], None]] = {
    "incomplete-digit-collection": CallFactory._incomplete_digits,
    "t35-expiry": CallFactory._t35_expiry,
    "t7-expiry": CallFactory._t7_expiry,
    "release-not-acknowledged": CallFactory._rel_not_acknowledged,
    "release-collision": CallFactory._rel_collision,
    "hung-call": CallFactory._hung_call,
    "short-answered-calls": CallFactory._short_answered,
    "confusion": CallFactory._confusion,
    "hop-counter-exhausted": CallFactory._hop_counter,
    "unallocated-valid-prefix": CallFactory._unallocated,
    "congestion-burst": CallFactory._congestion,
    "trunk-loss-rate": CallFactory._congestion,
    "repeat-attempts": CallFactory._repeat_attempt,
}
