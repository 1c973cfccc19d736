"""``check`` with the rule engine in a second process (:mod:`sigdiag.rules.parallel`): the same findings in
the same order and the same summary as with the engine in-process, on every capture; calls survive the
pipeline's pickling intact; a failing or dying engine process is a clear error; an abandoned run stops it.
"""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path
from typing import Any

import pytest

from sigdiag.calls.pipeline import iter_calls
from sigdiag.calls.settings import CallSettings
from sigdiag.rules import check, parallel
from sigdiag.rules.check import PIPELINE_MIN_BYTES, CheckRun, _workers
from sigdiag.rules.parallel import EngineProcessError
from sigdiag.simulate import simulate

ROOT = Path(__file__).resolve().parents[2]
BUNDLED = sorted(p for p in (ROOT / "captures").iterdir() if p.suffix in (".pcap", ".pcapng"))

pytestmark = pytest.mark.skipif(not parallel.available(), reason="no fork start method")


def _run(paths: Any, workers: int, **kw: Any) -> tuple[str, dict[str, Any], CheckRun]:
    run = check(paths, workers=workers, **kw)
    found = json.dumps(
        [f.as_dict() | {"members": f.members, "file": f.file} for f in run], default=str, sort_keys=True
    )
    return found, run.summary(), run


def _same(paths: Any, **kw: Any) -> int:
    one, s1, r1 = _run(paths, 1, **kw)
    two, s2, r2 = _run(paths, 2, **kw)
    assert r1.workers == 1 and r2.workers == 2
    assert two == one
    assert s2 == s1
    return s1["findings"]


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.name)
def test_bundled_captures_same_findings(path: Path) -> None:
    config = path.with_name(path.name.split(".")[0] + ".config.yaml")
    _same(path, config=config if config.exists() else None)


def test_all_faults_has_findings_of_many_rules() -> None:
    captures = ROOT / "captures"
    run = check(captures / "all-faults.pcap", workers=2, config=captures / "all-faults.config.yaml")
    rules = {f.rule for f in run}
    # the pipeline carries calls and circuit records
    assert {"circuit-reset-burst", "orphan-message", "incomplete-digit-collection", "dual-seizure"} <= rules
    assert run.summary()["calls"] > 100


def test_several_files_and_filters_same(tmp_path: Path) -> None:
    a = simulate(tmp_path / "a.pcap", ROOT / "rules" / "tests" / "congestion-burst.yaml", seed=1).path
    b = simulate(tmp_path / "b.pcap", ROOT / "rules" / "tests" / "hung-call.yaml", seed=2).path
    hold = ["hung-call.max_hold_s=60"]
    assert _same([a, b], settings=hold) > 0
    _same([b, a], min_severity="medium")
    two, _, _ = _run([a, b], 2, settings=hold)
    found = json.loads(two)
    # a burst names the file of its records (the congestion burst is in a, read first)
    assert {f["file"] for f in found} == {str(a), str(b)}
    assert {f["file"] for f in found if f["rule"] == "congestion-burst"} == {str(a)}
    # open calls: the engine process measures them to the capture end
    assert {"hung-call", "congestion-burst"} <= {f["rule"] for f in found}


def test_shared_captures_same_findings(shared_captures: Path) -> None:
    files = sorted(p for p in shared_captures.iterdir() if ".pcap" in p.name)
    assert files
    for p in files:
        _same(p)
    _same(files)


def _same_slots(a: Any, b: Any) -> None:
    assert type(b) is type(a)
    for name in type(a).__slots__:
        x, y = getattr(a, name), getattr(b, name)
        if hasattr(type(x), "__slots__") and not isinstance(x, tuple | list):
            _same_slots(x, y)  # a message
        elif isinstance(x, list) and x and hasattr(type(x[0]), "__slots__"):
            assert len(x) == len(y)
            for xi, yi in zip(x, y, strict=True):
                _same_slots(xi, yi)
        else:
            assert y == x, name


def test_pickled_calls_are_intact() -> None:
    calls = list(iter_calls(ROOT / "captures" / "all-faults.pcap", settings=CallSettings(keep_messages=True)))
    back = pickle.loads(parallel.dumps(calls))
    assert len(back) == len(calls) > 100
    for c, d in zip(calls, back, strict=True):
        _same_slots(c, d)
        assert d.as_dict() == c.as_dict()
        assert [m.as_dict() for m in d.messages] == [m.as_dict() for m in c.messages]


