"""The HTML report as a person sees it, in headless Chromium: the KPI figures equal ``sigdiag stats``,
the findings with their ladders, the charts drawn, the search box filtering the calls, no script error,
nothing fetched, hostile names shown as text.  Also makes the README's screenshots of the bundled
example (into ``$SIGDIAG_SCREENSHOTS`` when set)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sigdiag.cli import app
from sigdiag.display import ms_text, pct_text, seconds_text
from tests.browser.conftest import open_html

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "captures" / "reference-fault.pcap"
HOSTILE = "<img src=x onerror=window.__pwned=1>"
runner = CliRunner()

KINDS = {"asr": "rate", "ner": "rate", "network_loss_rate": "rate", "pdd_mean_ms": "ms", "pdd_p95_ms": "ms"}


def run(*args: Any) -> str:
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.stderr
    return result.stdout


def stats(*args: Any) -> dict[str, dict[str, Any]]:
    return {r["group"]: r for r in map(json.loads, run("stats", *args, "--format", "jsonl").splitlines())}


def shown(key: str, value: Any) -> str:
    """A stats figure as the report writes it."""
    if value is None:
        return "-"
    kind = KINDS.get(key)
    if kind == "rate":
        return pct_text(value)
    if kind == "ms":
        return ms_text(value)
    if key == "avg_conversation_s":
        return seconds_text(value)
    return f"{value:g}" if isinstance(value, float) else str(value)


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The report of the bundled example, of the same with a hostile trunk name, and of its audit."""
    d = tmp_path_factory.mktemp("reports")
    trunks = d / "trunks.yaml"
    trunks.write_text(
        f'pc_format: china\ntrunks:\n  - {{name: "{HOSTILE}", opc: 1704716, dpc: 1706241}}\n',
        encoding="utf-8",
    )
    run("report", REFERENCE, "--pc-format", "china", "-o", d / "reference.html")
    run("report", REFERENCE, "--pc-format", "china", "--trunks", trunks, "-o", d / "hostile.html")
    inp = d / "in"
    inp.mkdir()
    shutil.copy(REFERENCE, inp / REFERENCE.name)
    run("audit", "run", inp, "--out", d / "audit", "--pc-format", "china", "--workers", "1")
    shutil.rmtree(inp)
    run("report", d / "audit", "-o", d / "audit.html")
    return {
        "reference": d / "reference.html",
        "hostile": d / "hostile.html",
        "audit": d / "audit.html",
        "trunks": trunks,
    }


def watch_requests(page: Any) -> list[str]:
    """Every http(s) request the page makes (aborted), counted."""
    asked: list[str] = []

    def route(r: Any) -> None:
        if r.request.url.startswith(("http:", "https:")):
            asked.append(r.request.url)
            r.abort()
        else:
            r.continue_()

    page.route("**/*", route)
    return asked


def kpi_rows(page: Any, table: str) -> dict[str, dict[str, str]]:
    """The KPI table as shown: group (row header text) -> key -> cell text."""
    rows: dict[str, dict[str, str]] = page.evaluate(
        """(id) => {
          const out = {};
          for (const tr of document.querySelectorAll('#' + id + ' tbody tr')) {
            const cells = {};
            for (const td of tr.querySelectorAll('td[data-key]')) cells[td.dataset.key] = td.innerText.trim();
            out[tr.querySelector('th').innerText.trim()] = cells;
          }
          return out;
        }""",
        table,
    )
    return rows


def assert_kpis(page: Any, table: str, expected: dict[str, dict[str, Any]]) -> None:
    rows = kpi_rows(page, table)
    assert set(rows) == set(expected)
    for group, cells in rows.items():
        for key, text in cells.items():
            if key in expected[group]:
                assert text == shown(key, expected[group][key]), (group, key)


def assert_charts(page: Any) -> None:
    boxes = page.evaluate(
        """() => Array.from(document.querySelectorAll('figure svg.chart')).map(s => {
          const r = s.getBoundingClientRect();
          return {title: s.querySelector('title').textContent, w: r.width, h: r.height,
                  label: s.getAttribute('aria-labelledby')};
        })"""
    )
    assert len(boxes) == 5
    for b in boxes:
        assert b["title"] and b["label"] and b["w"] > 100 and b["h"] > 30, b


