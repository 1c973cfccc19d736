"""SIP-I (ITU-T Q.1912.5) call flows: each ISUP message of a call becomes the SIP message that carries
it, with the SIP messages that carry none (100 Trying, ACK, 200 OK to BYE/CANCEL/INFO, 487).

Mapping (``F`` forward from the calling side, ``B`` backward):

=================================  ===========================================================
ISUP                               SIP
=================================  ===========================================================
IAM (F)                            INVITE with SDP and the IAM (multipart/mixed); 100 Trying (B)
SAM, FAC, CFN, other               INFO with the message; 200 OK (no body)
ACM (B)                            180 Ringing with the ACM
CPG (B)                            183 Session Progress with the CPG
ANM / CON (B)                      200 OK to the INVITE with SDP and the message; ACK (F)
REL (B) before answer              final response by cause (486, 404, 480, 503, ...) with the REL
REL (F) before answer              CANCEL with the REL
REL after answer (either side)     BYE with the REL
RLC                                no ISUP body: 200 OK to the BYE, ACK to the final response, or
                                   200 OK to the CANCEL + 487 + ACK
=================================  ===========================================================

The ISUP body is ``application/ISUP; version=itu-t92+`` (ITU) or ``version=ansi88`` (ANSI): it starts at
the message type, without CIC, as the SIP-I reader expects.
"""

from __future__ import annotations

import ipaddress

from sigdiag.carrier.sip import build_sip_message
from sigdiag.codec import decode_bytes
from sigdiag.simulate.isupgen import MESSAGE_TYPE

__all__ = ["SipDialog", "sip_status"]

_IAM, _ACM, _CON, _ANM, _REL, _RLC, _CPG = (
    MESSAGE_TYPE[m] for m in ("IAM", "ACM", "CON", "ANM", "REL", "RLC", "CPG")
)

#: Q.1912.5 Table 12 (cause value -> SIP status of the final response).
_STATUS: dict[int, tuple[int, str]] = {
    1: (404, "Not Found"),
    2: (404, "Not Found"),
    3: (404, "Not Found"),
    17: (486, "Busy Here"),
    18: (408, "Request Timeout"),
    19: (480, "Temporarily Unavailable"),
    20: (480, "Temporarily Unavailable"),
    21: (603, "Decline"),
    22: (410, "Gone"),
    25: (483, "Too Many Hops"),
    27: (502, "Bad Gateway"),
    28: (484, "Address Incomplete"),
    31: (480, "Temporarily Unavailable"),
    34: (503, "Service Unavailable"),
    38: (503, "Service Unavailable"),
    41: (503, "Service Unavailable"),
    42: (503, "Service Unavailable"),
    44: (503, "Service Unavailable"),
    47: (503, "Service Unavailable"),
    102: (504, "Server Time-out"),
    111: (500, "Server Internal Error"),
    127: (500, "Server Internal Error"),
}


def sip_status(cause: int) -> tuple[int, str]:
    """The SIP final response for a release cause (Q.1912.5 mapping, 480 for normal-class causes)."""
    if cause in _STATUS:
        return _STATUS[cause]
    return (480, "Temporarily Unavailable") if cause < 32 else (500, "Server Internal Error")


def _host(ip: str) -> str:
    return f"[{ip}]" if ipaddress.ip_address(ip).version == 6 else ip


