"""The library API: ``sigdiag.read_messages`` and ``sigdiag.messages_frame``.

Settings keywords, a settings object, a YAML config file with per-link overrides, errors for files that
are not captures and for bad settings, frame-level anomalies on the reader, and a truncated capture.
"""

from __future__ import annotations

import gzip
import json
import struct
from pathlib import Path
from typing import Any

import pytest

import sigdiag
from sigdiag import CaptureError, ConfigError, DecodeSettings, Message, messages_frame, read_messages
from sigdiag.anomalies import CATALOGUE
from sigdiag.capture.writer import PcapngWriter, PcapWriter
from sigdiag.carrier import flows as wire_flows
from sigdiag.carrier import link as wire_link
from sigdiag.carrier import sctp as wire_sctp
from sigdiag.carrier import transport as wire_transport
from sigdiag.carrier.mtp import build_mtp2, build_mtp3
from sigdiag.carrier.sigtran import build_m2pa_user_data, build_m3ua_data, build_m3ua_draft6_data
from sigdiag.codec import encode_message
from sigdiag.model import MESSAGE_KEYS

T0 = 1_700_000_000.0

ITU_IAM = {
    "nature_of_connection_indicators": {"satellite": 0},
    "forward_call_indicators": {"isup_all_the_way": 1},
    "calling_partys_category": {"category": 10},
    "transmission_medium_requirement": {"medium": 3},
    "called_party_number": {"nature_of_address": 3, "numbering_plan": 1, "digits": "0453114"},
    "calling_party_number": {"nature_of_address": 3, "numbering_plan": 1, "digits": "01058722000"},
}
ANSI_IAM = {
    **{k: v for k, v in ITU_IAM.items() if k != "transmission_medium_requirement"},
    "user_service_information": {"information_transfer_rate": 16},
}


def _call(cic: int, variant: str = "itu") -> list[bytes]:
    """IAM, SAM (with ST), ACM, ANM, REL (cause 16), RLC."""
    iam = ANSI_IAM if variant == "ansi" else ITU_IAM
    msgs: list[tuple[str, dict[str, Any]]] = [
        ("IAM", iam),
        ("SAM", {"subsequent_number": {"digits": "5678", "st": True}}),
        ("ACM", {"backward_call_indicators": {"charge": 2}}),
        ("ANM", {}),
        ("REL", {"cause_indicators": {"location": 4, "cause_value": 16}}),
        ("RLC", {}),
    ]
    return [encode_message(t, p, cic=cic, variant=variant) for t, p in msgs]


def _m3ua_frames(bodies: list[bytes], a: str = "10.0.0.1", b: str = "10.0.0.2", si: int = 5) -> list[bytes]:
    flow = wire_flows.SctpFlow(a, b, 2905, 2905, vtag=1)
    return [
        flow.frame(
            [wire_sctp.data_chunk(build_m3ua_data(0x2D02, 0x0C3B, si, 2, 0, 3, body), tsn, stream=1, ssn=tsn)]
        )
        for tsn, body in enumerate(bodies, 1)
    ]


def _pcap(path: Path, linktype: int, frames: list[bytes], **kw: Any) -> Path:
    with PcapWriter(path, linktype, **kw) as w:
        for i, f in enumerate(frames):
            w.write(f, T0 + i * 0.5)
    return path


@pytest.fixture
def m3ua_pcap(tmp_path: Path) -> Path:
    return _pcap(tmp_path / "m3ua.pcap", 1, _m3ua_frames(_call(17)))


# ------------------------------------------------------------------------------------------------
# read_messages


def test_public_api_names() -> None:
    assert sigdiag.read_messages is read_messages
    assert sigdiag.messages_frame is messages_frame
    assert set(sigdiag.__all__) >= {"read_messages", "messages_frame", "CaptureError", "DecodeSettings"}
    with pytest.raises(AttributeError):
        _ = sigdiag.no_such_name


