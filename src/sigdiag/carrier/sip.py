"""SIP-I / SIP-T: ISUP bodies carried in SIP messages (ITU-T Q.1912.5, RFC 3204).

:class:`SipDecoder` reads :class:`~sigdiag.carrier.units.StreamUnit` objects: a UDP datagram holds one
SIP message; a TCP connection is a byte stream of messages framed by ``Content-Length`` (kept in a
bounded buffer per connection and direction).  Traffic that does not start with a SIP start line (RTP,
MGCP, anything else) is ignored without an anomaly.

The ISUP body is the message body when ``Content-Type`` is ``application/ISUP`` (case-insensitive,
parameters ``version=...``, ``base=...``), or a body part of the same type inside ``multipart/mixed``
(or any ``multipart/*``, nested up to three levels).  Bodies are never decoded as text: ISUP is binary.
The body starts at the message type (no routing label, no CIC), so payloads have ``has_cic=False``, no
point codes and ``carrier="sip-i"``.

The ISUP variant comes from ``version`` (then ``base``): ``itu*``, ``etsi*``, ``q763``, ``q767``,
``spirou``, ``ttc``, ``uk*``, ``china`` mean ITU tables, ``ansi*``, ``gr-317``, ``t1.113`` ANSI tables.  An
unknown version adds ``sip.unknown_isup_version`` to the payload and uses ITU.  A variant set in the
settings (globally or for the link) wins over the body's parameters.

Header names are matched case-insensitively and in compact form (``c``, ``l``, ``i``).
"""

from __future__ import annotations

import binascii
import fnmatch
import functools
import re
from collections.abc import Iterable, Mapping, Sequence

from sigdiag.anomalies import Anomaly
from sigdiag.carrier.mtp import internal_error
from sigdiag.carrier.payload import Payload
from sigdiag.carrier.sigtran import link_name
from sigdiag.carrier.units import StreamUnit
from sigdiag.settings import DecodeSettings

__all__ = [
    "SipDecoder",
    "build_sip_invite_with_isup",
    "build_sip_message",
    "isup_variant_from_version",
    "parse_content_type",
]

