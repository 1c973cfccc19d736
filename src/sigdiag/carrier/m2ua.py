"""M2UA (RFC 3331): MTP2 user adaptation over SCTP.

Common header and parameters of :mod:`sigdiag.carrier.ua`.  DATA is class 6 (MAUP), type 1; its
parameters: Interface Identifier (0x0001 integer, 0x0003 text), then Protocol Data 1 (0x0300; 0x000e in
draft 7) = the MTP3 message (SIO, routing label, user part), or Protocol Data 2 (0x0301) = a TTC
priority octet, then the MTP3 message.

Read by :class:`sigdiag.carrier.sigtran.SigtranDecoder`; built by :func:`build_m2ua_data`.
"""

from __future__ import annotations

from sigdiag.carrier import ua

__all__ = [
    "CLASS_MAUP",
    "PROTOCOL_DATA_TAGS",
    "TAG_IID_INT",
    "TAG_IID_TEXT",
    "TAG_PROTOCOL_DATA_1",
    "TAG_PROTOCOL_DATA_1_DRAFT7",
    "TAG_PROTOCOL_DATA_2",
    "TYPE_DATA",
    "build_m2ua_data",
]

CLASS_MAUP = 6
TYPE_DATA = 1

TAG_IID_INT = 0x0001
TAG_IID_TEXT = 0x0003
TAG_PROTOCOL_DATA_1 = 0x0300
TAG_PROTOCOL_DATA_1_DRAFT7 = 0x000E
TAG_PROTOCOL_DATA_2 = 0x0301
#: The parameters that carry an MTP3 message.
PROTOCOL_DATA_TAGS = frozenset({TAG_PROTOCOL_DATA_1, TAG_PROTOCOL_DATA_1_DRAFT7, TAG_PROTOCOL_DATA_2})


def build_m2ua_data(interface_id: int | str, msu: bytes, ttc_priority: int | None = None) -> bytes:
    """An RFC 3331 M2UA DATA message: interface identifier (integer or text), Protocol Data 1 (or 2
    with a TTC priority octet when ``ttc_priority`` is given)."""
    if isinstance(interface_id, str):
        body = ua.parameter(TAG_IID_TEXT, interface_id.encode("utf-8"))
    else:
        body = ua.parameter(TAG_IID_INT, ua.u32(interface_id))
    if ttc_priority is None:
        body += ua.parameter(TAG_PROTOCOL_DATA_1, bytes(msu))
    else:
        body += ua.parameter(TAG_PROTOCOL_DATA_2, bytes((ttc_priority & 0xFF,)) + bytes(msu))
    return ua.message(CLASS_MAUP, TYPE_DATA, body)
