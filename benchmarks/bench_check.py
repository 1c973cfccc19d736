"""Check benchmark: ``sigdiag check`` with every shipped rule vs ``tshark -T fields``, same capture.

    python benchmarks/bench_check.py [--messages 1000000] [--out benchmarks/out] [--skip-tshark]
                                     [--repeat 1]

Uses the capture of ``bench_decode.py`` (ISUP call flows over M3UA), generated once and cached by size.
Measures, in separate processes one after the other:

* sigdiag check: :func:`sigdiag.rules.check` over the file with all shipped rules (decode, correlate,
  classify, evaluate every rule on every call and circuit record, build each finding's evidence and
  ladder; the number of rules is the run's own count, ``summary()["rules"]``, printed with the
  results), every finding written as JSON Lines (as ``sigdiag check --format jsonl`` does) to
  /dev/null; twice: as ``check`` runs by default on a 2-CPU machine (decoding and correlation in one
  process, the rules in a second one: :mod:`sigdiag.rules.parallel`) and with everything in one
  process (``--workers 1``);
* tshark: ``tshark -T fields`` with the fields a call view needs (as bench_decode.py).

Prints messages/s and peak resident memory (the larger ru_maxrss of the run's processes), findings per
rule, and the ratios.
Target (issue 5): check at least 2x tshark's message rate.  With ``--repeat N`` each measurement runs N
times and the best time is kept (the machine may be shared).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_decode import generate, run_tshark  # noqa: E402

CHECK_CHILD = """
import sys, time, resource, json
from sigdiag.rules import check
t = time.perf_counter()
run = check(sys.argv[1], workers=int(sys.argv[2]))
by_rule = {}
with open("/dev/null", "w", encoding="utf-8") as out:
    for f in run:  # written as sigdiag check --format jsonl writes them
        out.write(json.dumps({**f.as_dict(), "file": f.file}, ensure_ascii=False) + "\\n")
        by_rule[f.rule] = by_rule.get(f.rule, 0) + 1
dt = time.perf_counter() - t
s = run.summary()
usage = resource.getrusage
rss = max(usage(resource.RUSAGE_SELF).ru_maxrss, usage(resource.RUSAGE_CHILDREN).ru_maxrss)
print(s["messages"], s["calls"], dt, rss, run.workers, s["rules"])
print(json.dumps(by_rule, sort_keys=True))
"""


def run_check(path: Path, workers: int) -> tuple[int, int, float, int, int, dict[str, int]]:
    out = subprocess.run(
        [sys.executable, "-c", CHECK_CHILD, str(path), str(workers)],
        capture_output=True,
        text=True,
        check=True,
    )
    first, second = out.stdout.splitlines()[:2]
    n, calls, dt, rss, used, n_rules = first.split()
    assert int(used) == workers, f"asked for {workers} workers, ran {used}"
    return int(n), int(calls), float(dt), int(rss), int(n_rules), json.loads(second)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--out", type=Path, default=HERE / "out")
    ap.add_argument("--skip-tshark", action="store_true")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument(
        "--workers", type=int, choices=(1, 2), default=None, help="only this mode (default: both)"
    )
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"m3ua-{args.messages}.pcap"
    if not path.exists():
        t = time.perf_counter()
        generate(path, args.messages)
        print(f"generated {path} ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t:.1f} s")

    rows = []
    results = {}
    for workers in (2, 1) if args.workers is None else (args.workers,):
        n, calls, dt, rss, n_rules, by_rule = min(
            (run_check(path, workers) for _ in range(args.repeat)), key=lambda r: r[2]
        )
        results[workers] = (n, dt)
        name = "decode | rules in 2 processes" if workers == 2 else "one process"
        rows.append((f"sigdiag check ({name})", n, dt, rss))
    tshark = None
    if not args.skip_tshark and shutil.which("tshark"):
        tshark = min((run_tshark(path) for _ in range(args.repeat)), key=lambda r: r[1])
        rows.append(("tshark -T fields", *tshark))
    print(f"{'run':44} {'messages':>10} {'seconds':>8} {'msg/s':>10} {'peak MB':>8}")
    for name, count, seconds, peak in rows:
        print(f"{name:44} {count:>10} {seconds:>8.2f} {count / seconds:>10,.0f} {peak / 1024:>8.0f}")
    print(f"calls: {calls}; rules: {n_rules}; findings by rule: {by_rule or 'none'}")
    if tshark is not None:
        for workers, (n, dt) in results.items():
            ratio = n / dt / (tshark[0] / tshark[1])
            label = "default, 2 processes" if workers == 2 else "1 process"
            print(f"sigdiag check ({label}): {ratio:.2f}x tshark (target 2x)")


if __name__ == "__main__":
    main()
