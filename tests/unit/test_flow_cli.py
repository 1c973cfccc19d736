"""``sigdiag flow``: the ladders of the calls asked for, in each format, from the bundled example and a
shared capture; no match, usage errors, hostile trunk names."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sigdiag.cli import app

ROOT = Path(__file__).resolve().parents[2]
REF = "captures/reference-fault.pcap"
CHINA = ("--pc-format", "china")
SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = "<img src=x onerror=alert(1)>"
runner = CliRunner()


@pytest.fixture(autouse=True)
def _at_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("SIGDIAG_RULES", raising=False)


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["flow", *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def hostile_trunks(tmp_path: Path) -> Path:
    path = tmp_path / "trunks.yaml"
    path.write_text(f'pc_format: china\ntrunks:\n  - name: "{HOSTILE}"\n    opc: 1704716\n    dpc: 1706241\n')
    return path


def test_text_ladder_of_one_call_of_the_bundled_example() -> None:
    code, out, err = run(REF, *CHINA, "--call", "7")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("call 7: 01058722000 -> 04531141536, CIC 605")
    assert max(map(len, lines)) <= 80
    for expected in (
        "called 0453114 (no ST), calling 01058722000",
        "digits 1536",
        "cause 38 (Network out of order), location TN",
        "^ SAM to REL: 8.6 ms (frame 21 to 22)",
        "^ release wait: 22.2 ms (frame 22 to 23)",
        "! incomplete-digit-collection",
        "[HIGH] incomplete-digit-collection",
    ):
        assert expected in out
    assert re.search(r"^\s+0\.0\s+02:00:03\.005\s+14\s+\|-- IAM -+>\|$", out, re.M)


def test_number_draws_every_call_of_the_number() -> None:
    code, out, err = run(REF, *CHINA, "--number", "0453114")
    assert code == 0, err
    titles = [line for line in out.splitlines() if line.startswith("call ")]
    assert len(titles) == 14  # as check --number 0453114 lists them
    assert out.count("! incomplete-digit-collection") >= 2 * 14


def test_finding_draws_the_calls_the_rule_names() -> None:
    code, out, err = run(REF, *CHINA, "--finding", "incomplete-digit-collection")
    assert code == 0, err
    assert len([line for line in out.splitlines() if line.startswith("call ")]) == 14


def test_svg_to_a_file(tmp_path: Path) -> None:
    path = tmp_path / "call.svg"
    code, out, err = run(REF, *CHINA, "--call", "7", "--format", "svg", "-o", str(path))
    assert code == 0 and out == ""
    assert f"to {path}" in err
    root = ET.fromstring(path.read_text(encoding="utf-8"))
    assert root.tag == SVG + "svg" and "viewBox" in root.attrib
    assert len([g for g in root.iter(SVG + "g") if g.get("class") == "message"]) == 4


def test_several_calls_in_one_svg_and_mermaid_markdown() -> None:
    code, out, _ = run(REF, *CHINA, "--number", "0453114", "-f", "svg")
    root = ET.fromstring(out)
    assert len([g for g in root.iter(SVG + "g") if g.get("class") == "ladder"]) == 14
    code, out, _ = run(REF, *CHINA, "--number", "0453114", "-f", "mermaid")
    assert code == 0
    assert out.count("```mermaid\nsequenceDiagram\n") == 14 and out.count("\n```\n") == 14
    assert out.count("### call ") == 14


def test_mermaid_of_one_call() -> None:
    code, out, _ = run(REF, *CHINA, "--call", "7", "-f", "mermaid")
    assert code == 0
    assert out.startswith("sequenceDiagram\n    participant A as 1704716\n")
    assert "    Note over A,B: SAM to REL 8.6 ms (frame 21 to 22)\n" in out


def test_html_page(tmp_path: Path) -> None:
    path = tmp_path / "flow.html"
    code, _, err = run(REF, *CHINA, "--number", "0453114", "-f", "html", "-o", str(path))
    assert code == 0, err
    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>") and page.count("<svg ") == 14 and page.count("<h2>") == 14
    assert "<script" not in page


def test_no_match_says_so_with_the_closest_numbers() -> None:
    code, out, err = run(REF, *CHINA, "--number", "0453999")
    assert code == 1 and out == ""
    [line] = [x for x in err.splitlines() if "no call" in x]
    assert line.startswith("sigdiag: no call matches --number 0453999; closest numbers seen: 0453")
    code, out, err = run(REF, *CHINA, "--call", "99999")
    assert code == 1 and "no call matches --call 99999" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "say which calls"),
        (("--opc", "1704716"), "--opc and --dpc go with --cic"),
        (("--cic", "605", "--opc", "999999999"), "--opc"),
        (("--number", "abc"), "--number"),
        (("--call", "x7"), "call id"),
        (("--finding", "no-such-rule"), "unknown rule"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(args: tuple[str, ...], message: str) -> None:
    code, out, err = run(REF, *CHINA, *args)
    assert code == 2 and out == ""
    assert err.startswith("sigdiag: error: ") and message in err and err.count("\n") == 1


def test_cic_with_point_codes() -> None:
    code, out, err = run(REF, *CHINA, "--cic", "605", "--opc", "1704716", "--dpc", "1706241")
    assert code == 0, err
    assert all("CIC 605" in line for line in out.splitlines() if line.startswith("call "))
    code, _, err = run(REF, *CHINA, "--cic", "605", "--opc", "1", "--dpc", "2")
    assert code == 1


def test_structured_point_codes_and_trunk_names(hostile_trunks: Path) -> None:
    code, out, err = run(
        REF, *CHINA, "--call", "7", "--pc-display", "structured", "--trunks", str(hostile_trunks)
    )
    assert code == 0, err
    assert "A: 26-3-12 (" in out and "B: 26-9-1 (" in out
    assert HOSTILE in out.replace("\n", " ") or "onerror=alert(1)>" in out  # text output shows the name


def test_hostile_trunk_names_are_escaped_in_svg_html_and_mermaid(hostile_trunks: Path) -> None:
    args = (REF, *CHINA, "--call", "7", "--trunks", str(hostile_trunks))
    _, svg, _ = run(*args, "-f", "svg")
    assert "<img" not in svg and HOSTILE in " ".join(ET.fromstring(svg).itertext())
    _, page, _ = run(*args, "-f", "html")
    assert "<img" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    _, mermaid, _ = run(*args, "-f", "mermaid")
    assert "<img" not in mermaid and "#60;img src#61;x onerror#61;alert(1)#62;" in mermaid


def test_a_shared_capture_with_acm_and_cpg(shared_captures: Path) -> None:
    cap = shared_captures / "kancom-xdr_tester__isup_m2pa_itu_call.pcap"
    code, out, err = run(str(cap), "--cic", "15")
    assert code == 0, err
    words = " ".join(out.split())  # (the content wraps under the arrow)
    assert "called party: no indication, charge indicator: charge" in words
    assert "event ALERTING" in words
    assert "^ PDD: 6126.0 ms (frame 1 to 2)" in out and "^ answer delay:" in out
    assert "cause 16 (Normal call clearing)" in out
    assert max(map(len, out.splitlines())) <= 80


def test_a_shared_capture_seen_twice_per_message(shared_captures: Path) -> None:
    cap = shared_captures / "fs-mod_isup__isup_m3ua_mgcp_call.pcap"
    code, out, err = run(str(cap), "--cic", "1", "-f", "svg")
    assert code == 0, err
    root = ET.fromstring(out)
    types = [g.get("data-type") for g in root.iter(SVG + "g") if g.get("class") == "message"]
    assert types == ["IAM", "ACM", "ANM", "REL", "RLC"]  # one arrow per message, not per copy


@pytest.fixture(scope="module")
def audit_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An audit of the bundled example split into three rotated files."""
    from sigdiag.audit import run_audit
    from tests.unit.test_audit import split

    tmp = tmp_path_factory.mktemp("flow-audit")
    split(ROOT / REF, tmp / "in", 3)
    run_audit([str(tmp / "in")], tmp / "out", {"decode": {"pc_format": "china"}}, workers=1, progress=False)
    return tmp / "out"


