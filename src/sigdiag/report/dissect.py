"""The whole decode tree of one frame (``sigdiag show``): every layer from the capture record to the
ISUP/BICC message, each parameter with its code, name, length, raw octets and decoded fields, in wire
order.

A node is a plain dict (JSON-ready)::

    {"layer": "SCTP", "fields": [{"name", "value", "text"?, "raw"?, "offset"?}, ...],
     "children": [...], "anomalies": ["name: detail", ...], "stop"?: "why decoding stopped here"}

ISUP parameters are nodes with ``layer`` ``"parameter"`` and the keys ``code``, ``name``, ``part``
(fixed, variable, optional), ``length`` (on the wire), ``raw`` (hex of the value octets) and ``offset``.

The headers are read with the layouts and constants of the carrier modules; the ISUP/BICC messages are
the decode pipeline's own (:func:`sigdiag.decode.read_messages` on the whole file, so the point-code
format of each link and the reassembly of fragmented messages are what every other command sees),
matched to the octets of this frame; the parameters come from :mod:`sigdiag.codec`.  A message that
was reassembled from earlier frames hangs under the frame's last layer as ``reassembled message``.
"""

from __future__ import annotations

import datetime as _dt
import struct
from collections.abc import Callable, Iterable
from os import PathLike
from typing import Any

from sigdiag.anomalies import Anomaly
from sigdiag.capture import open_capture
from sigdiag.capture.frame import Frame
from sigdiag.carrier import ip as IP
from sigdiag.carrier import link as L
from sigdiag.carrier import m2pa, m2ua, m3ua, mtp2, sctp, ua
from sigdiag.carrier.mtp3 import LABEL_LENGTH, format_pc, parse_mtp3
from sigdiag.codec.catalogue import ANSI_PARAMETERS, PARAMETERS
from sigdiag.codec.isup import UNPARSED, decode_params, param_places
from sigdiag.codec.message import Message
from sigdiag.codec.messages import message_table
from sigdiag.decode import read_messages
from sigdiag.settings import DecodeSettings

__all__ = [
    "FrameNotFound",
    "flatten_parameters",
    "frame_tree",
    "frame_trees",
    "isup_node",
    "parameter_nodes",
]

Node = dict[str, Any]


class FrameNotFound(LookupError):
    """The capture has no frame with that number."""


# fmt: off
LINKTYPE_NAMES = {
    0: "BSD loopback", 1: "Ethernet", 12: "raw IP", 14: "raw IP", 101: "raw IP", 108: "OpenBSD loopback",
    113: "Linux cooked (SLL)", 139: "MTP2 with pseudo-header", 140: "MTP2", 141: "MTP3", 228: "raw IPv4",
    229: "raw IPv6", 276: "Linux cooked v2 (SLL2)",
}
# fmt: on
SI_NAMES = {0: "SNM", 1: "MTN", 2: "MTNS", 3: "SCCP", 4: "TUP", 5: "ISUP", 13: "BICC"}
NI_NAMES = {0: "international", 1: "spare (international)", 2: "national", 3: "reserved for national use"}
PPID_NAMES = {2: "M2UA", 3: "M3UA", 5: "M2PA", 8: "BICC"}
PORT_ADAPTATION = {sctp.PORT_M3UA: 3, sctp.PORT_M2UA: 2, sctp.PORT_M2PA: 5}
_CHUNKS = "DATA INIT INIT-ACK SACK HEARTBEAT HEARTBEAT-ACK ABORT SHUTDOWN SHUTDOWN-ACK ERROR COOKIE-ECHO"
CHUNK_NAMES = dict(enumerate((_CHUNKS + " COOKIE-ACK ECNE CWR SHUTDOWN-COMPLETE").split()))
UA_CLASSES = {0: "MGMT", 1: "Transfer", 2: "SSNM", 3: "ASPSM", 4: "ASPTM", 6: "MAUP", 9: "RKM", 11: "M2PA"}
SIP_HEADERS = ("call-id", "from", "to", "cseq", "content-type", "content-length")
_METHODS = "SIP/2.0 INVITE ACK BYE CANCEL OPTIONS INFO PRACK UPDATE REGISTER NOTIFY SUBSCRIBE MESSAGE REFER"
_SIP_STARTS = tuple(f"{m} ".encode() for m in _METHODS.split())


def node(layer: str, *fields: tuple[Any, ...]) -> Node:
    """A tree node; each field ``(name, value[, text[, raw octets[, offset]]])``."""
    n: Node = {"layer": layer, "fields": [], "children": [], "anomalies": []}
    for f in fields:
        add(n, *f)
    return n


