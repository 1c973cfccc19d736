"""CSV exports neutralise spreadsheet formulas (issue 17, point 5), and leave numbers numbers."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sigdiag.cli import app
from sigdiag.report import csv_safe, write_csv

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "captures" / "reference-fault.pcap"


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("-", "'-"),
        # numbers written as text are numbers to a spreadsheet: left alone
        ("-12", "-12"),
        ("-0.5", "-0.5"),
        ("+8613800138000", "+8613800138000"),
        ("1e-3", "1e-3"),
        # other text, and values that are not text, unchanged
        ("BJ-SH-01", "BJ-SH-01"),
        ("04531141536", "04531141536"),
        ("", ""),
        (-12, -12),
        (-0.25, -0.25),
        (None, None),
    ],
)
def test_csv_safe(value: object, written: object) -> None:
    assert csv_safe(value) == written


def test_write_csv_neutralises_cells_and_keeps_negative_numbers() -> None:
    out = io.StringIO()
    rows = [{"trunk": "=1+1", "delta": -3, "note": "-7", "name": "@x"}]
    write_csv(rows, out, ["trunk", "delta", "note", "name"])
    [header, row] = list(csv.reader(io.StringIO(out.getvalue())))
    assert header == ["trunk", "delta", "note", "name"]
    assert row == ["'=1+1", "-3", "-7", "'@x"]


def test_stats_csv_with_a_hostile_trunk_name(tmp_path: Path) -> None:
    trunks = tmp_path / "trunks.yaml"
    trunks.write_text(
        'pc_format: china\ntrunks:\n  - name: "=HYPERLINK(\\"http://evil\\",\\"x\\")"\n'
        "    opc: 1704716\n    dpc: 1706241\n",
        encoding="utf-8",
    )
    r = CliRunner().invoke(
        app,
        [
            "stats",
            str(REFERENCE),
            "--pc-format",
            "china",
            "--by",
            "trunk",
            "--trunks",
            str(trunks),
            "-f",
            "csv",
        ],
    )
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert [row["group"] for row in rows] == ['\'=HYPERLINK("http://evil","x")']
    assert not any(cell.startswith(("=", "+", "@")) for row in rows for cell in row.values())


def test_audit_summary_csv_with_a_hostile_trunk_name(tmp_path: Path) -> None:
    """The audit's summary CSV (its own writer) neutralises a trunk name from the user's file too."""
    trunks = tmp_path / "trunks.yaml"
    trunks.write_text(
        'pc_format: china\ntrunks:\n  - name: "@SUM(A1:A9)"\n    opc: 1704716\n    dpc: 1706241\n',
        encoding="utf-8",
    )
    out = tmp_path / "audit"
    args = ["audit", str(REFERENCE), "--out", str(out), "--pc-format", "china", "--trunks", str(trunks)]
    r = CliRunner().invoke(app, [*args, "-j", "1", "-f", "csv"])
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert "'@SUM(A1:A9)" in {row["trunk"] for row in rows}
    assert not any(cell.startswith(("=", "+", "@")) for row in rows for cell in row.values())
