"""The traffic simulator: scenario loading and errors, templates, determinism, truth against the decoder,
every fault's message ladder, capture realism, SCTP sanity, atomic output, memory bound and the CLI."""

from __future__ import annotations

import json
import random
import struct
from collections import Counter, defaultdict
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from crc32c import crc32c
from typer.testing import CliRunner

from sigdiag.codec import EncodeError, decode_bytes, encode_cic, encode_message
from sigdiag.codec.templates import SWAP, bcd
from sigdiag.decode import read_messages
from sigdiag.simulate import ScenarioError, load_scenario, parse_scenario, simulate
from sigdiag.simulate.isupgen import Templates
from sigdiag.simulate.scenario import FAULT_TYPES, Dist, resolve_format

ROOT = Path(__file__).resolve().parents[2]
CAPTURES = ROOT / "captures"


# -- helpers -----------------------------------------------------------------------------------------------


def run(
    tmp_path: Path,
    data: dict[str, Any],
    *,
    name: str = "s",
    seed: int = 1,
    fmt: str | None = None,
    calls: int | None = None,
) -> tuple[Any, list[dict[str, Any]], list[dict[str, Any]], list[Any]]:
    """Simulate ``data`` and return (result, truth rows, event rows, decoded messages)."""
    sc = parse_scenario(data, f"<{name}>")
    out = tmp_path / f"{name}.{fmt or 'pcap'}"
    r = simulate(out, sc, calls=calls, seed=seed, fmt=fmt)
    truth = [json.loads(line) for line in r.truth_path.read_text().splitlines()]
    events = [json.loads(line) for line in r.events_path.read_text().splitlines()]
    msgs = list(read_messages(out, config=r.config_path))
    return r, truth, events, msgs


def calls_by_iam(msgs: list[Any]) -> dict[int, list[Any]]:
    """Messages grouped into calls by (point codes, CIC) or Call-ID, keyed by the IAM's frame number.

    A call ends when every side that sent a REL has had its RLC (messages after that, without a new
    IAM, belong to no call: orphans of a lost IAM, or circuit supervision)."""
    current: dict[tuple[Any, ...], int] = {}
    releasing: dict[tuple[Any, ...], set[Any]] = {}
    rlcs: dict[tuple[Any, ...], int] = {}
    out: dict[int, list[Any]] = defaultdict(list)
    recent: dict[tuple[Any, ...], tuple[bytes, float]] = {}
    for m in msgs:
        if m.sip_call_id is not None:
            key: tuple[Any, ...] = ("sip", m.sip_call_id)
        else:
            a, b = sorted((m.opc or 0, m.dpc or 0))
            key = (a, b, m.cic)
        seen = recent.get((*key, m.opc))
        if seen is not None and seen[0] == m.raw and abs(m.ts - seen[1]) < 0.01:
            continue  # the same message captured again on a second hop
        recent[(*key, m.opc)] = (m.raw, m.ts)
        if m.type == "IAM" and key in current and m.sip_call_id is None:
            first = out[current[key]][0]
            if first.opc != m.opc and m.ts - first.ts < 0.01:  # dual seizure: the other side's IAM
                out[m.frame].append(m)
                continue
        if m.type == "IAM" and (key not in current or m.sip_call_id is None):
            current[key] = m.frame
            releasing[key] = set()
            rlcs[key] = 0
        if key not in current:
            continue
        out[current[key]].append(m)
        if m.type == "REL":
            releasing[key].add(m.opc)
        elif m.type == "RLC" and releasing[key]:
            rlcs[key] += 1
            if rlcs[key] >= len(releasing[key]):
                del current[key]
    return out


def one_trunk(**kw: Any) -> dict[str, Any]:
    return {"name": "t", "carrier": "m3ua", "opc": 100, "dpc": 200, "cics": "1-300", **kw}


def small(faults: list[dict[str, Any]] | None = None, calls: int = 120, **trunk: Any) -> dict[str, Any]:
    return {
        "calls": calls,
        "traffic": {"cps": 4, "overlap": {"share": 0.2}},
        "trunks": [one_trunk(**trunk)],
        "faults": faults or [],
    }


