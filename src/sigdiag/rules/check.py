"""``check``: captures in, findings out — decode, correlate, classify, evaluate the rules, filter.

:func:`check` returns a :class:`CheckRun`: iterate it for the findings (streaming; a call's findings come
when the call ends, bursts when they end), then read :meth:`CheckRun.summary`.  :func:`findings_frame`
gives the findings as a pandas DataFrame.  The filters (``number``, ``cic``, ``opc``, ``dpc``, ``since``,
``until``) select findings, not input: every call is still evaluated, so windowed rules see the whole
traffic; a windowed finding is kept when one of its calls passes.
"""

from __future__ import annotations

import contextlib
import gc
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sigdiag.rules.engine import FINDING_KEYS, Engine, Finding
from sigdiag.rules.loader import SEVERITIES, RuleSet, load_rules, parse_assignments

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["CheckRun", "FindingFilter", "check", "findings_frame", "outcome_refiner"]


class FindingFilter:
    """Which findings to report: about a number (called or calling, contains), a CIC, a point code
    (either side), a time range (epoch seconds), a minimum severity."""

    def __init__(
        self,
        number: str | None = None,
        cic: int | None = None,
        opc: int | None = None,
        dpc: int | None = None,
        since: float | None = None,
        until: float | None = None,
        min_severity: str | None = None,
    ) -> None:
        self.number = number
        self.cic = cic
        self.opc = opc
        self.dpc = dpc
        self.since = since
        self.until = until
        self.level = SEVERITIES.index(min_severity) if min_severity else 0

    def _member_ok(self, m: Mapping[str, Any]) -> bool:
        number = self.number
        if (
            number is not None
            and number not in (m.get("called") or "")
            and number not in (m.get("calling") or "")
        ):
            return False
        if self.cic is not None and self.cic != m.get("cic") and self.cic not in (m.get("cics") or ()):
            return False
        pcs = (m.get("opc"), m.get("dpc"))
        if self.opc is not None and self.opc not in pcs:
            return False
        return not (self.dpc is not None and self.dpc not in pcs)

    def __call__(self, f: Finding) -> bool:
        if SEVERITIES.index(f.severity) < self.level:
            return False
        t_end = f.window_end if f.window_end is not None else f.ts
        if self.since is not None and t_end < self.since:
            return False
        if self.until is not None and f.ts > self.until:
            return False
        if f.members:
            return any(self._member_ok(m) for m in f.members)
        return self._member_ok(
            {"called": f.called, "calling": f.calling, "cic": f.cic, "opc": f.opc, "dpc": f.dpc}
        )


