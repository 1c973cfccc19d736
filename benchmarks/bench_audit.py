#!/usr/bin/env python3
"""Benchmark ``sigdiag audit``: throughput with 1 and 2 workers, speedup, peak memory per worker.

Builds a benchmark set with the traffic simulator, then audits it from scratch with the local engine and
1, then 2 worker processes (and, with ``--engines local,dask``, with ``--engine dask --workers 2`` on a
Dask LocalCluster started by the audit, as the command line does).  Reports files/s and messages/s
(wall clock of the whole run: discovery, decoding, correlation, rules, Parquet, summary; for Dask also
the start and stop of the LocalCluster, which is also timed alone, with no work), the speedup, and the
peak RSS of each worker process (``ru_maxrss`` measured inside the worker; the parent process is not
counted).  One untimed audit of the set's smallest file comes first (``--no-warmup``: none), so that
the first timed run does not alone pay for importing the audit's modules.

``--layout`` chooses the set (each capture point is one simulated capture split into rotated files named
like dumpcap ``-b files:N`` output, ``probeP/probeP_NNNNN.pcap``, so calls span the file boundaries and
``--point name``, the default, groups each folder's files into one point):

* ``equal`` (default): ``--points`` points (4) of ``--files`` files (8) of ``--calls`` calls (6000) each;
* ``one-point``: one point of ``--files`` files (46), ``--calls`` calls in all (19,500: about 90,000
  messages), the first input of issue 16;
* ``unequal``: four points sharing ``--calls`` calls (26,000: about 120,000 messages) and ``--files``
  files (42) in the proportions ``--shares`` (60,25,10,5 %), the second input of issue 16;
* ``one-file``: one point that is one large file (``--files`` 1), the traffic of ``one-point``: the
  workers cut it inside (issue 16's "or large chunks of one file").

With another layout than ``equal`` or with Dask, a table follows the per-run lines: input, ``-j 1``
seconds, ``-j 2`` seconds and ratio, Dask seconds and ratio (ratio = ``-j 1`` seconds / seconds),
messages, peak RSS per worker.  ``--keep DIR`` builds the set in DIR, or reuses it (the set's parameters
are written to ``DIR/bench-set.json``; a set built with other parameters is refused, not overwritten).

    python3 benchmarks/bench_audit.py [--points 4] [--files 8] [--calls 6000] [--keep DIR]
    python3 benchmarks/bench_audit.py --layout one-point --engines local,dask --keep /tmp/bench-one-point
    python3 benchmarks/bench_audit.py --layout unequal --engines local,dask --keep /tmp/bench-unequal
    python3 benchmarks/bench_audit.py --layout one-file --engines local,dask --keep /tmp/bench-one-file

``--rounds N`` then runs ``-j 2``, Dask and ``-j 1`` N more times each, in an order turned every round, and
prints every run, the medians and their ratios: on a noisy machine a single run can be off by a fifth.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

LAYOUTS = ("equal", "one-point", "unequal", "one-file")
#: per layout: default files (in all for one-point and unequal, per point for equal) and calls (same)
DEFAULTS = {"equal": (8, 6000), "one-point": (46, 19_500), "unequal": (42, 26_000), "one-file": (1, 19_500)}
SET_FILE = "bench-set.json"


def split_files(total: int, shares: list[float]) -> list[int]:
    """``total`` files shared out in proportion to ``shares`` (largest remainder, at least one each)."""
    exact = [total * s / sum(shares) for s in shares]
    counts = [max(1, int(x)) for x in exact]
    by_remainder = sorted(range(len(shares)), key=lambda i: exact[i] - int(exact[i]), reverse=True)
    for i in by_remainder[: max(0, total - sum(counts))]:
        counts[i] += 1
    return counts


def plan(layout: str, points: int, files: int, calls: int, shares: list[float]) -> list[tuple[int, int]]:
    """``(calls, files)`` of each capture point."""
    if layout == "equal":
        return [(calls, files)] * points
    if layout in ("one-point", "one-file"):
        return [(calls, files)]
    counts = split_files(files, shares)
    return [(round(calls * s / sum(shares)), n) for s, n in zip(shares, counts, strict=True)]


def build(
    folder: Path, points: int | list[tuple[int, int]], files: int = 0, calls: int = 0
) -> tuple[int, int]:
    """Simulate each point (``points``: a count of equal points of ``files`` x ``calls``, or a plan)."""
    from sigdiag.capture import PcapWriter, open_capture
    from sigdiag.simulate import simulate

    spec = [(calls, files)] * points if isinstance(points, int) else points
    total_files = 0
    for p, (p_calls, p_files) in enumerate(spec):
        d = folder / f"probe{p}"
        d.mkdir(parents=True, exist_ok=True)
        whole = d / "whole.tmp"
        simulate(whole, None, calls=p_calls, seed=p + 1)
        frames = list(open_capture(whole, []))
        n = len(frames)
        for i in range(p_files):
            chunk = frames[i * n // p_files : (i + 1) * n // p_files]
            with PcapWriter(d / f"probe{p}_{i:05d}.pcap", chunk[0].linktype) as w:
                for f in chunk:
                    w.write(f.data, f.ts)
            total_files += 1
        for extra in d.glob("whole.tmp*"):
            extra.unlink()
    size = sum(f.stat().st_size for f in folder.rglob("*.pcap"))
    return total_files, size


def run(folder: Path, out: Path, workers: int, engine: str = "local") -> dict[str, Any]:
    from sigdiag.audit import run_audit

    if out.exists():
        shutil.rmtree(out)
    t0 = time.perf_counter()
    res = run_audit([str(folder)], out, {}, engine=engine, workers=workers, progress=False)
    wall = time.perf_counter() - t0
    per_worker: dict[int, int] = {}
    for p in res.points:
        per_worker[p["worker_pid"]] = max(per_worker.get(p["worker_pid"], 0), p["max_rss_kb"])
    return {
        "engine": engine,
        "workers": workers,
        "seconds": wall,
        "files": res.total("files"),
        "messages": res.total("messages"),
        "calls": res.total("calls"),
        "files_s": res.total("files") / wall,
        "messages_s": res.total("messages") / wall,
        "peak_rss_mb": max(per_worker.values(), default=0) / 1024,
        "worker_rss_mb": sorted(v / 1024 for v in per_worker.values()),
        # a point cut into parts: per later part, its reading's and its merge's seconds; the fallbacks
        "merges": [m for p in res.points for m in p.get("merges", [])],
        "fallbacks": [f for p in res.points for f in p.get("fallbacks", [])],
    }


def cluster_overhead(workers: int) -> float:
    """Seconds to start the audit's LocalCluster (:func:`sigdiag.audit.engines._dask_client`, as a run
    does), connect and close it, with no work: the fixed part of a Dask run's wall time."""
    from sigdiag.audit.engines import _dask_client

    t0 = time.perf_counter()
    client, cluster = _dask_client(None, workers)
    client.close()
    cluster.close()
    return time.perf_counter() - t0


