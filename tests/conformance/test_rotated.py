"""The capture end of a rotated capture is the end of its last file (Q.764 2.10.6, DOMAIN.md section 7).

``check`` reads each file as a capture of its own; ``audit`` stitches the rotated files of one capture point
through one correlator, so a REL near the end of one file is judged against the end of the last file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sigdiag.audit.worker import PointTask, process_point
from tests.conformance.flows import Row, analyse, write_flow

NOT_ACK = "release-not-acknowledged"
AT_END = "release-unacknowledged-at-capture-end"

FIRST: list[Row] = [  # file 1: an answered call released at 30 s; the file ends 1 s later
    (0.0, ">", "IAM", {"called": "0219876543", "cic": 1}),
    (1.5, "<", "ACM", {"cic": 1}),
    (5.0, "<", "ANM", {"cic": 1}),
    (30.0, ">", "REL", {"cause": 16, "cic": 1}),
    (31.0, ">", "IAM", {"called": "0211111111", "cic": 9}),
]


def _audit_findings(files: list[Path], out: Path) -> list[dict[str, Any]]:
    """The release findings of the audit's worker for one capture point made of ``files`` (the stored
    findings table; the audit's summary is not needed here)."""
    import pyarrow.dataset as ds

    result = process_point(PointTask(str(out), "p1", "probe", [str(p) for p in files], {}))
    assert result["files"] == 2 and result["calls"] >= 2 and not result["bad"], result
    if not (out / "findings").is_dir():  # no finding at all
        return []
    table = ds.dataset(out / "findings", format="parquet", partitioning="hive").to_table()
    return [r for r in table.to_pylist() if r["rule"] in (NOT_ACK, AT_END)]


def _files(tmp_path: Path, second: list[Row]) -> list[Path]:
    folder = tmp_path / "in"
    folder.mkdir()
    return [
        write_flow(folder / "probe_00000_20250615.pcap", FIRST),
        write_flow(folder / "probe_00001_20250615.pcap", second),
    ]


def test_rlc_in_the_next_file(tmp_path: Path) -> None:
    """Q.764 2.3.1: the RLC comes 0.5 s after the REL, in the next rotated file.  Each file alone cannot show
    it (file 1: info "capture ends before T1"); the audit of the stitched files finds nothing."""
    second: list[Row] = [
        (30.5, "<", "RLC", {"cic": 1}),
        (40.0, "<", "REL", {"cause": 17, "cic": 9}),
        (40.01, ">", "RLC", {"cic": 9}),
    ]
    files = _files(tmp_path, second)
    alone = analyse(files[0])
    assert alone.rules() == {AT_END: 1} and alone.call(cic=1).release_wait_ms == 1000.0
    assert _audit_findings(files, tmp_path / "out") == []


def test_no_rlc_in_the_next_file(tmp_path: Path) -> None:
    """Q.764 2.10.6: no RLC in the next file either, which runs 20 s on: the stitched capture runs T1 past
    the REL, so the audit finds the release not acknowledged (file 1 alone: info only)."""
    second: list[Row] = [
        (40.0, "<", "REL", {"cause": 17, "cic": 9}),
        (40.01, ">", "RLC", {"cic": 9}),
        (50.0, ">", "IAM", {"called": "0212222222", "cic": 10}),
    ]
    files = _files(tmp_path, second)
    assert analyse(files[0]).rules() == {AT_END: 1}
    (f,) = _audit_findings(files, tmp_path / "out")
    assert (f["rule"], f["cic"], f["severity"]) == (NOT_ACK, 1, "medium")
    assert "waited 20000.0 ms, then: capture_end" in f["message"]
