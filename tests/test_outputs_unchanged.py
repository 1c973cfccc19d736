"""The outputs users see are byte-for-byte those recorded in tests/golden/outputs.json.

Recorded before the redesign of issue 15 with ``python3 scripts/golden_outputs.py --record``: decode, calls,
stats and check (JSON Lines, and check's table, with stderr and the exit code) on every bundled capture,
every shared capture and simulator traffic, the simulator's files themselves, and an audit's JSON Lines.
A change that means to alter an output records the file again and says so in its commit.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_outputs_are_byte_identical_to_the_recorded_ones() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "golden_outputs.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert " outputs identical" in proc.stdout