def test_read_messages_yields_decoded_messages(m3ua_pcap: Path) -> None:
    reader = read_messages(m3ua_pcap)
    messages = list(reader)
    assert all(isinstance(m, Message) for m in messages)
    assert [m.type for m in messages] == ["IAM", "SAM", "ACM", "ANM", "REL", "RLC"]
    assert [m.type_code for m in messages] == [0x01, 0x02, 0x06, 0x09, 0x0C, 0x10]
    assert [m.frame for m in messages] == [1, 2, 3, 4, 5, 6]
    assert [m.ts for m in messages] == [T0 + i * 0.5 for i in range(6)]
    iam, sam, _acm, _anm, rel, _rlc = messages
    assert (iam.carrier, iam.protocol, iam.variant, iam.pc_format) == ("m3ua", "isup", "itu", "itu")
    assert (iam.opc, iam.dpc, iam.ni, iam.sls, iam.cic) == (0x2D02, 0x0C3B, 2, 3, 17)
    assert (iam.called, iam.called_complete, iam.calling) == ("0453114", False, "01058722000")
    assert (sam.subsequent, sam.called) == ("5678", None)
    assert (rel.cause, rel.cause_location) == (16, 4)
    assert iam.params["called_party_number"]["nature_of_address"] == 3
    assert iam.raw.startswith(b"\x11\x00\x01")
    assert all(m.anomalies == [] for m in messages)
    assert reader.anomalies == []


def test_reader_is_an_iterator_that_streams(tmp_path: Path) -> None:
    """The first message comes without reading the whole file; the reader is its own iterator."""
    bodies = _call(1) * 3000
    path = _pcap(tmp_path / "big.pcap", 1, _m3ua_frames(bodies))
    reader = read_messages(path)
    assert iter(reader) is iter(reader)
    first = next(reader)
    assert first.type == "IAM" and first.frame == 1
    assert next(reader).frame == 2
    assert sum(1 for _ in reader) == len(bodies) - 2
    with pytest.raises(StopIteration):
        next(reader)


def test_as_dict_has_the_documented_keys_and_is_json(m3ua_pcap: Path) -> None:
    for m in read_messages(m3ua_pcap):
        row = m.as_dict()
        assert tuple(row) == MESSAGE_KEYS
        json.dumps(row)
    assert {
        "frame",
        "ts",
        "carrier",
        "protocol",
        "variant",
        "opc",
        "dpc",
        "ni",
        "sls",
        "cic",
        "type",
        "type_code",
        "called",
        "called_complete",
        "calling",
        "subsequent",
        "cause",
        "cause_location",
        "anomalies",
        "params",
    } <= set(MESSAGE_KEYS)


def test_messages_frame(m3ua_pcap: Path) -> None:
    df = messages_frame(m3ua_pcap)
    assert list(df.columns) == list(MESSAGE_KEYS)
    assert len(df) == 6
    assert df["type"].tolist() == ["IAM", "SAM", "ACM", "ANM", "REL", "RLC"]
    assert df.loc[0, "called"] == "0453114" and df.loc[0, "calling"] == "01058722000"
    assert df["cic"].tolist() == [17] * 6
    assert df.loc[4, "cause"] == 16
    assert df["frame"].tolist() == [1, 2, 3, 4, 5, 6]
    assert isinstance(df.loc[0, "params"], dict)


def test_messages_frame_passes_options_and_raises_capture_error(tmp_path: Path) -> None:
    msus = [build_mtp3(5, 2, 0x0A0B0C, 0x010203, 1, "ansi", b) for b in _call(9000, "ansi")]
    path = _pcap(tmp_path / "ansi.pcap", 141, msus)
    df = messages_frame(path, pc_format="ansi")
    assert df["opc"].tolist()[0] == 0x0A0B0C and df["cic"].tolist()[0] == 9000
    assert set(df["variant"]) == {"ansi"}
    empty = _pcap(tmp_path / "empty.pcap", 1, [])
    assert len(messages_frame(empty)) == 0
    assert list(messages_frame(empty).columns) == list(MESSAGE_KEYS)
    with pytest.raises(CaptureError):
        messages_frame(tmp_path / "missing.pcap")


# ------------------------------------------------------------------------------------------------
# settings keywords


