"""``sigdiag report``: the HTML report's figures equal ``sigdiag stats``, findings equal ``check``, the
file is self-contained and escapes every string from a capture or a user file.  (What a browser shows
is checked in tests/browser/test_report_browser.py.)"""

from __future__ import annotations

import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from markupsafe import escape
from typer.testing import CliRunner

from sigdiag.cli import app
from sigdiag.report import charts

ROOT = Path(__file__).resolve().parents[2]
CAPTURES = ROOT / "captures"
REFERENCE = CAPTURES / "reference-fault.pcap"
HOSTILE = "<img src=x onerror=window.__pwned=1>"
runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


def stats(*args: Any) -> dict[str, dict[str, Any]]:
    """``sigdiag stats ... --format jsonl`` rows by group."""
    code, out, err = run("stats", *args, "--format", "jsonl")
    assert code == 0, err
    return {r["group"]: r for r in map(json.loads, out.splitlines())}


class _Doc(HTMLParser):
    """The elements of a document: (tag, attributes) in order, the text of each ``<td>``/``<th>`` with
    ``data-key``, and the KPI rows (``tr[data-group]``) of each KPI table."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.tables: dict[str, dict[str, dict[str, Any]]] = {}
        self.texts: list[str] = []
        self._table: str | None = None
        self._group: str | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.elements.append((tag, a))
        if tag == "table" and a.get("id", "").startswith("kpi-"):  # type: ignore[union-attr]
            self._table = a["id"]
            self.tables[self._table] = {}  # type: ignore[index]
        elif tag == "tr" and self._table and "data-group" in a:
            self._group = a["data-group"]
            self.tables[self._table][self._group] = {}  # type: ignore[index]
        elif tag == "td" and self._table and self._group is not None and "data-key" in a:
            self.tables[self._table][self._group][a["data-key"]] = json.loads(a["data-v"])  # type: ignore[index, arg-type]

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        self.texts.append(data)


def kpis_equal(table: dict[str, dict[str, Any]], rows: dict[str, dict[str, Any]]) -> None:
    """Every figure of a KPI table equals the stats row of its group (and every group is there)."""
    assert set(table) - {"all"} == set(rows)
    for group, cells in table.items():
        if group == "all":
            continue
        row = rows[group]
        for key, value in cells.items():
            if key in ("subscriber_share", "caller_share"):
                count = row["subscriber_failures" if key == "subscriber_share" else "caller_failures"]
                assert value == (round(count / row["completed"], 4) if row["completed"] else None)
            else:
                assert value == row[key], (group, key)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("report") / "reference.html"
    code, _, err = run("report", REFERENCE, "--pc-format", "china", "-o", out)
    assert code == 0, err
    assert f"report: {out}" in err
    return out, out.read_text(encoding="utf-8")


def test_kpis_equal_stats_per_trunk_per_hour_and_all(reference: tuple[Path, str]) -> None:
    _, text = reference
    doc = _Doc(text)
    kpis_equal(doc.tables["kpi-trunk-table"], stats(REFERENCE, "--pc-format", "china", "--by", "trunk"))
    kpis_equal(doc.tables["kpi-hour-table"], stats(REFERENCE, "--pc-format", "china", "--by", "hour"))
    total = stats(REFERENCE, "--pc-format", "china")["all"]
    for key, value in doc.tables["kpi-trunk-table"]["all"].items():
        if key in total:
            assert value == total[key], key
    assert re.search(r'id="sum-calls" data-v="174"', text)


def test_findings_equal_check_with_evidence_recommendation_and_ladder(reference: tuple[Path, str]) -> None:
    _, text = reference
    _code, out, _ = run("check", REFERENCE, "--pc-format", "china", "--format", "jsonl")
    found = [json.loads(line) for line in out.splitlines()]
    rules = re.findall(r'<article class="finding[^"]*" id="finding-\d+" data-rule="([^"]+)"', text)
    assert rules == [f["rule"] for f in found]
    assert rules.count("incomplete-digit-collection") == 14
    for f in found:
        assert str(escape(f["recommendation"])) in text
        assert str(escape(f["message"])) in text
    # each call finding has its ladder drawn (SVG with a title) and as a table
    articles = text.split('<article class="finding')[1:]
    for art, f in zip(articles, found, strict=True):
        if f["call_id"] is not None:
            assert '<figure class="ladder"' in art and "<svg" in art and "<title" in art
            assert art.count('<table class="ladder-rows">') == 1


def test_self_contained_one_script_allowed_by_hash(reference: tuple[Path, str]) -> None:
    path, text = reference
    doc = _Doc(text)
    for tag, attrs in doc.elements:
        for name in ("src", "href", "xlink:href", "action", "data", "poster"):
            value = attrs.get(name)
            assert value is None or value.startswith("#"), (tag, name, value)
        assert tag not in ("link", "iframe", "object", "embed", "img", "base")
    assert not re.search(r"https?://(?!www\.w3\.org/)", text)
    assert "@import" not in text and "url(" not in text
    scripts = re.findall(r"<script>(.*?)</script>", text, re.S)
    assert len(scripts) == 1
    import base64
    import hashlib

    digest = base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in text
    assert path.stat().st_size < 1_000_000


def test_accessible_markup(reference: tuple[Path, str]) -> None:
    _, text = reference
    doc = _Doc(text)
    assert doc.elements[0] == ("html", {"lang": "en"})
    ths = [a for t, a in doc.elements if t == "th"]
    assert ths and all(a.get("scope") in ("col", "row") for a in ths)
    assert [a["id"] for t, a in doc.elements if t == "h2"][:2] == ["toc-title", "summary-title"]
    hrefs = {a["href"] for t, a in doc.elements if t == "a"}
    ids = {a.get("id") for _, a in doc.elements}
    assert hrefs and all(h[1:] in ids for h in hrefs)  # the table of contents leads somewhere
    svgs = [a for t, a in doc.elements if t == "svg"]
    assert len(svgs) >= 4 + 14
    charts_ = [a for a in svgs if a.get("class") == "chart"]
    assert len(charts_) == 5
    for a in charts_:
        assert a["role"] == "img"
        for ref in a["aria-labelledby"].split():  # type: ignore[union-attr]
            assert ref in ids
    label = [a for t, a in doc.elements if t == "label"]
    assert label[0]["for"] == "call-search"


def test_hostile_names_are_text(tmp_path: Path) -> None:
    trunks = tmp_path / "trunks.yaml"
    trunks.write_text(
        f'pc_format: china\ntrunks:\n  - {{name: "{HOSTILE}", opc: 1704716, dpc: 1706241}}\n',
        encoding="utf-8",
    )
    out = tmp_path / "r.html"
    code, _, err = run(
        "report", REFERENCE, "--pc-format", "china", "--trunks", trunks, "--title", HOSTILE, "-o", out
    )
    assert code == 0, err
    text = out.read_text(encoding="utf-8")
    assert "<img" not in text and "onerror=window" not in text.replace("onerror=window.__pwned=1&gt;", "")
    assert text.count("&lt;img src=x onerror=window.__pwned=1&gt;") > 5  # title, KPIs, charts, calls
    doc = _Doc(text)
    assert HOSTILE in doc.tables["kpi-trunk-table"]
    kpis_equal(
        doc.tables["kpi-trunk-table"],
        stats(REFERENCE, "--pc-format", "china", "--by", "trunk", "--trunks", trunks),
    )


def test_charts_escape_and_draw_gaps() -> None:
    svg = charts.line_chart(
        HOSTILE, ["a", "<b>", "c"], [(HOSTILE, [0.5, None, 0.25]), ("t2", [None, 1.0, None])]
    )
    assert "<img" not in svg and "&lt;b&gt;" in svg
    assert svg.count("<circle") == 3
    assert svg.count("<polyline") == 0  # no two consecutive values: points only
    svg = charts.line_chart("x", ["a", "b", "c"], [("s", [0.5, 0.4, 0.3])])
    assert svg.count("<polyline") == 1
    bars = charts.bar_chart(HOSTILE, [(HOSTILE, 3), ("y", 1)])
    assert "<img" not in bars and bars.count('class="bar"') == 2
    assert "no data" in charts.bar_chart("t", []) and "no data" in charts.share_bars("t", [])
    shares = charts.share_bars("t", [("answered", 3), ("network", 1), ("caller", 0)])
    assert "answered 3 (75.0 %)" in shares and "caller" not in shares


def test_3000_calls_under_5_mb_figures_equal_stats(tmp_path: Path) -> None:
    from sigdiag.simulate import simulate

    cap = tmp_path / "sim.pcap"
    simulate(cap, CAPTURES / "all-faults.yaml", calls=3000, seed=3)
    out = tmp_path / "sim.html"
    code, _, err = run("report", cap, "--pc-format", "itu", "-o", out)
    assert code == 0, err
    size = out.stat().st_size
    assert size < 5_000_000
    text = out.read_text(encoding="utf-8")
    doc = _Doc(text)
    kpis_equal(doc.tables["kpi-trunk-table"], stats(cap, "--pc-format", "itu", "--by", "trunk"))
    kpis_equal(doc.tables["kpi-hour-table"], stats(cap, "--pc-format", "itu", "--by", "hour"))
    calls = doc.tables["kpi-trunk-table"]["all"]["seizures"]
    assert calls > 3000
    assert len(re.findall(r"<tr data-numbers=", text)) == calls
    assert len(re.findall(r'class="chart"', text)) == 5


def test_audit_folder_report_from_tables_only(tmp_path: Path) -> None:
    inp = tmp_path / "in"
    inp.mkdir()
    shutil.copy(REFERENCE, inp / "reference-fault.pcap")
    audit = tmp_path / "audit"
    code, _, err = run("audit", "run", inp, "--out", audit, "--pc-format", "china", "--workers", "1")
    assert code == 0, err
    shutil.rmtree(inp)  # the report reads the stored tables, never the captures
    out = tmp_path / "audit.html"
    code, _, err = run("report", audit, "-o", out)
    assert code == 0, err
    text = out.read_text(encoding="utf-8")
    doc = _Doc(text)
    kpis_equal(doc.tables["kpi-trunk-table"], stats(REFERENCE, "--pc-format", "china", "--by", "trunk"))
    kpis_equal(doc.tables["kpi-hour-table"], stats(REFERENCE, "--pc-format", "china", "--by", "hour"))
    rules = re.findall(r'<article class="finding[^"]*" id="finding-\d+" data-rule="([^"]+)"', text)
    assert rules.count("incomplete-digit-collection") == 14 and len(rules) == 15
    assert text.count('<figure class="ladder"') == 14
    assert "network-loss rate 10.8 % above limit 5.0 %" in text  # the audit's alert
    assert re.search(r'id="sum-messages">826<', text)
    assert len(re.findall(r"<tr data-numbers=", text)) == 174


def test_bad_input_is_a_one_line_error(tmp_path: Path) -> None:
    code, _, err = run("report", tmp_path / "missing.pcap", "-o", tmp_path / "r.html")
    assert code == 2 and "missing.pcap" in err
    code, _, err = run("report", REFERENCE, tmp_path, "-o", tmp_path / "r.html")
    assert code == 2 and "audit folder alone" in err
    code, _, err = run("report", tmp_path, "-o", tmp_path / "r.html")
    assert code == 2 and "not an audit output folder" in err
    assert not (tmp_path / "r.html").exists()