def add(
    n: Node,
    name: str,
    value: Any,
    text: str | None = None,
    raw: bytes | None = None,
    offset: int | None = None,
) -> None:
    f: dict[str, Any] = {"name": name, "value": value}
    if text is not None:
        f["text"] = text
    if raw is not None:
        f["raw"] = raw.hex()
    if offset is not None:
        f["offset"] = offset
    n["fields"].append(f)


def stop(n: Node, why: str) -> Node:
    n["stop"] = why
    return n


# -- the frame ------------------------------------------------------------------------------------


def frame_tree(path: str | PathLike[str], number: int, settings: DecodeSettings | None = None) -> Node:
    """The decode tree of frame ``number`` (1-based) of the capture at ``path``: its root is the capture
    record.  Raises :class:`FrameNotFound` (or :class:`sigdiag.capture.CaptureError` for a file that is
    not a capture)."""
    trees = frame_trees(path, [number], settings)
    if number not in trees:
        raise FrameNotFound(f"{path}: no frame {number} (frames are numbered from 1)")
    return trees[number]


def frame_trees(
    path: str | PathLike[str], numbers: Iterable[int], settings: DecodeSettings | None = None
) -> dict[int, Node]:
    """The decode trees of several frames of one capture, read once: ``{number: tree}`` for the numbers
    the capture has."""
    settings = settings or DecodeSettings()
    wanted = set(numbers)
    if not wanted:
        return {}
    last = max(wanted)
    frames: dict[int, Frame] = {}
    anomalies: list[Anomaly] = []
    for frame in open_capture(path, anomalies):
        if frame.number in wanted:
            frames[frame.number] = frame
        if frame.number >= last:
            break
    messages: dict[int, list[Message]] = {n: [] for n in frames}
    if frames:
        for m in read_messages(path, settings=settings):  # its output is in frame order
            if m.frame in messages:
                messages[m.frame].append(m)
            elif m.frame > last:
                break
    return {n: _FrameDissector(frames[n], messages[n], settings).tree() for n in sorted(frames)}