@pytest.mark.parametrize(
    ("pc_format", "opc", "dpc", "variant", "cic"),
    [
        ("itu", 0x2D02, 0x0C3B, "itu", 0x345),
        ("ansi", 0xF00A0B, 0x01FE03, "ansi", 0x2345),
        ("china", 0x8A0B0C, 0x210203, "itu", 0x345),
        ("japan", 0xABCD, 0x1234, "itu", 0x345),
    ],
)
def test_pc_format_keyword(
    tmp_path: Path, pc_format: str, opc: int, dpc: int, variant: str, cic: int
) -> None:
    msus = [build_mtp3(5, 2, opc, dpc, 5, pc_format, b) for b in _call(cic, variant)]
    path = _pcap(tmp_path / f"{pc_format}.pcap", 141, msus)
    messages = list(read_messages(path, pc_format=pc_format))
    assert len(messages) == 6
    assert {(m.opc, m.dpc, m.cic, m.pc_format, m.variant) for m in messages} == {
        (opc, dpc, cic, pc_format, variant)
    }
    assert messages[0].called == "0453114" and messages[0].anomalies == []
    if pc_format != "itu":  # the same bytes read with the ITU format are something else
        assert [(m.opc, m.dpc) for m in read_messages(path, pc_format="itu")] != [(opc, dpc)] * 6
    # the default (auto) decides the format from the messages and reads them as the keyword does
    reader = read_messages(path)
    assert [m.as_dict() for m in reader] == [m.as_dict() for m in messages]
    assert [(r.link, r.pc_format, r.decided_by) for r in reader.links] == [("mtp2:if0", pc_format, "auto")]


def test_variant_keyword_overrides_the_point_code_format(tmp_path: Path) -> None:
    """ANSI ISUP tables over an ITU-format label (e.g. an ANSI network seen through a 14-bit gateway)."""
    msus = [build_mtp3(5, 2, 100, 200, 0, "itu", b) for b in _call(9000, "ansi")]
    path = _pcap(tmp_path / "v.pcap", 141, msus)
    messages = list(read_messages(path, variant="ansi"))
    assert {(m.variant, m.pc_format, m.cic) for m in messages} == {("ansi", "itu", 9000)}
    assert messages[0].called == "0453114" and messages[0].anomalies == []
    assert messages[0].params["user_service_information"]["information_transfer_rate"] == 16
    # with ITU tables the CIC is 12 bits
    assert next(iter(read_messages(path))).cic == 9000 & 0x0FFF


def test_mtp2_fcs_keyword(tmp_path: Path) -> None:
    msus = [build_mtp3(5, 2, 100, 200, 0, "itu", b) for b in _call(3)]
    with_fcs = _pcap(tmp_path / "fcs.pcap", 140, [build_mtp2(m, fcs=True) for m in msus])
    without = _pcap(tmp_path / "nofcs.pcap", 140, [build_mtp2(m) for m in msus])
    for path in (with_fcs, without):
        auto = list(read_messages(path))
        assert [m.type for m in auto] == ["IAM", "SAM", "ACM", "ANM", "REL", "RLC"]
        assert all(m.anomalies == [] for m in auto)
    forced = list(read_messages(with_fcs, mtp2_fcs="yes"))
    assert [m.raw for m in forced] == [m.raw for m in read_messages(with_fcs)]
    assert [m.raw for m in read_messages(without, mtp2_fcs="no")] == [m.raw for m in forced]
    # forcing "no FCS" on a capture with FCS leaves two octets at the end of each message
    wrong = list(read_messages(with_fcs, mtp2_fcs="no"))
    assert all(len(w.raw) == len(f.raw) + 2 for w, f in zip(wrong, forced, strict=True))


def test_m3ua_version_keyword(tmp_path: Path) -> None:
    msus = [build_mtp3(5, 2, 100, 200, 0, "itu", b) for b in _call(4)]
    flow = wire_flows.SctpFlow("10.0.0.1", "10.0.0.2", 2905, 2905)
    frames = [flow.frame([wire_sctp.data_chunk(build_m3ua_draft6_data(m), i)]) for i, m in enumerate(msus, 1)]
    path = _pcap(tmp_path / "draft6.pcap", 1, frames)
    for version in ("auto", "draft6"):
        messages = list(read_messages(path, m3ua_version=version))
        assert (messages[0].type, messages[0].opc, messages[0].dpc, messages[0].cic) == ("IAM", 100, 200, 4)
        assert len(messages) == 6
    reader = read_messages(path, m3ua_version="rfc")
    assert list(reader) == []
    assert {a.name for a in reader.anomalies} == {"m3ua.no_protocol_data"}


