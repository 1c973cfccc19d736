"""The M3UA fast lane gives exactly what the general path gives, on every capture and on mutations."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sigdiag.capture import open_capture
from sigdiag.carrier import iter_payloads
from sigdiag.carrier.fastlane import M3uaFastLane
from sigdiag.carrier.sigtran import build_m3ua_data
from sigdiag.codec import encode_message
from sigdiag.model import Frame
from sigdiag.settings import DecodeSettings
from tests.unit._packets import sctp_frame

ROOT = Path(__file__).resolve().parents[2]
CAPTURES = sorted((ROOT / "captures").glob("*.pcap*")) + sorted(
    (ROOT.parent / "shared" / "captures").glob("*.pcap")
)


def both_ways(frames: list[Frame], settings: DecodeSettings) -> tuple[list, list, list, list]:
    a1: list = []
    a2: list = []
    fast = list(iter_payloads(frames, settings, a1))
    slow = list(iter_payloads(frames, settings, a2, fast_lane=False))
    return fast, slow, a1, a2


@pytest.mark.parametrize("path", CAPTURES, ids=[p.name for p in CAPTURES])
def test_same_payloads_on_every_capture(path: Path) -> None:
    frames = list(open_capture(path, []))
    fast, slow, a1, a2 = both_ways(frames, DecodeSettings())
    assert fast == slow
    assert a1 == a2


def test_the_lane_takes_the_common_shapes() -> None:
    body = encode_message("RLC", {}, cic=5)
    lane = M3uaFastLane(DecodeSettings())
    for rc in (None, 7):
        data = sctp_frame(
            "10.0.0.1", "10.0.0.2", 2905, 2905, 3, build_m3ua_data(1, 2, 5, 2, 0, 3, body, routing_context=rc)
        )
        p = lane.payload(Frame(1, 0.0, 1, data, len(data)))
        assert p is not None and p.data == body and (p.opc, p.dpc, p.sls) == (1, 2, 3)
    assert not M3uaFastLane(DecodeSettings(m3ua_version="draft6")).enabled


def _frame() -> bytes:
    body = encode_message("REL", {"cause_indicators": {"location": 2, "cause_value": 38}}, cic=17)
    return sctp_frame(
        "10.0.0.1", "10.0.0.2", 2905, 2905, 3, build_m3ua_data(1, 2, 5, 2, 0, 3, body, routing_context=9)
    )


@settings(max_examples=1500, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 4), st.booleans())
def test_mutated_frames_agree(seed: int, flips: int, cut: bool) -> None:
    rng = random.Random(seed)
    data = bytearray(_frame())
    for _ in range(flips):
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    if cut:
        del data[rng.randrange(len(data)) :]
    frames = [Frame(1, 1.0, 1, bytes(data), len(data))]
    fast, slow, a1, a2 = both_ways(frames, DecodeSettings())
    assert fast == slow
    assert a1 == a2