_METHOD_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ-_.!%*+`'~")
#: The headers this layer reads, at a line start (in a lower-cased copy), and their compact forms.
_HEADER_RE = re.compile(
    rb"\n(c(?:ontent-(?:type|length|transfer-encoding)|all-id)?|[li])[ \t]*:[ \t]*([^\r\n]*)"
)
_SPACE = b" \t"
_COMPACT = {b"c": "content-type", b"l": "content-length", b"i": "call-id"}
_FOLD_RE = re.compile(rb"\r?\n[ \t]+")
_PARAM_RE = re.compile(r';\s*([^=;\s]+)\s*(?:=\s*("(?:[^"\\]|\\.)*"|[^;]*))?')
_MAX_DEPTH = 3
_MAX_LINE = 8192

_ANSI_PREFIXES = ("ansi", "gr-317", "gr317", "t1.113", "t1113")
# ITU-T ISUP and its recommendations, then the national variants built on it.
_ITU_PREFIXES: tuple[str, ...] = ("itu", "etsi", "q763", "q.763", "q767", "q.767", "q.1912", "q1912")
_ITU_PREFIXES += ("spirou", "ttc", "jt-", "uk", "china", "nicc")


def isup_variant_from_version(version: str) -> str | None:
    """``"itu"`` or ``"ansi"`` for an ``application/ISUP`` version (or base) value, else None."""
    v = version.strip().strip('"').lower()
    if not v:
        return None
    if v.startswith(_ANSI_PREFIXES):
        return "ansi"
    if v.startswith(_ITU_PREFIXES):
        return "itu"
    return None


@functools.lru_cache(maxsize=1024)
def parse_content_type(value: str) -> tuple[str, dict[str, str]]:
    """``("type/subtype", {param: value})``, type and parameter names in lower case, values unquoted
    with their case kept.  Results are cached: do not modify the returned dict."""
    media, sep, rest = value.partition(";")
    params: dict[str, str] = {}
    if sep:
        for m in _PARAM_RE.finditer(";" + rest):
            raw = m.group(2) or ""
            raw = raw.strip()
            if len(raw) >= 2 and raw[0] == '"' and raw[-1] == '"':
                raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
            params[m.group(1).lower()] = raw
    return media.strip().lower(), params


def _start_line_end(data: bytes | bytearray, start: int = 0) -> int:
    """Index of the ``\\n`` ending the start line at ``start`` if that line is a SIP start line, else -1.

    Returns -2 when no line end is present yet but the bytes so far could begin a SIP message.
    """
    eol = data.find(b"\n", start, start + _MAX_LINE)
    if eol < 0:
        head = bytes(data[start : start + 16])
        if len(data) - start >= _MAX_LINE:
            return -1
        if b"SIP/2.0 ".startswith(head[:8]) or head.startswith(b"SIP/2.0"):
            return -2
        word = head.split(b" ", 1)[0]
        if word and all(c in _METHOD_CHARS for c in word) and (b" " in head or len(head) < 16):
            return -2
        return -1
    line = bytes(data[start:eol]).rstrip(b"\r")
    if line.startswith(b"SIP/2.0 ") or line.endswith(b" SIP/2.0"):
        return eol
    return -1


def _next_start_line(data: bytes | bytearray) -> int:
    """Index of the first line after the first one that is (or may become) a SIP start line, or -1."""
    pos = data.find(b"\n")
    while pos >= 0:
        if _start_line_end(data, pos + 1) != -1:
            return pos + 1
        pos = data.find(b"\n", pos + 1)
    return -1


def _header_end(data: bytes | bytearray, start: int = 0) -> tuple[int, int]:
    """(end of the header block, start of the body) or (-1, -1) if the blank line is not there yet."""
    a = data.find(b"\r\n\r\n", start)
    b = data.find(b"\n\n", start)
    if a >= 0 and (b < 0 or a <= b):
        return a, a + 4
    if b >= 0:
        return b, b + 2
    return -1, -1


def _parse_headers(block: bytes) -> dict[str, str]:
    """The headers this layer needs (Content-Type, Content-Length, Call-ID, Content-Transfer-Encoding;
    compact forms ``c``, ``l``, ``i`` too), name in lower case -> value; the first occurrence wins."""
    headers: dict[str, str] = {}
    # names are matched in a lower-cased copy whose offsets are one past the block's
    low = b"\n" + block.lower()
    for m in _HEADER_RE.finditer(low):
        nl = low.find(b"\n", m.end(2))
        if 0 <= nl < len(low) - 1 and low[nl + 1] in _SPACE:  # a folded value: unfold, then read again
            return _parse_headers(_FOLD_RE.sub(b" ", block))  # no line then starts with white space
        name = m.group(1)
        key = _COMPACT.get(name) or name.decode("latin-1")
        if key not in headers:
            headers[key] = block[m.start(2) - 1 : m.end(2) - 1].strip().decode("latin-1")
    return headers


class _SipLink:
    __slots__ = ("default_variant", "forced_variant", "link")

    def __init__(self, link: str, default_variant: str, forced_variant: str | None) -> None:
        self.link = link
        self.default_variant = default_variant
        self.forced_variant = forced_variant


class SipDecoder:
    """Extracts ISUP bodies from SIP over UDP and TCP (see the module docstring).

    ``decode`` returns the payloads found in one unit (for TCP, in the messages that the unit completed).
    Anomalies that prevent a payload go to ``anomalies``; those about a payload travel on it.
    """

    def __init__(
        self,
        settings: DecodeSettings,
        anomalies: list[Anomaly],
        *,
        max_buffer: int = 1 << 20,
        max_connections: int = 4096,
    ) -> None:
        self.settings = settings
        self.anomalies = anomalies
        self.max_buffer = max_buffer
        self.max_connections = max_connections
        self._links: dict[tuple[str, int, str, int], _SipLink] = {}
        self._streams: dict[tuple[str, int, str, int], bytearray] = {}

    # ------------------------------------------------------------------------------------------
    def _link(self, unit: StreamUnit) -> _SipLink:
        key = (unit.src, unit.sport, unit.dst, unit.dport)
        info = self._links.get(key)
        if info is None:
            link = link_name("sip-i", unit.src, unit.sport, unit.dst, unit.dport)
            _, variant = self.settings.for_link(link)
            forced = self.settings.variant
            for override in self.settings.links:
                if fnmatch.fnmatchcase(link, override.match):
                    forced = override.variant or forced
                    break
            if len(self._links) >= 65536:
                self._links.clear()  # bounded memory on captures with endless port churn
            info = self._links[key] = _SipLink(link, variant, forced)
        return info

    def decode(self, unit: StreamUnit) -> list[Payload]:
        try:
            if unit.proto == "tcp":
                return self._tcp(unit)
            data = unit.data
            if _start_line_end(data) < 0:
                return []
            return self._message(unit, bytes(data), stream=False)
        except Exception as exc:  # pragma: no cover - a bug: never stop the capture
            self.anomalies.append(internal_error(unit.frame, "SIP", exc))
            return []

    def finish(self) -> None:
        """End of capture: forget the per-connection buffers.

        A message still incomplete there was cut by the end of the capture, which is normal, so it is
        dropped without an anomaly.
        """
        self._streams.clear()

    # ------------------------------------------------------------------------------------------
    def _tcp(self, unit: StreamUnit) -> list[Payload]:
        key = (unit.src, unit.sport, unit.dst, unit.dport)
        buf = self._streams.get(key)
        data = unit.data
        if buf is None:
            probe = data.lstrip(b"\r\n")  # keep-alive line ends between messages
            if not probe or _start_line_end(probe) == -1:
                return []
            if len(self._streams) >= self.max_connections:
                self._streams.pop(next(iter(self._streams)))
            buf = self._streams[key] = bytearray()
        buf += data
        out: list[Payload] = []
        while True:
            got = self._next_message(unit, key, buf)
            if got is None:
                break
            message, parsed = got
            out.extend(self._message(unit, message, stream=True, parsed=parsed))
        if key in self._streams and not self._streams[key]:
            del self._streams[key]
        return out

    def _next_message(
        self, unit: StreamUnit, key: tuple[str, int, str, int], buf: bytearray
    ) -> tuple[bytes, tuple[dict[str, str], int]] | None:
        """The next complete message of a connection's buffer (taken out of it) with its parsed headers
        and body offset; None when no complete message is there yet (or the buffer was dropped)."""
        while True:
            # keep-alive CRLFs between messages
            skip = 0
            while skip < len(buf) and buf[skip] in (0x0D, 0x0A):
                skip += 1
            if skip:
                del buf[:skip]
            if not buf:
                return None
            first = _start_line_end(buf)
            if first == -2:
                return None  # the start line is not complete yet
            if first == -1:
                resume = _next_start_line(buf)
                self.anomalies.append(
                    Anomaly(
                        "sip.malformed",
                        unit.frame,
                        f"a TCP stream lost its SIP framing; "
                        f"{len(buf) if resume < 0 else resume} octets skipped",
                    )
                )
                if resume < 0:
                    del self._streams[key]
                    return None
                del buf[:resume]
                continue
            hdr_end, body_start = _header_end(buf)
            if hdr_end < 0:
                if len(buf) > self.max_buffer:
                    self._overflow(unit, key)
                return None
            headers = _parse_headers(bytes(buf[:hdr_end]))
            cl_text = headers.get("content-length", "0")
            try:
                clen = int(cl_text)
                if clen < 0:
                    raise ValueError
            except ValueError:
                self.anomalies.append(
                    Anomaly(
                        "sip.malformed",
                        unit.frame,
                        f"Content-Length {cl_text!r} on a TCP stream; its buffer was dropped",
                    )
                )
                del self._streams[key]
                return None
            total = body_start + clen
            if total > len(buf):
                if total > self.max_buffer:
                    self._overflow(unit, key)
                return None
            message = bytes(buf[:total])
            del buf[:total]
            return message, (headers, body_start)

    def _overflow(self, unit: StreamUnit, key: tuple[str, int, str, int]) -> None:
        self.anomalies.append(
            Anomaly(
                "sip.malformed",
                unit.frame,
                f"a SIP message on TCP grew past {self.max_buffer} octets; dropped",
            )
        )
        self._streams.pop(key, None)

    # ------------------------------------------------------------------------------------------
    def _message(
        self,
        unit: StreamUnit,
        message: bytes,
        *,
        stream: bool,
        parsed: tuple[dict[str, str], int] | None = None,
    ) -> list[Payload]:
        frame = unit.frame
        if parsed is None:
            hdr_end, body_start = _header_end(message)
            if hdr_end < 0:
                # headers only, no blank line: a message without a body (tolerated on UDP)
                hdr_end = body_start = len(message)
            headers = _parse_headers(message[:hdr_end])
        else:
            headers, body_start = parsed
        ctype = headers.get("content-type")
        if ctype is None:
            return []
        media, params = parse_content_type(ctype)
        if media != "application/isup" and not media.startswith("multipart/"):
            return []
        body = message[body_start:]
        if not stream:
            cl_text = headers.get("content-length")
            if cl_text is not None:
                body = self._datagram_body(frame, cl_text, body)
        call_id = headers.get("call-id")
        bodies: list[tuple[bytes, dict[str, str]]] = []
        self._collect(frame, media, params, headers.get("content-transfer-encoding"), body, bodies, 0)
        if not bodies:
            return []
        info = self._link(unit)
        out = []
        for isup, isup_params in bodies:
            extra: list[Anomaly] = []
            variant = info.forced_variant
            if variant is None:
                version = isup_params.get("version")
                base = isup_params.get("base")
                variant = (isup_variant_from_version(version) if version else None) or (
                    isup_variant_from_version(base) if base else None
                )
                if variant is None:
                    if version or base:
                        extra.append(
                            Anomaly(
                                "sip.unknown_isup_version",
                                frame,
                                f"version={version!r} base={base!r}; using ITU tables",
                            )
                        )
                        variant = "itu"
                    else:
                        variant = info.default_variant
            payload = Payload(
                frame,
                unit.ts,
                "sip-i",
                "isup",
                variant,
                None,
                None,
                None,
                None,
                None,
                isup,
                False,
                info.link,
                extra,
                call_id,
            )
            out.append(payload)
        return out

    def _datagram_body(self, frame: int, cl_text: str, body: bytes) -> bytes:
        """A datagram's body as its Content-Length says (a longer body is cut, a shorter one noted)."""
        try:
            clen = int(cl_text)
        except ValueError:
            clen = -1
        if clen < 0:
            self.anomalies.append(Anomaly("sip.malformed", frame, f"Content-Length {cl_text!r}"))
        elif clen < len(body):
            body = body[:clen]
        elif clen > len(body):
            detail = f"Content-Length {clen}, {len(body)} octets present"
            self.anomalies.append(Anomaly("sip.truncated_body", frame, detail))
        return body

    def _collect(
        self,
        frame: int,
        media: str,
        params: dict[str, str],
        encoding: str | None,
        body: bytes,
        out: list[tuple[bytes, dict[str, str]]],
        depth: int,
    ) -> None:
        if media == "application/isup":
            if encoding and encoding.strip().lower() == "base64":
                try:
                    body = binascii.a2b_base64(b"".join(body.split()), strict_mode=True)
                except (binascii.Error, ValueError):
                    self.anomalies.append(
                        Anomaly("sip.malformed", frame, "application/ISUP body is not base64")
                    )
                    return
            out.append((body, params))
            return
        if not media.startswith("multipart/") or depth >= _MAX_DEPTH:
            return
        boundary = params.get("boundary")
        if not boundary:
            self.anomalies.append(
                Anomaly("sip.bad_multipart", frame, f"{media} without a boundary parameter")
            )
            return
        parts = _split_multipart(body, boundary.encode("latin-1", "replace"))
        if parts is None:
            self.anomalies.append(
                Anomaly("sip.bad_multipart", frame, f"boundary {boundary!r} does not occur in the body")
            )
            return
        for part_headers, content in parts:
            ptype = part_headers.get("content-type")
            if ptype is None:
                continue
            pmedia, pparams = parse_content_type(ptype)
            self._collect(
                frame, pmedia, pparams, part_headers.get("content-transfer-encoding"), content, out, depth + 1
            )


def _find_delimiter(body: bytes, delim: bytes, start: int) -> int:
    """Index of the next delimiter line at or after ``start``, or -1.

    A delimiter (RFC 2046) starts a line and is followed by ``--`` (the close delimiter), or by
    optional white space and the line end, or by the end of the body; other occurrences of the
    boundary text inside binary content are not delimiters.
    """
    n = len(body)
    pos = body.find(delim, start)
    while pos >= 0:
        if pos == 0 or body[pos - 1] == 0x0A:
            after = pos + len(delim)
            while after < n and body[after] in (0x20, 0x09):
                after += 1
            if after >= n or body[after] == 0x0A or body.startswith(b"\r\n", after):
                return pos
            if body.startswith(b"--", pos + len(delim)):
                return pos
        pos = body.find(delim, pos + 1)
    return -1


def _split_multipart(body: bytes, boundary: bytes) -> list[tuple[dict[str, str], bytes]] | None:
    """The (headers, content) of each body part, or None if no delimiter occurs (RFC 2046)."""
    delim = b"--" + boundary
    pos = _find_delimiter(body, delim, 0)
    if pos < 0:
        return None
    parts: list[tuple[dict[str, str], bytes]] = []
    n = len(body)
    while True:
        after = pos + len(delim)
        if body.startswith(b"--", after):
            break  # close delimiter
        eol = body.find(b"\n", after)
        if eol < 0:
            break
        start = eol + 1
        nxt = _find_delimiter(body, delim, start)
        if nxt < 0:
            end = n  # no close delimiter: the part runs to the end of the body
        else:
            end = nxt - 1  # the line end before a delimiter belongs to the delimiter
            if end > start and body[end - 1] == 0x0D:
                end -= 1
            end = max(end, start)
        part = body[start:end]
        if part.startswith(b"\r\n"):
            headers: dict[str, str] = {}
            content = part[2:]
        elif part.startswith(b"\n"):
            headers, content = {}, part[1:]
        else:
            hdr_end, content_start = _header_end(part)
            if hdr_end < 0:
                headers, content = _parse_headers(part), b""
            else:
                headers, content = _parse_headers(part[:hdr_end]), part[content_start:]
        parts.append((headers, content))
        if nxt < 0:
            break
        pos = nxt
    return parts


# --------------------------------------------------------------------------------------------------
# Encode side

_CRLF = "\r\n"


def build_sip_message(
    start_line: str,
    headers: Mapping[str, str] | Sequence[tuple[str, str]],
    isup_body: bytes | None,
    variant_version: str = "itu-t92+",
    sdp: bytes | str | None = None,
    *,
    base: str | None = None,
    boundary: str = "sigdiag-boundary",
    compact: bool = False,
) -> bytes:
    """A SIP message (request or response) with an ISUP body, as SIP-I/SIP-T gateways send it.

    ``headers`` are written in order; any ``Content-Type``/``Content-Length``/``MIME-Version`` given is
    replaced.  With ``sdp`` the body is ``multipart/mixed`` (SDP part, then the ISUP part); without it
    the body is the ISUP part alone; with neither the message has no body.  The ISUP part is
    ``application/ISUP; version=<variant_version>[; base=<base>]`` with
    ``Content-Disposition: signal;handling=optional``.  ``compact`` uses the ``c:``/``l:`` forms.
    """
    items: Iterable[tuple[str, str]] = headers.items() if isinstance(headers, Mapping) else headers
    drop = {"content-type", "content-length", "mime-version", "c", "l"}
    lines = [start_line] + [f"{name}: {value}" for name, value in items if name.strip().lower() not in drop]
    isup_type = f"application/ISUP;version={variant_version}" + (f";base={base}" if base else "")
    sdp_bytes = sdp.encode("utf-8") if isinstance(sdp, str) else sdp
    body = b""
    ctype: str | None = None
    if isup_body is not None and sdp_bytes is not None:
        isup_body = bytes(isup_body)
        bnd = boundary
        while (bnd.encode() in isup_body) or (bnd.encode() in sdp_bytes):
            bnd += "x"
        b = bnd.encode()
        body = (
            b"--"
            + b
            + b"\r\nContent-Type: application/sdp\r\n\r\n"
            + sdp_bytes
            + b"\r\n--"
            + b
            + b"\r\nContent-Type: "
            + isup_type.encode()
            + b"\r\nContent-Disposition: signal;handling=optional"
            + b"\r\n\r\n"
            + isup_body
            + b"\r\n--"
            + b
            + b"--\r\n"
        )
        ctype = f"multipart/mixed;boundary={bnd}"
        lines.append("MIME-Version: 1.0")
    elif isup_body is not None:
        body = bytes(isup_body)
        ctype = isup_type
        lines.append("Content-Disposition: signal;handling=optional")
    elif sdp_bytes is not None:
        body = sdp_bytes
        ctype = "application/sdp"
    if ctype is not None:
        lines.append(f"{'c' if compact else 'Content-Type'}: {ctype}")
    lines.append(f"{'l' if compact else 'Content-Length'}: {len(body)}")
    return (_CRLF.join(lines) + _CRLF + _CRLF).encode("utf-8") + body


def build_sip_invite_with_isup(
    isup_body: bytes,
    *,
    call_id: str,
    request_uri: str = "sip:+15550100@192.0.2.20:5060",
    from_uri: str = "sip:+15550199@192.0.2.10:5060",
    to_uri: str | None = None,
    via: str = "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-sigdiag",
    cseq: int = 1,
    from_tag: str = "sigdiag",
    variant_version: str = "itu-t92+",
    base: str | None = None,
    sdp: bytes | str | None = None,
    extra_headers: Sequence[tuple[str, str]] = (),
    compact: bool = False,
) -> bytes:
    """An INVITE carrying an ISUP IAM (``isup_body`` starts at the message type), optionally with SDP."""
    headers: list[tuple[str, str]] = [
        ("Via", via),
        ("Max-Forwards", "70"),
        ("From", f"<{from_uri}>;tag={from_tag}"),
        ("To", f"<{to_uri or request_uri}>"),
        ("i" if compact else "Call-ID", call_id),
        ("CSeq", f"{cseq} INVITE"),
        ("Contact", f"<{from_uri}>"),
        *extra_headers,
    ]
    return build_sip_message(
        f"INVITE {request_uri} SIP/2.0", headers, isup_body, variant_version, sdp, base=base, compact=compact
    )
