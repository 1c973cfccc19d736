"""sigdiag's calls agree with an independent call view built from ``tshark -T fields``.

The view here is deliberately simple and written from the domain rules, not from sigdiag's code: tshark
gives per frame the message types, point codes, CICs (ISUP/BICC), Call-IDs (SIP-I), time stamps, causes
and called digits; a call starts at each IAM on its key (unordered point-code pair and CIC; BICC without
point codes: the IP pair and the call instance code; SIP-I: the Call-ID), a message that repeats the same
fields on the same key within 20 ms is a copy from a second hop, and the call is answered when an ANM or
CON follows.  Its release cause is the first REL's.  Outcome classes for the KPIs follow DOMAIN.md
section 5: answered; user busy, no answer etc. (17-22) subscriber; a REL from the calling side before
answer with cause 16/31, or causes 1/28, caller; everything else network; calls with neither answer nor
REL are open.  (Without point codes the REL's side is unknown: as sigdiag documents, a REL before answer
with cause 16, 31 or 102 counts as the caller's.)

Checked on every shared capture and on simulator captures (healthy traffic, two hops with jittered time
stamps and a capture that starts and ends mid-call, every carrier): every call's IAM frame, answered or
not and release cause agree, and the KPIs (seizures, answered, ASR, NER, connection rate, network loss
rate) agree.  The agreement figures are printed at the end of the run.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sigdiag.calls import compute_stats, iter_calls
from tests.tshark_util import TSHARK, needs_tshark, shared_cases

pytestmark = [needs_tshark, pytest.mark.tshark]

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "captures"
MANIFEST = SHARED / "MANIFEST.tsv"
SHARED_CASES = shared_cases(MANIFEST)
CAPTURES = ROOT / "captures"

FIELDS = (
    "frame.number",
    "frame.time_epoch",
    "ip.src",
    "ip.dst",
    "ipv6.src",
    "ipv6.dst",
    "m3ua.protocol_data_opc",
    "m3ua.protocol_data_dpc",
    "mtp3.opc",
    "mtp3.dpc",
    "isup.cic",
    "bicc.cic",
    "sip.Call-ID",
    "isup.message_type",
    "isup.cause_indicator",
    "ansi_isup.cause_indicator",
    "isup.called",
    "isup.subsequent_number",
)
IAM, SAM, ACM, CON, ANM, REL, RLC, CFN = 0x01, 0x02, 0x06, 0x07, 0x09, 0x0C, 0x10, 0x2F
CAUSE_TYPES = (REL, CFN, 0x21)  # messages with a cause indicators parameter (REL, CFN, FRJ)
SUBSCRIBER = {17, 18, 19, 20, 21, 22, 23, 24, 26}
#: (messages compared, calls, calls that agree) per capture, printed at the end.
FIGURES: dict[str, tuple[int, int, int]] = {}


def tshark_messages(path: Path, options: list[str]) -> Iterator[dict[str, Any]]:
    """One dict per ISUP/BICC message that tshark decodes: frame, ts, type, key, direction, cause, digits."""
    assert TSHARK is not None
    cmd = [TSHARK, "-n", "-r", str(path), *options, "-Y", "isup or bicc", "-T", "fields"]
    cmd += ["-E", "occurrence=a", "-E", "aggregator=|", "-E", "separator=\t"]
    for f in FIELDS:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=900).stdout
    for line in out.splitlines():
        cells = dict(zip(FIELDS, line.split("\t"), strict=False))
        f = {k: (v.split("|") if v else []) for k, v in cells.items()}
        types = [int(t) for t in f["isup.message_type"]]
        opcs = f["m3ua.protocol_data_opc"] or f["mtp3.opc"]
        dpcs = f["m3ua.protocol_data_dpc"] or f["mtp3.dpc"]
        bicc = bool(f["bicc.cic"])
        cics = f["bicc.cic"] or f["isup.cic"]
        causes = iter(int(c) for c in (f["isup.cause_indicator"] or f["ansi_isup.cause_indicator"]))
        called = iter(f["isup.called"])
        subsequent = iter(f["isup.subsequent_number"])
        call_id = f["sip.Call-ID"][0] if f["sip.Call-ID"] else None
        src = (f["ip.src"] or f["ipv6.src"] or [""])[0]
        dst = (f["ip.dst"] or f["ipv6.dst"] or [""])[0]
        for i, t in enumerate(types):
            opc = int(opcs[i]) if i < len(opcs) else None
            dpc = int(dpcs[i]) if i < len(dpcs) else None
            cic = int(cics[i]) if i < len(cics) else None
            if call_id is not None:
                key: tuple[Any, ...] = ("sip", call_id)
            elif opc is None or dpc is None:
                key = ("bicc" if bicc else "isup", *sorted((src, dst)), cic)
            else:
                key = ("bicc" if bicc else "isup", min(opc, dpc), max(opc, dpc), cic)
            yield {
                "frame": int(cells["frame.number"]),
                "ts": float(cells["frame.time_epoch"]),
                "type": t,
                "key": key,
                "opc": opc,
                "pcless": opc is None,
                "cause": next(causes, None) if t in CAUSE_TYPES else None,
                "called": next(called, "") if t == IAM else None,
                "subsequent": next(subsequent, "") if t == SAM else None,
            }


def tshark_calls(path: Path, options: list[str]) -> list[dict[str, Any]]:
    """The independent call view (see the module docstring)."""
    calls: list[dict[str, Any]] = []
    current: dict[tuple[Any, ...], dict[str, Any]] = {}
    recent: dict[tuple[Any, ...], float] = {}
    for m in tshark_messages(path, options):
        call = current.get(m["key"])
        # a copy from a second hop: the same fields again within 20 ms, in the same call
        fingerprint = (m["key"], call and call["iam_frame"], m["opc"], m["type"], m["cause"], m["called"])
        fingerprint += (m["subsequent"],)
        last = recent.get(fingerprint)
        recent[fingerprint] = m["ts"]
        if last is not None and abs(m["ts"] - last) <= 0.020:
            continue
        if m["type"] == IAM:
            if call is not None and call["sip"]:
                continue  # an INVITE retransmission
            same = call is not None and (call["opc"], call["called"]) == (m["opc"], m["called"])
            if same and abs(m["ts"] - call["ts"]) <= 0.020:
                continue  # the IAM again from a second hop
            call = {
                "iam_frame": m["frame"],
                "ts": m["ts"],
                "called": m["called"],
                "opc": m["opc"],
                "sip": m["key"][0] == "sip",
                "pcless": m["pcless"],
                "answered": False,
                "cause": None,
                "rel_forward": None,
                "acm": False,
            }
            current[m["key"]] = call
            calls.append(call)
        elif call is None:
            continue
        elif m["type"] in (ANM, CON):
            call["answered"] = True
        elif m["type"] == ACM:
            call["acm"] = True
        elif m["type"] == REL and call["cause"] is None:
            call["cause"] = m["cause"]
            if call["pcless"]:
                call["rel_forward"] = not call["answered"] and m["cause"] in (16, 31, 102)
            else:
                call["rel_forward"] = m["opc"] == call["opc"]
    for call in calls:
        call["outcome"] = _outcome(call)
    return calls


def _outcome(call: dict[str, Any]) -> str:
    if call["answered"]:
        return "answered"
    cause = call["cause"]
    if cause is None:
        return "open"
    if cause in SUBSCRIBER:
        return "subscriber"
    if call["rel_forward"] and cause in (16, 31):
        return "caller"
    if cause in (1, 28):
        return "caller"
    if cause == 16 and not call["rel_forward"]:
        return "subscriber"
    return "network"


def tshark_kpis(calls: list[dict[str, Any]]) -> dict[str, Any]:
    n = {
        k: sum(1 for c in calls if c["outcome"] == k) for k in ("answered", "subscriber", "caller", "network")
    }
    completed = sum(n.values())
    valid = completed - n["caller"]

    def rate(a: int, b: int) -> float | None:
        return round(a / b, 4) if b else None

    return {
        "seizures": len(calls),
        "answered": n["answered"],
        "asr": rate(n["answered"], completed),
        "ner": rate(n["answered"] + n["subscriber"], completed),
        "connection_rate": rate(n["answered"], valid),
        "network_loss_rate": rate(n["network"], valid),
    }


def _check(name: str, path: Path, options: list[str], config: Path | None = None) -> None:
    theirs = tshark_calls(path, options)
    kwargs: dict[str, Any] = {"config": config} if config is not None else {}
    if "m3ua.version:Internet Draft version 6" in options:
        kwargs["m3ua_version"] = "draft6"
    ours = list(iter_calls(path, **kwargs))
    by_frame = {c.iam_frame: c for c in ours}
    problems = []
    agreed = 0
    for t in theirs:
        c = by_frame.get(t["iam_frame"])
        if c is None:
            problems.append(f"IAM frame {t['iam_frame']}: no sigdiag call")
            continue
        diffs = []
        if c.answered != t["answered"]:
            diffs.append(f"answered sigdiag {c.answered} tshark {t['answered']}")
        if c.cause != t["cause"]:
            diffs.append(f"cause sigdiag {c.cause} tshark {t['cause']}")
        if diffs:
            problems.append(f"IAM frame {t['iam_frame']}: " + ", ".join(diffs))
        else:
            agreed += 1
    extra = sorted(set(by_frame) - {t["iam_frame"] for t in theirs})
    if extra:
        problems.append(f"calls only sigdiag has, IAM frames {extra[:10]}")
    FIGURES[name] = (len(theirs), len(ours), agreed)
    assert not problems, "\n".join(problems[:30])
    # KPIs: sigdiag's 'unknown' outcomes are the view's open calls
    (row,) = compute_stats(ours)
    mine = {k: row[k] for k in ("seizures", "answered", "asr", "ner", "connection_rate", "network_loss_rate")}
    assert mine == tshark_kpis(theirs), name


@pytest.mark.skipif(not MANIFEST.is_file(), reason="../shared/captures is absent")
@pytest.mark.parametrize(("name", "options"), SHARED_CASES, ids=[n for n, _ in SHARED_CASES])
def test_shared_capture(name: str, options: list[str]) -> None:
    _check(name, SHARED / name, options)


def _simulate(tmp_path: Path, scenario: str | Path | None, calls: int | None, seed: int) -> tuple[Path, Path]:
    simulate = pytest.importorskip("sigdiag.simulate").simulate
    result = simulate(tmp_path / "sim.pcap", scenario, calls=calls, seed=seed)
    return result.path, result.path.with_suffix(".config.yaml")


def test_simulated_default_traffic(tmp_path: Path) -> None:
    path, config = _simulate(tmp_path, None, 1500, 11)
    _check("simulated default (1500 calls)", path, [], config)


@pytest.mark.parametrize("scenario", ["healthy", "realism", "carriers", "reference-fault"])
def test_simulated_example_scenarios(tmp_path: Path, scenario: str) -> None:
    """The scenarios in captures/ (realism: two hops, jittered time stamps, mid-call start and end;
    carriers: M3UA, M2PA, M2UA, MTP2, BICC on SCTP and SIP-I in one pcapng)."""
    source = CAPTURES / f"{scenario}.yaml"
    if not source.is_file():
        pytest.skip(f"{source} is absent")
    path, config = _simulate(tmp_path, source, None, 1)
    _check(f"simulated {scenario}", path, [], config)


def test_bench_generator_capture(tmp_path: Path) -> None:
    """The benchmark's capture (bundled SCTP chunks, CIC reuse), 20 000 messages."""
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from bench_decode import generate
    finally:
        sys.path.pop(0)
    path = tmp_path / "bench.pcap"
    generate(path, 20_000, seed=5)
    _check("benchmark generator (20 000 messages)", path, [])


def test_zz_print_figures(capsys: pytest.CaptureFixture[str]) -> None:
    """Print the agreement figures of this module's run."""
    if not FIGURES:
        pytest.skip("no capture compared")
    lines = [f"{'capture':60} {'tshark calls':>12} {'sigdiag':>8} {'agree':>6}"]
    for name, (theirs, ours, agreed) in FIGURES.items():
        lines.append(f"{name:60} {theirs:>12} {ours:>8} {agreed:>6}")
    total = [sum(v[i] for v in FIGURES.values()) for i in range(3)]
    lines.append(f"{'total':60} {total[0]:>12} {total[1]:>8} {total[2]:>6}")
    with capsys.disabled():
        print("\ncall agreement with tshark:\n" + "\n".join(lines))
    assert shutil.which("tshark")
