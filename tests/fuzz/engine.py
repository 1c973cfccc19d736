"""The fuzzing machinery behind ``scripts/fuzz`` and ``tests/fuzz/test_fuzz_smoke.py``.

Two engines drive the targets of :mod:`tests.fuzz.targets`:

* **atheris** (coverage-guided libFuzzer, ``pip install -e '.[fuzz]'``): ``scripts/fuzz`` runs one child
  process per target with the sigdiag modules instrumented, seeded with the target's seeds;
* **python**: a seeded byte mutator (bit flips, interesting integers, deletions, insertions, duplicated
  and spliced ranges, cross-over between seeds, YAML tokens for the rule target) with no coverage
  feedback: deterministic for a given seed and input count, and needs nothing beyond the test extras.

An input *crashes* a target when it raises anything but the target's documented errors
(:data:`tests.fuzz.targets.EXPECTED`), breaks a promise the target checks (``Broken``), or runs longer
than :data:`SLOW_S` (``FuzzTimeout``).  Crashers are grouped by :func:`signature` (exception type and the
innermost sigdiag frame), minimised (:func:`minimise`: the shortest input found with the same signature)
and saved as ``tests/fuzz/crashers/<target>-<sha1 prefix>.bin``, which the test suite replays.

This module imports sigdiag only inside functions, so the atheris child can instrument it first.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import signal
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CRASHERS = HERE / "crashers"

#: An input that runs longer than this is a crasher too (a hang, or work out of proportion to the input).
SLOW_S = 10.0

#: Tokens the mutator inserts into rule files (and libFuzzer's dictionary for the rules target).
YAML_TOKENS = (
    b"&a ", b"*a", b"<<: *a\n", b"[", b"]", b"{", b"}", b"- ", b": ", b", ", b"\n", b"\n  ", b"\n    - ",
    b"!!python/object:os.system", b"!!binary ", b"!!int ", b"!!str ", b"!!float ", b"!!set ", b"!!omap ",
    b"? ", b"|\n  ", b">-\n  ", b"~", b"null", b"true", b"yes", b"0x7fffffff", b"1e309", b"-1", b".nan",
    b"-.inf", b"'", b'"', b"\\", b"#", b"%YAML 1.1\n", b"---\n", b"...\n", b"\t", b"\xef\xbb\xbf",
    b"any:", b"all:", b"not:", b"when:", b"settings:", b"id: ", b"severity: ", b"category: ", b"message:",
    b"evidence:", b"type: ", b"scope: ", b"window", b"count", b"threshold", b"cause", b"called", b"msg.",
    b"call.", b"==", b"!=", b" in ", b">=", b"{{", b"}}", b"$", b"9" * 30,
)  # fmt: skip

_INTERESTING = (0, 1, 2, 3, 4, 7, 8, 0x0F, 0x10, 0x1F, 0x20, 0x3F, 0x40, 0x7F, 0x80, 0xFF, 0x100, 0x3FFF,
                0x4000, 0x7FFF, 0x8000, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF)  # fmt: skip


class FuzzTimeout(BaseException):
    """Raised by the alarm when one input runs past the time limit (a BaseException, so that the
    ``except Exception`` guards of the decoders do not swallow it)."""


@dataclass
class Crash:
    target: str
    data: bytes
    signature: str
    error: str
    trace: str = ""


@dataclass
class Stats:
    target: str
    engine: str
    inputs: int = 0
    seconds: float = 0.0
    crashes: dict[str, Crash] = field(default_factory=dict)  # by signature: the first input seen
    hits: dict[str, int] = field(default_factory=dict)  # inputs per signature

    @property
    def rate(self) -> float:
        return self.inputs / self.seconds if self.seconds > 0 else 0.0


def targets() -> dict[str, Callable[[bytes], None]]:
    from tests.fuzz.targets import TARGETS

    return TARGETS


def expected(target: str) -> tuple[type[BaseException], ...]:
    from tests.fuzz.targets import EXPECTED

    return EXPECTED[target]


# ------------------------------------------------------------------------------------------------
# running one input


def signature(exc: BaseException) -> str:
    """What makes two crashes the same bug: the exception type, the innermost frame in sigdiag (or the
    harness), and for a broken promise the kind of promise."""
    where = ""
    for fs in traceback.extract_tb(exc.__traceback__):
        if "/sigdiag/" in fs.filename or "/tests/fuzz/" in fs.filename:
            where = f"{Path(fs.filename).name}:{fs.name}"
    name = type(exc).__name__
    if name == "Broken":
        head = ":".join(str(exc).split(":")[:2])
        return f"Broken:{re.sub(r'[0-9a-f]{6,}|[0-9]+', '#', head)[:80]}"
    if name == "FuzzTimeout":
        return f"FuzzTimeout:{where}"
    return f"{name}:{where}"


class _Alarm:
    """SIGALRM after ``seconds`` (raising :class:`FuzzTimeout`); an alarm already set (pytest-timeout's,
    libFuzzer's periodic one under atheris) is put back afterwards with its handler and remaining time.

    A signal is handled by Python a little after it arrives, with whatever handler is installed then:
    another timer's alarm can reach :func:`_on_alarm`, which therefore raises only once this alarm's own
    time is up."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.armed = False
        self.old_handler: Any = None
        self.old_delay = 0.0
        self.old_interval = 0.0
        self.started = 0.0

    def __enter__(self) -> None:
        if self.seconds > 0 and hasattr(signal, "setitimer"):
            self.started = time.monotonic()
            _deadline[0] = self.started + self.seconds
            self.old_handler = signal.signal(signal.SIGALRM, _on_alarm)
            _previous[0] = self.old_handler
            self.old_delay, self.old_interval = signal.setitimer(signal.ITIMER_REAL, self.seconds)
            self.armed = True

    def __exit__(self, *exc: object) -> None:
        if self.armed:
            signal.setitimer(signal.ITIMER_REAL, 0)
            _deadline[0] = float("inf")
            signal.signal(signal.SIGALRM, self.old_handler)
            if self.old_delay > 0:
                left = self.old_delay - (time.monotonic() - self.started)
                signal.setitimer(signal.ITIMER_REAL, max(left, 0.001), self.old_interval)


#: When the armed :class:`_Alarm` is due (monotonic seconds; infinity when none is armed), and the
#: handler it replaced.
_deadline = [float("inf")]
_previous: list[Any] = [None]


def _on_alarm(signum: int, frame: Any) -> None:
    if time.monotonic() >= _deadline[0] - 0.01:
        raise FuzzTimeout("one input ran past the time limit")
    # another timer's alarm, handled late: its own handler's business
    previous = _previous[0]
    if callable(previous):
        previous(signum, frame)


def run_one(target: str, data: bytes, timeout: float = SLOW_S) -> Crash | None:
    """Run ``target`` on ``data``: None when it answers (returns, or raises a documented error), else
    the :class:`Crash`."""
    fn = targets()[target]
    allowed = expected(target)
    try:
        with _Alarm(timeout):
            fn(data)
    except allowed:
        return None
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # the point: anything else is a crasher
        trace = "".join(traceback.format_exception(exc)[-12:])
        return Crash(target, data, signature(exc), f"{type(exc).__name__}: {str(exc)[:500]}", trace)
    return None


# ------------------------------------------------------------------------------------------------
# the python engine


class Mutator:
    """libFuzzer-like byte mutations of a seed pool, from one :class:`random.Random`."""

    def __init__(
        self, seeds: Iterable[bytes], rng: random.Random, max_len: int, tokens: tuple[bytes, ...] = ()
    ):
        self.pool = [s[:max_len] for s in seeds] or [b""]
        self.rng = rng
        self.max_len = max_len
        self.tokens = tokens
        self.last = self.pool[0]

    def __call__(self) -> bytes:
        rng = self.rng
        base = self.last if rng.random() < 0.2 else rng.choice(self.pool)
        data = bytearray(base)
        for _ in range(1 + min(7, int(rng.expovariate(0.6)))):
            self._mutate(data)
        out = bytes(data[: self.max_len])
        self.last = out
        return out

    def _mutate(self, d: bytearray) -> None:
        rng = self.rng
        n = len(d)
        op = rng.randrange(11 if self.tokens else 10)
        if n == 0 or op == 9:
            pos = rng.randint(0, n)
            d[pos:pos] = rng.randbytes(rng.randint(1, 8))
            return
        pos = rng.randrange(n)
        if op == 0:  # flip bits
            for _ in range(rng.randint(1, 4)):
                d[rng.randrange(n)] ^= 1 << rng.randrange(8)
        elif op == 1:  # a random octet
            d[pos] = rng.randrange(256)
        elif op == 2:  # an interesting integer of 1, 2 or 4 octets, either byte order
            width = rng.choice((1, 2, 4))
            v = rng.choice(_INTERESTING) & ((1 << (8 * width)) - 1)
            d[pos : pos + width] = v.to_bytes(width, rng.choice(("big", "little")))
        elif op == 3:  # small arithmetic on one octet
            d[pos] = (d[pos] + rng.randint(-16, 16)) & 0xFF
        elif op == 4:  # delete a range
            del d[pos : pos + rng.randint(1, max(1, min(64, n // 4 or 1)))]
        elif op == 5:  # duplicate a range
            end = min(n, pos + rng.randint(1, 64))
            at = rng.randint(0, n)
            d[at:at] = d[pos:end]
        elif op == 6:  # splice a range of another seed in
            other = rng.choice(self.pool)
            if other:
                a = rng.randrange(len(other))
                chunk = other[a : a + rng.randint(1, 128)]
                d[pos : pos + (len(chunk) if rng.random() < 0.5 else 0)] = chunk
        elif op == 7:  # truncate
            del d[rng.randint(0, n - 1) :]
        elif op == 8:  # overwrite a range with random octets
            k = rng.randint(1, 16)
            d[pos : pos + k] = rng.randbytes(k)
        else:  # op 10: a token
            tok = rng.choice(self.tokens)
            d[pos : pos + (len(tok) if rng.random() < 0.3 else 0)] = tok


def mutations(target: str, seed: int) -> Iterator[bytes]:
    """The python engine's inputs for ``target``: every seed once, then mutants, forever."""
    from tests.fuzz.targets import MAX_LEN, seeds

    pool = seeds(target)
    yield from pool
    mut = Mutator(pool, random.Random(f"{target}:{seed}"), MAX_LEN[target],
                  YAML_TOKENS if target == "rules" else ())  # fmt: skip
    while True:
        yield mut()


def run_python(
    target: str,
    seed: int,
    *,
    seconds: float | None = None,
    count: int | None = None,
    timeout: float = SLOW_S,
) -> Stats:
    """Fuzz ``target`` with the python engine for ``seconds`` or ``count`` inputs (whichever comes first)."""
    stats = Stats(target, "python")
    start = time.monotonic()
    deadline = start + seconds if seconds is not None else None
    for data in mutations(target, seed):
        if count is not None and stats.inputs >= count:
            break
        if deadline is not None and stats.inputs % 16 == 0 and time.monotonic() >= deadline:
            break
        stats.inputs += 1
        crash = run_one(target, data, timeout)
        if crash is not None:
            stats.hits[crash.signature] = stats.hits.get(crash.signature, 0) + 1
            stats.crashes.setdefault(crash.signature, crash)
    stats.seconds = time.monotonic() - start
    return stats


# ------------------------------------------------------------------------------------------------
# the atheris engine (inside the child process scripts/fuzz starts per target)


def atheris_child(target: str, seed: int, seconds: float, workdir: Path, timeout: float = SLOW_S) -> None:
    """Run libFuzzer through atheris on ``target`` for ``seconds``; write ``stats.json`` and one
    ``crash-<n>.json`` per new signature into ``workdir``.  Never returns."""
    import atheris

    with atheris.instrument_imports(include=["sigdiag", "yaml"] if target == "rules" else ["sigdiag"]):
        import tests.fuzz.targets as t

        _import_all("sigdiag")  # sigdiag imports some modules lazily: instrument them now

    corpus = workdir / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    for i, s in enumerate(t.seeds(target)):
        (corpus / f"seed-{i:04d}").write_bytes(s)
    stats = Stats(target, "atheris")
    start = time.monotonic()
    deadline = start + seconds

    def save_stats() -> None:
        stats.seconds = time.monotonic() - start
        (workdir / "stats.json").write_text(
            json.dumps({"inputs": stats.inputs, "seconds": stats.seconds, "hits": stats.hits})
        )

    last_save = [start]

    def one(data: bytes) -> None:
        stats.inputs += 1
        crash = run_one(target, data, timeout)
        if crash is not None:
            if crash.signature not in stats.hits:
                (workdir / f"crash-{len(stats.hits)}.json").write_text(
                    json.dumps(
                        {
                            "signature": crash.signature,
                            "error": crash.error,
                            "trace": crash.trace,
                            "data": crash.data.hex(),
                        }
                    )
                )
            stats.hits[crash.signature] = stats.hits.get(crash.signature, 0) + 1
        now = time.monotonic()
        if now - last_save[0] > 2:
            last_save[0] = now
            save_stats()
        if now >= deadline:
            save_stats()
            t.cleanup()
            os._exit(0)

    args = [
        "fuzz",
        str(corpus),
        f"-seed={seed}",
        f"-max_len={t.MAX_LEN[target]}",
        f"-max_total_time={int(seconds) + 30}",
        f"-timeout={int(timeout * 3)}",
        "-rss_limit_mb=4096",
        "-print_final_stats=1",
        "-print_pcs=0",
    ]
    if target == "rules":
        dict_file = workdir / "yaml.dict"
        dict_file.write_text("".join(f'"{_dict_escape(tok)}"\n' for tok in YAML_TOKENS))
        args.append(f"-dict={dict_file}")
    atheris.Setup(args, one)
    atheris.Fuzz()
    save_stats()
    t.cleanup()
    os._exit(0)


def _import_all(package: str) -> None:
    import importlib
    import pkgutil

    pkg = importlib.import_module(package)
    for info in pkgutil.walk_packages(pkg.__path__, f"{package}."):
        if info.name.endswith((".cli", "__main__")):
            continue
        try:
            importlib.import_module(info.name)
        except Exception:  # an optional dependency missing: that module is simply not instrumented
            continue


def _dict_escape(tok: bytes) -> str:
    return "".join(chr(b) if 32 <= b < 127 and b not in (34, 92) else f"\\x{b:02X}" for b in tok)


# ------------------------------------------------------------------------------------------------
# minimising and keeping crashers


def minimise(target: str, data: bytes, sig: str, budget_s: float = 60.0, timeout: float = SLOW_S) -> bytes:
    """The shortest input found, by removing ever smaller ranges, that still crashes ``target`` with
    signature ``sig`` (at most ``budget_s`` seconds of trying)."""
    deadline = time.monotonic() + budget_s

    def same(candidate: bytes) -> bool:
        c = run_one(target, candidate, timeout)
        return c is not None and c.signature == sig

    best = data
    chunk = max(1, len(best) // 2)
    while chunk >= 1 and time.monotonic() < deadline:
        progressed = False
        i = 0
        while i < len(best) and time.monotonic() < deadline:
            candidate = best[:i] + best[i + chunk :]
            if same(candidate):
                best = candidate
                progressed = True
            else:
                i += chunk
        if not progressed:
            chunk //= 2
    # then simpler octets where they do not matter: zero what can be zeroed (short inputs only)
    if len(best) <= 256:
        b = bytearray(best)
        for i in range(len(b)):
            if time.monotonic() >= deadline:
                break
            if b[i] not in (0, 0x30):
                keep = b[i]
                b[i] = 0x30 if target == "rules" else 0
                if not same(bytes(b)):
                    b[i] = keep
        best = bytes(b)
    return best


def crasher_files(folder: Path = CRASHERS) -> list[Path]:
    return sorted(p for p in folder.glob("*.bin") if p.is_file())


def target_of(path: Path) -> str:
    """``capture-0123abcd.bin`` -> ``capture``."""
    return path.stem.rsplit("-", 1)[0]


def save_crasher(target: str, data: bytes, folder: Path = CRASHERS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{target}-{hashlib.sha1(data).hexdigest()[:12]}.bin"
    path.write_bytes(data)
    return path


def known_signatures(target: str, folder: Path = CRASHERS) -> dict[str, Path]:
    """Signatures the kept crashers of ``target`` still produce (a fixed one produces none)."""
    out: dict[str, Path] = {}
    for p in crasher_files(folder):
        if target_of(p) == target:
            c = run_one(target, p.read_bytes())
            if c is not None:
                out.setdefault(c.signature, p)
    return out
