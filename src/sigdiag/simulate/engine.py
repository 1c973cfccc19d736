"""The simulator's main loop: arrivals, call generation, time-ordered emission, capture and truth files.

Memory stays bounded by the calls in progress: calls are generated in arrival order, their messages
go into one-second buckets, and a bucket is sorted and written as soon as no later arrival can add to
it.  Circuits are taken from per-trunk pools and given back when a call's RLC is sent (a heap of
release times).  Everything random comes from ``random.Random`` streams seeded from ``seed``, so the
same scenario, call count and seed give byte-identical files.

The hot path (healthy en-bloc calls on one-hop trunks, :meth:`_Run._fast_caller`) is written for speed:
a queued message is a flat tuple ``(offset, key, data, tag)`` whose ``key`` already says hop,
direction, SLS and data length, so :class:`~sigdiag.simulate.framing.CaptureEmitter` writes M3UA records
from cached templates; the number draws, the IAM encoding, the circuit release and the truth rows are
inlined.  Every shortcut draws the same random numbers in the same order as the general path and
writes the same bytes (the shipped example captures are reproduced byte for byte by the tests).

Queued times are *offsets* in micro-seconds from the start of their one-second bucket, not times from
the capture start: offsets stay below 2**30, where CPython keeps an int in one machine digit and adds,
divides, compares and sorts it on fast paths, while times from the capture start pass 2**30 after 18
minutes of traffic (the benchmark's run spans three hours).  A pooled flow keeps each message's delay
split into whole buckets and an offset (:meth:`_Run._fast_tail`), so queueing a message needs no
division at all.

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
import json
import marshal
import math
import os
import random
import struct
import sys
import time
import traceback
from bisect import bisect
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import accumulate, compress, islice, repeat
from operator import itemgetter, mul, sub, truediv
from pathlib import Path
from typing import IO, Any

from sigdiag.simulate.flows import IAM, Call, CallFactory, FlowTail, NumberSource
from sigdiag.simulate.framing import (
    BiccSctpHop,
    CaptureEmitter,
    Hop,
    M2paHop,
    M2uaHop,
    M3uaHop,
    Mtp2Hop,
    SctpAssociation,
    UdpHop,
    item_key,
)
from sigdiag.simulate.isupgen import SWAP, Templates
from sigdiag.simulate.scenario import (
    BURST_FAULTS,
    CALLING_ANOMALIES,
    EVENT_FAULTS,
    OUTCOME_KINDS,
    FaultSpec,
    Scenario,
    TrunkSpec,
    resolve_format,
)
from sigdiag.simulate.sipi import SipDialog

__all__ = ["SimulationResult", "output_paths", "run"]

BUCKET_US = 1_000_000
#: Runs of at least this many calls order, frame and write the capture and the truth file in a separate
#: process (see _EmitWorker and _Run._use_worker).
WORKER_MIN_CALLS = 20_000
_first = itemgetter(0)
_tag = itemgetter(3)
NEVER = 1 << 62  # a time after every event (µs)
#: Time stamps (µs) below this print the same as ``f"{us / 1e6:.6f}"`` when written as whole seconds, a
#: point and six digits of micro-seconds: a double is then within half a micro-second of the value (its
#: spacing at 2**32 s is below one micro-second), so the float rounds back to it.
_EXACT_US = (1 << 32) * 1_000_000
FLUSH_BYTES = 1 << 20
#: A pending circuit release is one int, ``time << _REL_TIME | (order + _REL_ORDER) << 48 | trunk << 32 |
#: CIC`` (:func:`_release_key`), not a tuple: the heap then compares ints (about five times cheaper than
#: tuples, and a heap push and pop make some twelve comparisons per call) and the order is the same as
#: that of ``(time, order)`` (unique: ``order`` is a sequence number, or minus the call id on the fast
#: path).  Trunk indexes are below 2**16 and CICs below 2**32 (four octets in BICC).
_REL_ORDER = 1 << 41
_REL_TIME = 90
_U32_MASK = 0xFFFFFFFF

_NAMES = {
    0x01: "IAM",
    0x02: "SAM",
    0x05: "COT",
    0x06: "ACM",
    0x07: "CON",
    0x09: "ANM",
    0x0C: "REL",
    0x10: "RLC",
    0x12: "RSC",
    0x13: "BLO",
    0x14: "UBL",
    0x15: "BLA",
    0x16: "UBA",
    0x17: "GRS",
    0x18: "CGB",
    0x19: "CGU",
    0x1A: "CGBA",
    0x1B: "CGUA",
    0x29: "GRA",
    0x2C: "CPG",
    0x2E: "UCIC",
    0x2F: "CFN",
    0x33: "FAC",
}
_PCAP_REC = struct.Struct("<IIII")
_EPB = struct.Struct("<IIIIIII")
_U32 = struct.Struct("<I")
_PAD = (b"", b"\0", b"\0\0", b"\0\0\0")  # indexed by the number of padding octets


@dataclass
class SimulationResult:
    """What :func:`sigdiag.simulate.simulate` wrote."""

    path: Path
    truth_path: Path
    events_path: Path
    config_path: Path
    format: str
    seed: int
    calls: int = 0  # truth rows (calls whose IAM is in the capture)
    messages: int = 0  # ISUP/BICC messages written (each copy on a second hop counts)
    frames: int = 0  # capture records (SIP-I adds records without ISUP: 100 Trying, ACK, 200 OK)
    events: int = 0
    skipped: int = 0  # arrivals that found no idle circuit
    duration_s: float = 0.0  # capture span (last minus first time stamp)
    elapsed_s: float = 0.0  # wall-clock time of the run
    outcomes: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)

    @property
    def rate(self) -> float:
        """Messages written per second of wall-clock time."""
        return self.messages / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def summary(self) -> str:
        faults = ", ".join(f"{k} {v}" for k, v in sorted(self.faults.items())) or "none"
        return (
            f"{self.path}: {self.frames} frames, {self.messages} messages, {self.calls} calls "
            f"({', '.join(f'{k} {v}' for k, v in sorted(self.outcomes.items()))}); faults: {faults}; "
            f"{self.events} events; {self.duration_s:.1f} s of traffic; "
            f"{self.rate:,.0f} messages/s"
        )


def output_paths(out: str | os.PathLike[str]) -> tuple[Path, Path, Path, Path]:
    """(capture, truth, events, config) paths for an output name: ``x.pcap`` -> ``x.truth.jsonl`` ..."""
    p = Path(out)
    stem = p.name
    for ext in (".pcapng", ".pcap", ".cap"):
        if stem.lower().endswith(ext):
            stem = stem[: -len(ext)]
            break
    return (
        p,
        p.with_name(stem + ".truth.jsonl"),
        p.with_name(stem + ".events.jsonl"),
        p.with_name(stem + ".config.yaml"),
    )


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


def _minute_factors(spec: Scenario) -> list[float] | None:
    busy = spec.traffic.busy_hours
    if not busy:
        return None
    factors = [spec.traffic.off_peak] * 1440
    for a, b in busy:
        for m in range(a, b):
            factors[m] = 1.0
    return factors


class _Writer:
    """Buffered pcap / pcapng output with integer micro-second time stamps."""

    def __init__(self, f: IO[bytes], fmt: str, interfaces: list[tuple[int, str]]) -> None:
        self.f = f
        self.ng = fmt == "pcapng"
        self.buf = bytearray()
        if self.ng:
            shb = (
                struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)
                + struct.pack("<HH", 4, 16)
                + b"sigdiag simulate"
                + b"\0" * 4
            )
            self._block(0x0A0D0D0A, shb)
            for linktype, name in interfaces:
                nm = name.encode()
                opts = (
                    struct.pack("<HH", 2, len(nm)) + nm + _PAD[-len(nm) & 3] + struct.pack("<HHBxxx", 9, 1, 6)
                )
                opts += b"\0\0\0\0"
                self._block(1, struct.pack("<HHI", linktype, 0, 0) + opts)
        else:
            self.buf += struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, interfaces[0][0])

    def _block(self, btype: int, body: bytes) -> None:
        body += _PAD[-len(body) & 3]
        total = len(body) + 12
        self.buf += _U32.pack(btype) + _U32.pack(total) + body + _U32.pack(total)

    def flush(self) -> None:
        if self.buf:
            self.f.write(self.buf)
            self.buf = bytearray()


_LEN = struct.Struct("<I")
#: The writer process's pipe is written in chunks of this size (see _EmitWorker.send).
_PIPE_CHUNK = 1 << 16


class _EmitWorker:
    """A forked process that orders, frames and writes the capture and the truth file while the parent
    generates calls (the parent's :meth:`_Run._flush_remote` sends it the buckets).

    The parent sends each bucket as one ``marshal`` blob ``(base, ordered, bounds, items)`` through a
    pipe.  A bucket of fast-path calls only (:meth:`_Run._fast_caller`: their tags are tuples of ints
    and strings) goes as it was queued, and the child sorts it; a bucket with other calls is sorted (and
    jittered) by the parent, which also writes their truth rows, as strings in the tags' place, since
    they need the parent's :class:`Call` objects.  The child owns every hop's transport state (SCTP
    TSNs and SSNs, M2PA/MTP2 sequence numbers), frames the items with its own :class:`CaptureEmitter`,
    writes the records to the capture file it inherited and the truth rows (:func:`_truth_rows`, the
    same code as in the parent) to the truth file.  The parent never touches those files or that state
    after the fork, so the bytes are exactly those of the in-process writer.  The child leaves with
    ``os._exit`` (no buffered Python file of the parent is flushed twice); a non-zero exit status, or a
    broken pipe, makes :meth:`close` raise.
    """

    def __init__(
        self,
        fcap: IO[bytes],
        ftruth: IO[str],
        fmt: str,
        interfaces: list[tuple[int, str]],
        hops: list[Hop],
        epoch_us: int,
    ) -> None:
        fcap.flush()
        ftruth.flush()
        read_fd, write_fd = os.pipe()
        # Room for many buckets in the pipe, so that neither process waits for the other while it has
        # work (see send); 1 MiB is Linux's default maximum.
        with contextlib.suppress(OSError, AttributeError, ImportError):
            import fcntl  # POSIX only (the writer process runs on Linux only, see _Run._use_worker)

            fcntl.fcntl(write_fd, fcntl.F_SETPIPE_SZ, 1 << 20)
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child (covered by the tests through its output)
            code = 0
            try:
                os.close(write_fd)
                _worker_main(read_fd, fcap, ftruth.fileno(), fmt, interfaces, hops, epoch_us)
            except BaseException:
                traceback.print_exc()
                code = 1
            os._exit(code)
        os.close(read_fd)
        self.pid = pid
        self.pipe: IO[bytes] | None = os.fdopen(write_fd, "wb", buffering=_PIPE_CHUNK)

    def send(
        self, items: list[tuple[Any, ...]], base: int, ordered: bool, bounds: tuple[int, int] | None
    ) -> None:
        """Send one bucket.  The pipe gets the buffered buckets every :data:`_PIPE_CHUNK` octets (a few
        buckets): a buffer as large as the pipe would make the two processes take turns (the writer idle
        while the buffer fills, this one blocked while it drains) instead of working at the same time."""
        blob = marshal.dumps((base, ordered, bounds, items))
        pipe = self.pipe
        assert pipe is not None
        try:
            pipe.write(_LEN.pack(len(blob)))
            pipe.write(blob)
        except BrokenPipeError:
            self.abort()
            raise RuntimeError("the capture writer process stopped") from None

    def close(self) -> None:
        assert self.pipe is not None
        try:
            self.pipe.write(_LEN.pack(0))
            self.pipe.close()
        except BrokenPipeError:
            pass
        self.pipe = None
        _, status = os.waitpid(self.pid, 0)
        if status != 0:
            raise RuntimeError(f"the capture writer process failed (status {status})")

    def abort(self) -> None:
        if self.pipe is not None:
            with contextlib.suppress(OSError):
                self.pipe.close()
            self.pipe = None
        with contextlib.suppress(OSError):
            os.kill(self.pid, 9)
        with contextlib.suppress(OSError):
            os.waitpid(self.pid, 0)


def _pre_rendered(row: str, frame: int, ts: int) -> str:
    """A truth row the parent wrote (see :class:`_EmitWorker`)."""
    return row


def _worker_main(
    read_fd: int,
    fcap: IO[bytes],
    truth_fd: int,
    fmt: str,
    interfaces: list[tuple[int, str]],
    hops: list[Hop],
    epoch: int,
) -> None:  # pragma: no cover - runs in the child
    w = _Writer(fcap, fmt, interfaces)
    emit = CaptureEmitter(hops, fmt == "pcapng", epoch)
    rows: list[str] = []
    frames = 0
    with (
        open(truth_fd, "w", encoding="utf-8", closefd=False) as ftruth,
        os.fdopen(read_fd, "rb", buffering=1 << 20) as pipe,
    ):
        read = pipe.read
        loads = marshal.loads
        while True:
            head = read(4)
            if len(head) < 4:
                raise RuntimeError("the simulator stopped sending")
            (n,) = _LEN.unpack(head)
            if not n:
                break
            base, ordered, bounds, items = loads(read(n))
            if not ordered:
                items.sort(key=_first)  # stable, as in _Run._order
                bounds = (items[0][0], items[-1][0])
            tagged = list(compress(enumerate(items, frames + 1), map(_tag, items)))
            buf = w.buf
            emit(buf, items, base, bounds)
            if len(buf) >= FLUSH_BYTES:
                w.flush()
            _truth_rows(rows, tagged, epoch, base, _pre_rendered)
            if len(rows) > 256:
                ftruth.write("".join(rows))
                rows.clear()
            frames += len(items)
        w.flush()
        fcap.flush()
        ftruth.write("".join(rows))


class _Run:
    """One simulation run (see the module docstring)."""

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

    def _use_worker(self) -> bool:
        """Whether to order, frame and write the capture and the truth file in a forked writer process
        (:class:`_EmitWorker`): on Linux when this process may run on at least two CPUs, for runs large
        enough to repay the fork (:data:`WORKER_MIN_CALLS`).  ``SIGDIAG_SIMULATE_WORKER=1`` or ``0``
        forces it on or off.  The bytes written are the same either way.

        The split adds CPU time in all (``marshal`` both ways, the pipe), but this process keeps only
        about two thirds of the work (generating calls), so with a second CPU free the wall-clock time
        drops by a quarter to a third (measured on a 2-vCPU virtual machine).  When other processes
        keep the second CPU busy the gain shrinks, and it can turn into a small loss."""
        setting = os.environ.get("SIGDIAG_SIMULATE_WORKER", "")
        if setting == "0" or not hasattr(os, "fork") or not sys.platform.startswith("linux"):
            return False
        if setting == "1":
            return True
        return len(os.sched_getaffinity(0)) >= 2 and self.ncalls >= WORKER_MIN_CALLS

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
                calling, call.calling_attrs = _anomalous_calling(anomaly, calling, call.calling_attrs)
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
        elif f.type == "dual-seizure":
            fac.healthy(call, T, fac.pick_outcome(), overlap, hop)
            self._dual_seizure(call, tr, f)
        elif f.type == "unequipped-circuit":
            self._unequipped(call, tr, f, overlap)
        else:
            fac.fault(call, T, f, overlap, hop)
            if f.type == "orphan-message":
                call.drop_iam = True
                call.fault = "orphan-message"
        self._dispatch(call)
        return call

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
        look-ups per call), and so are each circuit's CIC field and item key (one look-up per call
        instead of an ``int.to_bytes`` call and two operations).
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
        cic_len = T.cic_len
        hop_counter = tr.hop_counter
        lane0 = tr.lane
        # CIC -> (CIC field, item key without direction and length, the CIC field's hex with its nibbles
        # swapped as the IAM hex templates are, the release key's low part for order 0 (see below), the
        # truth row's text from the trunk to "iam_frame":) for every circuit
        prefix_fwd = tr.prefix_fwd
        by_cic = {
            cic: (
                cic.to_bytes(cic_len, "little"),
                lane0 | (cic & 0x0F) << 16,
                cic.to_bytes(cic_len, "little").translate(SWAP).hex(),
                (_REL_ORDER << 48) + (tr.index << 32 | cic),
                f'{prefix_fwd},"cic":{cic},"sip_call_id":null,"iam_frame":',
            )
            for first, last in tr.spec.cics
            for cic in range(first, last + 1)
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
        # item_key(0, d, 0, n) is d << 24 | n, written out: this runs once per pooled flow
        flow = tuple(
            [
                (dt // BUCKET_US, dt % BUCKET_US, (d << 24) | (cl + len(body)), body)
                for dt, d, body in tail.flow
            ]
        )
        return flow, tail.free_at or 0, tail.json

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
        s = tr.spec
        self._event(
            {
                "fault": "circuit-reset-burst",
                "scope": "circuit",
                "trunk": tr.name,
                "opc": s.opc if side == 0 else s.dpc,
                "dpc": s.dpc if side == 0 else s.opc,
                "rsc_cics": sorted(cics),
                "grs_ranges": groups,
                "window_start": self._ts(t),
                "window_end": self._ts(last),
                "count": len(cics) + len(groups),
            }
        )

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
        s = tr.spec
        self._event(
            {
                "fault": "blocked-circuit-attempt",
                "scope": "circuit",
                "trunk": tr.name,
                "opc": s.opc if side == 0 else s.dpc,
                "dpc": s.dpc if side == 0 else s.opc,
                "cics": cics,
                "group": group,
                "window_start": self._ts(t),
                "window_end": self._ts(t_end),
                "attempts": attempts,
            }
        )

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
        flow.append((t_rel, 1, tr.T.rel(cause, 3)))
        t_rlc = t_rel + fac.resp()
        flow.append((t_rlc, 0, tr.T.rlc()))
        fac._set(call, flow, "network", "blocked-circuit", cause, 3, "called", t_rlc)
        call.fault = "blocked-circuit-attempt"
        call.free_at = None  # stays blocked; given back after unblocking
        self._dispatch(call)

    def _release_at(self, t: int, tr: TrunkRT, cic: int) -> None:
        if tr.pool is not None:
            self.seq += 1
            heapq.heappush(self.releases, _release_key(t, self.seq, tr.index, cic))

    # -- queueing -------------------------------------------------------------------------------------
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

    def _observe(self, call: Call, visible: list[tuple[int, int, bytes]]) -> None:
        """What the capture shows of a call cut by the end of the capture: its outcome so far, and the
        called digits of the address messages that are in the capture."""
        from sigdiag.codec import decode_bytes

        if len(visible) < len(call.flow):
            tr = call.trunk
            sams = [m for m in call.flow if m[2][0] == 0x02]
            seen = [m for m in visible if m[2][0] == 0x02]
            if len(seen) < len(sams):
                cut = "".join(
                    decode_bytes(
                        m[2], protocol=tr.spec.protocol, variant=tr.spec.variant, has_cic=False
                    ).subsequent
                    or ""
                    for m in sams[len(seen) :]
                )
                call.called = call.called[: len(call.called) - len(cut)]
                call.sam_count = len(seen)
        types = {m[2][0] for m in visible}
        if 0x0C not in types:
            call.outcome = "answered" if (0x09 in types or 0x07 in types) else "unknown"
            call.detail = "open-at-capture-end"
            call.cause = call.location = call.released_by = call.conv = None
        call.tail_json = None

    def _orphan(self, call: Call, visible: list[tuple[int, int, bytes]]) -> None:
        tr = call.trunk
        s = tr.spec
        reason = "iam-lost" if call.drop_iam else "capture-started-mid-call"
        opc, dpc = (s.dpc, s.opc) if call.reverse else (s.opc, s.dpc)
        nopc = tr.no_pcs
        self._event(
            {
                "fault": "orphan-message",
                "scope": "call",
                "reason": reason,
                "trunk": s.name,
                "opc": None if nopc else opc,
                "dpc": None if nopc else dpc,
                "cic": call.cic,
                "call_id": call.call_id,
                "called": call.called,
                "messages": [_ladder(m) for m in visible],
                "window_start": self._ts(call.t0 + visible[0][0]),
                "window_end": self._ts(call.t0 + visible[-1][0]),
            }
        )

    # -- output ---------------------------------------------------------------------------------------
    def _ts(self, t: int) -> float:
        return round((self.epoch_us + t) / 1e6, 6)

    def _event(self, row: dict[str, Any]) -> None:
        """Write one row of the events file (faults that are not one call, and orphan messages)."""
        self.event_seq += 1
        out = {"event_id": self.event_seq, **row}
        self.result.events += 1
        self.result.faults[f"{row['fault']} (event)"] += 1
        assert self.fevents is not None
        self.fevents.write(json.dumps(out, separators=(",", ":")) + "\n")

    @staticmethod
    def _tail_json(call: Call) -> str:
        """The truth row from ``outcome`` on (the part that does not depend on the call's identity).

        Also run for every pooled flow (16,384 of them in the benchmark's run): the JSON of the small
        values comes from the memos :data:`_JS` and :data:`_JN` rather than from function calls."""
        js, jn = _JS, _JN
        flow = call.flow
        conv = "null" if call.conv is None else f"{call.conv / 1e6:.3f}"
        ladder = ",".join([_LADDER[d][b[0]] for _, d, b in flow])
        answered = (
            "true"
            if call.conv is not None
            or call.kind == "answered"
            or any(b[0] == 0x09 or b[0] == 0x07 for _, _, b in flow)
            else "false"
        )
        is_open = "true" if call.fault == "hung-call" or call.detail == "open-at-capture-end" else "false"
        return (
            f'"outcome":"{call.outcome}","outcome_detail":{js[call.detail]},'
            f'"intended_outcome":"{call.intended}",'
            f'"cause":{jn[call.cause]},"cause_location":{jn[call.location]},'
            f'"released_by":{js[call.released_by]},"answered":{answered},'
            f'"conversation_s":{conv},"sam_count":{call.sam_count},"open":{is_open},'
            f'"fault":{js[call.fault]},"fault_detail":{js[call.fault_detail]},'
            f'"related_call_id":{jn[call.related]},"group":{jn[call.group]},"messages":[{ladder}]}}\n'
        )

    def _truth_row(self, call: Call, frame: int, ts: int) -> str:
        """The truth row of a call whose IAM is frame ``frame`` (JSON built by hand: it is per call); the
        call is counted in the result."""
        tr = call.trunk
        s = tr.spec
        if tr.no_pcs:
            opc = dpc = "null"
        elif call.reverse:
            opc, dpc = s.dpc, s.opc
        else:
            opc, dpc = s.opc, s.dpc
        calling = call.calling
        if calling is None:
            cg = '"calling":null,"calling_nai":null,'
        else:
            cg = f'"calling":{_js(calling)},"calling_nai":{call.calling_attrs[0]},'
        row = (
            f'{{"call_id":{call.call_id},{tr.prefix},"opc":{opc},"dpc":{dpc},"cic":{_j(call.cic)},'
            f'"sip_call_id":{_js(call.sip_call_id)},"iam_frame":{frame},'
            f'"start":{(self.epoch_us + ts) / 1e6:.6f},'
            f'"called":"{call.called}",{cg}{call.tail_json or self._tail_json(call)}'
        )
        r = self.result
        r.calls += 1
        r.outcomes[call.outcome] += 1
        if call.fault:
            r.faults[call.fault] += 1
        return row

    def _order(self, items: list[tuple[Any, ...]]) -> tuple[list[tuple[Any, ...]], tuple[int, int] | None]:
        """A bucket's items in time order (with the capture's jitter, if any), and the least and greatest
        offsets when they are still in time order (see :class:`CaptureEmitter`)."""
        items.sort(key=_first)  # stable: messages at the same micro-second keep their queueing order
        cap = self.sc.capture
        if not cap.jitter_share:
            return items, (items[0][0], items[-1][0])
        share = cap.jitter_share
        jmax = max(1, round(cap.jitter_max_ms * 1000))
        rj = self.rng_jit.random
        return [(t - 1 - int(rj() * jmax), *rest) if rj() < share else (t, *rest) for t, *rest in items], None

    def _flush_bucket(self, items: list[tuple[Any, ...]], b: int) -> None:
        """Write bucket ``b``'s messages in time order, then the truth rows of its IAMs."""
        base = b * BUCKET_US  # item times are offsets from the bucket's start
        self.slow_buckets.discard(b)
        items, bounds = self._order(items)
        r = self.result
        frames = r.frames
        tagged = list(compress(enumerate(items, frames + 1), map(_tag, items)))  # (frame, item) with a tag
        w = self.w
        assert w is not None
        self.emitter(w.buf, items, base, bounds)
        if len(w.buf) >= FLUSH_BYTES:
            w.flush()
        rows = self.truth_buf
        aux = _truth_rows(rows, tagged, self.epoch_us, base, self._truth_row)
        if len(rows) > 256:  # small writes: the joined text stays in the CPU caches
            assert self.ftruth is not None
            self.ftruth.write("".join(rows))
            rows.clear()
        n = len(items)
        r.messages += n - aux
        r.frames = frames + n
        if self.first_ts is None:
            self.first_ts = base + items[0][0]
        self.last_ts = base + items[-1][0]

    def _flush_remote(self, items: list[tuple[Any, ...]], b: int) -> None:
        """:meth:`_flush_bucket` with a writer process (:class:`_EmitWorker`): a bucket of fast-path
        calls only goes as it is (the writer sorts it); otherwise the bucket is ordered here and the
        truth rows of its :class:`Call` tags are written here, into the tags' place."""
        worker = self.worker
        assert worker is not None
        base = b * BUCKET_US
        r = self.result
        frames = r.frames
        n = len(items)
        aux = 0
        if b in self.slow_buckets or self.sc.capture.jitter_share:
            self.slow_buckets.discard(b)
            items, bounds = self._order(items)
            for i, (ts, key, data, tag) in list(compress(enumerate(items, frames + 1), map(_tag, items))):
                cls = tag.__class__
                if cls is int:  # -1: a SIP message without ISUP
                    aux += 1
                elif cls is not tuple:
                    items[i - frames - 1] = (ts, key, data, self._truth_row(tag, i, base + ts))
            worker.send(items, base, True, bounds)
            if self.first_ts is None:
                self.first_ts = base + items[0][0]
            self.last_ts = base + items[-1][0]
            self._last_unsorted = None
        else:
            worker.send(items, base, False, None)
            if self.first_ts is None:
                self.first_ts = base + min(map(_first, items))
            self.last_ts = base  # the greatest offset is added at the end (_drain)
            self._last_unsorted = items
        r.messages += n - aux
        r.frames = frames + n

    def _config_yaml(self) -> str:
        """Decode settings for this capture (``sigdiag ... --config``)."""
        from sigdiag.carrier.sigtran import link_name

        first = self.sc.trunks[0]
        glob_pc = first.pc_format
        glob_variant = "ansi" if glob_pc == "ansi" else "itu"
        links: list[dict[str, str]] = []
        seen: set[str] = set()
        for tr in self.trunks:
            s = tr.spec
            if s.pc_format == glob_pc and s.variant == glob_variant:
                continue
            carrier = {"bicc": "sctp", "sip-i": "sip-i"}.get(s.carrier, s.carrier)
            legs = [(s.a_ip, s.b_ip)] if s.hops == 1 else [(s.a_ip, s.stp_ip), (s.stp_ip, s.b_ip)]
            for i, (a, b) in enumerate(legs):
                if s.carrier == "mtp2":
                    hop = self.hop_list[tr.hops[i][0]]
                    match = f"mtp2:if{hop.iface}"
                else:
                    match = link_name(carrier, a, s.sport, b, s.dport)
                if match in seen:
                    continue
                seen.add(match)
                links.append({"match": match, "pc_format": s.pc_format, "variant": s.variant})
        lines = [
            "# Decode settings for this simulated capture (sigdiag --config FILE).",
            f"pc_format: {glob_pc}",
        ]
        if links:
            lines.append("links:")
            for link in links:
                lines.append(f'  - match: "{link["match"]}"')
                lines.append(f"    pc_format: {link['pc_format']}")
                lines.append(f"    variant: {link['variant']}")
        return "\n".join(lines) + "\n"


def _release_key(t: int, order: int, trunk: int, cic: int) -> int:
    """A pending circuit release in the heap ``_Run.releases``: see :data:`_REL_ORDER`."""
    return (t << _REL_TIME) + ((order + _REL_ORDER) << 48 | trunk << 32 | cic)


def _truth_rows(
    rows: list[str],
    tagged: list[tuple[int, tuple[Any, ...]]],
    epoch_us: int,
    base: int,
    other: Callable[[Any, int, int], str],
) -> int:
    """Append to ``rows`` the truth rows of a bucket's tagged items ``(frame, item)`` (``base``: the
    bucket's start); the row of a tag that is neither a fast-path tuple nor an int comes from
    ``other(tag, frame, time)``.  Returns the number of SIP messages without ISUP (tag -1)."""
    # the bucket's start as whole seconds and micro-seconds: a row's start is "{sec}." and the six
    # digits of usec + offset while the offset stays in that second and the time is below _EXACT_US
    sec, usec = divmod(epoch_us + base, 1_000_000)
    exact = 1 <= sec < _EXACT_US // 1_000_000
    secdot = f"{sec}."
    aux = 0
    for i, (ts, _, _, tag) in tagged:
        cls = tag.__class__
        if cls is int:  # -1: a SIP message without ISUP
            aux += 1
            continue
        if cls is not tuple:
            rows.append(other(tag, i, base + ts))
            continue
        # a fast-path call (_Run._fast_caller): (call id, the row's text from the trunk to "iam_frame":,
        # called, calling, the text from the calling number's end to the flow's part, that part)
        call_id, head, called, calling, nai, tail_json = tag
        us = usec + ts
        if exact and 0 <= us < 1_000_000:  # f"{time / 1e6:.6f}" without the float (3x faster)
            rows.append(  # (a format spec such as :06d costs more than str()[1:])
                f'{{"call_id":{call_id},{head}{i},"start":{secdot}{str(us + 1_000_000)[1:]},'
                f'"called":"{called}","calling":"{calling}{nai}{tail_json}'
            )
        else:
            rows.append(
                f'{{"call_id":{call_id},{head}{i},"start":{(epoch_us + base + ts) / 1e6:.6f},'
                f'"called":"{called}","calling":"{calling}{nai}{tail_json}'
            )
    return aux


def _j(v: int | None) -> str:
    return "null" if v is None else str(v)


_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:@ ")


def _js(v: str | None) -> str:
    """A JSON string (or null); plain tokens without escaping, anything else through json."""
    if v is None:
        return "null"
    if _SAFE.issuperset(v):
        return f'"{v}"'
    return json.dumps(v)


class _Memo(dict[Any, str]):
    """``memo[v]`` is ``fn(v)``, computed once per value (up to 4096 values are kept): truth rows repeat a
    few values (outcome details, causes, who released) many times, and a dictionary look-up is several
    times cheaper than a function call."""

    def __init__(self, fn: Callable[[Any], str]) -> None:
        super().__init__()
        self.fn = fn

    def __missing__(self, v: Any) -> str:
        text = self.fn(v)
        if len(self) < 4096:
            self[v] = text
        return text


#: Memos of :func:`_js` (strings or None) and :func:`_j` (ints or None); kept apart so that 1 and "1"
#: never meet.
_JS = _Memo(_js)
_JN = _Memo(_j)


def _ladder_names(d: int) -> list[str]:
    names = [_NAMES.get(c, f"0x{c:02X}") for c in range(256)]
    return [f'"{n}>"' if d == 0 else f'"<{n}"' for n in names]


#: '"IAM>"' forward, '"<REL"' backward: ladder entries by direction and message type code.
_LADDER = (_ladder_names(0), _ladder_names(1))


def _ladder(m: tuple[int, int, bytes]) -> str:
    name = _NAMES.get(m[2][0], f"0x{m[2][0]:02X}")
    return f"{name}>" if m[1] == 0 else f"<{name}"


def _anomalous_calling(
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


def run(
    scenario: Scenario, out: str | os.PathLike[str], calls: int | None, seed: int, fmt: str | None
) -> SimulationResult:
    """Run one simulation (see :func:`sigdiag.simulate.simulate`)."""
    r = _Run(scenario, Path(out), calls, seed, fmt)
    return r.run()
