"""`sigdiag decode`: golden output, formats, filters and exit codes.

Golden files live in tests/golden/; regenerate them with
``SIGDIAG_UPDATE_GOLDEN=1 pytest tests/unit/test_cli.py`` after checking the new output by eye.
Times are printed in UTC, so the files do not depend on the machine.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sigdiag.cli import app
from sigdiag.codec import encode_message
from tests.unit._packets import sctp_frame, write_pcap

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "captures"
runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("SIGDIAG_UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.is_file(), f"golden file {path} missing: run with SIGDIAG_UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8")


def _overlap_call(tmp_path: Path) -> Path:
    """IAM 0453114 (overlap, no ST), SAM 2345, REL cause 38 from the called side, RLC; then another call."""
    iam = encode_message(
        "IAM",
        {
            "nature_of_connection_indicators": {},
            "forward_call_indicators": {"isup_all_the_way": 1},
            "calling_partys_category": {"category": 10},
            "transmission_medium_requirement": {"medium": 3},
            "called_party_number": {"nature_of_address": 3, "numbering_plan": 1, "digits": "0453114"},
            "calling_party_number": {"nature_of_address": 3, "numbering_plan": 1, "digits": "01058722000"},
        },
        cic=17,
    )
    sam = encode_message("SAM", {"subsequent_number": {"digits": "2345", "st": True}}, cic=17)
    rel = encode_message("REL", {"cause_indicators": {"location": 2, "cause_value": 38}}, cic=17)
    rlc = encode_message("RLC", {}, cic=17)
    other = encode_message(
        "IAM",
        {
            "nature_of_connection_indicators": {},
            "forward_call_indicators": {},
            "calling_partys_category": {"category": 10},
            "transmission_medium_requirement": {"medium": 0},
            "called_party_number": {
                "nature_of_address": 3,
                "numbering_plan": 1,
                "digits": "0219999",
                "st": True,
            },
        },
        cic=18,
    )
    from sigdiag.carrier.sigtran import build_m3ua_data

    def m3ua(body: bytes, forward: bool) -> bytes:
        opc, dpc = (100, 200) if forward else (200, 100)
        src, dst = ("10.0.0.1", "10.0.0.2") if forward else ("10.0.0.2", "10.0.0.1")
        return sctp_frame(src, dst, 2905, 2905, 3, build_m3ua_data(opc, dpc, 5, 2, 0, 1, body))

    frames = [m3ua(iam, True), m3ua(sam, True), m3ua(rel, False), m3ua(rlc, True), m3ua(other, True)]
    return write_pcap(tmp_path / "overlap.pcap", 1, frames)


def test_decode_table_golden(tmp_path: Path) -> None:
    code, out, err = run("decode", str(_overlap_call(tmp_path)))
    assert code == 0, err
    check_golden("decode_overlap.txt", out)


def test_decode_jsonl_keys_and_golden(tmp_path: Path) -> None:
    code, out, _ = run("decode", str(_overlap_call(tmp_path)), "--format", "jsonl")
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    required = {"frame", "ts", "carrier", "protocol", "variant", "opc", "dpc", "ni", "sls", "cic", "type"}
    required |= {"type_code", "called", "called_complete", "calling", "subsequent", "cause", "cause_location"}
    required |= {"anomalies", "params"}
    for row in rows:
        assert required <= set(row)
    assert [r["type"] for r in rows] == ["IAM", "SAM", "REL", "RLC", "IAM"]
    assert rows[0]["called"] == "0453114" and rows[0]["called_complete"] is False
    assert rows[1]["subsequent"] == "2345" and rows[1]["called_complete"] is True
    assert rows[2]["cause"] == 38 and rows[2]["cause_location"] == 2
    assert rows[3]["called"] is None  # absent values are null
    assert rows[0]["params"]["calling_party_number"]["digits"] == "01058722000"
    check_golden("decode_overlap.jsonl", out)


def test_decode_csv(tmp_path: Path) -> None:
    out_path = tmp_path / "out.csv"
    code, _, _ = run("decode", str(_overlap_call(tmp_path)), "--format", "csv", "--output", str(out_path))
    assert code == 0
    lines = out_path.read_text().splitlines()
    assert lines[0].startswith("frame,ts,carrier,protocol,variant")
    assert len(lines) == 6


def test_decode_parquet(tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")
    out_path = tmp_path / "out.parquet"
    code, _, err = run("decode", str(_overlap_call(tmp_path)), "-f", "parquet", "-o", str(out_path))
    assert code == 0, err
    df = pd.read_parquet(out_path)
    assert list(df["type"]) == ["IAM", "SAM", "REL", "RLC", "IAM"]
    assert json.loads(df["params"][0])["called_party_number"]["digits"] == "0453114"
    code, _, err = run("decode", str(_overlap_call(tmp_path)), "-f", "parquet")
    assert code == 2 and "--output" in err


@pytest.mark.parametrize(
    ("args", "types"),
    [
        (["--number", "04531142345"], ["IAM", "SAM", "REL", "RLC"]),  # digits that arrived in the SAM
        (["--number", "0453114"], ["IAM", "SAM", "REL", "RLC"]),
        (["--number", "01058722000"], ["IAM", "SAM", "REL", "RLC"]),  # calling number
        (["--number", "0219999"], ["IAM"]),
        (["--number", "77777"], []),
        (["--cic", "18"], ["IAM"]),
        (["--type", "rel", "--type", "RLC"], ["REL", "RLC"]),
        (["--number", "0453114", "--type", "REL"], ["REL"]),
    ],
)
def test_decode_filters(tmp_path: Path, args: list[str], types: list[str]) -> None:
    code, out, _ = run("decode", str(_overlap_call(tmp_path)), "-f", "jsonl", *args)
    assert code == 0
    assert [json.loads(line)["type"] for line in out.splitlines()] == types


def test_several_files_add_a_file_column(tmp_path: Path) -> None:
    a = _overlap_call(tmp_path)
    b = tmp_path / "copy.pcap"
    b.write_bytes(a.read_bytes())
    code, out, _ = run("decode", str(a), str(b), "-f", "jsonl")
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == 10 and {r["file"] for r in rows} == {str(a), str(b)}


def test_exit_codes(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a capture\n")
    code, out, err = run("decode", str(text))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "not a pcap" in err
    code, _, err = run("decode", str(tmp_path / "missing.pcap"))
    assert code == 2 and "missing.pcap" in err
    bad = tmp_path / "bad.yaml"
    bad.write_text("pc_format: martian\n")
    code, _, err = run("decode", str(_overlap_call(tmp_path)), "--config", str(bad))
    assert code == 2 and "pc_format" in err and "Traceback" not in err
    code, _, _ = run("decode", str(_overlap_call(tmp_path)), "--pc-format", "martian")
    assert code == 2


def test_truncated_capture_warns_and_keeps_what_came_before(tmp_path: Path) -> None:
    path = _overlap_call(tmp_path)
    data = path.read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[: len(data) - 10])
    code, out, err = run("decode", str(cut), "-f", "jsonl")
    assert code == 0
    assert [json.loads(line)["type"] for line in out.splitlines()] == ["IAM", "SAM", "REL", "RLC"]
    assert "pcap.truncated_record" in err and "frame 5" in err


def test_structured_point_codes(tmp_path: Path) -> None:
    code, out, _ = run("decode", str(_overlap_call(tmp_path)), "--pc-display", "structured")
    assert code == 0
    assert "0-12-4 -> 0-25-0" in out


@pytest.mark.skipif(not (SHARED / "MANIFEST.tsv").is_file(), reason="../shared/captures is absent")
def test_shared_capture_golden() -> None:
    code, out, _ = run("decode", str(SHARED / "tcpdump-tests__isup_m3ua-draft6_itu_call.pcap"))
    assert code == 0
    check_golden("decode_tcpdump_draft6.txt", out)
    code, out, _ = run("decode", str(SHARED / "wireshark-wiki__bicc.pcap"), "-f", "jsonl")
    row = json.loads(out)
    assert row["protocol"] == "bicc" and row["cic"] == 18
    apt = row["params"]["application_transport"]
    assert apt["context_name"] == "BAT ASE"
    # as tshark decodes it: release call indicator set, new sequence, final segment
    assert (apt["release_call"], apt["send_notification"], apt["sequence"], apt["apm_segmentation"]) == (
        1,
        0,
        1,
        0,
    )
    assert apt["originating_address"] == apt["destination_address"] == ""
    assert apt["information"].startswith(
        "018283020283839c88048d8505858502058080058385010107828304081e81832020763d"
    )


# -- issue 14: --number and --cic checked where they enter ------------------------------------------------
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--number", "abc"], "--number 'abc' has no digit"),
        (["--number", ""], "--number needs digits (0-9, A-F, * or #), not an empty string"),
        (["--number", "  "], "--number needs digits"),
        (["--number", "0453 114"], "--number takes dialled digits only (0-9, A-F, * and #), not ' '"),
        (
            ["--cic", "4294967296"],
            "--cic must be a circuit identification code from 0 to 4294967295 (ITU ISUP",
        ),
        (["--cic", "-1"], "not -1"),
        (["--cic", "12x"], "Invalid value for '--cic'"),
    ],
)
def test_decode_bad_filters_are_errors(tmp_path: Path, args: list[str], message: str) -> None:
    code, out, err = run("decode", str(_overlap_call(tmp_path)), *args)
    assert code == 2 and out == "" and message in err, err


def test_decode_cic_in_bicc_range_warns_and_number_is_normalised(tmp_path: Path) -> None:
    cap = str(_overlap_call(tmp_path))
    code, out, err = run("decode", cap, "--cic", "99999999")
    assert code == 0 and "--cic 99999999 is above 16383, the largest ISUP CIC" in err
    assert out.splitlines()[1:] == []  # the header only
    code, out, err = run("decode", cap, "--cic", "4095", "--number", "0453114")
    assert code == 0 and "warning: --cic" not in err
    assert (
        run("decode", cap, "-f", "jsonl", "--number", "0453114")[1]
        == run("decode", cap, "-f", "jsonl", "--number", " 0453114 ")[1]
    )


def test_help_shows_the_defaults_written_in_it() -> None:
    """Typer reads help as Rich markup, where "[default: ...]" is a style tag that vanishes: the help
    texts that state their default must show it (docs/cli.md had "Worker processes ." before)."""
    from typer.testing import CliRunner

    from sigdiag.cli import app

    runner = CliRunner()
    audit = runner.invoke(app, ["audit", "run", "--help"], env={"COLUMNS": "200"}).output
    assert "Worker processes [default: number of cores]." in audit
    stats = runner.invoke(app, ["stats", "--help"], env={"COLUMNS": "200"}).output
    assert "[default: 10]" in stats and "[default: 4]" in stats
    rules = runner.invoke(app, ["rules", "validate", "--help"], env={"COLUMNS": "200"}).output
    assert "Rule files or folders [default: the shipped rules]." in rules
