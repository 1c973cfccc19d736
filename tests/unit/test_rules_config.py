"""Rule settings from a config file (``rules:`` section) and a number plan (``--number-plan``)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from sigdiag.cli import app
from sigdiag.simulate import simulate

ROOT = Path(__file__).resolve().parents[2]
REF = str(ROOT / "captures/reference-fault.pcap")
runner = CliRunner()


def _findings(*args: str) -> tuple[int, list[dict[str, object]], str]:
    r = runner.invoke(app, ["check", *args, "-f", "jsonl", "--fail-on", "never"])
    rows = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
    return r.exit_code, rows, r.stderr


def _idc(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    return [f for f in rows if f["rule"] == "incomplete-digit-collection"]


def test_config_file_rules_section_overrides_settings(tmp_path: Path) -> None:
    code, default, _ = _findings(REF, "--pc-format", "china")
    assert code == 0 and len(_idc(default)) == 14
    cfg = tmp_path / "site.yaml"
    cfg.write_text("pc_format: china\nrules:\n  incomplete-digit-collection: {max_gap_ms: 5}\n")
    code, strict, _ = _findings(REF, "--config", str(cfg))
    assert code == 0
    kept = _idc(strict)
    # only the REL crossings and the releases within 5 ms of the SAM remain
    assert 0 < len(kept) < 14
    for f in kept:
        ev = f["evidence"]
        assert isinstance(ev, dict)
        assert "crossing_frames" in ev or float(ev["gap_ms"]) <= 5
    # --set wins over the config file
    code, both, _ = _findings(
        REF, "--config", str(cfg), "--set", "incomplete-digit-collection.max_gap_ms=1000"
    )
    assert len(_idc(both)) == 14


def test_config_file_with_a_bad_rules_section(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("rules:\n  - incomplete-digit-collection\n")
    code, _, err = _findings(REF, "--config", str(cfg))
    assert code == 2 and "'rules' must map rule ids" in err
    cfg.write_text("rules:\n  no-such-rule: {x: 1}\n")
    code, _, err = _findings(REF, "--config", str(cfg))
    assert code == 2 and "no-such-rule" in err


def test_number_plan_file(tmp_path: Path) -> None:
    capture = tmp_path / "unalloc.pcap"
    simulate(str(capture), str(ROOT / "rules/tests/unallocated-valid-prefix.yaml"), seed=1)
    truth = [json.loads(line) for line in capture.with_suffix(".truth.jsonl").read_text().splitlines()]
    expected = {t["iam_frame"] for t in truth if t["fault"] == "unallocated-valid-prefix"}
    assert expected
    code, rows, _ = _findings(str(capture))
    assert code == 0 and not [f for f in rows if f["rule"] == "unallocated-valid-prefix"]  # empty plan
    plan = tmp_path / "plan.yaml"
    plan.write_text("valid_prefixes: ['0471']\n")
    code, rows, _ = _findings(str(capture), "--number-plan", str(plan))
    found = {f["iam_frame"] for f in rows if f["rule"] == "unallocated-valid-prefix"}
    assert code == 0 and found == expected
    plan.write_text("prefixes: 0471\n")
    code, _, err = _findings(str(capture), "--number-plan", str(plan))
    assert code == 2 and "valid_prefixes" in err


def test_config_file_rule_settings_are_checked_against_their_ranges(tmp_path: Path) -> None:
    """The ranges of ``--set`` hold for the config file's ``rules:`` section too (issue 14)."""
    cfg = tmp_path / "site.yaml"
    cfg.write_text("pc_format: china\nrules:\n  trunk-loss-rate: {max_loss_rate: 5}\n")
    r = runner.invoke(app, ["check", REF, "--config", str(cfg)])
    assert r.exit_code == 2
    assert r.stderr.strip() == (
        "sigdiag: error: setting trunk-loss-rate.max_loss_rate must be a share from 0 to 1 (0.05 is 5 %), "
        "not 5.0"
    )
    cfg.write_text("pc_format: china\nrules:\n  trunk-loss-rate: {max_loss_rate: 0.5}\n")
    assert runner.invoke(app, ["check", REF, "--config", str(cfg), "--fail-on", "never"]).exit_code == 0


def test_number_plan_file_errors_name_the_file(tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    for text, needle in [
        ("", f"{plan}:1: the file is empty; expected a mapping of number plan settings"),
        ("- 0453\n", f"{plan}:1: expected a mapping of number plan settings at the top level, not a list"),
        (
            "valid_prefixes: 0453\n",
            f"{plan}: expected 'valid_prefixes:' with a list of called-number prefixes",
        ),
        ("valid_prefixes: [*a]\n", f"{plan}:1: not valid YAML: found undefined alias 'a'"),
    ]:
        plan.write_text(text)
        r = runner.invoke(app, ["check", REF, "--number-plan", str(plan)])
        assert r.exit_code == 2 and r.stderr.strip() == f"sigdiag: error: {needle}", r.stderr
