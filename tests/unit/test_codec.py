"""ISUP/BICC codec: hex vectors per message type, round trips, robustness, and tshark agreement."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sigdiag.anomalies import CATALOGUE
from sigdiag.codec import ANSI_MESSAGES, ITU_MESSAGES, decode_bytes, encode_message, reencode
from sigdiag.codec.catalogue import ANSI_PARAMETERS, PARAMETERS
from sigdiag.codec.isup import EncodeError, decode_params, encode_cic
from sigdiag.codec.params import bcd_decode, bcd_encode

# --- hand-checked vectors (CIC first, little-endian) ------------------------------------------------------

VECTORS = [
    # The reference fault's IAM (DOMAIN.md section 4): called 0453114 national/ISDN, calling 01058722000.
    (
        "1100010020000a030208068310403511040a08831310507822000000",
        "itu",
        {"cic": 17, "type": "IAM", "called": "0453114", "called_complete": False, "calling": "01058722000"},
    ),
    # SAM with the remaining digits and ST (0xF)
    (
        "110002020004003254f1",
        "itu",
        {"cic": 17, "type": "SAM", "subsequent": "23451", "called_complete": True},
    ),
    # SAM, odd count without ST: filler nibble dropped
    ("110002020003803204", "itu", {"type": "SAM", "subsequent": "234", "called_complete": False}),
    ("110002020003003254", "itu", {"type": "SAM", "subsequent": "2345"}),
    # REL cause 38 network out of order, location public network serving the local user
    ("11000c02000282a6", "itu", {"cic": 17, "type": "REL", "cause": 38, "cause_location": 2}),
    # REL with octet 1a (recommendation) present: ext bit of octet 1 clear
    ("05000c020003038090", "itu", {"cic": 5, "type": "REL", "cause": 16, "cause_location": 3}),
    ("11001000", "itu", {"type": "RLC"}),
    ("110006060400", "itu", {"type": "ACM"}),
    ("11002c0100", "itu", {"type": "CPG"}),
    ("11000900", "itu", {"type": "ANM"}),
    ("110007140000", "itu", {"type": "CON"}),
    ("110012", "itu", {"type": "RSC"}),
    ("110013", "itu", {"type": "BLO"}),
    ("11002e", "itu", {"type": "UCIC"}),
    ("01001701011f", "itu", {"cic": 1, "type": "GRS"}),
    ("010018000102041f", "itu", {"type": "CGB"}),
    # CFN cause 99 with diagnostics (the tcpdump-tests capture has one)
    ("d5002f02000482e30300", "itu", {"cic": 213, "type": "CFN", "cause": 99}),
    # ANSI IAM: 14-bit CIC, USI as first mandatory variable parameter
    (
        "ff3f010000000a030600038090a206831095212302",
        "ansi",
        {"cic": 0x3FFF, "type": "IAM", "called": "5912322"},
    ),
    ("010020", "itu", {"type": "FAA"}),  # truncated: FAA needs a facility indicator
    ("0100ea00", "ansi", {"type": "CRM"}),
    ("0100e9", "ansi", {"type": "CRA"}),
    ("0100ea00", "itu", {"type": "0xEA"}),  # unknown in ITU
]


def _clean_vectors():
    yield from VECTORS


@pytest.mark.parametrize(("hexstr", "variant", "expected"), list(_clean_vectors()))
def test_vectors(hexstr: str, variant: str, expected: dict) -> None:
    data = bytes.fromhex(hexstr)
    m = decode_bytes(data, variant=variant)
    for key, value in expected.items():
        assert getattr(m, key) == value, (key, m)
    names = {a.name for a in m.anomalies}
    if expected["type"].startswith("0x"):
        assert names == {"isup.unknown_message_type"}
    elif hexstr == "010020":
        assert "isup.truncated" in names
    else:
        assert not m.anomalies, m.anomalies
        assert reencode(m) == data


def test_bicc_call_instance_code_is_32_bit() -> None:
    body = encode_message(
        "REL", {"cause_indicators": {"location": 3, "cause_value": 16}}, cic=0x12345678, protocol="bicc"
    )
    assert body[:4] == bytes.fromhex("78563412")
    m = decode_bytes(body, protocol="bicc")
    assert (m.cic, m.type, m.cause) == (0x12345678, "REL", 16)
    assert reencode(m) == body


def test_sip_i_body_has_no_cic() -> None:
    body = encode_message("ANM", {}, cic=None)
    assert body == bytes.fromhex("0900")
    m = decode_bytes(body, has_cic=False)
    assert m.cic is None and m.type == "ANM"


def test_every_message_type_is_named_and_round_trips() -> None:
    """One message per table entry, with every mandatory parameter, encoded, decoded and re-encoded."""
    samples = {
        0x02: {"medium": 0},
        0x04: {"nature_of_address": 3, "numbering_plan": 1, "digits": "12345"},
        0x05: {"digits": "678", "st": True},
        0x06: {"satellite": 0},
        0x07: {"isup_all_the_way": 1},
        0x09: {"category": 10},
        0x0E: {"calling_party_address_request": 1},
        0x0F: {"solicited_information": 1},
        0x10: {"continuity_check_successful": 1},
        0x11: {"charge": 2},
        0x12: {"location": 4, "cause_value": 17},
        0x15: {"type": 0},
        0x16: {"range": 7, "status": "ff"},
        0x18: {"raw": "02"},
        0x1D: {
            "coding_standard": 0,
            "information_transfer_capability": 0,
            "information_transfer_rate": 16,
            "additional": "a3",
        },
        0x20: {"raw": "0102"},
        0x22: {"network_initiated": 0},
        0x24: {"event": 1},
        0x26: {"raw": "0001"},
        0x100: {"raw": "01"},
        0x101: {"raw": "02"},
    }
    for variant, table, ptable in (
        ("itu", ITU_MESSAGES, PARAMETERS),
        ("ansi", ANSI_MESSAGES, ANSI_PARAMETERS),
    ):
        for code, spec in table.items():
            assert spec.abbr and spec.name
            params = {}
            for pcode in [c for c, _ in spec.fixed] + list(spec.variable):
                params[ptable[pcode][0]] = samples[pcode]
            if spec.optional:
                params["hop_counter"] = {"hop_counter": 12}
            data = encode_message(spec.abbr, params, cic=42, variant=variant)
            m = decode_bytes(data, variant=variant)
            assert (m.type, m.type_code, m.cic) == (spec.abbr, code, 42)
            assert not m.anomalies, (spec.abbr, m.anomalies)
            assert reencode(m) == data, spec.abbr


def test_message_types_named_in_domain_brief() -> None:
    itu = {s.abbr: c for c, s in ITU_MESSAGES.items()}
    expected = dict(
        IAM=0x01, SAM=0x02, INR=0x03, INF=0x04, COT=0x05, ACM=0x06, CON=0x07, FOT=0x08, ANM=0x09, REL=0x0C,
        SUS=0x0D, RES=0x0E, RLC=0x10, CCR=0x11, RSC=0x12, BLO=0x13, UBL=0x14, BLA=0x15, UBA=0x16, GRS=0x17,
        CGB=0x18, CGU=0x19, CGBA=0x1A, CGUA=0x1B, FAA=0x20, FAR=0x1F, USR=0x2D, CPG=0x2C, UCIC=0x2E, CFN=0x2F,
        OLM=0x30, CRG=0x31, NRM=0x32, FAC=0x33, UPT=0x34, UPA=0x35, IDR=0x36, IRS=0x37, SGM=0x38, LPA=0x24,
        APM=0x41, PRI=0x42, GRA=0x29, CQM=0x2A, CQR=0x2B,
    )  # fmt: skip
    for abbr, code in expected.items():
        assert itu[abbr] == code
    ansi = {s.abbr: c for c, s in ANSI_MESSAGES.items()}
    for abbr, code in dict(CRA=0xE9, CRM=0xEA, CVR=0xEB, CVT=0xEC, EXM=0xED).items():
        assert ansi[abbr] == code


def test_parameters_decode_fully() -> None:
    data = bytes.fromhex("1100010020000a030208068310403511040a08831310507822000000")
    m = decode_bytes(data)
    p = m.params
    assert p["called_party_number"]["nature_of_address"] == 3
    assert p["called_party_number"]["numbering_plan"] == 1
    assert p["called_party_number"]["inn"] == 0
    assert p["calling_party_number"]["screening"] == 3
    assert p["calling_party_number"]["presentation"] == 0
    assert p["calling_partys_category"]["category_name"] == "ordinary calling subscriber"
    assert p["forward_call_indicators"]["isup_all_the_way"] == 1
    assert p["transmission_medium_requirement"]["medium_name"] == "3.1 kHz audio"


def test_cause_diagnostics_and_names() -> None:
    m = decode_bytes(bytes.fromhex("d5002f02000482e30300"))
    cause = m.params["cause_indicators"]
    assert cause["cause_value"] == 99
    assert cause["diagnostics"] == "0300"
    assert cause["location_name"].startswith("public network serving the local user")
    assert cause["cause_name"].startswith("Information element/parameter non-existent")


def test_application_transport_bat_ase() -> None:
    params = {
        "application_transport": {
            "context_id": 5,
            "release_call": 1,
            "send_notification": 0,
            "sequence": 1,
            "apm_segmentation": 0,
            "information": "0102",
        }
    }
    data = encode_message("APM", params, cic=1, protocol="bicc")
    m = decode_bytes(data, protocol="bicc")
    at = m.params["application_transport"]
    assert at["context_name"] == "BAT ASE" and at["information"] == "0102"
    assert (at["release_call"], at["send_notification"], at["sequence"], at["apm_segmentation"]) == (
        1,
        0,
        1,
        0,
    )
    assert data.hex().endswith("78058581c0010200")  # code, length, octets 1-3, information, end
    assert reencode(m) == data


def test_bad_parameter_is_kept_raw_with_anomaly() -> None:
    # optional hop counter of 2 octets: does not fit the 1-octet definition
    data = encode_message("ANM", {"hop_counter": b"\x01\x02"}, cic=1)
    m = decode_bytes(data)
    assert m.params["hop_counter"]["raw"] == "0102"
    assert [a.name for a in m.anomalies] == ["isup.bad_parameter"]
    assert reencode(m) == data


def test_unknown_parameter_kept_as_code_and_raw() -> None:
    data = encode_message("ANM", {"param_0xF7": {"raw": "abcd"}}, cic=1)
    m = decode_bytes(data)
    assert m.params == {"param_0xF7": {"raw": "abcd"}}
    assert reencode(m) == data


@pytest.mark.parametrize(
    ("hexstr", "anomaly"),
    [
        ("11", "isup.truncated"),
        ("11000c", "isup.truncated"),
        ("11000c0900", "isup.pointer_out_of_range"),
        ("11000c0200", "isup.pointer_out_of_range"),
        ("11000c020005", "isup.parameter_overrun"),
        ("1100090105ff", "isup.parameter_overrun"),
        ("110009013d0104", "isup.missing_end_of_optional"),
        ("11000900aa", "isup.trailing_bytes"),
        ("1100090503", "isup.pointer_out_of_range"),
        ("110009013d01043d010500", "isup.duplicate_parameter"),
        ("1100ff", "isup.unknown_message_type"),
    ],
)
def test_malformed_messages_give_named_anomalies(hexstr: str, anomaly: str) -> None:
    m = decode_bytes(bytes.fromhex(hexstr))
    assert anomaly in [a.name for a in m.anomalies]
    m.params  # noqa: B018 - decoding the parameters must not raise either


# Exact results of the rare paths (what the decoder made of these octets before its hot path was split into
# rare-path helpers, issue 15): (hex, protocol, variant, cic, type, raw params, anomalies, layout, cause)
RARE_PATHS = [
    (
        "11",
        "isup",
        "itu",
        None,
        "?",
        [],
        [("isup.truncated", "1 octets: no room for CIC and message type")],
        None,
        None,
    ),
    (
        "",
        "isup",
        "itu",
        None,
        "?",
        [],
        [("isup.truncated", "0 octets: no room for CIC and message type")],
        None,
        None,
    ),
    (
        "0100000c",
        "bicc",
        "itu",
        None,
        "?",
        [],
        [("isup.truncated", "4 octets: no room for CIC and message type")],
        None,
        None,
    ),
    ("11f0090100", "isup", "itu", 17, "ANM", [], [], {"cic_spare": 15, "empty_optional_part": True}, None),
    ("11c0090100", "isup", "ansi", 17, "ANM", [], [], {"cic_spare": 3, "empty_optional_part": True}, None),
    (
        "110006",
        "isup",
        "itu",
        17,
        "ACM",
        [],
        [("isup.truncated", "ACM: mandatory fixed part ends at octet 3")],
        None,
        None,
    ),
    (
        "1100061614",
        "isup",
        "itu",
        17,
        "ACM",
        [(17, "1614")],
        [("isup.truncated", "ACM: pointers missing")],
        None,
        None,
    ),
    (
        "11000c0203028290",
        "isup",
        "itu",
        17,
        "REL",
        [(18, "8290"), (144, "")],
        [
            ("isup.parameter_overrun", "REL: optional parameter 0x90"),
            ("isup.irregular_layout", "REL: pointers leave gaps or overlap"),
        ],
        None,
        16,
    ),
    (
        "11000c020002829000",
        "isup",
        "itu",
        17,
        "REL",
        [(18, "8290")],
        [("isup.trailing_bytes", "REL: 1 octets after the message")],
        {"trailing": "00"},
        16,
    ),
    (
        "11000c02010282900000",
        "isup",
        "itu",
        17,
        "REL",
        [(18, "8290"), (2, "900000")],
        [
            ("isup.parameter_overrun", "REL: optional parameter 0x02"),
            ("isup.irregular_layout", "REL: pointers leave gaps or overlap"),
        ],
        None,
        16,
    ),
    (
        "1100090200003d0104",
        "isup",
        "itu",
        17,
        "ANM",
        [],
        [
            ("isup.irregular_layout", "ANM: pointers leave gaps or overlap"),
            ("isup.trailing_bytes", "ANM: 3 octets after the message"),
        ],
        {"empty_optional_part": True, "trailing": "3d0104"},
        None,
    ),
    (
        "110009013d05",
        "isup",
        "itu",
        17,
        "ANM",
        [(61, "")],
        [("isup.parameter_overrun", "ANM: optional parameter 0x3D")],
        None,
        None,
    ),
    (
        "11000c0302028290013d",
        "isup",
        "itu",
        17,
        "REL",
        [(18, "90013d")],
        [("isup.parameter_overrun", "REL: parameter 0x12 length 130")],
        None,
        1,
    ),
    (
        "0500ff0102",
        "isup",
        "ansi",
        5,
        "0xFF",
        [(-1, "0102")],
        [("isup.unknown_message_type", "message type 0xFF")],
        None,
        None,
    ),
]


@pytest.mark.parametrize(
    ("hexstr", "protocol", "variant", "cic", "typ", "params", "anomalies", "layout", "cause"), RARE_PATHS
)
def test_rare_paths_exactly(
    hexstr: str,
    protocol: str,
    variant: str,
    cic: int | None,
    typ: str,
    params: list[tuple[int, str]],
    anomalies: list[tuple[str, str]],
    layout: dict | None,
    cause: int | None,
) -> None:
    m = decode_bytes(bytes.fromhex(hexstr), protocol=protocol, variant=variant)
    assert (m.cic, m.type, m.cause) == (cic, typ, cause)
    assert [(c, v.hex()) for c, v in m.raw_params] == params
    assert [(a.name, a.detail) for a in m.anomalies] == anomalies
    assert m.layout == layout


# --- properties -----------------------------------------------------------------------------------------

digits = st.text(alphabet="0123456789ABCE", max_size=24)


@given(digits, st.booleans(), st.integers(0, 15))
def test_bcd_round_trip(d: str, stop: bool, filler: int) -> None:
    data, odd = bcd_encode(d, stop, filler)
    assert bcd_decode(data, odd) == (d, stop, filler if odd else 0)


number = st.fixed_dictionaries(
    {
        "nature_of_address": st.integers(0, 127),
        "numbering_plan": st.integers(0, 7),
        "digits": digits,
        "st": st.booleans(),
    }
)


@given(
    cic=st.integers(0, 4095),
    called=number,
    calling=st.none() | number,
    category=st.integers(0, 255),
    hops=st.none() | st.integers(0, 31),
)
def test_iam_round_trip(
    cic: int, called: dict, calling: dict | None, category: int, hops: int | None
) -> None:
    params: dict = {
        "nature_of_connection_indicators": {"satellite": 1, "continuity_check": 2},
        "forward_call_indicators": {"isup_preference": 2, "isdn_access": 1},
        "calling_partys_category": {"category": category},
        "transmission_medium_requirement": {"medium": 3},
        "called_party_number": called,
    }
    if calling is not None:
        params["calling_party_number"] = calling
    if hops is not None:
        params["hop_counter"] = {"hop_counter": hops}
    data = encode_message("IAM", params, cic=cic)
    m = decode_bytes(data)
    assert not m.anomalies
    assert (m.cic, m.called, m.called_complete) == (cic, called["digits"], called["st"])
    assert m.calling == (calling["digits"] or None if calling else None)
    assert reencode(m) == data


@given(cause=st.integers(0, 127), location=st.integers(0, 15), diag=st.binary(max_size=8), bicc=st.booleans())
def test_rel_round_trip(cause: int, location: int, diag: bytes, bicc: bool) -> None:
    protocol = "bicc" if bicc else "isup"
    params = {"cause_indicators": {"location": location, "cause_value": cause, "diagnostics": diag.hex()}}
    data = encode_message("REL", params, cic=7, protocol=protocol)
    m = decode_bytes(data, protocol=protocol)
    assert (m.cause, m.cause_location) == (cause, location)
    assert reencode(m) == data


@settings(max_examples=3000, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    data=st.binary(max_size=64),
    variant=st.sampled_from(["itu", "ansi"]),
    protocol=st.sampled_from(["isup", "bicc"]),
)
def test_any_bytes_decode_without_exception_and_clean_ones_round_trip(
    data: bytes, variant: str, protocol: str
) -> None:
    m = decode_bytes(data, variant=variant, protocol=protocol)
    params = m.params
    assert isinstance(params, dict)
    for a in m.anomalies:
        assert a.name in CATALOGUE
    if not m.anomalies and m.type != "?":
        assert reencode(m) == data


def _split_in_full(data: bytes, protocol: str, variant: str) -> tuple[list, list, object]:
    """What the general split (isup._split, no fast path) makes of a message with a CIC."""
    from sigdiag.codec import isup

    pos = 4 if protocol == "bicc" else 2
    plans = (
        isup._BICC_PLANS if protocol == "bicc" else isup._ANSI_PLANS if variant == "ansi" else isup._ITU_PLANS
    )
    plan = plans[data[pos]]
    spare = (
        0 if protocol == "bicc" else int.from_bytes(data[:2], "little") >> (14 if variant == "ansi" else 12)
    )
    out: list = []
    anomalies: list = []
    layout = isup._split(out, plan, data, pos + 1, 0, anomalies, {"cic_spare": spare} if spare else None)
    return out, anomalies, layout


@settings(max_examples=2000, deadline=None)
@given(
    code=st.sampled_from(sorted(ITU_MESSAGES) + sorted(ANSI_MESSAGES)),
    body=st.binary(max_size=6),
    pointer=st.sampled_from([b"\x00", b"\x00", b"\x01", b""]),
    tail=st.sampled_from([b"", b"", b"\x00", b"\x07"]),
    variant=st.sampled_from(["itu", "ansi"]),
    protocol=st.sampled_from(["isup", "bicc"]),
    cic=st.sampled_from([b"\x05\x00", b"\xff\xff"]),
)
def test_fast_split_of_fixed_part_only_messages_is_the_general_split(
    code: int, body: bytes, pointer: bytes, tail: bytes, variant: str, protocol: str, cic: bytes
) -> None:
    """decode_message takes messages with only a fixed part and an empty optional part (ANM, RLC, most
    ACM and CPG) without calling _split: the result must be _split's, whatever the octets."""
    table = ANSI_MESSAGES if variant == "ansi" and protocol == "isup" else ITU_MESSAGES
    if code not in table:
        return
    spec = table[code]
    fixed = sum(length for _, length in spec.fixed)
    data = (cic * 2 if protocol == "bicc" else cic) + bytes([code]) + (body * 4)[:fixed] + pointer + tail
    m = decode_bytes(data, protocol=protocol, variant=variant)
    out, anomalies, layout = _split_in_full(data, protocol, variant)
    assert (m.raw_params, m.anomalies, m.layout) == (out, anomalies, layout)
    if not any(c in (0x04, 0x05, 0x0A, 0x12) for c, _ in out):
        assert (m.called, m.called_complete, m.calling, m.subsequent, m.cause, m.cause_location) == (
            None,
        ) * 6


