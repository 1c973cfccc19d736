"""``sigdiag show``: the decode tree of one frame, on frames built with the carrier and codec builders."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sigdiag.carrier.link import encapsulate
from sigdiag.carrier.m3ua import build_m3ua_data
from sigdiag.carrier.mtp2 import build_mtp2
from sigdiag.carrier.mtp3 import build_mtp3
from sigdiag.carrier.sctp import data_chunk, sctp_packet
from sigdiag.carrier.sip import build_sip_invite_with_isup
from sigdiag.cli import app
from sigdiag.codec.isup import encode_message
from sigdiag.report.dissect import FrameNotFound, flatten_parameters, frame_tree
from sigdiag.report.dissect_text import tree_text
from sigdiag.settings import DecodeSettings
from tests.unit._packets import udp_frame, write_pcap

CALLED = {"nature_of_address": 3, "numbering_plan": 1, "digits": "0453114", "st": True}
CALLING = {"nature_of_address": 3, "numbering_plan": 1, "screening": 3, "digits": "3216549870"}
IAM_PARAMS: dict[str, Any] = {
    "nature_of_connection_indicators": b"\x00",
    "forward_call_indicators": b"\x20\x01",
    "calling_partys_category": b"\x0a",
    "transmission_medium_requirement": b"\x00",
    "called_party_number": CALLED,
    "calling_party_number": CALLING,
}


def iam(cic: int = 42, **extra: Any) -> bytes:
    return encode_message("IAM", {**IAM_PARAMS, **extra}, cic=cic)


def m3ua_frame(*users: bytes, opc: int = 1001, dpc: int = 2002) -> bytes:
    chunks = [
        data_chunk(build_m3ua_data(opc, dpc, 5, 2, 0, 7, u, routing_context=100), 10 + i, stream=1 + i)
        for i, u in enumerate(users)
    ]
    return encapsulate(1, sctp_packet("10.0.0.1", "10.0.0.2", 2905, 2905, chunks))


def tree_of(tmp_path: Path, frames: list[bytes], number: int = 1, linktype: int = 1, **settings: Any) -> dict:
    path = write_pcap(tmp_path / "t.pcap", linktype, frames)
    return frame_tree(path, number, DecodeSettings(pc_format="itu", **settings))


def chain(n: dict) -> list[str]:
    """The layers from the root down the first child each time."""
    out = [n["layer"]]
    while n["children"]:
        n = n["children"][0]
        out.append(n["layer"])
    return out


def fields(n: dict) -> dict[str, Any]:
    return {f["name"]: f["value"] for f in n["fields"]}


def find(n: dict, layer: str) -> dict:
    if n["layer"] == layer:
        return n
    for c in n["children"]:
        try:
            return find(c, layer)
        except LookupError:
            pass
    raise LookupError(layer)


def test_ethernet_ipv4_sctp_m3ua_isup_iam_tree(tmp_path: Path) -> None:
    root = tree_of(tmp_path, [m3ua_frame(iam())])
    assert chain(root)[:8] == [
        "capture record",
        "Ethernet",
        "IPv4",
        "SCTP",
        "SCTP DATA chunk",
        "M3UA",
        "M3UA protocol data",
        "ISUP",
    ]
    assert fields(root)["frame"] == 1 and fields(root)["link type"] == 1
    ip = find(root, "IPv4")
    assert [f["name"] for f in ip["fields"]][-2:] == ["source", "destination"]
    assert fields(ip)["source"] == "10.0.0.1" and fields(ip)["protocol"] == 132
    chunk = find(root, "SCTP DATA chunk")
    assert fields(chunk)["TSN"] == 10 and fields(chunk)["stream"] == 1 and fields(chunk)["PPID"] == 3
    pd = fields(find(root, "M3UA protocol data"))
    assert (pd["OPC"], pd["DPC"], pd["SI"], pd["NI"], pd["SLS"]) == (1001, 2002, 5, 2, 7)
    isup = find(root, "ISUP")
    assert fields(isup)["CIC"] == 42 and fields(isup)["message type"] == 1
    params = isup["children"]
    assert [(p["part"], p["code"]) for p in params] == [
        ("fixed", 0x06),
        ("fixed", 0x07),
        ("fixed", 0x09),
        ("fixed", 0x02),
        ("variable", 0x04),
        ("optional", 0x0A),
    ]
    called = params[4]
    assert called["name"] == "called_party_number" and called["length"] == 6
    assert called["raw"] == "0310403511f4"  # odd/even 0, NAI 3; plan 1; 0453114 + ST
    assert fields(called)["digits"] == "0453114" and fields(called)["st"] is True
    # offsets point at the octets in the frame
    data = m3ua_frame(iam())
    for p in params:
        assert data[p["offset"] : p["offset"] + len(p["raw"]) // 2].hex() == p["raw"]
    assert not isup["anomalies"]


def test_a_parameter_with_a_bad_length_is_named(tmp_path: Path) -> None:
    # the optional forward call indicators are one octet: two make the codec refuse it
    root = tree_of(tmp_path, [m3ua_frame(iam(optional_forward_call_indicators=b"\x00\x01"))])
    (bad,) = [p for _, p in flatten_parameters(root) if p["code"] == 0x08]
    assert bad["length"] == 2 and bad["raw"] == "0001"
    assert any(a.startswith("isup.bad_parameter") for a in bad["anomalies"])
    others = [p for _, p in flatten_parameters(root) if p["code"] != 0x08]
    assert all(not p["anomalies"] for p in others)


def test_an_overrunning_parameter_is_named(tmp_path: Path) -> None:
    body = bytearray(iam())
    assert body[-1] == 0  # end of optional parameters
    body[-1:] = bytes((0x27, 5, 1))  # automatic congestion level claiming 5 octets, 1 there
    root = tree_of(tmp_path, [m3ua_frame(bytes(body))])
    over = next(p for _, p in flatten_parameters(root) if p["code"] == 0x27)
    assert over["length"] == 5 and over["raw"] == "01"
    assert any(a.startswith("isup.parameter_overrun") for a in over["anomalies"])
    assert any("parameter_overrun" in a for a in find(root, "ISUP")["anomalies"])


def test_several_data_chunks_show_each_message(tmp_path: Path) -> None:
    rel = encode_message("REL", {"cause_indicators": {"location": 0, "cause": 16}}, cic=43)
    root = tree_of(tmp_path, [m3ua_frame(iam(), rel)])
    sctp = find(root, "SCTP")
    assert [c["layer"] for c in sctp["children"]] == ["SCTP DATA chunk", "SCTP DATA chunk"]
    messages = [find(c, "ISUP") for c in sctp["children"]]
    assert [(fields(m)["CIC"], fields(m)["message type"]) for m in messages] == [(42, 1), (43, 0x0C)]


def test_mtp2_link(tmp_path: Path) -> None:
    msu = build_mtp3(5, 2, 1001, 2002, 3, "itu", iam())
    root = tree_of(tmp_path, [build_mtp2(msu, fcs=True)], linktype=140, mtp2_fcs="yes")
    assert chain(root) == ["capture record", "MTP2", "MTP3", "ISUP", "parameter"]
    mtp3 = fields(find(root, "MTP3"))
    assert (mtp3["OPC"], mtp3["DPC"], mtp3["SLS"], mtp3["point-code format"]) == (1001, 2002, 3, "itu")
    assert fields(find(root, "MTP2"))["FCS"] is True


def test_sip_i_body(tmp_path: Path) -> None:
    body = iam()[2:]  # SIP-I: no CIC
    sip = build_sip_invite_with_isup(body, call_id="abc@host")
    root = tree_of(tmp_path, [udp_frame("192.0.2.10", "192.0.2.20", 5060, 5060, sip)])
    s = find(root, "SIP")
    assert fields(s)["start line"].startswith("INVITE sip:")
    assert fields(s)["Call-ID"] == "abc@host"
    isup = find(root, "ISUP")
    assert "CIC" not in fields(isup) and fields(isup)["message type"] == 1
    assert [p["code"] for p in isup["children"]][:4] == [0x06, 0x07, 0x09, 0x02]


def test_frame_without_signalling_says_what_stopped(tmp_path: Path) -> None:
    root = tree_of(tmp_path, [udp_frame("10.0.0.1", "10.0.0.2", 1234, 5678, b"hello")])
    assert chain(root) == ["capture record", "Ethernet", "IPv4", "UDP"]
    assert "SIP" in find(root, "UDP")["stop"]


def test_text_fits_80_columns_and_shows_hex(tmp_path: Path) -> None:
    long_called = {**CALLED, "digits": "0123456789" * 3}
    root = tree_of(tmp_path, [m3ua_frame(iam(called_party_number=long_called))])
    text = tree_text(root)
    assert max(len(line) for line in text.splitlines()) <= 80
    called = next(p for _, p in flatten_parameters(root) if p["code"] == 0x04)
    octets = [called["raw"][i : i + 2] for i in range(0, len(called["raw"]), 2)]
    assert "raw " + " ".join(octets[:8]) in text
    assert "variable 0x04 called_party_number, length 18" in text


def test_cli_json_has_code_name_length_raw(tmp_path: Path) -> None:
    path = write_pcap(tmp_path / "t.pcap", 1, [m3ua_frame(iam()), m3ua_frame(iam(cic=7))])
    result = CliRunner().invoke(
        app, ["show", str(path), "--frame", "2", "--format", "json", "--pc-format", "itu"]
    )
    assert result.exit_code == 0, result.output
    tree = json.loads(result.output)
    params = [p for _, p in flatten_parameters(tree)]
    assert len(params) == 6
    for p in params:
        assert {"code", "name", "length", "raw"} <= set(p) and isinstance(p["code"], int)
        assert len(p["raw"]) == 2 * p["length"]
    assert fields(find(tree, "ISUP"))["CIC"] == 7


def test_cli_text_and_errors(tmp_path: Path) -> None:
    path = write_pcap(tmp_path / "t.pcap", 1, [m3ua_frame(iam())])
    runner = CliRunner()
    ok = runner.invoke(app, ["show", str(path), "--frame", "1"])
    assert ok.exit_code == 0 and "called_party_number" in ok.output
    for bad in ("2", "0"):
        result = runner.invoke(app, ["show", str(path), "--frame", bad])
        assert result.exit_code == 2
        assert result.output.count("\n") == 1 and result.output.startswith("sigdiag: error:")
    with pytest.raises(FrameNotFound):
        frame_tree(path, 5)


ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "captures" / "reference-fault.pcap"


def _types_in_text(text: str) -> list[str]:
    return [line.split()[3] for line in text.splitlines() if line.strip().startswith("message type: 0x")]


def test_call_shows_every_frame_of_the_call_in_a_capture() -> None:
    r = CliRunner().invoke(app, ["show", str(REFERENCE), "--pc-format", "china", "--call", "7"])
    assert r.exit_code == 0, r.output
    headers = [line for line in r.stdout.splitlines() if line.startswith("== ")]
    assert headers == [f"== {REFERENCE}, frame {n} ==" for n in (14, 21, 22, 23)]
    assert _types_in_text(r.stdout) == ["IAM", "SAM", "REL", "RLC"]
    one = CliRunner().invoke(app, ["show", str(REFERENCE), "--pc-format", "china", "--call", "7", "-n", "22"])
    assert _types_in_text(one.stdout) == ["REL"]
    js = CliRunner().invoke(
        app, ["show", str(REFERENCE), "--pc-format", "china", "--call", "7", "-f", "json"]
    )
    assert [(d["file"], d["frame"]) for d in json.loads(js.stdout)] == [
        (str(REFERENCE), n) for n in (14, 21, 22, 23)
    ]
    missing = CliRunner().invoke(
        app, ["show", str(REFERENCE), "--pc-format", "china", "--call", "7", "-n", "2"]
    )
    assert missing.exit_code == 1 and "not a frame of call 7" in missing.output
    none = CliRunner().invoke(app, ["show", str(REFERENCE), "--pc-format", "china", "--call", "99999"])
    assert none.exit_code == 1 and "no call 99999" in none.output
    neither = CliRunner().invoke(app, ["show", str(REFERENCE)])
    assert neither.exit_code == 2 and "--frame" in neither.output


def test_call_in_an_audit_folder_is_found_across_rotated_files(tmp_path: Path) -> None:
    """An audit folder: the call is found through its calls table and its frame files; the frames are
    those of the whole capture's call, read from the rotated files with the audit's settings."""
    from sigdiag.audit import run_audit
    from sigdiag.audit.lookup import select_audit_calls
    from tests.unit.test_audit import split

    split(REFERENCE, tmp_path / "in", 3)
    out = tmp_path / "out"
    run_audit([str(tmp_path / "in")], out, {"decode": {"pc_format": "china"}}, workers=1, progress=False)
    spanning = [s for s in select_audit_calls(out) if len({p for p, _ in s.frames}) > 1]
    assert spanning, "the split should leave a call across two files"
    s = spanning[0]
    r = CliRunner().invoke(app, ["show", str(out), "--call", str(s.call["call_id"]), "-f", "json"])
    assert r.exit_code == 0, r.output
    shown = json.loads(r.stdout)
    assert [(d["file"], d["frame"]) for d in shown] == [(str(p), n) for p, n in s.frames]
    assert len({d["file"] for d in shown}) > 1
    text = CliRunner().invoke(app, ["show", str(out), "--call", str(s.call["call_id"])])
    assert _types_in_text(text.stdout) == [r["type"] for r in s.rows]
    folder = CliRunner().invoke(app, ["show", str(out), "--frame", "3"])
    assert folder.exit_code == 2 and "--call" in folder.output
