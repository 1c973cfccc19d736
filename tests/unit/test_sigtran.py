"""SIGTRAN adaptation layers: M3UA (RFC 4666 and draft 6), M2PA, M2UA, BICC on SCTP, PPID dispatch."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sigdiag.anomalies import CATALOGUE, Anomaly
from sigdiag.carrier import m2pa, m2ua, m3ua, ua
from sigdiag.carrier.mtp import build_mtp3
from sigdiag.carrier.sctp import PPID_M2PA, PPID_M2UA, PPID_M3UA
from sigdiag.carrier.sigtran import (
    SigtranDecoder,
    build_m2pa_user_data,
    build_m2ua_data,
    build_m3ua_data,
    build_m3ua_draft6_data,
    link_name,
)
from sigdiag.carrier.units import SctpUnit
from sigdiag.model import Payload
from sigdiag.settings import DecodeSettings, LinkOverride
from tests.tshark_util import TSHARK, needs_tshark
from tests.unit._packets import sctp_frame, write_pcap

RLC = bytes.fromhex("01001000")  # CIC 1, RLC, no optional part

#: An RFC 4666 DATA message: Routing Context 7, Protocol Data OPC 1 DPC 2 SI 5 NI 2 MP 0 SLS 1, RLC.
M3UA_RFC = bytes.fromhex("01000101 00000024 00060008 00000007 02100014 00000001 00000002 05020001 01001000")
#: Frame 2 of the tcpdump-tests capture: draft-6 DATA, Protocol Data 1 (tag 2) = MTP3 (CFN, CIC 213).
M3UA_DRAFT6 = bytes.fromhex("01000101 0000001c 00020012 c502ede05bd5 002f02000384e3f4 0000")
#: Frame 2 of the kancom capture: M2PA User Data, BSN 0x59, FSN 0x44, priority 0x3f, MTP3 ACM on CIC 15.
M2PA_ACM = bytes.fromhex("01000b01 0000001e 00000059 00000044 3f 85640e08ff 0f00060234 00e8ab")


def _known(name: str) -> bool:
    """A catalogued anomaly, and not the one that reports a decoder bug."""
    return name in CATALOGUE and not name.endswith(".internal_error")


def _unit(
    data: bytes,
    ppid: int = 3,
    sport: int = 2905,
    dport: int = 2905,
    frame: int = 1,
    src: str = "10.0.0.1",
    dst: str = "10.0.0.2",
) -> SctpUnit:
    return SctpUnit(frame, 2.5, src, dst, sport, dport, ppid, 1, data)


def _decode(*units: SctpUnit, **options: object) -> tuple[list[Payload | None], list[Anomaly]]:
    anomalies: list[Anomaly] = []
    dec = SigtranDecoder(DecodeSettings(**options), anomalies)  # type: ignore[arg-type]
    return [dec.decode(u) for u in units], anomalies


# ------------------------------------------------------------------------------------------------
# M3UA


def test_m3ua_rfc_vector() -> None:
    assert build_m3ua_data(1, 2, 5, 2, 0, 1, RLC, routing_context=7) == M3UA_RFC
    (p,), anomalies = _decode(_unit(M3UA_RFC, frame=4))
    assert anomalies == []
    assert p is not None
    # pc_format auto (the default): the unit decoder leaves the format to the detector
    assert (p.frame, p.ts, p.carrier, p.protocol, p.variant, p.pc_format) == (
        4,
        2.5,
        "m3ua",
        "isup",
        "itu",
        "auto",
    )
    assert (p.opc, p.dpc, p.ni, p.sls, p.data, p.has_cic) == (1, 2, 2, 1, RLC, True)
    assert p.link == "m3ua:10.0.0.1:2905-10.0.0.2:2905"
    (p,), _ = _decode(_unit(M3UA_RFC, frame=4), pc_format="itu")
    assert p is not None and (p.variant, p.pc_format) == ("itu", "itu")


def test_m3ua_draft6_vector() -> None:
    (p,), anomalies = _decode(_unit(M3UA_DRAFT6))
    assert anomalies == [] and p is not None
    assert (p.carrier, p.opc, p.dpc, p.ni, p.sls) == ("m3ua", 12163, 11522, 3, 5)
    assert p.data == bytes.fromhex("d5002f02000384e3f4")


def test_m3ua_version_setting() -> None:
    out, anomalies = _decode(_unit(M3UA_DRAFT6), _unit(M3UA_RFC), m3ua_version="rfc")
    assert out[0] is None and out[1] is not None
    assert [a.name for a in anomalies] == ["m3ua.no_protocol_data"]
    out, anomalies = _decode(_unit(M3UA_DRAFT6), _unit(M3UA_RFC), m3ua_version="draft6")
    assert out[0] is not None and out[1] is None
    assert [a.name for a in anomalies] == ["m3ua.no_protocol_data"]


def test_m3ua_draft6_protocol_data_2_has_an_li_octet() -> None:
    msu = build_mtp3(5, 2, 300, 400, 3, "itu", RLC)
    (p1, p2), anomalies = _decode(
        _unit(build_m3ua_draft6_data(msu, routing_context=1)), _unit(build_m3ua_draft6_data(msu, li=len(msu)))
    )
    assert anomalies == []
    for p in (p1, p2):
        assert p is not None and (p.opc, p.dpc, p.sls, p.data) == (300, 400, 3, RLC)


def test_m3ua_draft6_uses_the_links_point_code_format() -> None:
    msu = build_mtp3(5, 2, 0x0A0B0C, 0x010203, 200, "ansi", RLC)
    (p,), _ = _decode(_unit(build_m3ua_draft6_data(msu)), pc_format="ansi")
    assert p is not None and (p.pc_format, p.variant, p.opc, p.dpc, p.sls) == (
        "ansi",
        "ansi",
        0x0A0B0C,
        0x010203,
        200,
    )


def test_m3ua_bicc_and_other_service_indicators() -> None:
    bicc = build_m3ua_data(7, 8, 13, 2, 0, 0, bytes.fromhex("120000001000"))
    sccp = build_m3ua_data(7, 8, 3, 2, 0, 0, b"\x09\x00")
    b_isup = build_m3ua_data(7, 8, 9, 2, 0, 0, b"\x09\x00")
    (p, s, b1, b2), anomalies = _decode(*(_unit(x) for x in (bicc, sccp, b_isup, b_isup)))
    assert p is not None and p.protocol == "bicc" and p.data[:4] == b"\x12\x00\x00\x00"
    assert s is None and b1 is None and b2 is None
    assert [a.name for a in anomalies] == ["mtp3.unsupported_si"]  # once per link and SI


def test_m3ua_management_messages_are_silent() -> None:
    aspup = bytes.fromhex("01000301 00000008")
    daud = bytes.fromhex("01000203 00000010 00120008 00000102")
    beat = bytes.fromhex("01000303 0000000c 00090004")
    out, anomalies = _decode(*(_unit(x) for x in (aspup, daud, beat)))
    assert out == [None, None, None] and anomalies == []


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (bytes.fromhex("010001"), "m3ua.truncated"),
        (bytes.fromhex("02000101 00000008"), "m3ua.bad_version"),
        (bytes.fromhex("01000101 00000008"), "m3ua.no_protocol_data"),
        (bytes.fromhex("01000101 00000010 00060008 00000001"), "m3ua.no_protocol_data"),
        (M3UA_RFC[:-3], "m3ua.truncated"),  # message length beyond the data
        (bytes.fromhex("01000101 00000004"), "m3ua.truncated"),
        (bytes.fromhex("01000101 00000014 0210000c 00000001 00000002"), "m3ua.truncated"),  # PD below 16
        (bytes.fromhex("01000101 00000010 02100040 00000001"), "m3ua.truncated"),  # PD past the message
        (bytes.fromhex("01000101 0000000c 00060002"), "m3ua.truncated"),  # parameter length below 4
    ],
)
def test_m3ua_anomalies(data: bytes, name: str) -> None:
    (p,), anomalies = _decode(_unit(data, frame=6))
    assert p is None
    assert [(a.name, a.frame) for a in anomalies] == [(name, 6)]


@settings(max_examples=300, deadline=None)
@given(
    opc=st.integers(0, 2**32 - 1),
    dpc=st.integers(0, 2**32 - 1),
    si=st.sampled_from([5, 13]),
    ni=st.integers(0, 255),
    mp=st.integers(0, 255),
    sls=st.integers(0, 255),
    user=st.binary(max_size=300),
    rc=st.none() | st.integers(0, 2**32 - 1),
    na=st.none() | st.integers(0, 2**32 - 1),
)
def test_m3ua_round_trip(
    opc: int, dpc: int, si: int, ni: int, mp: int, sls: int, user: bytes, rc: int | None, na: int | None
) -> None:
    data = build_m3ua_data(opc, dpc, si, ni, mp, sls, user, routing_context=rc, network_appearance=na)
    assert len(data) % 4 == 0
    (p,), anomalies = _decode(_unit(data))
    assert anomalies == [] and p is not None
    assert (p.opc, p.dpc, p.ni, p.sls, p.data) == (opc, dpc, ni, sls, user)
    assert p.protocol == ("isup" if si == 5 else "bicc")


# ------------------------------------------------------------------------------------------------
# M2PA


def test_m2pa_vector_from_the_kancom_capture() -> None:
    (p,), anomalies = _decode(_unit(M2PA_ACM, ppid=5, sport=3565, dport=3565))
    assert anomalies == [] and p is not None
    assert (p.carrier, p.opc, p.dpc, p.ni, p.sls) == ("m2pa", 15392, 3684, 2, 15)
    assert p.data == bytes.fromhex("0f0006023400e8ab")
    assert p.link == "m2pa:10.0.0.1:3565-10.0.0.2:3565"


def test_m2pa_build_matches_the_capture_layout() -> None:
    msu = M2PA_ACM[17:]
    assert build_m2pa_user_data(0x59, 0x44, msu)[:16] == M2PA_ACM[:16]


def test_m2pa_non_data_messages_are_silent() -> None:
    ack = bytes.fromhex("01000b01 00000010 00000001 00000002")
    status = bytes.fromhex("01000b02 00000014 00000001 00000002 00000004")
    out, anomalies = _decode(*(_unit(x, ppid=5) for x in (ack, status)))
    assert out == [None, None] and anomalies == []


def test_m2pa_draft2_layout() -> None:
    msu = build_mtp3(5, 2, 1, 2, 3, "itu", RLC)
    body = bytes((len(msu),)) + msu
    draft2 = bytes.fromhex("01000601") + (8 + len(body)).to_bytes(4, "big") + body
    (p,), anomalies = _decode(_unit(draft2, ppid=5))
    assert anomalies == [] and p is not None and (p.opc, p.dpc, p.data) == (1, 2, RLC)


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (bytes.fromhex("01000b"), "m2pa.truncated"),
        (bytes.fromhex("02000b01 00000010 00000001 00000002"), "m2pa.bad_version"),
        (bytes.fromhex("01000b01 0000000c 00000001"), "m2pa.truncated"),
        (bytes.fromhex("01000b01 00000011 00000001 00000002 00"), "m2pa.truncated"),
        (bytes.fromhex("01000b01 00000030 00000001 00000002 00 85"), "m2pa.truncated"),
        (bytes.fromhex("01000b01 00000013 00000001 00000002 00 8512"), "mtp3.truncated"),
    ],
)
def test_m2pa_anomalies(data: bytes, name: str) -> None:
    (p,), anomalies = _decode(_unit(data, ppid=5, frame=8))
    assert p is None
    assert [(a.name, a.frame) for a in anomalies][-1:] == [(name, 8)]


@settings(max_examples=200, deadline=None)
@given(
    fmt=st.sampled_from(["itu", "ansi", "china", "japan"]),
    bsn=st.integers(0, 2**24 - 1),
    fsn=st.integers(0, 2**24 - 1),
    user=st.binary(max_size=272),
    priority=st.integers(0, 3),
)
def test_m2pa_round_trip(fmt: str, bsn: int, fsn: int, user: bytes, priority: int) -> None:
    data = build_m2pa_user_data(bsn, fsn, build_mtp3(5, 2, 5, 6, 1, fmt, user), priority)
    (p,), anomalies = _decode(_unit(data, ppid=5), pc_format=fmt)
    assert anomalies == [] and p is not None and (p.opc, p.dpc, p.data, p.pc_format) == (5, 6, user, fmt)


# ------------------------------------------------------------------------------------------------
# M2UA


def test_m2ua_vectors() -> None:
    msu = build_mtp3(5, 2, 1, 2, 3, "itu", RLC)
    integer = build_m2ua_data(1, msu)
    assert integer == bytes.fromhex("01000601 00000020 00010008 00000001 0300000d") + msu + b"\x00" * 3
    text = build_m2ua_data("E1/3", msu)
    ttc = build_m2ua_data(2, msu, ttc_priority=1)
    out, anomalies = _decode(*(_unit(x, ppid=2, sport=2904, dport=40000) for x in (integer, text, ttc)))
    assert anomalies == []
    for p in out:
        assert p is not None and (p.carrier, p.opc, p.dpc, p.sls, p.data) == ("m2ua", 1, 2, 3, RLC)


def test_m2ua_anomalies() -> None:
    no_pd = bytes.fromhex("01000601 00000010 00010008 00000001")
    other = bytes.fromhex("01000602 00000008")  # establish request: no user data
    bad = bytes.fromhex("03000601 00000008")
    out, anomalies = _decode(*(_unit(x, ppid=2) for x in (no_pd, other, bad)))
    assert out == [None, None, None]
    assert [a.name for a in anomalies] == ["m2ua.no_protocol_data", "m2ua.bad_version"]


# ------------------------------------------------------------------------------------------------
# BICC on SCTP, dispatch, links


def test_bicc_on_ppid_8() -> None:
    data = bytes.fromhex("120000001000")
    (p,), anomalies = _decode(_unit(data, ppid=8, sport=5000, dport=6000))
    assert anomalies == [] and p is not None
    assert (p.carrier, p.protocol, p.opc, p.dpc, p.ni, p.sls, p.pc_format) == (
        "sctp",
        "bicc",
        None,
        None,
        None,
        None,
        None,
    )
    assert p.data == data and p.link == "sctp:10.0.0.1:5000-10.0.0.2:6000"


def test_ppid_0_falls_back_to_ports() -> None:
    msu = build_mtp3(5, 2, 1, 2, 3, "itu", RLC)
    units = [
        _unit(M3UA_RFC, ppid=0, sport=40000, dport=2905),
        _unit(build_m2ua_data(1, msu), ppid=0, sport=2904, dport=40001),
        _unit(build_m2pa_user_data(1, 2, msu), ppid=0, sport=3565, dport=3565),
        _unit(M3UA_RFC, ppid=77, sport=40000, dport=2905),  # unassigned PPID: ports too
    ]
    out, anomalies = _decode(*units)
    assert anomalies == []
    assert [p.carrier for p in out if p is not None] == ["m3ua", "m2ua", "m2pa", "m3ua"]


def test_unknown_ppid_reported_once_per_association() -> None:
    units = [
        _unit(b"x" * 20, ppid=0, sport=1111, dport=2222, frame=1),
        _unit(b"x" * 20, ppid=0, sport=2222, dport=1111, frame=2, src="10.0.0.2", dst="10.0.0.1"),  # reverse
        _unit(b"x" * 20, ppid=0, sport=1111, dport=2222, frame=3),
        _unit(b"x" * 20, ppid=0, sport=1111, dport=3333, frame=4),  # another association
        _unit(b"x" * 20, ppid=46, sport=3868, dport=3868, frame=5),  # Diameter: not ours, not an anomaly
        _unit(b"x" * 20, ppid=18, sport=36412, dport=36412, frame=6),  # S1AP
    ]
    out, anomalies = _decode(*units)
    assert out == [None] * 6
    assert [(a.name, a.frame) for a in anomalies] == [("sctp.unknown_ppid", 1), ("sctp.unknown_ppid", 4)]


def test_link_name_is_direction_independent() -> None:
    a = link_name("m3ua", "10.0.0.9", 2905, "10.0.0.10", 40000)
    assert a == link_name("m3ua", "10.0.0.10", 40000, "10.0.0.9", 2905)
    assert a.startswith("m3ua:") and a.count("-") == 1
    (p, q), _ = _decode(
        _unit(M3UA_RFC, src="10.0.0.9", dst="10.0.0.10", sport=2905, dport=40000),
        _unit(M3UA_RFC, src="10.0.0.10", dst="10.0.0.9", sport=40000, dport=2905),
    )
    assert p is not None and q is not None and p.link == q.link == a


def test_per_link_settings() -> None:
    msu_ansi = build_mtp3(5, 2, 0x010203, 0x040506, 1, "ansi", RLC)
    overrides = (LinkOverride("m2pa:10.9.*", pc_format="ansi"), LinkOverride("m3ua:*", variant="ansi"))
    units = [
        _unit(build_m2pa_user_data(1, 2, msu_ansi), ppid=5, src="10.9.0.1", dst="10.9.0.2"),
        _unit(M3UA_RFC),
    ]
    (m2pa, m3ua), anomalies = _decode(*units, links=overrides)
    assert anomalies == []
    assert m2pa is not None and (m2pa.pc_format, m2pa.variant, m2pa.opc, m2pa.dpc) == (
        "ansi",
        "ansi",
        0x010203,
        0x040506,
    )
    # the M3UA link's format is left to the detector (global auto), its variant override applies
    assert m3ua is not None and (m3ua.pc_format, m3ua.variant) == ("auto", "ansi")


def test_settings_are_looked_up_once_per_link(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    original = DecodeSettings.for_link

    def counting(self: DecodeSettings, link: str) -> tuple[str, str]:
        calls.append(link)
        return original(self, link)

    monkeypatch.setattr(DecodeSettings, "for_link", counting)
    out, _ = _decode(*(_unit(M3UA_RFC, frame=i) for i in range(50)))
    assert all(p is not None for p in out)
    assert calls == ["m3ua:10.0.0.1:2905-10.0.0.2:2905"]


@settings(max_examples=500, deadline=None)
@given(
    data=st.binary(max_size=200),
    ppid=st.sampled_from([0, 2, 3, 5, 8, 99]),
    version=st.sampled_from(["auto", "rfc", "draft6"]),
    fmt=st.sampled_from(["itu", "ansi", "china", "japan"]),
)
def test_fuzz_never_raises(data: bytes, ppid: int, version: str, fmt: str) -> None:
    (p,), anomalies = _decode(_unit(data, ppid=ppid, frame=12), m3ua_version=version, pc_format=fmt)
    assert all(_known(a.name) and a.frame == 12 for a in anomalies), anomalies
    if p is not None:
        assert p.protocol in ("isup", "bicc") and isinstance(p.data, bytes)


@settings(max_examples=300, deadline=None)
@given(
    head=st.sampled_from(
        [M3UA_RFC, M3UA_DRAFT6, M2PA_ACM, build_m2ua_data(1, build_mtp3(5, 0, 1, 2, 3, "itu", RLC))]
    ),
    cut=st.integers(0, 60),
    flip=st.integers(0, 59),
    value=st.integers(0, 255),
)
def test_fuzz_mutated_real_messages(head: bytes, cut: int, flip: int, value: int) -> None:
    data = bytearray(head[: len(head) - cut if cut < len(head) else 0])
    if flip < len(data):
        data[flip] = value
    ppid = {0x0B: 5, 0x06: 2}.get(head[2], 3)
    _, anomalies = _decode(_unit(bytes(data), ppid=ppid))
    assert all(_known(a.name) for a in anomalies)


# ------------------------------------------------------------------------------------------------
# tshark agrees with what we build


def _tshark(path: Path, *options: str, fields: tuple[str, ...]) -> list[list[str]]:
    assert TSHARK is not None
    cmd = [TSHARK, "-n", "-r", str(path), *options, "-T", "fields", "-E", "separator=\t"]
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=120).stdout
    return [line.split("\t") for line in out.splitlines()]


@pytest.mark.tshark
@needs_tshark
def test_tshark_reads_our_m3ua(tmp_path: Path) -> None:
    cases = [(1, 2, 5, 2, 0, None), (16383, 11522, 5, 3, 9, 77), (329729, 75781, 13, 2, 2, 310)]
    user = {5: RLC, 13: bytes.fromhex("120000001000")}
    frames = [
        sctp_frame(
            "10.0.0.1",
            "10.0.0.2",
            2905,
            2905,
            3,
            build_m3ua_data(o, d, si, ni, 0, sls, user[si], routing_context=rc),
            tsn=i,
        )
        for i, (o, d, si, ni, sls, rc) in enumerate(cases)
    ]
    path = write_pcap(tmp_path / "m3ua.pcap", 1, frames)
    rows = _tshark(
        path,
        "-o",
        "sctp.tsn_analysis:FALSE",
        fields=(
            "m3ua.protocol_data_opc",
            "m3ua.protocol_data_dpc",
            "m3ua.protocol_data_si",
            "m3ua.protocol_data_ni",
            "m3ua.protocol_data_sls",
            "isup.cic",
            "bicc.cic",
        ),
    )
    assert [[int(x) for x in r[:5]] for r in rows] == [[o, d, si, ni, sls] for o, d, si, ni, sls, _ in cases]
    assert [r[5] or r[6] for r in rows] == ["1", "1", "18"]


@pytest.mark.tshark
@needs_tshark
@pytest.mark.parametrize("fmt", ["itu", "ansi", "china", "japan"])
def test_tshark_reads_our_m2pa_m2ua_and_draft6(fmt: str, tmp_path: Path) -> None:
    standard = {"itu": "ITU", "ansi": "ANSI", "china": "Chinese ITU", "japan": "Japan"}[fmt]
    opc, dpc = (0x010203, 0x040506) if fmt in ("ansi", "china") else (1234, 4321)
    msu = build_mtp3(5, 2, opc, dpc, 3, fmt, bytes.fromhex("0f001000"))
    frames = [
        sctp_frame("10.0.0.1", "10.0.0.2", 3565, 3565, 5, build_m2pa_user_data(10, 11, msu), tsn=1),
        sctp_frame("10.0.0.3", "10.0.0.4", 2904, 2904, 2, build_m2ua_data(1, msu), tsn=2),
        sctp_frame("10.0.0.5", "10.0.0.6", 2905, 2905, 3, build_m3ua_draft6_data(msu), tsn=3),
    ]
    path = write_pcap(tmp_path / "mtp3.pcap", 1, frames)
    rows = _tshark(
        path,
        "-o",
        "sctp.tsn_analysis:FALSE",
        "-o",
        f"mtp3.standard:{standard}",
        "-o",
        "m3ua.version:Internet Draft version 6",
        fields=("mtp3.opc", "mtp3.dpc", "isup.cic"),
    )
    assert rows == [[str(opc), str(dpc), "15"]] * 3
    anomalies: list[Anomaly] = []
    dec = SigtranDecoder(DecodeSettings(pc_format=fmt), anomalies)
    ppids = [5, 2, 3]
    for ppid, frame in zip(ppids, frames, strict=True):
        sctp_payload = frame[14 + 20 + 12 + 16 :]  # with the chunk's padding: beyond the message length
        p = dec.decode(_unit(sctp_payload, ppid=ppid))
        assert p is not None and (p.opc, p.dpc) == (opc, dpc), ppid
    assert anomalies == []


# ----------------------------------------------------------------------------------------------
# round trips: the layer modules' builders against their own layouts and the decoder

_U32S = st.integers(0, 0xFFFFFFFF)


def decode(msg: bytes, ppid: int = PPID_M3UA) -> Payload | None:
    (p,), anomalies = _decode(_unit(msg, ppid=ppid), pc_format="itu")
    assert anomalies == []
    return p


@settings(max_examples=60, deadline=None)
@given(
    opc=_U32S,
    dpc=_U32S,
    si=st.sampled_from([5, 13]),
    ni=st.integers(0, 3),
    mp=st.integers(0, 3),
    sls=st.integers(0, 255),
    data=st.binary(min_size=2, max_size=200),
    rc=st.one_of(st.none(), _U32S),
    na=st.one_of(st.none(), _U32S),
)
def test_m3ua_layout_round_trip(
    opc: int, dpc: int, si: int, ni: int, mp: int, sls: int, data: bytes, rc: int | None, na: int | None
) -> None:
    msg = m3ua.build_m3ua_data(opc, dpc, si, ni, mp, sls, data, routing_context=rc, network_appearance=na)
    version, _spare, mclass, mtype, mlen = ua.COMMON_HEADER.unpack_from(msg)
    assert (version, mclass, mtype, mlen) == (ua.VERSION, m3ua.CLASS_TRANSFER, m3ua.TYPE_DATA, len(msg))
    assert int.from_bytes(msg[:4], "big") == m3ua.DATA_HEAD
    params = {}
    off = ua.COMMON_HEADER_LEN
    while off < mlen:
        tag, plen = ua.PARAMETER_HEADER.unpack_from(msg, off)
        params[tag] = msg[off + 4 : off + plen]
        off += (plen + 3) & ~3
    assert m3ua.PROTOCOL_DATA.unpack_from(params[m3ua.TAG_PROTOCOL_DATA]) == (opc, dpc, si, ni, mp, sls)
    assert params[m3ua.TAG_PROTOCOL_DATA][12:] == data
    assert params.get(m3ua.TAG_ROUTING_CONTEXT) == (None if rc is None else ua.u32(rc))
    assert params.get(m3ua.TAG_NETWORK_APPEARANCE) == (None if na is None else ua.u32(na))
    # parse -> build: the message rebuilt from the fields read is the same octets
    again = ua.message(
        mclass,
        mtype,
        b"".join(ua.parameter(tag, value) for tag, value in params.items()),
    )
    assert again == msg
    p = decode(msg)
    assert p is not None and (p.opc, p.dpc, p.ni, p.sls, p.data) == (opc, dpc, ni, sls, data)


@settings(max_examples=40, deadline=None)
@given(
    bsn=st.integers(0, 0xFFFFFF),
    fsn=st.integers(0, 0xFFFFFF),
    priority=st.integers(0, 3),
    sls=st.integers(0, 15),
    data=st.binary(min_size=2, max_size=100),
)
def test_m2pa_layout_round_trip(bsn: int, fsn: int, priority: int, sls: int, data: bytes) -> None:
    msu = build_mtp3(5, 2, 11, 22, sls, "itu", data)
    msg = m2pa.build_m2pa_user_data(bsn, fsn, msu, priority)
    fields = m2pa.USER_DATA_HEADER.unpack_from(msg)
    assert fields == (1, 0, m2pa.CLASS_M2PA, m2pa.TYPE_USER_DATA, len(msg), bsn, fsn, priority << 6)
    assert msg[m2pa.USER_DATA_HEADER_LEN :] == msu
    assert m2pa.user_data_header(bsn, fsn, len(msu), priority) + msu == msg
    p = decode(msg, ppid=PPID_M2PA)
    assert p is not None and (p.carrier, p.opc, p.dpc, p.sls, p.data) == ("m2pa", 11, 22, sls, data)


@settings(max_examples=40, deadline=None)
@given(
    iid=st.one_of(_U32S, st.text(min_size=1, max_size=12)),
    ttc=st.one_of(st.none(), st.integers(0, 255)),
    data=st.binary(min_size=2, max_size=100),
)
def test_m2ua_layout_round_trip(iid: int | str, ttc: int | None, data: bytes) -> None:
    msu = build_mtp3(13, 2, 11, 22, 3, "itu", data)
    msg = m2ua.build_m2ua_data(iid, msu, ttc)
    version, _spare, mclass, mtype, mlen = ua.COMMON_HEADER.unpack_from(msg)
    assert (version, mclass, mtype, mlen) == (1, m2ua.CLASS_MAUP, m2ua.TYPE_DATA, len(msg))
    tag, plen = ua.PARAMETER_HEADER.unpack_from(msg, 8)
    assert tag == (m2ua.TAG_IID_TEXT if isinstance(iid, str) else m2ua.TAG_IID_INT)
    off = 8 + ((plen + 3) & ~3)
    tag, plen = ua.PARAMETER_HEADER.unpack_from(msg, off)
    value = msg[off + 4 : off + plen]
    if ttc is None:
        assert (tag, value) == (m2ua.TAG_PROTOCOL_DATA_1, msu)
    else:
        assert (tag, value) == (m2ua.TAG_PROTOCOL_DATA_2, bytes([ttc]) + msu)
    p = decode(msg, ppid=PPID_M2UA)
    assert p is not None and (p.carrier, p.protocol, p.opc, p.dpc, p.data) == ("m2ua", "bicc", 11, 22, data)
