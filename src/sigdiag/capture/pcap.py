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

Classic pcap (all integers in the byte order given by the magic)::

    file header, 24 octets
    | off | size | field                                                                |
    |   0 |    4 | magic: a1b2c3d4 (microsecond time stamps) or a1b23c4d (nanosecond)   |
    |   4 |    2 | version major (2)                                                    |
    |   6 |    2 | version minor (4)                                                    |
    |   8 |    4 | thiszone (ignored, always 0 in practice)                             |
    |  12 |    4 | sigfigs (ignored)                                                    |
    |  16 |    4 | snaplen                                                              |
    |  20 |    4 | link type (low 16 bits; bits 28-31 may carry FCS information)        |

    record header, 16 octets, followed by incl_len octets of data
    | off | size | field                                                                |
    |   0 |    4 | ts_sec  (seconds since 1970, unsigned)                               |
    |   4 |    4 | ts_frac (micro- or nanoseconds, per the magic)                       |
    |   8 |    4 | incl_len (octets captured and stored in the file)                    |
    |  12 |    4 | orig_len (octets on the wire)                                        |

pcapng (byte order per section, from the Section Header Block's byte-order magic 1a2b3c4d)::

    every block
    | off     | size | field                                                          |
    |       0 |    4 | block type                                                     |
    |       4 |    4 | block total length (multiple of 4, >= 12)                      |
    |       8 |  ... | body                                                           |
    | len - 4 |    4 | block total length again                                       |

    | type       | block                          | body used here                                      |
    | 0x0a0d0d0a | Section Header (SHB)           | byte-order magic; starts a section, forgets IDBs     |
    | 0x00000001 | Interface Description (IDB)    | link type u16, reserved u16, snaplen u32, options:   |
    |            |                                |   if_tsresol (9): 1 octet, bit 7 clear -> 10^-n s,   |
    |            |                                |   bit 7 set -> 2^-n s (default 10^-6)                |
    |            |                                |   if_tsoffset (14): int64 seconds added to each ts   |
    | 0x00000006 | Enhanced Packet (EPB)          | interface id u32, ts high u32, ts low u32,           |
    |            |                                |   captured len u32, original len u32, data (padded)  |
    | 0x00000003 | Simple Packet (SPB)            | original len u32, data; interface 0, no time stamp   |
    |            |                                |   (the previous packet's time is used)               |
    | 0x00000002 | Packet (obsolete)              | interface id u16, drops u16, ts high, ts low,        |
    |            |                                |   captured len, original len, data                   |
    | others     | NRB 4, ISB 5, DSB 10, custom   | skipped; an unknown type adds pcapng.unsupported_block|
    |            | 0x0bad/0x40000bad, ...         |   once per type                                      |

    options: code u16, length u16, value padded to 4 octets; code 0 ends the list.

Frame numbers count packet records only (EPB, SPB, PB), from 1, as Wireshark does.  ``Frame.interface``
is the interface's index over the whole file (interfaces of later sections follow those of earlier ones).

Either format may be gzip-compressed; that is recognised by the gzip magic ``1f 8b``, not by the file
name.  A gzip stream that is corrupt or ends early yields what could be decompressed, then ``gzip.corrupt``.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Callable, Iterator
from typing import BinaryIO

from sigdiag.anomalies import Anomaly
from sigdiag.capture.frame import Frame

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

_PCAP_MAGICS: dict[bytes, tuple[str, int]] = {
    # first four octets -> (struct byte order, fraction units per second)
    b"\xd4\xc3\xb2\xa1": ("<", 1_000_000),
    b"\xa1\xb2\xc3\xd4": (">", 1_000_000),
    b"\x4d\x3c\xb2\xa1": ("<", 1_000_000_000),
    b"\xa1\xb2\x3c\x4d": (">", 1_000_000_000),
}
_PCAPNG_SHB = 0x0A0D0D0A
_BOM = 0x1A2B3C4D
_GZIP_MAGIC = b"\x1f\x8b"
_U32LE = struct.Struct("<I").unpack_from

_EPB = 6
_SPB = 3
_PB = 2
_IDB = 1
#: Block types that carry no packets and are skipped silently.
_SKIPPED_BLOCKS = frozenset(
    {
        4,  # Name Resolution Block
        5,  # Interface Statistics Block
        7,  # IRIG time stamp
        8,  # ARINC 429
        9,  # systemd journal export
        0x0A,  # Decryption Secrets Block
        0x0B,  # Hone / custom range
        0x101,  # Hone machine info
        0x102,  # Hone connection event
        0x00000BAD,  # Custom Block (copiable)
        0x40000BAD,  # Custom Block (not copiable)
    }
    | set(range(0x201, 0x220))  # sysdig event blocks
)

PathOrFile = str | os.PathLike[str] | BinaryIO
Read = Callable[[int], bytes]


class CaptureError(Exception):
    """The file cannot be read as a capture at all; the message is one line naming the file."""


class _GzipSource:
    """A ``read(n)`` over a gzip stream (one or several members) that never raises.

    The gzip framing (RFC 1952) is parsed here and the deflate data inflated raw, so every octet that
    inflates is delivered even when the stream turns out corrupt (a bad CRC is only seen at the end).
    On corrupt data or an early end, ``read`` returns what was decompressed, then ``b""``, and
    :attr:`error` says what went wrong.  Output comes in bounded pieces (``max_length``), so a
    decompression bomb cannot exhaust memory.
    """

    _MAX_HEADER = 1 << 16

    def __init__(self, raw: BinaryIO, head: bytes) -> None:
        self._raw = raw
        self._input = head
        self._d: zlib._Decompress | None = None  # None: between members (a header or the end comes next)
        self._crc = 0
        self._size = 0
        self._trailer = False  # the deflate data of a member ended: its 8-octet trailer comes next
        self._eof = False
        self._done = False
        self.error: str | None = None

    def _more(self) -> bool:
        """Append raw input; False at the end of the file."""
        if self._eof:
            return False
        try:
            chunk = self._raw.read(1 << 18)
        except OSError as exc:
            self._fail(f"read error: {exc.strerror or exc}")
            return False
        if not chunk:
            self._eof = True
            return False
        self._input += chunk
        return True

    def _fail(self, why: str) -> None:
        self.error = why
        self._done = True

    def _header(self) -> bool:
        """Parse a member header from the input; False when the stream ends (or is corrupt)."""
        while True:
            self._input = self._input.lstrip(b"\0")  # zero padding after a member is allowed
            size = _gzip_header_size(self._input)
            if size > 0:
                break
            if size < 0:
                self._fail("not a gzip member header")
                return False
            if len(self._input) > self._MAX_HEADER:
                self._fail("gzip header too long")
                return False
            if not self._more():
                if self._input and not self._done:
                    self._fail("the gzip stream ends inside a member header")
                return False
        self._input = self._input[size:]
        self._d = zlib.decompressobj(-15)
        self._crc = 0
        self._size = 0
        return True

    def _check_trailer(self) -> bool:
        while len(self._input) < 8:
            if not self._more():
                if not self._done:
                    self._fail("the gzip stream ends before a member's trailer")
                return False
        crc, size = struct.unpack_from("<II", self._input)
        self._input = self._input[8:]
        self._trailer = False
        if crc != self._crc or size != self._size & 0xFFFFFFFF:
            self._fail("gzip CRC or length check failed: the data is corrupt")
            return False
        return True

    def read(self, n: int) -> bytes:
        parts: list[bytes] = []
        have = 0
        while have < n and not self._done:
            if self._trailer:
                if not self._check_trailer():
                    break
                continue
            d = self._d
            if d is None:
                if not self._header():
                    self._done = True
                    break
                continue
            if not self._input and not self._more():
                if not self._done:
                    self._fail("the gzip stream ends early")
                break
            before = d.copy()  # to salvage what inflates before damage in this input
            try:
                out = d.decompress(self._input, n - have)
            except zlib.error as exc:
                out = _salvage(before, self._input, n - have)
                if out:
                    self._crc = zlib.crc32(out, self._crc)
                    self._size += len(out)
                    parts.append(out)
                self._fail(f"corrupt gzip data: {exc}")
                break
            if d.eof:
                self._input = d.unused_data
                self._d = None
                self._trailer = True
            else:
                self._input = d.unconsumed_tail
            if out:
                self._crc = zlib.crc32(out, self._crc)
                self._size += len(out)
                parts.append(out)
                have += len(out)
        return b"".join(parts)


_SALVAGE_STEP = 16


def _salvage(d: zlib._Decompress, data: bytes, limit: int) -> bytes:
    """Inflate ``data`` in small steps and return what comes out before zlib finds the damage.

    A ``decompress`` call that raises discards everything it inflated; feeding the same input
    ``_SALVAGE_STEP`` octets at a time loses at most one step's output instead.
    """
    parts: list[bytes] = []
    have = 0
    pending = data
    while pending and have < limit:
        try:
            out = d.decompress(pending[:_SALVAGE_STEP], limit - have)
        except zlib.error:
            break
        parts.append(out)
        have += len(out)
        if d.eof:
            break
        pending = d.unconsumed_tail + pending[_SALVAGE_STEP:]
    return b"".join(parts)


def _gzip_header_size(data: bytes) -> int:
    """Length of the gzip member header at the start of ``data``: 0 if incomplete, -1 if invalid."""
    if len(data) < 10:
        return 0 if _GZIP_MAGIC.startswith(data[:2]) else -1
    if data[:2] != _GZIP_MAGIC or data[2] != 8:
        return -1
    flags = data[3]
    pos = 10
    if flags & 4:  # FEXTRA
        if len(data) < pos + 2:
            return 0
        pos += 2 + int.from_bytes(data[pos : pos + 2], "little")
    for bit in (8, 16):  # FNAME, FCOMMENT: zero-terminated
        if flags & bit:
            end = data.find(b"\0", pos)
            if end < 0:
                return 0
            pos = end + 1
    if flags & 2:  # FHCRC
        pos += 2
    return pos if len(data) >= pos else 0


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
    gz: _GzipSource | None = None
    read: Read
    if head[:2] == _GZIP_MAGIC:
        gz = _GzipSource(raw, head)
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
    if magic in _PCAP_MAGICS:
        order, units = _PCAP_MAGICS[magic]
        return _iter_pcap(read, buf, order, units, anomalies, gz, close, limit)
    if len(magic) == 4 and struct.unpack("<I", magic)[0] == _PCAPNG_SHB:
        return _iter_pcapng(read, buf, anomalies, gz, close, limit)
    shown = " ".join(f"{b:02x}" for b in magic)
    raise CaptureError(f"{name}: {what} is not a pcap or pcapng capture (starts with {shown})")


def _end_anomaly(gz: _GzipSource | None, name: str, frame: int, detail: str) -> Anomaly:
    """The anomaly for data that stops early: ``gzip.corrupt`` when the gzip layer is to blame."""
    if gz is not None and gz.error:
        return Anomaly("gzip.corrupt", frame, f"{gz.error}; {detail}")
    return Anomaly(name, frame, detail)


def _stream_end(
    gz: _GzipSource | None, anomalies: list[Anomaly], name: str, frame: int, n: int, size: int, what: str
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
    gz: _GzipSource | None,
    close: Callable[[], None] | None,
    max_record: int = MAX_RECORD_BYTES,
) -> Iterator[Frame]:
    try:
        buf = _fill(read, buf, 0, 24)
        if len(buf) < 24:
            anomalies.append(
                _end_anomaly(gz, "pcap.truncated_header", 1, f"file header cut at {len(buf)} of 24 octets")
            )
            return
        linktype = struct.unpack_from(order + "I", buf, 20)[0] & 0xFFFF
        unpack = struct.Struct(order + "IIII").unpack_from
        pos = 24
        n = len(buf)
        number = 0
        # Frames are made here by hand, once per record: object.__new__ and the six slot stores skip the
        # call of the dataclass's __init__ (the same attributes, set the same way), a tenth of what this
        # loop costs per record.
        new = object.__new__
        frame_class = Frame
        while True:
            if n - pos < 16:
                buf = _fill(read, buf, pos, 16)
                pos = 0
                n = len(buf)
                if n < 16:
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
            start = pos + 16
            end = start + incl
            if end > n:
                buf = _fill(read, buf, pos, 16 + incl)
                pos = 0
                n = len(buf)
                start = 16
                end = start + incl
                if end > n:
                    anomalies.append(
                        _end_anomaly(
                            gz,
                            "pcap.truncated_record",
                            number + 1,
                            f"record data cut at {n - 16} of {incl} octets",
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
        self.epb7 = struct.Struct(order + "IIIIIII").unpack_from  # the whole EPB header at once
        self.u32 = struct.Struct(order + "I").unpack_from
        self.u16 = struct.Struct(order + "HH").unpack_from
        # per interface: (link type, time units per second, offset seconds, snaplen)
        self.ifaces: list[tuple[int, int, int, int]] = []


def _parse_idb(sec: _Section, buf: bytes, pos: int, blen: int) -> tuple[int, int, int, int] | None:
    if blen < 20:
        return None
    linktype, _reserved = sec.u16(buf, pos + 8)
    (snaplen,) = sec.u32(buf, pos + 12)
    units = 1_000_000
    offset = 0
    opt = pos + 16
    end = pos + blen - 4
    while opt + 4 <= end:
        code, olen = sec.u16(buf, opt)
        if code == 0:
            break
        value = opt + 4
        if value + olen > end:
            break
        if code == 9 and olen >= 1:
            res = buf[value]
            units = (1 << (res & 0x7F)) if res & 0x80 else 10 ** (res & 0x7F)
        elif code == 14 and olen >= 8:
            (offset,) = struct.unpack_from(sec.order + "q", buf, value)
        opt = value + ((olen + 3) & ~3)
    return linktype, units, offset, snaplen


def _iter_pcapng(
    read: Read,
    buf: bytes,
    anomalies: list[Anomaly],
    gz: _GzipSource | None,
    close: Callable[[], None] | None,
    max_record: int = MAX_RECORD_BYTES,
) -> Iterator[Frame]:
    try:
        pos = 0
        n = len(buf)
        number = 0
        last_ts = 0.0
        sec: _Section | None = None
        n_ifaces_before = 0
        reported: set[int] = set()
        frame = Frame
        max_block = max_record + _BLOCK_OVERHEAD
        # Fast path state for Enhanced Packet Blocks (refreshed when a section starts).
        epb7 = None
        u32 = _U32LE
        ifaces: list[tuple[int, int, int, int]] = []
        base = 0
        while True:
            if epb7 is not None and n - pos >= 32:
                btype, blen, ifid, tsh, tsl, caplen, orig = epb7(buf, pos)
                if (
                    btype == 6
                    and blen <= n - pos
                    and 32 + caplen <= blen
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
                        number, last_ts, linktype, buf[pos + 28 : pos + 28 + caplen], orig, base + ifid
                    )
                    pos += blen
                    continue
            if n - pos < 12:
                buf = _fill(read, buf, pos, 12)
                pos = 0
                n = len(buf)
                if n < 12:
                    _stream_end(gz, anomalies, "pcapng.truncated_block", number + 1, n, 12, "block header")
                    return
            btype = struct.unpack_from("<I", buf, pos)[0]
            if btype == _PCAPNG_SHB:
                bom = buf[pos + 8 : pos + 12]
                if bom == b"\x4d\x3c\x2b\x1a":
                    order = "<"
                elif bom == b"\x1a\x2b\x3c\x4d":
                    order = ">"
                else:
                    anomalies.append(
                        Anomaly(
                            "pcapng.bad_block_length",
                            number + 1,
                            f"section header with bad byte-order magic {bom.hex()}",
                        )
                    )
                    return
                if sec is not None:
                    n_ifaces_before = sec.base + len(sec.ifaces)
                sec = _Section(order, n_ifaces_before)
                epb7, u32, ifaces, base = sec.epb7, sec.u32, sec.ifaces, sec.base
            elif sec is None:  # pragma: no cover - open_capture checked the first block type
                return
            btype, blen = sec.hdr(buf, pos)
            if blen < 12 or blen & 3:
                anomalies.append(
                    Anomaly("pcapng.bad_block_length", number + 1, f"block type {btype:#x} has length {blen}")
                )
                return
            is_packet = btype in (_EPB, _SPB, _PB)
            if blen > max_block:
                if is_packet:
                    anomalies.append(
                        Anomaly(
                            "pcap.oversized_record",
                            number + 1,
                            f"packet block claims {blen} octets (limit {max_block}); reading stops",
                        )
                    )
                    return
                if btype in (_PCAPNG_SHB, _IDB):
                    anomalies.append(
                        Anomaly(
                            "pcapng.bad_block_length",
                            number + 1,
                            f"block type {btype:#x} claims {blen} octets",
                        )
                    )
                    return
                # Skip a large non-packet block without holding it in memory.
                remaining = blen - (n - pos)
                if remaining <= 0:
                    pos += blen
                else:
                    while remaining > 0:
                        chunk = read(min(CHUNK_SIZE, remaining))
                        if not chunk:
                            anomalies.append(
                                _end_anomaly(
                                    gz,
                                    "pcapng.truncated_block",
                                    number + 1,
                                    f"block type {btype:#x} of {blen} octets cut",
                                )
                            )
                            return
                        remaining -= len(chunk)
                    buf = b""
                    pos = n = 0
                _note_block(btype, reported, anomalies, number)
                continue
            if n - pos < blen:
                buf = _fill(read, buf, pos, blen)
                pos = 0
                n = len(buf)
                if n < blen:
                    anomalies.append(
                        _end_anomaly(
                            gz,
                            "pcapng.truncated_block",
                            number + 1,
                            f"block type {btype:#x} cut at {n} of {blen} octets",
                        )
                    )
                    return
            end = pos + blen
            if sec.u32(buf, end - 4)[0] != blen:
                anomalies.append(
                    Anomaly(
                        "pcapng.bad_block_length",
                        number + 1,
                        f"block type {btype:#x}: trailing length {sec.u32(buf, end - 4)[0]} != {blen}",
                    )
                )
                return
            if btype == _EPB:
                number += 1
                if blen < 32:
                    anomalies.append(
                        Anomaly("pcapng.bad_block_length", number, f"enhanced packet block of {blen} octets")
                    )
                    pos = end
                    continue
                ifid, tsh, tsl, caplen, orig = sec.epb(buf, pos + 8)
                start = pos + 28
                if start + caplen > end - 4:
                    anomalies.append(
                        Anomaly(
                            "pcapng.bad_block_length",
                            number,
                            f"captured length {caplen} exceeds block length {blen}",
                        )
                    )
                    pos = end
                    continue
                if ifid >= len(sec.ifaces):
                    anomalies.append(
                        Anomaly("pcapng.unknown_interface", number, f"interface {ifid} not described")
                    )
                    pos = end
                    continue
                linktype, units, offset, _snap = sec.ifaces[ifid]
                last_ts = ((tsh << 32) | tsl) / units
                if offset:
                    last_ts += offset
                yield frame(number, last_ts, linktype, buf[start : start + caplen], orig, sec.base + ifid)
            elif btype == _SPB:
                number += 1
                if blen < 16:
                    anomalies.append(
                        Anomaly("pcapng.bad_block_length", number, f"simple packet block of {blen} octets")
                    )
                    pos = end
                    continue
                if not sec.ifaces:
                    anomalies.append(
                        Anomaly("pcapng.unknown_interface", number, "simple packet block without interface 0")
                    )
                    pos = end
                    continue
                (orig,) = sec.u32(buf, pos + 8)
                linktype, _units, _offset, snaplen = sec.ifaces[0]
                caplen = min(orig, blen - 16)
                if snaplen:
                    caplen = min(caplen, snaplen)
                yield frame(number, last_ts, linktype, buf[pos + 12 : pos + 12 + caplen], orig, sec.base)
            elif btype == _IDB:
                idb = _parse_idb(sec, buf, pos, blen)
                if idb is None:
                    anomalies.append(
                        Anomaly(
                            "pcapng.bad_block_length",
                            number + 1,
                            f"interface description block of {blen} octets",
                        )
                    )
                    return
                sec.ifaces.append(idb)
            elif btype == _PB:
                number += 1
                if blen < 32:
                    anomalies.append(
                        Anomaly("pcapng.bad_block_length", number, f"packet block of {blen} octets")
                    )
                    pos = end
                    continue
                ifid, _drops = sec.u16(buf, pos + 8)
                _x, tsh, tsl, caplen, orig = sec.epb(buf, pos + 8)
                start = pos + 28
                if start + caplen > end - 4 or ifid >= len(sec.ifaces):
                    name = (
                        "pcapng.unknown_interface" if ifid >= len(sec.ifaces) else "pcapng.bad_block_length"
                    )
                    anomalies.append(
                        Anomaly(name, number, f"packet block: interface {ifid}, captured length {caplen}")
                    )
                    pos = end
                    continue
                linktype, units, offset, _snap = sec.ifaces[ifid]
                last_ts = ((tsh << 32) | tsl) / units + offset
                yield frame(number, last_ts, linktype, buf[start : start + caplen], orig, sec.base + ifid)
            elif btype != _PCAPNG_SHB:
                _note_block(btype, reported, anomalies, number)
            pos = end

    finally:
        if close is not None:
            close()


def _note_block(btype: int, reported: set[int], anomalies: list[Anomaly], number: int) -> None:
    """Report an unknown non-packet block type once per file; known ones are skipped silently."""
    if btype in _SKIPPED_BLOCKS or btype in reported:
        return
    reported.add(btype)
    anomalies.append(
        Anomaly(
            "pcapng.unsupported_block",
            number + 1,
            f"block type {btype:#010x} skipped (later blocks of this type are skipped silently)",
        )
    )
