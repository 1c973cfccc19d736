"""tshark decodes every frame of simulator captures, for every carrier, without malformed packets or
error-level expert items, and agrees with sigdiag's decoder message for message (skipped without tshark)."""

from __future__ import annotations

import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from sigdiag.decode import read_messages
from sigdiag.simulate import parse_scenario, simulate
from tests.tshark_util import TSHARK, compare, needs_tshark, tshark_frames

pytestmark = [needs_tshark, pytest.mark.tshark]

ROOT = Path(__file__).resolve().parents[2]

#: Faults that need circuits are left out on SIP-I trunks.
FAULTS: list[dict[str, Any]] = [
    {"type": "incomplete-digit-collection", "rate": 0.06},
    {"type": "t35-expiry", "count": 2},
    {"type": "t7-expiry", "count": 2},
    {"type": "release-not-acknowledged", "count": 2},
    {"type": "release-collision", "count": 2},
    {"type": "dual-seizure", "count": 2},
    {"type": "unequipped-circuit", "count": 2},
    {"type": "circuit-reset-burst", "start_s": 4, "rsc": 3, "grs": 2},
    {
        "type": "blocked-circuit-attempt",
        "start_s": 6,
        "circuits": 3,
        "group": True,
        "attempts": 2,
        "blocked_s": 8,
    },
    {"type": "blocked-circuit-attempt", "start_s": 7, "circuits": 2, "attempts": 1, "blocked_s": 8},
    {"type": "congestion-burst", "start_s": 8, "count": 3, "duration_s": 5},
    {"type": "calling-number-anomaly", "count": 8},
    {"type": "repeat-attempts", "start_s": 3, "count": 1, "attempts": 3},
    {"type": "hung-call", "count": 1},
    {"type": "unallocated-valid-prefix", "count": 2},
    {"type": "short-answered-calls", "start_s": 10, "count": 3},
    {"type": "orphan-message", "count": 1},
    {"type": "confusion", "count": 2},
    {"type": "hop-counter-exhausted", "count": 2},
    {"type": "trunk-loss-rate", "start_s": 4, "count": 3, "duration_s": 10},
]
CIRCUIT = {
    "dual-seizure",
    "unequipped-circuit",
    "circuit-reset-burst",
    "blocked-circuit-attempt",
    "release-not-acknowledged",
    "release-collision",
}
STANDARD = {"itu": "ITU", "ansi": "ANSI", "china": "Chinese ITU", "japan": "Japan"}

CASES: list[dict[str, Any]] = [
    {"carrier": "m3ua", "protocol": "isup", "pc_format": "itu", "routing_context": 5},
    {"carrier": "m3ua", "protocol": "isup", "variant": "ansi", "opc": "1-2-3", "dpc": "1-2-4"},
    {"carrier": "m3ua", "protocol": "bicc", "pc_format": "china", "opc": "26-3-12", "dpc": "26-9-1"},
    {"carrier": "m2pa", "protocol": "isup", "pc_format": "itu"},
    {"carrier": "m2pa", "protocol": "isup", "pc_format": "china", "opc": 70000, "dpc": 70001},
    {"carrier": "m2pa", "protocol": "isup", "pc_format": "japan", "opc": 40000, "dpc": 40001},
    {"carrier": "m2pa", "protocol": "bicc", "pc_format": "itu"},
    {"carrier": "m2ua", "protocol": "isup", "variant": "ansi", "opc": 70000, "dpc": 70001},
    {"carrier": "mtp2", "protocol": "isup", "pc_format": "itu"},
    {
        "carrier": "mtp2",
        "protocol": "isup",
        "pc_format": "china",
        "mtp2_fcs": True,
        "opc": 70000,
        "dpc": 70001,
    },
    {"carrier": "bicc"},
    {"carrier": "sip-i", "variant": "itu"},
    {"carrier": "sip-i", "variant": "ansi", "ip_version": 6},
    {"carrier": "m3ua", "protocol": "isup", "ip_version": 6, "ip": {"vlan": 7}, "hops": 2},
]