def test_pc_display_keyword_is_a_setting_only(m3ua_pcap: Path) -> None:
    reader = read_messages(m3ua_pcap, pc_display="structured")
    assert reader.settings.pc_display == "structured"
    assert next(reader).opc == 0x2D02  # messages keep integers; reports format them


def test_settings_object_and_keyword_precedence(tmp_path: Path) -> None:
    msus = [build_mtp3(5, 2, 0x0A0B0C, 0x010203, 1, "ansi", b) for b in _call(9000, "ansi")]
    path = _pcap(tmp_path / "ansi.pcap", 141, msus)
    by_object = list(read_messages(path, settings=DecodeSettings(pc_format="ansi")))
    assert by_object[0].opc == 0x0A0B0C
    # a keyword wins over the settings object
    reader = read_messages(path, settings=DecodeSettings(pc_format="ansi"), pc_format="itu")
    assert next(reader).pc_format == "itu"


@pytest.mark.parametrize(
    "options",
    [
        {"pc_format": "ansi14"},
        {"variant": "china"},
        {"mtp2_fcs": "maybe"},
        {"m3ua_version": "draft7"},
        {"pc_display": "dotted"},
    ],
)
def test_bad_setting_values_raise_config_error(m3ua_pcap: Path, options: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as info:
        read_messages(m3ua_pcap, **options)  # type: ignore[arg-type]
    assert next(iter(options.values())) in str(info.value)


def test_unknown_keyword_is_a_type_error(m3ua_pcap: Path) -> None:
    with pytest.raises(TypeError):
        read_messages(m3ua_pcap, pc_fromat="itu")  # type: ignore[call-arg]


# ------------------------------------------------------------------------------------------------
# config file with per-link overrides


def _mixed_networks(tmp_path: Path) -> Path:
    """A pcapng with four links: M3UA ITU (10.0.0.x), M3UA ANSI (10.9.0.x), MTP2 ANSI (interface 1),
    M2PA China (10.8.0.x)."""
    itu = _m3ua_frames(_call(17))
    ansi_m3ua = _m3ua_frames(_call(9001, "ansi"), "10.9.0.2", "10.9.0.1")
    mtp2 = [build_mtp2(build_mtp3(5, 2, 0x0A0B0C, 0x010203, 1, "ansi", b)) for b in _call(9002, "ansi")]
    flow = wire_flows.SctpFlow("10.8.0.1", "10.8.0.2", 3565, 3565)
    m2pa = [
        flow.frame(
            [
                wire_sctp.data_chunk(
                    build_m2pa_user_data(0, i, build_mtp3(5, 2, 0x8A0B0C, 0x210203, 1, "china", b)), i, ppid=5
                )
            ]
        )
        for i, b in enumerate(_call(5), 1)
    ]
    path = tmp_path / "mixed.pcapng"
    with PcapngWriter(path, [(1, "eth0"), (140, "e1")]) as w:
        for i in range(6):
            w.write(itu[i], T0 + i, 0)
            w.write(ansi_m3ua[i], T0 + i, 0)
            w.write(mtp2[i], T0 + i, 1)
            w.write(m2pa[i], T0 + i, 0)
    return path


CONFIG = """\
# one capture, several networks
pc_format: itu
links:
  - match: "m3ua:10.9.0.1:2905-*"
    variant: ansi
    pc_format: ansi
  - match: "mtp2:if1"
    pc_format: ansi
  - match: "m2pa:10.8.*"
    pc_format: china
"""


def test_config_file_with_per_link_overrides(tmp_path: Path) -> None:
    path = _mixed_networks(tmp_path)
    config = tmp_path / "sigdiag.yaml"
    config.write_text(CONFIG)
    messages = list(read_messages(path, config=config))
    assert len(messages) == 24
    by_link: dict[str, set[tuple[Any, ...]]] = {}
    for m in messages:
        by_link.setdefault(m.link, set()).add((m.carrier, m.pc_format, m.variant, m.cic, m.opc, m.dpc))
        assert m.anomalies == [], m
        if m.type == "IAM":
            assert (m.called, m.calling) == ("0453114", "01058722000")
    assert by_link == {
        "m3ua:10.0.0.1:2905-10.0.0.2:2905": {("m3ua", "itu", "itu", 17, 0x2D02, 0x0C3B)},
        "m3ua:10.9.0.1:2905-10.9.0.2:2905": {("m3ua", "ansi", "ansi", 9001, 0x2D02, 0x0C3B)},
        "mtp2:if1": {("mtp2", "ansi", "ansi", 9002, 0x0A0B0C, 0x010203)},
        "m2pa:10.8.0.1:3565-10.8.0.2:3565": {("m2pa", "china", "itu", 5, 0x8A0B0C, 0x210203)},
    }
    # a keyword applies to every link without an override
    assert {
        m.pc_format
        for m in read_messages(path, config=config, pc_format="japan")
        if m.link.startswith("m3ua:10.0")
    } == {"japan"}
    # with ITU labels everywhere the ANSI and China links are misread
    plain = list(read_messages(path, pc_format="itu"))
    assert {m.pc_format for m in plain} == {"itu"}
    assert sum(bool(m.anomalies) for m in plain) > 0
    # without the config the format of each MTP3 link is detected (the M3UA ones carry 32-bit point
    # codes, read the same either way; without the variant override the ANSI M3UA link reads as ITU)
    reader = read_messages(path)
    detected = {(m.link, m.pc_format) for m in reader}
    assert detected == {
        ("m3ua:10.0.0.1:2905-10.0.0.2:2905", "itu"),
        ("m3ua:10.9.0.1:2905-10.9.0.2:2905", "itu"),
        ("mtp2:if1", "ansi"),
        ("m2pa:10.8.0.1:3565-10.8.0.2:3565", "china"),
    }
    assert {r.link: r.decided_by for r in reader.links} == dict.fromkeys(
        (link for link, _ in detected), "auto"
    )


def test_settings_object_then_config_file_then_keywords(tmp_path: Path) -> None:
    msus = [build_mtp3(5, 2, 0x0A0B0C, 0x010203, 1, "ansi", b) for b in _call(9000, "ansi")]
    path = _pcap(tmp_path / "ansi.pcap", 141, msus)
    config = tmp_path / "c.yaml"
    config.write_text("pc_format: ansi\n")
    base = DecodeSettings(pc_format="japan", mtp2_fcs="no")
    reader = read_messages(path, settings=base, config=config)
    assert (reader.settings.pc_format, reader.settings.mtp2_fcs) == ("ansi", "no")
    assert next(reader).cic == 9000
    assert read_messages(path, settings=base, config=config, pc_format="china").settings.pc_format == "china"


def test_config_file_global_settings(tmp_path: Path, m3ua_pcap: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("pc_display: structured\nmtp2_fcs: 'no'\nm3ua_version: rfc\nvariant: itu\n")
    reader = read_messages(m3ua_pcap, config=config)
    assert (reader.settings.pc_display, reader.settings.mtp2_fcs, reader.settings.m3ua_version) == (
        "structured",
        "no",
        "rfc",
    )
    assert len(list(reader)) == 6


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("pc_format: [unclosed\n", "not valid YAML"),
        ("- a list\n", "mapping"),
        ("pc_fromat: itu\n", "unknown settings"),
        ("pc_format: ansi15\n", "pc_format"),
        ("links:\n  - pc_format: ansi\n", "match"),
        ("links:\n  - match: 'x'\n    colour: red\n", "unknown keys"),
        ("links:\n  - match: 'x'\n    pc_format: bogus\n", "pc_format"),
    ],
)
def test_bad_config_file(tmp_path: Path, m3ua_pcap: Path, text: str, fragment: str) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(text)
    with pytest.raises(ConfigError) as info:
        read_messages(m3ua_pcap, config=config)
    assert fragment in str(info.value)
    assert str(config) in str(info.value)


