"""The call ladder as a person sees it: the SVG and the ``flow --format html`` page rendered in headless
Chromium — an arrow per message, the rule id and the cause shown, hostile names shown as text with no
script run, and the drawing scaling with the window."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sigdiag.calls.stats import TrunkMap
from sigdiag.cli import app
from sigdiag.report.ladder import Ladder, flow_html, ladder_from_rows, ladder_svg
from tests.browser.conftest import open_html

ROOT = Path(__file__).resolve().parents[2]
REF = ROOT / "captures" / "reference-fault.pcap"
HOSTILE_TRUNK = "<img src=x onerror=window.__pwned=1>"
HOSTILE_INFO = "digits 12<script>window.__pwned=2</script><img src=y onerror=window.__pwned=3>"


def hostile_ladder() -> Ladder:
    """Call 7 of the bundled example (as ``flow`` selects it), with a hostile trunk name and digits."""
    from sigdiag.decode import resolve_settings
    from sigdiag.report.select import select_calls

    [s] = select_calls([REF], call_id=7, settings=resolve_settings(None, None, pc_format="china"))
    rows = [dict(r) for r in s.rows]
    rows[1]["info"] = HOSTILE_INFO
    trunks = TrunkMap([(HOSTILE_TRUNK, s.call["opc"], s.call["dpc"], None)])
    return ladder_from_rows(s.call, rows, s.findings, trunks)


def no_script_ran(page: Any) -> None:
    assert page.evaluate("window.__pwned") is None
    assert page.errors == []


def test_svg_ladder_renders_its_messages_marks_and_hostile_names_as_text(page: Any, tmp_path: Path) -> None:
    lad = hostile_ladder()
    path = tmp_path / "call.svg"
    path.write_text(ladder_svg(lad), encoding="utf-8")
    open_html(page, path)
    no_script_ran(page)
    messages = page.locator("g.message")
    assert messages.count() == len(lad.arrows) == 4
    assert [messages.nth(i).get_attribute("data-type") for i in range(4)] == ["IAM", "SAM", "REL", "RLC"]
    assert page.locator("img").count() == 0 and page.locator("script").count() == 0
    rel = messages.nth(2)
    assert rel.locator("text.info").text_content() == "cause 38 (Network out of order), location TN"
    assert rel.locator("text.mark").text_content() == "\u25c6 incomplete-digit-collection"
    assert rel.locator("text.mark").is_visible()
    assert "SAM to REL: 8.6 ms" in page.locator("g.gap").all_text_contents()[0]
    columns = page.locator("text.column")
    assert columns.count() == 2
    # the column label is cut to fit its box; the whole hostile name is its tooltip, as text
    assert "<img src=x" in columns.first.text_content()
    assert HOSTILE_TRUNK in page.locator("text.title > title").text_content()
    assert messages.nth(1).locator("text.info > title").text_content() == HOSTILE_INFO


def test_svg_ladder_scales_with_the_window(page: Any, tmp_path: Path) -> None:
    path = tmp_path / "call.svg"
    path.write_text(ladder_svg(hostile_ladder()), encoding="utf-8")
    widths = []
    for width in (400, 1600):
        page.set_viewport_size({"width": width, "height": 900})
        open_html(page, path)
        box = page.locator("svg").first.bounding_box()
        assert box is not None and box["width"] <= width
        widths.append(box["width"])
        mark = page.locator("text.mark").first
        assert mark.is_visible() and mark.bounding_box()["width"] > 0
    assert widths[1] > 3 * widths[0]
    no_script_ran(page)


def test_flow_html_page_from_the_command(page: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    trunks = tmp_path / "trunks.yaml"
    trunks.write_text(
        f'pc_format: china\ntrunks:\n  - name: "{HOSTILE_TRUNK}"\n    opc: 1704716\n    dpc: 1706241\n'
    )
    path = tmp_path / "flow.html"
    args = ["flow", str(REF), "--pc-format", "china", "--number", "0453114", "--trunks", str(trunks)]
    result = CliRunner().invoke(app, [*args, "-f", "html", "-o", str(path)])
    assert result.exit_code == 0, result.output
    open_html(page, path)
    no_script_ran(page)
    sections = page.locator("section.call")
    assert sections.count() == 14
    first = sections.first
    assert first.locator("h2").inner_text().startswith("call 7: 01058722000 -> 04531141536, CIC 605")
    assert first.locator("svg g.message").count() == 4
    shown = first.inner_text()
    assert HOSTILE_TRUNK in shown  # the trunk name as text
    assert "incomplete-digit-collection" in shown and "cause 38 (Network out of order)" in shown
    assert first.locator("table tbody tr").count() == 4
    assert page.locator("img").count() == 0


def test_flow_html_shows_hostile_digits_as_text(page: Any, tmp_path: Path) -> None:
    path = tmp_path / "flow.html"
    path.write_text(flow_html([hostile_ladder()], title="<b>flow</b>"), encoding="utf-8")
    open_html(page, path)
    no_script_ran(page)
    assert page.title() == "<b>flow</b>"
    assert HOSTILE_INFO in page.locator("table").inner_text()
    assert page.locator("b").count() == 0