def prepare(folder: Path, layout: str, spec: list[tuple[int, int]]) -> tuple[int, int]:
    """Build the set in ``folder``, or reuse the one there (files, bytes)."""
    wanted = {"layout": layout, "points": [list(s) for s in spec]}
    marker = folder / SET_FILE
    if folder.is_dir() and any(folder.rglob("*.pcap")):
        if marker.exists() and json.loads(marker.read_text()) != wanted:
            sys.exit(
                f"{folder} holds a set built with {marker.read_text().strip()}, not {json.dumps(wanted)}"
            )
        pcaps = list(folder.rglob("*.pcap"))
        return len(pcaps), sum(f.stat().st_size for f in pcaps)
    if layout == "equal":
        desc = f"{len(spec)} points x {spec[0][1]} files x {spec[0][0]} calls"
    else:
        desc = f"{layout}: " + " + ".join(f"{f} files x {c} calls" for c, f in spec)
    print(f"building {desc} ...", file=sys.stderr)
    built = build(folder, spec)
    marker.write_text(json.dumps(wanted) + "\n")
    return built


def warm_up(folder: Path, out: Path) -> None:
    """Audit the smallest file of the set once, untimed: the modules the audit imports (pyarrow, the
    rules) are then loaded in this process, so the first timed run (``-j 1``) does not pay for them
    while the later ones (whose workers are forked from this process) do not."""
    from sigdiag.audit import run_audit

    smallest = min(folder.rglob("*.pcap"), key=lambda f: f.stat().st_size)
    run_audit([str(smallest)], out, {}, workers=1, progress=False)
    shutil.rmtree(out, ignore_errors=True)


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def print_runs(results: list[dict[str, Any]]) -> None:
    for r in results:
        name = (
            f"workers={r['workers']}"
            if r["engine"] == "local"
            else f"engine={r['engine']} workers={r['workers']}"
        )
        print(
            f"{name}: {r['seconds']:.2f} s, {r['files_s']:.2f} files/s, "
            f"{r['messages_s']:,.0f} messages/s ({r['messages']:,} messages, {r['calls']:,} calls), "
            f"peak RSS per worker {', '.join(f'{m:.0f}' for m in r['worker_rss_mb'])} MB"
        )
    speedup = results[1]["messages_s"] / results[0]["messages_s"]
    print(f"speedup 2 vs 1 workers: {speedup:.2f}x (target >= 1.8x)")
    print(f"max peak RSS of a worker: {max(r['peak_rss_mb'] for r in results):.0f} MB (target < 500 MB)")


