"""UDP and TCP: header layouts, the TCP stream reassembly, and the builders.

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
    |  14 |    2 | window                                                     |
    |  16 |    2 | checksum                                                   |
    |  18 |    2 | urgent pointer                                             |

    Segment payloads go through :class:`TcpStreams`, so TCP units are the byte stream of each direction
    in order, without retransmitted or duplicated bytes; empty segments yield nothing.

The parse side is :class:`sigdiag.carrier.net.NetDecoder` (with the structs below) and
:class:`TcpStreams`; the build side :func:`udp`, :func:`tcp`, :func:`udp_packet`, :func:`tcp_packet`
(checksums over the IPv4/IPv6 pseudo-header filled in).
"""

from __future__ import annotations

import struct
from typing import Required, TypedDict, Unpack

from sigdiag.anomalies import Anomaly
from sigdiag.carrier.ip import PROTO_TCP, PROTO_UDP, inet_checksum, ip_packet, pseudo_header

__all__ = [
    "ACK",
    "FIN",
    "PSH",
    "RST",
    "SYN",
    "TCP_HEADER",
    "TCP_HEADER_LEN",
    "UDP_HEADER",
    "UDP_HEADER_LEN",
    "TcpKey",
    "TcpOptions",
    "TcpStreams",
    "tcp",
    "tcp_packet",
    "udp",
    "udp_packet",
]

FIN, SYN, RST, PSH, ACK = 1, 2, 4, 8, 16

UDP_HEADER_LEN = 8
TCP_HEADER_LEN = 20

#: Parse: source port, destination port, length.
UDP_PARSE = struct.Struct("!HHH")
#: Parse: source port, destination port, sequence number, data offset, flags.
TCP_PARSE = struct.Struct("!HHIxxxxBB")

#: One direction of a TCP connection: (source address, source port, destination address, destination port).
TcpKey = tuple[str, int, str, int]

_SEQ_MOD = 1 << 32

#: Build: source port, destination port, length, checksum.
UDP_HEADER = struct.Struct("!HHHH")
#: Build: ports, sequence, acknowledgement, data offset << 4, flags, window, checksum, urgent pointer.
TCP_HEADER = struct.Struct("!HHIIBBHHH")


def udp(payload: bytes, sport: int, dport: int, src: str, dst: str) -> bytes:
    """UDP header + payload, checksum over the IPv4/IPv6 pseudo-header (``src``/``dst``)."""
    length = 8 + len(payload)
    seg = UDP_HEADER.pack(sport, dport, length, 0) + payload
    csum = inet_checksum(pseudo_header(src, dst, PROTO_UDP, length) + seg) or 0xFFFF
    return seg[:6] + csum.to_bytes(2, "big") + seg[8:]


class TcpOptions(TypedDict, total=False):
    """The keyword options of :func:`tcp`: sequence number (required), acknowledgement number (default
    0), flags (default ACK|PSH), window (default 65535)."""

    seq: Required[int]
    ack: int
    flags: int
    window: int


def tcp(
    payload: bytes,
    sport: int,
    dport: int,
    src: str,
    dst: str,
    *,
    seq: int,
    ack: int = 0,
    flags: int = ACK | PSH,
    window: int = 65535,
) -> bytes:
    """TCP header (20 octets, no options) + payload, checksum over the pseudo-header."""
    seg = (
        TCP_HEADER.pack(sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 5 << 4, flags, window, 0, 0)
        + payload
    )
    csum = inet_checksum(pseudo_header(src, dst, PROTO_TCP, len(seg)) + seg)
    return seg[:16] + csum.to_bytes(2, "big") + seg[18:]


def udp_packet(src: str, dst: str, sport: int, dport: int, payload: bytes, *, ident: int = 0) -> bytes:
    """An IP packet carrying one UDP datagram."""
    return ip_packet(udp(payload, sport, dport, src, dst), src, dst, PROTO_UDP, ident=ident)


def tcp_packet(
    src: str,
    dst: str,
    sport: int,
    dport: int,
    payload: bytes,
    *,
    ident: int = 0,
    **segment: Unpack[TcpOptions],
) -> bytes:
    """An IP packet carrying one TCP segment (``segment``: :func:`tcp`'s options)."""
    return ip_packet(tcp(payload, sport, dport, src, dst, **segment), src, dst, PROTO_TCP, ident=ident)


# ----------------------------------------------------------------------------------------------
# parse: in-order byte streams


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
