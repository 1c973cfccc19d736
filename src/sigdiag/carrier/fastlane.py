"""Fast lane for the most common frame: Ethernet / IPv4 / SCTP with one DATA chunk / M3UA DATA.

Most SIGTRAN captures are almost entirely frames of one shape::

    Ethernet II, type 0x0800                      14 octets
    IPv4, no options, not a fragment              20
    SCTP common header                            12
    one DATA chunk, B and E set, PPID 3 (M3UA)    16
    M3UA v1 DATA [Routing Context] Protocol Data  8 + [8] + 16, then the ISUP/BICC octets

:class:`M3uaFastLane` recognises that shape with one ``struct.unpack_from`` and builds the
:class:`~sigdiag.model.Payload` directly, skipping the per-layer objects of the general path.  Anything
else — a VLAN tag, IP options, fragments, several chunks, another PPID, other M3UA parameters, a frame cut
by the snapshot length — returns ``None`` and goes the general way through
:class:`~sigdiag.carrier.net.NetDecoder` and :class:`~sigdiag.carrier.sigtran.SigtranDecoder`.  The
lane must give exactly the payload the general path gives; ``tests/unit/test_fastlane.py`` checks that on
every carrier's captures.
"""

from __future__ import annotations

import socket
import struct

from sigdiag.carrier.sigtran import link_name
from sigdiag.model import Frame, Payload
from sigdiag.settings import DecodeSettings

__all__ = ["M3uaFastLane"]

# From offset 14: IPv4 (vihl, total, flags/fragment, proto, src, dst), SCTP ports, chunk type, flags,
# length, PPID, M3UA version..type word, M3UA length, then the first parameter's tag and length.
_HEAD = struct.Struct(">BxHxxHxBxx4s4sHHxxxxxxxxBBHxxxxxxxxIIIHH")
# After the first parameter header (value at offset 74): Protocol Data without Routing Context ...
_PD = struct.Struct(">IIBBxB")
# ... or Routing Context value, then Protocol Data tag and length, then its fixed part.
_RC_PD = struct.Struct(">xxxxHHIIBBxB")
_HEAD_SIZE = 74

_MAX_LINKS = 4096


class M3uaFastLane:
    """Payloads of Ethernet/IPv4/SCTP/M3UA frames of the common shape, or None for any other frame."""

    def __init__(self, settings: DecodeSettings) -> None:
        self.settings = settings
        self.enabled = settings.m3ua_version in ("auto", "rfc")
        # (src, dst, sport, dport) as on the wire -> (link name, pc_format, variant)
        self._links: dict[tuple[bytes, bytes, int, int], tuple[str, str, str]] = {}

    def _link(self, key: tuple[bytes, bytes, int, int]) -> tuple[str, str, str]:
        src, dst, sport, dport = key
        link = link_name(
            "m3ua", socket.inet_ntop(socket.AF_INET, src), sport, socket.inet_ntop(socket.AF_INET, dst), dport
        )
        pc_format, variant = self.settings.for_link(link)
        if len(self._links) >= _MAX_LINKS:
            self._links.clear()
        entry = self._links[key] = (link, pc_format, variant)
        return entry

    def payload(self, frame: Frame) -> Payload | None:
        data = frame.data
        n = len(data)
        if n < _HEAD_SIZE + 16 or data[12] != 8 or data[13] != 0 or n != frame.orig_len:
            return None
        (vihl, total, ff, proto, src, dst, sport, dport, ctype, cflags, clen, ppid, head, mlen, tag, plen) = (
            _HEAD.unpack_from(data, 14)
        )
        if (
            vihl != 0x45
            or proto != 132
            or ff & 0x3FFF
            or ctype != 0
            or cflags & 3 != 3
            or ppid != 3
            or head != 0x01000101
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
        key = (src, dst, sport, dport)
        entry = self._links.get(key) or self._link(key)
        return Payload(
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
