"""The call ladder (:mod:`sigdiag.report.ladder`, :mod:`sigdiag.report.svg`): the model from a call and
from rows, its gaps and rule marks, and the text (80 columns), SVG, Mermaid and HTML drawings, with
hostile strings from a capture or a trunk map escaped in each."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from sigdiag.calls.stats import TrunkMap
from sigdiag.report.ladder import (
    Ladder,
    flow_html,
    ladder_from_rows,
    ladder_mermaid,
    ladder_of_call,
    ladder_rows,
    ladder_svg,
    ladder_text,
    mermaid_text,
)
from sigdiag.report.svg import ladders_svg, svg_document, text

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "captures" / "reference-fault.pcap"
SVG = "{http://www.w3.org/2000/svg}"
HOSTILE_TRUNK = "<img src=x onerror=alert(1)>"
HOSTILE_INFO = 'digits <script>alert(1)</script> & "x"; #1: [bold]b[/bold]\nnext'


@cache
def reference() -> tuple[list[Any], list[dict[str, Any]]]:
    """The calls of the bundled example that dial 0453114, and every finding of its check run."""
    import sigdiag
    from sigdiag.rules.check import check

    findings = [f.as_dict() for f in check(REFERENCE, pc_format="china", workers=1)]
    calls = [c for c in sigdiag.iter_calls(REFERENCE, pc_format="china") if "0453114" in c.called]
    return calls, findings


def call_7() -> Ladder:
    calls, findings = reference()
    [call] = [c for c in calls if c.call_id == 7]
    return ladder_of_call(call, findings)


def synthetic(**call: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A call row and its ladder rows: IAM, SAM, ACM, ANM, REL, RLC (1000 s epoch start)."""
    row = {
        "call_id": 3,
        "opc": 10,
        "dpc": 20,
        "cic": 5,
        "start": 1000.0,
        "called": "123456",
        "calling": "999",
        "outcome": "answered",
        "cause": 16,
        "pdd_ms": 400.0,
        "answer_delay_ms": 2000.0,
        "release_wait_ms": 50.0,
    } | call
    rows = [
        {"frame": 1, "offset_ms": 0.0, "direction": "forward", "type": "IAM", "info": "called 123 (no ST)"},
        {"frame": 2, "offset_ms": 100.0, "direction": "forward", "type": "SAM", "info": "digits 456"},
        {"frame": 3, "offset_ms": 500.0, "direction": "backward", "type": "ACM", "info": ""},
        {"frame": 4, "offset_ms": 2500.0, "direction": "backward", "type": "ANM", "info": ""},
        {"frame": 5, "offset_ms": 9000.0, "direction": "forward", "type": "REL", "info": "cause 16"},
        {"frame": 6, "offset_ms": 9050.0, "direction": "backward", "type": "RLC", "info": ""},
    ]
    return row, rows


# -- the model -------------------------------------------------------------------------------------------
def test_call_7_of_the_reference_fault_has_its_messages_gaps_and_marks() -> None:
    lad = call_7()
    assert [a.type for a in lad.arrows] == ["IAM", "SAM", "REL", "RLC"]
    assert [a.direction for a in lad.arrows] == ["forward", "forward", "backward", "forward"]
    assert [a.frame for a in lad.arrows] == [14, 21, 22, 23]
    assert lad.arrows[0].offset_ms == 0.0 and lad.arrows[0].ts == lad.start
    assert lad.arrows[1].info == "digits 1536"
    assert lad.arrows[2].info.startswith("cause 38 (Network out of order)")
    # the finding's evidence names the SAM (gap_from_frame) and the REL (gap_to_frame)
    assert "incomplete-digit-collection" in lad.arrows[1].marks
    assert "incomplete-digit-collection" in lad.arrows[2].marks
    assert "incomplete-digit-collection" not in lad.arrows[3].marks
    gaps = {g.name: g for g in lad.gaps}
    assert (gaps["SAM to REL"].start_frame, gaps["SAM to REL"].end_frame, gaps["SAM to REL"].ms) == (
        21,
        22,
        8.6,
    )
    assert gaps["release wait"].end_frame == 23
    assert "PDD" not in gaps  # no ACM, CPG or answer
    assert (lad.left_pc, lad.right_pc) == ("1704716", "1706241")
    assert "cause 38 (Network out of order)" in lad.title and "CIC 605" in lad.title
    assert {f["rule"] for f in lad.findings} >= {"incomplete-digit-collection"}
    assert all(f.get("call_id") == 7 or 7 in (f.get("calls") or ()) for f in lad.findings)


