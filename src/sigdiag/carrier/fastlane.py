"""Fast lane for the most common frame: Ethernet / IPv4 / SCTP with one DATA chunk / M3UA DATA.

Most SIGTRAN captures are almost entirely frames of one shape::

    Ethernet II, type 0x0800                      14 octets
    IPv4, no options, not a fragment              20
    SCTP common header                            12
    one DATA chunk, B and E set, PPID 3 (M3UA)    16
    M3UA v1 DATA [Routing Context] Protocol Data  8 + [8] + 16, then the ISUP/BICC octets

:class:`M3uaFastLane` recognises that shape with one ``struct.unpack_from`` and builds the
:class:`~sigdiag.model.Payload` directly, skipping the per-layer objects of the general path.
:meth:`M3uaFastLane.take` builds whatever the caller asks for from the payload's fields instead: the
decode pipeline (:mod:`sigdiag.decode`) passes :func:`sigdiag.codec.isup.decode_message`, which takes
them in the Payload's order, and gets the decoded message without a Payload in between.  Anything
else — a VLAN tag, IP options, fragments, several chunks, another PPID, other M3UA parameters, a frame cut
by the snapshot length — returns ``None`` and goes the general way through
:class:`~sigdiag.carrier.net.NetDecoder` and :class:`~sigdiag.carrier.sigtran.SigtranDecoder`.  The
lane must give exactly the payload the general path gives; ``tests/unit/test_fastlane.py`` checks that on
every carrier's captures.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable
from typing import TypeVar

from sigdiag.capture.frame import Frame
from sigdiag.carrier import m3ua, ua
from sigdiag.carrier.hot import compile_hot
from sigdiag.carrier.ip import IP4_MF, IP4_OFFSET, IPV4_HEADER_LEN, IPV4_VIHL, PROTO_SCTP  # noqa: F401
from sigdiag.carrier.link import ETHERNET_HEADER_LEN, ETHERTYPE_IPV4, ETHERTYPE_OFFSET
from sigdiag.carrier.mtp3 import SI_BICC, SI_ISUP  # noqa: F401
from sigdiag.carrier.payload import Payload
from sigdiag.carrier.sctp import CHUNK_DATA, COMMON_HEADER_LEN, DATA_CHUNK_LEN, FLAGS_WHOLE, PPID_M3UA
from sigdiag.carrier.sigtran import link_name
from sigdiag.settings import DecodeSettings

__all__ = ["M3uaFastLane"]

# Where each layer starts in a frame of the common shape (from the layers' own definitions).
_IP_AT = ETHERNET_HEADER_LEN  # 14
_SCTP_AT = _IP_AT + IPV4_HEADER_LEN  # 34
_CHUNK_AT = _SCTP_AT + COMMON_HEADER_LEN  # 46
_M3UA_AT = _CHUNK_AT + DATA_CHUNK_LEN  # 62
_PARAM_AT = _M3UA_AT + ua.COMMON_HEADER_LEN  # 70: the first parameter's tag and length
_VALUE_AT = _PARAM_AT + 4  # 74: its value
_RC_LEN = 8  # a Routing Context parameter: tag, length, one 32-bit context

# From the EtherType, in few fields (struct pays per field, so constant octets are taken in words and
# checked with masks): Ethernet type + IPv4 version/IHL + TOS; IPv4 total length; flags/fragment offset +
# TTL + protocol; (checksum, addresses and ports skipped: they are taken as one 12-octet key, see
# M3uaFastLane._links; SCTP verification tag and checksum skipped) SCTP chunk type + flags + length;
# (TSN, stream, SSN skipped) PPID + M3UA version..type; M3UA length; the first parameter's tag and length.
_HEAD = struct.Struct(f">IHxxI{_CHUNK_AT - (_IP_AT + 10)}xI8xQIHH")
assert ETHERTYPE_OFFSET + _HEAD.size == _VALUE_AT
# After the first parameter header: Protocol Data without Routing Context (OPC, DPC, SI, NI, MP, SLS) ...
_PD = struct.Struct(">IIBBxB")
# ... or Routing Context value, then Protocol Data tag and length, then its fixed part.
_RC_PD = struct.Struct(">xxxxHHIIBBxB")
_MIN_FRAME = _VALUE_AT + m3ua.PROTOCOL_DATA_LEN  # a Protocol Data parameter's fixed part at least
_PORTS = struct.Struct(">HH")

# The values the words of _HEAD must have, and the masks they are compared under.
_ETH_IP = (ETHERTYPE_IPV4 << 8) | IPV4_VIHL  # the first word >> 8: EtherType, version/IHL
_FRAG_PROTO_MASK = ((IP4_MF | IP4_OFFSET) << 16) | 0xFF  # no fragment bits; the protocol octet
_CHUNK_MASK = 0xFF000000 | (FLAGS_WHOLE << 16)  # chunk type, B and E flags
_CHUNK_WANT = (CHUNK_DATA << 24) | (FLAGS_WHOLE << 16)
_PPID_HEAD = (PPID_M3UA << 32) | m3ua.DATA_HEAD  # PPID, then M3UA version 1, class 1 (transfer), DATA
_IP_SCTP = IPV4_HEADER_LEN + COMMON_HEADER_LEN  # what the IP total length holds besides the chunk
_TAG_PD = m3ua.TAG_PROTOCOL_DATA
_TAG_RC = m3ua.TAG_ROUTING_CONTEXT
_PD_LEN = m3ua.PROTOCOL_DATA_LEN
_M3UA_HDR = ua.COMMON_HEADER_LEN
_PD_AT = _VALUE_AT + _PD_LEN - 4  # the user part, Protocol Data first (86)
_RC_PD_AT = _PD_AT + _RC_LEN  # the user part after a Routing Context (94)
_KEY = slice(_IP_AT + 12, _IP_AT + 24)  # IPv4 source and destination, SCTP ports

_MAX_LINKS = 4096

T = TypeVar("T")


class M3uaFastLane:
    """Payloads of Ethernet/IPv4/SCTP/M3UA frames of the common shape, or None for any other frame."""

    def __init__(self, settings: DecodeSettings, decided: dict[str, tuple[str, str]] | None = None) -> None:
        self.settings = settings
        self.enabled = settings.m3ua_version in ("auto", "rfc")
        #: link -> (pc_format, variant) decided by the detector for ``auto`` links (shared with it)
        self.decided: dict[str, tuple[str, str]] = {} if decided is None else decided
        # IPv4 source and destination, SCTP ports, as on the wire (octets 26-37 of the frame: one slice
        # is cheaper than four fields) -> (link name, pc_format, variant)
        self._links: dict[bytes, tuple[str, str, str]] = {}

    def _link(self, key: bytes) -> tuple[str, str, str]:
        sport, dport = _PORTS.unpack_from(key, 8)
        link = link_name(
            "m3ua",
            socket.inet_ntop(socket.AF_INET, key[0:4]),
            sport,
            socket.inet_ntop(socket.AF_INET, key[4:8]),
            dport,
        )
        pc_format, variant = self.decided.get(link) or self.settings.for_link(link)
        if len(self._links) >= _MAX_LINKS:
            self._links.clear()
        entry = self._links[key] = (link, pc_format, variant)
        return entry

    def set_format(self, link: str, pc_format: str, variant: str) -> None:
        """Build ``link``'s messages from now on with the format the detector decided."""
        for key, entry in self._links.items():
            if entry[0] == link:
                self._links[key] = (link, pc_format, variant)

    def take(self, frame: Frame, build: Callable[..., T]) -> T | None:
        """``build(number, ts, "m3ua", protocol, variant, pc_format, opc, dpc, ni, sls, data, True, link)``
        (the positional fields of a :class:`Payload`) for a frame of the common shape, else None.

        The signature only: the body is :data:`_TAKE`, compiled with the layers' constants at import
        (the assignment at the end of this module replaces this method)."""
        raise NotImplementedError

    def payload(self, frame: Frame) -> Payload | None:
        """The frame's payload, or None when the frame is not of the common shape."""
        return self.take(frame, Payload)


