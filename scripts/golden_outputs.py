#!/usr/bin/env python3
"""Record or check the byte-for-byte outputs of decode, calls, stats, check, audit and simulate.

The redesign of issue 15 moved code between modules and promised that nothing changes for users.  This
script runs the commands users run (JSON Lines, and check's table) on every bundled capture, every shared
capture that is present, and simulator traffic, and compares the SHA-256 of each output with
``tests/golden/outputs.json``::

    python3 scripts/golden_outputs.py --record          # write tests/golden/outputs.json
    python3 scripts/golden_outputs.py --check           # compare (exit 1 on a difference)
    python3 scripts/golden_outputs.py --check --keep D  # and keep every output under D to diff by hand

The shared captures are not in the repository: their rows are checked when ../shared/captures is there.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUNDLED = ROOT / "captures"
SHARED = Path(os.environ.get("SIGDIAG_SHARED_CAPTURES", ROOT.parent / "shared" / "captures"))
GOLDEN = ROOT / "tests" / "golden" / "outputs.json"

#: Simulator runs: (name, scenario, calls, seed, format).
SIMULATIONS = (
    ("sim-realism", "realism.yaml", 400, 11, "pcap"),
    ("sim-all-faults", "all-faults.yaml", 400, 12, "pcapng"),
    ("sim-carriers", "carriers.yaml", 300, 13, "pcapng"),
    ("sim-reference", "reference-fault.yaml", 200, 14, "pcap"),
)


def _captures(work: Path) -> Iterator[tuple[str, Path, bool]]:
    """(name, path, shared?) of every capture the outputs are taken from."""
    for path in sorted(BUNDLED.glob("*.pcap*")):
        yield "bundled/" + path.name, path, False
    if SHARED.is_dir():
        for path in sorted(SHARED.glob("*.pcap*")):
            yield "shared/" + path.name, path, True
    for name, *_, fmt in SIMULATIONS:
        yield name, work / f"{name}.{fmt}", False


def _run(args: list[str], cwd: Path) -> bytes:
    env = dict(os.environ, COLUMNS="100", NO_COLOR="1", TERM="dumb", SIGDIAG_WORKERS="1")
    # this checkout's code, whatever an editable install elsewhere points at
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "src"), env.get("PYTHONPATH", "")) if p)
    env.pop("FORCE_COLOR", None)
    proc = subprocess.run(
        [sys.executable, "-c", "import sys; from sigdiag.cli import main; sys.exit(main())", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
    )
    # the exit code is part of the output: a command that now fails must not pass for equal empty output
    return proc.stdout + b"\n[stderr]\n" + proc.stderr + f"\n[exit {proc.returncode}]\n".encode()


def _normalise(data: bytes, work: Path) -> bytes:
    text = data.decode("utf-8", "replace")
    text = text.replace(str(work), "<work>")
    # the shared captures' folder first: it sits beside the checkout, so its path is not under ROOT
    for shared in sorted({str(SHARED.resolve()), str(SHARED)}, key=len, reverse=True):
        text = text.replace(shared, "<shared>")
    text = text.replace(str(ROOT), "<root>")
    # the audit's run time and rates per second are not outputs the redesign must keep
    text = re.sub(r"; [0-9,]+ messages/s", "; <n> messages/s", text)
    text = re.sub(r"; [0-9.]+ s; results in", "; <t> s; results in", text)
    text = re.sub(
        r'"(elapsed|seconds|duration_s|wall_s|messages_per_s|rate_per_s)": [0-9.e+-]+', r'"\1": 0', text
    )
    return text.encode()


def outputs(work: Path) -> Iterator[tuple[str, bytes]]:
    """Yield (key, output bytes) for every command on every capture."""
    for name, scenario, calls, seed, fmt in SIMULATIONS:
        out = work / f"{name}.{fmt}"
        log = _run(
            [
                "simulate",
                str(out),
                "-s",
                str(BUNDLED / scenario),
                "-n",
                str(calls),
                "--seed",
                str(seed),
                "-f",
                fmt,
            ],
            work,
        )
        yield f"{name}/simulate", _normalise(log, work)
        for suffix in (fmt, "truth.jsonl", "events.jsonl", "config.yaml"):
            path = work / f"{name}.{suffix}"
            yield f"{name}/simulate.{suffix}", path.read_bytes() if path.exists() else b"<missing>"
    for name, path, _shared in _captures(work):
        config = path.with_name(path.name.split(".")[0] + ".config.yaml")
        extra = ["--config", str(config)] if config.exists() else []
        for command in (["decode"], ["calls"], ["stats"], ["check"]):
            yield (
                f"{name}/{command[0]}.jsonl",
                _normalise(_run([*command, str(path), "-f", "jsonl", *extra], work), work),
            )
        yield f"{name}/check.txt", _normalise(_run(["check", str(path), *extra], work), work)
    audit_in = work / "audit-in"
    audit_in.mkdir(exist_ok=True)
    for path in sorted(BUNDLED.glob("*.pcap*")):
        (audit_in / path.name).symlink_to(path)
    yield (
        "audit/bundled.jsonl",
        _normalise(
            _run(
                ["audit", "run", str(audit_in), "-o", str(work / "audit-out"), "-f", "jsonl", "-j", "1"], work
            ),
            work,
        ),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--record", action="store_true")
    mode.add_argument("--check", action="store_true")
    parser.add_argument("--keep", type=Path, help="also write every output under this folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp).resolve()
        found = {}
        broken = []
        for key, data in outputs(work):
            if b"Traceback (most recent call last)" in data:
                broken.append(key)
            found[key] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
            if args.keep:
                target = args.keep / key
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
    if args.record and broken:
        # a traceback is never an output to keep (an uninstalled package once recorded 91 of them)
        print(f"not recorded: {len(broken)} outputs end in a traceback, first {broken[0]}")
        return 1
    if args.record:
        GOLDEN.write_text(json.dumps(found, indent=1, sort_keys=True) + "\n")
        print(f"recorded {len(found)} outputs in {GOLDEN.relative_to(ROOT)}")
        return 0
    expected = json.loads(GOLDEN.read_text())
    differ = [k for k in found if k in expected and expected[k] != found[k]]
    new = [k for k in found if k not in expected]
    absent = [k for k in expected if k not in found and not (k.startswith("shared/") and not SHARED.is_dir())]
    for k in differ:
        print(f"DIFFERS {k}: {expected[k]} -> {found[k]}")
    for k in new:
        print(f"NEW {k}")
    for k in absent:
        print(f"MISSING {k}")
    print(f"{len(found) - len(differ) - len(new)} of {len(found)} outputs identical")
    return 1 if differ or new or absent else 0


if __name__ == "__main__":
    sys.exit(main())