def print_model(r: dict[str, Any], part_mb: float, model_mb: float) -> None:
    """The scaling model of a run whose points were cut into parts.  Measured: the seconds to read a part
    (``p``, in its own task: decode, correlate, judge, write) and to merge it (``m``, in its point's task,
    one part after the other), and of ``m`` the share spent accepting the part's verdicts (one per call
    and record the part handed out: it grows with the part's size; the rest, the calls open at the cut
    judged and written and the state saved, does not).  With W workers reading parts at once, the
    expected speed-up over one worker is about min(W, p / m): beyond W = p / m the merge is the limit.
    The model is also given for parts of ``model_mb`` (one rotated file of a probe's ring buffer, say), p
    and the verdicts' share of m scaled by size; however large the parts, the merge is the limit from
    p / (the verdicts' seconds) workers."""
    merges = r["merges"]
    if not merges:
        print("scaling model: no point was cut into parts in this run")
        return
    p = sum(x["read_s"] for x in merges) / len(merges)
    m = sum(x["merge_s"] for x in merges) / len(merges)
    mv = sum(x.get("items_s", 0.0) for x in merges) / len(merges)
    print(
        f"scaling model ({r['workers']} workers, {len(merges)} parts merged, {len(r['fallbacks'])} read "
        f"again): a part of {part_mb:.1f} MB is read in {p:.2f} s and merged in {m:.3f} s, of which "
        f"{mv:.3f} s accepting its verdicts"
    )
    k = model_mb / part_mb
    big_p, big_m = p * k, (m - mv) + mv * k
    print(f"| workers | expected speed-up, parts of {part_mb:.1f} MB | parts of {model_mb:.0f} MB |")
    print("|---:|---:|---:|")
    for w in (2, 8, 32, 128):
        print(f"| {w} | {min(w, p / m):.1f}x | {min(w, big_p / big_m):.1f}x |")
    limit = f"{p / mv:.0f}" if mv > 0 else "no"
    print(
        f"the merge is the limit from about {p / m:.0f} workers ({part_mb:.1f} MB parts), "
        f"{big_p / big_m:.0f} workers ({model_mb:.0f} MB parts); with parts of any size from about "
        f"{limit} workers"
    )


def repeat_rounds(folder: Path, tmp: Path, engines: list[str], rounds: int) -> None:
    """``rounds`` more rounds of the same runs (-j 2, Dask, -j 1), their order turned each round so that
    none always runs first or after the same one; each run's seconds, then the medians and the ratios of
    the medians (the machine is noisy: a single run can be off by a fifth)."""
    import statistics

    runs = [("local", 2)] + [("dask", 2)] * ("dask" in engines) + [("local", 1)]
    times: dict[tuple[str, int], list[float]] = {r: [] for r in runs}
    for i in range(rounds):
        k = i % len(runs)
        for e, w in runs[k:] + runs[:k]:
            times[(e, w)].append(run(folder, tmp / f"round-{e}{w}", w, e)["seconds"])
    med = {r: statistics.median(v) for r, v in times.items()}
    for (e, w), v in times.items():
        name = f"-j {w}" if e == "local" else f"--engine {e} --workers {w}"
        each = ", ".join(f"{x:.2f}" for x in v)
        print(f"{rounds} rounds, {name}: median {med[(e, w)]:.2f} s, best {min(v):.2f} s ({each})")
    one, two = med[("local", 1)], med[("local", 2)]
    line = f"medians: -j 2 {one / two:.2f}x of -j 1"
    if ("dask", 2) in med:
        d = med[("dask", 2)]
        line += f"; Dask {one / d:.2f}x of -j 1, {100 * (d / two - 1):+.1f} % against -j 2"
    print(line)