# -- scenario files ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("trunks:\n  - name: a\n    carrier: m4ua\n", 3, "carrier: must be one of m3ua"),
        ("trunks:\n  - name: a\n    colour: red\n", 3, "unknown key"),
        ("traffic:\n  cps: fast\n", 2, "traffic.cps: expected a number"),
        ("traffic:\n  cps: 5\n  cps: 6\n", 3, "duplicate key"),
        ("trunks:\n  - {name: a, pc_format: itu, opc: 20000}\n", 2, "does not fit the 14 bits"),
        ("trunks:\n  - {name: a, cics: 5-1}\n", 2, "CIC range"),
        ("faults:\n  - type: nonsense\n    rate: 0.1\n", 2, "unknown fault type"),
        ("faults:\n  - type: t7-expiry\n", 2, "give 'rate'"),
        (
            "trunks:\n  - {name: s, carrier: sip-i}\n"
            "faults:\n  - {type: dual-seizure, rate: 0.1, trunk: s}\n",
            4,
            "needs circuits",
        ),
        ("outcomes:\n  answered: 1\n  vanished: 2\n", 3, "unknown outcome"),
        ("traffic:\n  holding_s: [10, 2]\n", 2, "greater than max"),
        ("trunks: [\n", 2, "not valid YAML"),
        ("capture:\n  start: yesterday\n", 2, "not an ISO 8601 time"),
        ("faults:\n  - {type: congestion-burst, rate: 0.2}\n", 2, "burst"),
    ],
)
def test_bad_scenarios_name_file_line_and_problem(
    tmp_path: Path, text: str, line: int, fragment: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as exc:
        load_scenario(path)
    message = str(exc.value)
    assert message.startswith(f"{path}:{line}:"), message
    assert fragment in message
    assert "\n" not in message


def test_example_scenarios_load() -> None:
    names = sorted(p.name for p in CAPTURES.glob("*.yaml") if not p.name.endswith(".config.yaml"))
    assert "reference-fault.yaml" in names
    for name in names:
        sc = load_scenario(CAPTURES / name)
        assert sc.trunks and sc.outcomes


def test_defaults_and_formats(tmp_path: Path) -> None:
    sc = parse_scenario({}, "<empty>")
    assert [t.carrier for t in sc.trunks] == ["m3ua", "m3ua"]
    assert {t.protocol for t in sc.trunks} == {"isup", "bicc"}
    assert resolve_format(sc, None, "x.pcapng") == "pcapng"
    assert resolve_format(sc, None, "x.pcap") == "pcap"
    mixed = parse_scenario({"trunks": [one_trunk(), {"name": "m", "carrier": "mtp2"}]}, "<mixed>")
    with pytest.raises(ScenarioError, match="cannot share a classic pcap"):
        resolve_format(mixed, "pcap", "x.pcap")
    assert resolve_format(mixed, None, "x.pcapng") == "pcapng"


def test_every_fault_type_is_documented() -> None:
    doc = (ROOT / "docs" / "scenario.md").read_text()
    for ftype in FAULT_TYPES:
        assert f"`{ftype}`" in doc, ftype


def test_distributions() -> None:
    rng = random.Random(3)
    logn = Dist("lognormal", 60.0, 1.0, 5.0, 3600.0).sampler(rng, 1.0)
    xs = sorted(logn() for _ in range(20000))
    assert 55 <= xs[len(xs) // 2] <= 65 and xs[0] >= 5 and xs[-1] <= 3600
    uni = Dist.uniform(2.0, 4.0).sampler(rng, 1000.0)
    ys = [uni() for _ in range(5000)]
    assert min(ys) >= 2000 and max(ys) <= 4000
    expo = Dist("exponential", 10.0, 0.0, 0.0, 1e9).sampler(rng, 1.0)
    assert 9.5 < sum(expo() for _ in range(20000)) / 20000 < 10.5


# -- templates ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("protocol", "variant"), [("isup", "itu"), ("isup", "ansi"), ("bicc", "itu")])
def test_spliced_iam_and_sam_equal_the_codec(protocol: str, variant: str) -> None:
    T = Templates(protocol, variant)
    rng = random.Random(7)
    for _ in range(1500):
        called = "".join(rng.choice("0123456789") for _ in range(rng.randint(0, 16)))
        st = rng.random() < 0.5
        calling = (
            None
            if rng.random() < 0.1
            else "".join(rng.choice("0123456789") for _ in range(rng.randint(0, 15)))
        )
        attrs = (rng.choice([0, 1, 3, 4, 126]), rng.choice([0, 1]), 3, rng.choice([0, 1]))
        hop = rng.choice([None, 1, 25])
        assert T.iam(called, st, calling, attrs, hop) == T.encode(
            "IAM", T.iam_params(called, st, calling, attrs, hop)
        )
        digits = called[: rng.randint(0, len(called))]
        assert T.sam(digits, st) == encode_message(
            "SAM", {"subsequent_number": {"digits": digits, "st": st}}, protocol=protocol, variant=variant
        )
        m = decode_bytes(
            T.cic(9) + T.iam(called, st, calling, attrs, hop), protocol=protocol, variant=variant
        )
        assert (m.type, m.cic, m.called, m.calling or None, bool(m.called_complete)) == (
            "IAM",
            9,
            called,
            calling or None,
            st,
        )
    assert bcd("0453114") == bytes.fromhex("4035110f"[:6] + "04")
    # the simulator's hot path builds IAMs from hex templates of the same shapes
    for _ in range(500):
        called = "".join(rng.choice("0123456789") for _ in range(rng.randint(0, 16)))
        calling = "".join(rng.choice("0123456789") for _ in range(rng.randint(0, 15)))
        st = rng.random() < 0.5
        attrs = (rng.choice([0, 1, 3, 4, 126]), rng.choice([0, 1]), 3, rng.choice([0, 1]))
        hop = rng.choice([None, 1, 25])
        h0, h1, h2 = T.iam_hex(len(called), st, len(calling), attrs, hop)
        body = bytes.fromhex(h0 + called + h1 + calling + h2).translate(SWAP)
        assert body == T.iam(called, st, calling, attrs, hop)


def test_cic_and_circuit_group_bodies_are_the_codecs() -> None:
    for protocol, variant, cic in [("isup", "itu", 4095), ("isup", "ansi", 16383), ("bicc", "itu", 70000)]:
        T = Templates(protocol, variant)
        assert T.cic(cic) == encode_cic(cic, protocol, variant)
        assert len(T.cic(cic)) == T.cic_len == (4 if protocol == "bicc" else 2)
        assert decode_bytes(T.cic(cic) + T.simple("RSC"), protocol=protocol, variant=variant).cic == cic
    T = Templates("isup", "itu")
    with pytest.raises(EncodeError):
        T.cic(4096)  # 12 bits in ITU ISUP
    # the status bits: one per circuit, the first circuit in bit 0 of the first octet
    cgb = T.group("CGB", 10, 0b10_0000_0101)
    assert cgb == encode_message(
        "CGB",
        {
            "circuit_group_supervision_message_type": {"type": 0},
            "range_and_status": {"range": 9, "status": "0502"},
        },
    )
    m = decode_bytes(T.cic(1) + cgb)
    assert m.params["range_and_status"]["status_bits"] == "1010000001"
    assert T.gra(3) == encode_message("GRA", {"range_and_status": {"range": 2, "status": "00"}})
    assert T.gra(9, blocked=0b1_0000_0000) == encode_message(
        "GRA", {"range_and_status": {"range": 8, "status": "0001"}}
    )
    assert T.grs(4) == encode_message("GRS", {"range_and_status": {"range": 3}})


def test_truth_start_by_integer_formatting_equals_float_formatting() -> None:
    """The fast path prints a truth row's ``start`` as whole seconds, a point and six digits of
    micro-seconds (or, the same thing, by slicing the micro-second count's digits): the same text as
    ``f"{us / 1e6:.6f}"`` wherever it is used (see truth._EXACT_US)."""
    from sigdiag.simulate.truth import _EXACT_US

    rng = random.Random(11)
    samples = [1_000_000, 1_000_001, 1_999_999, _EXACT_US - 1, 1_709_254_800_003_026]
    samples += [rng.randrange(1_000_000, _EXACT_US) for _ in range(200_000)]
    samples += [rng.randrange(1_000_000, 10**11) for _ in range(20_000)]
    for us in samples:
        digits = str(us)
        assert f"{digits[:-6]}.{digits[-6:]}" == f"{us / 1e6:.6f}", us
        assert f"{us // 1_000_000}.{us % 1_000_000:06d}" == f"{us / 1e6:.6f}", us


@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
def test_m3ua_fast_emitter_equals_the_hop_emitters(fmt: str) -> None:
    """CaptureEmitter's M3UA loop writes the bytes of M3uaHop.emit_pcap / emit_pcapng (and advances the
    same TSN and SSN counters), SLS 0-255 in both directions, with and without optional parameters."""
    from sigdiag.simulate.framing import CaptureEmitter, M3uaHop, SctpAssociation, item_key

    def hops() -> list[M3uaHop]:
        rng = random.Random(3)
        a = SctpAssociation("10.1.0.1", 2905, "10.1.0.2", 2905, 310, 16, rng)
        b = SctpAssociation("fd00::1", 2905, "fd00::2", 2906, None, 4, rng)
        return [M3uaHop(a, 5, 2, 100, 200, 7, 9), M3uaHop(b, 13, 0, 300, 400, None, None)]

    rng = random.Random(5)
    items = []
    for i in range(3000):
        h, d, sls = rng.randrange(2), rng.randrange(2), rng.randrange(256)
        data = bytes(rng.randrange(256) for _ in range(rng.randint(3, 60)))
        items.append((i * 1000 + rng.randrange(1000), item_key(h, d, sls, len(data)), data, 0))
    ng = fmt == "pcapng"
    epoch = 1_700_000_000_000_000
    fast = bytearray()
    CaptureEmitter(hops(), ng, epoch)(fast, items)
    slow = bytearray()
    ref = hops()
    for t, key, data, _ in items:
        lane = key >> 16
        hop = ref[lane >> 9]
        (hop.emit_pcapng if ng else hop.emit_pcap)(slow, epoch + t, (lane >> 8) & 1, data, lane & 0xFF)
    assert fast == slow

    # times as offsets from a base (the simulator's buckets), also before the base (jitter) and past the
    # base's second or 2**32 micro-second word, and an epoch that is not a whole second
    cases = [(1_700_000_000_000_000, 3_000_000), (1_700_000_000_123_456, 4_294_967_000)]
    cases.append((((1_700_000_000_000_000 >> 32) << 32) - 2_000, 0))  # a pcapng low word about to wrap
    for epoch, base in cases:
        offsets = [
            rng.choice([-5_000, -1, 0, 1, 999_999, 1_000_000, 1_500_000, rng.randrange(10**6)]) for _ in items
        ]
        shifted = [(u, key, data, 0) for u, (_, key, data, _) in zip(offsets, items, strict=True)]
        fast = bytearray()
        CaptureEmitter(hops(), ng, epoch)(fast, shifted, base)
        slow = bytearray()
        ref = hops()
        for u, key, data, _ in shifted:
            lane = key >> 16
            hop = ref[lane >> 9]
            emit = hop.emit_pcapng if ng else hop.emit_pcap
            emit(slow, epoch + base + u, (lane >> 8) & 1, data, lane & 0xFF)
        assert fast == slow


def test_m3ua_records_are_the_builders_bytes() -> None:
    """The fused packers of an M3UA hop (framing.M3uaHop.form) write what the layer builders write:
    Ethernet and IP headers, the SCTP packet (data_chunk, sctp with its CRC32c) around the M3UA DATA
    message (build_m3ua_data), and the pcap or pcapng record around it."""
    from sigdiag.capture.formats import PCAP_RECORD, pcapng_epb
    from sigdiag.carrier.m3ua import build_m3ua_data
    from sigdiag.carrier.sctp import PPID_M3UA
    from sigdiag.simulate.framing import M3uaHop, SctpAssociation

    cases = [("10.1.0.1", "10.1.0.2", 310, 7, 9), ("fd00::1", "fd00::2", None, None, None)]
    for a_ip, b_ip, vlan, rc, na in cases:
        assoc = SctpAssociation(a_ip, 2905, b_ip, 2906, vlan, 16, random.Random(3))
        fused = M3uaHop(assoc, 5, 2, 100, 200, rc, na)
        ref = SctpAssociation(a_ip, 2905, b_ip, 2906, vlan, 16, random.Random(3))  # the same tags and TSNs
        rng = random.Random(4)
        for i in range(600):
            d, sls = rng.randrange(2), rng.randrange(256)
            data = rng.randbytes(rng.randint(0, 70))
            opc, dpc = (100, 200) if d == 0 else (200, 100)
            m3ua = build_m3ua_data(opc, dpc, 5, 2, 0, sls, data, rc, na)
            want = ref.dirs[d].packet(PPID_M3UA, 1 + sls % 15, m3ua)
            ts = 1_700_000_000_000_000 + i * 1_234_567
            buf = bytearray()
            if i % 3 == 0:
                assert fused.frame(d, data, sls) == want
            elif i % 3 == 1:
                fused.emit_pcap(buf, ts, d, data, sls)
                assert bytes(buf) == PCAP_RECORD.pack(ts // 10**6, ts % 10**6, len(want), len(want)) + want
            else:
                fused.emit_pcapng(buf, ts, d, data, sls)
                assert bytes(buf) == pcapng_epb(want, ts, fused.iface)


# -- whole runs --------------------------------------------------------------------------------------------


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    sc = load_scenario(CAPTURES / "all-faults.yaml")
    a = simulate(tmp_path / "a.pcap", sc, calls=80, seed=5)
    b = simulate(tmp_path / "b.pcap", sc, calls=80, seed=5)
    c = simulate(tmp_path / "c.pcap", sc, calls=80, seed=6)
    assert a.path.read_bytes() == b.path.read_bytes()
    assert a.truth_path.read_bytes() == b.truth_path.read_bytes()
    assert a.events_path.read_bytes() == b.events_path.read_bytes()
    assert a.path.read_bytes() != c.path.read_bytes()
    ng1 = simulate(tmp_path / "a.pcapng", sc, calls=40, seed=5)
    ng2 = simulate(tmp_path / "b.pcapng", sc, calls=40, seed=5)
    assert ng1.path.read_bytes() == ng2.path.read_bytes()


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="no fork")
def test_writer_process_writes_the_same_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sc = load_scenario(CAPTURES / "realism.yaml")
    monkeypatch.setenv("SIGDIAG_SIMULATE_WORKER", "0")
    a = simulate(tmp_path / "a.pcap", sc, calls=150, seed=2)
    monkeypatch.setenv("SIGDIAG_SIMULATE_WORKER", "1")
    b = simulate(tmp_path / "b.pcap", sc, calls=150, seed=2)
    assert a.path.read_bytes() == b.path.read_bytes()
    assert a.truth_path.read_bytes() == b.truth_path.read_bytes()
    assert (a.messages, a.frames, a.calls) == (b.messages, b.frames, b.calls)


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="no fork")
@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
def test_writer_process_orders_fast_path_buckets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    """Buckets of fast-path calls only go to the writer process unsorted (it sorts them and writes their
    truth rows); overlap calls on the general path make some buckets the parent's."""
    data = {"calls": 3000, "traffic": {"cps": 30, "overlap": {"share": 0.05}}}
    results = []
    for worker in ("0", "1"):
        monkeypatch.setenv("SIGDIAG_SIMULATE_WORKER", worker)
        results.append(simulate(tmp_path / f"{worker}.{fmt}", parse_scenario(data, "<w>"), seed=3))
    a, b = results
    assert a.path.read_bytes() == b.path.read_bytes()
    assert a.truth_path.read_bytes() == b.truth_path.read_bytes()
    assert (a.messages, a.frames, a.calls, a.outcomes, a.duration_s) == (
        b.messages,
        b.frames,
        b.calls,
        b.outcomes,
        b.duration_s,
    )


def _check_truth_against_decoder(truth: list[dict[str, Any]], msgs: list[Any]) -> None:
    by_frame = {m.frame: m for m in msgs}
    calls = calls_by_iam(msgs)
    for row in truth:
        m = by_frame[row["iam_frame"]]
        assert m.type == "IAM", row
        assert (m.opc, m.dpc, m.cic, m.sip_call_id) == (
            row["opc"],
            row["dpc"],
            row["cic"],
            row["sip_call_id"],
        )
        assert m.calling == row["calling"] or (row["calling"] is None and not m.calling)
        members = calls[row["iam_frame"]]
        digits = m.called + "".join(x.subsequent or "" for x in members if x.type == "SAM")
        assert digits == row["called"], (row, [x.type for x in members])
        assert sum(1 for x in members if x.type == "SAM") == row["sam_count"]
        rels = [x for x in members if x.type == "REL"]
        if rels and row["cause"] is not None:
            assert (rels[0].cause, rels[0].cause_location) == (row["cause"], row["cause_location"])
            if row["opc"] is not None:
                assert ("calling" if rels[0].opc == row["opc"] else "called") == row["released_by"], row
        assert row["answered"] == any(x.type in ("ANM", "CON") for x in members) or row["open"], row
        assert abs(m.ts - row["start"]) < 1e-6
        if row["fault"] is None and not row["open"]:
            _check_outcome(row, members)


def _check_outcome(row: dict[str, Any], members: list[Any]) -> None:
    """The truth's outcome class is the one the call's messages show (issue 4's classification)."""
    answered = any(x.type in ("ANM", "CON") for x in members)
    rel = next((x for x in members if x.type == "REL"), None)
    assert rel is not None, row
    backward = rel.opc != members[0].opc if row["opc"] is not None else row["released_by"] == "called"
    if row["outcome"] == "answered":
        assert answered and rel.cause == 16, row
        return
    assert not answered, row
    if row["outcome"] == "subscriber":
        assert backward and 17 <= rel.cause <= 22, row
    elif row["outcome"] == "caller":
        assert (not backward and rel.cause in (16, 31)) or (backward and rel.cause in (1, 28)), row
    else:
        assert (
            row["outcome"] == "network" and backward and rel.cause not in (1, 16, 17, 18, 19, 20, 21, 22, 28)
        ), row


def test_truth_agrees_with_the_decoder_on_every_fault(tmp_path: Path) -> None:
    r, truth, events, msgs = run(tmp_path, yaml_data(CAPTURES / "all-faults.yaml"), calls=150)
    assert r.messages == len(msgs) and r.calls == len(truth)
    assert all(not m.anomalies for m in msgs)
    _check_truth_against_decoder(truth, msgs)
    found = {row["fault"] for row in truth if row["fault"]} | {e["fault"] for e in events}
    assert found == set(FAULT_TYPES)


def yaml_data(path: Path) -> dict[str, Any]:
    import yaml

    return dict(yaml.safe_load(path.read_text()))


@pytest.mark.parametrize(
    "trunk",
    [
        {"carrier": "m3ua", "protocol": "bicc", "pc_format": "china", "opc": "1-2-3", "dpc": "1-2-4"},
        {"carrier": "m3ua", "variant": "ansi", "opc": 70000, "dpc": 70001},
        {"carrier": "m2pa", "pc_format": "japan", "opc": 300, "dpc": 400},
        {"carrier": "m2ua", "pc_format": "china", "opc": 70000, "dpc": 70001},
        {"carrier": "mtp2", "mtp2_fcs": True},
        {"carrier": "bicc", "cics": "1-9000"},
        {"carrier": "sip-i"},
        {"carrier": "sip-i", "variant": "ansi", "ip_version": 6},
        {"carrier": "m3ua", "ip_version": 6, "ip": {"vlan": 12}, "hops": 2},
    ],
    ids=lambda t: "-".join(str(v) for v in t.values() if not isinstance(v, dict))[:40],
)
def test_truth_agrees_with_the_decoder_per_carrier(tmp_path: Path, trunk: dict[str, Any]) -> None:
    faults = [
        {"type": "incomplete-digit-collection", "rate": 0.1},
        {"type": "calling-number-anomaly", "rate": 0.1},
        {"type": "confusion", "rate": 0.05},
        {"type": "t7-expiry", "rate": 0.05},
    ]
    r, truth, _, msgs = run(tmp_path, small(faults, calls=60, **trunk))
    assert r.messages == len(msgs) and len(truth) >= 60
    assert not [a for m in msgs for a in m.anomalies]
    _check_truth_against_decoder(truth, msgs)
    if trunk.get("hops") == 2:
        assert Counter(m.type for m in msgs)["IAM"] == 2 * len(truth)


def test_outcome_mix_follows_the_scenario(tmp_path: Path) -> None:
    data = {
        "calls": 4000,
        "traffic": {"cps": 200},
        "outcomes": {"answered": 0.5, "user_busy": 0.2, "caller_abandon": 0.2, "network": {34: 0.1}},
    }
    _, truth, _, _ = run(tmp_path, data, calls=4000)
    share = Counter(r["outcome"] for r in truth)
    assert abs(share["answered"] / 4000 - 0.5) < 0.04
    assert abs(share["subscriber"] / 4000 - 0.2) < 0.03
    assert abs(share["caller"] / 4000 - 0.2) < 0.03
    assert abs(share["network"] / 4000 - 0.1) < 0.02
    assert Counter(r["cause"] for r in truth if r["outcome"] == "network") == Counter({34: share["network"]})


def test_busy_hours_shape_the_arrivals(tmp_path: Path) -> None:
    data = {
        "calls": 600,
        "traffic": {"cps": 0.5, "busy_hours": ["09:00-09:10"], "off_peak": 0.1},
        "capture": {"start": "2024-03-01T08:55:00+08:00"},
    }
    _, truth, _, _ = run(tmp_path, data)
    start = 1709254500.0  # 08:55 local
    busy = sum(1 for r in truth if start + 300 <= r["start"] < start + 900)
    quiet = sum(1 for r in truth if start <= r["start"] < start + 300)
    assert busy / 600 > 4 * quiet / 300  # 10x the rate in the busy period


# -- faults, one by one: the ladders in the decoded capture ------------------------------------------------


def _one_fault(
    tmp_path: Path, fault: dict[str, Any], **trunk: Any
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[int, list[Any]], list[Any]]:
    _, truth, events, msgs = run(tmp_path, small([fault], calls=40, **trunk), name=fault["type"])
    return truth, events, calls_by_iam(msgs), msgs


def test_incomplete_digit_collection_ladder(tmp_path: Path) -> None:
    fault = {
        "type": "incomplete-digit-collection",
        "count": 12,
        "iam_digits": 7,
        "calling": "01058722000",
        "called_prefix": "0453114",
        "crossing_share": 0.4,
    }
    truth, _, calls, _ = _one_fault(tmp_path, fault)
    rows = [r for r in truth if r["fault"] == "incomplete-digit-collection"]
    assert len(rows) == 12
    kinds: Counter[str] = Counter()
    for row in rows:
        ms = calls[row["iam_frame"]]
        iam = ms[0]
        assert (iam.called, iam.called_complete, iam.calling) == ("0453114", False, "01058722000")
        assert row["outcome"] == "network" and row["cause"] == 38 and row["released_by"] == "called"
        types = [m.type for m in ms]
        rel = next(m for m in ms if m.type == "REL")
        assert rel.opc == row["dpc"]  # backward
        sams = [m for m in ms if m.type == "SAM"]
        if types.index("REL") > max(i for i, t in enumerate(types) if t == "SAM"):
            gap_ms = (rel.ts - sams[-1].ts) * 1000
            assert 0 < gap_ms <= 40, gap_ms
            kinds["gap"] += 1
        else:
            assert sams[-1].ts > rel.ts  # the REL crosses the SAM
            kinds["crossing"] += 1
    assert kinds["gap"] and kinds["crossing"]


def test_timer_faults(tmp_path: Path) -> None:
    truth, _, calls, _ = _one_fault(tmp_path, {"type": "t35-expiry", "count": 3})
    for row in (r for r in truth if r["fault"] == "t35-expiry"):
        ms = calls[row["iam_frame"]]
        rel = next(m for m in ms if m.type == "REL")
        last_digit = max(m.ts for m in ms if m.type in ("IAM", "SAM"))
        assert rel.cause == 28 and rel.opc == row["dpc"] and 15 <= rel.ts - last_digit <= 20
        assert not ms[0].called_complete and row["outcome"] == "caller"
    truth, _, calls, _ = _one_fault(tmp_path, {"type": "t7-expiry", "count": 3})
    for row in (r for r in truth if r["fault"] == "t7-expiry"):
        ms = calls[row["iam_frame"]]
        assert [m.type for m in ms if m.opc == row["dpc"]] == ["RLC"]  # nothing backward before the REL
        rel = next(m for m in ms if m.type == "REL")
        assert rel.cause == 102 and rel.opc == row["opc"] and 20 <= rel.ts - ms[0].ts <= 31


def test_release_faults(tmp_path: Path) -> None:
    truth, _, calls, _ = _one_fault(tmp_path, {"type": "release-not-acknowledged", "count": 3})
    for row in (r for r in truth if r["fault"] == "release-not-acknowledged"):
        types = [m.type for m in calls[row["iam_frame"]]]
        rels = [i for i, t in enumerate(types) if t == "REL"]
        assert len(rels) >= 2 and "RLC" not in types[rels[0] : rels[-1]]
    truth, _, calls, _ = _one_fault(tmp_path, {"type": "release-collision", "count": 3})
    for row in (r for r in truth if r["fault"] == "release-collision"):
        ms = calls[row["iam_frame"]]
        rel_msgs = [m for m in ms if m.type == "REL"]
        assert len(rel_msgs) == 2 and rel_msgs[0].opc != rel_msgs[1].opc
        assert abs(rel_msgs[1].ts - rel_msgs[0].ts) < 0.01
        assert sum(1 for m in ms if m.type == "RLC") == 2


def test_circuit_faults(tmp_path: Path) -> None:
    truth, _, calls, msgs = _one_fault(tmp_path, {"type": "dual-seizure", "count": 3})
    backed = [r for r in truth if r["fault"] == "dual-seizure"]
    assert len(backed) == 3
    for row in backed:
        winner = next(r for r in truth if r["call_id"] == row["related_call_id"])
        assert winner["related_call_id"] == row["call_id"]
        assert (winner["cic"], winner["opc"], winner["dpc"]) == (row["cic"], row["dpc"], row["opc"])
        assert 0 < row["start"] - winner["start"] < 0.004
        assert (winner["cic"] % 2 == 0) == (winner["opc"] > winner["dpc"])  # Q.764: who controls the circuit
        assert any(
            r["related_call_id"] == row["call_id"] and r["fault"] is None and r["opc"] == row["opc"]
            for r in truth
        )  # the retry
    truth, _, calls, _ = _one_fault(tmp_path, {"type": "unequipped-circuit", "count": 2})
    for row in (r for r in truth if r["fault"] == "unequipped-circuit"):
        assert [m.type for m in calls[row["iam_frame"]]] == ["IAM", "UCIC"]
        retry = next(r for r in truth if r["related_call_id"] == row["call_id"])
        assert retry["cic"] != row["cic"] and retry["called"] == row["called"]
        assert not any(r["cic"] == row["cic"] and r["start"] > row["start"] for r in truth)  # out of service
    _, events, _, msgs = _one_fault(
        tmp_path, {"type": "circuit-reset-burst", "start_s": 5, "rsc": 4, "grs": 1}
    )
    types = Counter(m.type for m in msgs)
    assert types["RSC"] == 4 and types["GRS"] == 1 and types["GRA"] == 1
    (ev,) = events
    assert ev["fault"] == "circuit-reset-burst" and len(ev["rsc_cics"]) == 4
    truth, events, calls, msgs = _one_fault(
        tmp_path,
        {
            "type": "blocked-circuit-attempt",
            "start_s": 5,
            "circuits": 3,
            "group": True,
            "attempts": 2,
            "blocked_s": 10,
        },
    )
    (ev,) = events
    attempts = [r for r in truth if r["fault"] == "blocked-circuit-attempt"]
    assert len(attempts) == 2 and all(r["cic"] in ev["cics"] and r["cause"] == 44 for r in attempts)
    types = Counter(m.type for m in msgs)
    assert types["CGB"] == types["CGBA"] == types["CGU"] == types["CGUA"] == 1
    cgb = next(m for m in msgs if m.type == "CGB")
    assert cgb.params["range_and_status"]["status_bits"] == "111"
    for r in attempts:
        assert ev["window_start"] < r["start"] < ev["window_end"]


def test_burst_and_group_faults(tmp_path: Path) -> None:
    truth, events, _, _ = _one_fault(
        tmp_path, {"type": "congestion-burst", "start_s": 3, "count": 6, "duration_s": 5}
    )
    rows = [r for r in truth if r["fault"] == "congestion-burst"]
    assert len(rows) == 6 and {r["cause"] for r in rows} <= {34, 42}
    (ev,) = events
    assert all(ev["window_start"] <= r["start"] <= ev["window_end"] for r in rows)
    truth, events, _, _ = _one_fault(
        tmp_path, {"type": "repeat-attempts", "start_s": 3, "count": 1, "attempts": 5}
    )
    rows = [r for r in truth if r["fault"] == "repeat-attempts"]
    assert len(rows) == 5 and len({(r["called"], r["calling"], r["group"]) for r in rows}) == 1
    truth, _, _, _ = _one_fault(tmp_path, {"type": "short-answered-calls", "start_s": 3, "count": 4})
    rows = [r for r in truth if r["fault"] == "short-answered-calls"]
    assert len(rows) == 4 and all(r["answered"] and r["conversation_s"] <= 3 for r in rows)


def test_call_faults(tmp_path: Path) -> None:
    truth, _, calls, _ = _one_fault(tmp_path, {"type": "hung-call", "count": 2})
    for row in (r for r in truth if r["fault"] == "hung-call"):
        assert row["open"] and row["outcome"] == "answered"
        assert [m.type for m in calls[row["iam_frame"]]][-1] in ("ANM", "CON")
    truth, _, calls, _ = _one_fault(tmp_path, {"type": "calling-number-anomaly", "count": 16})
    rows = [r for r in truth if r["fault"] == "calling-number-anomaly"]
    for row in rows:
        iam = calls[row["iam_frame"]][0]
        kind = row["fault_detail"]
        if kind == "missing":
            assert "calling_party_number" not in iam.params
            continue
        cg = iam.params["calling_party_number"]
        if kind == "nai-spare":
            assert cg["nature_of_address"] == 0
        if kind == "plan-spare":
            assert cg["numbering_plan"] == 0
        if kind == "international-with-trunk-prefix":
            assert cg["nature_of_address"] == 4 and cg["digits"].startswith("0")
    truth, _, calls, _ = _one_fault(tmp_path, {"type": "confusion", "count": 2})
    for row in (r for r in truth if r["fault"] == "confusion"):
        ms = calls[row["iam_frame"]]
        cfn = next(m for m in ms if m.type == "CFN")
        assert cfn.cause == 97 and [m.type for m in ms].index("FAC") < [m.type for m in ms].index("CFN")
    truth, _, calls, _ = _one_fault(tmp_path, {"type": "hop-counter-exhausted", "count": 2})
    for row in (r for r in truth if r["fault"] == "hop-counter-exhausted"):
        ms = calls[row["iam_frame"]]
        assert ms[0].params["hop_counter"]["hop_counter"] == 1 and ms[1].cause == 25
    truth, events, _, msgs = _one_fault(tmp_path, {"type": "orphan-message", "count": 2})
    orphans = [e for e in events if e["fault"] == "orphan-message"]
    assert len(orphans) == 2 and all(e["reason"] == "iam-lost" for e in orphans)
    assert Counter(m.type for m in msgs)["IAM"] == len(truth)
    assert not {e["call_id"] for e in orphans} & {r["call_id"] for r in truth}


def test_healthy_traffic_has_no_fast_release_after_sam(tmp_path: Path) -> None:
    data = {"calls": 1500, "traffic": {"cps": 50, "overlap": {"share": 0.5}}}
    _, truth, _, msgs = run(tmp_path, data)
    assert not any(r["fault"] for r in truth)
    calls = calls_by_iam(msgs)
    overlap = 0
    for row in truth:
        ms = calls[row["iam_frame"]]
        sams = [m for m in ms if m.type == "SAM"]
        if not sams:
            continue
        overlap += 1
        rel = next((m for m in ms if m.type == "REL"), None)
        acm = next((m for m in ms if m.type in ("ACM", "CON")), None)
        if rel is not None and rel.opc == row["dpc"] and (acm is None or acm.ts > rel.ts):
            assert rel.ts - sams[-1].ts >= 1.5
    assert overlap > 500


# -- capture realism and transport sanity ------------------------------------------------------------------


def test_mid_call_start_open_calls_duplicates_and_jitter(tmp_path: Path) -> None:
    _, truth, events, msgs = run(tmp_path, yaml_data(CAPTURES / "realism.yaml"), calls=120)
    orphans = [e for e in events if e.get("reason") == "capture-started-mid-call"]
    assert orphans and all(e["messages"] and not e["messages"][0].startswith("IAM") for e in orphans)
    assert any(r["open"] for r in truth) and any(r["outcome"] == "unknown" for r in truth)
    ts = [m.ts for m in msgs]
    assert any(b < a for a, b in pairwise(ts))
    stp = [m for m in msgs if m.type == "IAM" and m.dpc == 2089]
    assert len(stp) == 2 * sum(1 for row in truth if row["trunk"] == "via-stp")
    _check_truth_against_decoder(truth, msgs)


def _sctp_records(path: Path) -> list[bytes]:
    data = path.read_bytes()
    pos, out = 24, []
    while pos < len(data):
        _, _, n, _ = struct.unpack_from("<IIII", data, pos)
        out.append(data[pos + 16 : pos + 16 + n])
        pos += 16 + n
    return out


def test_sctp_associations_are_sane(tmp_path: Path) -> None:
    r, _, _, _ = run(tmp_path, yaml_data(CAPTURES / "realism.yaml"), calls=100)
    last_tsn: dict[tuple[bytes, bytes, int, int], int] = {}
    last_ssn: dict[tuple[bytes, bytes, int, int, int], int] = {}
    vtags: dict[tuple[bytes, bytes, int, int], int] = {}
    for pkt in _sctp_records(r.path):
        off = 14
        ethertype = struct.unpack_from(">H", pkt, 12)[0]
        if ethertype == 0x8100:
            ethertype = struct.unpack_from(">H", pkt, 16)[0]
            off = 18
        if ethertype == 0x0800:
            src, dst, ip_len = pkt[off + 12 : off + 16], pkt[off + 16 : off + 20], 20
        else:
            src, dst, ip_len = pkt[off + 8 : off + 24], pkt[off + 24 : off + 40], 40
        sctp = pkt[off + ip_len :]
        sport, dport, vtag = struct.unpack_from(">HHI", sctp)
        assert crc32c(sctp[:8] + b"\0\0\0\0" + sctp[12:]) == int.from_bytes(sctp[8:12], "little")
        _, flags, clen, tsn, stream, ssn, ppid = struct.unpack_from(">BBHIHHI", sctp, 12)
        assert flags == 3 and ppid == 3 and stream >= 1 and 12 + ((clen + 3) & ~3) == len(sctp)
        key = (src, dst, sport, dport)
        assert vtags.setdefault(key, vtag) == vtag
        if key in last_tsn:
            assert tsn == (last_tsn[key] + 1) & 0xFFFFFFFF
        last_tsn[key] = tsn
        skey = (*key, stream)
        if skey in last_ssn:
            assert ssn == (last_ssn[skey] + 1) & 0xFFFF
        last_ssn[skey] = ssn
    assert len(last_tsn) == 2 * 4  # via-stp: two associations; shared-a/b: one; v6: one


def test_memory_is_bounded_by_calls_in_progress(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sigdiag.simulate import engine

    peaks: list[int] = []
    orig = engine._Run._flush_bucket

    def spy(self: Any, items: list[Any], b: int) -> None:
        peaks.append(sum(len(v) for v in self.buckets.values()) + len(self.releases))
        orig(self, items, b)

    monkeypatch.setattr(engine._Run, "_flush_bucket", spy)
    data = {"traffic": {"cps": 50, "holding_s": [5, 20]}}
    simulate(tmp_path / "a.pcap", parse_scenario(data, "<m>"), calls=1500, seed=1)
    small_peak, peaks[:] = max(peaks), []
    simulate(tmp_path / "b.pcap", parse_scenario(data, "<m>"), calls=6000, seed=1)
    assert max(peaks) < 1.5 * small_peak


# -- the example captures in captures/ ---------------------------------------------------------------------


def test_reference_fault_capture_reproduces_domain_section_4(tmp_path: Path) -> None:
    cap = CAPTURES / "reference-fault.pcap"
    truth = [json.loads(line) for line in (CAPTURES / "reference-fault.truth.jsonl").read_text().splitlines()]
    msgs = list(read_messages(cap))
    calls = calls_by_iam(msgs)
    faulty = [r for r in truth if r["fault"] == "incomplete-digit-collection"]
    healthy = [r for r in truth if r["fault"] is None]
    assert len(faulty) >= 10 and len(healthy) > 100
    few_ms_after_sam = 0
    for row in faulty:
        ms = calls[row["iam_frame"]]
        iam = ms[0]
        # decoded with defaults: the M3UA link's 24-bit point codes name the format (pc_format auto)
        assert (iam.protocol, iam.carrier, iam.pc_format) == ("bicc", "m3ua", "china")
        assert iam.opc > 0x3FFF or iam.dpc > 0x3FFF  # 24-bit China point codes
        cg = iam.params["calling_party_number"]
        assert (iam.called, iam.called_complete) == ("0453114", False)
        assert (cg["digits"], cg["nature_of_address"], cg["numbering_plan"]) == ("01058722000", 3, 1)
        sam = next(m for m in ms if m.type == "SAM")
        rel = next(m for m in ms if m.type == "REL")
        assert rel.cause == 38 and rel.opc == iam.dpc
        assert row["called"] == "0453114" + sam.subsequent
        if 0 < rel.ts - sam.ts < 0.05:
            few_ms_after_sam += 1
    assert few_ms_after_sam >= len(faulty) // 2
    # the simulator writes the shipped capture byte for byte from its scenario and seed
    r = simulate(tmp_path / "reference-fault.pcap", CAPTURES / "reference-fault.yaml", seed=17)
    assert r.path.read_bytes() == cap.read_bytes()
    assert r.truth_path.read_bytes() == (CAPTURES / "reference-fault.truth.jsonl").read_bytes()


def test_readme_lists_every_example_with_its_command() -> None:
    readme = (CAPTURES / "README.md").read_text()
    for scenario in CAPTURES.glob("*.yaml"):
        if scenario.name.endswith(".config.yaml"):
            continue
        assert f"--scenario captures/{scenario.name}" in readme, scenario.name
        caps = list(CAPTURES.glob(scenario.stem + ".pcap*"))
        assert caps, scenario.name
        assert all(p.stat().st_size < 400_000 for p in caps)


# -- output handling and the CLI ---------------------------------------------------------------------------


@pytest.mark.parametrize("worker", ["0", "1"])
def test_nothing_is_half_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, worker: str) -> None:
    from sigdiag.simulate import engine

    monkeypatch.setenv("SIGDIAG_SIMULATE_WORKER", worker)
    calls = 0

    def boom(self: Any, items: Any, b: int) -> None:
        nonlocal calls
        calls += 1
        if calls > 3:
            raise RuntimeError("disk on fire")
        orig(self, items, b)

    name = "_flush_remote" if worker == "1" else "_flush_bucket"  # the writer process's or this one's
    orig = getattr(engine._Run, name)
    monkeypatch.setattr(engine._Run, name, boom)
    with pytest.raises(RuntimeError):
        simulate(tmp_path / "x.pcap", None, calls=200, seed=1)
    assert list(tmp_path.iterdir()) == []


def test_cli(tmp_path: Path) -> None:
    from sigdiag.cli import app

    runner = CliRunner()
    out = tmp_path / "c.pcapng"
    res = runner.invoke(app, ["simulate", str(out), "--calls", "30", "--seed", "4"])
    assert res.exit_code == 0, res.output
    assert out.read_bytes()[:4] == b"\x0a\x0d\x0d\x0a"
    assert (tmp_path / "c.truth.jsonl").read_text().count("\n") == 30
    bad = tmp_path / "bad.yaml"
    bad.write_text("faults:\n  - {type: t7-expiry, rate: 2}\n")
    res = runner.invoke(app, ["simulate", str(tmp_path / "d.pcap"), "--scenario", str(bad)])
    assert res.exit_code == 2
    assert res.stderr.strip().count("\n") == 0 and f"{bad}:2:" in res.stderr
    assert not (tmp_path / "d.pcap").exists()
    res = runner.invoke(app, ["simulate", str(tmp_path / "e.pcap"), "--format", "pcapx"])
    assert res.exit_code == 2


@pytest.mark.parametrize(
    "scenario", sorted(p.name for p in CAPTURES.glob("*.yaml") if "config" not in p.name)
)
def test_every_shipped_capture_is_reproduced_byte_for_byte(tmp_path: Path, scenario: str) -> None:
    """The command in each example scenario's header writes the shipped capture, truth and events files
    again, byte for byte (the simulator's fast paths change no output)."""
    import re

    text = (CAPTURES / scenario).read_text()
    m = re.search(r"# Command: sigdiag simulate captures/(\S+) --scenario \S+ --seed (\d+)", text)
    assert m, f"{scenario} names no command"
    name, seed = m.group(1), int(m.group(2))
    r = simulate(tmp_path / name, CAPTURES / scenario, seed=seed)
    stem = name.rsplit(".", 1)[0]
    assert r.path.read_bytes() == (CAPTURES / name).read_bytes()
    assert r.truth_path.read_bytes() == (CAPTURES / f"{stem}.truth.jsonl").read_bytes()
    assert r.events_path.read_bytes() == (CAPTURES / f"{stem}.events.jsonl").read_bytes()