def test_missing_config_file(tmp_path: Path, m3ua_pcap: Path) -> None:
    with pytest.raises(ConfigError) as info:
        read_messages(m3ua_pcap, config=tmp_path / "nope.yaml")
    assert "nope.yaml" in str(info.value)


# ------------------------------------------------------------------------------------------------
# files that are not captures


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"", "empty"),
        (b"Hello, this is a text file.\n", "not a pcap or pcapng"),
        (b"\x00\x01\x02", "not a pcap or pcapng"),
        (b'{"json": true}', "not a pcap or pcapng"),
        (gzip.compress(b"just text inside gzip"), "not a pcap or pcapng"),
        (b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03garbage", "gzip"),
    ],
)
def test_not_a_capture(tmp_path: Path, content: bytes, fragment: str) -> None:
    path = tmp_path / "notes.pcap"
    path.write_bytes(content)
    with pytest.raises(CaptureError) as info:
        read_messages(path)  # raised by the call itself, before any iteration
    text = str(info.value)
    assert fragment in text and str(path) in text and "\n" not in text


def test_missing_file_and_directory(tmp_path: Path) -> None:
    for path in (tmp_path / "missing.pcap", tmp_path):
        with pytest.raises(CaptureError) as info:
            read_messages(path)
        assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_capture_error_is_importable_from_both_places() -> None:
    from sigdiag.capture import CaptureError as FromCapture
    from sigdiag.decode import CaptureError as FromDecode

    assert FromCapture is CaptureError is FromDecode
    assert issubclass(CaptureError, Exception)


