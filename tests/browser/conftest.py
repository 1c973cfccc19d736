"""Headless Chromium for the tests that check what a person sees (SVG ladders, the HTML report).

Debian's ``chromium`` (installed by ``scripts/setup``) driven by Playwright's Python package, started with
the flags this machine needs (no sandbox as root, no GPU, no background connections on a closed network)
and a fresh profile folder per test session.  Where Chromium is absent the tests skip, except under CI
(``CI`` set), where a missing browser is a failure: the suite must render there.

``page`` is a fresh page; :func:`open_html` loads a document from a file (``file://``, as a person opens
a saved report) and collects every script error and console error into ``page.errors``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]


def chromium_path() -> str | None:
    """Debian's Chromium, if installed."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="session")
def browser_context(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One Chromium for the session, on a fresh profile folder."""
    exe = chromium_path()
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed: scripts/setup installs it (Debian package chromium)")
        pytest.skip("chromium is not installed (scripts/setup installs it)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("playwright is not installed: pip install -e '.[test]'")
        pytest.skip("playwright is not installed")
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile),
            executable_path=exe,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900},
            offline=True,
        )
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def page(browser_context: Any) -> Iterator[Any]:
    """A fresh page; ``page.errors`` collects script errors and console errors."""
    pg = browser_context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))

    def console(msg: Any) -> None:
        if msg.type == "error":
            errors.append(f"console.error: {msg.text}")

    pg.on("console", console)
    pg.errors = errors
    try:
        yield pg
    finally:
        pg.close()


def open_html(page: Any, path: Path) -> Any:
    """Open a file as a person does (``file://``), wait until it is loaded, return the page."""
    page.goto(path.resolve().as_uri(), wait_until="load")
    return page
