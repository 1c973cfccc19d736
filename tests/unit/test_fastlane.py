"""The M3UA fast lane gives exactly what the general path gives, on every capture and on mutations; so does
the decode pipeline's loop that uses it (:func:`sigdiag.decode.iter_messages`)."""

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
from sigdiag.codec.isup import decode_payload
from sigdiag.decode import iter_messages
from sigdiag.model import Frame, Message
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


# -- the decode pipeline's loop (sigdiag.decode.iter_messages) ------------------------------------------
# It sends frames of the common shape through the lane straight to decode_message, and replays the loop
# of iter_payloads for the others: its messages must be those of the general path, decoded.


def _message_record(m: Message) -> tuple:
    return (
        tuple(getattr(m, name) for name in Message.__slots__ if name != "_params"),
        m.as_dict(),
    )


def messages_both_ways(frames: list[Frame], settings: DecodeSettings) -> tuple[list, list, list, list]:
    a1: list = []
    a2: list = []
    fast = [_message_record(m) for m in iter_messages(frames, settings, a1)]
    # the same point-code detection as iter_messages (pc_format auto): scoring with the codec
    slow = [
        _message_record(decode_payload(p))
        for p in iter_payloads(frames, settings, a2, fast_lane=False, decoder=decode_payload)
    ]
    return fast, slow, a1, a2


@pytest.mark.parametrize("path", CAPTURES, ids=[p.name for p in CAPTURES])
def test_same_messages_on_every_capture(path: Path) -> None:
    frames = list(open_capture(path, []))
    fast, slow, a1, a2 = messages_both_ways(frames, DecodeSettings())
    assert fast == slow
    assert a1 == a2


def test_the_pipeline_without_the_lane_is_the_general_path() -> None:
    frames = [Frame(1, 1.0, 1, _frame(), len(_frame()))]
    a: list = []
    slow = [_message_record(m) for m in iter_messages(frames, DecodeSettings(), a, fast_lane=False)]
    assert slow == messages_both_ways(frames, DecodeSettings())[1]
    draft6 = DecodeSettings(m3ua_version="draft6")
    assert messages_both_ways(frames, draft6)[0] == messages_both_ways(frames, draft6)[1]


@settings(max_examples=1000, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 4), st.booleans(), st.sampled_from(["RLC", "REL", "IAM"]))
def test_mutated_frames_decode_alike(seed: int, flips: int, cut: bool, kind: str) -> None:
    rng = random.Random(seed)
    body = {
        "RLC": encode_message("RLC", {}, cic=3),
        "REL": encode_message("REL", {"cause_indicators": {"location": 2, "cause_value": 38}}, cic=17),
        "IAM": bytes.fromhex("0500010020000a03020907031010325476980a08831310325476980000"),
    }[kind]
    rc = 9 if rng.random() < 0.5 else None
    data = bytearray(
        sctp_frame(
            "10.0.0.1", "10.0.0.2", 2905, 2905, 3, build_m3ua_data(1, 2, 5, 2, 0, 3, body, routing_context=rc)
        )
    )
    for _ in range(flips):
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    if cut:
        del data[rng.randrange(len(data)) :]
    frames = [Frame(1, 1.0, 1, bytes(data), len(data)), Frame(2, 2.0, 1, _frame(), len(_frame()))]
    fast, slow, a1, a2 = messages_both_ways(frames, DecodeSettings())
    assert fast == slow
    assert a1 == a2