class _FrameDissector:
    """Reads one frame's headers layer by layer; the pipeline's messages of the frame are matched to
    the user-part octets met on the way."""

    def __init__(self, frame: Frame, messages: list[Message], settings: DecodeSettings) -> None:
        self.frame = frame
        self.data = frame.data
        self.messages = list(messages)
        self.settings = settings
        self.structured = settings.pc_display == "structured"

    def tree(self) -> Node:
        f = self.frame
        when = _dt.datetime.fromtimestamp(f.ts, _dt.UTC).isoformat(timespec="microseconds")
        root = node(
            "capture record",
            ("frame", f.number),
            ("time", f.ts, when.replace("+00:00", "Z")),
            ("captured length", len(f.data)),
            ("wire length", f.orig_len),
            ("link type", f.linktype, f"{f.linktype} {LINKTYPE_NAMES.get(f.linktype, '(unknown)')}"),
            ("interface", f.interface),
        )
        if len(f.data) < f.orig_len:
            root["anomalies"].append(f"capture.truncated: {len(f.data)} of {f.orig_len} octets captured")
        root["children"] = self._link()
        last = _last(root)
        for m in self.messages:  # completed in this frame from octets of earlier frames (reassembly)
            r = node("reassembled message", ("link", m.link), ("carrier", m.carrier))
            r["children"] = [self.user_part(m, None)]
            last["children"].append(r)
        return root

    # -- link layers -------------------------------------------------------------------------------

    def _link(self) -> list[Node]:
        lt, d = self.frame.linktype, self.data
        if lt == L.LINKTYPE_ETHERNET:
            return [self._ethernet()]
        if lt == L.LINKTYPE_LINUX_SLL and len(d) >= L.SLL_HEADER_LEN:
            pkt, hat, alen, addr, proto = struct.unpack_from("!HHH8sH", d)
            n = node(
                "Linux cooked (SLL)",
                ("packet type", pkt),
                ("ARPHRD", hat),
                ("address", addr[: min(alen, 8)].hex(":")),
                ("protocol", proto, f"0x{proto:04x}"),
            )
            return [self._ethertype(n, proto, L.SLL_HEADER_LEN)]
        if lt == L.LINKTYPE_LINUX_SLL2 and len(d) >= L.SLL2_HEADER_LEN:
            proto, _, ifindex, hat, pkt, alen, addr = struct.unpack_from("!HHIHBB8s", d)
            n = node(
                "Linux cooked v2 (SLL2)",
                ("protocol", proto, f"0x{proto:04x}"),
                ("interface index", ifindex),
                ("ARPHRD", hat),
                ("packet type", pkt),
                ("address", addr[: min(alen, 8)].hex(":")),
            )
            return [self._ethertype(n, proto, L.SLL2_HEADER_LEN)]
        if lt in (L.LINKTYPE_NULL, L.LINKTYPE_LOOP) and len(d) >= 4:
            le, be = int.from_bytes(d[:4], "little"), int.from_bytes(d[:4], "big")
            family = le if le in (L.AF_INET, *L.AF_INET6_VALUES) else be
            n = node("loopback", ("address family", family))
            n["children"] = self._ip(4)
            return [n]
        if lt in L.RAW_IP_LINKTYPES or lt in (L.LINKTYPE_IPV4, L.LINKTYPE_IPV6):
            return self._ip(0)
        if lt in L.MTP_LINKTYPES:
            return [self._mtp_link()]
        return [stop(node("link layer", ("link type", lt)), f"link type {lt} is not one sigdiag decodes")]

    def _ethernet(self) -> Node:
        d = self.data
        if len(d) < L.ETHERNET_HEADER_LEN:
            return stop(node("Ethernet"), f"{len(d)} octets: shorter than an Ethernet header")
        dst, src, etype = struct.unpack_from("!6s6sH", d)
        eth = node(
            "Ethernet", ("destination", dst.hex(":"), None, dst, 0), ("source", src.hex(":"), None, src, 6)
        )
        off = L.ETHERNET_HEADER_LEN
        while etype in L.VLAN_TPIDS and off + 4 <= len(d):
            tci, nxt = struct.unpack_from("!HH", d, off)
            add(
                eth,
                "VLAN",
                tci & 0x0FFF,
                f"TPID 0x{etype:04x}, PCP {tci >> 13}, DEI {tci >> 12 & 1}, VID {tci & 0x0FFF}",
                d[off - 2 : off + 2],
                off - 2,
            )
            etype, off = nxt, off + 4
        while etype in L.ETHERTYPE_MPLS and off + 4 <= len(d):
            word = int.from_bytes(d[off : off + 4], "big")
            add(
                eth,
                "MPLS label",
                word >> 12,
                f"label {word >> 12}, TC {word >> 9 & 7}, S {word >> 8 & 1}, TTL {word & 0xFF}",
                d[off : off + 4],
                off,
            )
            off += 4
            if word >> 8 & 1:
                etype = L.ETHERTYPE_IPV6 if off < len(d) and d[off] >> 4 == 6 else L.ETHERTYPE_IPV4
        if etype == L.ETHERTYPE_PPPOE and off + 8 <= len(d):
            ppp = int.from_bytes(d[off + 6 : off + 8], "big")
            add(
                eth, "PPPoE session", int.from_bytes(d[off + 2 : off + 4], "big"), f"PPP protocol 0x{ppp:04x}"
            )
            etype = {L.PPP_IPV4: L.ETHERTYPE_IPV4, L.PPP_IPV6: L.ETHERTYPE_IPV6}.get(ppp, ppp)
            off += 8
        elif etype <= L.MAX_8023_LENGTH and d[off : off + 3] == L.LLC_SNAP:
            add(eth, "802.3 length", etype, "LLC/SNAP")
            etype = int.from_bytes(d[off + 6 : off + 8], "big")
            off += 8
        return self._ethertype(eth, etype, off)

    def _ethertype(self, n: Node, etype: int, off: int) -> Node:
        add(n, "EtherType", etype, f"0x{etype:04x}")
        if etype in (L.ETHERTYPE_IPV4, L.ETHERTYPE_IPV6):
            n["children"] = self._ip(off)
            return n
        return stop(n, f"EtherType 0x{etype:04x}: not IP")

    # -- IP ----------------------------------------------------------------------------------------

    def _ip(self, off: int, depth: int = 0) -> list[Node]:
        d = self.data
        version = d[off] >> 4 if off < len(d) else 0
        if version == 4 and off + IP.IPV4_HEADER_LEN <= len(d):
            return [self._ipv4(off, depth)]
        if version == 6 and off + IP.IPV6_HEADER_LEN <= len(d):
            return [self._ipv6(off, depth)]
        return [stop(node("IP", ("version", version)), f"no IPv4/IPv6 header at octet {off}")]

    def _ipv4(self, off: int, depth: int) -> Node:
        d = self.data
        vihl, tos, total, ident, ff, ttl, proto, csum, src, dst = struct.unpack_from("!BBHHHBBH4s4s", d, off)
        hl = (vihl & 0x0F) * 4
        frag = (ff & IP.IP4_OFFSET) * 8
        n = node(
            "IPv4",
            ("header length", hl, None, d[off : off + 1], off),
            ("type of service", tos),
            ("total length", total),
            ("identification", ident, f"0x{ident:04x}"),
            ("flags", ff >> 13, _ip_flags(ff)),
            ("fragment offset", frag),
            ("time to live", ttl),
            ("protocol", proto),
            ("header checksum", csum, f"0x{csum:04x}"),
            ("source", IP.ntop(src), None, src, off + 12),
            ("destination", IP.ntop(dst), None, dst, off + 16),
        )
        end = min(len(d), off + total) if total else len(d)
        if ff & (IP.IP4_MF | IP.IP4_OFFSET):
            return stop(
                n,
                f"IP fragment (offset {frag}{', more follow' if ff & IP.IP4_MF else ', the last'}): "
                "the datagram is decoded when its fragments are all in (at its last frame)",
            )
        n["children"] = self._transport(proto, off + hl, end, IP.ntop(src), IP.ntop(dst), depth)
        return n

    def _ipv6(self, off: int, depth: int) -> Node:
        d = self.data
        word, plen, nxt, hop, src, dst = struct.unpack_from("!IHBB16s16s", d, off)
        n = node(
            "IPv6",
            ("traffic class", word >> 20 & 0xFF),
            ("flow label", word & 0xFFFFF),
            ("payload length", plen),
            ("next header", nxt),
            ("hop limit", hop),
            ("source", IP.ntop(src), None, src, off + 8),
            ("destination", IP.ntop(dst), None, dst, off + 24),
        )
        pos = off + IP.IPV6_HEADER_LEN
        end = min(len(d), pos + plen) if plen else len(d)
        while (
            nxt in (IP.EXT_HOPOPTS, IP.EXT_ROUTING, IP.EXT_DSTOPTS, IP.EXT_AH, IP.EXT_FRAGMENT)
            and pos + 8 <= end
        ):
            if nxt == IP.EXT_FRAGMENT:
                fo = int.from_bytes(d[pos + 2 : pos + 4], "big")
                add(
                    n,
                    "fragment header",
                    fo >> 3 << 3,
                    f"offset {fo >> 3 << 3}, M {fo & 1}",
                    d[pos : pos + 8],
                    pos,
                )
                if fo & 0xFFF9:
                    return stop(n, "IPv6 fragment: the datagram is decoded when its fragments are all in")
                size = 8
            else:
                size = (d[pos + 1] + 2) * 4 if nxt == IP.EXT_AH else (d[pos + 1] + 1) * 8
                add(n, "extension header", nxt, f"{nxt}, {size} octets", None, pos)
            nxt, pos = d[pos], pos + size
        n["children"] = self._transport(nxt, pos, end, IP.ntop(src), IP.ntop(dst), depth)
        return n

    def _transport(self, proto: int, off: int, end: int, src: str, dst: str, depth: int) -> list[Node]:
        if proto in (IP.PROTO_IPIP, IP.PROTO_IPV6) and depth < 3:
            return self._ip(off, depth + 1)
        if proto == IP.PROTO_SCTP:
            return [self._sctp(off, end)]
        if proto == IP.PROTO_UDP and off + 8 <= end:
            sport, dport, length, csum = struct.unpack_from("!HHHH", self.data, off)
            n = node(
                "UDP",
                ("source port", sport),
                ("destination port", dport),
                ("length", length),
                ("checksum", csum, f"0x{csum:04x}"),
            )
            return [self._sip(n, off + 8, end)]
        if proto == IP.PROTO_TCP and off + 20 <= end:
            sport, dport, seq, ack, hl, flags = struct.unpack_from("!HHIIBB", self.data, off)
            n = node(
                "TCP",
                ("source port", sport),
                ("destination port", dport),
                ("sequence number", seq),
                ("acknowledgement number", ack),
                ("header length", (hl >> 4) * 4),
                ("flags", flags, f"0x{flags:02x}"),
            )
            return [self._sip(n, off + (hl >> 4) * 4, end)]
        return [stop(node("transport", ("protocol", proto)), f"IP protocol {proto}: not SCTP, UDP or TCP")]

    # -- SIP-I ------------------------------------------------------------------------------------

    def _sip(self, n: Node, off: int, end: int) -> Node:
        body = self.data[off:end]
        if not body.startswith(_SIP_STARTS):
            if not body:
                return stop(n, "no payload")
            return stop(n, f"{len(body)} octets of payload that do not start a SIP message")
        head = body.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace").split("\n")
        sip = node("SIP", ("start line", head[0].strip()))
        for line in head[1:]:
            name, sep, value = line.partition(":")
            if sep and name.strip().lower() in SIP_HEADERS:
                add(sip, name.strip(), value.strip())
        n["children"] = [sip]
        mine = [m for m in self.messages if m.carrier == "sip-i"]
        for m in mine:
            self.messages.remove(m)
            at = body.find(m.raw)
            sip["children"].append(self.user_part(m, off + at if at >= 0 else None))
        if not mine:
            stop(sip, "no ISUP body decoded in this frame (a segment of a longer message, or no body)")
        return n

    # -- SCTP --------------------------------------------------------------------------------------

    def _sctp(self, off: int, end: int) -> Node:
        d = self.data
        if off + sctp.COMMON_HEADER_LEN > end:
            return stop(node("SCTP"), "shorter than the SCTP common header")
        sport, dport, vtag = sctp.COMMON_HEADER.unpack_from(d, off)
        csum = int.from_bytes(d[off + 8 : off + 12], "big")
        n = node(
            "SCTP",
            ("source port", sport),
            ("destination port", dport),
            ("verification tag", vtag, f"0x{vtag:08x}"),
            ("checksum", csum, f"0x{csum:08x}"),
        )
        pos = off + sctp.COMMON_HEADER_LEN
        while pos + sctp.CHUNK_HEADER_LEN <= end:
            ctype, flags, length = sctp.CHUNK_HEADER.unpack_from(d, pos)
            if length < sctp.CHUNK_HEADER_LEN:
                n["anomalies"].append(f"sctp.bad_chunk: chunk length {length} at octet {pos}")
                break
            n["children"].append(self._chunk(ctype, flags, pos, min(pos + length, end), (sport, dport)))
            pos += (length + 3) & ~3
        return n

    def _chunk(self, ctype: int, flags: int, pos: int, end: int, ports: tuple[int, int]) -> Node:
        d = self.data
        if ctype == sctp.CHUNK_DATA and end - pos >= sctp.DATA_CHUNK_LEN:
            _, _, length, tsn, stream, ssn, ppid = sctp.DATA_CHUNK.unpack_from(d, pos)
            n = node(
                "SCTP DATA chunk",
                ("flags", flags, _chunk_flags(flags)),
                ("length", length),
                ("TSN", tsn),
                ("stream", stream),
                ("stream sequence number", ssn),
                ("PPID", ppid, _ppid(ppid)),
            )
            start = pos + sctp.DATA_CHUNK_LEN
        elif ctype == sctp.CHUNK_IDATA and end - pos >= sctp.IDATA_CHUNK_LEN:
            _, _, length, tsn, stream, _, mid, ppid = sctp.IDATA_CHUNK.unpack_from(d, pos)
            n = node(
                "SCTP I-DATA chunk",
                ("flags", flags, _chunk_flags(flags)),
                ("length", length),
                ("TSN", tsn),
                ("stream", stream),
                ("message identifier", mid),
                ("PPID / FSN", ppid, _ppid(ppid)),
            )
            start = pos + sctp.IDATA_CHUNK_LEN
        else:
            length = end - pos
            return stop(
                node(
                    "SCTP chunk",
                    ("type", ctype, f"{ctype} {CHUNK_NAMES.get(ctype, '')}".strip()),
                    ("flags", flags),
                    ("length", length),
                ),
                f"chunk type {ctype}: no user data",
            )
        if flags & sctp.FLAGS_WHOLE != sctp.FLAGS_WHOLE:
            return stop(n, "a fragment of a user message: decoded when the message is complete")
        kind = (
            ppid
            if ppid in PPID_NAMES
            else next((PORT_ADAPTATION[p] for p in ports if p in PORT_ADAPTATION), ppid)
        )
        n["children"] = [self._adaptation(kind, start, end)]
        return n

    def _adaptation(self, kind: int, start: int, end: int) -> Node:
        if kind == sctp.PPID_BICC:
            m = self._take(lambda m: m.carrier == "sctp" and m.raw == self.data[start:end])
            return self.user_part(m, start) if m else stop(node("BICC"), "the decoder gave no message")
        if kind not in (sctp.PPID_M3UA, sctp.PPID_M2UA, sctp.PPID_M2PA):
            return stop(
                node("user data", ("length", end - start)), f"PPID {kind}: not a layer that carries ISUP/BICC"
            )
        d = self.data
        if start + ua.COMMON_HEADER_LEN > end:
            return stop(node(PPID_NAMES[kind]), "shorter than the common header")
        version, _, mclass, mtype, length = ua.COMMON_HEADER.unpack_from(d, start)
        n = node(
            PPID_NAMES[kind],
            ("version", version),
            ("message class", mclass, f"{mclass} {UA_CLASSES.get(mclass, '')}".strip()),
            ("message type", mtype),
            ("message length", length),
        )
        end = min(end, start + length) if length >= ua.COMMON_HEADER_LEN else end
        if kind == sctp.PPID_M2PA:
            return self._m2pa(n, mclass, mtype, start, end)
        if (kind, mclass, mtype) not in (
            (3, m3ua.CLASS_TRANSFER, m3ua.TYPE_DATA),
            (2, m2ua.CLASS_MAUP, m2ua.TYPE_DATA),
        ):
            return stop(n, "not a DATA message: no user data")
        self._ua_parameters(n, start + ua.COMMON_HEADER_LEN, end)
        return n

    def _ua_parameters(self, n: Node, pos: int, end: int) -> None:
        d = self.data
        while pos + 4 <= end:
            tag, length = ua.PARAMETER_HEADER.unpack_from(d, pos)
            if length < 4:
                n["anomalies"].append(f"sigtran.bad_parameter: tag 0x{tag:04x} length {length}")
                return
            value, vpos = d[pos + 4 : min(end, pos + length)], pos + 4
            if (
                n["layer"] == "M3UA"
                and tag == m3ua.TAG_PROTOCOL_DATA
                and len(value) >= m3ua.PROTOCOL_DATA.size
            ):
                n["children"].append(self._m3ua_protocol_data(value, vpos))
            elif n["layer"] == "M3UA" and tag in (m3ua.TAG_DRAFT6_PD1, m3ua.TAG_DRAFT6_PD2):
                skip = 1 if tag == m3ua.TAG_DRAFT6_PD2 else 0
                add(n, "protocol data (draft 6)", len(value), f"tag 0x{tag:04x}, {len(value)} octets")
                n["children"].append(self.msu(vpos + skip, vpos + len(value)))
            elif n["layer"] == "M2UA" and tag in m2ua.PROTOCOL_DATA_TAGS:
                skip = 1 if tag == m2ua.TAG_PROTOCOL_DATA_2 else 0
                add(n, "protocol data", len(value), f"tag 0x{tag:04x}, {len(value)} octets")
                n["children"].append(self.msu(vpos + skip, vpos + len(value)))
            else:
                shown: Any = int.from_bytes(value, "big") if len(value) == 4 else value.hex()
                add(n, _ua_tag(tag), shown, None, value, vpos)
            pos += (length + 3) & ~3

    def _m3ua_protocol_data(self, value: bytes, vpos: int) -> Node:
        opc, dpc, si, ni, mp, sls = m3ua.PROTOCOL_DATA.unpack_from(value)
        user = value[m3ua.PROTOCOL_DATA.size :]
        m = self._take(lambda m: m.raw == user and m.opc == opc and m.dpc == dpc)
        fmt = m.pc_format if m and m.pc_format else self._fmt()
        n = node(
            "M3UA protocol data",
            self._pc("OPC", opc, fmt, value[0:4], vpos),
            self._pc("DPC", dpc, fmt, value[4:8], vpos + 4),
            ("SI", si, f"{si} {SI_NAMES.get(si, '')}".strip()),
            ("NI", ni, f"{ni} {NI_NAMES.get(ni, '')}".strip()),
            ("MP", mp),
            ("SLS", sls),
        )
        if m is not None:
            n["children"] = [self.user_part(m, vpos + m3ua.PROTOCOL_DATA.size)]
        elif si in (5, 13):
            stop(n, "the decoder gave no ISUP/BICC message for this user part")
        else:
            stop(n, f"SI {si} ({SI_NAMES.get(si, 'other')}): not ISUP/BICC")
        return n

    def _m2pa(self, n: Node, mclass: int, mtype: int, start: int, end: int) -> Node:
        if mclass != m2pa.CLASS_M2PA or mtype != m2pa.TYPE_USER_DATA:
            return stop(n, "not a User Data message: no MTP3 message")
        if start + m2pa.USER_DATA_HEADER_LEN > end:
            return stop(n, "a User Data message without data (an acknowledgement)")
        *_, bsn, fsn, prio = m2pa.USER_DATA_HEADER.unpack_from(self.data, start)
        add(n, "BSN", bsn & 0xFFFFFF)
        add(n, "FSN", fsn & 0xFFFFFF)
        add(n, "priority", prio >> 6)
        n["children"] = [self.msu(start + m2pa.USER_DATA_HEADER_LEN, end)]
        return n

    # -- MTP2 / MTP3 -------------------------------------------------------------------------------

    def _mtp_link(self) -> Node:
        d, lt = self.data, self.frame.linktype
        if lt == L.LINKTYPE_MTP3:
            return self.msu(0, len(d))
        off = 0
        n = node("MTP2")
        annex_a = False
        if lt == L.LINKTYPE_MTP2_WITH_PHDR and len(d) >= mtp2.PHDR_LEN:
            annex_a = d[mtp2.PHDR_ANNEX_A] == 1
            add(
                n,
                "pseudo-header",
                d[0],
                f"sent {d[0]}, annex A {d[1]}, link {int.from_bytes(d[2:4], 'big')}",
                d[:4],
                0,
            )
            off = mtp2.PHDR_LEN
        hl = mtp2.EXTENDED_HEADER_LEN if annex_a else mtp2.HEADER_LEN
        if off + hl > len(d):
            return stop(n, "shorter than the MTP2 header")
        if annex_a:
            bsn, fsn, li = struct.unpack_from("<HHH", d, off)
            li &= mtp2.LI_MAX_EXTENDED
        else:
            bsn, fsn, li = d[off], d[off + 1], d[off + 2] & 0x3F
        add(n, "BSN", bsn & 0x7F if not annex_a else bsn & 0xFFF, None, d[off : off + 1], off)
        add(n, "FSN", fsn & 0x7F if not annex_a else fsn & 0xFFF)
        add(n, "LI", li)
        if li < mtp2.LI_MSU:
            return stop(n, "FISU" if li == 0 else "LSSU: no MTP3 message")
        body = d[off + hl :]
        fcs = self._has_fcs(body, li)
        add(n, "FCS", fcs, "present" if fcs else "absent")
        n["children"] = [self.msu(off + hl, len(d) - (mtp2.FCS_LEN if fcs else 0))]
        return n

    def _has_fcs(self, body: bytes, li: int) -> bool:
        if self.settings.mtp2_fcs != "auto":
            return self.settings.mtp2_fcs == "yes"
        if li < mtp2.LI_MAX:
            return len(body) == li + mtp2.FCS_LEN
        return any(
            len(m.raw) + 2 <= len(body) and body[: -mtp2.FCS_LEN].endswith(m.raw) for m in self.messages
        )

    def msu(self, start: int, end: int) -> Node:
        """An MTP3 message (SIO, routing label, user part) at ``start``..``end`` of the frame."""
        d = self.data
        msu = d[start:end]
        if not msu:
            return stop(node("MTP3"), "empty")
        m = self._take(
            lambda m: m.pc_format in LABEL_LENGTH and msu[1 + LABEL_LENGTH[m.pc_format] :] == m.raw
        )
        fmt = m.pc_format if m and m.pc_format else self._fmt()
        parsed = parse_mtp3(d, start, fmt, end)
        si, ni = msu[0] & 0x0F, msu[0] >> 6
        n = node(
            "MTP3",
            (
                "SIO",
                msu[0],
                f"0x{msu[0]:02x}: NI {ni} ({NI_NAMES.get(ni, '')}), SI {si} ({SI_NAMES.get(si, 'other')})",
                msu[:1],
                start,
            ),
        )
        if parsed is None:
            return stop(n, f"shorter than the SIO and a {fmt} routing label")
        _, _, opc, dpc, sls, user = parsed
        label = d[start + 1 : user]
        add(n, *self._pc("OPC", opc, fmt, label, start + 1))
        add(n, *self._pc("DPC", dpc, fmt, label, start + 1))
        add(n, "SLS", sls)
        add(n, "point-code format", fmt)
        if m is not None:
            n["children"] = [self.user_part(m, user)]
        elif si in (5, 13):
            stop(n, "the decoder gave no ISUP/BICC message for this user part")
        else:
            stop(n, f"SI {si} ({SI_NAMES.get(si, 'other')}): not ISUP/BICC")
        return n

    # -- helpers ------------------------------------------------------------------------------------

    def _take(self, match: Callable[[Message], bool]) -> Message | None:
        for m in self.messages:
            if match(m):
                self.messages.remove(m)
                return m
        return None

    def _fmt(self) -> str:
        fmt = self.settings.pc_format
        return "itu" if fmt == "auto" else fmt

    def _pc(self, name: str, pc: int, fmt: str, raw: bytes, offset: int) -> tuple[Any, ...]:
        text = f"{format_pc(pc, fmt, self.structured)} ({fmt}"
        text += ")" if self.structured else f", {format_pc(pc, fmt, True)})"
        return (name, pc, text, raw, offset)

    def user_part(self, m: Message, offset: int | None) -> Node:
        return isup_node(m, offset)


