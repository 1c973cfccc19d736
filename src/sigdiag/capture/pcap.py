"""Streaming reader for classic pcap and pcapng capture files, plain or gzip-compressed.

:func:`open_capture` checks the file's magic number at once (raising :class:`CaptureError` for anything
that is not a capture) and returns an iterator of :class:`~sigdiag.model.Frame` objects.  The file is read
in :data:`CHUNK_SIZE` pieces and records are sliced out of that buffer, so memory stays bounded by one
chunk plus the largest record whatever the size of the file.

Memory bounds (docs/calls.md, "Memory bounds"): a record or packet block may hold at most
``max_record`` captured octets (:data:`MAX_RECORD_BYTES`, 1 MiB, four times the largest snapshot length
of libpcap and Wireshark; the ``SIGDIAG_MAX_RECORD_BYTES`` environment variable or the ``max_record``
argument of :func:`open_capture` change it).  A length field claiming more is taken as corrupt: nothing
is allocated for it, ``pcap.oversized_record`` names the frame, and reading stops (a corrupt length
leaves nothing to resynchronise on).  Length fields are never used to size a buffer before the octets
are there: a record claiming 4 GB costs nothing until 4 GB arrive, and they never do past the cap.  The
snapshot length of the file header or an interface is not trusted for sizing either.  Other pcapng
blocks of any size are skipped in :data:`CHUNK_SIZE` reads.  A gzip stream is inflated
:data:`CHUNK_SIZE` at a time, so a small file that inflates to gigabytes (a "gzip bomb") costs time, not
memory, and one that inflates into a record claiming more than the cap stops at its header.

Damage never raises once the file has been recognised: the iterator yields every frame before the
damage, appends one :class:`~sigdiag.anomalies.Anomaly` naming the frame number that was being read,
and stops.

The file formats (header layouts, magics, block types, options) are described, and defined, in
:mod:`sigdiag.capture.formats`.  pcapng blocks used here: SHB (a new section with its byte order; its
interfaces are forgotten), IDB (link type, if_tsresol, if_tsoffset), EPB, SPB (interface 0, no time
stamp: the previous packet's time is used) and the obsolete PB; known blocks without packets are skipped
silently, an unknown block type adds ``pcapng.unsupported_block`` once per type.

Frame numbers count packet records only (EPB, SPB, PB), from 1, as Wireshark does.  ``Frame.interface``
is the interface's index over the whole file (interfaces of later sections follow those of earlier ones).

Either format may be gzip-compressed; that is recognised by the gzip magic ``1f 8b``, not by the file
name.  A gzip stream that is corrupt or ends early yields what could be decompressed, then ``gzip.corrupt``.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Iterator
from typing import BinaryIO

from sigdiag.anomalies import Anomaly
from sigdiag.capture import formats as F
from sigdiag.capture.frame import Frame
from sigdiag.capture.gzipsource import GzipSource

__all__ = [
    "CHUNK_SIZE",
    "MAX_BLOCK_BYTES",
    "MAX_RECORD_BYTES",
    "MAX_RECORD_VARIABLE",
    "CaptureError",
    "open_capture",
    "record_limit",
]

#: Bytes read from the file at a time.
CHUNK_SIZE = 1 << 20
#: A record (or pcapng packet) claiming more captured octets than this is taken as corrupt:
#: ``pcap.oversized_record`` and the reader stops.  Far above any real snapshot length (262144).
MAX_RECORD_BYTES = 1 << 20
#: Largest pcapng block that is parsed in memory (packet blocks, SHB, IDB) beyond the record limit:
#: block headers, options and padding; other block types of any size are skipped without being held in
#: memory.
_BLOCK_OVERHEAD = 64 << 10
MAX_BLOCK_BYTES = MAX_RECORD_BYTES + _BLOCK_OVERHEAD
#: The environment variable that sets the record limit (octets, 64 to 1 GiB) instead of MAX_RECORD_BYTES.
MAX_RECORD_VARIABLE = "SIGDIAG_MAX_RECORD_BYTES"
_RECORD_LIMITS = (64, 1 << 30)

_U32LE = struct.Struct("<I").unpack_from
_HEADER = F.PCAP_HEADER_LEN
_RECORD = F.PCAP_RECORD_LEN
_EPB_FIXED = F.EPB_FIXED_LEN
_EPB_DATA = F.EPB_DATA_OFFSET

PathOrFile = str | os.PathLike[str] | BinaryIO
Read = Callable[[int], bytes]


class CaptureError(Exception):
    """The file cannot be read as a capture at all; the message is one line naming the file."""


def _fill(read: Read, buf: bytes, pos: int, need: int) -> bytes:
    """``buf[pos:]`` extended by reads until it holds ``need`` octets or the source is exhausted."""
    rest = buf[pos:]
    have = len(rest)
    if have >= need:
        return rest
    parts = [rest]
    while have < need:
        chunk = read(max(CHUNK_SIZE, need - have))
        if not chunk:
            break
        parts.append(chunk)
        have += len(chunk)
    return b"".join(parts)


def _checked_read(raw: BinaryIO, name: str) -> Read:
    """``raw.read`` turning an I/O error (a failing disk, a vanished network file) into CaptureError."""

    def read(n: int) -> bytes:
        try:
            return raw.read(n)
        except OSError as exc:
            raise CaptureError(f"{name}: read error: {exc.strerror or exc}") from None

    return read


def _describe(path: PathOrFile) -> str:
    if isinstance(path, str | os.PathLike):
        return os.fspath(path)
    return str(getattr(path, "name", "<stream>"))


def record_limit(max_record: int | None = None) -> int:
    """The record limit in octets: ``max_record``, else the ``SIGDIAG_MAX_RECORD_BYTES`` environment
    variable, else :data:`MAX_RECORD_BYTES`; :class:`CaptureError` when it is not a whole number from 64
    to 1 GiB."""
    low, high = _RECORD_LIMITS
    if max_record is None:
        text = os.environ.get(MAX_RECORD_VARIABLE, "").strip()
        if not text:
            return MAX_RECORD_BYTES
        try:
            max_record = int(text)
        except ValueError:
            raise CaptureError(
                f"{MAX_RECORD_VARIABLE} must be a whole number of octets, not {text!r}"
            ) from None
        what = MAX_RECORD_VARIABLE
    else:
        what = "max_record"
    if isinstance(max_record, bool) or not isinstance(max_record, int) or not low <= max_record <= high:
        raise CaptureError(
            f"{what} must be a whole number of octets from {low} to {high}, not {max_record!r}"
        )
    return max_record


def open_capture(
    path: PathOrFile, anomalies: list[Anomaly], max_record: int | None = None
) -> Iterator[Frame]:
    """Open a pcap or pcapng file (plain or gzip-compressed) and return an iterator over its frames.

    ``path`` is a file name or a binary file object (which is not closed).  File-level anomalies are
    appended to ``anomalies`` as they are met.  ``max_record`` is the most captured octets a record may
    claim (:func:`record_limit`: None takes ``SIGDIAG_MAX_RECORD_BYTES`` or :data:`MAX_RECORD_BYTES`).
    Raises :class:`CaptureError` at once when the file cannot be opened or does not start like a capture
    (empty, bad magic, directory, missing), or when the record limit is not valid.
    """
    limit = record_limit(max_record)
    name = _describe(path)
    owned = isinstance(path, str | os.PathLike)
    raw: BinaryIO
    if isinstance(path, str | os.PathLike):
        try:
            raw = open(path, "rb")  # noqa: SIM115 - closed by the returned generator
        except OSError as exc:
            raise CaptureError(f"{name}: cannot open: {exc.strerror or exc}") from None
    else:
        raw = path
    try:
        return _open(raw, name, anomalies, owned, limit)
    except BaseException:
        if owned:
            raw.close()
        raise


def _open(raw: BinaryIO, name: str, anomalies: list[Anomaly], owned: bool, limit: int) -> Iterator[Frame]:
    try:
        head = raw.read(CHUNK_SIZE)
    except OSError as exc:
        raise CaptureError(f"{name}: cannot read: {exc.strerror or exc}") from None
    gz: GzipSource | None = None
    read: Read
    if head[:2] == F.GZIP_MAGIC:
        gz = GzipSource(raw, head)
        read = gz.read
        buf = gz.read(CHUNK_SIZE)
        if len(buf) < 4 and gz.error:
            raise CaptureError(f"{name}: gzip-compressed, but {gz.error} before the capture header")
    else:
        read = _checked_read(raw, name)
        buf = head
    buf = _fill(read, buf, 0, 4)
    if not buf:
        raise CaptureError(f"{name}: empty file, not a capture")
    magic = buf[:4]
    what = "gzip-compressed data" if gz else "file"
    close = raw.close if owned else None
    if magic in F.PCAP_MAGICS:
        order, units = F.PCAP_MAGICS[magic]
        return _iter_pcap(read, buf, order, units, anomalies, gz, close, limit)
    if len(magic) == 4 and struct.unpack("<I", magic)[0] == F.PCAPNG_SHB:
        return _iter_pcapng(read, buf, anomalies, gz, close, limit)
    shown = " ".join(f"{b:02x}" for b in magic)
    raise CaptureError(f"{name}: {what} is not a pcap or pcapng capture (starts with {shown})")


def _end_anomaly(gz: GzipSource | None, name: str, frame: int, detail: str) -> Anomaly:
    """The anomaly for data that stops early: ``gzip.corrupt`` when the gzip layer is to blame."""
    if gz is not None and gz.error:
        return Anomaly("gzip.corrupt", frame, f"{gz.error}; {detail}")
    return Anomaly(name, frame, detail)


def _stream_end(
    gz: GzipSource | None, anomalies: list[Anomaly], name: str, frame: int, n: int, size: int, what: str
) -> None:
    """The input ended with ``n`` octets of a ``size``-octet header left: a cut header (``name``), or a
    clean end, or a gzip stream that broke exactly at a record boundary."""
    if n:
        anomalies.append(_end_anomaly(gz, name, frame, f"{what} cut at {n} of {size} octets"))
    elif gz is not None and gz.error:
        anomalies.append(Anomaly("gzip.corrupt", frame, gz.error))


def _iter_pcap(
    read: Read,
    buf: bytes,
    order: str,
    units: int,
    anomalies: list[Anomaly],
    gz: GzipSource | None,
    close: Callable[[], None] | None,
    max_record: int = MAX_RECORD_BYTES,
) -> Iterator[Frame]:
    try:
        buf = _fill(read, buf, 0, _HEADER)
        if len(buf) < _HEADER:
            anomalies.append(
                _end_anomaly(gz, "pcap.truncated_header", 1, f"file header cut at {len(buf)} of 24 octets")
            )
            return
        linktype = struct.unpack_from(order + "I", buf, F.PCAP_LINKTYPE_OFFSET)[0] & 0xFFFF
        unpack = F.pcap_record_struct(order).unpack_from
        pos = _HEADER
        n = len(buf)
        number = 0
        # Frames are made here by hand, once per record: object.__new__ and the six slot stores skip the
        # call of the dataclass's __init__ (the same attributes, set the same way), a tenth of what this
        # loop costs per record.
        new = object.__new__
        frame_class = Frame
        rec_len = _RECORD  # a local: read once per record
        while True:
            if n - pos < rec_len:
                buf = _fill(read, buf, pos, rec_len)
                pos = 0
                n = len(buf)
                if n < rec_len:
                    _stream_end(gz, anomalies, "pcap.truncated_header", number + 1, n, 16, "record header")
                    return
            sec, frac, incl, orig = unpack(buf, pos)
            if incl > max_record:
                anomalies.append(
                    Anomaly(
                        "pcap.oversized_record",
                        number + 1,
                        f"record claims {incl} captured octets (limit {max_record}); reading stops",
                    )
                )
                return
            start = pos + rec_len
            end = start + incl
            if end > n:
                buf = _fill(read, buf, pos, _RECORD + incl)
                pos = 0
                n = len(buf)
                start = _RECORD
                end = start + incl
                if end > n:
                    anomalies.append(
                        _end_anomaly(
                            gz,
                            "pcap.truncated_record",
                            number + 1,
                            f"record data cut at {n - _RECORD} of {incl} octets",
                        )
                    )
                    return
            number += 1
            frame = new(frame_class)
            frame.number = number
            frame.ts = (sec * units + frac) / units
            frame.linktype = linktype
            frame.data = buf[start:end]
            frame.orig_len = orig
            frame.interface = 0
            yield frame
            pos = end

    finally:
        if close is not None:
            close()


class _Section:
    """Per-section pcapng state: byte order and interfaces."""

    __slots__ = ("base", "epb", "epb7", "hdr", "ifaces", "order", "u16", "u32")

    def __init__(self, order: str, base: int) -> None:
        self.order = order
        self.base = base  # global index of this section's interface 0
        self.hdr = struct.Struct(order + "II").unpack_from
        self.epb = struct.Struct(order + "IIIII").unpack_from
        self.epb7 = F.epb_struct(order).unpack_from  # the whole EPB header at once
        self.u32 = struct.Struct(order + "I").unpack_from
        self.u16 = struct.Struct(order + "HH").unpack_from
        # per interface: (link type, time units per second, offset seconds, snaplen)
        self.ifaces: list[tuple[int, int, int, int]] = []


def _parse_idb(sec: _Section, buf: bytes, pos: int, blen: int) -> tuple[int, int, int, int] | None:
    if blen < F.MIN_IDB_LEN:
        return None
    linktype, _reserved = sec.u16(buf, pos + 8)
    (snaplen,) = sec.u32(buf, pos + 12)
    units = 1_000_000
    offset = 0
    opt = pos + 16
    end = pos + blen - 4
    while opt + 4 <= end:
        code, olen = sec.u16(buf, opt)
        if code == F.OPT_END:
            break
        value = opt + 4
        if value + olen > end:
            break
        if code == F.OPT_IF_TSRESOL and olen >= 1:
            units = F.tsresol_units(buf[value])
        elif code == F.OPT_IF_TSOFFSET and olen >= 8:
            (offset,) = struct.unpack_from(sec.order + "q", buf, value)
        opt = value + ((olen + 3) & ~3)
    return linktype, units, offset, snaplen


#: What :meth:`_PcapngBlocks.step` returns when reading stops.
_STOP = object()


class _PcapngBlocks:
    """The general path of the pcapng reader: one block at a time, every check (see
    :func:`_iter_pcapng`, whose loop reads well-formed Enhanced Packet Blocks itself).

    The cursor (``buf``, ``pos``, ``n``) and the packet count and time are shared with that loop: it
    stores them here before :meth:`step` and takes them back after.
    """

    __slots__ = (
        "anomalies",
        "buf",
        "gz",
        "last_ts",
        "max_block",
        "n",
        "number",
        "pos",
        "read",
        "reported",
        "sec",
    )

    def __init__(
        self, read: Read, buf: bytes, anomalies: list[Anomaly], gz: GzipSource | None, max_block: int
    ) -> None:
        self.read = read
        self.buf = buf
        self.pos = 0
        self.n = len(buf)
        self.number = 0
        self.last_ts = 0.0
        self.anomalies = anomalies
        self.gz = gz
        self.max_block = max_block
        self.sec: _Section | None = None
        self.reported: set[int] = set()

    def _bad(self, name: str, number: int, detail: str) -> None:
        self.anomalies.append(Anomaly(name, number, detail))

    def step(self) -> Frame | object | None:
        """Read one block: the frame it holds, None (no frame), or :data:`_STOP`."""
        if self.n - self.pos < F.MIN_BLOCK_LEN:
            self.buf = _fill(self.read, self.buf, self.pos, F.MIN_BLOCK_LEN)
            self.pos = 0
            self.n = len(self.buf)
            if self.n < F.MIN_BLOCK_LEN:
                _stream_end(
                    self.gz,
                    self.anomalies,
                    "pcapng.truncated_block",
                    self.number + 1,
                    self.n,
                    12,
                    "block header",
                )
                return _STOP
        buf, pos = self.buf, self.pos
        if _U32LE(buf, pos)[0] == F.PCAPNG_SHB:
            if not self._section():
                return _STOP
        elif self.sec is None:  # pragma: no cover - open_capture checked the first block type
            return _STOP
        sec = self.sec
        assert sec is not None
        btype, blen = sec.hdr(buf, pos)
        if blen < F.MIN_BLOCK_LEN or blen & 3:
            self._bad("pcapng.bad_block_length", self.number + 1, f"block type {btype:#x} has length {blen}")
            return _STOP
        if blen > self.max_block:
            return self._oversized(btype, blen)
        if not self._have(btype, blen):
            return _STOP
        buf, pos = self.buf, self.pos
        end = pos + blen
        trailing = sec.u32(buf, end - 4)[0]
        if trailing != blen:
            detail = f"block type {btype:#x}: trailing length {trailing} != {blen}"
            self._bad("pcapng.bad_block_length", self.number + 1, detail)
            return _STOP
        handler = _HANDLERS.get(btype)
        got = None
        if handler is not None:
            got = handler(self, sec, buf, pos, blen)
            if got is _STOP:
                return _STOP
        elif btype != F.PCAPNG_SHB:
            _note_block(btype, self.reported, self.anomalies, self.number)
        self.pos = end
        return got

    def _section(self) -> bool:
        """A Section Header Block at the cursor: its byte order starts a new section."""
        bom = self.buf[self.pos + 8 : self.pos + 12]
        order = F.BYTE_ORDER_MARKS.get(bom)
        if order is None:
            self._bad(
                "pcapng.bad_block_length",
                self.number + 1,
                f"section header with bad byte-order magic {bom.hex()}",
            )
            return False
        base = 0 if self.sec is None else self.sec.base + len(self.sec.ifaces)
        self.sec = _Section(order, base)
        return True

    def _have(self, btype: int, blen: int) -> bool:
        """The whole block in the buffer (read as needed); False when the input ends first."""
        if self.n - self.pos >= blen:
            return True
        self.buf = _fill(self.read, self.buf, self.pos, blen)
        self.pos = 0
        self.n = len(self.buf)
        if self.n >= blen:
            return True
        detail = f"block type {btype:#x} cut at {self.n} of {blen} octets"
        self.anomalies.append(_end_anomaly(self.gz, "pcapng.truncated_block", self.number + 1, detail))
        return False

    def _oversized(self, btype: int, blen: int) -> object | None:
        """A block longer than the limit: the end of reading for packet, section and interface blocks;
        others are skipped without being held in memory."""
        number = self.number + 1
        if btype in F.PACKET_BLOCKS:
            detail = f"packet block claims {blen} octets (limit {self.max_block}); reading stops"
            self._bad("pcap.oversized_record", number, detail)
            return _STOP
        if btype in (F.PCAPNG_SHB, F.PCAPNG_IDB):
            self._bad("pcapng.bad_block_length", number, f"block type {btype:#x} claims {blen} octets")
            return _STOP
        remaining = blen - (self.n - self.pos)
        if remaining <= 0:
            self.pos += blen
        else:
            while remaining > 0:
                chunk = self.read(min(CHUNK_SIZE, remaining))
                if not chunk:
                    detail = f"block type {btype:#x} of {blen} octets cut"
                    self.anomalies.append(_end_anomaly(self.gz, "pcapng.truncated_block", number, detail))
                    return _STOP
                remaining -= len(chunk)
            self.buf = b""
            self.pos = self.n = 0
        _note_block(btype, self.reported, self.anomalies, self.number)
        return None

    def _packet(self, sec: _Section, ifid: int, tsh: int, tsl: int, data: bytes, orig: int) -> Frame:
        linktype, units, offset, _snap = sec.ifaces[ifid]
        self.last_ts = ((tsh << 32) | tsl) / units
        if offset:
            self.last_ts += offset
        return Frame(self.number, self.last_ts, linktype, data, orig, sec.base + ifid)

    def _epb(self, sec: _Section, buf: bytes, pos: int, blen: int) -> Frame | None:
        self.number += 1
        if blen < _EPB_FIXED:
            self._bad("pcapng.bad_block_length", self.number, f"enhanced packet block of {blen} octets")
            return None
        ifid, tsh, tsl, caplen, orig = sec.epb(buf, pos + 8)
        start = pos + _EPB_DATA
        if start + caplen > pos + blen - 4:
            detail = f"captured length {caplen} exceeds block length {blen}"
            self._bad("pcapng.bad_block_length", self.number, detail)
            return None
        if ifid >= len(sec.ifaces):
            self._bad("pcapng.unknown_interface", self.number, f"interface {ifid} not described")
            return None
        return self._packet(sec, ifid, tsh, tsl, buf[start : start + caplen], orig)

    def _pb(self, sec: _Section, buf: bytes, pos: int, blen: int) -> Frame | None:
        self.number += 1
        if blen < _EPB_FIXED:
            self._bad("pcapng.bad_block_length", self.number, f"packet block of {blen} octets")
            return None
        ifid, _drops = sec.u16(buf, pos + 8)
        _x, tsh, tsl, caplen, orig = sec.epb(buf, pos + 8)
        start = pos + _EPB_DATA
        if start + caplen > pos + blen - 4 or ifid >= len(sec.ifaces):
            name = "pcapng.unknown_interface" if ifid >= len(sec.ifaces) else "pcapng.bad_block_length"
            self._bad(name, self.number, f"packet block: interface {ifid}, captured length {caplen}")
            return None
        linktype, units, offset, _snap = sec.ifaces[ifid]
        self.last_ts = ((tsh << 32) | tsl) / units + offset
        return Frame(self.number, self.last_ts, linktype, buf[start : start + caplen], orig, sec.base + ifid)

    def _spb(self, sec: _Section, buf: bytes, pos: int, blen: int) -> Frame | None:
        self.number += 1
        if blen < F.SPB_FIXED_LEN:
            self._bad("pcapng.bad_block_length", self.number, f"simple packet block of {blen} octets")
            return None
        if not sec.ifaces:
            self._bad("pcapng.unknown_interface", self.number, "simple packet block without interface 0")
            return None
        (orig,) = sec.u32(buf, pos + 8)
        linktype, _units, _offset, snaplen = sec.ifaces[0]
        caplen = min(orig, blen - F.SPB_FIXED_LEN)
        if snaplen:
            caplen = min(caplen, snaplen)
        start = pos + F.SPB_DATA_OFFSET
        return Frame(self.number, self.last_ts, linktype, buf[start : start + caplen], orig, sec.base)

    def _idb(self, sec: _Section, buf: bytes, pos: int, blen: int) -> object | None:
        idb = _parse_idb(sec, buf, pos, blen)
        if idb is None:
            detail = f"interface description block of {blen} octets"
            self._bad("pcapng.bad_block_length", self.number + 1, detail)
            return _STOP
        sec.ifaces.append(idb)
        return None


_HANDLERS: dict[int, Callable[[_PcapngBlocks, _Section, bytes, int, int], object | None]] = {
    F.PCAPNG_EPB: _PcapngBlocks._epb,
    F.PCAPNG_SPB: _PcapngBlocks._spb,
    F.PCAPNG_IDB: _PcapngBlocks._idb,
    F.PCAPNG_PB: _PcapngBlocks._pb,
}


def _iter_pcapng(
    read: Read,
    buf: bytes,
    anomalies: list[Anomaly],
    gz: GzipSource | None,
    close: Callable[[], None] | None,
    max_record: int = MAX_RECORD_BYTES,
) -> Iterator[Frame]:
    """The frames of a pcapng stream.  Well-formed Enhanced Packet Blocks of a described interface are
    read here, with one ``unpack_from`` each; every other block (and any EPB that fails a check) goes
    to :class:`_PcapngBlocks`, which reads it with every check and reports what is wrong."""
    blocks = _PcapngBlocks(read, buf, anomalies, gz, max_record + _BLOCK_OVERHEAD)
    try:
        pos = 0
        n = len(buf)
        number = 0
        last_ts = 0.0
        frame = Frame
        sec: _Section | None = None
        epb_type, epb_fixed, epb_data = F.PCAPNG_EPB, _EPB_FIXED, _EPB_DATA  # locals in the loop below
        # Fast path state for Enhanced Packet Blocks (refreshed when a section starts).
        epb7 = None
        u32 = _U32LE
        ifaces: list[tuple[int, int, int, int]] = []
        base = 0
        while True:
            if epb7 is not None and n - pos >= epb_fixed:
                btype, blen, ifid, tsh, tsl, caplen, orig = epb7(buf, pos)
                if (
                    btype == epb_type
                    and blen <= n - pos
                    and epb_fixed + caplen <= blen
                    and not blen & 3
                    and ifid < len(ifaces)
                    and u32(buf, pos + blen - 4)[0] == blen
                ):
                    number += 1
                    linktype, units, offset, _snap = ifaces[ifid]
                    last_ts = ((tsh << 32) | tsl) / units
                    if offset:
                        last_ts += offset
                    yield frame(
                        number,
                        last_ts,
                        linktype,
                        buf[pos + epb_data : pos + epb_data + caplen],
                        orig,
                        base + ifid,
                    )
                    pos += blen
                    continue
            blocks.buf, blocks.pos, blocks.n, blocks.number, blocks.last_ts = buf, pos, n, number, last_ts
            got = blocks.step()
            if got is _STOP:
                return
            buf, pos, n, number, last_ts = blocks.buf, blocks.pos, blocks.n, blocks.number, blocks.last_ts
            if blocks.sec is not sec:  # a new section: its byte order and interfaces
                sec = blocks.sec
                assert sec is not None
                epb7, u32, ifaces, base = sec.epb7, sec.u32, sec.ifaces, sec.base
            if got is not None:
                yield got  # type: ignore[misc]
    finally:
        if close is not None:
            close()


def _note_block(btype: int, reported: set[int], anomalies: list[Anomaly], number: int) -> None:
    """Report an unknown non-packet block type once per file; known ones are skipped silently."""
    if btype in F.SKIPPED_BLOCKS or btype in reported:
        return
    reported.add(btype)
    anomalies.append(
        Anomaly(
            "pcapng.unsupported_block",
            number + 1,
            f"block type {btype:#010x} skipped (later blocks of this type are skipped silently)",
        )
    )
