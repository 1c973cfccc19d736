"""Shared pytest fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_CAPTURES = ROOT.parent / "shared" / "captures"


@pytest.fixture
def shared_captures() -> Path:
    """The real captures in ../shared/captures (read in place, never copied); skips when absent."""
    if not (SHARED_CAPTURES / "MANIFEST.tsv").is_file():
        pytest.skip("../shared/captures is absent")
    return SHARED_CAPTURES