def test_gaps_are_those_the_kpis_judge() -> None:
    row, rows = synthetic()
    lad = ladder_from_rows(row, rows)
    gaps = {g.name: (g.start_frame, g.end_frame, g.ms) for g in lad.gaps}
    # PDD from the last digits (the SAM) to the ACM, as the call's pdd_ms; no SAM-to-REL after an ACM
    assert gaps == {"PDD": (2, 3, 400.0), "answer delay": (3, 4, 2000.0), "release wait": (5, 6, 50.0)}
    # without the call's figures the gaps are the rows' differences
    row, rows = synthetic(pdd_ms=None, answer_delay_ms=None, release_wait_ms=None)
    gaps = {g.name: g.ms for g in ladder_from_rows(row, rows).gaps}
    assert gaps == {"PDD": 400.0, "answer delay": 2000.0, "release wait": 50.0}
    assert [a.ts for a in ladder_from_rows(row, rows).arrows][:2] == [1000.0, 1000.1]


def test_a_cpg_alerting_ends_the_pdd_and_a_backward_rel_after_a_sam_is_written() -> None:
    row, rows = synthetic(pdd_ms=None)
    rows[2] = {**rows[2], "type": "CPG", "info": "event ALERTING"}
    assert ladder_from_rows(row, rows).gaps[0].name == "PDD"
    rows = [rows[0], rows[1], {**rows[4], "direction": "backward"}, rows[5]]
    gaps = {g.name: g for g in ladder_from_rows(row, rows).gaps}
    assert gaps["SAM to REL"].ms == 8900.0 and "PDD" not in gaps


def test_marks_come_from_evidence_frames_else_the_iam_and_only_for_the_call() -> None:
    row, rows = synthetic()
    findings = [
        {
            "rule": "r-evidence",
            "call_id": 3,
            "evidence": {"gap_from_frame": 2, "gap_to_frame": 5},
            "frames": [1, 2],
        },
        {"rule": "r-crossing", "call_id": 3, "evidence": {"crossing_frames": [4]}, "frames": []},
        {"rule": "r-call", "call_id": 3, "iam_frame": 1, "evidence": {}, "frames": [1, 2, 3, 4, 5, 6]},
        {"rule": "r-window", "call_id": None, "calls": [8, 3], "iam_frame": None, "frames": [1, 77]},
        {"rule": "r-other", "call_id": 4, "iam_frame": 1, "evidence": {}, "frames": [1]},
    ]
    lad = ladder_from_rows(row, rows, findings)
    marks = {a.frame: a.marks for a in lad.arrows}
    assert marks == {
        1: ("r-call", "r-window"),
        2: ("r-evidence",),
        3: (),
        4: ("r-crossing",),
        5: ("r-evidence",),
        6: (),
    }
    assert [f["rule"] for f in lad.findings] == ["r-evidence", "r-crossing", "r-call", "r-window"]


def test_trunk_names_label_the_columns() -> None:
    row, rows = synthetic()
    lad = ladder_from_rows(row, rows, trunks=TrunkMap([("BJ-SH-01", 20, 10, None)]))
    assert (lad.left, lad.right, lad.trunk) == ("10 (BJ-SH-01)", "20 (BJ-SH-01)", "BJ-SH-01")
    assert "trunk BJ-SH-01" in lad.title
    # an audit row's trunk column names the trunk; the point-code pair it falls back to does not
    assert ladder_from_rows(row | {"trunk": "T1"}, rows).trunk == "T1"
    assert ladder_from_rows(row | {"trunk": "10-20"}, rows).trunk is None
    # structured point codes as the user prints them
    assert ladder_from_rows(row, rows, pc=lambda v: f"pc{v}").left == "pc10"


def test_acm_and_cpg_say_their_indicators(shared_captures: Path) -> None:
    import sigdiag

    [call] = sigdiag.iter_calls(shared_captures / "kancom-xdr_tester__isup_m2pa_itu_call.pcap")
    rows = ladder_rows(call, "x.pcap")
    by_type = {r["type"]: r for r in rows}
    assert by_type["ACM"]["info"] == "called party: no indication, charge indicator: charge"
    assert "event ALERTING" in by_type["CPG"]["info"]
    assert by_type["REL"]["info"].startswith("cause 16 (Normal call clearing)")
    assert all(r["file"] == "x.pcap" and isinstance(r["ts"], float) for r in rows)
    lad = ladder_of_call(call)
    assert [g.name for g in lad.gaps] == ["PDD", "answer delay", "release wait"]
    assert lad.gaps[0].ms == call.pdd_ms