def screenshot_dir(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("SIGDIAG_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_reference_report_as_seen(page: Any, reports: dict[str, Path], tmp_path: Path) -> None:
    asked = watch_requests(page)
    open_html(page, reports["reference"])
    assert_kpis(page, "kpi-trunk-table", stats(REFERENCE, "--pc-format", "china", "--by", "trunk"))
    assert_kpis(page, "kpi-hour-table", stats(REFERENCE, "--pc-format", "china", "--by", "hour"))
    assert page.inner_text("#sum-calls") == "174"
    # findings: 14 of incomplete-digit-collection, each with its ladder drawn
    findings = page.locator('article.finding[data-rule="incomplete-digit-collection"]')
    assert findings.count() == 14
    ladder = findings.first.locator("figure.ladder svg")
    box = ladder.bounding_box()
    assert box is not None and box["width"] > 200 and box["height"] > 100
    assert ladder.locator("title").count() >= 1
    assert "REL" in ladder.text_content()
    assert_charts(page)
    # the search box filters the calls table by number
    total = page.locator("#calls-table tbody tr").count()
    assert total == 174
    visible = "#calls-table tbody tr:not([hidden])"
    page.fill("#call-search", "0453114")
    assert page.locator(visible).count() == 14
    page.fill("#call-search", "04531141536")
    assert page.locator(visible).count() == 1
    assert page.inner_text("#call-count") == "1 of 174 calls shown"
    page.fill("#call-search", "")
    assert page.locator(visible).count() == 174
    # the table of contents leads to every section
    for href in page.eval_on_selector_all("nav a", "as => as.map(a => a.getAttribute('href'))"):
        assert page.locator(href).count() == 1
    assert page.errors == []
    assert asked == []
    folder = screenshot_dir(tmp_path)
    page.evaluate("window.scrollTo(0, 0)")  # (the search box scrolled the page: the top, as it opens)
    page.screenshot(path=str(folder / "report.png"))
    page.locator("#charts").screenshot(path=str(folder / "report-charts.png"))
    findings.first.scroll_into_view_if_needed()
    findings.first.screenshot(path=str(folder / "report-finding.png"))
    ladder.screenshot(path=str(folder / "report-ladder.png"))
    assert (folder / "report-ladder.png").stat().st_size > 1000


def test_hostile_trunk_name_is_text(page: Any, reports: dict[str, Path]) -> None:
    asked = watch_requests(page)
    open_html(page, reports["hostile"])
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.locator("img").count() == 0
    rows = kpi_rows(page, "kpi-trunk-table")
    assert HOSTILE in rows
    assert_kpis(
        page,
        "kpi-trunk-table",
        stats(REFERENCE, "--pc-format", "china", "--by", "trunk", "--trunks", reports["trunks"]),
    )
    legend = page.eval_on_selector_all("svg.chart .legend text", "ts => ts.map(t => t.textContent)")
    assert HOSTILE in legend
    page.fill("#call-search", "0453114")
    assert page.locator("#calls-table tbody tr:not([hidden])").count() == 14
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.errors == []
    assert asked == []


def test_audit_folder_report_as_seen(page: Any, reports: dict[str, Path]) -> None:
    asked = watch_requests(page)
    open_html(page, reports["audit"])
    assert_kpis(page, "kpi-trunk-table", stats(REFERENCE, "--pc-format", "china", "--by", "trunk"))
    assert_kpis(page, "kpi-hour-table", stats(REFERENCE, "--pc-format", "china", "--by", "hour"))
    assert (
        page.locator('article.finding[data-rule="incomplete-digit-collection"] figure.ladder svg').count()
        == 14
    )
    assert_charts(page)
    page.fill("#call-search", "0453114")
    assert page.locator("#calls-table tbody tr:not([hidden])").count() == 14
    assert page.errors == []
    assert asked == []