def test_a_capture_without_signalling_is_not_an_error(tmp_path: Path) -> None:
    frames = [wire_link.encapsulate(1, wire_transport.udp_packet("192.0.2.1", "192.0.2.2", 53, 53, b"dns?"))]
    reader = read_messages(_pcap(tmp_path / "dns.pcap", 1, frames))
    assert list(reader) == [] and reader.anomalies == []


# ------------------------------------------------------------------------------------------------
# frame-level anomalies and damage


def test_frame_level_anomalies_on_the_reader(tmp_path: Path) -> None:
    good = _m3ua_frames(_call(17))
    flow = wire_flows.SctpFlow("10.0.0.1", "10.0.0.2", 2905, 2905)
    truncated_chunk = flow.frame([wire_sctp.data_chunk(build_m3ua_data(1, 2, 5, 2, 0, 0, _call(18)[0]), 99)])[
        :-20
    ]
    arp = wire_link.ethernet(b"\x00" * 28, 0x0806)
    unknown_si = _m3ua_frames([_call(19)[0]], si=9)[0]  # SI 9: neither ISUP nor BICC
    frames = [good[0], truncated_chunk, good[1], arp, good[2], unknown_si, *good[3:]]
    reader = read_messages(_pcap(tmp_path / "bad.pcap", 1, frames))
    messages = list(reader)
    assert [m.frame for m in messages] == [1, 3, 5, 7, 8, 9]
    assert all(m.anomalies == [] for m in messages)
    got = {(a.name, a.frame) for a in reader.anomalies}
    assert ("mtp3.unsupported_si", 6) in got
    assert any(frame == 2 and name.startswith(("sctp.", "ip.")) for name, frame in got), got
    assert all(a.name in CATALOGUE for a in reader.anomalies)
    assert reader.anomaly_count == len(reader.anomalies)
    assert all(str(a).startswith(f"frame {a.frame}: {a.name}") for a in reader.anomalies)


def test_message_level_anomalies_are_on_the_message(tmp_path: Path) -> None:
    bodies = _call(17)
    bodies[4] = bodies[4][:3] + b"\x09\x00"  # REL whose cause pointer points past the end
    reader = read_messages(_pcap(tmp_path / "m.pcap", 1, _m3ua_frames(bodies)))
    messages = list(reader)
    assert len(messages) == 6
    assert [a.name for a in messages[4].anomalies] == ["isup.pointer_out_of_range"]
    assert messages[4].anomalies[0].frame == 5
    assert reader.anomalies == []