def _last(n: Node) -> Node:
    while n["children"]:
        n = n["children"][-1]
    return n


def _ip_flags(ff: int) -> str:
    return " ".join(k for k, bit in (("DF", IP.IP4_DF), ("MF", IP.IP4_MF)) if ff & bit) or "none"


def _chunk_flags(flags: int) -> str:
    names = [("U", sctp.FLAG_UNORDERED), ("B", sctp.FLAG_BEGIN), ("E", sctp.FLAG_END)]
    return "".join(k if flags & bit else "-" for k, bit in names)


def _ppid(ppid: int) -> str:
    return f"{ppid} {PPID_NAMES.get(ppid, '')}".strip()


def _ua_tag(tag: int) -> str:
    return {
        m3ua.TAG_ROUTING_CONTEXT: "routing context",
        m3ua.TAG_NETWORK_APPEARANCE: "network appearance",
        m2ua.TAG_IID_INT: "interface identifier",
        m2ua.TAG_IID_TEXT: "interface identifier (text)",
    }.get(tag, f"parameter 0x{tag:04x}")


# -- ISUP / BICC -------------------------------------------------------------------------------------


def isup_node(m: Message, offset: int | None = None, has_cic: bool | None = None) -> Node:
    """The tree of one decoded ISUP/BICC message: CIC, message type, then each parameter in wire order
    (``offset``: where the message starts in the frame, None when it was reassembled)."""
    has_cic = m.carrier != "sip-i" if has_cic is None else has_cic
    n = node("BICC" if m.protocol == "bicc" else "ISUP", ("variant", m.variant))
    at = 0
    if has_cic:
        width = 4 if m.protocol == "bicc" else 2
        add(n, "CIC", m.cic, None, m.raw[:width], _at(offset, 0))
        at = width
    spec = message_table(m.protocol, m.variant).get(m.type_code)
    name = f"{m.type} ({spec.name})" if spec else m.type
    add(
        n,
        "message type",
        m.type_code,
        f"0x{m.type_code:02x} {name}" if m.type_code >= 0 else m.type,
        m.raw[at : at + 1],
        _at(offset, at),
    )
    n["children"] = parameter_nodes(m, offset, has_cic)
    n["anomalies"] = [f"{a.name}: {a.detail}" if a.detail else a.name for a in m.anomalies]
    if m.sip_call_id:
        add(n, "SIP Call-ID", m.sip_call_id)
    return n