def test_decoded_messages_have_every_attribute() -> None:
    from sigdiag.model import Message

    for hexstr in ("05000900", "0500", "05000c0200028290", "0500ee00", "050001", ""):
        m = decode_bytes(bytes.fromhex(hexstr))
        for name in Message.__slots__:
            getattr(m, name)  # no AttributeError: decode_message sets every slot on every path
        assert m.params is not None


def test_message_too_long_for_its_pointers_is_an_encode_error() -> None:
    # USR: user-to-user information (mandatory variable, 255 octets) then the optional part, whose pointer
    # would have to count past 255
    params = {"user_to_user_information": bytes(255), "hop_counter": {"hop_counter": 3}}
    with pytest.raises(EncodeError, match="too long for its pointers"):
        encode_message("USR", params, cic=1)
    assert decode_bytes(encode_message("USR", {"user_to_user_information": bytes(255)}, cic=1)).type == "USR"


@given(
    cic=st.integers(0, 0xFFFFFFFF),
    spare=st.integers(0, 15),
    protocol=st.sampled_from(["isup", "bicc"]),
    variant=st.sampled_from(["itu", "ansi"]),
)
def test_encode_cic_is_what_decode_reads(cic: int, spare: int, protocol: str, variant: str) -> None:
    bits = 32 if protocol == "bicc" else 14 if variant == "ansi" else 12
    cic &= (1 << bits) - 1
    spare = 0 if protocol == "bicc" else spare & ((1 << (16 - bits)) - 1)
    field = encode_cic(cic, protocol, variant, spare)
    m = decode_bytes(field + b"\x10\x00", protocol=protocol, variant=variant)  # RLC
    assert (m.cic, m.type) == (cic, "RLC")
    assert (m.layout or {}).get("cic_spare", 0) == spare
    assert encode_message("RLC", {}, cic=cic, protocol=protocol, variant=variant, layout=m.layout) == m.raw
    assert encode_cic(None) == b""


