"""SCTP (RFC 9260): common header, DATA and I-DATA chunks, payload protocol identifiers, CRC32c; the
chunk reader with user-message reassembly, and the builders.

Common header, then chunks, each padded to 4 octets::

    | off | size | field                  |   chunk: | off | size | field                            |
    |   0 |    2 | source port            |          |   0 |    1 | type (0 DATA, 64 I-DATA, others    |
    |   2 |    2 | destination port       |          |     |      |   are skipped)                     |
    |   4 |    4 | verification tag       |          |   1 |    1 | flags                              |
    |   8 |    4 | CRC32c (little-endian; |          |   2 |    2 | length (header included, padding   |
    |     |      |   not checked)         |          |     |      |   not; >= 4)                       |

    | DATA (type 0)                             | I-DATA (type 64, RFC 8260)                          |
    | flags: U 4 (unordered), B 2, E 1          | flags: I 8, U 4, B 2, E 1                           |
    | 4: TSN 4, 8: stream 2, 10: SSN 2,         | 4: TSN 4, 8: stream 2, 10: reserved 2, 12: MID 4,   |
    | 12: PPID 4, 16: user data                 | 16: PPID (B set) or FSN 4, 20: user data            |

Reading (:class:`SctpReader`, run by :class:`sigdiag.carrier.net.NetDecoder`): every chunk of a packet
is looked at.  A DATA chunk with B and E set is one :class:`~sigdiag.carrier.units.SctpUnit`.  Fragments
(B, middle, E) are joined per direction (source and destination address and port) and stream, in TSN
order; retransmitted fragments are ignored, and TSNs are not used to drop whole messages (some captures
carry TSN 0 on every chunk: those are all delivered).  I-DATA fragments are joined per message
identifier by fragment sequence number.  A chunk length below its header size adds
``sctp.bad_chunk_length``, one past the packet ``sctp.truncated_chunk``; the rest of that packet is
skipped.

Payload protocol identifiers (the PPID of DATA chunks) and well-known ports of the SS7 adaptation
layers are defined here: :data:`PPID_M3UA` and the others.

Building: :func:`data_chunk`, :func:`data_chunks`, :func:`idata_chunk`, :func:`sack_chunk`,
:func:`common_header`, :func:`sctp`, :func:`sctp_packet`; :func:`crc32c` is the checksum (the ``crc32c``
C extension when it is installed, a pure-Python table implementation otherwise: correct, about ten
times slower).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence

from sigdiag.anomalies import Anomaly
from sigdiag.capture.frame import Frame
from sigdiag.carrier.hot import compile_hot
from sigdiag.carrier.ip import PROTO_SCTP, ip_packet
from sigdiag.carrier.units import SctpUnit

__all__ = [
    "CHECKSUM",
    "CHUNK_DATA",
    "CHUNK_IDATA",
    "CHUNK_SACK",
    "COMMON_HEADER",
    "COMMON_HEADER_LEN",
    "DATA_CHUNK",
    "DATA_CHUNK_LEN",
    "FLAG_BEGIN",
    "FLAG_END",
    "FLAG_UNORDERED",
    "IDATA_CHUNK_LEN",
    "MAX_SCTP_MESSAGE",
    "MAX_SCTP_PENDING",
    "PORT_M2PA",
    "PORT_M2UA",
    "PORT_M3UA",
    "PPID_BICC",
    "PPID_M2PA",
    "PPID_M2UA",
    "PPID_M3UA",
    "SctpReader",
    "common_header",
    "crc32c",
    "crc_after_header",
    "data_chunk",
    "data_chunks",
    "idata_chunk",
    "sack_chunk",
    "sctp",
    "sctp_packet",
]

CHUNK_DATA = 0
CHUNK_SACK = 3
CHUNK_IDATA = 64

FLAG_END = 1
FLAG_BEGIN = 2
FLAG_UNORDERED = 4
#: B and E: a whole user message in one chunk.
FLAGS_WHOLE = FLAG_BEGIN | FLAG_END

#: Payload protocol identifiers of the SS7 adaptation layers (IANA "SCTP Payload Protocol Identifiers").
PPID_M2UA = 2
PPID_M3UA = 3
PPID_M2PA = 5
PPID_BICC = 8
#: Well-known ports (used when the PPID is 0 or unassigned).
PORT_M2UA = 2904
PORT_M3UA = 2905
PORT_M2PA = 3565

COMMON_HEADER_LEN = 12
DATA_CHUNK_LEN = 16
IDATA_CHUNK_LEN = 20
CHUNK_HEADER_LEN = 4

#: Source port, destination port, verification tag (the checksum follows, little-endian).
COMMON_HEADER = struct.Struct("!HHI")
#: The checksum field (CRC32c stored little-endian, RFC 9260 appendix B).
CHECKSUM = struct.Struct("<I")
#: Type, flags, length, TSN, stream, SSN, PPID.
DATA_CHUNK = struct.Struct("!BBHIHHI")
#: Type, flags, length, TSN, stream, reserved, MID, PPID (B set) or FSN.
IDATA_CHUNK = struct.Struct("!BBHIHHII")
#: Parse: type, flags, length.
CHUNK_HEADER = struct.Struct("!BBH")
#: Parse: the ports, then the first chunk read as DATA (the checksum and tag skipped).
FIRST_DATA = struct.Struct("!HH8xBBHIHHI")
#: Parse: an I-DATA chunk from its TSN: TSN, stream, MID, PPID/FSN.
_IDATA_TAIL = struct.Struct("!IHxxII")
_SACK = struct.Struct("!BBHIIHH")
_PORTS = struct.Struct("!HH")

#: Largest SCTP user message reassembled from fragments.
MAX_SCTP_MESSAGE = 1 << 20
#: Most SCTP user messages being reassembled at once.
MAX_SCTP_PENDING = 4096
_SEQ_MOD = 1 << 32
_ZERO_CHECKSUM = b"\0\0\0\0"


# ----------------------------------------------------------------------------------------------
# CRC32c

_CRC_TABLES: tuple[list[int], list[int], list[int]] | None = None


def _crc_tables() -> tuple[list[int], list[int], list[int]]:
    global _CRC_TABLES
    if _CRC_TABLES is None:
        poly = 0x82F63B78
        t0 = []
        for i in range(256):
            c = i
            for _ in range(8):
                c = (c >> 1) ^ poly if c & 1 else c >> 1
            t0.append(c)
        t1 = [(v >> 8) ^ t0[v & 0xFF] for v in t0]
        t2 = [(v >> 8) ^ t0[v & 0xFF] for v in t1]
        t3 = [(v >> 8) ^ t0[v & 0xFF] for v in t2]
        # Two 16-bit tables: one 32-bit word per step (slicing-by-4 with pairs of octets merged).
        lo = [t3[i & 0xFF] ^ t2[i >> 8] for i in range(65536)]
        hi = [t1[i & 0xFF] ^ t0[i >> 8] for i in range(65536)]
        _CRC_TABLES = (t0, lo, hi)
    return _CRC_TABLES


def crc32c_py(data: bytes, value: int = 0) -> int:
    """CRC-32C in pure Python (what :func:`crc32c` is without the C extension)."""
    t0, lo, hi = _crc_tables()
    crc = value ^ 0xFFFFFFFF
    words = len(data) >> 2
    for w in struct.unpack_from(f"<{words}I", data):
        crc ^= w
        crc = lo[crc & 0xFFFF] ^ hi[crc >> 16]
    for b in data[words << 2 :]:
        crc = t0[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


#: ``crc32c(data, value=0)``: CRC-32C (Castagnoli) of ``data``, as SCTP uses it (RFC 9260 appendix B);
#: ``value`` continues a previous result (``crc32c(b, crc32c(a)) == crc32c(a + b)``).  The ``crc32c`` C
#: extension's function itself when it is installed (a call costs no Python frame), else
#: :func:`crc32c_py`.  Resolved on first use (module ``__getattr__``): the extension takes longer to
#: import than the decoders, which never need it.
crc32c: Callable[..., int]


def _load_crc32c() -> Callable[..., int]:
    try:  # a dependency of the project; pure Python when it is missing
        from crc32c import crc32c as fast
    except ImportError:  # pragma: no cover - depends on the environment
        return crc32c_py
    return fast


def __getattr__(name: str) -> Callable[..., int]:
    if name == "crc32c":
        function = _load_crc32c()
        globals()["crc32c"] = function
        return function
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _crc() -> Callable[..., int]:
    """:data:`crc32c` from inside this module (where a global name does not go through ``__getattr__``)."""
    return globals().get("crc32c") or __getattr__("crc32c")


# ----------------------------------------------------------------------------------------------
# build


def common_header(sport: int, dport: int, vtag: int = 0) -> bytes:
    """The first 8 octets of the common header (ports, verification tag); the checksum follows."""
    return COMMON_HEADER.pack(sport, dport, vtag)


def crc_after_header(sport: int, dport: int, vtag: int = 0) -> int:
    """The CRC32c state after the 12-octet common header with a zero checksum field:
    ``crc32c(chunks, crc_after_header(...))`` is the checksum of the packet."""
    return _crc()(common_header(sport, dport, vtag) + _ZERO_CHECKSUM)


def data_chunk(
    data: bytes,
    tsn: int,
    *,
    stream: int = 0,
    ssn: int = 0,
    ppid: int = PPID_M3UA,
    begin: bool = True,
    end: bool = True,
    unordered: bool = False,
) -> bytes:
    """One DATA chunk (type 0), padded to 4 octets."""
    flags = (FLAG_UNORDERED if unordered else 0) | (FLAG_BEGIN if begin else 0) | (FLAG_END if end else 0)
    length = DATA_CHUNK_LEN + len(data)
    return (
        DATA_CHUNK.pack(CHUNK_DATA, flags, length, tsn & 0xFFFFFFFF, stream, ssn & 0xFFFF, ppid)
        + data
        + b"\0" * (-length & 3)
    )


def data_chunks(
    data: bytes,
    tsn: int,
    *,
    parts: int | None = None,
    max_size: int | None = None,
    stream: int = 0,
    ssn: int = 0,
    ppid: int = PPID_M3UA,
    unordered: bool = False,
    same_tsn: bool = False,
) -> list[bytes]:
    """One user message as DATA chunks with B/E flags: ``parts`` pieces or pieces of at most ``max_size``
    octets, with consecutive TSNs from ``tsn`` (all equal to ``tsn`` when ``same_tsn``)."""
    if max_size is None:
        max_size = -(-len(data) // max(1, parts or 1)) or 1
    pieces = [data[i : i + max_size] for i in range(0, len(data), max_size)] or [b""]
    last = len(pieces) - 1
    return [
        data_chunk(
            p,
            tsn if same_tsn else tsn + i,
            stream=stream,
            ssn=ssn,
            ppid=ppid,
            begin=i == 0,
            end=i == last,
            unordered=unordered,
        )
        for i, p in enumerate(pieces)
    ]


def idata_chunk(
    data: bytes,
    tsn: int,
    *,
    stream: int = 0,
    mid: int = 0,
    ppid: int = PPID_M3UA,
    fsn: int = 0,
    begin: bool = True,
    end: bool = True,
    unordered: bool = False,
) -> bytes:
    """One I-DATA chunk (type 64, RFC 8260); the PPID field holds ``ppid`` when ``begin``, else ``fsn``."""
    flags = (FLAG_UNORDERED if unordered else 0) | (FLAG_BEGIN if begin else 0) | (FLAG_END if end else 0)
    length = IDATA_CHUNK_LEN + len(data)
    return (
        IDATA_CHUNK.pack(CHUNK_IDATA, flags, length, tsn & 0xFFFFFFFF, stream, 0, mid, ppid if begin else fsn)
        + data
        + b"\0" * (-length & 3)
    )


def sack_chunk(cum_tsn: int, a_rwnd: int = 65536) -> bytes:
    """A SACK chunk (type 3) without gap reports (a non-DATA chunk to bundle in tests)."""
    return _SACK.pack(CHUNK_SACK, 0, 16, cum_tsn & 0xFFFFFFFF, a_rwnd, 0, 0)


def sctp(sport: int, dport: int, chunks: Sequence[bytes], *, vtag: int = 0, checksum: bool = True) -> bytes:
    """SCTP common header + ``chunks`` (already padded), with the CRC32c filled in (stored
    little-endian as RFC 9260 appendix B prescribes).  ``checksum=False`` leaves it 0, as captures taken
    on hosts with checksum offload show."""
    body = b"".join(chunks)
    head = common_header(sport, dport, vtag)
    if not checksum:
        return head + _ZERO_CHECKSUM + body
    return head + CHECKSUM.pack(_crc()(head + _ZERO_CHECKSUM + body)) + body


def sctp_packet(
    src: str,
    dst: str,
    sport: int,
    dport: int,
    chunks: Sequence[bytes],
    *,
    vtag: int = 0,
    ident: int = 0,
    checksum: bool = True,
) -> bytes:
    """An IP packet (IPv4 or IPv6 by the address form) carrying one SCTP packet."""
    return ip_packet(
        sctp(sport, dport, chunks, vtag=vtag, checksum=checksum), src, dst, PROTO_SCTP, ident=ident
    )


# ----------------------------------------------------------------------------------------------
# parse: chunks and reassembly


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


#: ``cut(frame, anomaly name, detail)``: report a layer cut short (the network decoder's, which names
#: the snapshot length when that is the cause).
Cut = Callable[[Frame, str, str], None]


class SctpReader:
    """The chunks of SCTP packets into user messages (:class:`SctpUnit`), with DATA and I-DATA
    reassembly (see the module docstring).  ``finish`` reports what never completed."""

    def __init__(self, anomalies: list[Anomaly], cut: Cut) -> None:
        self._anomalies = anomalies
        self._cut = cut
        self._pending: dict[tuple[object, ...], _SctpPartial] = {}
        self._idata_pending: dict[tuple[object, ...], _IdataPartial] = {}

    #: ``chunks(frame, data, off, end, s, d)``: the user messages completed by the SCTP packet
    #: ``data[off:end]`` (from ``s`` to ``d``).  A whole DATA chunk is read here; fragments, I-DATA and
    #: bad lengths go to :meth:`_user_data`.  Compiled with the constants as literals
    #: (:mod:`sigdiag.carrier.hot`): it runs once per bundled packet and its loop once per chunk.
    chunks = compile_hot(
        """