def parameter_nodes(m: Message, offset: int | None = None, has_cic: bool | None = None) -> list[Node]:
    """One node per parameter of ``m`` in wire order, with its decoded fields and anomalies."""
    table = ANSI_PARAMETERS if m.variant == "ansi" else PARAMETERS
    out = []
    for (code, value), (part, pos, length) in zip(m.raw_params, param_places(m, has_cic), strict=True):
        name = "unparsed body" if code == UNPARSED else table.get(code, (f"param_0x{code:02X}", None))[0]
        p: Node = {
            "layer": "parameter",
            "code": code,
            "name": name,
            "part": part,
            "length": length,
            "raw": value.hex(),
            "offset": _at(offset, pos),
            "fields": [],
            "children": [],
            "anomalies": [],
        }
        if code != UNPARSED:
            found: list[Anomaly] = []
            decoded = next(iter(decode_params([(code, value)], m.variant, m.frame, found).values()))
            p["fields"] = _decoded_fields(decoded)
            p["anomalies"] = [f"{a.name}: {a.detail}" for a in found]
        if length > len(value):
            p["anomalies"].append(
                f"isup.parameter_overrun: length {length}, {len(value)} octets in the message"
            )
        out.append(p)
    return out


def _decoded_fields(decoded: dict[str, Any]) -> list[dict[str, Any]]:
    """A codec's dict as fields: ``x_name`` becomes the text of ``x``; a raw-only value stays ``raw``."""
    out = []
    for k, v in decoded.items():
        if k.endswith("_name") and k[:-5] in decoded:
            continue
        if k == "raw" and len(decoded) > 1 and "error" not in decoded:
            continue
        f: dict[str, Any] = {"name": k, "value": v}
        if isinstance(decoded.get(k + "_name"), str):
            f["text"] = f"{v} ({decoded[k + '_name']})"
        out.append(f)
    return out


def _at(offset: int | None, pos: int) -> int | None:
    return None if offset is None else offset + pos


def flatten_parameters(root: Node) -> Iterable[tuple[Node, Node]]:
    """Every (message node, parameter node) of a tree, in order."""
    for c in root["children"]:
        if c["layer"] in ("ISUP", "BICC"):
            for p in c["children"]:
                yield c, p
        else:
            yield from flatten_parameters(c)
