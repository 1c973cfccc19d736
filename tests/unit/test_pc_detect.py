"""Point-code format detected per link (``pc_format: auto``): issue 13, point 2.

Every capture here is built by hand with the carrier builders (MTP3 labels of each format, MTP2, M2PA,
M3UA) around ISUP messages from the codec's encoder, so the format each link was written with is known
independently of the detector.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from sigdiag import ConfigError, DecodeSettings, read_messages
from sigdiag.anomalies import Anomaly
from sigdiag.capture import open_capture
from sigdiag.capture.writer import PcapngWriter, PcapWriter
from sigdiag.carrier import flows as FLOWS
from sigdiag.carrier import iter_payloads
from sigdiag.carrier import sctp as SCTP
from sigdiag.carrier.mtp import build_mtp2, build_mtp3, format_pc, parse_pc
from sigdiag.carrier.pcdetect import PcDetector
from sigdiag.carrier.sigtran import build_m2pa_user_data, build_m3ua_data
from sigdiag.cli import app
from sigdiag.codec import decode_payload, encode_message
from sigdiag.decode import LinkReport, iter_messages
from sigdiag.model import Frame
from sigdiag.settings import LinkOverride, load_settings

T0 = 1_700_000_000.0

#: (OPC, DPC) per format: China and ANSI 24-bit, Japan 16-bit, ITU 14-bit
POINT_CODES = {
    "itu": (2061, 2089),
    "china": (0x0A1B2C, 0x0A1B3D),
    "ansi": (0xF00A0B, 0x01FE03),
    "japan": (0xABCD, 0x1234),
}

ITU_IAM: dict[str, Any] = {
    "nature_of_connection_indicators": {"satellite": 0},
    "forward_call_indicators": {"isup_all_the_way": 1},
    "calling_partys_category": {"category": 10},
    "transmission_medium_requirement": {"medium": 3},
}


def _calls(n: int, variant: str, seed: int = 1) -> list[tuple[bool, bytes]]:
    """``n`` calls of ISUP messages (forward?, octets): IAM, sometimes a SAM, ACM, CPG, ANM or not, REL,
    RLC; the CICs, numbers and causes vary."""
    rng = random.Random(seed)
    out: list[tuple[bool, bytes]] = []
    for i in range(n):
        cic = rng.randrange(1, 2000 if variant == "itu" else 9000)
        called = "0" + "".join(rng.choice("0123456789") for _ in range(rng.randrange(6, 11)))
        calling = "0" + "".join(rng.choice("0123456789") for _ in range(10))
        iam = dict(ITU_IAM)
        if variant == "ansi":
            del iam["transmission_medium_requirement"]
            iam["user_service_information"] = {"information_transfer_rate": 16}
        iam["called_party_number"] = {"nature_of_address": 3, "numbering_plan": 1, "digits": called}
        iam["calling_party_number"] = {"nature_of_address": 3, "numbering_plan": 1, "digits": calling}

        def enc(t: str, params: dict[str, Any], cic: int = cic) -> bytes:
            return encode_message(t, params, cic=cic, variant=variant)

        out.append((True, enc("IAM", iam)))
        if i % 4 == 0:
            out.append((True, enc("SAM", {"subsequent_number": {"digits": "12", "st": True}})))
        out.append((False, enc("ACM", {"backward_call_indicators": {"charge": 2}})))
        if i % 3 == 0:
            out.append((False, enc("CPG", {"event_information": {"event": 1}})))
        answered = i % 5 != 0
        if answered:
            out.append((False, enc("ANM", {})))
        cause = 16 if answered else rng.choice((17, 19, 34))
        out.append((i % 2 == 0, enc("REL", {"cause_indicators": {"location": 2, "cause_value": cause}})))
        out.append((i % 2 == 1, enc("RLC", {})))
    return out


def _msus(fmt: str, n: int = 25, seed: int = 1, variant: str | None = None) -> list[bytes]:
    """MTP3 messages of ``n`` calls in ``fmt``, both directions; SLS varies per call (8 bits in ANSI)."""
    rng = random.Random(seed)
    opc, dpc = POINT_CODES[fmt]
    variant = variant or ("ansi" if fmt == "ansi" else "itu")
    out = []
    for fwd, body in _calls(n, variant, seed):
        sls = rng.randrange(256 if fmt == "ansi" else 16)
        a, b = (opc, dpc) if fwd else (dpc, opc)
        out.append(build_mtp3(5, 2, a, b, sls, fmt, body))
    return out


def _m2pa_frames(msus: list[bytes], a: str = "10.0.0.1", b: str = "10.0.0.2") -> list[bytes]:
    flow = FLOWS.SctpFlow(a, b, 3565, 3565, vtag=1)
    return [
        flow.frame([SCTP.data_chunk(build_m2pa_user_data(0, i, msu), i, ppid=5)])
        for i, msu in enumerate(msus, 1)
    ]


def _capture(path: Path, carrier: str, msus: list[bytes]) -> Path:
    if carrier == "m2pa":
        linktype, frames = 1, _m2pa_frames(msus)
    elif carrier == "mtp2":
        linktype, frames = 140, [build_mtp2(msu, fsn=i, bsn=i) for i, msu in enumerate(msus)]
    else:
        linktype, frames = 141, msus
    with PcapWriter(path, linktype) as w:
        for i, f in enumerate(frames):
            w.write(f, T0 + i * 0.01)
    return path


def _rows(reader: Any) -> list[dict[str, Any]]:
    return [m.as_dict() for m in reader]


# ------------------------------------------------------------------------------------------------
# one link of each format over each MTP3 carrier


@pytest.mark.parametrize("carrier", ["mtp2", "m2pa", "mtp3"])
@pytest.mark.parametrize("fmt", ["itu", "china", "ansi", "japan"])
def test_each_format_is_detected_and_reads_as_the_explicit_format(
    tmp_path: Path, fmt: str, carrier: str
) -> None:
    msus = _msus(fmt)
    assert len(msus) > 64  # the decision is taken on the first 64, the rest follow
    path = _capture(tmp_path / f"{fmt}-{carrier}.pcap", carrier, msus)
    reader = read_messages(path)
    rows = _rows(reader)
    explicit = read_messages(path, pc_format=fmt)
    assert rows == _rows(explicit)
    assert len(rows) == len(msus)
    assert [r["frame"] for r in rows] == sorted(r["frame"] for r in rows)  # file order
    opc, dpc = POINT_CODES[fmt]
    assert {(r["pc_format"], min(r["opc"], r["dpc"]), max(r["opc"], r["dpc"])) for r in rows} == {
        (fmt, min(opc, dpc), max(opc, dpc))
    }
    assert all(r["anomalies"] == [] for r in rows)
    (link,) = reader.links
    assert (link.pc_format, link.decided_by, link.messages, link.anomalous, link.low_confidence) == (
        fmt,
        "auto",
        len(msus),
        0,
        False,
    )
    assert link.sample == 64 and link.score == 1.0
    (explicit_link,) = explicit.links
    assert (explicit_link.pc_format, explicit_link.decided_by) == (fmt, "setting")


@pytest.mark.parametrize("fmt", ["itu", "china", "ansi", "japan"])
def test_a_short_capture_is_decided_at_end_of_file(tmp_path: Path, fmt: str) -> None:
    msus = _msus(fmt, n=2)  # a dozen messages, fewer than pc_detect_messages
    path = _capture(tmp_path / "short.pcap", "m2pa", msus)
    reader = read_messages(path)
    rows = _rows(reader)
    assert rows == _rows(read_messages(path, pc_format=fmt))
    assert {r["pc_format"] for r in rows} == {fmt}
    assert reader.links[0].sample == len(msus)


def test_the_wrong_width_really_is_garbage(tmp_path: Path) -> None:
    """The oracle of the other tests: China labels read as ITU give wrong point codes and anomalies."""
    path = _capture(tmp_path / "china.pcap", "m2pa", _msus("china"))
    wrong = list(read_messages(path, pc_format="itu"))
    assert {m.opc for m in wrong} != {POINT_CODES["china"][0], POINT_CODES["china"][1]}
    assert sum(bool(m.anomalies) for m in wrong) > len(wrong) / 2


def test_bicc_over_m2pa_with_china_labels(tmp_path: Path) -> None:
    opc, dpc = POINT_CODES["china"]
    bodies = [
        encode_message(
            "IAM", {**ITU_IAM, "called_party_number": {"digits": "0453114"}}, cic=70000 + i, protocol="bicc"
        )
        for i in range(10)
    ] + [encode_message("RLC", {}, cic=70000 + i, protocol="bicc") for i in range(10)]
    msus = [build_mtp3(13, 2, opc, dpc, i % 16, "china", b) for i, b in enumerate(bodies)]
    path = _capture(tmp_path / "bicc.pcap", "m2pa", msus)
    rows = _rows(read_messages(path))
    assert rows == _rows(read_messages(path, pc_format="china"))
    assert {(r["protocol"], r["pc_format"], r["opc"], r["dpc"]) for r in rows} == {
        ("bicc", "china", opc, dpc)
    }


# ------------------------------------------------------------------------------------------------
# several links


def _two_links(tmp_path: Path) -> Path:
    """MTP2 interface 0 with China labels and interface 1 with ITU labels, messages interleaved, plus
    an M2PA association with ANSI labels."""
    china = [build_mtp2(m) for m in _msus("china", n=20, seed=2)]
    itu = [build_mtp2(m) for m in _msus("itu", n=20, seed=3)]
    ansi = _m2pa_frames(_msus("ansi", n=20, seed=4))
    path = tmp_path / "links.pcapng"
    rng = random.Random(5)
    queues: list[tuple[int, list[bytes]]] = [(0, china), (1, itu), (2, ansi)]
    t = T0
    with PcapngWriter(path, [(140, "e1-0"), (140, "e1-1"), (1, "eth0")]) as w:
        while any(q for _, q in queues):
            iface, q = rng.choice([x for x in queues if x[1]])
            w.write(q.pop(0), t, iface)
            t += 0.001
    return path


def test_two_links_of_different_widths_in_one_capture(tmp_path: Path) -> None:
    path = _two_links(tmp_path)
    reader = read_messages(path)
    rows = _rows(reader)
    assert [r["frame"] for r in rows] == sorted(r["frame"] for r in rows)
    formats = {link.link: (link.pc_format, link.decided_by, link.low_confidence) for link in reader.links}
    m2pa = "m2pa:10.0.0.1:3565-10.0.0.2:3565"
    assert formats == {
        "mtp2:if0": ("china", "auto", False),
        "mtp2:if1": ("itu", "auto", False),
        m2pa: ("ansi", "auto", False),
    }
    assert {r["link"]: r["pc_format"] for r in rows} == {k: v[0] for k, v in formats.items()}
    # the same output as the per-link settings of the decided formats
    links = (
        LinkOverride("mtp2:if0", pc_format="china"),
        LinkOverride("mtp2:if1", pc_format="itu"),
        LinkOverride("m2pa:*", pc_format="ansi"),
    )
    explicit = read_messages(path, settings=DecodeSettings(links=links))
    assert rows == _rows(explicit)
    assert {link.decided_by for link in explicit.links} == {"setting"}


def test_a_link_held_back_long_is_decided_early_and_order_is_kept(tmp_path: Path) -> None:
    """One China message, then many on an explicit ITU link: the China link is decided when too much
    is held back (``max_held``), with the one message it has."""
    china = [build_mtp2(m) for m in _msus("china", n=1)]
    itu = [build_mtp2(m) for m in _msus("itu", n=900, seed=3)]
    path = tmp_path / "held.pcapng"
    with PcapngWriter(path, [(140, "a"), (140, "b")]) as w:
        w.write(china[0], T0, 0)
        for i, f in enumerate(itu):
            w.write(f, T0 + 0.001 * (i + 1), 1)
        for i, f in enumerate(china[1:]):
            w.write(f, T0 + 10 + i, 0)
    settings = DecodeSettings(links=(LinkOverride("mtp2:if1", pc_format="itu"),))
    reader = read_messages(path, settings=settings)
    rows = _rows(reader)
    assert [r["frame"] for r in rows] == list(range(1, len(china) + len(itu) + 1))
    assert len(itu) > reader.detector.max_held
    decision = reader.detector.decisions["mtp2:if0"]
    assert decision.sample == 1 and decision.pc_format == "china"
    assert {r["pc_format"] for r in rows if r["link"] == "mtp2:if0"} == {"china"}


# ------------------------------------------------------------------------------------------------
# settings


def test_an_explicit_format_wins_and_no_detection_runs(tmp_path: Path) -> None:
    path = _two_links(tmp_path)
    reader = read_messages(path, pc_format="itu")
    rows = _rows(reader)
    assert {r["pc_format"] for r in rows} == {"itu"}
    assert reader.detector.decisions == {}
    by_link = {link.link: link for link in reader.links}
    assert {link.decided_by for link in by_link.values()} == {"setting"}
    # the 24-bit links read as 14-bit are garbage, and say so
    assert by_link["mtp2:if0"].low_confidence and not by_link["mtp2:if1"].low_confidence
    # a per-link setting wins over auto for that link only
    reader = read_messages(path, settings=DecodeSettings(links=(LinkOverride("mtp2:if0", pc_format="itu"),)))
    list(reader)
    assert {link.link: (link.pc_format, link.decided_by) for link in reader.links} == {
        "mtp2:if0": ("itu", "setting"),
        "mtp2:if1": ("itu", "auto"),
        "m2pa:10.0.0.1:3565-10.0.0.2:3565": ("ansi", "auto"),
    }
    assert set(reader.detector.decisions) == {"mtp2:if1", "m2pa:10.0.0.1:3565-10.0.0.2:3565"}
    # and a per-link auto under an explicit global format turns detection on for that link
    reader = read_messages(
        path, settings=DecodeSettings(pc_format="itu", links=(LinkOverride("mtp2:if0", pc_format="auto"),))
    )
    list(reader)
    assert {link.link: link.decided_by for link in reader.links}["mtp2:if0"] == "auto"
    assert {link.link: link.pc_format for link in reader.links}["mtp2:if0"] == "china"


def test_settings_validation_and_config_keys(tmp_path: Path) -> None:
    assert DecodeSettings().pc_format == "auto"
    for bad in ({"pc_detect_messages": 0}, {"pc_detect_messages": 2.5}, {"low_confidence_share": 1.5}):
        with pytest.raises(ConfigError):
            DecodeSettings(**bad)
    with pytest.raises(ConfigError):
        DecodeSettings(links=(LinkOverride("x", pc_format="auto14"),))
    config = tmp_path / "c.yaml"
    config.write_text(
        "pc_format: auto\npc_detect_messages: 8\nlow_confidence_share: 0.5\nlinks:\n"
        "  - {match: 'mtp2:*', pc_format: auto}\n"
    )
    s = load_settings(config)
    assert (s.pc_format, s.pc_detect_messages, s.low_confidence_share) == ("auto", 8, 0.5)
    path = _capture(tmp_path / "c.pcap", "mtp2", _msus("china"))
    reader = read_messages(path, config=config)
    list(reader)
    assert reader.links[0].sample == 8 and reader.links[0].pc_format == "china"


def test_point_code_text_without_a_known_format() -> None:
    assert format_pc(11522, "auto", True) == "5-160-2"
    assert format_pc(0x0A1B2C, "auto", True) == "10-27-44"
    assert format_pc(0x0A1B2C, "auto") == str(0x0A1B2C)
    assert parse_pc("5-160-2", "auto") == 11522  # fits 3-8-3
    assert parse_pc("10-27-44", "auto") == 0x0A1B2C  # does not: 8-8-8
    assert parse_pc("662316", "auto") == 662316
    with pytest.raises(ValueError):
        parse_pc("1-2-3-4", "auto")


# ------------------------------------------------------------------------------------------------
# M3UA: 32-bit point codes, the format only names them


def _m3ua_capture(path: Path, opc: int, dpc: int, variant: str = "itu") -> Path:
    flow = FLOWS.SctpFlow("10.0.0.1", "10.0.0.2", 2905, 2905, vtag=1)
    frames = [
        flow.frame(
            [SCTP.data_chunk(build_m3ua_data(opc if fwd else dpc, dpc if fwd else opc, 5, 2, 0, 3, b), i)]
        )
        for i, (fwd, b) in enumerate(_calls(20, variant), 1)
    ]
    with PcapWriter(path, 1) as w:
        for i, f in enumerate(frames):
            w.write(f, T0 + i * 0.01)
    return path


@pytest.mark.parametrize(
    ("opc", "dpc", "variant", "expected"),
    [
        (2061, 2089, None, "itu"),
        (0x0A1B2C, 0x0A1B3D, None, "china"),
        (0x0A1B2C, 0x0A1B3D, "ansi", "ansi"),
        (100, 16383, None, "itu"),
        (100, 16384, None, "china"),
    ],
)
def test_m3ua_format_follows_the_point_codes(
    tmp_path: Path, opc: int, dpc: int, variant: str | None, expected: str
) -> None:
    path = _m3ua_capture(tmp_path / "m3ua.pcap", opc, dpc, variant or "itu")
    reader = read_messages(path, variant=variant)
    rows = _rows(reader)
    assert {r["pc_format"] for r in rows} == {expected}
    explicit = _rows(read_messages(path, variant=variant, pc_format=expected))
    assert rows == explicit
    # decoding does not depend on it: only pc_format differs from the ITU reading
    itu = _rows(read_messages(path, variant=variant or "itu", pc_format="itu"))
    assert [{**r, "pc_format": "itu"} for r in rows] == itu
    (link,) = reader.links
    assert link.decided_by == "auto" and link.score is None and "M3UA" in link.basis


def test_iter_payloads_with_a_decoder_gives_the_same_decision(tmp_path: Path) -> None:
    path = _two_links(tmp_path)
    anomalies: list[Anomaly] = []
    payloads = list(
        iter_payloads(open_capture(path, anomalies), DecodeSettings(), anomalies, decoder=decode_payload)
    )
    assert [decode_payload(p).as_dict() for p in payloads] == _rows(read_messages(path))


def test_without_a_decoder_the_labels_alone_still_tell_24_from_16_bit(tmp_path: Path) -> None:
    """The carrier-level fallback (no codec): CIC spare bits and label fit."""
    path = _capture(tmp_path / "j.pcap", "mtp2", _msus("japan"))
    anomalies: list[Anomaly] = []
    detector = PcDetector(DecodeSettings(), anomalies)
    decision = detector.decide("mtp2:if0", _pending(path))
    assert decision.pc_format == "japan"


def _pending(path: Path) -> list[Any]:
    from sigdiag.carrier.mtp import MtpDecoder
    from sigdiag.carrier.units import MtpUnit

    anomalies: list[Anomaly] = []
    dec = MtpDecoder(DecodeSettings(), anomalies)
    out = []
    for f in open_capture(path, anomalies):
        p = dec.decode(MtpUnit(f.number, f.ts, f.linktype, f.interface, f.data))
        if p is not None:
            out.append(p)
    return out[:64]


# ------------------------------------------------------------------------------------------------
# low confidence


def _garbage_capture(path: Path) -> Path:
    """An MTP2 link whose ISUP-labelled messages hold random octets."""
    rng = random.Random(9)
    msus = [bytes((0x85,)) + rng.randbytes(rng.randrange(8, 40)) for _ in range(100)]
    return _capture(path, "mtp2", msus)


def test_a_garbage_link_is_low_confidence(tmp_path: Path) -> None:
    path = _garbage_capture(tmp_path / "garbage.pcap")
    reader = read_messages(path)
    rows = _rows(reader)
    (link,) = reader.links
    assert link.messages == len(rows) > 0
    assert link.anomalous_share > 0.05 and link.low_confidence
    d = link.as_dict()
    assert d["low_confidence"] is True and d["link"] == "mtp2:if0" and 0 < d["anomalous_share"] <= 1
    # the threshold is a setting
    lenient = read_messages(path, settings=DecodeSettings(low_confidence_share=1.0))
    list(lenient)
    assert not lenient.links[0].low_confidence


def test_link_report_dict_and_lines() -> None:
    r = LinkReport("mtp2:if0", "mtp2", "china", "auto", 200, 3, False, 1.0, 64, "64 messages ...")
    assert r.as_dict() == {
        "link": "mtp2:if0",
        "carrier": "mtp2",
        "pc_format": "china",
        "decided_by": "auto",
        "score": 1.0,
        "sample": 64,
        "basis": "64 messages ...",
        "messages": 200,
        "anomalous": 3,
        "anomalous_share": 0.015,
        "low_confidence": False,
    }
    assert r.summary() == "mtp2:if0: pc_format china (auto, 100 % of 64 clean), 200 messages, 1.5 % anomalous"
    assert LinkReport("x", "sctp", None, "none", 0, 0, False).anomalous_share == 0.0


def test_decode_command_prints_the_decision_and_warns(tmp_path: Path) -> None:
    runner = CliRunner()
    china = _capture(tmp_path / "china.pcap", "m2pa", _msus("china"))
    result = runner.invoke(app, ["decode", str(china), "-o", str(tmp_path / "out.txt")])
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert lines == [
        "sigdiag: link m2pa:10.0.0.1:3565-10.0.0.2:3565: pc_format china (auto, 100 % of 64 clean), "
        f"{len(_msus('china'))} messages, 0.0 % anomalous"
    ]
    # read with the wrong width: a WARNING names the link and the share; the exit status stays 0 with it
    result = runner.invoke(app, ["decode", str(china), "--pc-format", "itu", "-o", str(tmp_path / "o.txt")])
    assert result.exit_code == 0
    warnings = [line for line in result.stderr.splitlines() if "WARNING" in line]
    assert len(warnings) == 1
    assert "m2pa:10.0.0.1:3565-10.0.0.2:3565" in warnings[0] and "% of " in warnings[0]
    assert "pc_format itu (setting)" in result.stderr
    garbage = _garbage_capture(tmp_path / "garbage.pcap")
    result = runner.invoke(app, ["decode", str(garbage), "-f", "jsonl", "-o", str(tmp_path / "g.jsonl")])
    assert result.exit_code == 0 and "WARNING: link mtp2:if0" in result.stderr


def test_decode_command_accepts_auto(tmp_path: Path) -> None:
    path = _capture(tmp_path / "ansi.pcap", "mtp3", _msus("ansi"))
    result = CliRunner().invoke(app, ["decode", str(path), "--pc-format", "auto", "-f", "jsonl"])
    assert result.exit_code == 0
    assert '"pc_format":"ansi"' in result.stdout and '"pc_format":"itu"' not in result.stdout


# ------------------------------------------------------------------------------------------------
# a simulated China M2PA capture (the case): a second, independent check of the hand-built ones


def test_simulated_china_m2pa_capture(tmp_path: Path) -> None:
    from sigdiag.simulate import parse_scenario, simulate

    scenario = parse_scenario(
        {
            "name": "china-m2pa",
            "calls": 60,
            "trunks": [
                {
                    "name": "t",
                    "carrier": "m2pa",
                    "protocol": "isup",
                    "pc_format": "china",
                    "opc": "10-27-44",
                    "dpc": "10-27-61",
                    "cics": "1-300",
                }
            ],
            "traffic": {"cps": 5},
        }
    )
    path = tmp_path / "china.pcap"
    simulate(path, scenario, seed=3)
    reader = read_messages(path)
    rows = _rows(reader)
    assert rows == _rows(read_messages(path, pc_format="china"))
    assert {r["pc_format"] for r in rows} == {"china"} and not any(r["anomalies"] for r in rows)
    wrong = read_messages(path, pc_format="itu")
    list(wrong)
    assert wrong.links[0].low_confidence and not reader.links[0].low_confidence


def test_check_marks_the_findings_of_a_badly_decoded_link_low_confidence(tmp_path: Path) -> None:
    """check: read with the wrong width, the findings on that link say low confidence (a field, a line in
    the table, a count and the link in the summary); with the detected width none does."""
    from sigdiag.rules import check
    from sigdiag.rules.report import format_finding, format_summary
    from sigdiag.simulate import parse_scenario, simulate

    scenario = parse_scenario(
        {
            "name": "china-m2pa",
            "calls": 200,
            "trunks": [
                {
                    "name": "t",
                    "carrier": "m2pa",
                    "protocol": "isup",
                    "pc_format": "china",
                    "opc": "10-27-44",
                    "dpc": "10-27-61",
                    "cics": "1-300",
                }
            ],
            "traffic": {"cps": 5},
        }
    )
    path = tmp_path / "china.pcap"
    simulate(path, scenario, seed=4)
    wrong = check(path, pc_format="itu", workers=1)
    found = list(wrong)
    summary = wrong.summary()
    assert found and all(f.confidence == "low" for f in found)
    assert summary["low_confidence_findings"] == len(found)
    assert [link["low_confidence"] for link in summary["links"]] == [True]
    assert "LOW CONFIDENCE" in "\n".join(format_finding(found[0]))
    assert any("LOW CONFIDENCE" in line for line in format_summary(summary, {}))
    right = check(path, workers=1)
    found = list(right)
    assert all(f.confidence == "normal" for f in found)
    summary = right.summary()
    assert summary["low_confidence_findings"] == 0
    assert [(link["pc_format"], link["low_confidence"]) for link in summary["links"]] == [("china", False)]


# ------------------------------------------------------------------------------------------------
# property: any octets, any mix of links


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    units=st.lists(
        st.tuples(
            st.integers(0, 2),  # MTP2 interface
            st.one_of(
                st.binary(max_size=40),  # anything
                st.builds(lambda b: b"\x85" + b, st.binary(max_size=40)),  # ISUP SIO, random label and body
                st.sampled_from(_msus("china", n=3) + _msus("itu", n=3) + _msus("japan", n=2)),
            ),
        ),
        max_size=60,
    ),
    limit=st.integers(1, 70),
)
def test_detection_never_raises_keeps_order_and_matches_the_explicit_format(
    units: list[tuple[int, bytes]], limit: int
) -> None:
    frames = [
        Frame(i, T0 + i, 140, build_mtp2(msu), len(msu) + 3, iface) for i, (iface, msu) in enumerate(units, 1)
    ]
    anomalies: list[Anomaly] = []
    detector = PcDetector(DecodeSettings(pc_detect_messages=limit), anomalies, decoder=decode_payload)
    auto = [
        m.as_dict()
        for m in iter_messages(frames, DecodeSettings(pc_detect_messages=limit), anomalies, detector=detector)
    ]
    assert [r["frame"] for r in auto] == sorted(r["frame"] for r in auto)
    decided = {link: d.pc_format for link, d in detector.decisions.items()}
    assert {r["link"] for r in auto} <= set(decided)  # a link may be decided, its messages all truncated
    links = tuple(LinkOverride(link, pc_format=fmt) for link, fmt in decided.items())
    explicit_anomalies: list[Anomaly] = []
    explicit = [m.as_dict() for m in iter_messages(frames, DecodeSettings(links=links), explicit_anomalies)]
    assert auto == explicit
    # the same frame-level anomalies (in another order: some wait for the decision)
    assert sorted(anomalies, key=str) == sorted(explicit_anomalies, key=str)
    assert sum(t[0] for t in detector.tally.values()) == len(auto)
