"""sigdiag agrees with tshark, message for message, on every real capture in ../shared/captures."""

from __future__ import annotations

from pathlib import Path

import pytest

from sigdiag import read_messages
from tests.tshark_util import compare, needs_tshark, shared_cases, tshark_frames

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "captures"
MANIFEST = SHARED / "MANIFEST.tsv"
SHARED_CASES = shared_cases(MANIFEST)

pytestmark = [
    pytest.mark.skipif(not MANIFEST.is_file(), reason="../shared/captures is absent"),
    needs_tshark,
]


@pytest.mark.parametrize(("name", "options"), SHARED_CASES, ids=[n for n, _ in SHARED_CASES])
def test_agrees_with_tshark(name: str, options: list[str]) -> None:
    path = SHARED / name
    theirs = tshark_frames(path, options)
    ours = list(read_messages(path))
    compared, problems = compare(ours, theirs)
    assert not problems, "\n".join(problems)
    assert compared == sum(len(t["messages"]) for t in theirs) > 0
    for m in ours:
        # the only quirk real captures show: the kancom tester appends 2 octets after each ISUP message
        assert {a.name for a in m.anomalies} <= {"isup.trailing_bytes"}, (m, m.anomalies)


def test_manifest_message_counts() -> None:
    import csv

    with MANIFEST.open(newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            ours = list(read_messages(SHARED / row["local_name"]))
            assert len(ours) == int(row["isup_or_bicc_messages"]), row["local_name"]
            histogram = {}
            for m in ours:
                histogram[m.type] = histogram.get(m.type, 0) + 1
            expected = dict(item.split(":") for item in row["message_type_histogram"].split(","))
            assert histogram == {k: int(v) for k, v in expected.items()}, row["local_name"]


def test_encode_decode_round_trip_on_every_message() -> None:
    from sigdiag.codec import reencode

    for path in sorted(SHARED.glob("*.pcap")):
        for m in read_messages(path):
            assert reencode(m) == m.raw, (path.name, m)