class CheckRun:
    """One ``check`` over one or several capture files: iterate for the findings, then :meth:`summary`.

    The files are opened when the run is made (a file that is not a capture fails before any output);
    ``readers`` are the :class:`~sigdiag.calls.pipeline.CallReader` of each file (decoding anomalies,
    correlation counters)."""

    def __init__(
        self,
        paths: Iterable[str | PathLike[str]],
        rules: RuleSet,
        flt: FindingFilter,
        trunks: Any = None,
        call_settings: Any = None,
        outcomes: Any = None,
        decode_settings: Any = None,
        pc: Any = str,
        workers: int | None = None,
    ) -> None:
        from sigdiag.calls.correlate import Correlator
        from sigdiag.calls.outcomes import OutcomeTable, load_outcomes
        from sigdiag.calls.pipeline import CallReader
        from sigdiag.calls.settings import CallSettings
        from sigdiag.settings import DecodeSettings

        self.rules = rules
        self.filter = flt
        self.engine = Engine(rules, trunks, pc=pc)
        # ladders and parameter conditions decode the few messages they need again from the call's
        # timeline octets: the calls need not keep their decoded messages (that would cost more)
        csettings = call_settings or CallSettings(keep_messages=False)
        table = outcomes if isinstance(outcomes, OutcomeTable) else load_outcomes(outcomes)
        dsettings = decode_settings or DecodeSettings()
        files = [Path(p) for p in paths]
        self.workers = _workers(workers, files)
        # with two workers the engine runs in a second process (sigdiag.rules.parallel): the correlator's
        # records and the finished calls go into its batches, in the order the engine would see them here
        self._batch: list[tuple[Any, ...]] = []
        if self.workers == 2:
            from sigdiag.rules.parallel import RECORD

            batch = self._batch
            circuit_record, orphan_record = Engine.circuit_record, Engine.orphan_record
            on_circuit = lambda ev: batch.append((RECORD, circuit_record(ev)))  # noqa: E731
            on_orphan = lambda o: batch.append((RECORD, orphan_record(o)))  # noqa: E731
            refiners: list[Any] = []
        else:
            on_circuit, on_orphan = self.engine.circuit_event, self.engine.orphan
            refiners = [self.engine.refine]
        self.readers: list[tuple[Path, Any]] = []
        for p in files:
            correlator = Correlator(csettings, table, on_orphan=on_orphan, on_circuit_event=on_circuit)
            reader = CallReader(p, dsettings, csettings, table, refiners, None, correlator)
            self.readers.append((p, reader))
        self.by_rule: Counter[str] = Counter()
        self.by_trunk: Counter[str] = Counter()
        self.by_severity: Counter[str] = Counter()
        self.outcomes: Counter[str] = Counter()
        self.calls = 0
        self._done = False

    def __iter__(self) -> Iterator[Finding]:
        with fewer_collections():
            if self.workers == 2:
                yield from self._pipeline()
            else:
                yield from self._in_process()

    def _in_process(self) -> Iterator[Finding]:
        engine = self.engine
        keep = self.filter
        for path, reader in self.readers:
            engine.file = str(path)
            engine.clock = lambda c=reader.correlator: c.now
            for call in reader:
                self.calls += 1
                self.outcomes[call.outcome] += 1
                if engine.findings:
                    yield from self._emit(engine.take(), keep)
            if engine.findings:
                yield from self._emit(engine.take(), keep)
        engine.finish()
        yield from self._emit(engine.take(), keep)
        self._done = True

    def _pipeline(self) -> Iterator[Finding]:
        """The same run with the engine in a second process (:mod:`sigdiag.rules.parallel`)."""
        from sigdiag.rules.parallel import BATCH, CALL, FILE, EngineProcess

        keep = self.filter
        batch = self._batch
        proc = EngineProcess(self.engine)
        try:
            for path, reader in self.readers:
                batch.append((FILE, str(path)))
                correlator = reader.correlator
                for call in reader:
                    self.calls += 1
                    batch.append((CALL, call, correlator.now if call.end_reason == "open" else None))
                    if len(batch) >= BATCH:
                        proc.send(batch[:])
                        batch.clear()
                        found = proc.findings()
                        if found:
                            yield from self._emit(found, keep)
            proc.send(batch[:])
            batch.clear()
            found = proc.finish()
            self.outcomes.update(proc.outcomes)
            yield from self._emit(found, keep)
        finally:
            proc.close()
        self._done = True

    def _emit(self, findings: list[Finding], keep: FindingFilter) -> Iterator[Finding]:
        for f in findings:
            if keep(f):
                self.by_rule[f.rule] += 1
                self.by_trunk[f.trunk or "-"] += 1
                self.by_severity[f.severity] += 1
                yield f

    def summary(self) -> dict[str, Any]:
        """Counts once the findings have been read: calls, messages, outcomes, findings per rule, per
        trunk and per severity."""
        messages = sum(r.correlator.messages for _, r in self.readers)
        return {
            "files": [str(p) for p, _ in self.readers],
            "calls": self.calls,
            "messages": messages,
            "outcomes": dict(sorted(self.outcomes.items())),
            "findings": sum(self.by_rule.values()),
            "by_rule": dict(self.by_rule.most_common()),
            "by_trunk": dict(self.by_trunk.most_common()),
            "by_severity": {s: self.by_severity[s] for s in reversed(SEVERITIES) if self.by_severity[s]},
            "rules": len(self.rules),
        }

    def worst(self) -> str | None:
        """The highest severity reported (None without findings)."""
        for s in reversed(SEVERITIES):
            if self.by_severity[s]:
                return s
        return None


#: allocations between two collections of the youngest generation while ``check`` runs (Python's default
#: is 700): a run allocates millions of short-lived containers and makes no reference cycles, and the
#: collector's passes cost a tenth of the decoder's time with the default
GC_GEN0 = 100_000


@contextlib.contextmanager
def fewer_collections(gen0: int = GC_GEN0) -> Iterator[None]:
    """Run with the cyclic garbage collector's youngest-generation threshold raised to ``gen0`` (restored
    afterwards; cycles are still collected, less often)."""
    old = gc.get_threshold()
    gc.set_threshold(max(gen0, old[0]), *old[1:])
    try:
        yield
    finally:
        gc.set_threshold(*old)