def test_object_with_unset_slot_pickles_the_default_way() -> None:
    from sigdiag.model import Message

    m = object.__new__(Message)
    m.type = "IAM"  # every other slot unset
    back = pickle.loads(parallel.dumps([m]))[0]
    assert back.type == "IAM"
    assert not hasattr(back, "cic")


def test_workers_choice(tmp_path: Path) -> None:
    small = ROOT / "captures" / "reference-fault.pcap"
    assert small.stat().st_size < PIPELINE_MIN_BYTES
    assert _workers(None, [small]) == 1
    assert _workers(1, [small]) == 1
    assert _workers(2, [small]) == 2
    with pytest.raises(ValueError, match="1 or 2"):
        _workers(3, [small])
    big = tmp_path / "big.pcap"
    big.write_bytes(b"\0" * PIPELINE_MIN_BYTES)
    expect = 2 if parallel.cpus() >= 2 else 1
    assert _workers(None, [big]) == expect
    assert _workers(None, [tmp_path / "missing.pcap"]) == 1


def _boom(call: Any) -> None:
    raise ZeroDivisionError("rule went wrong")


def test_engine_error_is_reported() -> None:
    run = check(ROOT / "captures" / "healthy.pcap", workers=2)
    run.engine.refine = _boom  # type: ignore[method-assign]
    with pytest.raises(EngineProcessError, match="ZeroDivisionError: rule went wrong") as err:
        list(run)
    assert "Traceback" not in str(err.value)  # the message is one line; the traceback is kept apart
    assert err.value.traceback is not None and "_boom" in err.value.traceback


def _die(call: Any) -> None:
    os._exit(7)


def test_dead_engine_process_is_reported() -> None:
    run = check(ROOT / "captures" / "healthy.pcap", workers=2)
    run.engine.refine = _die  # type: ignore[method-assign]
    with pytest.raises(EngineProcessError, match="exit code 7"):
        list(run)


def test_abandoned_run_stops_the_engine_process(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[parallel.EngineProcess] = []
    real = parallel.EngineProcess

    def spy(engine: Any) -> parallel.EngineProcess:
        p = real(engine)
        made.append(p)
        return p

    monkeypatch.setattr(parallel, "EngineProcess", spy)
    run = check(ROOT / "captures" / "all-faults.pcap", workers=2)
    it = iter(run)
    first = next(it)
    assert first.rule
    it.close()  # type: ignore[attr-defined]
    assert len(made) == 1
    assert not made[0]._proc.is_alive()
    assert made[0]._proc.exitcode is not None


def test_cli_workers_option(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from sigdiag.cli import app

    path = ROOT / "captures" / "reference-fault.pcap"
    args = ["check", str(path), "--pc-format", "china", "--format", "jsonl"]
    one = CliRunner().invoke(app, [*args, "--workers", "1"])
    two = CliRunner().invoke(app, [*args, "--workers", "2"])
    assert one.exit_code == two.exit_code == 1
    assert two.stdout == one.stdout and one.stdout.count("incomplete-digit-collection") >= 14
    bad = CliRunner().invoke(app, [*args, "--workers", "3"])
    assert bad.exit_code == 2


def test_engine_process_ends_when_the_main_process_dies(tmp_path: Path) -> None:
    """A main process killed half-way leaves no engine process behind (it sees the input end, drops the
    findings nobody will read, and leaves)."""
    import subprocess
    import sys
    import time

    script = tmp_path / "main.py"
    script.write_text(
        "import os, sys\n"
        "from sigdiag.calls.pipeline import iter_calls\n"
        "from sigdiag.rules.engine import Batch, Engine\n"
        "from sigdiag.rules.loader import load_rules\n"
        "from sigdiag.rules.parallel import EngineProcess\n"
        "calls = list(iter_calls(sys.argv[1], refiners=()))\n"
        "p = EngineProcess(Engine(load_rules()))\n"
        "for _ in range(10):  # findings enough to fill the pipe back (nobody reads them)\n"
        "    b = Batch.new()\n"
        "    for c in calls:\n"
        "        b.add_call(c, c.last_ts if c.end_reason == 'open' else None)\n"
        "    p.send(b)\n"
        "print(p._proc.pid, flush=True)\n"
        "os._exit(0)  # dies without finishing or closing\n"
    )
    out = subprocess.run(
        [sys.executable, str(script), str(ROOT / "captures" / "all-faults.pcap")],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    pid = int(out.stdout.split()[0])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        with open(f"/proc/{pid}/stat") as f:  # a zombie waiting for its reaper is gone too
            if f.read().split(")")[-1].split()[0] == "Z":
                return
        time.sleep(0.2)
    os.kill(pid, 9)
    raise AssertionError("the engine process outlived the main process")
