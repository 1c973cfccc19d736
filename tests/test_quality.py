"""The code base stays ruff- and mypy-clean: checked here so CI enforces it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff not installed")
def test_ruff_clean() -> None:
    result = subprocess.run(
        ["ruff", "check", "src", "tests", "benchmarks"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_clean() -> None:
    pytest.importorskip("mypy")
    result = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_help_does_not_import_heavy_modules() -> None:
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from sigdiag.cli import app\n"
        "r = CliRunner().invoke(app, ['--help'])\n"
        "assert r.exit_code == 0, r.output\n"
        "names = ('pandas', 'pyarrow', 'scapy', 'pyshark', 'numpy', 'jinja2', 'playwright', 'dask')\n"
        "heavy = [m for m in names if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "", f"heavy modules imported by --help: {out}"


def test_cli_reference_is_generated_from_help() -> None:
    result = subprocess.run(
        [sys.executable, "scripts/gen_cli_docs.py", "--check"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_readme_counts_the_shipped_rules() -> None:
    """Every count of the shipped rules in the README is the number the rule loader finds."""
    import re

    from sigdiag.rules.loader import load_rules

    shipped = len(load_rules())
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    said = re.findall(r"\b(\d+)\s+rules\s+ship\b|\ball\s+(\d+)\s+shipped\s+rules\b", text)
    counts = [int(a or b) for a, b in said]
    assert counts, "the README no longer says how many rules ship: update this test"
    assert set(counts) == {shipped}, f"the README says {counts} rules ship; {shipped} do"
