"""The layers of docs/architecture.md hold: the import-linter contracts of pyproject.toml are kept (no
import upward, not even inside a function or under TYPE_CHECKING), the check does fail on an upward
import, and ``sigdiag --help`` imports none of the heavy modules."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

pytest.importorskip("importlinter")

ROOT = Path(__file__).resolve().parents[2]

#: Runs import-linter on the pyproject.toml of the current folder, without writing a cache there.
LINT = "import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports(no_cache=True))"

#: Modules too heavy for ``sigdiag --help`` (each takes tens to hundreds of milliseconds to import).
HEAVY = ("pandas", "pyarrow", "numpy", "dask", "distributed", "duckdb", "jinja2", "hypothesis")


def lint(root: Path) -> subprocess.CompletedProcess[str]:
    """import-linter on ``root``'s pyproject.toml, with the package read from ``root/src``."""
    env = {**os.environ, "PYTHONPATH": str(root / "src")}
    return subprocess.run(
        [sys.executable, "-c", LINT], cwd=root, env=env, capture_output=True, text=True, timeout=120
    )


def test_layers_are_kept() -> None:
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


def test_the_contract_lists_every_package_of_the_source_tree() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = {c["id"]: c for c in config["tool"]["importlinter"]["contracts"]}
    layers = contracts["layers"]
    assert layers["exhaustive"] is True and layers["containers"] == ["sigdiag"]
    named = {name.strip() for layer in layers["layers"] for name in layer.split("|")}
    src = ROOT / "src" / "sigdiag"
    children = {p.stem for p in src.glob("*.py") if p.name != "__init__.py"}
    children |= {p.parent.name for p in src.glob("*/__init__.py")}
    assert named == children
    assert layers["layers"][0] == "cli"  # the command line on top, nothing imports it


@pytest.fixture(scope="module")
def copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the source tree and of pyproject.toml to break."""
    root = tmp_path_factory.mktemp("layers")
    shutil.copytree(
        ROOT / "src" / "sigdiag", root / "src" / "sigdiag", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    result = lint(root)  # the copy as it is keeps the contracts: a break below is the added line's
    assert result.returncode == 0, result.stdout + result.stderr
    return root


def _with_line(copy: Path, module: str, line: str) -> Path:
    """``module`` (a path under src/sigdiag) of the copy with ``line`` added at its end; returns the path."""
    path = copy / "src" / "sigdiag" / module
    path.write_text(path.read_text(encoding="utf-8") + "\n" + line + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("module", "line", "importer", "imported"),
    [
        # an upward import inside a function (the kind that made the cycles): calls -> rules
        (
            "calls/pipeline.py",
            "def _refiner():\n    from sigdiag.rules.check import outcome_refiner\n\n"
            "    return outcome_refiner()",
            "sigdiag.calls.pipeline",
            "sigdiag.rules.check",
        ),
        # under TYPE_CHECKING: capture -> cli
        (
            "capture/frame.py",
            "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    from sigdiag.cli import app",
            "sigdiag.capture.frame",
            "sigdiag.cli",
        ),
        # the rules may not use the simulator
        ("rules/testing.py", "import sigdiag.simulate", "sigdiag.rules.testing", "sigdiag.simulate"),
    ],
)
def test_an_upward_import_breaks_the_contract(
    copy: Path, module: str, line: str, importer: str, imported: str
) -> None:
    path = copy / "src" / "sigdiag" / module
    original = path.read_text(encoding="utf-8")
    try:
        _with_line(copy, module, line)
        result = lint(copy)
    finally:
        path.write_text(original, encoding="utf-8")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "BROKEN" in result.stdout and "0 broken" not in result.stdout
    assert f"{importer} -> {imported}" in result.stdout


def test_help_imports_no_heavy_module() -> None:
    code = "import sys; sys.argv = ['sigdiag', '--help']; from sigdiag.cli import main; main()"
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "100"},
    )
    assert result.returncode == 0, result.stderr
    assert "Decode, correlate, diagnose and audit" in result.stdout
    imported = {
        line.rsplit("|", 1)[1].strip().split(".")[0]
        for line in result.stderr.splitlines()
        if line.startswith("import time:") and line.count("|") == 2
    }
    assert "typer" in imported  # the measure sees what is imported
    assert not imported & set(HEAVY), sorted(imported & set(HEAVY))