# The body of M3uaFastLane.take, with the names of the frame's shape constants (defined above from the
# layer modules' definitions) in braces: filled in with their values and compiled once, at import
# (sigdiag.carrier.hot): the function then compares with literals, as fast as if they were typed in.
# (PROTO_SCTP, SI_ISUP and SI_BICC are imported for this source only: hence their noqa F401.)
_TAKE = """
def take(self, frame, build):
    data = frame.data
    n = len(data)
    if n < {_MIN_FRAME} or n != frame.orig_len:
        return None
    eth_ip, total, frag_proto, chunk, ppid_head, mlen, tag, plen = _HEAD.unpack_from(data, {ETHERTYPE_OFFSET})
    clen = chunk & 0xFFFF
    if (
        eth_ip >> 8 != {_ETH_IP}  # Ethernet type IPv4, IPv4 without options
        or frag_proto & {_FRAG_PROTO_MASK} != {PROTO_SCTP}  # not a fragment (MF clear, offset 0), SCTP
        or chunk & {_CHUNK_MASK} != {_CHUNK_WANT}  # DATA chunk (type 0) with B and E set
        or ppid_head != {_PPID_HEAD}  # PPID 3 (M3UA); M3UA version 1, class 1 (transfer), DATA
        or not 0 <= total - {_IP_SCTP} - clen <= 3  # the chunk fills the packet (IP 20 + SCTP 12)
        or {_IP_AT} + total > n
        or clen - {DATA_CHUNK_LEN} != mlen
    ):
        return None
    if tag == {_TAG_PD}:  # Protocol Data first
        if not {_PD_LEN} <= plen <= mlen - {_M3UA_HDR}:
            return None
        opc, dpc, si, ni, sls = _PD.unpack_from(data, {_VALUE_AT})
        start, stop = {_PD_AT}, {_PARAM_AT} + plen
    elif tag == {_TAG_RC} and plen == {_RC_LEN} and n >= {_RC_PD_AT}:  # Routing Context, then Protocol Data
        tag, plen, opc, dpc, si, ni, sls = _RC_PD.unpack_from(data, {_VALUE_AT})
        if tag != {_TAG_PD} or not {_PD_LEN} <= plen <= mlen - {_M3UA_HDR} - {_RC_LEN}:
            return None
        start, stop = {_RC_PD_AT}, {_PARAM_AT} + {_RC_LEN} + plen
    else:
        return None
    if si != {SI_ISUP} and si != {SI_BICC}:
        return None
    key = data[{_KEY.start}:{_KEY.stop}]
    entry = self._links.get(key) or self._link(key)
    return build(
        frame.number,
        frame.ts,
        "m3ua",
        "isup" if si == {SI_ISUP} else "bicc",
        entry[2],
        entry[1],
        opc,
        dpc,
        ni,
        sls,
        data[start:stop],
        True,
        entry[0],
    )
"""


M3uaFastLane.take = compile_hot(_TAKE, globals())  # type: ignore[method-assign]