#: inputs smaller than this are checked in one process (starting the engine process costs more)
PIPELINE_MIN_BYTES = 4_000_000


def _workers(workers: int | None, paths: list[Path]) -> int:
    """1 (the engine in this process) or 2 (in a second process).  None: 2 with at least two CPUs, ``fork``
    and :data:`PIPELINE_MIN_BYTES` of input."""
    from sigdiag.rules import parallel

    if workers is not None:
        if workers not in (1, 2):
            raise ValueError(f"workers must be 1 or 2, not {workers}")
        return 2 if workers == 2 and parallel.available() else 1
    if parallel.cpus() < 2 or not parallel.available():
        return 1
    size = 0
    for p in paths:
        with contextlib.suppress(OSError):  # the reader reports it
            size += p.stat().st_size
    return 2 if size >= PIPELINE_MIN_BYTES else 1


def check(
    paths: str | PathLike[str] | Iterable[str | PathLike[str]],
    *,
    rules: RuleSet | None = None,
    rule_dirs: Iterable[str | PathLike[str]] = (),
    settings: Mapping[str, Mapping[str, Any]] | Iterable[str] | None = None,
    trunks: Any = None,
    number: str | None = None,
    cic: int | None = None,
    opc: int | None = None,
    dpc: int | None = None,
    since: float | None = None,
    until: float | None = None,
    min_severity: str | None = None,
    call_settings: Any = None,
    outcomes: Any = None,
    decode_settings: Any = None,
    workers: int | None = None,
    **decode_options: Any,
) -> CheckRun:
    """Diagnose the calls of capture files with the shipped rules (plus ``rule_dirs``), or ``rules``.

    ``settings`` overrides rule settings: ``{"incomplete-digit-collection": {"max_gap_ms": 500}}`` or
    ``["incomplete-digit-collection.max_gap_ms=500"]``.  ``trunks`` is a trunk map (file or
    :class:`~sigdiag.calls.stats.TrunkMap`) that names trunks.  ``workers`` is 1 (everything in this
    process) or 2 (the rules in a second process, :mod:`sigdiag.rules.parallel`: same findings); None
    takes 2 with two CPUs and :data:`PIPELINE_MIN_BYTES` of input.  Other keyword options are decoding
    options as for :func:`sigdiag.read_messages`.  Raises :class:`~sigdiag.rules.loader.RuleError` for a
    bad rule or setting, :class:`~sigdiag.capture.CaptureError` for a file that is not a capture,
    :class:`~sigdiag.rules.parallel.EngineProcessError` (while iterating) if the engine process fails.
    """
    from sigdiag.calls.stats import TrunkMap, load_trunks
    from sigdiag.decode import resolve_settings

    if isinstance(paths, str | PathLike):
        paths = [paths]
    if settings is not None and not isinstance(settings, Mapping):
        settings = parse_assignments(settings)
    if rules is None:
        rules = load_rules(rule_dirs, settings)
    tmap = load_trunks(trunks) if trunks is not None and not isinstance(trunks, TrunkMap) else trunks
    dsettings = resolve_settings(decode_settings, decode_options.pop("config", None), **decode_options)
    flt = FindingFilter(number, cic, opc, dpc, since, until, min_severity)
    return CheckRun(paths, rules, flt, tmap, call_settings, outcomes, dsettings, workers=workers)


def findings_frame(
    paths: str | PathLike[str] | Iterable[str | PathLike[str]], **options: Any
) -> pd.DataFrame:
    """The findings of :func:`check` as a DataFrame with the :data:`FINDING_KEYS` columns."""
    import pandas as pd

    return pd.DataFrame([f.as_dict() for f in check(paths, **options)], columns=list(FINDING_KEYS))


def outcome_refiner(rules: RuleSet | None = None) -> Callable[[Any], None]:
    """A refiner for :mod:`sigdiag.calls.pipeline`: applies the outcome overrides of the call rules that
    have one (shipped rules by default: ``incomplete-digit-collection``, ``t35-expiry``) and nothing
    else, so ``calls``, ``stats`` and ``audit`` show the refined outcome."""
    engine = Engine(rules if rules is not None else load_rules()).outcome_only()
    findings = engine.findings

    def refine(call: Any) -> None:
        engine.refine(call)
        findings.clear()

    return refine
