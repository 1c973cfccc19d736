"""The browser fixture itself: a page renders, a script error is caught, nothing is fetched."""

from __future__ import annotations

from pathlib import Path

from tests.browser.conftest import open_html


def test_a_page_renders_and_a_script_error_is_caught(page, tmp_path: Path) -> None:
    doc = tmp_path / "p.html"
    doc.write_text("<!doctype html><title>t</title><h1>ladder</h1><script>undefinedFunction()</script>")
    open_html(page, doc)
    assert page.inner_text("h1") == "ladder"
    assert any("undefinedFunction" in e for e in page.errors)


def test_a_clean_page_has_no_error(page, tmp_path: Path) -> None:
    doc = tmp_path / "p.html"
    doc.write_text("<!doctype html><title>t</title><p id=x>ok</p><script>document.title='done'</script>")
    open_html(page, doc)
    assert page.title() == "done"
    assert page.errors == []