@pytest.mark.parametrize("container", ["pcap", "pcap_ns_be", "pcapng", "pcap_gzip"])
def test_truncated_capture_keeps_the_messages_before_the_damage(tmp_path: Path, container: str) -> None:
    frames = _m3ua_frames(_call(17) + _call(18))
    path = tmp_path / "full"
    if container == "pcapng":
        with PcapngWriter(path, [(1, "eth0")]) as w:
            for i, f in enumerate(frames):
                w.write(f, T0 + i)
    else:
        _pcap(path, 1, frames, nanosecond=container == "pcap_ns_be", big_endian=container == "pcap_ns_be")
    data = path.read_bytes()
    # cut in the middle of the 8th record's data
    record_size = (
        (lambda f: 32 + (-len(f) & 3) + len(f)) if container == "pcapng" else (lambda f: 16 + len(f))
    )
    record_end = len(data) - sum(record_size(f) for f in frames[7:])
    cut = data[: record_end + 30]
    if container == "pcap_gzip":
        cut = gzip.compress(cut, mtime=0)
    damaged = tmp_path / f"cut.{container}"
    damaged.write_bytes(cut)
    reader = read_messages(damaged)
    messages = list(reader)
    assert [m.frame for m in messages] == list(range(1, 8))
    assert [m.type for m in messages] == [m.type for m in read_messages(path)][:7]
    expected = "pcapng.truncated_block" if container == "pcapng" else "pcap.truncated_record"
    assert [(a.name, a.frame) for a in reader.anomalies] == [(expected, 8)]


def test_truncated_record_header(tmp_path: Path) -> None:
    path = _pcap(tmp_path / "h.pcap", 1, _m3ua_frames(_call(17)))
    damaged = tmp_path / "h_cut.pcap"
    damaged.write_bytes(path.read_bytes() + b"\x01\x02\x03\x04\x05")
    reader = read_messages(damaged)
    assert len(list(reader)) == 6
    assert [(a.name, a.frame) for a in reader.anomalies] == [("pcap.truncated_header", 7)]


def test_truncated_gzip_stream(tmp_path: Path) -> None:
    path = _pcap(tmp_path / "g.pcap", 1, _m3ua_frames(_call(17) * 40))
    packed = gzip.compress(path.read_bytes(), mtime=0)
    damaged = tmp_path / "g_cut.pcap.gz"
    damaged.write_bytes(packed[: len(packed) // 2])
    reader = read_messages(damaged)
    messages = list(reader)
    assert 0 < len(messages) < 240
    assert [m.frame for m in messages] == list(range(1, len(messages) + 1))
    assert {a.name for a in reader.anomalies} <= {
        "gzip.corrupt",
        "pcap.truncated_record",
        "pcap.truncated_header",
    }
    assert "gzip.corrupt" in {a.name for a in reader.anomalies}


def test_oversized_record_stops_reading(tmp_path: Path) -> None:
    path = _pcap(tmp_path / "o.pcap", 1, _m3ua_frames(_call(17)))
    damaged = tmp_path / "o_bad.pcap"
    damaged.write_bytes(path.read_bytes() + struct.pack("<IIII", 0, 0, 0xFFFFFFFF, 60) + b"x" * 60)
    reader = read_messages(damaged)
    assert len(list(reader)) == 6
    assert [(a.name, a.frame) for a in reader.anomalies] == [("pcap.oversized_record", 7)]


def test_anomalies_kept_are_bounded(tmp_path: Path) -> None:
    """A capture made of nothing but bad frames: anomalies are counted, and only a bounded number kept."""
    from sigdiag.decode import MAX_KEPT_ANOMALIES

    arp = wire_link.ethernet(b"\x00" * 28, 0x0806)
    truncated = wire_link.ethernet(b"\x45\x00", 0x0800)
    frames = [truncated if i % 2 else arp for i in range(MAX_KEPT_ANOMALIES * 2 + 10)]
    reader = read_messages(_pcap(tmp_path / "many.pcap", 1, frames))
    assert list(reader) == []
    assert len(reader.anomalies) <= MAX_KEPT_ANOMALIES
    assert reader.anomaly_count >= len(reader.anomalies)
    assert reader.anomaly_count >= MAX_KEPT_ANOMALIES


def test_path_types(tmp_path: Path, m3ua_pcap: Path) -> None:
    """str and PathLike paths both work; the reader remembers the path."""
    assert len(list(read_messages(str(m3ua_pcap)))) == 6
    reader = read_messages(m3ua_pcap)
    assert Path(reader.path) == m3ua_pcap


def test_one_config_file_serves_decode_and_calls(tmp_path: Path) -> None:
    from sigdiag.calls.settings import load_call_settings
    from sigdiag.settings import load_settings

    cfg = tmp_path / "sigdiag.yaml"
    cfg.write_text("pc_format: china\ncalls:\n  max_open_calls: 1234\n")
    assert load_settings(cfg).pc_format == "china"
    assert load_call_settings(cfg).max_open_calls == 1234
