"""Simulator benchmark: messages written per second by ``sigdiag.simulate.simulate``.

    python benchmarks/bench_simulate.py [--messages 1000000] [--scenario FILE] [--format pcap|pcapng]
                                        [--seed 1] [--repeat 1] [--out DIR] [--keep]

Runs the simulator in a child process (so that its peak memory is measured alone) for about
``--messages`` messages (the call count is derived from a short pilot run of the same scenario) and
prints messages, frames, calls, wall-clock and CPU time, messages/s on both clocks, peak resident memory
and the capture size.  The issue's target is 200,000 messages/s (10 million messages in under a minute).
With ``--repeat N`` the measured run is repeated N times and the run with the least CPU time is reported
(with every run's wall and CPU time): on a shared machine other processes inflate both clocks.

``SIGDIAG_SIMULATE_WORKER=0`` or ``1`` in the environment forces the simulator's writer process off or on
(by default it is used for runs of 20,000 calls or more when the simulator may use at least two CPUs);
the CPU time is reported for the simulator's main process and its writer process, and messages/s on
the CPU clock is per CPU-second of both.  The run with the least CPU time (both processes) is shown.

A calibration line gives the time of a plain Python loop of 10 million additions on this machine, so
that figures from machines of different speed can be compared (about 0.45 s on a fast 2023 desktop).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

CHILD = r"""
import json, os, resource, sys, time
from sigdiag.simulate import simulate
out, scenario, calls, seed, fmt = sys.argv[1], sys.argv[2] or None, int(sys.argv[3]), int(sys.argv[4]), \
    sys.argv[5]
cpu = time.process_time()
r = simulate(out, scenario, calls=calls, seed=seed, fmt=fmt)
cpu = time.process_time() - cpu
t = os.times()  # the writer process, if any, has been waited for
print(json.dumps({"messages": r.messages, "frames": r.frames, "calls": r.calls, "wall": r.elapsed_s,
                  "cpu": cpu, "writer_cpu": t.children_user + t.children_system,
                  "rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "writer_rss_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
                  "bytes": r.path.stat().st_size}))
"""


def calibrate() -> float:
    t = time.process_time()
    s = 0
    for i in range(10_000_000):
        s += i
    return time.process_time() - t


def run(out: Path, scenario: str, calls: int, seed: int, fmt: str) -> dict[str, float]:
    res = subprocess.run(
        [sys.executable, "-c", CHILD, str(out), scenario, str(calls), str(seed), fmt],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(res.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--scenario", default="", help="scenario YAML (default: the built-in healthy mix)")
    ap.add_argument("--format", default="pcap", choices=("pcap", "pcapng"))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=1, help="measured runs; the one with least CPU is shown")
    ap.add_argument(
        "--out", type=Path, default=None, help="directory for the capture (default: a temporary one)"
    )
    ap.add_argument("--keep", action="store_true", help="keep the capture")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        outdir = args.out or Path(tmp)
        outdir.mkdir(parents=True, exist_ok=True)
        pilot = run(outdir / "pilot.pcap", args.scenario, 2000, args.seed, args.format)
        per_call = pilot["messages"] / max(pilot["calls"], 1)
        calls = max(1, round(args.messages / per_call))
        out = outdir / f"bench-{args.messages}.{args.format}"
        runs = [run(out, args.scenario, calls, args.seed, args.format) for _ in range(max(1, args.repeat))]
        r = min(runs, key=lambda x: x["cpu"] + x["writer_cpu"])
        loop = calibrate()
        print(f"scenario        {args.scenario or '(default)'}, format {args.format}, seed {args.seed}")
        print(
            f"messages        {r['messages']:,} ({r['frames']:,} frames, {r['calls']:,} calls, "
            f"{r['bytes'] / 1e6:,.1f} MB)"
        )
        print(f"wall            {r['wall']:.2f} s  -> {r['messages'] / r['wall']:,.0f} messages/s")
        cpu = r["cpu"] + r["writer_cpu"]
        if r["writer_cpu"]:
            print(
                f"cpu             {cpu:.2f} s (main {r['cpu']:.2f} + writer process {r['writer_cpu']:.2f})"
                f"  -> {r['messages'] / cpu:,.0f} messages per CPU-second"
            )
            writer_mb = r["writer_rss_kb"] / 1024
            print(f"peak RSS        {r['rss_kb'] / 1024:,.0f} MB (writer process {writer_mb:,.0f} MB)")
        else:
            print(f"cpu             {cpu:.2f} s  -> {r['messages'] / cpu:,.0f} messages/s")
            print(f"peak RSS        {r['rss_kb'] / 1024:,.0f} MB")
        if len(runs) > 1:
            each = ", ".join(f"{x['wall']:.2f}/{x['cpu'] + x['writer_cpu']:.2f}" for x in runs)
            print(f"runs            {len(runs)} (wall/cpu s: {each}); best by cpu shown")
        print(f"calibration     10M-iteration Python loop: {loop:.2f} s")
        if not args.keep:
            for p in outdir.glob("pilot.*"):
                p.unlink()
            for p in outdir.glob(f"bench-{args.messages}.*"):
                p.unlink()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