def chunks(self, frame, data, off, end, s, d):
    if end - off < {common_len}:
        self._cut(frame, "sctp.truncated_chunk", f"SCTP common header: {{max(end - off, 0)}} of 12 octets")
        return []
    sport, dport = _PORTS(data, off)
    pos = off + {common_len}
    units = []
    number = frame.number
    ts = frame.ts
    while end - pos >= {header_len}:
        if end - pos >= {data_len}:  # read as DATA at once: the common chunk
            ctype, flags, clen, _tsn, stream, _ssn, ppid = _DATA(data, pos)
        else:
            ctype, flags, clen = _HEADER(data, pos)
        if clen < {header_len}:
            self._bad_length(frame, f"chunk type {{ctype}} length {{clen}}")
            break
        if pos + clen > end:
            detail = f"chunk type {{ctype}} of {{clen}} octets, {{end - pos}} present"
            self._cut(frame, "sctp.truncated_chunk", detail)
            break
        if ctype == {chunk_data} and clen > {data_len} and flags & {whole} == {whole}:
            payload = data[pos + {data_len} : pos + clen]  # a whole user message
            units.append(SctpUnit(number, ts, s, d, sport, dport, ppid, stream, payload))
        elif (ctype == {chunk_data} or ctype == {chunk_idata}) and not self._user_data(
            frame, data, pos, ctype, flags, clen, (s, sport, d, dport), units
        ):
            break
        pos += (clen + 3) & ~3
    return units
