"""Writing a run's capture and truth file from its one-second buckets of queued messages.

:class:`BucketWriter` (the run's part, see :mod:`sigdiag.simulate.runstate`) orders a bucket (with the
capture's jitter), frames its messages with :class:`~sigdiag.simulate.framing.CaptureEmitter`, and
writes the records and the truth rows of its IAMs (:func:`~sigdiag.simulate.truth._truth_rows`),
either in this process (:meth:`BucketWriter._flush_bucket`, buffered by :class:`_Writer`) or through a
forked writer process (:class:`_EmitWorker`, :meth:`BucketWriter._flush_remote`) that does the
ordering, framing and writing while the parent generates calls.  The bytes are the same either way.
"""

from __future__ import annotations

import contextlib
import marshal
import os
import sys
import traceback
from itertools import compress
from operator import itemgetter
from typing import IO, Any

from sigdiag.capture.formats import (
    OPT_IF_NAME,
    OPT_IF_TSRESOL,
    OPT_SHB_USERAPPL,
    pcap_file_header,
    pcapng_idb,
    pcapng_shb,
)
from sigdiag.simulate.framing import CaptureEmitter, Hop
from sigdiag.simulate.runstate import BUCKET_US, RunState
from sigdiag.simulate.truth import _truth_rows

#: Runs of at least this many calls order, frame and write the capture and the truth file in a separate
#: process (see _EmitWorker and _Run._use_worker).
WORKER_MIN_CALLS = 20_000
_first = itemgetter(0)
_tag = itemgetter(3)
FLUSH_BYTES = 1 << 20
#: if_tsresol of the interfaces: time stamps in micro-seconds (10**-6 s).
TSRESOL_MICROSECONDS = 6


class _Writer:
    """Buffered pcap / pcapng output: the file header (or the section header and one interface
    description per interface) from :mod:`sigdiag.capture.formats`; records are appended to ``buf``."""

    def __init__(self, f: IO[bytes], fmt: str, interfaces: list[tuple[int, str]]) -> None:
        self.f = f
        self.ng = fmt == "pcapng"
        self.buf = bytearray()
        if self.ng:
            self.buf += pcapng_shb([(OPT_SHB_USERAPPL, b"sigdiag simulate")])
            for linktype, name in interfaces:
                options = [(OPT_IF_NAME, name.encode()), (OPT_IF_TSRESOL, bytes((TSRESOL_MICROSECONDS,)))]
                self.buf += pcapng_idb(linktype, 0, options)
        else:
            self.buf += pcap_file_header(interfaces[0][0])

    def flush(self) -> None:
        if self.buf:
            self.f.write(self.buf)
            self.buf = bytearray()


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
            pipe.write(len(blob).to_bytes(4, "little"))
            pipe.write(blob)
        except BrokenPipeError:
            self.abort()
            raise RuntimeError("the capture writer process stopped") from None

    def close(self) -> None:
        assert self.pipe is not None
        try:
            self.pipe.write(bytes(4))
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
            n = int.from_bytes(head, "little")
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


class BucketWriter(RunState):
    """BUCKETMIXIN"""

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
