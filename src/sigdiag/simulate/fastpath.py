"""The simulator's hot path: healthy en-bloc calls with pooled flows on one-hop ISUP/BICC trunks.

:class:`FastPath` (the run's part, see :mod:`sigdiag.simulate.runstate`) makes each such trunk's
``fast_call(t, b)`` closure: :meth:`sigdiag.simulate.engine._Run._new_call` for the common case, with
the number draws, the pooled flow, the IAM encoding (from the hex templates of
:meth:`~sigdiag.simulate.isupgen.Templates.iam_hex`), the circuit release and the truth row's tag
inlined.  It draws the same random numbers in the same order as the general path and writes the same
bytes (the tests reproduce the shipped example captures byte for byte).
"""

from __future__ import annotations

import heapq
from bisect import bisect
from collections.abc import Callable
from typing import Any

from sigdiag.codec import encode_cic
from sigdiag.codec.templates import SWAP
from sigdiag.simulate.circuits import TrunkRT, _release_key
from sigdiag.simulate.framing import item_key
from sigdiag.simulate.runstate import BUCKET_US, RunState

#: The item key's part for each direction (0: A -> B), see :func:`~sigdiag.simulate.framing.item_key`.
_DIRECTION_KEY = (item_key(0, 0, 0, 0), item_key(0, 1, 0, 0))


