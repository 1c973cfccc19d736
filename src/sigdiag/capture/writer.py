"""Fast writers for classic pcap and pcapng files (used by tests and the traffic simulator).

Layouts, magics and block types are those of :mod:`sigdiag.capture.formats`.  Records are packed into an
in-memory buffer that is written out every :data:`FLUSH_BYTES`, so writing costs about one ``struct.pack``
per record.

>>> with PcapWriter("out.pcap", linktype=1) as w:          # doctest: +SKIP
...     w.write(frame_bytes, ts=1700000000.25)
"""

from __future__ import annotations

import contextlib
import gzip as _gzip
import io
import os
import struct
from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import Any, BinaryIO, NamedTuple

from sigdiag.capture.formats import (
    OPT_IF_NAME,
    OPT_IF_TSOFFSET,
    OPT_IF_TSRESOL,
    PCAPNG_SPB,
    SPB_FIXED_LEN,
    pcap_file_header,
    pcap_record_struct,
    pcapng_block,
    pcapng_epb,
    pcapng_idb,
    pcapng_shb,
    tsresol_units,
)

__all__ = ["FLUSH_BYTES", "PcapWriter", "PcapngInterface", "PcapngWriter"]

#: Output is written to the file whenever the buffer grows past this size.
FLUSH_BYTES = 1 << 20

PathOrFile = str | os.PathLike[str] | BinaryIO


class _Output:
    """The target file (opened or borrowed, optionally gzip-compressed) behind a bytearray buffer."""

    def __init__(self, target: PathOrFile, gzip: bool, compresslevel: int) -> None:
        self._owned: BinaryIO | None = None
        raw: BinaryIO
        if isinstance(target, str | os.PathLike):
            raw = open(target, "wb")  # noqa: SIM115 - closed in close()
            self._owned = raw
        else:
            raw = target
        self._gz: _gzip.GzipFile | None = None
        self._file: BinaryIO
        if gzip:
            self._gz = _gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=compresslevel, mtime=0)
            self._file = self._gz  # type: ignore[assignment]
        else:
            self._file = raw
        self.buf = bytearray()
        self.closed = False

    def flush(self) -> None:
        if self.buf:
            self._file.write(self.buf)
            self.buf = bytearray()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.flush()
        if self._gz is not None:
            self._gz.close()  # writes the gzip trailer; does not close a borrowed file object
        if self._owned is not None:
            self._owned.close()
        else:
            with contextlib.suppress(ValueError, io.UnsupportedOperation):
                self._file.flush()


def _split_ts(ts: float, units: int) -> tuple[int, int]:
    """``ts`` seconds as (whole seconds, fraction in ``units`` per second), rounded to nearest."""
    sec = int(ts)
    frac = round((ts - sec) * units)
    if frac >= units:
        sec += 1
        frac -= units
    elif frac < 0:
        sec -= 1
        frac += units
    return sec, frac


class _WriterBase:
    _out: _Output

    def close(self) -> None:
        """Write out buffered records and close the file (a borrowed file object is only flushed)."""
        self._out.close()

    def __enter__(self) -> _WriterBase:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class PcapWriter(_WriterBase):
    """Write a classic pcap file: one link type, micro- or nanosecond time stamps, either byte order.

    ``write(data, ts)`` adds one record; ``orig_len`` (default ``len(data)``) is the on-wire length.
    """

    def __init__(
        self,
        path_or_fileobj: PathOrFile,
        linktype: int,
        nanosecond: bool = False,
        gzip: bool = False,
        *,
        big_endian: bool = False,
        snaplen: int = 262144,
        compresslevel: int = 6,
    ) -> None:
        self._out = _Output(path_or_fileobj, gzip, compresslevel)
        order = ">" if big_endian else "<"
        self._units = 1_000_000_000 if nanosecond else 1_000_000
        self._rec = pcap_record_struct(order).pack
        self.linktype = linktype
        self._out.buf += pcap_file_header(
            linktype, snaplen=snaplen, nanosecond=nanosecond, big_endian=big_endian
        )

    def __enter__(self) -> PcapWriter:
        return self

    def write(self, data: bytes, ts: float, interface: int = 0, orig_len: int | None = None) -> None:
        """Append one record (``interface`` must be 0: classic pcap has one)."""
        if interface:
            raise ValueError("classic pcap has a single interface (0)")
        units = self._units
        if units == 1_000_000:
            sec, frac = divmod(round(ts * 1_000_000), 1_000_000)
        else:
            sec, frac = _split_ts(ts, units)
        n = len(data)
        out = self._out.buf
        out += self._rec(sec, frac, n, n if orig_len is None else orig_len)
        out += data
        if len(out) >= FLUSH_BYTES:
            self._out.flush()

    def write_many(self, records: Iterable[tuple[bytes, float]]) -> None:
        """Append ``(data, ts)`` records."""
        for data, ts in records:
            self.write(data, ts)