@given(st.binary(max_size=40))
def test_decode_params_never_raises(value: bytes) -> None:
    for code in list(PARAMETERS) + list(ANSI_PARAMETERS):
        decode_params([(code, value)], "itu", 1, [])


# --- tshark agreement on the vectors -----------------------------------------------------------------------


def _mtp3_pcap(path: Path, bodies: list[bytes], si: int = 5) -> None:
    """A pcap of link type 141 (MTP3): SIO + ITU routing label (OPC 1, DPC 2) + ISUP body."""
    with path.open("wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 141))
        for i, body in enumerate(bodies):
            frame = bytes((0x80 | si,)) + struct.pack("<I", 2 | (1 << 14)) + body
            f.write(struct.pack("<IIII", 1_700_000_000 + i, 0, len(frame), len(frame)))
            f.write(frame)


@pytest.mark.tshark
@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
def test_vectors_agree_with_tshark(tmp_path: Path) -> None:
    bodies = [
        bytes.fromhex(h)
        for h, v, e in _clean_vectors()
        if v == "itu" and not e["type"].startswith("0x") and h != "010020"
    ]
    pcap = tmp_path / "v.pcap"
    _mtp3_pcap(pcap, bodies)
    fields = ["isup.cic", "isup.message_type", "isup.called", "isup.calling", "isup.cause_indicator"]
    cmd = ["tshark", "-r", str(pcap), "-T", "fields", "-E", "occurrence=f"]
    for f in fields:
        cmd += ["-e", f]
    lines = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.splitlines()
    assert len(lines) == len(bodies)
    for body, line in zip(bodies, lines, strict=True):
        cic, mtype, called, calling, cause = (line.split("\t") + [""] * 5)[:5]
        m = decode_bytes(body)
        assert int(cic) == m.cic
        assert int(mtype) == m.type_code
        if m.called is not None:
            assert called.rstrip("F") == m.called
        if m.calling is not None:
            assert calling == m.calling
        if m.cause is not None:
            assert int(cause) == m.cause
