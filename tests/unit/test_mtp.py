"""MTP2 / MTP3: routing labels in every point-code format, point-code text, link types 139-141."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sigdiag.anomalies import CATALOGUE, Anomaly
from sigdiag.carrier import mtp2, mtp3
from sigdiag.carrier.mtp import (
    PC_BITS,
    MtpDecoder,
    PendingPayload,
    build_mtp2,
    build_mtp2_phdr,
    build_mtp3,
    crc16_x25,
    format_pc,
    parse_mtp3,
    parse_pc,
)
from sigdiag.carrier.units import MtpUnit
from sigdiag.settings import DecodeSettings, LinkOverride
from tests.tshark_util import TSHARK, needs_tshark
from tests.unit._packets import write_pcap

RLC = bytes.fromhex("0f001000")  # CIC 15, RLC, no optional part
FORMATS = ("itu", "ansi", "china", "japan")
TSHARK_STANDARD = {"itu": "ITU", "ansi": "ANSI", "china": "Chinese ITU", "japan": "Japan"}

# ------------------------------------------------------------------------------------------------
# MTP3 routing label vectors


def _known(name: str) -> bool:
    """A catalogued anomaly, and not the one that reports a decoder bug."""
    return name in CATALOGUE and not name.endswith(".internal_error")


def test_itu_label_from_the_kancom_capture() -> None:
    # SIO 0x85 (national, ISUP), label 20 3c 99 f3: tshark says OPC 3684, DPC 15392, SLS 15
    msu = bytes.fromhex("85203c99f30f000111")
    assert parse_mtp3(msu, 0, "itu") == (5, 2, 3684, 15392, 15, 5)


def test_itu_label_from_the_tcpdump_capture() -> None:
    msu = bytes.fromhex("c583af405bd5000100")
    assert parse_mtp3(msu, 0, "itu") == (5, 3, 11522, 12163, 5, 5)


def test_ansi_label() -> None:
    # DPC 4-5-6, OPC 1-2-3 (little-endian member, cluster, network), 8-bit SLS 0xa7
    msu = bytes.fromhex("85060504030201a7") + RLC
    assert parse_mtp3(msu, 0, "ansi") == (5, 2, 0x010203, 0x040506, 0xA7, 8)


def test_china_label_has_a_4_bit_sls() -> None:
    msu = bytes.fromhex("8d060504030201a7") + RLC
    assert parse_mtp3(msu, 0, "china") == (13, 2, 0x010203, 0x040506, 7, 8)


def test_japan_label() -> None:
    # DPC 0x10e1 (4321), OPC 0x04d2 (1234), SLS low 4 bits
    msu = bytes.fromhex("85e110d204f7") + RLC
    assert parse_mtp3(msu, 0, "japan") == (5, 2, 1234, 4321, 7, 6)


@pytest.mark.parametrize(("fmt", "need"), [("itu", 5), ("ansi", 8), ("china", 8), ("japan", 6)])
def test_short_labels_are_rejected(fmt: str, need: int) -> None:
    msu = bytes(range(1, 20))
    assert parse_mtp3(msu[: need - 1], 0, fmt) is None
    assert parse_mtp3(msu[:need], 0, fmt) is not None
    assert parse_mtp3(msu, len(msu) - need + 1, fmt) is None


@pytest.mark.parametrize(
    ("fmt", "opc", "dpc", "sls", "hex_"),
    [
        ("itu", 3684, 15392, 15, "85203c99f3"),
        ("ansi", 0x010203, 0x040506, 0xA7, "85060504030201a7"),
        ("china", 0x010203, 0x040506, 0x07, "8506050403020107"),
        ("japan", 1234, 4321, 7, "85e110d20407"),
    ],
)
def test_build_mtp3_vectors(fmt: str, opc: int, dpc: int, sls: int, hex_: str) -> None:
    assert build_mtp3(5, 2, opc, dpc, sls, fmt, RLC) == bytes.fromhex(hex_) + RLC


@settings(max_examples=300, deadline=None)
@given(
    fmt=st.sampled_from(FORMATS),
    si=st.integers(0, 15),
    ni=st.integers(0, 3),
    opc=st.integers(0, (1 << 24) - 1),
    dpc=st.integers(0, (1 << 24) - 1),
    sls=st.integers(0, 255),
    user=st.binary(max_size=64),
)
def test_mtp3_round_trip(fmt: str, si: int, ni: int, opc: int, dpc: int, sls: int, user: bytes) -> None:
    mask = (1 << PC_BITS[fmt]) - 1
    sls_mask = 0xFF if fmt == "ansi" else 0x0F
    msu = build_mtp3(si, ni, opc, dpc, sls, fmt, user)
    si2, ni2, opc2, dpc2, sls2, off = parse_mtp3(msu, 0, fmt)  # type: ignore[misc]
    assert (si2, ni2, opc2, dpc2, sls2) == (si, ni, opc & mask, dpc & mask, sls & sls_mask)
    assert msu[off:] == user


# ------------------------------------------------------------------------------------------------
# point codes as text


@pytest.mark.parametrize(
    ("pc", "fmt", "text"),
    [
        (11522, "itu", "5-160-2"),
        (0x3FFF, "itu", "7-255-7"),
        (1, "itu", "0-0-1"),
        (0x010203, "ansi", "1-2-3"),
        (0xFFFFFF, "china", "255-255-255"),
        (4321, "japan", "8-7-1"),
        (1234, "japan", "2-6-18"),
    ],
)
def test_format_and_parse_structured(pc: int, fmt: str, text: str) -> None:
    assert format_pc(pc, fmt, structured=True) == text
    assert format_pc(pc, fmt) == str(pc)
    assert parse_pc(text, fmt) == pc
    assert parse_pc(text.replace("-", "."), fmt) == pc
    assert parse_pc(str(pc), fmt) == pc
    assert parse_pc(f" {hex(pc)} ", fmt) == pc


@pytest.mark.parametrize(
    ("text", "fmt"),
    [
        ("16384", "itu"),
        ("8-0-0", "itu"),
        ("0-256-0", "itu"),
        ("1-2", "ansi"),
        ("a-b-c", "ansi"),
        ("", "itu"),
        ("65536", "japan"),
        ("128-0-0", "japan"),
        ("1-2-3", "mars"),
        ("-1", "itu"),
        ("16777216", "china"),
    ],
)
def test_parse_pc_rejects(text: str, fmt: str) -> None:
    with pytest.raises(ValueError):
        parse_pc(text, fmt)


@settings(max_examples=300, deadline=None)
@given(fmt=st.sampled_from(FORMATS), data=st.data())
def test_point_code_text_round_trip(fmt: str, data: st.DataObject) -> None:
    pc = data.draw(st.integers(0, (1 << PC_BITS[fmt]) - 1))
    assert parse_pc(format_pc(pc, fmt, structured=True), fmt) == pc
    assert parse_pc(format_pc(pc, fmt, structured=False), fmt) == pc


# ------------------------------------------------------------------------------------------------
# MTP2 and link types 139-141


def test_crc16_x25_check_value() -> None:
    assert crc16_x25(b"123456789") == 0x906E


def _decode(units: list[MtpUnit], **options: str) -> tuple[list, list[Anomaly]]:
    anomalies: list[Anomaly] = []
    dec = MtpDecoder(DecodeSettings(**options), anomalies)  # type: ignore[arg-type]
    return [dec.decode(u) for u in units], anomalies


def _unit(data: bytes, linktype: int = 140, interface: int = 0, frame: int = 1) -> MtpUnit:
    return MtpUnit(frame, 1.5, linktype, interface, data)


def test_mtp2_vector_without_fcs() -> None:
    # BSN 4 BIB 1, FSN 3 FIB 1, LI 9, then the MTP3 message
    su = bytes.fromhex("84830985d2102d010f001000")
    assert build_mtp2(build_mtp3(5, 2, 1204, 4306, 0, "itu", RLC), 3, 4) == su
    (p,), anomalies = _decode([_unit(su)])
    assert anomalies == [] and p.anomalies == []
    assert (p.carrier, p.protocol, p.opc, p.dpc, p.data, p.link) == (
        "mtp2",
        "isup",
        1204,
        4306,
        RLC,
        "mtp2:if0",
    )


@pytest.mark.parametrize("fcs_mode", ["auto", "yes"])
def test_mtp2_fcs_is_detected_and_stripped(fcs_mode: str) -> None:
    su = build_mtp2(build_mtp3(5, 2, 1, 2, 3, "itu", RLC), 3, 4, fcs=True)
    assert su[-2:] == crc16_x25(su[:-2]).to_bytes(2, "little")
    (p,), anomalies = _decode([_unit(su)], mtp2_fcs=fcs_mode)
    assert anomalies == [] and p.anomalies == [] and p.data == RLC


def test_mtp2_fcs_forced_off_keeps_the_trailer() -> None:
    su = build_mtp2(build_mtp3(5, 2, 1, 2, 3, "itu", RLC), fcs=True)
    (p,), _ = _decode([_unit(su)], mtp2_fcs="no")
    assert p.data == RLC + su[-2:]
    assert [a.name for a in p.anomalies] == ["mtp2.length_mismatch"]


@pytest.mark.parametrize("fcs", [False, True])
@pytest.mark.parametrize("size", [58, 59, 60, 61, 62, 100, 268])
def test_long_msus_with_capped_li(fcs: bool, size: int) -> None:
    user = bytes.fromhex("0f0001") + bytes((i * 7) & 0xFF for i in range(size))
    su = build_mtp2(build_mtp3(5, 2, 1, 2, 3, "itu", user), fcs=fcs)
    (p,), anomalies = _decode([_unit(su)])
    assert anomalies == [] and p.anomalies == []
    assert p.data == user


def test_bad_fcs_is_reported_on_the_payload() -> None:
    su = bytearray(build_mtp2(build_mtp3(5, 2, 1, 2, 3, "itu", RLC), fcs=True))
    su[-1] ^= 0xFF
    (p,), _ = _decode([_unit(bytes(su))])
    assert p.data == RLC
    assert [a.name for a in p.anomalies] == ["mtp2.bad_fcs"]


def test_fisu_and_lssu_are_skipped_silently() -> None:
    fisu = bytes.fromhex("ffff00")
    lssu1 = bytes.fromhex("ffff0101")
    lssu2 = bytes.fromhex("ffff020100")
    fisu_fcs = fisu + crc16_x25(fisu).to_bytes(2, "little")
    out, anomalies = _decode([_unit(x) for x in (fisu, lssu1, lssu2, fisu_fcs)])
    assert out == [None] * 4 and anomalies == []


def test_truncated_signal_units() -> None:
    out, anomalies = _decode([_unit(b"\x01\x02"), _unit(b"\x00\x01", 139), _unit(b"", 141, frame=9)])
    assert out == [None, None, None]
    assert [a.name for a in anomalies] == ["mtp2.truncated", "mtp2.truncated", "mtp3.truncated"]
    assert anomalies[2].frame == 9


def test_length_mismatch() -> None:
    su = bytes.fromhex("848320") + build_mtp3(5, 2, 1, 2, 3, "itu", RLC)  # LI 32, 9 octets follow
    (p,), _ = _decode([_unit(su)])
    assert p.data == RLC and [a.name for a in p.anomalies] == ["mtp2.length_mismatch"]


def test_linktype_139_pseudo_header_and_annex_a() -> None:
    msu = build_mtp3(5, 2, 7, 8, 1, "itu", RLC)
    plain = build_mtp2_phdr(link_number=3, sent=1) + build_mtp2(msu, 1, 2)
    assert plain[:4] == bytes.fromhex("01000003")
    annex_a = build_mtp2_phdr(link_number=3, annex_a=1) + build_mtp2(msu, 300, 301, extended=True, fcs=True)
    out, anomalies = _decode([_unit(plain, 139, interface=2), _unit(annex_a, 139, interface=2)])
    assert anomalies == []
    for p in out:
        assert (p.opc, p.dpc, p.data, p.link, p.carrier) == (7, 8, RLC, "mtp2:if2", "mtp2")
        assert p.anomalies == []


def test_linktype_141_is_plain_mtp3() -> None:
    (p,), _ = _decode([_unit(build_mtp3(13, 2, 10, 20, 5, "itu", b"\x12\x00\x00\x00\x01"), 141, interface=4)])
    assert (p.carrier, p.protocol, p.link, p.data) == ("mtp3", "bicc", "mtp2:if4", b"\x12\x00\x00\x00\x01")


def test_service_indicators() -> None:
    units = [_unit(build_mtp3(si, 2, 1, 2, 0, "itu", b"\x00" * 8), 141, frame=si + 1) for si in range(16)] + [
        _unit(build_mtp3(9, 2, 1, 2, 0, "itu", b"\x00" * 8), 141, frame=50)
    ]
    out, anomalies = _decode(units)
    assert [p.protocol for p in out if p is not None] == ["isup", "bicc"]
    # management, SCCP and TUP are normal traffic; the others are reported once per link and SI
    reported = sorted(int(a.detail.split()[2]) for a in anomalies)
    assert {a.name for a in anomalies} == {"mtp3.unsupported_si"}
    assert reported == [6, 7, 8, 9, 10, 11, 12, 14, 15]


def test_per_link_point_code_format() -> None:
    settings_ = {"links": (LinkOverride("mtp2:if1", pc_format="ansi"),)}
    ansi = build_mtp3(5, 2, 0x010203, 0x040506, 9, "ansi", RLC)
    itu = build_mtp3(5, 2, 100, 200, 9, "itu", RLC)
    anomalies: list[Anomaly] = []
    dec = MtpDecoder(DecodeSettings(**settings_), anomalies)  # type: ignore[arg-type]
    p1 = dec.decode(_unit(ansi, 141, interface=1))
    p0 = dec.decode(_unit(itu, 141, interface=0))
    assert p1 is not None and p0 is not None
    assert (p1.pc_format, p1.variant, p1.opc, p1.dpc, p1.sls) == ("ansi", "ansi", 0x010203, 0x040506, 9)
    # if0 has no override and the global format is auto: a pending payload, read provisionally as ITU,
    # that keeps the MTP3 octets for the detector; once decided, the link is read with the decision
    assert isinstance(p0, PendingPayload) and p0.msu[p0.start : p0.end] == itu
    assert (p0.pc_format, p0.variant, p0.opc, p0.dpc) == ("auto", "itu", 100, 200)
    dec.set_format("mtp2:if0", "itu", "itu")
    p0 = dec.decode(_unit(itu, 141, interface=0))
    assert p0 is not None and not isinstance(p0, PendingPayload)
    assert (p0.pc_format, p0.variant, p0.opc, p0.dpc) == ("itu", "itu", 100, 200)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.binary(max_size=300),
    linktype=st.sampled_from([139, 140, 141]),
    fmt=st.sampled_from(FORMATS),
    fcs=st.sampled_from(["auto", "yes", "no"]),
)
def test_fuzz_never_raises(data: bytes, linktype: int, fmt: str, fcs: str) -> None:
    anomalies: list[Anomaly] = []
    dec = MtpDecoder(DecodeSettings(pc_format=fmt, mtp2_fcs=fcs), anomalies)
    p = dec.decode(MtpUnit(3, 0.0, linktype, 0, data))
    names = [a.name for a in anomalies] + ([a.name for a in p.anomalies] if p else [])
    assert all(_known(n) for n in names), names
    assert all(a.frame == 3 for a in anomalies)
    if p is not None:
        assert p.protocol in ("isup", "bicc")


@settings(max_examples=200, deadline=None)
@given(
    fmt=st.sampled_from(FORMATS),
    user=st.binary(min_size=2, max_size=300),
    fcs=st.booleans(),
    phdr=st.booleans(),
    extended=st.booleans(),
)
def test_mtp2_round_trip(fmt: str, user: bytes, fcs: bool, phdr: bool, extended: bool) -> None:
    su = build_mtp2(build_mtp3(5, 3, 1, 2, 3, fmt, user), 5, 6, fcs=fcs, extended=extended and phdr)
    unit = _unit(build_mtp2_phdr(annex_a=int(extended)) + su, 139) if phdr else _unit(su, 140)
    anomalies: list[Anomaly] = []
    p = MtpDecoder(DecodeSettings(pc_format=fmt), anomalies).decode(unit)
    assert anomalies == [] and p is not None and p.anomalies == []
    assert (p.opc, p.dpc, p.ni, p.data) == (1, 2, 3, user)


# ------------------------------------------------------------------------------------------------
# tshark agrees with what we build and decode


def _tshark(path: Path, *options: str, fields: tuple[str, ...]) -> list[list[str]]:
    assert TSHARK is not None
    cmd = [TSHARK, "-n", "-r", str(path), *options, "-T", "fields", "-E", "separator=\t"]
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=120).stdout
    return [line.split("\t") for line in out.splitlines()]


@pytest.mark.tshark
@needs_tshark
@pytest.mark.parametrize("fmt", FORMATS)
def test_tshark_reads_our_mtp3_labels(fmt: str, tmp_path: Path) -> None:
    bits = PC_BITS[fmt]
    cases = [
        (1, 2, 3),
        ((1 << bits) - 1, 0, 15),
        (0x5A5A5A & ((1 << bits) - 1), 0x123456 & ((1 << bits) - 1), 12),
    ]
    frames = [build_mtp3(5, 2, opc, dpc, sls, fmt, RLC) for opc, dpc, sls in cases]
    path = write_pcap(tmp_path / f"mtp3_{fmt}.pcap", 141, frames)
    rows = _tshark(
        path,
        "-o",
        f"mtp3.standard:{TSHARK_STANDARD[fmt]}",
        fields=("mtp3.opc", "mtp3.dpc", "mtp3.sls", "isup.cic"),
    )
    anomalies: list[Anomaly] = []
    dec = MtpDecoder(DecodeSettings(pc_format=fmt), anomalies)
    for (opc, dpc, sls), frame, row in zip(cases, frames, rows, strict=True):
        p = dec.decode(_unit(frame, 141))
        assert p is not None
        assert [str(p.opc), str(p.dpc), str(p.sls), "15"] == row == [str(opc), str(dpc), str(sls), "15"]


@pytest.mark.tshark
@needs_tshark
def test_tshark_reads_our_mtp2(tmp_path: Path) -> None:
    msus = [build_mtp3(5, 2, 1234, 4321, 7, "itu", RLC), build_mtp3(5, 2, 99, 98, 1, "itu", bytes(80))]
    with_fcs = write_pcap(tmp_path / "fcs.pcap", 140, [build_mtp2(m, 1, 2, fcs=True) for m in msus])
    rows = _tshark(
        with_fcs,
        "-o",
        "mtp2.capture_contains_frame_check_sequence:TRUE",
        fields=("mtp2.li", "mtp3.opc", "mtp3.dpc", "_ws.expert.message"),
    )
    assert [r[:3] for r in rows] == [["9", "1234", "4321"], ["63", "99", "98"]]
    assert not any("FCS" in r[3] or "checksum" in r[3].lower() for r in rows), rows
    phdr = write_pcap(
        tmp_path / "phdr.pcap",
        139,
        [build_mtp2_phdr(5, annex_a=1) + build_mtp2(msus[0], 300, 301, extended=True)],
    )
    assert _tshark(phdr, fields=("mtp2.li", "mtp2.fsn", "mtp2.bsn", "mtp3.opc", "isup.cic")) == [
        ["9", "300", "301", "1234", "15"]
    ]


# ------------------------------------------------------------------------------------------------
# round trips at the layer modules: parse -> build gives the octets back


@settings(max_examples=200, deadline=None)
@given(fmt=st.sampled_from(FORMATS), msu=st.binary(min_size=8, max_size=40))
def test_mtp3_parse_then_build(fmt: str, msu: bytes) -> None:
    """Any octets read as an MTP3 message and built again from the fields are the same octets (except
    the bits the format leaves spare: the SIO's priority bits, China/Japan's upper SLS bits)."""
    si, ni, opc, dpc, sls, off = mtp3.parse_mtp3(msu, 0, fmt)  # type: ignore[misc]
    built = mtp3.build_mtp3(si, ni, opc, dpc, sls, fmt, msu[off:])
    spare = bytearray(len(msu))
    spare[0] = 0x30  # SIO bits 4-5 (priority / spare) are not read
    if fmt in ("china", "japan"):
        spare[off - 1] = 0xF0  # the SLS octet's upper half
    assert bytes(b & ~m & 0xFF for b, m in zip(built, spare, strict=True)) == bytes(
        b & ~m & 0xFF for b, m in zip(msu, spare, strict=True)
    )
    assert mtp3.routing_label(fmt, si, ni, opc, dpc, sls) == built[:off]
    assert len(built[:off]) == 1 + mtp3.LABEL_LENGTH[fmt]


@settings(max_examples=100, deadline=None)
@given(
    bsn=st.integers(0, 127),
    fsn=st.integers(0, 127),
    bib=st.integers(0, 1),
    fib=st.integers(0, 1),
    n=st.integers(3, 80),
)
def test_mtp2_header_round_trip(bsn: int, fsn: int, bib: int, fib: int, n: int) -> None:
    head = mtp2.mtp2_header(bsn, fsn, n, bib=bib, fib=fib)
    assert len(head) == mtp2.HEADER_LEN
    assert (head[0] & 0x7F, head[0] >> 7, head[1] & 0x7F, head[1] >> 7) == (bsn, bib, fsn, fib)
    assert head[2] & 0x3F == min(n, mtp2.LI_MAX)
    su = mtp2.build_mtp2(bytes(n), fsn, bsn, fcs=True, fib=fib, bib=bib)
    assert su[: mtp2.HEADER_LEN] == head
    assert mtp2.crc16_x25(su[: -mtp2.FCS_LEN]) == mtp2.U16LE.unpack_from(su, len(su) - mtp2.FCS_LEN)[0]
    assert mtp2.build_mtp2_phdr(258, 1, 1) == bytes((1, 1, 1, 2))
