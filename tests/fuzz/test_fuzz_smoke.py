"""A short, seeded fuzzing pass over every target (tests/fuzz/targets.py) and the replay of every kept
crasher (tests/fuzz/crashers/*.bin).  The long runs are ``scripts/fuzz --minutes N``.

The pass uses the python engine (tests/fuzz/engine.py): a fixed seed and a fixed number of inputs per
target, so it runs the same inputs every time (about 20 s in all).
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import pytest

from tests.fuzz import engine, targets

SEED = 14
#: Inputs per target: the seeds, then mutants (sized for about 20 s in all on one slow core).
COUNTS = {"capture": 1200, "frame": 30_000, "codec": 40_000, "rules": 2500}


def _report(stats: engine.Stats) -> str:
    lines = [f"{stats.target}: {len(stats.crashes)} crasher signature(s) in {stats.inputs} inputs"]
    for sig, c in stats.crashes.items():
        lines += [
            f"- {sig} ({stats.hits[sig]} inputs): {c.error}",
            f"  input ({len(c.data)} octets): {c.data[:80].hex()}",
            c.trace,
        ]
    return "\n".join(lines)


@pytest.mark.parametrize("target", sorted(COUNTS))
def test_seeded_pass_finds_no_crasher(target: str) -> None:
    assert targets.seeds(target), f"no seeds for {target}"
    stats = engine.run_python(target, SEED, count=COUNTS[target])
    assert stats.inputs == COUNTS[target]
    if stats.crashes:
        pytest.fail(_report(stats), pytrace=False)


@pytest.mark.parametrize("path", engine.crasher_files(), ids=lambda p: p.name)
def test_kept_crasher_no_longer_crashes(path: Path) -> None:
    target = engine.target_of(path)
    assert target in targets.TARGETS, f"{path.name}: no target {target!r}"
    crash = engine.run_one(target, path.read_bytes())
    if crash is not None:
        pytest.fail(f"{path.name}: {crash.signature}: {crash.error}\n{crash.trace}", pytrace=False)


def test_seeds_come_from_captures_and_rules() -> None:
    """Every capture seed is a capture, every frame seed yields a message, the codec seeds decode
    cleanly and the shipped rules load: the mutants start from good input."""
    for s in targets.seeds("capture"):
        assert s[:4] in targets._PCAP_MAGICS
    assert len(targets.seeds("capture")) >= len(list(targets.CAPTURES.glob("*.pcap*")))
    from sigdiag.codec import decode_bytes
    from sigdiag.decode import iter_messages
    from sigdiag.model import Frame

    with_message = 0
    for s in targets.seeds("frame"):
        frame = Frame(1, 0.0, targets.LINKTYPES[s[0]], s[2:], len(s) - 2)
        with_message += bool(list(iter_messages([frame], targets.SETTINGS[0], [])))
    assert with_message >= len(targets.seeds("frame")) * 3 // 4
    clean = 0
    for s in targets.seeds("codec"):
        protocol, variant, has_cic = targets.CODEC_MODES[s[0]]
        m = decode_bytes(s[1:], protocol=protocol, variant=variant, has_cic=has_cic)
        m.params  # noqa: B018
        clean += not m.anomalies
    assert clean >= len(targets.seeds("codec")) * 9 // 10
    loaded = 0
    for s in targets.seeds("rules"):
        try:
            targets.target_rules(s)
            loaded += 1
        except targets.RuleError:
            pass  # the scenario files among the seeds are not rules
    assert loaded >= len(list(targets.RULES.glob("*.yaml"))) - 1


def test_mutations_are_deterministic() -> None:
    n = len(targets.seeds("codec"))
    a = list(itertools.islice(engine.mutations("codec", 3), n + 3000))
    b = list(itertools.islice(engine.mutations("codec", 3), n + 3000))
    c = list(itertools.islice(engine.mutations("codec", 4), n + 3000))
    assert a[:n] == list(targets.seeds("codec"))  # every seed once first
    assert a == b
    assert a[n:] != c[n:]
    assert len(set(a[n:]) - set(a[:n])) > 2000  # mutants, not the seeds again
    assert all(len(x) <= targets.MAX_LEN["codec"] for x in a)


# --- the machinery can fail: crashes, documented errors, hangs, minimising -------------------------


def _fake(data: bytes) -> None:
    if b"XY" in data:
        raise IndexError("boom")
    if b"CE" in data:
        raise targets.CaptureError("not a capture")
    if b"SLOW" in data:
        end = time.monotonic() + 5
        while time.monotonic() < end:
            pass


@pytest.fixture
def fake_target(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setitem(targets.TARGETS, "fake", _fake)
    monkeypatch.setitem(targets.EXPECTED, "fake", (targets.CaptureError,))
    return "fake"


def test_run_one_tells_crashes_from_answers(fake_target: str) -> None:
    assert engine.run_one(fake_target, b"hello") is None
    assert engine.run_one(fake_target, b"..CE..") is None  # the documented error
    crash = engine.run_one(fake_target, b"..XY..")
    assert crash is not None
    assert crash.signature == "IndexError:test_fuzz_smoke.py:_fake"
    assert "boom" in crash.error
    start = time.monotonic()
    slow = engine.run_one(fake_target, b"SLOW", timeout=0.2)
    assert slow is not None and slow.signature.startswith("FuzzTimeout")
    assert time.monotonic() - start < 2


def test_an_alarm_already_set_is_put_back(fake_target: str) -> None:
    """pytest-timeout (and libFuzzer under atheris) time out with SIGALRM: the per-input alarm must
    leave their timer and handler as they were."""
    import signal

    def mine(signum: int, frame: object) -> None:
        raise AssertionError("not expected to fire")

    old = signal.signal(signal.SIGALRM, mine)
    old_timer = signal.setitimer(signal.ITIMER_REAL, 100, 50)
    try:
        assert engine.run_one(fake_target, b"hello") is None
        assert engine.run_one(fake_target, b"SLOW", timeout=0.1) is not None
        assert signal.getsignal(signal.SIGALRM) is mine
        delay, interval = signal.getitimer(signal.ITIMER_REAL)
        assert 90 < delay <= 100 and interval == 50
    finally:
        signal.setitimer(signal.ITIMER_REAL, *old_timer)
        signal.signal(signal.SIGALRM, old)


def test_minimise_keeps_the_signature(fake_target: str) -> None:
    data = b"a" * 300 + b"XY" + b"b" * 300
    sig = engine.run_one(fake_target, data).signature  # type: ignore[union-attr]
    assert engine.minimise(fake_target, data, sig, budget_s=20) == b"XY"


def test_crashers_are_saved_by_target_and_hash(tmp_path: Path) -> None:
    p = engine.save_crasher("codec", b"\x00\x01", tmp_path)
    assert p.name.startswith("codec-") and p.suffix == ".bin"
    assert engine.target_of(p) == "codec"
    assert engine.crasher_files(tmp_path) == [p]
    assert engine.save_crasher("codec", b"\x00\x01", tmp_path) == p  # same input, same file


# --- what the fuzzer found in the codec (tests/fuzz/crashers/codec-*.bin) ---------------------------


@pytest.mark.parametrize(
    "hexstr",
    [
        "e60006163b020900",  # ACM: the optional-part pointer skips an octet
        "0d03170200028290",  # GRS: the pointer skips an octet before the range and status
        "f700020202020008",  # SAM: the optional part lies inside the subsequent number
        "39022d0100",  # USR: the user-to-user information's length octet is the optional-part pointer
        "6e010c020202920000",  # REL: an optional parameter inside the cause indicators
    ],
)
def test_irregular_layouts_are_reported(hexstr: str) -> None:
    """Octets no parameter covers, or parameters that overlap, were decoded silently and did not
    re-encode to the same octets: now an anomaly says so."""
    from sigdiag.codec import decode_bytes, reencode

    m = decode_bytes(bytes.fromhex(hexstr))
    assert [a.name for a in m.anomalies] == ["isup.irregular_layout"]
    assert reencode(m) != bytes.fromhex(hexstr)
    canonical = reencode(m)  # what the encoder writes decodes with no anomaly, to the same parameters
    again = decode_bytes(canonical)
    assert again.anomalies == [] and again.raw_params == m.raw_params


def test_number_with_odd_indicator_and_no_digits_round_trips() -> None:
    from sigdiag.codec import decode_bytes, reencode

    data = bytes.fromhex("f10201061614000c0200028493")  # IAM: called number 84 93, odd, no digit octets
    m = decode_bytes(data)
    assert m.params["called_party_number"]["odd_even"] == 1
    assert m.params["called_party_number"]["digits"] == ""
    assert m.anomalies == []
    assert reencode(m) == data


def test_the_script_reports_inputs_and_rate() -> None:
    import subprocess
    import sys

    script = targets.ROOT / "scripts" / "fuzz"
    run = subprocess.run(
        [
            sys.executable,
            str(script),
            "--minutes",
            "0.03",
            "--target",
            "codec",
            "--engine",
            "python",
            "--no-save",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "codec" in run.stdout and "inputs/s" in run.stdout and "0 crasher signature(s)" in run.stdout
    bad = subprocess.run([sys.executable, str(script), "--minutes", "0"], capture_output=True, text=True)
    assert bad.returncode == 2 and "--minutes" in bad.stderr