def _content(text: str) -> list[str]:
    """The lines of a text ladder that do not depend on where the call was read: no titles (call ids),
    no time of day (an audit keeps offsets to 0.1 ms), no frame numbers (rotated files renumber)."""
    out = []
    for line in text.splitlines():
        if line.startswith(("call ", "network/", "frames ")) or "probe_" in line:
            continue
        out.append(re.sub(r"^\s+([\d.]+)\s+\S+\s+\S+\s+\|", r"\1 |", re.sub(r"\(frame .*\)$", "", line)))
    return out


def test_an_audit_folder_across_rotated_files(audit_dir: Path, tmp_path: Path) -> None:
    code, audited, err = run(str(audit_dir), "--number", "0453114")
    assert code == 0, err
    _, whole, _ = run(REF, *CHINA, "--number", "0453114")
    assert _content(audited) == _content(whole)
    # a call whose messages are in two rotated files names them, and its frames say which file
    assert re.search(r"^frames 2:N are in\s+\S*probe_0000\d", audited, re.M)
    assert re.search(r"^\s+[\d.]+\s+\S+\s+2:\d+\s+\|", audited, re.M)
    page = tmp_path / "flow.html"
    code, _, err = run(str(audit_dir), "--number", "0453114", "-f", "html", "-o", str(page))
    assert code == 0, err
    assert '<th scope="col">file</th>' in page.read_text(encoding="utf-8")
