"""Calls benchmark: decode + correlate + classify (``sigdiag calls``) vs ``tshark -T fields``, same capture.

    python benchmarks/bench_calls.py [--messages 1000000] [--out benchmarks/out] [--skip-tshark]
                                     [--repeat 1]

Uses the capture of ``bench_decode.py`` (its ``generate``: ISUP call flows over M3UA, CIC reuse, bundled
SCTP chunks), generated once and cached by size.  Measures, in separate processes one after the other:

* sigdiag calls: ``sigdiag.iter_calls`` over the file (decode, correlate, classify every call, then
  the default refiners, the diagnosis rules' outcome overrides, as ``sigdiag calls`` applies them; the
  calls are consumed, as the command writes them), with ``keep_messages`` off as the command uses it;
* the same without refiners (``refiners=()``): decode, correlate and classify only;
* sigdiag decode only (``read_messages``, key fields), to show what correlation adds;
* tshark: ``tshark -T fields`` with the fields a call view needs (as bench_decode.py).

Prints messages/s and peak resident memory (ru_maxrss of the child) for each, and the ratios to tshark.
Targets (issue 4): calls at least 3x tshark's message rate, peak memory under 300 MB.  With ``--repeat N``
each measurement runs N times and the best time is kept (the machine may be shared).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_decode import generate, run_sigdiag, run_tshark  # noqa: E402

CALLS_CHILD = """
import sys, time, resource
from sigdiag.calls import CallSettings
try:  # the rule-refined reader (since issue 15; before, sigdiag.calls.iter_calls refined by default)
    from sigdiag.report.frames import iter_calls
except ImportError:
    from sigdiag.calls import iter_calls
t = time.perf_counter()
options = {"refiners": ()} if sys.argv[2] == "plain" else {}
reader = iter_calls(sys.argv[1], settings=CallSettings(keep_messages=False), **options)
calls = 0
outcomes = {}
for call in reader:
    calls += 1
    outcomes[call.outcome] = outcomes.get(call.outcome, 0) + 1
dt = time.perf_counter() - t
c = reader.correlator
print(c.messages, calls, dt, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, c.evictions, c.orphan_count)
print(sorted(outcomes.items()))
"""


def run_calls(path: Path, mode: str = "default") -> tuple[int, int, float, int, str]:
    """``mode`` "default": iter_calls as it is (default refiners); "plain": ``refiners=()``."""
    out = subprocess.run(
        [sys.executable, "-c", CALLS_CHILD, str(path), mode], capture_output=True, text=True, check=True
    )
    first, second = out.stdout.splitlines()[:2]
    n, calls, dt, rss, evictions, orphans = first.split()
    return int(n), int(calls), float(dt), int(rss), f"{second}; evictions {evictions}, orphans {orphans}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--out", type=Path, default=HERE / "out")
    ap.add_argument("--skip-tshark", action="store_true")
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"m3ua-{args.messages}.pcap"
    if not path.exists():
        t = time.perf_counter()
        generate(path, args.messages)
        print(f"generated {path} ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t:.1f} s")
    rows: list[tuple[str, int, float, int]] = []
    n, calls, dt, rss, detail = min((run_calls(path) for _ in range(args.repeat)), key=lambda r: r[2])
    rows.append(("sigdiag calls (default refiners)", n, dt, rss))
    n3, _, dt3, rss3, _ = min((run_calls(path, "plain") for _ in range(args.repeat)), key=lambda r: r[2])
    rows.append(("sigdiag calls (decode+correlate+classify)", n3, dt3, rss3))
    n2, dt2, rss2 = min((run_sigdiag(path, "keys") for _ in range(args.repeat)), key=lambda r: r[1])
    rows.append(("sigdiag read_messages only (key fields)", n2, dt2, rss2))
    tshark = None
    if not args.skip_tshark and shutil.which("tshark"):
        tshark = min((run_tshark(path) for _ in range(args.repeat)), key=lambda r: r[1])
        rows.append(("tshark -T fields", *tshark))
    print(f"{'run':44} {'messages':>10} {'seconds':>8} {'msg/s':>10} {'peak MB':>8}")
    for name, count, seconds, peak in rows:
        print(f"{name:44} {count:>10} {seconds:>8.2f} {count / seconds:>10,.0f} {peak / 1024:>8.0f}")
    print(f"calls: {calls} ({detail})")
    print(
        f"correlation + classification add {(dt3 - dt2) / n * 1e6:.2f} us per message, "
        f"the refiners {(dt - dt3) / n * 1e6:.2f} us"
    )
    if tshark is not None:
        base = tshark[0] / tshark[1]
        ratio = n / dt / base
        print(
            f"sigdiag calls: {ratio:.2f}x tshark (target 3x); without refiners: {n3 / dt3 / base:.2f}x; "
            f"decode only: {n2 / dt2 / base:.2f}x tshark"
        )
    print(f"sigdiag calls peak memory: {rss / 1024:.0f} MB (target < 300 MB)")


if __name__ == "__main__":
    main()