class FastPath(RunState):
    """FASTMIXIN"""

    def _fast_caller(self, tr: TrunkRT) -> Callable[[int, int], None]:
        """The trunk's ``fast_call(t, b)`` (``b``: the bucket of ``t``, which the main loop has computed):
        :meth:`_new_call` for the common case, inlined: a healthy
        en-bloc call with a pooled flow on a one-hop ISUP/BICC trunk, nothing clipped.  Its truth row is
        written from a tuple tag (see :meth:`_flush_bucket`).  Overlap calls take the general path.  The
        random numbers are drawn in the same order as on the general path.

        Per call: the circuit, the numbers (:meth:`NumberSource.draw` inlined), a pooled flow in the
        form :meth:`_fast_tail` keeps (item key offsets precomputed), the release of the circuit, the
        IAM from its shape's hex template (:meth:`Templates.iam_hex`), and one queued item per message.
        Everything the call needs from the run and the trunk is bound in the closure (no attribute
        look-ups per call), and so are each circuit's CIC field (the codec's
        :func:`~sigdiag.codec.encode_cic`) and item key (one look-up per call instead of their
        computation).
        """
        fac = self.factory
        r = fac.r
        ocum, ototal = fac.ocum, fac.ototal
        en_bloc_st = self.en_bloc_st
        buckets = self.buckets
        releases = self.releases
        heappush = heapq.heappush
        fromhex = bytes.fromhex
        overlap = tr.overlap
        pool = tr.pool
        assert pool is not None
        free, pos = pool.free, pool.pos
        called_fmt, called_cum, called_total = tr.called_fmt, tr.called_cum, tr.called_total
        calling_fmt, calling_cum, calling_total = tr.calling_fmt, tr.calling_cum, tr.calling_total
        one_called, one_calling = len(called_fmt) == 1, len(calling_fmt) == 1
        n_calling = len(calling_fmt)
        fast_tails = tr.fast_tails
        iam_hex = tr.iam_hex
        T = tr.T
        hop_counter = tr.hop_counter
        lane0 = tr.lane
        # CIC -> (CIC field (the codec's), item key without direction and length (SLS: the CIC's low 4
        # bits, as on the general path), the CIC field's hex with its nibbles swapped as the IAM hex
        # templates are, the release key's low part for order 0 (see below), the truth row's text from
        # the trunk to "iam_frame":) for every circuit.  The item and release keys are the base keys
        # plus the SLS's and the CIC's parts, which have no bits in common with them.
        prefix_fwd = tr.prefix_fwd
        protocol, variant = T.protocol, T.variant
        sls_lane = [lane0 + item_key(0, 0, sls, 0) for sls in range(16)]
        rel0 = _release_key(0, 0, tr.index, 0)
        by_cic = {
            cic: (
                field,
                sls_lane[cic & 0x0F],
                field.translate(SWAP).hex(),
                rel0 + cic,
                f'{prefix_fwd},"cic":{cic},"sip_call_id":null,"iam_frame":',
            )
            for first, last in tr.spec.cics
            for cic in range(first, last + 1)
            for field in (encode_cic(cic, protocol, variant),)
        }
        # the truth row's text after the calling number, up to the pooled flow's part, per calling pattern
        calling_nai = [f'","calling_nai":{attrs[0]},' for _, _, attrs in calling_fmt]
        counts = self.fast_outcomes

        def fast_call(t: int, b: int) -> None:
            if overlap and r() < overlap:
                self._new_call(t, tr, None, overlap=True)
                return
            n = len(free)
            if not n:
                self.result.skipped += 1
                return
            i = int(r() * n)
            cic = free[i]
            last = free.pop()
            if last != cic:
                free[i] = last
                pos[last] = i
            del pos[cic]
            self.call_seq = call_id = self.call_seq + 1
            # the called and calling numbers: NumberSource.draw, inlined
            ci = 0 if one_called else bisect(called_cum, r() * called_total)
            fmt, mod = called_fmt[ci]
            called = fmt % int(r() * mod)
            gi = 0 if one_calling else bisect(calling_cum, r() * calling_total)
            fmt, mod, _ = calling_fmt[gi]
            calling = fmt % int(r() * mod)
            # the pooled flow (CallFactory.tail, inlined)
            oi = bisect(ocum, r() * ototal)
            fast_pool = fast_tails[oi]
            k = int(r() * len(fast_pool))
            ft = fast_pool[k]
            if ft is None:
                ft = fast_pool[k] = self._fast_tail(tr, oi, k)
            flow, free_at, tail_json = ft
            counts[oi] += 1
            cicb, lane, cic_hex, tc, head = by_cic[cic]
            # the release of the circuit: _release_key(t + free_at, -call_id, trunk, CIC), inlined
            # ((_REL_ORDER - call_id) << 48 | trunk << 32 | CIC is tc - (call_id << 48); 90 is _REL_TIME)
            heappush(releases, ((t + free_at) << 90) + tc - (call_id << 48))
            # the IAM: Templates.iam through the shape's hex template (a number pattern fixes its length)
            shape = ((ci * n_calling + gi) << 1) + (r() < en_bloc_st)
            h = iam_hex[shape]
            if h is None:
                attrs = calling_fmt[gi][2]
                hx = T.iam_hex(len(called), bool(shape & 1), len(calling), attrs, hop_counter)
                n = len(fromhex(f"{cic_hex}{hx[0]}{called}{hx[1]}{calling}{hx[2]}"))  # CIC + IAM
                h = iam_hex[shape] = (*hx, n)
            data = fromhex(f"{cic_hex}{h[0]}{called}{h[1]}{calling}{h[2]}").translate(SWAP)  # CIC + IAM
            # what the truth row is written from (see _flush_bucket)
            tag = (call_id, head, called, calling, calling_nai[gi], tail_json)
            u = t - b * BUCKET_US
            buckets[b].append((u, lane + h[3], data, tag))
            # each message's delay comes as whole buckets and an offset (see _fast_tail): no division
            for db, du, off, body in flow:
                uu = u + du
                if uu < BUCKET_US:
                    buckets[b + db].append((uu, lane + off, cicb + body, 0))
                else:
                    buckets[b + db + 1].append((uu - BUCKET_US, lane + off, cicb + body, 0))

        return fast_call

    def _fast_tail(self, tr: TrunkRT, oi: int, k: int) -> tuple[Any, ...]:
        """Slot ``k`` of outcome entry ``oi`` of the trunk's pooled flows (drawn now if the slot is empty,
        as :meth:`CallFactory.tail` does) as the fast path (:meth:`_fast_caller`) uses it:
        ``(flow, free_at, json)`` (``json``: :attr:`FlowTail.json`) where the flow's items are
        ``(buckets, offset, key part, body)``: the message's time after the IAM as whole buckets and
        micro-seconds, and the direction and data length (CIC + body) of its item key."""
        slots = tr.tails[oi]
        tail = slots[k]
        if tail is None:
            tail = slots[k] = self.factory.new_tail(tr.T, oi, tr.hop_counter, self._tail_json)
        cl = tr.T.cic_len
        # item_key(0, d, 0, n) is item_key(0, d, 0, 0) + n: one index per message (runs per pooled flow)
        flow = tuple(
            [
                (dt // BUCKET_US, dt % BUCKET_US, _DIRECTION_KEY[d] + cl + len(body), body)
                for dt, d, body in tail.flow
            ]
        )
        return flow, tail.free_at or 0, tail.json
