"""The stored audit tables open directly in DuckDB (issue 6); staged, uncommitted parts are not read."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sigdiag.audit import run_audit

duckdb = pytest.importorskip("duckdb")
ROOT = Path(__file__).resolve().parents[2]
CAPTURE = ROOT / "captures" / "all-faults.pcap"
OPTIONS = {"decode": {"config": str(ROOT / "captures" / "all-faults.config.yaml")}}


def test_duckdb_reads_the_hive_partitioned_tables(tmp_path: Path) -> None:
    result = run_audit([str(CAPTURE)], tmp_path, OPTIONS, workers=1, progress=False)
    seizures = sum(r["seizures"] for r in result.rows)
    findings = sum(r["findings_total"] for r in result.rows)
    calls_glob = str(tmp_path / "calls" / "**" / "*.parquet")
    rows = duckdb.sql(
        f"SELECT count(*), min(day), sum(CASE WHEN outcome = 'network' THEN 1 ELSE 0 END) "
        f"FROM read_parquet('{calls_glob}', hive_partitioning = true)"
    ).fetchall()
    (count, day, network), *_ = rows
    assert count == seizures and str(day) == "2024-03-01"
    assert network == sum(r["network_loss"] for r in result.rows)
    by_rule = dict(
        duckdb.sql(
            f"SELECT rule, count(*) FROM read_parquet('{tmp_path / 'findings' / '**' / '*.parquet'}', "
            "hive_partitioning = true) GROUP BY rule"
        ).fetchall()
    )
    assert sum(by_rule.values()) == findings and by_rule["incomplete-digit-collection"] == 3
    # times are UTC timestamps with a time zone, causes nullable small integers, frames name their files
    types = dict(
        (name, typ)
        for name, typ, *_ in duckdb.sql(
            f"DESCRIBE SELECT * FROM read_parquet('{calls_glob}', hive_partitioning = true)"
        ).fetchall()
    )
    assert types["start"] == types["rel_ts"] == "TIMESTAMP WITH TIME ZONE"
    assert types["cause"] == types["cause_location"] == "SMALLINT"
    assert types["frames"] == "BIGINT[]" and types["frame_files"] == "VARCHAR[]"
    (nulls, busy, same), *_ = duckdb.sql(
        f"SELECT count(*) FILTER (WHERE cause IS NULL), count(*) FILTER (WHERE cause = 17), "
        f"bool_and(len(frames) = len(frame_files)) "
        f"FROM read_parquet('{calls_glob}', hive_partitioning = true)"
    ).fetchall()
    assert nulls > 0 and busy > 0 and same
    (first,), *_ = duckdb.sql(
        f"SELECT min(start) AT TIME ZONE 'UTC' FROM read_parquet('{calls_glob}', hive_partitioning = true)"
    ).fetchall()
    assert str(first).startswith("2024-03-01 01:")
    # a part staged but never committed (a crash between writing it and the commit) is not read
    part = next((tmp_path / "calls").rglob("*.parquet"))
    staged = tmp_path / "_staging" / "calls" / part.parent.name
    staged.mkdir(parents=True, exist_ok=True)
    shutil.copy(part, staged / part.name)
    again = duckdb.sql(
        f"SELECT count(*) FROM read_parquet('{calls_glob}', hive_partitioning = true)"
    ).fetchall()
    assert again == [(seizures,)]
