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
from sigdiag.carrier.payload import Payload
from sigdiag.carrier.sigtran import link_name
from sigdiag.settings import DecodeSettings

__all__ = ["M3uaFastLane"]

# From offset 12, in few fields (struct pays per field, so constant octets are taken in words and checked
# with masks): Ethernet type + IPv4 version/IHL + TOS; IPv4 total length; flags/fragment offset + TTL +
# protocol; (checksum, addresses and ports skipped: they are taken as one 12-octet key, see
# M3uaFastLane._links; SCTP verification tag and checksum skipped) SCTP chunk type + flags + length;
# (TSN, stream, SSN skipped) PPID + M3UA version..type; M3UA length; the first parameter's tag and length.
_HEAD = struct.Struct(">IHxxI22xI8xQIHH")
# After the first parameter header (value at offset 74): Protocol Data without Routing Context ...
_PD = struct.Struct(">IIBBxB")
# ... or Routing Context value, then Protocol Data tag and length, then its fixed part.
_RC_PD = struct.Struct(">xxxxHHIIBBxB")
_HEAD_SIZE = 74
_MIN_FRAME = _HEAD_SIZE + 16  # a Protocol Data parameter's fixed part at least
_PORTS = struct.Struct(">HH")

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

    def payload(self, frame: Frame) -> Payload | None:
        """The frame's payload, or None when the frame is not of the common shape."""
        return self.take(frame, Payload)

    def take(self, frame: Frame, build: Callable[..., T]) -> T | None:
        """``build(number, ts, "m3ua", protocol, variant, pc_format, opc, dpc, ni, sls, data, True, link)``
        (the positional fields of a :class:`Payload`) for a frame of the common shape, else None."""
        data = frame.data
        n = len(data)
        if n < _MIN_FRAME or n != frame.orig_len:
            return None
        eth_ip, total, frag_proto, chunk, ppid_head, mlen, tag, plen = _HEAD.unpack_from(data, 12)
        clen = chunk & 0xFFFF
        if (
            eth_ip >> 8 != 0x080045  # Ethernet type IPv4, IPv4 without options
            or frag_proto & 0x3FFF00FF != 132  # not a fragment (MF clear, offset 0), protocol SCTP
            or chunk & 0xFF030000 != 0x00030000  # DATA chunk (type 0) with B and E set
            or ppid_head != 0x0000000301000101  # PPID 3 (M3UA); M3UA version 1, class 1 (transfer), DATA
            or not 0 <= total - 32 - clen <= 3  # the chunk fills the packet (IP 20 + SCTP 12)
            or 14 + total > n
            or clen - 16 != mlen
        ):
            return None
        if tag == 0x0210:  # Protocol Data first
            if not 16 <= plen <= mlen - 8:
                return None
            opc, dpc, si, ni, sls = _PD.unpack_from(data, 74)
            start, stop = 86, 70 + plen
        elif tag == 0x0006 and plen == 8 and n >= 94:  # Routing Context, then Protocol Data
            tag, plen, opc, dpc, si, ni, sls = _RC_PD.unpack_from(data, 74)
            if tag != 0x0210 or not 16 <= plen <= mlen - 16:
                return None
            start, stop = 94, 78 + plen
        else:
            return None
        if si != 5 and si != 13:
            return None
        key = data[26:38]
        entry = self._links.get(key) or self._link(key)
        return build(
            frame.number,
            frame.ts,
            "m3ua",
            "isup" if si == 5 else "bicc",
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
