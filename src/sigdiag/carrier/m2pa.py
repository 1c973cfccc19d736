"""M2PA (RFC 4165, and drafts 2 and 8): MTP2 peer-to-peer adaptation over SCTP.

The first 8 octets are the common header of :mod:`sigdiag.carrier.ua` with class 11.  User Data (type
1)::

    | off | size | field                                                  |
    |   0 |    8 | common header: version 1, spare, class 11, type 1, length |
    |   8 |    4 | BSN (low 24 bits)                                      |
    |  12 |    4 | FSN (low 24 bits)                                      |
    |  16 |    1 | priority (top 2 bits) / spare                          |
    |  17 |  ... | MTP3 message (SIO, routing label, user part)           |

A User Data message with no data (16 octets) is a bare acknowledgement.  Draft 2 (class 6 type 1 in
octets 2-3, no BSN/FSN) puts the priority/LI octet right after the 8-octet header.

Read by :class:`sigdiag.carrier.sigtran.SigtranDecoder`; built by :func:`build_m2pa_user_data` (or
:func:`user_data_header` + the MTP3 message, to prebuild).
"""

from __future__ import annotations

import struct

from sigdiag.carrier import ua

__all__ = [
    "CLASS_M2PA",
    "DRAFT2_CLASS",
    "DRAFT2_USER_DATA_LEN",
    "TYPE_USER_DATA",
    "USER_DATA_HEADER",
    "USER_DATA_HEADER_LEN",
    "build_m2pa_user_data",
    "user_data_header",
]

CLASS_M2PA = 11
TYPE_USER_DATA = 1
#: Draft 2: the 16-bit message type 0x0601 in octets 2-3 (class 6, type 1 read the RFC way).
DRAFT2_CLASS = 6
#: Common header, BSN, FSN, priority octet: where the MTP3 message starts.
USER_DATA_HEADER_LEN = 17
#: Draft 2: common header and the LI octet.
DRAFT2_USER_DATA_LEN = 9
#: Version, spare, class, type, length, BSN, FSN, priority.
USER_DATA_HEADER = struct.Struct(">BBBBIIIB")


def user_data_header(bsn: int, fsn: int, msu_len: int, priority: int = 0) -> bytes:
    """The 17 octets before the MTP3 message of a User Data message carrying ``msu_len`` octets."""
    return USER_DATA_HEADER.pack(
        ua.VERSION,
        0,
        CLASS_M2PA,
        TYPE_USER_DATA,
        USER_DATA_HEADER_LEN + msu_len,
        bsn & 0xFFFFFF,
        fsn & 0xFFFFFF,
        (priority & 3) << 6,
    )


def build_m2pa_user_data(bsn: int, fsn: int, msu: bytes, priority: int = 0) -> bytes:
    """An RFC 4165 M2PA User Data message: header, BSN, FSN, priority octet, MTP3 message."""
    msu = bytes(msu)
    return user_data_header(bsn, fsn, len(msu), priority) + msu
