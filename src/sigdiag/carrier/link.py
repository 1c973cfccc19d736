"""Link layers: Ethernet (with VLAN tags), Linux cooked captures SLL and SLL2, BSD loopback, raw IP.

The parse side is :class:`sigdiag.carrier.net.NetDecoder` (its link-layer handlers read the offsets and
constants below); the build side (:func:`ethernet_header`, :func:`ethernet`, :func:`sll`, :func:`sll2`,
:func:`loopback`, :func:`encapsulate`, :func:`link_header`) serves tests and the traffic simulator.

Link layers (``Frame.linktype``)::

    | link type         | header                                                                    |
    | 1 Ethernet        | dst MAC 6, src MAC 6, EtherType 2; then any number of VLAN tags           |
    |                   | (TPID 8100 / 88a8 / 9100 / 9200: TCI 2, EtherType 2); 802.3 length <= 1500 |
    |                   | with LLC/SNAP aa aa 03 + OUI 3 + EtherType 2; MPLS 8847/8848 label        |
    |                   | stack (4 octets each, S bit ends it); PPPoE session 8864 (6 + PPP 2)      |
    | 113 Linux SLL     | packet type 2, ARPHRD 2, address length 2, address 8, protocol 2 (= 16)   |
    | 276 Linux SLL2    | protocol 2, reserved 2, ifindex 4, ARPHRD 2, packet type 1, addr len 1,   |
    |                   | address 8 (= 20)                                                          |
    | 0 BSD null        | address family 4 octets in the capturing host's byte order (either is     |
    | 108 OpenBSD loop  | accepted): 2 = IPv4; 10, 24, 28, 30 = IPv6                                |
    | 101, 12, 14 raw   | none: the IP version nibble says IPv4 or IPv6 (14: OpenBSD DLT_RAW)       |
    | 228 / 229         | none: IPv4 / IPv6                                                         |
    | 139, 140, 141     | SS7 MTP2 with pseudo-header / MTP2 / MTP3 (:mod:`sigdiag.carrier.mtp2`)   |
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

__all__ = [
    "AF_INET",
    "AF_INET6_VALUES",
    "ETHERNET_HEADER_LEN",
    "ETHERTYPE_IPV4",
    "ETHERTYPE_IPV6",
    "ETHERTYPE_MPLS",
    "ETHERTYPE_PPPOE",
    "ETHERTYPE_VLAN",
    "LINKTYPE_ETHERNET",
    "LINKTYPE_IPV4",
    "LINKTYPE_IPV6",
    "LINKTYPE_LINUX_SLL",
    "LINKTYPE_LINUX_SLL2",
    "LINKTYPE_LOOP",
    "LINKTYPE_MTP2",
    "LINKTYPE_MTP2_WITH_PHDR",
    "LINKTYPE_MTP3",
    "LINKTYPE_NULL",
    "MTP_LINKTYPES",
    "PPP_IPV4",
    "PPP_IPV6",
    "RAW_IP_LINKTYPES",
    "SLL2_HEADER_LEN",
    "SLL_HEADER_LEN",
    "VLAN_TPIDS",
    "Vlans",
    "encapsulate",
    "ethernet",
    "ethernet_header",
    "link_header",
    "loopback",
    "sll",
    "sll2",
]

LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_MTP2_WITH_PHDR = 139
LINKTYPE_MTP2 = 140
LINKTYPE_MTP3 = 141
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276
#: Link types whose frames start with the IP header (the version nibble tells IPv4 from IPv6).
RAW_IP_LINKTYPES = frozenset({101, 12, 14})
#: The SS7 link types: frames are MTP2 (with or without the pseudo-header) or MTP3.
MTP_LINKTYPES = frozenset({LINKTYPE_MTP2_WITH_PHDR, LINKTYPE_MTP2, LINKTYPE_MTP3})

ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_IPV6 = 0x86DD
ETHERTYPE_VLAN = 0x8100
#: 802.1Q, 802.1ad (QinQ) and the pre-standard QinQ tag protocol identifiers.
VLAN_TPIDS = frozenset({ETHERTYPE_VLAN, 0x88A8, 0x9100, 0x9200})
#: VLAN tags, outermost first: each a VLAN id (802.1Q, TPID 8100) or ``(tpid, vid)``.
Vlans = Sequence[int | tuple[int, int]]
ETHERTYPE_MPLS = frozenset({0x8847, 0x8848})
ETHERTYPE_PPPOE = 0x8864
PPP_IPV4 = 0x0021
PPP_IPV6 = 0x0057
#: Largest 802.3 length field (a larger value is an EtherType).
MAX_8023_LENGTH = 1500
LLC_SNAP = b"\xaa\xaa\x03"

ETHERNET_HEADER_LEN = 14
#: Offset of the EtherType in an Ethernet header.
ETHERTYPE_OFFSET = 12
SLL_HEADER_LEN = 16
SLL_PROTOCOL_OFFSET = 14
SLL2_HEADER_LEN = 20
SLL2_PROTOCOL_OFFSET = 0
LOOPBACK_HEADER_LEN = 4

#: BSD loopback address families: IPv4, and IPv6 as the various BSDs and Linux number it.
AF_INET = 2
AF_INET6_VALUES = frozenset({10, 24, 28, 30})

DEFAULT_SRC_MAC = bytes.fromhex("020000000001")
DEFAULT_DST_MAC = bytes.fromhex("020000000002")

_ETH = struct.Struct("!6s6sH").pack
_VLAN = struct.Struct("!HH").pack
_SLL = struct.Struct("!HHH8sH").pack
_SLL2 = struct.Struct("!HHIHBB8s").pack


def _mac(mac: bytes | str) -> bytes:
    if isinstance(mac, str):
        return bytes.fromhex(mac.replace(":", "").replace("-", ""))
    return mac


def ethernet_header(
    ethertype: int = ETHERTYPE_IPV4,
    *,
    src: bytes | str = DEFAULT_SRC_MAC,
    dst: bytes | str = DEFAULT_DST_MAC,
    vlans: Vlans = (),
) -> bytes:
    """The Ethernet II header (14 octets, + 4 per VLAN tag); ``vlans`` outermost first, each a VLAN id
    (802.1Q, TPID 8100) or ``(tpid, vid)`` (e.g. ``(0x88a8, 10)`` for a QinQ service tag)."""
    tags = b""
    if vlans:
        tpids = []
        vids = []
        for v in vlans:
            if isinstance(v, tuple):
                tpids.append(v[0])
                vids.append(v[1])
            else:
                tpids.append(ETHERTYPE_VLAN)
                vids.append(v)
        # Each TPID sits where the EtherType would be; each tag ends with the next EtherType.
        nexts = [*tpids[1:], ethertype]
        tags = b"".join(_VLAN(vid & 0x0FFF, nxt) for vid, nxt in zip(vids, nexts, strict=True))
        first = tpids[0]
    else:
        first = ethertype
    return _ETH(_mac(dst), _mac(src), first) + tags


def ethernet(
    payload: bytes,
    ethertype: int = ETHERTYPE_IPV4,
    *,
    src: bytes | str = DEFAULT_SRC_MAC,
    dst: bytes | str = DEFAULT_DST_MAC,
    vlans: Vlans = (),
) -> bytes:
    """Ethernet II frame: :func:`ethernet_header` + payload."""
    return ethernet_header(ethertype, src=src, dst=dst, vlans=vlans) + payload


def sll(
    payload: bytes,
    protocol: int = ETHERTYPE_IPV4,
    *,
    pkttype: int = 0,
    hatype: int = 1,
    addr: bytes | str = DEFAULT_SRC_MAC,
) -> bytes:
    """Linux cooked capture v1 (link type 113) header + payload."""
    a = _mac(addr)
    return _SLL(pkttype, hatype, len(a), a, protocol) + payload


def sll2(
    payload: bytes,
    protocol: int = ETHERTYPE_IPV4,
    *,
    ifindex: int = 1,
    hatype: int = 1,
    pkttype: int = 0,
    addr: bytes | str = DEFAULT_SRC_MAC,
) -> bytes:
    """Linux cooked capture v2 (link type 276) header + payload."""
    a = _mac(addr)
    return _SLL2(protocol, 0, ifindex, hatype, pkttype, len(a), a) + payload


def loopback(payload: bytes, family: int = AF_INET, *, big_endian: bool = False) -> bytes:
    """BSD null/loopback header (link type 0: host byte order; 108: network byte order)."""
    return family.to_bytes(LOOPBACK_HEADER_LEN, "big" if big_endian else "little") + payload


def encapsulate(linktype: int, packet: bytes, *, vlans: Vlans = ()) -> bytes:
    """Wrap an IP packet in the link-layer header of ``linktype`` (1, 113, 276, 0, 108, 101, 12, 14,
    228, 229).  IPv4 or IPv6 is taken from the packet's version nibble."""
    v6 = bool(packet) and packet[0] >> 4 == 6
    ethertype = ETHERTYPE_IPV6 if v6 else ETHERTYPE_IPV4
    if linktype == LINKTYPE_ETHERNET:
        return ethernet(packet, ethertype, vlans=vlans)
    if linktype == LINKTYPE_LINUX_SLL:
        return sll(packet, ethertype)
    if linktype == LINKTYPE_LINUX_SLL2:
        return sll2(packet, ethertype)
    if linktype == LINKTYPE_NULL:
        return loopback(packet, 30 if v6 else AF_INET)
    if linktype == LINKTYPE_LOOP:
        return loopback(packet, 24 if v6 else AF_INET, big_endian=True)
    if linktype in RAW_IP_LINKTYPES or linktype in (LINKTYPE_IPV4, LINKTYPE_IPV6):
        return packet
    raise ValueError(f"no IP encapsulation for link type {linktype}")


def link_header(linktype: int, v6: bool, vlans: Vlans = ()) -> bytes:
    """The link-layer header :func:`encapsulate` puts before an IPv4 (or IPv6) packet: to prebuild."""
    return encapsulate(linktype, b"\x60" if v6 else b"\x45", vlans=vlans)[:-1]
