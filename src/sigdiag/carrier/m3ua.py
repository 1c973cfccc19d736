"""M3UA (RFC 4666) DATA messages, and the IETF draft-6 layout of old captures.

The common header and parameter format are :mod:`sigdiag.carrier.ua`'s.  DATA is class 1 (transfer),
type 1; its parameters: Network Appearance (0x0200), Routing Context (0x0006), Protocol Data (0x0210),
Correlation Id... Only Protocol Data carries the user part::

    Protocol Data (0x0210) value
    | off | size | field                            |
    |   0 |    4 | OPC                              |
    |   4 |    4 | DPC                              |
    |   8 |    1 | SI (service indicator: 5 ISUP, 13 BICC) |
    |   9 |    1 | NI (network indicator)           |
    |  10 |    1 | MP (message priority)            |
    |  11 |    1 | SLS                              |
    |  12 |  ... | user part (ISUP/BICC from the CIC) |

The IETF draft-6 layout (Wireshark's "Internet Draft version 6", ``packet-m3ua.c``) carries the MTP3
message itself instead: Protocol Data 1 (tag 0x0002) = SIO + routing label + user data, Protocol Data 2
(tag 0x0003) = an LI octet, then the same.  Those tags are unused in RFC DATA messages, so the layouts
are told apart per message from the tag.

Read by :class:`sigdiag.carrier.sigtran.SigtranDecoder` and :class:`sigdiag.carrier.fastlane.M3uaFastLane`;
built by :func:`build_m3ua_data` and :func:`build_m3ua_draft6_data`.
"""

from __future__ import annotations

import struct

from sigdiag.carrier import ua

__all__ = [
    "CLASS_TRANSFER",
    "DATA_HEAD",
    "PROTOCOL_DATA",
    "PROTOCOL_DATA_LEN",
    "TAG_DRAFT6_PD1",
    "TAG_DRAFT6_PD2",
    "TAG_NETWORK_APPEARANCE",
    "TAG_PROTOCOL_DATA",
    "TAG_ROUTING_CONTEXT",
    "TYPE_DATA",
    "build_m3ua_data",
    "build_m3ua_draft6_data",
    "protocol_data",
]

CLASS_TRANSFER = 1
TYPE_DATA = 1
#: Version 1, spare, class 1, type 1 as one word: the first four octets of every DATA message.
DATA_HEAD = ua.head_word(CLASS_TRANSFER, TYPE_DATA)

TAG_NETWORK_APPEARANCE = 0x0200
TAG_ROUTING_CONTEXT = 0x0006
TAG_PROTOCOL_DATA = 0x0210
TAG_DRAFT6_PD1 = 0x0002
TAG_DRAFT6_PD2 = 0x0003

#: The fixed part of the Protocol Data value: OPC, DPC, SI, NI, MP, SLS.
PROTOCOL_DATA = struct.Struct(">IIBBBB")
#: Protocol Data parameter header + fixed part: where the user part starts in the parameter.
PROTOCOL_DATA_LEN = 4 + PROTOCOL_DATA.size


def protocol_data(opc: int, dpc: int, si: int, ni: int, mp: int, sls: int) -> bytes:
    """The 12 fixed octets of a Protocol Data value (each field masked to its width)."""
    return PROTOCOL_DATA.pack(opc & 0xFFFFFFFF, dpc & 0xFFFFFFFF, si & 0xFF, ni & 0xFF, mp & 0xFF, sls & 0xFF)


def build_m3ua_data(
    opc: int,
    dpc: int,
    si: int,
    ni: int,
    mp: int,
    sls: int,
    user_data: bytes,
    routing_context: int | None = None,
    network_appearance: int | None = None,
) -> bytes:
    """An RFC 4666 M3UA DATA message (Network Appearance, Routing Context, Protocol Data)."""
    body = b""
    if network_appearance is not None:
        body += ua.parameter(TAG_NETWORK_APPEARANCE, ua.u32(network_appearance))
    if routing_context is not None:
        body += ua.parameter(TAG_ROUTING_CONTEXT, ua.u32(routing_context))
    body += ua.parameter(TAG_PROTOCOL_DATA, protocol_data(opc, dpc, si, ni, mp, sls) + bytes(user_data))
    return ua.message(CLASS_TRANSFER, TYPE_DATA, body)


def build_m3ua_draft6_data(msu: bytes, routing_context: int | None = None, li: int | None = None) -> bytes:
    """A draft-6 M3UA DATA message around an MTP3 message (SIO + label + user data).

    With ``li`` the message uses Protocol Data 2 (an LI octet first), else Protocol Data 1.
    """
    body = b""
    if routing_context is not None:
        body += ua.parameter(TAG_ROUTING_CONTEXT, ua.u32(routing_context))
    if li is None:
        body += ua.parameter(TAG_DRAFT6_PD1, bytes(msu))
    else:
        body += ua.parameter(TAG_DRAFT6_PD2, bytes((li & 0xFF,)) + bytes(msu))
    return ua.message(CLASS_TRANSFER, TYPE_DATA, body)
