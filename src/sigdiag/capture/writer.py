"""Fast writers for classic pcap and pcapng files (used by tests and the traffic simulator).

Layouts are those read by :mod:`sigdiag.capture.pcap`.  Records are packed into an in-memory buffer
that is written out every :data:`FLUSH_BYTES`, so writing costs about one ``struct.pack`` per record.

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
        magic = 0xA1B23C4D if nanosecond else 0xA1B2C3D4
        self._rec = struct.Struct(order + "IIII").pack
        self.linktype = linktype
        self._out.buf += struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)

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
        self._epb = struct.Struct(self._order + "IIIIIII").pack
        self._u32 = struct.Struct(self._order + "I").pack
        # padding + trailing block length, by data length modulo 4
        self._tail = [struct.Struct(f"{self._order}{-i & 3}xI").pack for i in range(4)]
        self._ifaces: list[tuple[int, int]] = []  # (units per second, offset seconds)
        self.new_section(interfaces)

    def __enter__(self) -> PcapngWriter:
        return self

    def _option(self, code: int, value: bytes) -> bytes:
        pad = b"\0" * (-len(value) & 3)
        return struct.pack(self._order + "HH", code, len(value)) + value + pad

    def write_block(self, block_type: int, body: bytes) -> None:
        """Append one raw block (``body`` is padded to 4 octets here)."""
        body = body + b"\0" * (-len(body) & 3)
        total = len(body) + 12
        u32 = self._u32
        self._out.buf += u32(block_type) + u32(total) + body + u32(total)
        if len(self._out.buf) >= FLUSH_BYTES:
            self._out.flush()

    def new_section(self, interfaces: Sequence[tuple[Any, ...]]) -> None:
        """Start a section (Section Header Block) and describe its interfaces (IDBs)."""
        order = self._order
        shb = struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1) + self._option(0, b"")
        self.write_block(0x0A0D0D0A, shb)
        self._ifaces = []
        for item in interfaces:
            iface = item if isinstance(item, PcapngInterface) else PcapngInterface(*item)
            opts = b""
            if iface.name:
                opts += self._option(2, iface.name.encode())
            if iface.tsresol != 6:
                opts += self._option(9, bytes([iface.tsresol]))
            if iface.tsoffset:
                opts += self._option(14, struct.pack(order + "q", iface.tsoffset))
            if opts:
                opts += self._option(0, b"")
            self.write_block(1, struct.pack(order + "HHI", iface.linktype, 0, iface.snaplen) + opts)
            res = iface.tsresol
            units = (1 << (res & 0x7F)) if res & 0x80 else 10 ** (res & 0x7F)
            self._ifaces.append((units, iface.tsoffset))

    def write(self, data: bytes, ts: float, interface: int = 0, orig_len: int | None = None) -> None:
        """Append one Enhanced Packet Block on ``interface`` (its index in this section)."""
        units, offset = self._ifaces[interface]
        if units <= 1_000_000 and not offset:
            ticks = round(ts * units)  # exact enough: ts * 1e6 stays below 2**53 until the year 2255
        else:
            sec, frac = _split_ts(ts - offset, units)
            ticks = sec * units + frac
        n = len(data)
        total = 32 + ((n + 3) & ~3)
        out = self._out.buf
        out += self._epb(
            6,
            total,
            interface,
            (ticks >> 32) & 0xFFFFFFFF,
            ticks & 0xFFFFFFFF,
            n,
            n if orig_len is None else orig_len,
        )
        out += data
        out += self._tail[n & 3](total)
        if len(out) >= FLUSH_BYTES:
            self._out.flush()

    def write_simple(self, data: bytes, orig_len: int | None = None) -> None:
        """Append one Simple Packet Block (interface 0, no time stamp)."""
        n = len(data)
        pad = -n & 3
        total = 16 + n + pad
        u32 = self._u32
        out = self._out.buf
        out += (
            u32(3) + u32(total) + u32(n if orig_len is None else orig_len) + data + b"\0" * pad + u32(total)
        )
        if len(out) >= FLUSH_BYTES:
            self._out.flush()
