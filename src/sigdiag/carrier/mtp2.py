"""MTP2 (Q.703) signal units, the FCS, and the pseudo-header of pcap link type 139.

Signal unit::

    | off | size | field                                                                  |
    |   0 |    1 | BSN (7 bits) | BIB (bit 7)                                              |
    |   1 |    1 | FSN (7 bits) | FIB (bit 7)                                              |
    |   2 |    1 | LI (6 bits; capped at 63 for long MSUs) | spare 2 bits                  |
    |   3 |  ... | MSU: SIO + SIF (the MTP3 message, :mod:`sigdiag.carrier.mtp3`)           |
    | end |    2 | FCS: CRC-16/X.25, little-endian (only where the capture hardware keeps it) |

LI 0 is a FISU and LI 1-2 an LSSU, neither carries user data.  With annex A (Q.703 extended sequence
numbers) the header is 6 octets: BSN u16, FSN u16, LI u16 (9 bits), all little-endian.

Link type 139 prefixes a 4-octet pseudo-header (Wireshark ``wiretap/pcap-common.c``): sent (u8), annex A
used (u8: 0 no, 1 yes, 2 unknown), link number (u16, big-endian).  Link type 140 is the bare signal unit,
141 the MTP3 message alone.

Read by :class:`sigdiag.carrier.mtp.MtpDecoder`; built by :func:`build_mtp2` (with a correct FCS when
asked), :func:`mtp2_header` (to prebuild) and :func:`build_mtp2_phdr`.
"""

from __future__ import annotations

import binascii
import struct

__all__ = [
    "EXTENDED_HEADER_LEN",
    "FCS_LEN",
    "HEADER_LEN",
    "LI_MAX",
    "LI_MAX_EXTENDED",
    "PHDR_LEN",
    "build_mtp2",
    "build_mtp2_phdr",
    "crc16_x25",
    "mtp2_header",
]

HEADER_LEN = 3
EXTENDED_HEADER_LEN = 6
PHDR_LEN = 4
#: Offset of the "annex A used" octet in the pseudo-header (1: extended sequence numbers).
PHDR_ANNEX_A = 1
FCS_LEN = 2
LI_MAX = 63
LI_MAX_EXTENDED = 0x1FF
#: LI below this: FISU (0) or LSSU (1, 2).
LI_MSU = 3

U16LE = struct.Struct("<H")
_U16LE = U16LE
_U16BE = struct.Struct(">H")

# bit-reversal table: CRC-16/X.25 is the reflected CCITT CRC; binascii.crc_hqx is the unreflected one.
_REV = bytes(int(f"{i:08b}"[::-1], 2) for i in range(256))


def crc16_x25(data: bytes) -> int:
    """CRC-16/X.25 (the MTP2 and HDLC FCS: poly 0x1021 reflected, init and xor-out 0xFFFF)."""
    crc = binascii.crc_hqx(data.translate(_REV), 0xFFFF)
    return ((_REV[crc & 0xFF] << 8) | _REV[crc >> 8]) ^ 0xFFFF


def mtp2_header(bsn: int, fsn: int, li: int, *, bib: int = 1, fib: int = 1) -> bytes:
    """The 3-octet header of a signal unit (LI capped at 63)."""
    return bytes(((bsn & 0x7F) | ((bib & 1) << 7), (fsn & 0x7F) | ((fib & 1) << 7), min(li, LI_MAX)))


def build_mtp2(
    msu: bytes,
    fsn: int = 0,
    bsn: int = 0,
    fcs: bool = False,
    *,
    fib: int = 1,
    bib: int = 1,
    extended: bool = False,
) -> bytes:
    """An MTP2 MSU around the MTP3 message ``msu`` (SIO + SIF).

    LI is the MSU length (capped at 63, or 9 bits when ``extended``, Q.703 annex A); ``fcs`` appends the
    CRC-16/X.25 frame check sequence little-endian, as capture hardware that keeps it does.
    """
    msu = bytes(msu)
    if extended:
        li = min(len(msu), LI_MAX_EXTENDED)
        head = (
            _U16LE.pack((bsn & 0x0FFF) | ((bib & 1) << 15))
            + _U16LE.pack((fsn & 0x0FFF) | ((fib & 1) << 15))
            + _U16LE.pack(li)
        )
    else:
        head = mtp2_header(bsn, fsn, len(msu), bib=bib, fib=fib)
    su = head + msu
    if fcs:
        su += _U16LE.pack(crc16_x25(su))
    return su


def build_mtp2_phdr(link_number: int = 0, sent: int = 0, annex_a: int = 0) -> bytes:
    """The 4-octet pseudo-header of link type 139 (sent, annex A used, link number big-endian)."""
    return bytes((sent & 0xFF, annex_a & 0xFF)) + _U16BE.pack(link_number & 0xFFFF)