class PcapngInterface(NamedTuple):
    """One pcapng interface.  ``tsresol`` is the if_tsresol octet (6 = microseconds, 9 = nanoseconds,
    0x80 | n = 2^-n seconds); ``tsoffset`` the if_tsoffset seconds (0: option omitted)."""

    linktype: int
    name: str = ""
    tsresol: int = 6
    tsoffset: int = 0
    snaplen: int = 0


class PcapngWriter(_WriterBase):
    """Write a pcapng file: one section with several interfaces, each with its own link type.

    ``interfaces`` holds ``(linktype, name)`` pairs or longer tuples / :class:`PcapngInterface`
    values.  ``write(data, ts, interface)`` adds an Enhanced Packet Block; :meth:`write_simple` a Simple
    Packet Block (interface 0, no time stamp); :meth:`write_block` any raw block (for tests of skipped
    block types); :meth:`new_section` starts a new section with new interfaces.
    """

    def __init__(
        self,
        path_or_fileobj: PathOrFile,
        interfaces: Sequence[tuple[int, str] | tuple[int, ...] | PcapngInterface | tuple[object, ...]] = (
            (1, ""),
        ),
        gzip: bool = False,
        *,
        big_endian: bool = False,
        compresslevel: int = 6,
    ) -> None:
        self._out = _Output(path_or_fileobj, gzip, compresslevel)
        self._order = ">" if big_endian else "<"
        self._u32 = struct.Struct(self._order + "I").pack
        self._ifaces: list[tuple[int, int]] = []  # (units per second, offset seconds)
        self.new_section(interfaces)

    def __enter__(self) -> PcapngWriter:
        return self

    def write_block(self, block_type: int, body: bytes) -> None:
        """Append one raw block (``body`` is padded to 4 octets here)."""
        self._raw(pcapng_block(block_type, body, self._order))

    def _raw(self, block: bytes) -> None:
        self._out.buf += block
        if len(self._out.buf) >= FLUSH_BYTES:
            self._out.flush()

    def new_section(self, interfaces: Sequence[tuple[Any, ...]]) -> None:
        """Start a section (Section Header Block) and describe its interfaces (IDBs)."""
        order = self._order
        self._raw(pcapng_shb(order=order))
        self._ifaces = []
        for item in interfaces:
            iface = item if isinstance(item, PcapngInterface) else PcapngInterface(*item)
            opts: list[tuple[int, bytes]] = []
            if iface.name:
                opts.append((OPT_IF_NAME, iface.name.encode()))
            if iface.tsresol != 6:
                opts.append((OPT_IF_TSRESOL, bytes([iface.tsresol])))
            if iface.tsoffset:
                opts.append((OPT_IF_TSOFFSET, struct.pack(order + "q", iface.tsoffset)))
            self._raw(pcapng_idb(iface.linktype, iface.snaplen, opts, order))
            self._ifaces.append((tsresol_units(iface.tsresol), iface.tsoffset))

    def write(self, data: bytes, ts: float, interface: int = 0, orig_len: int | None = None) -> None:
        """Append one Enhanced Packet Block on ``interface`` (its index in this section)."""
        units, offset = self._ifaces[interface]
        if units <= 1_000_000 and not offset:
            ticks = round(ts * units)  # exact enough: ts * 1e6 stays below 2**53 until the year 2255
        else:
            sec, frac = _split_ts(ts - offset, units)
            ticks = sec * units + frac
        out = self._out.buf
        out += pcapng_epb(data, ticks, interface, orig_len, self._order)
        if len(out) >= FLUSH_BYTES:
            self._out.flush()

    def write_simple(self, data: bytes, orig_len: int | None = None) -> None:
        """Append one Simple Packet Block (interface 0, no time stamp)."""
        n = len(data)
        pad = -n & 3
        total = SPB_FIXED_LEN + n + pad
        u32 = self._u32
        out = self._out.buf
        out += (
            u32(PCAPNG_SPB)
            + u32(total)
            + u32(n if orig_len is None else orig_len)
            + data
            + b"\0" * pad
            + u32(total)
        )
        if len(out) >= FLUSH_BYTES:
            self._out.flush()
