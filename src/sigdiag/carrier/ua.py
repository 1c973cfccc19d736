"""The SIGTRAN user adaptation layers' common message header and parameters (RFC 4666 section 3.1,
RFC 3331 section 3.1; M2PA, RFC 4165 section 2.1, shares the 8-octet header).

Common header, then parameters (tag, length, value padded to 4 octets)::

    | off | size | field                                      |   parameter: | off | size | field          |
    |   0 |    1 | version (1)                                |              |   0 |    2 | tag            |
    |   1 |    1 | spare                                      |              |   2 |    2 | length (tag,   |
    |   2 |    1 | message class                              |              |     |      |  length, value)|
    |   3 |    1 | message type                               |              |   4 |  ... | value, padded  |
    |   4 |    4 | message length (header included)           |              |     |      |  to 4 octets   |

:mod:`sigdiag.carrier.m3ua`, :mod:`sigdiag.carrier.m2ua` and :mod:`sigdiag.carrier.m2pa` hold each
layer's classes, types and tags; :class:`sigdiag.carrier.sigtran.SigtranDecoder` reads them with
:data:`COMMON_HEADER` and :data:`PARAMETER_HEADER`.
"""

from __future__ import annotations

import struct

__all__ = [
    "COMMON_HEADER",
    "COMMON_HEADER_LEN",
    "PARAMETER_HEADER",
    "VERSION",
    "head_word",
    "message",
    "parameter",
    "u32",
]

VERSION = 1
COMMON_HEADER_LEN = 8
#: Version, spare, class, type, length.
COMMON_HEADER = struct.Struct(">BBBBI")
#: Tag, length.
PARAMETER_HEADER = struct.Struct(">HH")
_U32 = struct.Struct(">I")


def head_word(mclass: int, mtype: int) -> int:
    """Version, spare, class and type as one big-endian 32-bit word (how fast paths compare them)."""
    return (VERSION << 24) | (mclass << 8) | mtype


def u32(value: int) -> bytes:
    """A 32-bit parameter value (masked to 32 bits)."""
    return _U32.pack(value & 0xFFFFFFFF)


def parameter(tag: int, value: bytes) -> bytes:
    """One parameter: tag, length, value, zero padding to 4 octets."""
    length = 4 + len(value)
    return PARAMETER_HEADER.pack(tag, length) + value + b"\x00" * (-length & 3)


def message(mclass: int, mtype: int, body: bytes) -> bytes:
    """A whole message: common header (version 1) + ``body`` (parameters, already padded)."""
    return COMMON_HEADER.pack(VERSION, 0, mclass, mtype, COMMON_HEADER_LEN + len(body)) + body