def print_table(label: str, results: list[dict[str, Any]]) -> None:
    """One Markdown row per input: -j 1, -j 2 and Dask seconds with their ratio to -j 1, and memory."""
    base = results[0]["seconds"]
    cells = [label]
    for r in results:
        ratio = "" if r is results[0] else f" ({base / r['seconds']:.2f}x)"
        cells.append(f"{r['seconds']:.1f} s{ratio}")
    messages = {r["messages"] for r in results}
    cells.append(" / ".join(f"{m:,}" for m in sorted(messages)))
    cells.append("; ".join(", ".join(f"{m:.0f}" for m in r["worker_rss_mb"]) for r in results) + " MB")
    heads = ["input", "`-j 1`", "`-j 2`"]
    heads += [f"`--engine {r['engine']} --workers {r['workers']}`" for r in results[2:]]
    heads += ["messages", "peak RSS per worker (each run)"]
    print("| " + " | ".join(heads) + " |")
    print("|---|" + "---:|" * (len(heads) - 1))
    print("| " + " | ".join(cells) + " |")


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--layout", choices=LAYOUTS, default="equal")
    ap.add_argument("--points", type=int, default=4, help="Capture points (layout equal).")
    ap.add_argument(
        "--files",
        type=int,
        help="Files per point (equal: 8) or in all (one-point: 46, unequal: 42, one-file: 1).",
    )
    ap.add_argument(
        "--calls",
        type=int,
        help="Calls per point (equal: 6000) or in all (one-point, one-file: 19500; unequal: 26000).",
    )
    ap.add_argument("--shares", default="60,25,10,5", help="Sizes of the points of layout unequal, in %%.")
    ap.add_argument(
        "--engines", default="local", help="local, or local,dask to run --engine dask --workers 2 too."
    )
    ap.add_argument("--no-warmup", action="store_true", help="Time the first run cold (imports included).")
    ap.add_argument("--keep", type=Path, help="Build (or reuse) the set here instead of a temporary folder.")
    ap.add_argument(
        "--model-part-mb", type=float, default=100.0, help="Part size of the scaling model's second column."
    )
    ap.add_argument(
        "--rounds",
        type=int,
        default=0,
        help="Then this many more rounds of the runs, in turned order, with their medians (noisy machines).",
    )
    args = ap.parse_args()
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    if not engines or engines[0] != "local" or not set(engines) <= {"local", "dask"}:
        ap.error("--engines: local or local,dask")
    args.engines = engines
    return args


def main() -> int:
    args = parse_args()
    files, calls = DEFAULTS[args.layout]
    shares = [float(s) for s in args.shares.split(",")]
    spec = plan(args.layout, args.points, args.files or files, args.calls or calls, shares)
    tmp = Path(tempfile.mkdtemp(prefix="bench-audit-"))
    try:
        folder = args.keep or tmp / "set"
        n_files, size = prepare(folder, args.layout, spec)
        print(f"benchmark set: {n_files} files, {size / 1e6:.1f} MB, {len(spec)} capture points")
        if args.layout != "equal":
            print(
                f"layout {args.layout}: files per point {[f for _, f in spec]}, "
                f"calls per point {[c for c, _ in spec]}"
            )
        print(f"load before: {load()}")
        if not args.no_warmup:
            warm_up(folder, tmp / "warm")
        runs = [("local", 1), ("local", 2)] + [(e, 2) for e in args.engines[1:]]
        results = [run(folder, tmp / f"out-{e}{w}", w, e) for e, w in runs]
        print_runs(results)
        if "dask" in args.engines:
            print(f"dask LocalCluster of 2 workers, start + stop with no work: {cluster_overhead(2):.2f} s")
        print(f"load after: {load()}")
        if args.layout != "equal" or len(results) > 2:
            label = f"{args.layout}: {len(spec)} point(s), {n_files} files"
            print_table(label, results)
        n_parts = len(results[1]["merges"]) + len(spec)  # (each point's first part is not merged)
        print_model(results[1], size / 1e6 / max(n_parts, 1), args.model_part_mb)
        if args.rounds > 0:
            repeat_rounds(folder, tmp, args.engines, args.rounds)
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
