#!/usr/bin/env python3
"""Benchmark ``sigdiag audit``: throughput with 1 and 2 workers, speedup, peak memory per worker.

Builds a benchmark set with the traffic simulator: ``--points`` capture points, each one simulated
capture of ``--calls`` calls split into ``--files`` rotated files (calls span the file boundaries), then
audits it from scratch with the local engine and 1, then 2 worker processes.  Reports files/s and
messages/s (wall clock of the whole run: discovery, decoding, correlation, rules, Parquet, summary), the
speedup, and the peak RSS of each worker process (``ru_maxrss`` measured inside the worker).

    python3 benchmarks/bench_audit.py [--points 4] [--files 8] [--calls 6000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path


def build(folder: Path, points: int, files: int, calls: int) -> tuple[int, int]:
    from sigdiag.capture import PcapWriter, open_capture
    from sigdiag.simulate import simulate

    total_files = 0
    for p in range(points):
        d = folder / f"probe{p}"
        d.mkdir(parents=True, exist_ok=True)
        whole = d / "whole.tmp"
        simulate(whole, None, calls=calls, seed=p + 1)
        frames = list(open_capture(whole, []))
        n = len(frames)
        for i in range(files):
            chunk = frames[i * n // files : (i + 1) * n // files]
            with PcapWriter(d / f"probe{p}_{i:05d}.pcap", chunk[0].linktype) as w:
                for f in chunk:
                    w.write(f.data, f.ts)
            total_files += 1
        for extra in d.glob("whole.tmp*"):
            extra.unlink()
    size = sum(f.stat().st_size for f in folder.rglob("*.pcap"))
    return total_files, size


def run(folder: Path, out: Path, workers: int) -> dict[str, float]:
    from sigdiag.audit import run_audit

    if out.exists():
        shutil.rmtree(out)
    t0 = time.perf_counter()
    res = run_audit([str(folder)], out, {}, workers=workers, progress=False)
    wall = time.perf_counter() - t0
    per_worker: dict[int, int] = {}
    for p in res.points:
        per_worker[p["worker_pid"]] = max(per_worker.get(p["worker_pid"], 0), p["max_rss_kb"])
    return {
        "workers": workers,
        "seconds": wall,
        "files": res.total("files"),
        "messages": res.total("messages"),
        "calls": res.total("calls"),
        "files_s": res.total("files") / wall,
        "messages_s": res.total("messages") / wall,
        "peak_rss_mb": max(per_worker.values()) / 1024,
        "worker_rss_mb": sorted(v / 1024 for v in per_worker.values()),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--points", type=int, default=4)
    ap.add_argument("--files", type=int, default=8)
    ap.add_argument("--calls", type=int, default=6000)
    ap.add_argument("--keep", type=Path, help="Build (or reuse) the set here instead of a temporary folder.")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-audit-"))
    try:
        folder = args.keep or tmp / "set"
        if not (folder.is_dir() and any(folder.rglob("*.pcap"))):
            print(
                f"building {args.points} points x {args.files} files x {args.calls} calls ...",
                file=sys.stderr,
            )
            n_files, size = build(folder, args.points, args.files, args.calls)
        else:
            n_files = len(list(folder.rglob("*.pcap")))
            size = sum(f.stat().st_size for f in folder.rglob("*.pcap"))
        print(f"benchmark set: {n_files} files, {size / 1e6:.1f} MB, {args.points} capture points")
        print(f"load before: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
        results = [run(folder, tmp / f"out{w}", w) for w in (1, 2)]
        for r in results:
            print(
                f"workers={r['workers']}: {r['seconds']:.2f} s, {r['files_s']:.2f} files/s, "
                f"{r['messages_s']:,.0f} messages/s ({r['messages']:,} messages, {r['calls']:,} calls), "
                f"peak RSS per worker {', '.join(f'{m:.0f}' for m in r['worker_rss_mb'])} MB"
            )
        speedup = results[1]["messages_s"] / results[0]["messages_s"]
        print(f"speedup 2 vs 1 workers: {speedup:.2f}x (target >= 1.8x)")
        print(f"max peak RSS of a worker: {max(r['peak_rss_mb'] for r in results):.0f} MB (target < 500 MB)")
        print(f"load after: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