# -- text --------------------------------------------------------------------------------------------------
def test_text_of_call_7_fits_80_columns_and_says_what_matters() -> None:
    out = ladder_text(call_7())
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "called 0453114 (no ST), calling 01058722000" in out
    assert "digits 1536" in out
    assert "cause 38 (Network out of order), location TN" in out
    assert "^ SAM to REL: 8.6 ms (frame 21 to 22)" in out
    assert "! incomplete-digit-collection" in out
    assert "1704716" in out and "1706241" in out
    assert "2024-03-01, times UTC" in out
    # one arrow line per message, its direction drawn: --> forward, <-- backward; then offset, time, frame
    arrows = [line for line in lines if re.search(r"\|(--|<-).*(>|-)\|$", line)]
    assert len(arrows) == 4
    assert re.match(r"\s+666\.4\s+02:00:03\.672\s+21\s+\|-- SAM -+>\|$", arrows[1])
    assert re.match(r"\s+675\.0\s+02:00:03\.680\s+22\s+\|<-+ REL --\|$", arrows[2])
    # the mark follows the message it names
    sam = lines.index(arrows[1])
    assert lines[sam + 1].strip() == "digits 1536"
    assert lines[sam + 2].strip() == "! incomplete-digit-collection"


@pytest.mark.parametrize("width", [60, 80, 120])
def test_text_fits_the_width_asked(width: int) -> None:
    row, rows = synthetic()
    rows[0]["info"] = "called " + "1" * 150
    out = ladder_text(ladder_from_rows(row, rows, trunks=TrunkMap([("T" * 90, 10, 20, None)])), width)
    assert max(len(line) for line in out.splitlines()) <= width
    assert "1" * 20 in out


def test_text_shows_markup_and_control_characters_as_text() -> None:
    row, rows = synthetic()
    rows[1]["info"] = HOSTILE_INFO
    out = ladder_text(ladder_from_rows(row, rows))
    assert "[bold]b[/bold]" in out and "<script>" in out
    assert "\x1b" not in out


# -- SVG ----------------------------------------------------------------------------------------------------
def test_svg_is_standalone_scalable_and_has_an_arrow_per_message() -> None:
    lad = call_7()
    doc = ladder_svg(lad)
    root = ET.fromstring(doc)
    assert root.tag == SVG + "svg"
    assert re.fullmatch(r"0 0 \d+ \d+", root.attrib["viewBox"]) and root.attrib["width"] == "100%"
    assert root.find(SVG + "title").text == lad.title  # type: ignore[union-attr]
    messages = [g for g in root.iter(SVG + "g") if g.attrib.get("class") == "message"]
    assert [m.attrib["data-type"] for m in messages] == ["IAM", "SAM", "REL", "RLC"]
    assert all(m.find(SVG + "polygon") is not None and m.find(SVG + "line") is not None for m in messages)
    texts = " ".join("".join(t.itertext()) for t in root.iter(SVG + "text"))
    assert "cause 38 (Network out of order)" in texts and "incomplete-digit-collection" in texts
    assert "SAM to REL: 8.6 ms" in texts and "+666.4 ms" in texts and "02:00:03.672" in texts
    assert all(int(t.attrib.get("font-size", "13")) >= 12 for t in root.iter(SVG + "text"))
    # nothing from outside: the only URL is the namespace
    assert re.findall(r"https?://[^\"]+", doc) == ["http://www.w3.org/2000/svg"]
    assert "<script" not in doc and "href" not in doc


def test_svg_escapes_hostile_names_and_content() -> None:
    row, rows = synthetic()
    rows[1]["info"] = HOSTILE_INFO
    lad = ladder_from_rows(
        row | {"called": "<b>1</b>"}, rows, trunks=TrunkMap([(HOSTILE_TRUNK, 10, 20, None)])
    )
    doc = ladder_svg(lad)
    assert "<img" not in doc and "<script" not in doc and "<b>" not in doc
    root = ET.fromstring(doc)  # well-formed: the escapes are complete
    every = " ".join(root.itertext())
    assert HOSTILE_TRUNK in every and "<script>alert(1)</script>" in every and "<b>1</b>" in every
    assert not any(k.startswith("on") for e in root.iter() for k in e.attrib)