class SipDialog:
    """One call's SIP dialog between gateway A (calling side) and gateway B.

    :meth:`map` turns one ISUP message of the call into ``[(delay_us, direction, payload, carries_isup)]``
    where direction 0 is A -> B.
    """

    __slots__ = (
        "_bcseq",
        "_branch",
        "_cause",
        "_cseq",
        "_ftag",
        "_ttag",
        "a",
        "answered",
        "b",
        "call_id",
        "called",
        "calling",
        "ended",
        "ip6",
        "variant",
        "version",
    )

    def __init__(self, call_id: str, a_ip: str, b_ip: str, calling: str, called: str, variant: str) -> None:
        self.call_id = call_id
        self.a = _host(a_ip)
        self.b = _host(b_ip)
        self.ip6 = ipaddress.ip_address(a_ip).version == 6
        self.calling = calling or "anonymous"
        self.called = called
        self.variant = variant
        self.version = "ansi88" if variant == "ansi" else "itu-t92+"
        tag = call_id.split("@", 1)[0]
        self._ftag = f"a{tag}"
        self._ttag = f"b{tag}"
        self._branch = 0
        self._cseq = 1
        self._bcseq = 1
        self.answered = False
        self.ended = False
        self._cause = 16

    # -- headers ------------------------------------------------------------------------------------
    def _via(self, direction: int) -> str:
        self._branch += 1
        host = self.a if direction == 0 else self.b
        return f"SIP/2.0/UDP {host}:5060;branch=z9hG4bK{self._ftag}{self._branch}"

    def _from_to(self, direction: int, to_tag: bool) -> list[tuple[str, str]]:
        a_uri = f"<sip:{self.calling}@{self.a};user=phone>;tag={self._ftag}"
        b_uri = f"<sip:{self.called}@{self.b};user=phone>" + (f";tag={self._ttag}" if to_tag else "")
        if direction == 0:
            return [("From", a_uri), ("To", b_uri)]
        return [("From", b_uri), ("To", a_uri)]

    def _sdp(self, direction: int) -> str:
        host = (self.a if direction == 0 else self.b).strip("[]")
        ipv = "IP6" if self.ip6 else "IP4"
        port = 20000 + (sum(map(ord, self.call_id)) % 5000) * 2
        return (
            f"v=0\r\no=- {port} 1 IN {ipv} {host}\r\ns=-\r\nc=IN {ipv} {host}\r\nt=0 0\r\n"
            f"m=audio {port} RTP/AVP 8 0\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\n"
        )

    def _request(
        self,
        method: str,
        direction: int,
        cseq: int,
        body: bytes | None,
        sdp: bool = False,
        to_tag: bool | None = None,
    ) -> bytes:
        uri = f"sip:{self.called}@{self.b};user=phone" if direction == 0 else f"sip:{self.calling}@{self.a}"
        headers = [
            ("Via", self._via(direction)),
            ("Max-Forwards", "70"),
            *self._from_to(direction, self.answered if to_tag is None else to_tag),
            ("Call-ID", self.call_id),
            ("CSeq", f"{cseq} {method}"),
        ]
        if method == "INVITE":
            headers.append(("Contact", f"<sip:{self.calling}@{self.a}>"))
        return build_sip_message(
            f"{method} {uri} SIP/2.0", headers, body, self.version, self._sdp(direction) if sdp else None
        )

    def _response(
        self,
        code: int,
        reason: str,
        direction: int,
        cseq: int,
        method: str,
        body: bytes | None,
        sdp: bool = False,
        to_tag: bool = True,
    ) -> bytes:
        # a response travels opposite to its request: 'direction' is the response's own direction
        req_dir = direction ^ 1
        host = self.a if req_dir == 0 else self.b
        headers = [
            ("Via", f"SIP/2.0/UDP {host}:5060;branch=z9hG4bK{self._ftag}{self._branch}"),
            *self._from_to(req_dir, to_tag),
            ("Call-ID", self.call_id),
            ("CSeq", f"{cseq} {method}"),
        ]
        if code // 100 == 2 and method == "INVITE":
            headers.append(("Contact", f"<sip:{self.called}@{self.b}>"))
        if code >= 300 and body is not None:
            headers.append(("Reason", f"Q.850;cause={self._cause}"))
        return build_sip_message(
            f"SIP/2.0 {code} {reason}", headers, body, self.version, self._sdp(direction) if sdp else None
        )

    # -- mapping ------------------------------------------------------------------------------------
    def map(self, direction: int, body: bytes) -> list[tuple[int, int, bytes, bool]]:
        """SIP messages for one ISUP message (``body`` without CIC) sent in ``direction``."""
        mt = body[0]
        if mt == _IAM:
            return [
                (0, 0, self._request("INVITE", 0, 1, body, sdp=True, to_tag=False), True),
                (500, 1, self._response(100, "Trying", 1, 1, "INVITE", None, to_tag=False), False),
            ]
        if mt == _ACM and direction == 1 and not self.answered:
            return [(0, 1, self._response(180, "Ringing", 1, 1, "INVITE", body), True)]
        if mt == _CPG and direction == 1 and not self.answered:
            return [(0, 1, self._response(183, "Session Progress", 1, 1, "INVITE", body), True)]
        if mt in (_ANM, _CON) and direction == 1 and not self.answered and not self.ended:
            self.answered = True
            ok = self._response(200, "OK", 1, 1, "INVITE", body, sdp=True)
            ack = self._request("ACK", 0, 1, None)
            return [(0, 1, ok, True), (1000, 0, ack, False)]
        if mt == _REL:
            cause = decode_bytes(body, variant=self.variant, has_cic=False).cause
            self._cause = 16 if cause is None else cause
            if self.ended:
                return [(0, direction, self._info(direction, body), True)]
            self.ended = True
            if self.answered:
                if direction == 0:
                    self._cseq += 1
                    return [(0, 0, self._request("BYE", 0, self._cseq, body), True)]
                self._bcseq += 1
                return [(0, 1, self._request("BYE", 1, self._bcseq, body), True)]
            if direction == 0:
                return [(0, 0, self._request("CANCEL", 0, 1, body, to_tag=False), True)]
            code, reason = sip_status(self._cause)
            return [(0, 1, self._response(code, reason, 1, 1, "INVITE", body), True)]
        if mt == _RLC:
            # the other side's answer to the release: no ISUP body in SIP-I
            if self.answered:
                cseq = self._cseq if direction == 1 else self._bcseq
                return [(0, direction, self._response(200, "OK", direction, cseq, "BYE", None), False)]
            if direction == 1:  # answers a CANCEL
                return [
                    (0, 1, self._response(200, "OK", 1, 1, "CANCEL", None, to_tag=False), False),
                    (300, 1, self._response(487, "Request Terminated", 1, 1, "INVITE", None), False),
                    (1000, 0, self._request("ACK", 0, 1, None, to_tag=True), False),
                ]
            return [(0, 0, self._request("ACK", 0, 1, None, to_tag=True), False)]
        return [
            (0, direction, self._info(direction, body), True),
            (
                1000,
                direction ^ 1,
                self._response(
                    200, "OK", direction ^ 1, self._cseq if direction == 0 else self._bcseq, "INFO", None
                ),
                False,
            ),
        ]

    def _info(self, direction: int, body: bytes) -> bytes:
        if direction == 0:
            self._cseq += 1
            return self._request("INFO", 0, self._cseq, body)
        self._bcseq += 1
        return self._request("INFO", 1, self._bcseq, body)
