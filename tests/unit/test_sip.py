"""SIP-I / SIP-T: ISUP bodies in SIP over UDP and TCP, multipart bodies, variants, the builders."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sigdiag.anomalies import CATALOGUE, Anomaly
from sigdiag.carrier.sip import (
    SipDecoder,
    build_sip_invite_with_isup,
    build_sip_message,
    isup_variant_from_version,
    parse_content_type,
)
from sigdiag.carrier.units import StreamUnit
from sigdiag.model import Payload
from sigdiag.settings import DecodeSettings, LinkOverride
from tests.tshark_util import TSHARK, needs_tshark
from tests.unit._packets import udp_fragments, write_pcap

#: An ANSI IAM as a Sonus SBC sends it (fictitious numbers); it contains CR LF and "--" octets.
IAM = bytes.fromhex("011060000a0306 0d0390 90a2 0703105555 1238 87 c503 2d 2d 0d0a 00")
SDP = b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"

SONUS_STYLE = (
    b"INVITE sip:+15550100@192.0.2.20:5060 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK1\r\n"
    b"From: <sip:+15550199@192.0.2.10:5060>;tag=a\r\n"
    b"To: <sip:+15550100@192.0.2.20:5060>\r\n"
    b"Call-ID: 1234_5678@192.0.2.10\r\n"
    b"CSeq: 1 INVITE\r\n"
    b"Content-Length:   %d\r\n"
    b"Content-Type: multipart/mixed;boundary=sonus-content-delim\r\n"
    b"MIME-Version: 1.0\r\n"
    b"\r\n"
)


def _known(name: str) -> bool:
    """A catalogued anomaly, and not the one that reports a decoder bug."""
    return name in CATALOGUE and not name.endswith(".internal_error")


def _sonus_body(isup: bytes = IAM, version: bytes = b"ansi88") -> bytes:
    return (
        b"\r\n--sonus-content-delim\r\n"
        b"Content-Disposition: session; handling=required\r\n"
        b"Content-Type: application/sdp\r\n\r\n" + SDP + b"\r\n"
        b"--sonus-content-delim\r\n"
        b"Content-Disposition: signal; handling=required\r\n"
        b"Content-Length:    %d\r\n"
        b"Content-Type: application/isup; version="
        % len(isup)
        + version
        + b"; base="
        + version
        + b"\r\n\r\n"
        + isup
        + b"\r\n--sonus-content-delim--\r\n"
    )


def _sonus(isup: bytes = IAM, version: bytes = b"ansi88") -> bytes:
    body = _sonus_body(isup, version)
    return SONUS_STYLE % len(body) + body


def _udp(data: bytes, frame: int = 1, sport: int = 5060, dport: int = 5060) -> StreamUnit:
    return StreamUnit(frame, 3.0, "udp", "192.0.2.10", "192.0.2.20", sport, dport, data)


def _tcp(data: bytes, frame: int = 1, src: str = "192.0.2.10", sport: int = 40000) -> StreamUnit:
    return StreamUnit(frame, 3.0, "tcp", src, "192.0.2.20", sport, 5060, data)


def _decode(*units: StreamUnit, **options: object) -> tuple[list[Payload], list[Anomaly]]:
    anomalies: list[Anomaly] = []
    dec = SipDecoder(DecodeSettings(**options), anomalies)  # type: ignore[arg-type]
    out: list[Payload] = []
    for u in units:
        out.extend(dec.decode(u))
    return out, anomalies


# ------------------------------------------------------------------------------------------------
# UDP


def test_sonus_style_multipart_invite() -> None:
    (p,), anomalies = _decode(_udp(_sonus(), frame=2))
    assert anomalies == [] and p.anomalies == []
    assert (p.frame, p.ts, p.carrier, p.protocol, p.variant, p.pc_format) == (
        2,
        3.0,
        "sip-i",
        "isup",
        "ansi",
        None,
    )
    assert (p.opc, p.dpc, p.ni, p.sls, p.has_cic) == (None, None, None, None, False)
    assert p.data == IAM
    assert p.sip_call_id == "1234_5678@192.0.2.10"
    assert p.link == "sip-i:192.0.2.10:5060-192.0.2.20:5060"


def test_direct_application_isup_body_and_compact_headers() -> None:
    msg = (
        b"SIP/2.0 180 Ringing\r\nv: SIP/2.0/UDP 192.0.2.10\r\ni: abc@host\r\n"
        b'c: Application/ISUP ; version="itu-t92+" ; base=itu-t92+\r\nl: 6\r\n\r\n'
        + bytes.fromhex("060214000100")
    )
    (p,), anomalies = _decode(_udp(msg))
    assert anomalies == []
    assert (p.variant, p.sip_call_id, p.data) == ("itu", "abc@host", bytes.fromhex("060214000100"))


def test_body_is_cut_at_content_length_and_short_bodies_are_reported() -> None:
    msg = build_sip_message("BYE sip:x@y SIP/2.0", [("Call-ID", "c1")], bytes.fromhex("0c02000202808f"))
    (p,), anomalies = _decode(_udp(msg + b"\r\n\r\ntrailing junk"))
    assert p.data == bytes.fromhex("0c02000202808f") and anomalies == []
    (q,), anomalies = _decode(_udp(msg[:-2]))
    assert q.data == bytes.fromhex("0c02000202808f")[:-2]
    assert [a.name for a in anomalies] == ["sip.truncated_body"]


def test_quoted_boundary_and_crlf_inside_the_binary_part() -> None:
    isup = b"\x01\r\n--frontier\x00\r\n\r\n--\x00"
    body = (
        b"preamble\r\n--frontier\r\nContent-Type: application/sdp\r\n\r\n" + SDP + b"\r\n--frontier\r\n"
        b"Content-Type: application/ISUP;version=itu-t92+\r\nContent-Transfer-Encoding: binary\r\n\r\n"
        + isup
        + b"\r\n--frontier--\r\nepilogue"
    )
    head = b'INVITE sip:a@b SIP/2.0\r\nCall-ID: q\r\nContent-Type: multipart/mixed; boundary="frontier"\r\n'
    msg = head + b"Content-Length: %d\r\n\r\n" % len(body) + body
    (p,), anomalies = _decode(_udp(msg))
    assert anomalies == [] and p.data == isup


def test_nested_multipart_and_base64() -> None:
    inner = (
        b"--in\r\nContent-Type: application/isup;version=etsi121\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        b"AQIDBA==\r\n--in--"
    )
    outer = b"--out\r\nContent-Type: multipart/mixed;boundary=in\r\n\r\n" + inner + b"\r\n--out--\r\n"
    msg = b"INVITE sip:a@b SIP/2.0\r\nContent-Type: multipart/related;boundary=out\r\n\r\n" + outer
    (p,), anomalies = _decode(_udp(msg))
    assert anomalies == [] and (p.data, p.variant, p.sip_call_id) == (b"\x01\x02\x03\x04", "itu", None)


@pytest.mark.parametrize(
    ("version", "variant"),
    [
        ("itu-t92+", "itu"),
        ("ITU-T", "itu"),
        ("etsi-356", "itu"),
        ("etsi121", "itu"),
        ("q763", "itu"),
        ("spirou", "itu"),
        ("ttc", "itu"),
        ("uk-isup", "itu"),
        ("ansi88", "ansi"),
        ("ANSI92", "ansi"),
        ("gr-317", "ansi"),
        ("t1.113", "ansi"),
        ("klingon", None),
        ("", None),
    ],
)
def test_variant_from_version(version: str, variant: str | None) -> None:
    assert isup_variant_from_version(version) == variant


def test_unknown_version_is_reported_and_read_as_itu() -> None:
    (p,), anomalies = _decode(_udp(_sonus(version=b"klingon")))
    assert anomalies == []
    assert p.variant == "itu" and [a.name for a in p.anomalies] == ["sip.unknown_isup_version"]


def test_base_names_the_variant_when_version_does_not() -> None:
    msg = build_sip_message("INVITE sip:a@b SIP/2.0", [], IAM, "nationalx", base="ansi92")
    (p,), _ = _decode(_udp(msg))
    assert p.variant == "ansi" and p.anomalies == []


def test_missing_version_uses_the_link_default() -> None:
    msg = b"INVITE sip:a@b SIP/2.0\r\nContent-Type: application/isup\r\n\r\n" + IAM
    (p,), _ = _decode(_udp(msg))
    assert p.variant == "itu" and p.anomalies == []
    (q,), _ = _decode(_udp(msg), pc_format="ansi")
    assert q.variant == "ansi"


def test_settings_variant_wins() -> None:
    (p,), _ = _decode(_udp(_sonus()), variant="itu")
    assert p.variant == "itu"
    (q,), _ = _decode(_udp(_sonus(version=b"klingon")), links=(LinkOverride("sip-i:*", variant="ansi"),))
    assert q.variant == "ansi" and q.anomalies == []


def test_messages_without_isup_and_non_sip_traffic_are_silent() -> None:
    units = [
        _udp(b"SIP/2.0 100 Trying\r\nCall-ID: x\r\nContent-Length: 0\r\n\r\n"),
        _udp(build_sip_message("INVITE sip:a@b SIP/2.0", [], None, sdp=SDP)),
        _udp(bytes.fromhex("80000001000000010000000a") + bytes(160)),  # RTP
        _udp(b"CRCX 1 ds/e1-1/1@mgw MGCP 1.0\r\nC: 1\r\n\r\n", sport=2427, dport=2427),  # MGCP
        _udp(b""),
        _tcp(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
    ]
    out, anomalies = _decode(*units)
    assert out == [] and anomalies == []


@pytest.mark.parametrize(
    ("msg", "name"),
    [
        (b"INVITE sip:a@b SIP/2.0\r\nContent-Type: multipart/mixed\r\n\r\n--x\r\n", "sip.bad_multipart"),
        (
            b"INVITE sip:a@b SIP/2.0\r\nContent-Type: multipart/mixed;boundary=zz\r\n\r\n--x\r\n",
            "sip.bad_multipart",
        ),
        (
            b"INVITE sip:a@b SIP/2.0\r\nContent-Type: application/isup\r\nContent-Length: x\r\n\r\n\x01",
            "sip.malformed",
        ),
        (
            b"INVITE sip:a@b SIP/2.0\r\nContent-Type: application/isup\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n\x01\x02",
            "sip.malformed",
        ),
    ],
)
def test_udp_anomalies(msg: bytes, name: str) -> None:
    _, anomalies = _decode(_udp(msg, frame=5))
    assert [(a.name, a.frame) for a in anomalies] == [(name, 5)]


# ------------------------------------------------------------------------------------------------
# TCP


def test_tcp_messages_split_and_coalesced() -> None:
    a = build_sip_invite_with_isup(IAM, call_id="one", variant_version="ansi88", sdp=SDP)
    b = build_sip_message("SIP/2.0 183 Session Progress", [("Call-ID", "two")], b"\x06\x01\x02", "itu-t92+")
    stream = a + b"\r\n\r\n" + b + a
    cuts = [5, 60, len(a) - 3, len(a) + 2, len(a) + 30, len(stream) - 1]
    pieces = [stream[i:j] for i, j in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    out, anomalies = _decode(*(_tcp(piece, frame=n) for n, piece in enumerate(pieces, 1)))
    assert anomalies == []
    assert [(p.sip_call_id, p.data, p.variant) for p in out] == [
        ("one", IAM, "ansi"),
        ("two", b"\x06\x01\x02", "itu"),
        ("one", IAM, "ansi"),
    ]
    assert [p.frame for p in out] == [4, 6, 7]  # the frame that completed each message


def test_tcp_directions_are_separate_streams() -> None:
    a = build_sip_message("INVITE sip:a@b SIP/2.0", [("Call-ID", "x")], IAM)
    out, anomalies = _decode(
        _tcp(a[:40]),
        _tcp(a[:30], src="192.0.2.99", sport=5061),
        _tcp(a[40:]),
        _tcp(a[30:], src="192.0.2.99", sport=5061),
    )
    assert anomalies == [] and [p.data for p in out] == [IAM, IAM]


def test_tcp_framing_loss_is_reported_and_recovered() -> None:
    a = build_sip_message("INVITE sip:a@b SIP/2.0", [("Call-ID", "x")], IAM)
    out, anomalies = _decode(_tcp(a + b"garbage that is not SIP\r\n"), _tcp(a))
    assert [p.data for p in out] == [IAM, IAM]
    assert [a.name for a in anomalies] == ["sip.malformed"]


def test_tcp_buffer_is_bounded() -> None:
    anomalies: list[Anomaly] = []
    dec = SipDecoder(DecodeSettings(), anomalies, max_buffer=1000)
    head = b"INVITE sip:a@b SIP/2.0\r\nContent-Type: application/isup\r\nContent-Length: 5000\r\n\r\n"
    assert dec.decode(_tcp(head + bytes(100))) == []
    assert [a.name for a in anomalies] == ["sip.malformed"]
    assert dec.decode(_tcp(b"x" * 2000)) == []  # mid-message bytes of a dropped stream are ignored
    msg = build_sip_message("INVITE sip:a@b SIP/2.0", [], IAM)
    assert [p.data for p in dec.decode(_tcp(msg))] == [IAM]
    assert len(anomalies) == 1


# ------------------------------------------------------------------------------------------------
# builders


def test_parse_content_type() -> None:
    assert parse_content_type('Multipart/Mixed ; Boundary="a;b" ; x') == (
        "multipart/mixed",
        {"boundary": "a;b", "x": ""},
    )


@settings(max_examples=300, deadline=None)
@given(
    isup=st.binary(min_size=1, max_size=300),
    sdp=st.none() | st.binary(max_size=200),
    version=st.sampled_from(["itu-t92+", "ansi88", "gr-317", "etsi-356"]),
    compact=st.booleans(),
    transport=st.sampled_from(["udp", "tcp"]),
)
def test_build_then_decode_round_trip(
    isup: bytes, sdp: bytes | None, version: str, compact: bool, transport: str
) -> None:
    msg = build_sip_invite_with_isup(isup, call_id="rt@x", sdp=sdp, variant_version=version, compact=compact)
    unit = _udp(msg) if transport == "udp" else _tcp(msg)
    (p,), anomalies = _decode(unit)
    assert anomalies == [] and p.anomalies == []
    assert (p.data, p.sip_call_id, p.variant) == (isup, "rt@x", isup_variant_from_version(version))


@settings(max_examples=500, deadline=None)
@given(data=st.binary(max_size=400), proto=st.sampled_from(["udp", "tcp"]))
def test_fuzz_never_raises(data: bytes, proto: str) -> None:
    unit = _udp(data, frame=9) if proto == "udp" else _tcp(data, frame=9)
    out, anomalies = _decode(unit, unit)
    assert all(_known(a.name) and a.frame == 9 for a in anomalies)
    assert all(isinstance(p.data, bytes) for p in out)


@settings(max_examples=300, deadline=None)
@given(cut=st.integers(0, 700), flip=st.integers(0, 700), value=st.integers(0, 255))
def test_fuzz_mutated_invite(cut: int, flip: int, value: int) -> None:
    data = bytearray(_sonus())
    del data[len(data) - cut :]
    if flip < len(data):
        data[flip] = value
    _, anomalies = _decode(_udp(bytes(data)), _tcp(bytes(data)))
    assert all(_known(a.name) for a in anomalies)


# ------------------------------------------------------------------------------------------------
# tshark agrees with what we build


@pytest.mark.tshark
@needs_tshark
def test_tshark_reads_our_sip_i(tmp_path: Path) -> None:
    msgs = [
        build_sip_invite_with_isup(IAM, call_id="one@x", variant_version="ansi88", sdp=SDP),
        build_sip_message(
            "SIP/2.0 180 Ringing", [("Call-ID", "two@x"), ("CSeq", "1 INVITE")], b"\x06\x16\x14\x00"
        ),
    ]
    frames = udp_fragments("192.0.2.10", "192.0.2.20", 5060, 5060, msgs[0], mtu=300)
    frames += udp_fragments("192.0.2.20", "192.0.2.10", 5060, 5060, msgs[1], ident=8)
    path = write_pcap(tmp_path / "sipi.pcap", 1, frames)
    assert TSHARK is not None
    out = subprocess.run(
        [
            TSHARK,
            "-n",
            "-r",
            str(path),
            "-Y",
            "isup",
            "-T",
            "fields",
            "-e",
            "sip.Call-ID",
            "-e",
            "isup.message_type",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    assert out.split() == ["one@x", "1", "two@x", "6"]
    ours, anomalies = _decode(_udp(msgs[0]), _udp(msgs[1]))
    assert anomalies == [] and [p.data[0] for p in ours] == [1, 6]


def test_tcp_resynchronises_inside_a_segment() -> None:
    a = build_sip_message("INVITE sip:a@b SIP/2.0", [("Call-ID", "x")], IAM)
    r = build_sip_message("SIP/2.0 200 OK", [("Call-ID", "y")], b"\x09\x01\x00")
    out, anomalies = _decode(_tcp(a + b"junk\r\nmore junk\r\n" + r + b"x\r\n" + a))
    assert [p.data for p in out] == [IAM, b"\x09\x01\x00", IAM]
    assert [a.name for a in anomalies] == ["sip.malformed", "sip.malformed"]


def test_folded_and_repeated_headers() -> None:
    msg = (
        b"INVITE sip:a@b SIP/2.0\r\nCall-ID:\r\n  folded@x\r\nCONTENT-TYPE :\tapplication/isup;\r\n"
        b" version=ansi92\r\nContent-Type: text/plain\r\nX-Content-Type: text/plain\r\n\r\n\x01\x02"
    )
    (p,), anomalies = _decode(_udp(msg))
    assert anomalies == [] and (p.sip_call_id, p.variant, p.data) == ("folded@x", "ansi", b"\x01\x02")
