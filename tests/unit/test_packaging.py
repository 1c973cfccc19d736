"""pyproject.toml lists every package of the source tree, and the shipped rules install with it."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_package_list_matches_source_tree() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    listed = set(config["tool"]["setuptools"]["packages"])
    src = ROOT / "src"
    found = {
        ".".join(p.parent.relative_to(src).parts)
        for p in src.rglob("__init__.py")
        if "__pycache__" not in p.parts
    }
    assert found <= listed, f"packages missing from pyproject.toml: {sorted(found - listed)}"
    assert listed - found == {"sigdiag.shipped_rules"}
    assert config["tool"]["setuptools"]["package-dir"]["sigdiag.shipped_rules"] == "rules"
    data = config["tool"]["setuptools"]["package-data"]
    assert "*.yaml" in data["sigdiag.shipped_rules"] and "rules/schema.json" in data["sigdiag"]


def test_shipped_rules_folder_has_one_rule_per_file() -> None:
    rules = sorted(p.stem for p in (ROOT / "rules").glob("*.yaml") if p.name != "outcomes.yaml")
    assert len(rules) >= 19
    for stem in rules:
        text = (ROOT / "rules" / f"{stem}.yaml").read_text(encoding="utf-8")
        assert f"\nid: {stem}\n" in "\n" + text, stem