""",
        {
            "_PORTS": _PORTS.unpack_from,
            "_DATA": DATA_CHUNK.unpack_from,
            "_HEADER": CHUNK_HEADER.unpack_from,
            "SctpUnit": SctpUnit,
        },
        common_len=COMMON_HEADER_LEN,
        header_len=CHUNK_HEADER_LEN,
        data_len=DATA_CHUNK_LEN,
        chunk_data=CHUNK_DATA,
        chunk_idata=CHUNK_IDATA,
        whole=FLAGS_WHOLE,
    )

    def _bad_length(self, frame: Frame, detail: str) -> None:
        self._anomalies.append(Anomaly("sctp.bad_chunk_length", frame.number, detail))

    def _user_data(
        self,
        frame: Frame,
        data: bytes,
        pos: int,
        ctype: int,
        flags: int,
        clen: int,
        ends: tuple[str, int, str, int],
        units: list[SctpUnit],
    ) -> bool:
        """One DATA or I-DATA chunk (``ctype``, length ``clen`` at ``pos``) between ``ends`` (source and
        destination address and port); False when the rest of the packet is to be skipped."""
        idata = ctype == CHUNK_IDATA
        size = IDATA_CHUNK_LEN if idata else DATA_CHUNK_LEN
        if clen <= size:
            self._bad_length(frame, f"{'I-DATA' if idata else 'DATA'} chunk length {clen} (header is {size})")
            return clen >= size
        if idata:
            tsn, stream, mid, ppid = _IDATA_TAIL.unpack_from(data, pos + CHUNK_HEADER_LEN)
        else:
            _t, _f, _l, tsn, stream, _ssn, ppid = DATA_CHUNK.unpack_from(data, pos)
        payload = data[pos + size : pos + clen]
        s, sport, d, dport = ends
        if flags & FLAGS_WHOLE != FLAGS_WHOLE:
            key: tuple[object, ...] = (s, sport, d, dport, stream, flags & FLAG_UNORDERED)
            if idata:
                done = self._idata_fragment(frame, (*key, mid), flags, ppid, payload)
            else:
                done = self._fragment(frame, key, flags, tsn, ppid, payload)
            if done is None:
                return True
            ppid, payload = done
        units.append(SctpUnit(frame.number, frame.ts, s, d, sport, dport, ppid, stream, payload))
        return True

    def _incomplete(self, frame: int, key: tuple[object, ...], why: str) -> None:
        self._anomalies.append(
            Anomaly(
                "sctp.reassembly_incomplete",
                frame,
                f"{key[0]}:{key[1]} -> {key[2]}:{key[3]} stream {key[4]}: user message {why}",
            )
        )

    def _too_large(self, frame: int) -> None:
        detail = f"user message past {MAX_SCTP_MESSAGE} octets dropped"
        self._anomalies.append(Anomaly("sctp.reassembly_too_large", frame, detail))

    def _fragment(
        self, frame: Frame, key: tuple[object, ...], flags: int, tsn: int, ppid: int, data: bytes
    ) -> tuple[int, bytes] | None:
        pending = self._pending
        p = pending.get(key)
        if flags & FLAG_BEGIN:  # first fragment
            if p is not None and tsn == p.first and tsn:
                return None  # the first fragment again: a retransmission
            if p is not None:
                self._incomplete(frame.number, key, f"abandoned: a new one began at TSN {tsn}")
                del pending[key]
            while len(pending) >= MAX_SCTP_PENDING:
                okey = next(iter(pending))
                del pending[okey]
                self._incomplete(frame.number, okey, "evicted: too many messages being reassembled")
            pending[key] = _SctpPartial(tsn, ppid, data)
            return None
        if p is None:
            self._incomplete(frame.number, key, f"fragment at TSN {tsn} without its first fragment")
            return None
        if tsn == (p.last + 1) % _SEQ_MOD or (tsn == 0 and p.last == 0):
            p.last = tsn
        elif (tsn - p.first) % _SEQ_MOD <= (p.last - p.first) % _SEQ_MOD:
            return None  # retransmission of a fragment already held
        else:
            del pending[key]
            self._incomplete(frame.number, key, f"fragment TSN {tsn} does not follow TSN {p.last}")
            return None
        p.parts.append(data)
        p.size += len(data)
        if p.size > MAX_SCTP_MESSAGE:
            del pending[key]
            self._too_large(frame.number)
            return None
        if flags & FLAG_END:  # last fragment
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
                self._incomplete(frame.number, okey, "evicted: too many I-DATA messages being reassembled")
            q = pending[key] = _IdataPartial()
        if flags & FLAG_BEGIN:
            fsn = 0
            q.ppid = ppid_fsn
        else:
            fsn = ppid_fsn
        if fsn not in q.parts:
            q.parts[fsn] = data
            q.size += len(data)
        if flags & FLAG_END:
            q.last_fsn = fsn
        if q.size > MAX_SCTP_MESSAGE:
            del pending[key]
            self._too_large(frame.number)
            return None
        if q.ppid < 0 or q.last_fsn < 0 or len(q.parts) <= q.last_fsn:
            return None
        parts = q.parts
        if any(i not in parts for i in range(q.last_fsn + 1)):
            return None
        del pending[key]
        return q.ppid, b"".join(parts[i] for i in range(q.last_fsn + 1))

    def finish(self, frame: int) -> None:
        """End of capture: report the user messages that never completed."""
        for key, p in self._pending.items():
            self._incomplete(frame, key, f"never completed ({len(p.parts)} fragment(s), {p.size} octets)")
        self._pending.clear()
        for key, q in self._idata_pending.items():
            self._incomplete(frame, key, f"I-DATA message never completed ({len(q.parts)} fragment(s))")
        self._idata_pending.clear()
