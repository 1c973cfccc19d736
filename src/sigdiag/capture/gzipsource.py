"""Reading gzip-compressed captures: a ``read(n)`` over a gzip stream that never raises.

:func:`sigdiag.capture.pcap.open_capture` recognises gzip by its magic (:data:`GZIP_MAGIC` of
:mod:`sigdiag.capture.formats`) and reads the capture through :class:`GzipSource`: output comes in
bounded pieces, so a decompression bomb costs time, not memory, and a stream that is corrupt or ends
early yields what could be decompressed, then says why it stopped (:attr:`GzipSource.error`).
"""

from __future__ import annotations

import struct
import zlib
from typing import BinaryIO

from sigdiag.capture.formats import GZIP_MAGIC

__all__ = ["GzipSource"]

_GZIP_MAGIC = GZIP_MAGIC


class GzipSource:
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
