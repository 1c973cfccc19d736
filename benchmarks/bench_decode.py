"""Decode benchmark: sigdiag.read_messages vs tshark -T fields on the same M3UA capture.

    python benchmarks/bench_decode.py [--messages 1000000] [--out benchmarks/out] [--skip-tshark]

Generates (once, cached by size) a capture of ISUP call flows (IAM, ACM, CPG, ANM, REL, RLC with varying
CICs and numbers) in M3UA DATA over SCTP over Ethernet/IPv4, several messages bundled per SCTP packet
now and then, then measures in separate processes, one after the other:

* sigdiag: iterate ``read_messages`` and read every key field (frame, ts, opc, dpc, cic, type, called,
  calling, subsequent, cause, cause_location); a second run also decodes ``params`` in full;
* tshark: ``tshark -T fields`` extracting the same fields.

It prints messages/s and peak resident memory (ru_maxrss of the child) for each, and the ratio.
"""

from __future__ import annotations

import argparse
import random
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def generate(path: Path, messages: int, seed: int = 1) -> None:
    from sigdiag.capture.writer import PcapWriter
    from sigdiag.carrier.flows import SctpFlow
    from sigdiag.carrier.sctp import data_chunk
    from sigdiag.carrier.sigtran import build_m3ua_data
    from sigdiag.codec import encode_message

    rng = random.Random(seed)
    fwd = SctpFlow("10.0.0.1", "10.0.0.2", 2905, 2905)
    bwd = SctpFlow("10.0.0.2", "10.0.0.1", 2905, 2905)
    tsn = [1, 1]
    opc, dpc = 1201, 2302

    def iam(cic: int) -> bytes:
        called = "0" + "".join(rng.choice("0123456789") for _ in range(9))
        calling = "0" + "".join(rng.choice("0123456789") for _ in range(10))
        return encode_message(
            "IAM",
            {
                "nature_of_connection_indicators": {},
                "forward_call_indicators": {"isup_all_the_way": 1},
                "calling_partys_category": {"category": 10},
                "transmission_medium_requirement": {"medium": 3},
                "called_party_number": {"nature_of_address": 3, "numbering_plan": 1, "digits": called},
                "calling_party_number": {
                    "nature_of_address": 3,
                    "numbering_plan": 1,
                    "screening": 3,
                    "digits": calling,
                },
            },
            cic=cic,
        )

    def flow(cic: int) -> list[tuple[bool, bytes]]:
        answered = rng.random() < 0.6
        out = [
            (True, iam(cic)),
            (False, encode_message("ACM", {"backward_call_indicators": {"charge": 2}}, cic=cic)),
        ]
        out.append((False, encode_message("CPG", {"event_information": {"event": 1}}, cic=cic)))
        cause = 16
        if answered:
            out.append((False, encode_message("ANM", {}, cic=cic)))
        else:
            cause = rng.choice((17, 19, 16, 31, 34))
        out.append(
            (
                rng.random() < 0.5,
                encode_message("REL", {"cause_indicators": {"location": 2, "cause_value": cause}}, cic=cic),
            )
        )
        out.append((not out[-1][0], encode_message("RLC", {}, cic=cic)))
        return out

    written = 0
    ts = 1_763_000_000.0
    tmp = path.with_suffix(".tmp")
    with PcapWriter(tmp, 1) as w:
        while written < messages:
            cic = rng.randrange(1, 4000)
            for forward, body in flow(cic):
                if written >= messages:
                    break
                side = 0 if forward else 1
                a, b = (opc, dpc) if forward else (dpc, opc)
                m3ua = build_m3ua_data(a, b, 5, 2, 0, cic & 0x0F, body, routing_context=7)
                chunk = data_chunk(m3ua, tsn[side], stream=1, ssn=tsn[side] & 0xFFFF, ppid=3)
                tsn[side] += 1
                ts += rng.expovariate(2000.0)
                w.write((fwd if forward else bwd).frame([chunk]), ts)
                written += 1
    tmp.rename(path)


SIGDIAG_CHILD = """
import sys, time, resource
import sigdiag
t = time.perf_counter()
n = 0
full = sys.argv[2] == "full"
for m in sigdiag.read_messages(sys.argv[1]):
    (m.frame, m.ts, m.opc, m.dpc, m.cic, m.type, m.called, m.calling, m.subsequent, m.cause, m.cause_location)
    if full:
        m.params
    n += 1
dt = time.perf_counter() - t
print(n, dt, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""

TSHARK_FIELDS = [
    "frame.number", "frame.time_epoch", "m3ua.protocol_data_opc", "m3ua.protocol_data_dpc", "isup.cic",
    "isup.message_type", "isup.called", "isup.calling", "isup.subsequent_number", "isup.cause_indicator",
    "q931.cause_location",
]  # fmt: skip


def run_sigdiag(path: Path, mode: str) -> tuple[int, float, int]:
    out = subprocess.run(
        [sys.executable, "-c", SIGDIAG_CHILD, str(path), mode], capture_output=True, text=True, check=True
    )
    n, dt, rss = out.stdout.split()
    return int(n), float(dt), int(rss)


def run_tshark(path: Path) -> tuple[int, float, int]:
    cmd = ["tshark", "-n", "-r", str(path), "-T", "fields", "-E", "occurrence=a"]
    for f in TSHARK_FIELDS:
        cmd += ["-e", f]
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t = time.perf_counter()
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as proc:
        assert proc.stdout is not None
        n = sum(1 for _ in proc.stdout)
    dt = time.perf_counter() - t
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return n, dt, max(rss, before)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--out", type=Path, default=HERE / "out")
    ap.add_argument("--skip-tshark", action="store_true")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"m3ua-{args.messages}.pcap"
    if not path.exists():
        t = time.perf_counter()
        generate(path, args.messages)
        print(f"generated {path} ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t:.1f} s")
    rows = []
    n, dt, rss = run_sigdiag(path, "keys")
    rows.append(("sigdiag read_messages (key fields)", n, dt, rss))
    n, dt, rss = run_sigdiag(path, "full")
    rows.append(("sigdiag read_messages (+ all params)", n, dt, rss))
    if not args.skip_tshark and shutil.which("tshark"):
        n, dt, rss = run_tshark(path)
        rows.append(("tshark -T fields", n, dt, rss))
    print(f"{'decoder':40} {'messages':>10} {'seconds':>8} {'msg/s':>10} {'peak MB':>8}")
    for name, n, dt, rss in rows:
        print(f"{name:40} {n:>10} {dt:>8.2f} {n / dt:>10,.0f} {rss / 1024:>8.0f}")
    if len(rows) == 3:
        base = rows[2][1] / rows[2][2]
        for name, n, dt, _ in rows[:2]:
            print(f"{name}: {n / dt / base:.2f}x tshark")


if __name__ == "__main__":
    main()