def test_svg_primitives_escape_text_and_attributes() -> None:
    t = text(1, 2.5, "<a&b>", fill='x" onload="y', class_="c", tooltip="<t>")
    assert t == (
        '<text x="1" y="2.5" fill="x&quot; onload=&quot;y" class="c">'
        "<title>&lt;t&gt;</title>&lt;a&amp;b&gt;</text>"
    )
    doc = svg_document(100, 50, t, "<title>")
    assert ET.fromstring(doc).find(SVG + "title").text == "<title>"  # type: ignore[union-attr]


def test_several_ladders_make_one_document() -> None:
    calls, findings = reference()
    ladders = [ladder_of_call(c, findings) for c in calls[:3]]
    root = ET.fromstring(ladders_svg(ladders))
    groups = [g for g in root.iter(SVG + "g") if g.attrib.get("class") == "ladder"]
    assert len(groups) == 3
    messages = [g for g in root.iter(SVG + "g") if g.attrib.get("class") == "message"]
    assert len(messages) == sum(len(lad.arrows) for lad in ladders)
    assert ladders_svg(ladders[:1]) == ladder_svg(ladders[0])


# -- Mermaid --------------------------------------------------------------------------------------------
def test_mermaid_is_a_sequence_diagram_with_notes() -> None:
    out = ladder_mermaid(call_7())
    lines = out.splitlines()
    assert lines[0] == "sequenceDiagram"
    assert lines[1] == "    participant A as 1704716" and lines[2] == "    participant B as 1706241"
    arrows = [line for line in lines if re.match(r"    (A->>B|B->>A): ", line)]
    assert [a.split(": ", 1)[1].split()[0] for a in arrows] == ["IAM", "SAM", "REL", "RLC"]
    assert arrows[2].startswith("    B->>A: REL +675.0 ms")
    assert "cause 38 (Network out of order)" in arrows[2]
    assert "    Note over A,B: SAM to REL 8.6 ms (frame 21 to 22)" in lines
    assert "    Note right of B: ! incomplete-digit-collection" in lines
    # after the statement's own colon, no Mermaid syntax character is left raw
    for line in lines[1:]:
        rest = line.split(": ", 1)[1] if ": " in line else line.split(" as ", 1)[1]
        assert not set(re.sub(r"#\d+;", "", rest)) & set("#:;<>\"'`{}"), line


def test_mermaid_escapes_hostile_names_and_content() -> None:
    row, rows = synthetic()
    rows[1]["info"] = HOSTILE_INFO
    out = ladder_mermaid(ladder_from_rows(row, rows, trunks=TrunkMap([(HOSTILE_TRUNK, 10, 20, None)])))
    assert "<" not in out and ">" not in out.replace("->>", "")
    assert len(out.splitlines()) == 4 + 6 + 3  # the newline in the info does not start a statement
    assert "participant A as 10 (#60;img src#61;x onerror#61;alert(1)#62;)" in out
    assert mermaid_text("a:b;c#d\n<e>") == "a#58;b#59;c#35;d #60;e#62;"


# -- HTML ----------------------------------------------------------------------------------------------------
def test_flow_html_is_self_contained_and_escaped() -> None:
    row, rows = synthetic()
    rows[1]["info"] = HOSTILE_INFO
    findings = [
        {
            "rule": "r1",
            "severity": "high",
            "title": "<i>t</i>",
            "call_id": 3,
            "frames": [2],
            "message": "<script>alert(2)</script>",
            "recommendation": "fix <it>",
            "evidence": {},
        }
    ]
    lad = ladder_from_rows(row, rows, findings, trunks=TrunkMap([(HOSTILE_TRUNK, 10, 20, None)]))
    page = flow_html([lad, call_7()], title="<flow>")
    assert "<script" not in page and "<img" not in page and "<i>" not in page and "<it>" not in page
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "<title>&lt;flow&gt;</title>" in page
    assert page.count("<svg ") == 2 and page.count("<h2>") == 2
    assert "Content-Security-Policy" in page
    assert not re.search(r"(src|href)=\"?(https?:)?//", page) and "http://" not in page.replace(
        'xmlns="http://www.w3.org/2000/svg"', ""
    )
