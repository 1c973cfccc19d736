"""iter_payloads: frames to payloads through the network and adaptation layers, on real and built captures."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sigdiag.anomalies import CATALOGUE, Anomaly
from sigdiag.capture import open_capture
from sigdiag.carrier import UnitDecoder, iter_payloads
from sigdiag.carrier.mtp import build_mtp2, build_mtp2_phdr, build_mtp3
from sigdiag.carrier.sigtran import build_m2pa_user_data, build_m3ua_data
from sigdiag.carrier.sip import build_sip_invite_with_isup
from sigdiag.carrier.units import MtpUnit, SctpUnit, StreamUnit
from sigdiag.model import Frame, Payload
from sigdiag.settings import DecodeSettings, LinkOverride
from tests.unit._packets import sctp_frame, tcp_frame, udp_fragments, udp_frame

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "captures"
shared = pytest.mark.shared


def _known(name: str) -> bool:
    """A catalogued anomaly, and not the one that reports a decoder bug."""
    return name in CATALOGUE and not name.endswith(".internal_error")


def _capture(name: str, settings_: DecodeSettings | None = None) -> tuple[list[Payload], list[Anomaly]]:
    path = SHARED / name
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    anomalies: list[Anomaly] = []
    return list(
        iter_payloads(open_capture(path, anomalies), settings_ or DecodeSettings(), anomalies)
    ), anomalies


def _frames(linktype: int, datas: Iterable[bytes], interface: int = 0) -> list[Frame]:
    return [Frame(n, 100.0 + n, linktype, d, len(d), interface) for n, d in enumerate(datas, 1)]


def _run(frames: Iterable[Frame], **options: object) -> tuple[list[Payload], list[Anomaly]]:
    anomalies: list[Anomaly] = []
    return list(iter_payloads(frames, DecodeSettings(**options), anomalies)), anomalies  # type: ignore[arg-type]


def _cic(p: Payload) -> int:
    return int.from_bytes(p.data[:4] if p.protocol == "bicc" else p.data[:2], "little") & (
        0xFFFFFFFF if p.protocol == "bicc" else 0x0FFF
    )


# ------------------------------------------------------------------------------------------------
# the shared real captures


@shared
def test_kancom_m2pa() -> None:
    payloads, anomalies = _capture("kancom-xdr_tester__isup_m2pa_itu_call.pcap")
    assert anomalies == []
    assert [p.frame for p in payloads] == [1, 2, 3, 4, 5, 6]
    assert [p.data[2] for p in payloads] == [0x01, 0x06, 0x2C, 0x09, 0x0C, 0x10]  # IAM ACM CPG ANM REL RLC
    assert {(p.carrier, p.protocol, p.variant, p.pc_format, p.ni, _cic(p)) for p in payloads} == {
        ("m2pa", "isup", "itu", "itu", 2, 15)
    }
    assert {(p.opc, p.dpc) for p in payloads} == {(3684, 15392), (15392, 3684)}
    assert len({p.link for p in payloads}) == 1
    assert all(p.anomalies == [] and p.has_cic for p in payloads)


@shared
@pytest.mark.parametrize("version", ["auto", "draft6"])
def test_tcpdump_m3ua_draft6(version: str) -> None:
    payloads, anomalies = _capture(
        "tcpdump-tests__isup_m3ua-draft6_itu_call.pcap", DecodeSettings(m3ua_version=version)
    )
    assert anomalies == []
    assert [p.data[2] for p in payloads] == [0x01, 0x2F, 0x06, 0x09, 0x0C, 0x10]  # IAM CFN ACM ANM REL RLC
    assert {(p.carrier, p.ni, _cic(p)) for p in payloads} == {("m3ua", 3, 213)}
    assert [(p.opc, p.dpc) for p in payloads] == [
        (11522, 12163),
        (12163, 11522),
        (12163, 11522),
        (12163, 11522),
        (11522, 12163),
        (12163, 11522),
    ]
    assert payloads[0].link == "m3ua:10.28.6.42:2905-10.28.6.44:2905"


@shared
def test_tcpdump_m3ua_forced_rfc_finds_no_protocol_data() -> None:
    payloads, anomalies = _capture(
        "tcpdump-tests__isup_m3ua-draft6_itu_call.pcap", DecodeSettings(m3ua_version="rfc")
    )
    assert payloads == []
    assert Counter(a.name for a in anomalies) == {"m3ua.no_protocol_data": 6}


@shared
def test_fs_mod_isup_m3ua_on_sll2_seen_twice() -> None:
    payloads, anomalies = _capture("fs-mod_isup__isup_m3ua_mgcp_call.pcap")
    assert anomalies == []
    assert len(payloads) == 10
    assert Counter(p.data[2] for p in payloads) == {0x01: 2, 0x06: 2, 0x09: 2, 0x0C: 2, 0x10: 2}
    assert {(p.carrier, p.ni, p.sls, _cic(p)) for p in payloads} == {("m3ua", 2, 1, 1)}
    assert {(p.opc, p.dpc) for p in payloads} == {(1, 2), (2, 1)}
    # the two hops (ASP -> STP, STP -> ASP) are two links, each message once on each
    links = Counter(p.link for p in payloads)
    assert sorted(links.values()) == [5, 5]
    assert set(links) == {
        "m3ua:172.30.0.10:2905-172.30.0.11:44643",
        "m3ua:172.30.0.10:2905-172.30.0.12:49171",
    }


@shared
def test_bicc_m3ua_si13() -> None:
    (p,), anomalies = _capture("wireshark-wiki__bicc.pcap")
    assert anomalies == []
    assert (p.carrier, p.protocol, p.variant, p.opc, p.dpc, p.ni, p.sls) == (
        "m3ua",
        "bicc",
        "itu",
        329729,
        75781,
        2,
        2,
    )
    assert _cic(p) == 18 and p.data[4] == 0x01  # 32-bit call instance code, IAM
    assert b"v=0" in p.data  # the SDP tunnelled in the application transport parameter


@shared
def test_nextcaller_sip_i_ansi_iam_in_ip_fragments() -> None:
    (p,), anomalies = _capture("nextcaller-sip-capture__sip-i_ansi_iam_fragmented.pcap")
    assert anomalies == []
    assert (p.frame, p.carrier, p.protocol, p.variant, p.pc_format, p.has_cic) == (
        2,
        "sip-i",
        "isup",
        "ansi",
        None,
        False,
    )
    assert (p.opc, p.dpc, p.ni, p.sls) == (None, None, None, None)
    assert p.data[0] == 0x01 and len(p.data) == 35
    assert p.sip_call_id == "285783695_133494394@216.221.155.72"
    assert p.link == "sip-i:10.0.90.18:5060-216.221.155.72:5060"


# ------------------------------------------------------------------------------------------------
# built captures through every path


RLC = bytes.fromhex("07001000")


def test_ss7_link_types() -> None:
    msu = build_mtp3(5, 2, 10, 20, 3, "itu", RLC)
    frames = [
        *_frames(141, [msu], interface=0),
        *_frames(140, [build_mtp2(msu, fcs=True), bytes.fromhex("ffff00")], interface=1),
        *_frames(139, [build_mtp2_phdr(9) + build_mtp2(msu)], interface=2),
    ]
    payloads, anomalies = _run(frames)
    assert anomalies == []
    assert [(p.carrier, p.link, p.opc, p.dpc, p.data) for p in payloads] == [
        ("mtp3", "mtp2:if0", 10, 20, RLC),
        ("mtp2", "mtp2:if1", 10, 20, RLC),
        ("mtp2", "mtp2:if2", 10, 20, RLC),
    ]


def test_every_sctp_chunk_and_every_carrier_in_one_capture() -> None:
    msu = build_mtp3(5, 2, 10, 20, 3, "itu", RLC)
    invite = build_sip_invite_with_isup(bytes.fromhex("0100"), call_id="c@x", variant_version="ansi88")
    frames = _frames(
        1,
        [
            sctp_frame("10.0.0.1", "10.0.0.2", 2905, 2905, 3, build_m3ua_data(1, 2, 5, 2, 0, 1, RLC), tsn=1),
            sctp_frame("10.0.0.2", "10.0.0.1", 2905, 2905, 3, build_m3ua_data(2, 1, 5, 2, 0, 1, RLC), tsn=1),
            sctp_frame("10.0.0.3", "10.0.0.4", 3565, 3565, 5, build_m2pa_user_data(1, 1, msu)),
            sctp_frame("10.0.0.5", "10.0.0.6", 5000, 6000, 8, bytes.fromhex("0700000010 00")),
            sctp_frame("10.0.0.7", "10.0.0.8", 9999, 9998, 0, b"opaque"),
            udp_frame("10.1.0.1", "10.1.0.2", 5060, 5060, invite),
            *udp_fragments("10.1.0.3", "10.1.0.4", 5060, 5080, invite, mtu=200),
            tcp_frame("10.2.0.1", "10.2.0.2", 40000, 5060, 1000, invite[:50]),
            tcp_frame("10.2.0.1", "10.2.0.2", 40000, 5060, 1050, invite[50:]),
        ],
    )
    payloads, anomalies = _run(frames)
    assert [a.name for a in anomalies] == ["sctp.unknown_ppid"]
    assert [(p.carrier, p.protocol) for p in payloads] == [
        ("m3ua", "isup"),
        ("m3ua", "isup"),
        ("m2pa", "isup"),
        ("sctp", "bicc"),
        ("sip-i", "isup"),
        ("sip-i", "isup"),
        ("sip-i", "isup"),
    ]
    assert payloads[0].link == payloads[1].link == "m3ua:10.0.0.1:2905-10.0.0.2:2905"
    assert [p.frame for p in payloads][-3:] == [6, len(frames) - 2, len(frames)]
    assert all(p.anomalies == [] for p in payloads)
    assert [p.variant for p in payloads if p.carrier == "sip-i"] == ["ansi"] * 3


def test_per_link_overrides_and_one_lookup_per_link(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    original = DecodeSettings.for_link

    def counting(self: DecodeSettings, link: str) -> tuple[str, str]:
        calls.append(link)
        return original(self, link)

    monkeypatch.setattr(DecodeSettings, "for_link", counting)
    ansi = build_mtp3(5, 2, 0x010203, 0x040506, 7, "ansi", RLC)
    china = build_mtp3(5, 2, 0x0A0B0C, 0x0D0E0F, 7, "china", RLC)
    frames = [
        *_frames(141, [ansi] * 5, interface=1),
        *_frames(
            1, [sctp_frame("10.9.0.1", "10.9.0.2", 3565, 3565, 5, build_m2pa_user_data(1, 1, china))] * 5
        ),
    ]
    overrides = (LinkOverride("mtp2:if1", pc_format="ansi"), LinkOverride("m2pa:10.9.*", pc_format="china"))
    payloads, anomalies = _run(frames, links=overrides)
    assert anomalies == []
    assert [(p.pc_format, p.variant, p.opc) for p in payloads] == [("ansi", "ansi", 0x010203)] * 5 + [
        ("china", "itu", 0x0A0B0C)
    ] * 5
    assert calls == ["mtp2:if1", "m2pa:10.9.0.1:3565-10.9.0.2:3565"]


def test_unit_decoder() -> None:
    anomalies: list[Anomaly] = []
    dec = UnitDecoder(DecodeSettings(), anomalies)
    msu = build_mtp3(13, 2, 1, 2, 3, "itu", bytes.fromhex("0100000010 00"))
    out = [
        *dec.decode(SctpUnit(1, 0.0, "a", "b", 1, 2, 3, 0, build_m3ua_data(1, 2, 5, 2, 0, 1, RLC))),
        *dec.decode(MtpUnit(2, 0.0, 141, 0, msu)),
        *dec.decode(
            StreamUnit(3, 0.0, "udp", "a", "b", 5060, 5060, build_sip_invite_with_isup(b"\x01", call_id="z"))
        ),
    ]
    dec.finish()
    assert [(p.frame, p.carrier, p.protocol) for p in out] == [
        (1, "m3ua", "isup"),
        (2, "mtp3", "bicc"),
        (3, "sip-i", "isup"),
    ]
    assert anomalies == []


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    records=st.lists(
        st.tuples(st.sampled_from([1, 113, 276, 101, 139, 140, 141, 147]), st.binary(max_size=120)),
        max_size=8,
    ),
    fmt=st.sampled_from(["itu", "ansi", "china", "japan"]),
)
def test_fuzz_frames_never_raise(records: list[tuple[int, bytes]], fmt: str) -> None:
    frames = [Frame(n, float(n), lt, data, len(data)) for n, (lt, data) in enumerate(records, 1)]
    payloads, anomalies = _run(frames, pc_format=fmt)
    names = [a.name for a in anomalies] + [a.name for p in payloads for a in p.anomalies]
    assert all(_known(n) for n in names), names
    assert all(1 <= a.frame <= max(len(frames), 1) for a in anomalies)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    user=st.binary(max_size=60),
    cut=st.integers(0, 40),
    flip=st.integers(0, 120),
    value=st.integers(0, 255),
    ppid=st.sampled_from([2, 3, 5, 8]),
)
def test_fuzz_mutated_sctp_frames(user: bytes, cut: int, flip: int, value: int, ppid: int) -> None:
    msu = build_mtp3(5, 2, 1, 2, 3, "itu", user)
    body = {3: build_m3ua_data(1, 2, 5, 2, 0, 1, user), 5: build_m2pa_user_data(1, 1, msu)}.get(ppid, msu)
    frame = bytearray(sctp_frame("10.0.0.1", "10.0.0.2", 2905, 2905, ppid, body))
    del frame[len(frame) - min(cut, len(frame)) :]
    if flip < len(frame):
        frame[flip] = value
    _, anomalies = _run(_frames(1, [bytes(frame)]))
    assert all(_known(a.name) for a in anomalies)
