"""Network layers: link layer, IPv4/IPv6 (with fragment reassembly), SCTP, UDP and TCP.

:class:`NetDecoder` turns :class:`~sigdiag.model.Frame` objects into transport units
(:mod:`sigdiag.carrier.units`): one :class:`SctpUnit` per complete SCTP user message, one
:class:`StreamUnit` per UDP datagram or in-order piece of a TCP byte stream, and an :class:`MtpUnit` for
frames of the SS7 link types 139/140/141 (handed on unchanged).  It never raises on bad bytes: what it
cannot decode becomes an :class:`~sigdiag.anomalies.Anomaly` and the frame yields what it could.
Anomalies about traffic that simply carries no signalling (an ARP frame, an ICMP packet, an unknown link
type) are reported once per kind and decoder, not once per frame.  When a layer is cut short and the
frame was shortened by the capture's snapshot length, the anomaly is ``pcap.snaplen_truncated``.

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
    | 139, 140, 141     | SS7 MTP2 with pseudo-header / MTP2 / MTP3: returned as MtpUnit            |

IPv4 (RFC 791)::

    | off | size | field                                                     |
    |   0 |    1 | version (4) << 4 | IHL (header length in 32-bit words, >= 5) |
    |   2 |    2 | total length (0 = TCP segmentation offload: use the frame)  |
    |   4 |    2 | identification                                            |
    |   6 |    2 | flags (bit 13 MF) | fragment offset (13 bits, 8-octet units) |
    |   9 |    1 | protocol: 132 SCTP, 17 UDP, 6 TCP, 4 IPv4, 41 IPv6        |
    |  12 |    4 | source address                                            |
    |  16 |    4 | destination address                                       |
    |  20 |  ... | options up to IHL * 4, then payload up to total length    |

    Fragments are reassembled per (source, destination, protocol, identification), in any order; a
    datagram completes when the fragment without MF has arrived and the data from 0 to its end is
    covered.  Overlaps with different contents add ``ip.fragment_overlap`` (the first copy wins).
    Pending datagrams are bounded (:data:`MAX_PENDING_DATAGRAMS`, :data:`MAX_PENDING_FRAGMENT_BYTES`,
    :data:`FRAGMENT_TIMEOUT` seconds of capture time); the oldest are dropped with
    ``ip.fragment_incomplete``.  The reassembled datagram belongs to the frame that completed it.

IPv6 (RFC 8200)::

    | off | size | field                                           |
    |   0 |    4 | version (6) << 28 | traffic class | flow label   |
    |   4 |    2 | payload length (0 = jumbogram: use the frame)   |
    |   6 |    1 | next header                                     |
    |   7 |    1 | hop limit                                       |
    |   8 |   16 | source address                                  |
    |  24 |   16 | destination address                             |

    Extension headers skipped: hop-by-hop 0, routing 43, destination options 60 (next header 1, length
    1 in 8-octet units not counting the first 8), authentication 51 (length in 4-octet units + 2), and
    fragment 44 (next header 1, reserved 1, offset << 3 | M 2, identification 4): fragments are
    reassembled like IPv4 ones, keyed by (source, destination, identification).  59 = no next header.

SCTP (RFC 9260) — common header, then chunks, each padded to 4 octets::

    | off | size | field                  |   chunk: | off | size | field                            |
    |   0 |    2 | source port            |          |   0 |    1 | type (0 DATA, 64 I-DATA, others    |
    |   2 |    2 | destination port       |          |     |      |   are skipped)                     |
    |   4 |    4 | verification tag       |          |   1 |    1 | flags                              |
    |   8 |    4 | CRC32c (not checked)   |          |   2 |    2 | length (header included, padding   |
    |                                       |          |     |      |   not; >= 4)                       |

    | DATA (type 0)                             | I-DATA (type 64, RFC 8260)                          |
    | flags: U 4 (unordered), B 2, E 1          | flags: I 8, U 4, B 2, E 1                           |
    | 4: TSN 4, 8: stream 2, 10: SSN 2,         | 4: TSN 4, 8: stream 2, 10: reserved 2, 12: MID 4,   |
    | 12: PPID 4, 16: user data                 | 16: PPID (B set) or FSN 4, 20: user data            |

    Every chunk of a packet is looked at.  A DATA chunk with B and E set is one :class:`SctpUnit`.
    Fragments (B, middle, E) are joined per direction (source and destination address and port) and
    stream, in TSN order; retransmitted fragments are ignored, and TSNs are not used to drop whole
    messages (some captures carry TSN 0 on every chunk: those are all delivered).  I-DATA fragments are
    joined per message identifier by fragment sequence number.  A chunk length below its header size
    adds ``sctp.bad_chunk_length``, one past the packet ``sctp.truncated_chunk``; the rest of that
    packet is skipped.

UDP (RFC 768)::

    | off | size | field                                                      |
    |   0 |    2 | source port                                                |
    |   2 |    2 | destination port                                           |
    |   4 |    2 | length (header included; 0 = IPv6 jumbogram: use the IP payload) |
    |   6 |    2 | checksum (not checked)                                     |

TCP (RFC 9293)::

    | off | size | field                                                      |
    |   0 |    2 | source port                                                |
    |   2 |    2 | destination port                                           |
    |   4 |    4 | sequence number                                            |
    |   8 |    4 | acknowledgement number                                     |
    |  12 |    1 | data offset (header length in 32-bit words) << 4           |
    |  13 |    1 | flags: FIN 1, SYN 2, RST 4, PSH 8, ACK 16, URG 32          |

    Segment payloads go through :class:`TcpStreams`, so TCP units are the byte stream of each direction
    in order, without retransmitted or duplicated bytes; empty segments yield nothing.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable

from sigdiag.anomalies import Anomaly
from sigdiag.capture.frame import Frame
from sigdiag.carrier.units import MtpUnit, SctpUnit, StreamUnit

__all__ = [
    "FRAGMENT_TIMEOUT",
    "MAX_PENDING_DATAGRAMS",
    "MAX_PENDING_FRAGMENT_BYTES",
    "MAX_SCTP_MESSAGE",
    "MAX_SCTP_PENDING",
    "NetDecoder",
    "TcpKey",
    "TcpStreams",
    "Unit",
]

Unit = SctpUnit | StreamUnit | MtpUnit
#: One direction of a TCP connection: (source address, source port, destination address, destination port).
TcpKey = tuple[str, int, str, int]

#: Most IP datagrams waiting for fragments at once.
MAX_PENDING_DATAGRAMS = 4096
#: Most octets held in incomplete IP datagrams at once.
MAX_PENDING_FRAGMENT_BYTES = 16 << 20
#: Capture-time seconds after which an incomplete IP datagram is dropped (Linux ipfrag_time).
FRAGMENT_TIMEOUT = 30.0
#: Largest SCTP user message reassembled from fragments.
MAX_SCTP_MESSAGE = 1 << 20
#: Most SCTP user messages being reassembled at once.
MAX_SCTP_PENDING = 4096
#: Depth limit for IP-in-IP tunnels and nested fragments.
_MAX_DEPTH = 4

_VLAN_TPIDS = frozenset({0x8100, 0x88A8, 0x9100, 0x9200})
_MTP_LINKTYPES = frozenset({139, 140, 141})
_AF_INET6 = frozenset({10, 24, 28, 30})
_SEQ_MOD = 1 << 32

_IP4 = struct.Struct("!BxHHHxBxx4s4s")  # ver/ihl, total, id, flags/frag, proto, src, dst
_IP6 = struct.Struct("!IHBx16s16s")  # ver/tc/flow, payload length, next header, src, dst
_U16 = struct.Struct("!H").unpack_from
_U16x2 = struct.Struct("!HH").unpack_from
_U32 = struct.Struct("!I").unpack_from
_UDP = struct.Struct("!HHH").unpack_from
_TCP = struct.Struct("!HHIxxxxBB").unpack_from  # sport, dport, seq, data offset, flags
_CHUNK16 = struct.Struct("!BBHIHHI").unpack_from  # type, flags, length, TSN, stream, SSN, PPID
_CHUNK4 = struct.Struct("!BBH").unpack_from  # type, flags, length
_SCTP_FIRST = struct.Struct("!HH8xBBHIHHI").unpack_from  # ports, then the first chunk as DATA
_IDATA = struct.Struct("!IHxxII").unpack_from  # TSN, stream, MID, PPID/FSN
_FRAG6 = struct.Struct("!BxHI").unpack_from  # next header, offset|M, identification


class _Datagram:
    """An IP datagram being reassembled."""

    __slots__ = ("first_ts", "nh", "overlap", "parts", "size", "total")

    def __init__(self, ts: float) -> None:
        self.parts: list[tuple[int, int, bytes]] = []  # (start, end, data) in arrival order
        self.total: int | None = None  # payload length, known once the last fragment arrived
        self.size = 0
        self.first_ts = ts
        self.nh = -1  # protocol / next header (IPv6: from the fragment at offset 0)
        self.overlap = False


class _IpReassembler:
    """IPv4/IPv6 fragment reassembly with bounded memory (see the module docstring)."""

    def __init__(self, anomalies: list[Anomaly]) -> None:
        self._anomalies = anomalies
        self._pending: dict[tuple[bytes, bytes, int, int], _Datagram] = {}
        self._bytes = 0

    def _drop(self, key: tuple[bytes, bytes, int, int], frame: int, why: str) -> None:
        dg = self._pending.pop(key)
        self._bytes -= dg.size
        if why:
            self._anomalies.append(
                Anomaly(
                    "ip.fragment_incomplete",
                    frame,
                    f"datagram id {key[3]:#x} from {_ntop(key[0])} to {_ntop(key[1])}: {why} "
                    f"({len(dg.parts)} fragment(s), {dg.size} octets)",
                )
            )

    def add(
        self, key: tuple[bytes, bytes, int, int], start: int, more: bool, data: bytes, nh: int, frame: Frame
    ) -> tuple[bytes, int] | None:
        """Add one fragment; return (payload, protocol) when it completes its datagram."""
        pending = self._pending
        number = frame.number
        end = start + len(data)
        if end > 65535:
            if key in pending:
                self._drop(key, number, "")
            self._anomalies.append(
                Anomaly("ip.fragment_too_large", number, f"fragment ends at octet {end}, past 65535")
            )
            return None
        dg = pending.get(key)
        if dg is None:
            # Age out and bound the pending set (oldest first: dicts keep insertion order).
            while pending:
                okey = next(iter(pending))
                odg = pending[okey]
                if odg.first_ts < frame.ts - FRAGMENT_TIMEOUT:
                    self._drop(okey, number, f"timed out after {FRAGMENT_TIMEOUT:g} s")
                elif (
                    len(pending) >= MAX_PENDING_DATAGRAMS
                    or self._bytes + len(data) > MAX_PENDING_FRAGMENT_BYTES
                ):
                    self._drop(okey, number, "evicted: too many incomplete datagrams")
                else:
                    break
            dg = pending[key] = _Datagram(frame.ts)
        contained = False
        for s, e, b in dg.parts:
            if start < e and s < end:
                lo = max(s, start)
                hi = min(e, end)
                if b[lo - s : hi - s] != data[lo - start : hi - start] and not dg.overlap:
                    dg.overlap = True
                    self._anomalies.append(
                        Anomaly(
                            "ip.fragment_overlap",
                            number,
                            f"datagram id {key[3]:#x}: octets {lo}-{hi} differ between fragments; first kept",
                        )
                    )
                if s <= start and end <= e:
                    contained = True  # nothing new: a duplicate, or inside an earlier fragment
        if not contained:
            dg.parts.append((start, end, data))
            dg.size += len(data)
            self._bytes += len(data)
        if start == 0:
            dg.nh = nh
        if not more and dg.total is None:
            dg.total = end
        total = dg.total
        if total is None or dg.nh < 0:
            return None
        covered = 0
        for s, e, _b in sorted(dg.parts):
            if s > covered:
                return None
            if e > covered:
                covered = e
            if covered >= total:
                break
        if covered < total:
            return None
        buf = bytearray(total)
        for s, e, b in reversed(dg.parts):  # earlier arrivals written last: the first copy wins
            if s < total:
                buf[s : min(e, total)] = b[: total - s]
        self._drop(key, number, "")
        return bytes(buf), dg.nh

    def finish(self, frame: int) -> None:
        for key in list(self._pending):
            self._drop(key, frame, "never completed (end of capture)")


class _SctpPartial:
    """An SCTP user message being reassembled from DATA fragments."""

    __slots__ = ("first", "last", "parts", "ppid", "size")

    def __init__(self, tsn: int, ppid: int, data: bytes) -> None:
        self.first = tsn
        self.last = tsn
        self.ppid = ppid
        self.parts = [data]
        self.size = len(data)


class _IdataPartial:
    """An SCTP user message being reassembled from I-DATA fragments (by fragment sequence number)."""

    __slots__ = ("last_fsn", "parts", "ppid", "size")

    def __init__(self) -> None:
        self.parts: dict[int, bytes] = {}
        self.ppid = -1  # known once the B fragment arrived
        self.last_fsn = -1  # known once the E fragment arrived
        self.size = 0


class _TcpConn:
    __slots__ = ("isn", "next", "pending", "pending_bytes")

    def __init__(self, seq: int) -> None:
        self.isn = -1  # the SYN's sequence number, when seen
        self.next = seq
        self.pending: dict[int, bytes] = {}
        self.pending_bytes = 0


class TcpStreams:
    """In-order byte streams of TCP connections, one per direction, with bounded memory.

    :meth:`push` takes one segment (its direction ``key``, sequence number, flags and payload) and
    returns the payload pieces that are now in order: nothing for a retransmission, the new part of a
    partly retransmitted segment, and held segments once the gap before them is filled.  A segment
    beyond a gap is held until the gap fills; when more than ``max_pending_bytes`` or
    ``max_pending_segments`` wait behind a gap, the gap is skipped (``tcp.gap``) and the held data
    delivered.  A SYN sets the initial sequence number; without one the first segment seen starts the
    stream.  RST forgets the direction.  At most ``max_connections`` directions are tracked (the oldest
    is dropped).

    :class:`NetDecoder` runs every TCP segment through one of these, so TCP :class:`StreamUnit` objects
    already form each direction's byte stream; stream decoders (SIP) only frame messages in it.
    """

    FIN, SYN, RST = 1, 2, 4

    def __init__(
        self,
        anomalies: list[Anomaly],
        *,
        max_connections: int = 16384,
        max_pending_bytes: int = 256 << 10,
        max_pending_segments: int = 64,
    ) -> None:
        self._anomalies = anomalies
        self._conns: dict[TcpKey, _TcpConn] = {}
        self.max_connections = max_connections
        self.max_pending_bytes = max_pending_bytes
        self.max_pending_segments = max_pending_segments

    def push(self, frame: int, key: TcpKey, seq: int, flags: int, payload: bytes) -> list[bytes]:
        conns = self._conns
        conn = conns.get(key)
        if flags & 4:  # RST
            if conn is not None:
                self._lose(conn, frame, key, "connection reset")
                del conns[key]
            return []
        if flags & 2:  # SYN: data (if any, TCP Fast Open) starts after the SYN's sequence number
            if conn is None or conn.isn != seq:  # a new connection (or the port pair reused)
                if conn is not None:
                    self._lose(conn, frame, key, "connection restarted")
                    del conns[key]
                conn = self._new(frame, key, (seq + 1) % _SEQ_MOD)
                conn.isn = seq
            seq = (seq + 1) % _SEQ_MOD
        if not payload:
            return []
        if conn is None:
            conn = self._new(frame, key, seq)
        rel = (seq - conn.next + (1 << 31)) % _SEQ_MOD - (1 << 31)
        if rel > 0:  # beyond a gap: hold
            old = conn.pending.get(seq)
            if old is None or len(old) < len(payload):
                conn.pending[seq] = payload
                conn.pending_bytes += len(payload) - (len(old) if old else 0)
            if conn.pending_bytes > self.max_pending_bytes or len(conn.pending) > self.max_pending_segments:
                return self._skip_gap(conn, frame, key)
            return []
        if -rel >= len(payload):
            return []  # retransmission of bytes already delivered
        if rel:
            payload = payload[-rel:]
        conn.next = (conn.next + len(payload)) % _SEQ_MOD
        out = [payload]
        if conn.pending:
            self._drain(conn, out)
        return out

    def _new(self, frame: int, key: TcpKey, seq: int) -> _TcpConn:
        conns = self._conns
        while len(conns) >= self.max_connections:
            okey = next(iter(conns))
            self._lose(conns.pop(okey), frame, okey, "too many connections tracked")
        conn = conns[key] = _TcpConn(seq)
        return conn

    def _drain(self, conn: _TcpConn, out: list[bytes]) -> None:
        pending = conn.pending
        progressed = True
        while pending and progressed:
            progressed = False
            for seq in list(pending):
                rel = (seq - conn.next + (1 << 31)) % _SEQ_MOD - (1 << 31)
                if rel <= 0:
                    data = pending.pop(seq)
                    conn.pending_bytes -= len(data)
                    if -rel < len(data):
                        piece = data[-rel:] if rel else data
                        out.append(piece)
                        conn.next = (conn.next + len(piece)) % _SEQ_MOD
                    progressed = True

    def _skip_gap(self, conn: _TcpConn, frame: int, key: TcpKey) -> list[bytes]:
        nearest = min(conn.pending, key=lambda s: (s - conn.next) % _SEQ_MOD)
        missing = (nearest - conn.next) % _SEQ_MOD
        self._anomalies.append(
            Anomaly(
                "tcp.gap",
                frame,
                f"{_key_text(key)}: {missing} octets never captured; stream resumes after them",
            )
        )
        conn.next = nearest
        out: list[bytes] = []
        self._drain(conn, out)
        return out

    def _lose(self, conn: _TcpConn, frame: int, key: TcpKey, why: str) -> None:
        if conn.pending:
            self._anomalies.append(
                Anomaly(
                    "tcp.gap",
                    frame,
                    f"{_key_text(key)}: {conn.pending_bytes} octets held behind a gap dropped ({why})",
                )
            )

    def flush(self, frame: int) -> list[tuple[TcpKey, bytes]]:
        """End of capture: skip every remaining gap and return ``(key, data)`` for the held data."""
        out: list[tuple[TcpKey, bytes]] = []
        for key, conn in self._conns.items():
            while conn.pending:
                for piece in self._skip_gap(conn, frame, key):
                    out.append((key, piece))
        self._conns.clear()
        return out


def _key_text(key: TcpKey) -> str:
    return f"{key[0]}:{key[1]} -> {key[2]}:{key[3]}"


def _ntop(addr: bytes) -> str:
    try:
        return socket.inet_ntop(socket.AF_INET if len(addr) == 4 else socket.AF_INET6, addr)
    except (ValueError, OSError):
        return addr.hex()


class NetDecoder:
    """Frames in, transport units out; see the module docstring for every layer's layout.

    ``feed(frame)`` returns the units the frame completed (possibly none, possibly several: an SCTP
    packet bundles chunks).  ``finish()`` is called once at the end of the capture: it reports
    reassemblies that never completed and returns the TCP data that was still held behind gaps.
    """

    def __init__(self, anomalies: list[Anomaly]) -> None:
        self._anomalies = anomalies
        self._names: dict[bytes, str] = {}
        self._ip = _IpReassembler(anomalies)
        self._sctp_pending: dict[tuple[object, ...], _SctpPartial] = {}
        self._idata_pending: dict[tuple[object, ...], _IdataPartial] = {}
        self.tcp = TcpStreams(anomalies)
        self._once: set[tuple[str, object]] = set()
        self._last = Frame(0, 0.0, -1, b"", 0)  # the latest frame fed
        self._snap_cut: Frame | None = None  # the latest frame reported as cut by the snapshot length
        self._links: dict[int, Callable[[Frame, bytes], list[Unit]]] = {
            1: self._ethernet,
            113: self._sll,
            276: self._sll2,
            101: self._raw,
            12: self._raw,
            14: self._raw,
            228: self._raw4,
            229: self._raw6,
            0: self._null,
            108: self._null,
        }

    # ------------------------------------------------------------------------------------------
    # entry points

    def feed(self, frame: Frame) -> list[Unit]:
        """The transport units completed by ``frame``."""
        self._last = frame
        try:
            lt = frame.linktype
            if lt == 1:
                data = frame.data
                if data[12:14] == b"\x08\x00":  # the common case first: untagged Ethernet + IPv4
                    return self._ipv4(frame, data, 14, 0)
                return self._ethernet(frame, data)
            handler = self._links.get(lt)
            if handler is not None:
                return handler(frame, frame.data)
            if lt in _MTP_LINKTYPES:
                return [MtpUnit(frame.number, frame.ts, lt, frame.interface, frame.data)]
            self._report_once("link.unsupported_linktype", lt, frame.number, f"link type {lt}")
            return []
        except Exception as exc:  # defensive: a bug here must not stop the capture
            self._anomalies.append(
                Anomaly("net.internal_error", frame.number, f"{type(exc).__name__}: {exc}; frame skipped")
            )
            return []

    def finish(self) -> list[Unit]:
        """End of capture: report incomplete reassemblies; return TCP data held behind gaps."""
        frame = self._last.number
        self._ip.finish(frame)
        for key, p in self._sctp_pending.items():
            self._sctp_incomplete(
                frame, key, f"never completed ({len(p.parts)} fragment(s), {p.size} octets)"
            )
        self._sctp_pending.clear()
        for key, q in self._idata_pending.items():
            self._sctp_incomplete(frame, key, f"I-DATA message never completed ({len(q.parts)} fragment(s))")
        self._idata_pending.clear()
        units: list[Unit] = []
        for key, data in self.tcp.flush(frame):
            src, sport, dst, dport = key
            units.append(StreamUnit(frame, self._last.ts, "tcp", src, dst, sport, dport, data))
        return units

    # ------------------------------------------------------------------------------------------
    # helpers

    def _report_once(self, name: str, what: object, frame: int, detail: str) -> None:
        key = (name, what)
        if key in self._once:
            return
        self._once.add(key)
        self._anomalies.append(
            Anomaly(name, frame, f"{detail} (reported once; later frames like this are skipped silently)")
        )

    def _cut(self, frame: Frame, name: str, detail: str) -> None:
        """A layer is shorter than its header or length field says.

        When the capture's snapshot length cut the frame, that is the reason: one
        ``pcap.snaplen_truncated`` per frame, however many layers it cut."""
        if len(frame.data) < frame.orig_len:
            if self._snap_cut is frame:
                return
            self._snap_cut = frame
            detail = f"{detail}; frame captured {len(frame.data)} of {frame.orig_len} octets ({name})"
            name = "pcap.snaplen_truncated"
        self._anomalies.append(Anomaly(name, frame.number, detail))

    def _name(self, addr: bytes) -> str:
        names = self._names
        text = names.get(addr)
        if text is None:
            if len(names) >= 65536:
                names.clear()
            text = names[addr] = _ntop(addr)
        return text

    # ------------------------------------------------------------------------------------------
    # link layers

    def _ethernet(self, frame: Frame, data: bytes) -> list[Unit]:
        if len(data) < 14:
            self._cut(frame, "link.truncated", f"Ethernet header: {len(data)} of 14 octets")
            return []
        return self._ethertype(frame, data, 14, (data[12] << 8) | data[13])

    def _sll(self, frame: Frame, data: bytes) -> list[Unit]:
        if len(data) < 16:
            self._cut(frame, "link.truncated", f"Linux cooked (SLL) header: {len(data)} of 16 octets")
            return []
        return self._ethertype(frame, data, 16, (data[14] << 8) | data[15])

    def _sll2(self, frame: Frame, data: bytes) -> list[Unit]:
        if len(data) < 20:
            self._cut(frame, "link.truncated", f"Linux cooked v2 (SLL2) header: {len(data)} of 20 octets")
            return []
        return self._ethertype(frame, data, 20, (data[0] << 8) | data[1])

    def _null(self, frame: Frame, data: bytes) -> list[Unit]:
        if len(data) < 4:
            self._cut(frame, "link.truncated", f"loopback header: {len(data)} of 4 octets")
            return []
        family = int.from_bytes(data[:4], "little")
        if family > 0xFFFF:
            family = int.from_bytes(data[:4], "big")
        if family == 2:
            return self._ipv4(frame, data, 4, 0)
        if family in _AF_INET6:
            return self._ipv6(frame, data, 4, 0)
        self._report_once(
            "link.unsupported_ethertype", ("family", family), frame.number, f"address family {family}"
        )
        return []

    def _raw(self, frame: Frame, data: bytes) -> list[Unit]:
        version = data[0] >> 4 if data else 0
        if version == 4:
            return self._ipv4(frame, data, 0, 0)
        if version == 6:
            return self._ipv6(frame, data, 0, 0)
        if not data:
            self._cut(frame, "link.truncated", "empty raw IP frame")
        else:
            self._anomalies.append(
                Anomaly("ip.bad_version", frame.number, f"IP version {version} in a raw IP frame")
            )
        return []

    def _raw4(self, frame: Frame, data: bytes) -> list[Unit]:
        return self._ipv4(frame, data, 0, 0)

    def _raw6(self, frame: Frame, data: bytes) -> list[Unit]:
        return self._ipv6(frame, data, 0, 0)

    def _ethertype(self, frame: Frame, data: bytes, off: int, et: int) -> list[Unit]:
        n = len(data)
        while True:
            if et == 0x0800:
                return self._ipv4(frame, data, off, 0)
            if et == 0x86DD:
                return self._ipv6(frame, data, off, 0)
            if et in _VLAN_TPIDS:
                if n < off + 4:
                    self._cut(frame, "link.truncated", "VLAN tag cut short")
                    return []
                et = (data[off + 2] << 8) | data[off + 3]
                off += 4
            elif et == 0x8847 or et == 0x8848:  # MPLS: pop labels up to bottom of stack
                while True:
                    if n < off + 4:
                        self._cut(frame, "link.truncated", "MPLS label stack cut short")
                        return []
                    bottom = data[off + 2] & 1
                    off += 4
                    if bottom:
                        break
                version = data[off] >> 4 if n > off else 0
                if version == 4:
                    return self._ipv4(frame, data, off, 0)
                if version == 6:
                    return self._ipv6(frame, data, off, 0)
                self._report_once(
                    "link.unsupported_ethertype", "mpls", frame.number, "MPLS payload that is not IP"
                )
                return []
            elif et == 0x8864:  # PPPoE session: ver/type 1, code 1, session 2, length 2, PPP protocol 2
                if n < off + 8:
                    self._cut(frame, "link.truncated", "PPPoE header cut short")
                    return []
                ppp = (data[off + 6] << 8) | data[off + 7]
                off += 8
                if ppp == 0x0021:
                    return self._ipv4(frame, data, off, 0)
                if ppp == 0x0057:
                    return self._ipv6(frame, data, off, 0)
                self._report_once(
                    "link.unsupported_ethertype", ("ppp", ppp), frame.number, f"PPP protocol {ppp:#06x}"
                )
                return []
            elif et <= 1500:  # IEEE 802.3 length: LLC; only SNAP with an EtherType is followed
                if data[off : off + 3] == b"\xaa\xaa\x03" and n >= off + 8:
                    et = (data[off + 6] << 8) | data[off + 7]
                    off += 8
                else:
                    self._report_once(
                        "link.unsupported_ethertype", "llc", frame.number, "IEEE 802.3/LLC frame"
                    )
                    return []
            else:
                self._report_once("link.unsupported_ethertype", et, frame.number, f"EtherType {et:#06x}")
                return []

    # ------------------------------------------------------------------------------------------
    # network layers

    def _ipv4(self, frame: Frame, data: bytes, off: int, depth: int) -> list[Unit]:
        n = len(data)
        if n - off >= 20:  # fast path: no options, not a fragment, length consistent
            vihl, total, _ident, ff, proto, src, dst = _IP4.unpack_from(data, off)
            if vihl == 0x45 and not ff & 0x3FFF and 20 <= total <= n - off:
                names = self._names
                s = names.get(src) or self._name(src)
                d = names.get(dst) or self._name(dst)
                if proto == 132:
                    return self._sctp(frame, data, off + 20, off + total, s, d)
                if proto == 17:
                    return self._udp(frame, data, off + 20, off + total, s, d)
                if proto == 6:
                    return self._tcp(frame, data, off + 20, off + total, s, d)
        return self._ipv4_full(frame, data, off, depth)

    def _ipv4_full(self, frame: Frame, data: bytes, off: int, depth: int) -> list[Unit]:
        n = len(data)
        if n - off < 20:
            self._cut(frame, "ip.truncated", f"IPv4 header: {max(n - off, 0)} of 20 octets")
            return []
        vihl, total, ident, ff, proto, src, dst = _IP4.unpack_from(data, off)
        if vihl >> 4 != 4:
            self._anomalies.append(
                Anomaly("ip.bad_version", frame.number, f"IP version {vihl >> 4} where IPv4 expected")
            )
            return []
        ihl = (vihl & 15) << 2
        if ihl < 20:
            self._anomalies.append(Anomaly("ip.bad_header_length", frame.number, f"IPv4 header length {ihl}"))
            return []
        if total == 0:  # TCP segmentation offload: the length was never filled in
            total = n - off
        if total < ihl:
            self._anomalies.append(
                Anomaly(
                    "ip.bad_header_length",
                    frame.number,
                    f"IPv4 total length {total} below header length {ihl}",
                )
            )
            return []
        end = off + total
        if end > n:
            self._cut(frame, "ip.truncated", f"IPv4 total length {total}, {n - off} octets present")
            if off + ihl > n:
                return []
            if ff & 0x3FFF:
                return []  # a cut fragment would corrupt its datagram
            end = n
        names = self._names
        s = names.get(src) or self._name(src)
        d = names.get(dst) or self._name(dst)
        start = off + ihl
        if ff & 0x3FFF:  # MF set or offset non-zero: a fragment
            done = self._ip.add(
                (src, dst, proto, ident), (ff & 0x1FFF) << 3, bool(ff & 0x2000), data[start:end], proto, frame
            )
            if done is None:
                return []
            data, _proto = done
            start, end = 0, len(data)
        if proto == 132:
            return self._sctp(frame, data, start, end, s, d)
        if proto == 17:
            return self._udp(frame, data, start, end, s, d)
        if proto == 6:
            return self._tcp(frame, data, start, end, s, d)
        return self._other_proto(frame, proto, data, start, end, depth)

    def _other_proto(
        self, frame: Frame, proto: int, data: bytes, start: int, end: int, depth: int
    ) -> list[Unit]:
        if proto in (4, 41) and depth < _MAX_DEPTH:
            inner = data[start:end]
            return (
                self._ipv4(frame, inner, 0, depth + 1)
                if proto == 4
                else self._ipv6(frame, inner, 0, depth + 1)
            )
        self._report_once("ip.unsupported_protocol", proto, frame.number, f"IP protocol {proto}")
        return []

    def _ipv6(self, frame: Frame, data: bytes, off: int, depth: int) -> list[Unit]:
        n = len(data)
        if n - off < 40:
            self._cut(frame, "ip.truncated", f"IPv6 header: {max(n - off, 0)} of 40 octets")
            return []
        vtf, plen, nh, src, dst = _IP6.unpack_from(data, off)
        if vtf >> 28 != 6:
            self._anomalies.append(
                Anomaly("ip.bad_version", frame.number, f"IP version {vtf >> 28} where IPv6 expected")
            )
            return []
        end = off + 40 + plen
        if plen == 0:  # jumbogram or offload: use the frame
            end = n
        elif end > n:
            self._cut(frame, "ip.truncated", f"IPv6 payload length {plen}, {n - off - 40} octets present")
            end = n
        s = self._names.get(src) or self._name(src)
        d = self._names.get(dst) or self._name(dst)
        return self._ipv6_chain(frame, nh, data, off + 40, end, src, dst, s, d, depth)

    def _ipv6_chain(
        self,
        frame: Frame,
        nh: int,
        data: bytes,
        pos: int,
        end: int,
        src: bytes,
        dst: bytes,
        s: str,
        d: str,
        depth: int,
    ) -> list[Unit]:
        while True:
            if nh == 132:
                return self._sctp(frame, data, pos, end, s, d)
            if nh == 17:
                return self._udp(frame, data, pos, end, s, d)
            if nh == 6:
                return self._tcp(frame, data, pos, end, s, d)
            if nh == 0 or nh == 43 or nh == 60 or nh == 51:
                if end - pos < 8:
                    self._cut(frame, "ip.truncated", f"IPv6 extension header {nh} cut short")
                    return []
                hlen = (data[pos + 1] + 2) << 2 if nh == 51 else (data[pos + 1] + 1) << 3
                if pos + hlen > end:
                    self._cut(frame, "ip.truncated", f"IPv6 extension header {nh} of {hlen} octets cut short")
                    return []
                nh = data[pos]
                pos += hlen
            elif nh == 44:
                if end - pos < 8:
                    self._cut(frame, "ip.truncated", "IPv6 fragment header cut short")
                    return []
                nxt, offm, ident = _FRAG6(data, pos)
                pos += 8
                if offm & 0xFFF9 == 0:  # atomic fragment (offset 0, no M): just a header
                    nh = nxt
                    continue
                if len(frame.data) < frame.orig_len:
                    self._cut(frame, "ip.truncated", "IPv6 fragment cut by the snapshot length")
                    return []
                done = self._ip.add(
                    (src, dst, 44, ident), offm & 0xFFF8, bool(offm & 1), data[pos:end], nxt, frame
                )
                if done is None or depth >= _MAX_DEPTH:
                    return []
                data, nh = done
                pos, end = 0, len(data)
                depth += 1
            elif nh == 59:
                return []
            else:
                return self._other_proto(frame, nh, data, pos, end, depth)

    # ------------------------------------------------------------------------------------------
    # transport layers

    def _udp(self, frame: Frame, data: bytes, off: int, end: int, s: str, d: str) -> list[Unit]:
        if end - off < 8:
            self._cut(frame, "udp.truncated", f"UDP header: {max(end - off, 0)} of 8 octets")
            return []
        sport, dport, length = _UDP(data, off)
        if length == 0:
            length = end - off
        elif length < 8:
            self._anomalies.append(Anomaly("udp.truncated", frame.number, f"UDP length {length} below 8"))
            return []
        elif length > end - off:
            self._cut(frame, "udp.truncated", f"UDP length {length}, {end - off} octets present")
            length = end - off
        if length == 8:
            return []
        return [StreamUnit(frame.number, frame.ts, "udp", s, d, sport, dport, data[off + 8 : off + length])]

    def _tcp(self, frame: Frame, data: bytes, off: int, end: int, s: str, d: str) -> list[Unit]:
        if end - off < 20:
            self._cut(frame, "tcp.truncated", f"TCP header: {max(end - off, 0)} of 20 octets")
            return []
        sport, dport, seq, doff, flags = _TCP(data, off)
        doff = (doff >> 4) << 2
        if doff < 20 or off + doff > end:
            self._cut(frame, "tcp.truncated", f"TCP data offset {doff}, {end - off} octets present")
            return []
        start = off + doff
        if start == end and not flags & 7:
            return []
        pieces = self.tcp.push(frame.number, (s, sport, d, dport), seq, flags, data[start:end])
        if not pieces:
            return []
        number, ts = frame.number, frame.ts
        return [StreamUnit(number, ts, "tcp", s, d, sport, dport, piece) for piece in pieces]

    def _sctp(self, frame: Frame, data: bytes, off: int, end: int, s: str, d: str) -> list[Unit]:
        if end - off >= 28:  # fast path: one complete DATA chunk fills the packet
            sport, dport, ctype, flags, clen, _tsn, stream, _ssn, ppid = _SCTP_FIRST(data, off)
            if ctype == 0 and flags & 3 == 3 and clen > 16 and 0 <= end - off - 12 - clen <= 3:
                return [
                    SctpUnit(
                        frame.number,
                        frame.ts,
                        s,
                        d,
                        sport,
                        dport,
                        ppid,
                        stream,
                        data[off + 28 : off + 12 + clen],
                    )
                ]
        return self._sctp_chunks(frame, data, off, end, s, d)

    def _sctp_chunks(self, frame: Frame, data: bytes, off: int, end: int, s: str, d: str) -> list[Unit]:
        if end - off < 12:
            self._cut(frame, "sctp.truncated_chunk", f"SCTP common header: {max(end - off, 0)} of 12 octets")
            return []
        sport, dport = _U16x2(data, off)
        pos = off + 12
        units: list[Unit] = []
        number = frame.number
        ts = frame.ts
        while end - pos >= 4:
            if end - pos >= 16:
                ctype, flags, clen, tsn, stream, _ssn, ppid = _CHUNK16(data, pos)
            else:
                ctype, flags, clen = _CHUNK4(data, pos)
                tsn = stream = ppid = 0
            if clen < 4:
                self._anomalies.append(
                    Anomaly("sctp.bad_chunk_length", number, f"chunk type {ctype} length {clen}")
                )
                break
            if pos + clen > end:
                self._cut(
                    frame, "sctp.truncated_chunk", f"chunk type {ctype} of {clen} octets, {end - pos} present"
                )
                break
            if ctype == 0:
                if clen <= 16:
                    self._anomalies.append(
                        Anomaly("sctp.bad_chunk_length", number, f"DATA chunk length {clen} (header is 16)")
                    )
                    if clen < 16:
                        break
                elif flags & 3 == 3:
                    units.append(
                        SctpUnit(number, ts, s, d, sport, dport, ppid, stream, data[pos + 16 : pos + clen])
                    )
                else:
                    done = self._sctp_fragment(
                        frame,
                        (s, sport, d, dport, stream, flags & 4),
                        flags,
                        tsn,
                        ppid,
                        data[pos + 16 : pos + clen],
                    )
                    if done is not None:
                        units.append(SctpUnit(number, ts, s, d, sport, dport, done[0], stream, done[1]))
            elif ctype == 64:
                if clen <= 20:
                    self._anomalies.append(
                        Anomaly("sctp.bad_chunk_length", number, f"I-DATA chunk length {clen} (header is 20)")
                    )
                    if clen < 20:
                        break
                else:
                    _tsn, stream, mid, ppid_fsn = _IDATA(data, pos + 4)
                    payload = data[pos + 20 : pos + clen]
                    if flags & 3 == 3:
                        units.append(SctpUnit(number, ts, s, d, sport, dport, ppid_fsn, stream, payload))
                    else:
                        done = self._idata_fragment(
                            frame, (s, sport, d, dport, stream, flags & 4, mid), flags, ppid_fsn, payload
                        )
                        if done is not None:
                            units.append(SctpUnit(number, ts, s, d, sport, dport, done[0], stream, done[1]))
            pos += (clen + 3) & ~3
        return units

    def _sctp_incomplete(self, frame: int, key: tuple[object, ...], why: str) -> None:
        self._anomalies.append(
            Anomaly(
                "sctp.reassembly_incomplete",
                frame,
                f"{key[0]}:{key[1]} -> {key[2]}:{key[3]} stream {key[4]}: user message {why}",
            )
        )

    def _sctp_fragment(
        self, frame: Frame, key: tuple[object, ...], flags: int, tsn: int, ppid: int, data: bytes
    ) -> tuple[int, bytes] | None:
        pending = self._sctp_pending
        p = pending.get(key)
        if flags & 2:  # B: first fragment
            if p is not None and tsn == p.first and tsn:
                return None  # the first fragment again: a retransmission
            if p is not None:
                self._sctp_incomplete(frame.number, key, f"abandoned: a new one began at TSN {tsn}")
                del pending[key]
            while len(pending) >= MAX_SCTP_PENDING:
                okey = next(iter(pending))
                del pending[okey]
                self._sctp_incomplete(frame.number, okey, "evicted: too many messages being reassembled")
            pending[key] = _SctpPartial(tsn, ppid, data)
            return None
        if p is None:
            self._sctp_incomplete(frame.number, key, f"fragment at TSN {tsn} without its first fragment")
            return None
        if tsn == (p.last + 1) % _SEQ_MOD or (tsn == 0 and p.last == 0):
            p.last = tsn
        elif (tsn - p.first) % _SEQ_MOD <= (p.last - p.first) % _SEQ_MOD:
            return None  # retransmission of a fragment already held
        else:
            del pending[key]
            self._sctp_incomplete(frame.number, key, f"fragment TSN {tsn} does not follow TSN {p.last}")
            return None
        p.parts.append(data)
        p.size += len(data)
        if p.size > MAX_SCTP_MESSAGE:
            del pending[key]
            self._anomalies.append(
                Anomaly(
                    "sctp.reassembly_too_large",
                    frame.number,
                    f"user message past {MAX_SCTP_MESSAGE} octets dropped",
                )
            )
            return None
        if flags & 1:  # E: last fragment
            del pending[key]
            return p.ppid, b"".join(p.parts)
        return None

    def _idata_fragment(
        self, frame: Frame, key: tuple[object, ...], flags: int, ppid_fsn: int, data: bytes
    ) -> tuple[int, bytes] | None:
        pending = self._idata_pending
        q = pending.get(key)
        if q is None:
            while len(pending) >= MAX_SCTP_PENDING:
                okey = next(iter(pending))
                del pending[okey]
                self._sctp_incomplete(
                    frame.number, okey, "evicted: too many I-DATA messages being reassembled"
                )
            q = pending[key] = _IdataPartial()
        if flags & 2:
            fsn = 0
            q.ppid = ppid_fsn
        else:
            fsn = ppid_fsn
        if fsn not in q.parts:
            q.parts[fsn] = data
            q.size += len(data)
        if flags & 1:
            q.last_fsn = fsn
        if q.size > MAX_SCTP_MESSAGE:
            del pending[key]
            self._anomalies.append(
                Anomaly(
                    "sctp.reassembly_too_large",
                    frame.number,
                    f"user message past {MAX_SCTP_MESSAGE} octets dropped",
                )
            )
            return None
        if q.ppid < 0 or q.last_fsn < 0 or len(q.parts) <= q.last_fsn:
            return None
        parts = q.parts
        if any(i not in parts for i in range(q.last_fsn + 1)):
            return None
        del pending[key]
        return q.ppid, b"".join(parts[i] for i in range(q.last_fsn + 1))
