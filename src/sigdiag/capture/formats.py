"""The pcap and pcapng file formats: every magic number, block type, option code and header layout,
and the builders of each piece.

The reader (:mod:`sigdiag.capture.pcap`) and the writers (:mod:`sigdiag.capture.writer`) take their
constants and structs from here, and so does the traffic simulator, which pre-renders records with
:data:`PCAP_RECORD` and :data:`EPB_HEADER`.

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

    | type       | block                          | body                                                 |
    | 0x0a0d0d0a | Section Header (SHB)           | byte-order magic u32, version 1.0 (u16, u16),         |
    |            |                                |   section length i64 (-1: unknown), options          |
    | 0x00000001 | Interface Description (IDB)    | link type u16, reserved u16, snaplen u32, options:   |
    |            |                                |   if_name (2), if_tsresol (9): 1 octet, bit 7 clear  |
    |            |                                |   -> 10^-n s, bit 7 set -> 2^-n s (default 10^-6),   |
    |            |                                |   if_tsoffset (14): int64 seconds added to each ts   |
    | 0x00000006 | Enhanced Packet (EPB)          | interface id u32, ts high u32, ts low u32,           |
    |            |                                |   captured len u32, original len u32, data (padded)  |
    | 0x00000003 | Simple Packet (SPB)            | original len u32, data; interface 0, no time stamp   |
    | 0x00000002 | Packet (obsolete)              | interface id u16, drops u16, ts high, ts low,        |
    |            |                                |   captured len, original len, data                   |
    | others     | NRB 4, ISB 5, DSB 10, custom   | carry no packets                                     |

    options: code u16, length u16, value padded to 4 octets; code 0 ends the list.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

__all__ = [
    "EPB_HEADER",
    "GZIP_MAGIC",
    "OPT_END",
    "OPT_IF_NAME",
    "OPT_IF_TSOFFSET",
    "OPT_IF_TSRESOL",
    "OPT_SHB_USERAPPL",
    "PCAPNG_BYTE_ORDER_MAGIC",
    "PCAPNG_EPB",
    "PCAPNG_IDB",
    "PCAPNG_PB",
    "PCAPNG_SHB",
    "PCAPNG_SPB",
    "PCAP_HEADER_LEN",
    "PCAP_MAGIC",
    "PCAP_MAGICS",
    "PCAP_MAGIC_NS",
    "PCAP_RECORD",
    "PCAP_RECORD_LEN",
    "SKIPPED_BLOCKS",
    "epb_struct",
    "pcap_file_header",
    "pcap_header_struct",
    "pcap_record_struct",
    "pcapng_block",
    "pcapng_epb",
    "pcapng_idb",
    "pcapng_option",
    "pcapng_shb",
    "tsresol_units",
]

# ----------------------------------------------------------------------------------------------
# classic pcap

PCAP_MAGIC = 0xA1B2C3D4
PCAP_MAGIC_NS = 0xA1B23C4D
PCAP_VERSION = (2, 4)
PCAP_HEADER_LEN = 24
PCAP_RECORD_LEN = 16
#: Offset of the link type in the file header.
PCAP_LINKTYPE_OFFSET = 20
#: First four octets of a pcap file -> (struct byte order, time-stamp fraction units per second).
PCAP_MAGICS: dict[bytes, tuple[str, int]] = {
    PCAP_MAGIC.to_bytes(4, "little"): ("<", 1_000_000),
    PCAP_MAGIC.to_bytes(4, "big"): (">", 1_000_000),
    PCAP_MAGIC_NS.to_bytes(4, "little"): ("<", 1_000_000_000),
    PCAP_MAGIC_NS.to_bytes(4, "big"): (">", 1_000_000_000),
}
#: Magic, version major, minor, thiszone, sigfigs, snaplen, link type (little-endian; see
#: :func:`pcap_header_struct` for the other order).
_PCAP_HEADER = "IHHiIII"
#: A record header (little-endian): seconds, fraction, captured length, original length.
PCAP_RECORD = struct.Struct("<IIII")

#: gzip's magic: either format may come compressed.
GZIP_MAGIC = b"\x1f\x8b"


def pcap_header_struct(order: str = "<") -> struct.Struct:
    """The file header layout in byte order ``order`` ("<" or ">")."""
    return struct.Struct(order + _PCAP_HEADER)


def pcap_record_struct(order: str = "<") -> struct.Struct:
    """The record header layout in byte order ``order``."""
    return struct.Struct(order + "IIII")


def pcap_file_header(
    linktype: int, *, snaplen: int = 262144, nanosecond: bool = False, big_endian: bool = False
) -> bytes:
    """The 24-octet file header of a classic pcap file."""
    magic = PCAP_MAGIC_NS if nanosecond else PCAP_MAGIC
    return pcap_header_struct(">" if big_endian else "<").pack(magic, *PCAP_VERSION, 0, 0, snaplen, linktype)


# ----------------------------------------------------------------------------------------------
# pcapng

PCAPNG_SHB = 0x0A0D0D0A
PCAPNG_BYTE_ORDER_MAGIC = 0x1A2B3C4D
PCAPNG_IDB = 1
PCAPNG_PB = 2
PCAPNG_SPB = 3
PCAPNG_EPB = 6
#: Block types that carry packets.
PACKET_BLOCKS = frozenset({PCAPNG_EPB, PCAPNG_SPB, PCAPNG_PB})
#: Block types that carry no packets and are skipped silently.
SKIPPED_BLOCKS = frozenset(
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

OPT_END = 0
OPT_IF_NAME = 2
OPT_SHB_USERAPPL = 4
OPT_IF_TSRESOL = 9
OPT_IF_TSOFFSET = 14

#: Block header: type, total length.
BLOCK_HEADER_LEN = 8
#: Smallest block: type, length, trailing length.
MIN_BLOCK_LEN = 12
#: The fixed part of an EPB (and of an obsolete PB): header 28 octets + trailing length.
EPB_FIXED_LEN = 32
#: The fixed part of an SPB: header 12 octets + trailing length.
SPB_FIXED_LEN = 16
#: Offset of the packet data in an EPB or PB.
EPB_DATA_OFFSET = 28
#: Offset of the packet data in an SPB.
SPB_DATA_OFFSET = 12
#: The smallest IDB: header, link type, reserved, snaplen, trailing length.
MIN_IDB_LEN = 20
#: The byte-order magic in an SHB, as it reads in each byte order.
BYTE_ORDER_MARKS: dict[bytes, str] = {
    PCAPNG_BYTE_ORDER_MAGIC.to_bytes(4, "little"): "<",
    PCAPNG_BYTE_ORDER_MAGIC.to_bytes(4, "big"): ">",
}
#: An EPB's header (little-endian): type, total length, interface, ts high, ts low, captured, original.
EPB_HEADER = struct.Struct("<IIIIIII")


def epb_struct(order: str = "<") -> struct.Struct:
    """The EPB header layout (:data:`EPB_HEADER`) in byte order ``order``."""
    return struct.Struct(order + "IIIIIII")


_EPB_BY_ORDER = {"<": EPB_HEADER, ">": epb_struct(">")}
#: Padding + trailing block length, by byte order and data length modulo 4.
_EPB_TAIL = {order: [struct.Struct(f"{order}{-i & 3}xI").pack for i in range(4)] for order in "<>"}


def tsresol_units(res: int) -> int:
    """Time-stamp units per second of an ``if_tsresol`` octet (bit 7 clear: 10^-n s, set: 2^-n s)."""
    return (1 << (res & 0x7F)) if res & 0x80 else 10 ** (res & 0x7F)


def pcapng_option(code: int, value: bytes, order: str = "<") -> bytes:
    """One option: code, length, value padded to 4 octets."""
    return struct.pack(order + "HH", code, len(value)) + value + b"\0" * (-len(value) & 3)


def pcapng_block(block_type: int, body: bytes, order: str = "<") -> bytes:
    """A whole block: type, total length, ``body`` padded to 4 octets, total length again."""
    body = body + b"\0" * (-len(body) & 3)
    total = len(body) + MIN_BLOCK_LEN
    u32 = struct.Struct(order + "I").pack
    return u32(block_type) + u32(total) + body + u32(total)


def _options(options: Sequence[tuple[int, bytes]], order: str) -> bytes:
    return b"".join(pcapng_option(code, value, order) for code, value in options)


def pcapng_shb(options: Sequence[tuple[int, bytes]] = (), order: str = "<") -> bytes:
    """A Section Header Block (version 1.0, section length unknown) with ``options`` and the
    end-of-options option."""
    body = struct.pack(order + "IHHq", PCAPNG_BYTE_ORDER_MAGIC, 1, 0, -1)
    body += _options(options, order) + pcapng_option(OPT_END, b"", order)
    return pcapng_block(PCAPNG_SHB, body, order)


def pcapng_idb(
    linktype: int, snaplen: int = 0, options: Sequence[tuple[int, bytes]] = (), order: str = "<"
) -> bytes:
    """An Interface Description Block; the end-of-options option follows ``options`` when there are any."""
    body = struct.pack(order + "HHI", linktype, 0, snaplen)
    if options:
        body += _options(options, order) + pcapng_option(OPT_END, b"", order)
    return pcapng_block(PCAPNG_IDB, body, order)


def pcapng_epb(
    data: bytes, ticks: int, interface: int = 0, orig_len: int | None = None, order: str = "<"
) -> bytes:
    """An Enhanced Packet Block: ``ticks`` is the time stamp in the interface's units."""
    n = len(data)
    total = EPB_FIXED_LEN + ((n + 3) & ~3)
    head = _EPB_BY_ORDER[order].pack(
        PCAPNG_EPB,
        total,
        interface,
        (ticks >> 32) & 0xFFFFFFFF,
        ticks & 0xFFFFFFFF,
        n,
        n if orig_len is None else orig_len,
    )
    return head + data + _EPB_TAIL[order][n & 3](total)