def tshark_options(trunk: dict[str, Any]) -> list[str]:
    """The options tshark needs for one trunk's capture (one MTP3 standard per file)."""
    opts = ["-o", "sctp.checksum:CRC-32C"]
    variant = trunk.get("variant", "itu")
    pc_format = trunk.get("pc_format", "ansi" if variant == "ansi" else "itu")
    if trunk["carrier"] in ("m2pa", "m2ua", "mtp2") or variant == "ansi":
        opts += ["-o", f"mtp3.standard:{STANDARD[pc_format]}"]
    if trunk.get("mtp2_fcs"):
        opts += ["-o", "mtp2.capture_contains_frame_check_sequence:TRUE"]
    return opts


def tshark_check(path: Path, options: list[str]) -> tuple[int, Counter[str], int, int]:
    """(frames, expert severities, malformed frames, frames without ISUP/BICC) as tshark sees them."""
    assert TSHARK is not None
    fields = ["_ws.malformed", "_ws.expert.severity", "isup.message_type", "frame.protocols"]
    cmd = [TSHARK, "-n", "-r", str(path), *options, "-T", "fields", "-E", "separator=\t"]
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=300).stdout
    severities: Counter[str] = Counter()
    malformed = non_isup = frames = 0
    for line in out.splitlines():
        frames += 1
        mal, sev, mtype, protocols = [*line.split("\t"), "", "", "", ""][:4]
        malformed += bool(mal)
        severities.update(s for s in sev.split(",") if s)
        non_isup += not mtype
        assert "isup" in protocols or "bicc" in protocols or "sip" in protocols, line
    return frames, severities, malformed, non_isup


ERROR = "8388608"  # PI_ERROR in tshark's severity field


@pytest.mark.parametrize(
    "trunk", CASES, ids=lambda t: "-".join(str(v) for v in t.values() if not isinstance(v, dict))
)
def test_tshark_decodes_every_frame(tmp_path: Path, trunk: dict[str, Any]) -> None:
    faults = [f for f in FAULTS if trunk["carrier"] != "sip-i" or f["type"] not in CIRCUIT]
    data = {
        "calls": 60,
        "traffic": {"cps": 5, "overlap": {"share": 0.2}},
        "trunks": [{"name": "t", "cics": "1-200", **trunk}],
        "faults": faults,
    }
    for fmt in ("pcap", "pcapng"):
        r = simulate(tmp_path / f"c.{fmt}", parse_scenario(data, "<case>"), seed=3, fmt=fmt)
        frames, severities, malformed, non_isup = tshark_check(r.path, tshark_options(trunk))
        assert frames == r.frames
        assert malformed == 0 and severities[ERROR] == 0, (fmt, severities)
        assert non_isup == r.frames - r.messages  # only SIP messages without ISUP (100 Trying, ACK, 200 OK)


#: ITU variants only: tshark shows ANSI cause indicators in other fields (see tests/tshark_util.py).
AGREEMENT = [c for c in CASES if c["carrier"] in ("m3ua", "m2pa", "mtp2") and c.get("variant") != "ansi"][:6]


@pytest.mark.parametrize(
    "trunk", AGREEMENT, ids=lambda t: "-".join(str(v) for v in t.values() if not isinstance(v, dict))
)
def test_sigdiag_agrees_with_tshark(tmp_path: Path, trunk: dict[str, Any]) -> None:
    data = {
        "calls": 40,
        "traffic": {"cps": 5, "overlap": {"share": 0.3}},
        "trunks": [{"name": "t", "cics": "1-200", **trunk}],
        "faults": [
            f
            for f in FAULTS
            if f["type"] in ("incomplete-digit-collection", "confusion", "circuit-reset-burst", "t7-expiry")
        ],
    }
    r = simulate(tmp_path / "a.pcap", parse_scenario(data, "<case>"), seed=4)
    ours = list(read_messages(r.path, config=r.config_path))
    compared, problems = compare(ours, tshark_frames(r.path, [o for o in tshark_options(trunk) if o]))
    assert compared == r.messages
    assert not problems, problems[:5]


def test_example_captures_are_clean() -> None:
    captures = ROOT / "captures"
    for path in sorted([*captures.glob("*.pcap"), *captures.glob("*.pcapng")]):
        frames, severities, malformed, _ = tshark_check(path, ["-o", "sctp.checksum:CRC-32C"])
        assert frames > 0 and malformed == 0 and severities[ERROR] == 0, (path.name, severities)
