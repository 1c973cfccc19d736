"""``check``: captures in, findings out — decode, correlate, classify, evaluate the rules, filter.

:func:`check` returns a :class:`CheckRun`: iterate it for the findings (streaming; a call's findings come
when the call ends, bursts when they end), then read :meth:`CheckRun.summary`.  :func:`findings_frame`
gives the findings as a pandas DataFrame.  The filters (``number``, ``cic``, ``opc``, ``dpc``, ``since``,
``until``) select findings, not input: every call is still evaluated, so windowed rules see the whole
traffic; a windowed finding is kept when one of its calls passes.

With ``number``, the run also answers for every call of that number, findings or not:
:meth:`CheckRun.matched_calls` lists each call whose called or calling number contains it (and that
passes the other filters), by start time, with its refined outcome, cause, PDD, duration, compact ladder
and the rules that found something about it (:data:`MATCH_KEYS`); when no call matches,
:meth:`CheckRun.closest_numbers` names the numbers seen that come closest.
"""

from __future__ import annotations

import contextlib
import copy
import gc
import heapq
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sigdiag.rules.engine import FINDING_KEYS, Batch, Engine, Finding
from sigdiag.rules.loader import SEVERITIES, RuleSet, load_rules, parse_assignments

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "MATCH_KEYS",
    "CheckRun",
    "FindingFilter",
    "NearestNumbers",
    "OutcomeRefiner",
    "check",
    "compact_ladder",
    "findings_frame",
    "matched_call",
    "outcome_refiner",
]

#: Keys of a matched call (:meth:`CheckRun.matched_calls`; the JSON ``calls`` list, the jsonl rows of
#: kind ``call``), in output order.
MATCH_KEYS: tuple[str, ...] = (
    "call_id",
    "file",
    "iam_frame",
    "start",
    "end",
    "protocol",
    "opc",
    "dpc",
    "cic",
    "calling",
    "called",
    "outcome",
    "outcome_detail",
    "base_outcome",
    "outcome_by",
    "cause",
    "cause_name",
    "cause_location",
    "cause_location_name",
    "released_by",
    "phase",
    "end_reason",
    "pdd_ms",
    "duration_s",
    "conversation_s",
    "findings",
    "ladder",
    "frames",
)

#: a link is judged (low confidence or not) once this many of its messages are decoded
LOW_CONFIDENCE_MIN_MESSAGES = 20
#: messages read between two judgements of the links while findings stream out
LOW_CONFIDENCE_EVERY = 4096

#: matched calls kept per run (the earliest by start time; ``summary.matched_calls`` counts them all)
MAX_MATCHED = 10_000


@dataclass
class FindingFilter:
    """Which findings to report: about a number (called or calling, contains), a CIC, a point code
    (either side), a time range (epoch seconds), a minimum severity."""

    number: str | None = None
    cic: int | None = None
    opc: int | None = None
    dpc: int | None = None
    since: float | None = None
    until: float | None = None
    min_severity: str | None = None

    def __post_init__(self) -> None:
        self.level = SEVERITIES.index(self.min_severity) if self.min_severity else 0

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

    @property
    def lists_calls(self) -> bool:
        """Whether the run lists the matching calls (``number`` is given)."""
        return self.number is not None

    def call_ok(self, call: Any) -> bool:
        """Whether a call passes the number, CIC, point-code and time filters (its IAM time)."""
        number = self.number
        if number is not None and number not in call.called and number not in (call.calling or ""):
            return False
        if self.cic is not None and self.cic != call.cic:
            return False
        pcs = (call.opc, call.dpc)
        if (self.opc is not None and self.opc not in pcs) or (self.dpc is not None and self.dpc not in pcs):
            return False
        if self.since is not None and call.start < self.since:
            return False
        return not (self.until is not None and call.start > self.until)

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
        on_call: Callable[[Any, Path], None] | None = None,
    ) -> None:
        from sigdiag.calls.correlate import Correlator
        from sigdiag.calls.outcomes import OutcomeTable, load_outcomes
        from sigdiag.calls.pipeline import CallReader
        from sigdiag.calls.settings import CallSettings
        from sigdiag.settings import DecodeSettings

        self.rules = rules
        self.filter = flt
        #: sees every call as it is read, rule-refined in this process (with two workers, unrefined), with
        #: its file (what finds calls for flow, show and extract: sigdiag.report.select)
        self.on_call = on_call
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
        self._batch = Batch.new()
        if self.workers == 2:
            add_record = self._batch.add_record
            circuit_record, orphan_record = Engine.circuit_record, Engine.orphan_record
            on_circuit = lambda ev: add_record(circuit_record(ev))  # noqa: E731
            on_orphan = lambda o: add_record(orphan_record(o))  # noqa: E731
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
        self.low_confidence = 0  # findings marked low confidence (a link of theirs decodes badly)
        self._low: tuple[int, set[str]] | None = None  # (messages read when judged, low-confidence links)
        self._done_reading = False  # every file read: the links' last judgement is final
        self._done = False
        # check --number: the matching calls (a max-heap on start keeps the earliest MAX_MATCHED), the
        # rules that found something about each call, and the numbers seen (for "no call matches")
        self.matched = 0
        self._matched: list[tuple[float, int, dict[str, Any]]] = []
        self._found: dict[tuple[str | None, int], list[str]] = {}
        self._nearest = NearestNumbers(flt.number) if flt.lists_calls else None
        # with the engine in another process the calls reach this one unrefined: the matching ones are
        # refined here (a copy) by the rules' outcome overrides, as the engine refines them there
        self._local_refiner = (
            OutcomeRefiner(rules, trunks, pc) if flt.lists_calls and self.workers == 2 else None
        )

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
                if self._nearest is not None:
                    self._look(call, path)
                if self.on_call is not None:
                    self.on_call(call, path)
                if engine.pending:
                    yield from self._emit(engine.findings(), keep)
            if engine.pending:
                yield from self._emit(engine.findings(), keep)
        self._done_reading = True
        engine.finish()
        yield from self._emit(engine.findings(), keep)
        self._done = True

    def _pipeline(self) -> Iterator[Finding]:
        """The same run with the engine in a second process (:mod:`sigdiag.rules.parallel`)."""
        from sigdiag.rules.parallel import BATCH, EngineProcess

        keep = self.filter
        batch = self._batch
        add_call, kinds = batch.add_call, batch.kinds
        proc = EngineProcess(self.engine)
        try:
            for path, reader in self.readers:
                batch.add_file(str(path))
                correlator = reader.correlator
                if self._local_refiner is not None:
                    self._local_refiner.clock = lambda c=correlator: c.now
                for call in reader:
                    self.calls += 1
                    if self._nearest is not None:
                        self._look(call, path)
                    if self.on_call is not None:
                        self.on_call(call, path)
                    add_call(call, correlator.now if call.end_reason == "open" else None)
                    if len(kinds) >= BATCH:
                        proc.send(batch)
                        batch.clear()
                        found = proc.findings()
                        if found:
                            yield from self._emit(found, keep)
            proc.send(batch)
            batch.clear()
            self._done_reading = True
            found = proc.finish()
            self.outcomes.update(proc.outcomes)
            self.engine.evicted.update(proc.evicted)
            yield from self._emit(found, keep)
        finally:
            proc.close()
        self._done = True

    def _look(self, call: Any, path: Path) -> None:
        """check --number: remember the call's numbers; keep the call when it matches."""
        nearest = self._nearest
        assert nearest is not None
        nearest.add(call.called)
        nearest.add(call.calling)
        if not self.filter.call_ok(call):
            return
        if self._local_refiner is not None:
            call = copy.copy(call)  # the engine process refines the original
            self._local_refiner(call)
        self.matched += 1
        item = (-call.start, -self.matched, matched_call(call, str(path)))
        if len(self._matched) < MAX_MATCHED:
            heapq.heappush(self._matched, item)
        else:
            heapq.heappushpop(self._matched, item)

    def _low_links(self) -> set[str]:
        """The links whose messages so far are too often anomalous to trust (at least
        :data:`LOW_CONFIDENCE_MIN_MESSAGES` messages, more than ``low_confidence_share`` of them
        anomalous).  Judged again each :data:`LOW_CONFIDENCE_EVERY` messages read, not per finding."""
        read = sum(r.correlator.messages for _, r in self.readers)
        last = self._low
        # judged at each finding early in a run (links still being decided), then every
        # LOW_CONFIDENCE_EVERY messages, and once more on everything when the files are read
        if (
            last is None
            or read < LOW_CONFIDENCE_EVERY
            or read - last[0] >= LOW_CONFIDENCE_EVERY
            or (self._done_reading and read != last[0])
        ):
            low = {
                link.link
                for _, reader in self.readers
                for link in reader.reader.links
                if link.low_confidence and link.messages >= LOW_CONFIDENCE_MIN_MESSAGES
            }
            self._low = last = (read, low)
        return last[1]

    def _emit(self, findings: list[Finding], keep: FindingFilter) -> Iterator[Finding]:
        lists_calls = self.filter.lists_calls
        low = self._low_links() if findings else set()
        for f in findings:
            if low and ((f.link is not None and f.link in low) or any(x in low for x in f.links or ())):
                f.confidence = "low"
            if keep(f):
                if f.confidence == "low":
                    self.low_confidence += 1
                self.by_rule[f.rule] += 1
                self.by_trunk[f.trunk or "-"] += 1
                self.by_severity[f.severity] += 1
                if lists_calls:
                    ids = [f.call_id] if f.call_id is not None else f.calls or []
                    for cid in ids:
                        rules = self._found.setdefault((f.file, cid), [])
                        if f.rule not in rules:
                            rules.append(f.rule)
                yield f

    def matched_calls(self) -> list[dict[str, Any]]:
        """check --number: the calls that match the filters, findings or not, by start time
        (:data:`MATCH_KEYS`; at most :data:`MAX_MATCHED`, the earliest), once the findings have been
        read.  ``findings`` lists the rules of the (kept) findings about each call."""
        out = []
        for _, _, row in sorted(self._matched, reverse=True):
            out.append({**row, "findings": list(self._found.get((row["file"], row["call_id"]), ()))})
        return out

    def closest_numbers(self, n: int = 5) -> list[str]:
        """check --number: the numbers seen (called or calling) closest to the number asked for."""
        return self._nearest.closest(n) if self._nearest is not None else []

    def summary(self) -> dict[str, Any]:
        """Counts once the findings have been read: calls, messages, outcomes, the number asked for and
        how many calls match it (None without ``number``; ``closest_numbers`` when none does), findings
        per rule, per trunk and per severity."""
        messages = sum(r.correlator.messages for _, r in self.readers)
        lists_calls = self.filter.lists_calls
        return {
            "files": [str(p) for p, _ in self.readers],
            "calls": self.calls,
            "messages": messages,
            "outcomes": dict(sorted(self.outcomes.items())),
            "number": self.filter.number,
            "matched_calls": self.matched if lists_calls else None,
            "closest_numbers": self.closest_numbers() if lists_calls and not self.matched else [],
            "findings": sum(self.by_rule.values()),
            "by_rule": dict(self.by_rule.most_common()),
            "by_trunk": dict(self.by_trunk.most_common()),
            "by_severity": {s: self.by_severity[s] for s in reversed(SEVERITIES) if self.by_severity[s]},
            "rules": len(self.rules),
            "links": [{"file": str(p), **link.as_dict()} for p, r in self.readers for link in r.reader.links],
            "low_confidence_findings": self.low_confidence,
            "memory_bounds": self.bound_warnings(),
        }

    def bound_warnings(self) -> list[str]:
        """What the memory bounds dropped (correlation per file, then the rules), one line each."""
        out = [f"{p}: {w}" for p, r in self.readers for w in r.correlator.bound_warnings()]
        return out + self.engine.bound_warnings()

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


class OutcomeRefiner:
    """A refiner for :mod:`sigdiag.calls.pipeline`: applies the outcome overrides of the call rules that
    have one (and nothing else), as ``check``'s engine does.  ``clock`` (a function giving the input's
    latest time) is the capture end for calls still open, as in ``check``."""

    def __init__(self, rules: RuleSet | None = None, trunks: Any = None, pc: Any = str) -> None:
        self.engine = Engine(rules if rules is not None else load_rules(), trunks, pc=pc).outcome_only()

    @property
    def clock(self) -> Any:
        return self.engine.clock

    @clock.setter
    def clock(self, value: Any) -> None:
        self.engine.clock = value

    def __call__(self, call: Any) -> None:
        engine = self.engine
        engine.refine(call)
        engine.pending.clear()


def outcome_refiner(rules: RuleSet | None = None, trunks: Any = None) -> OutcomeRefiner:
    """The :class:`OutcomeRefiner` of ``rules`` (shipped rules by default: ``incomplete-digit-collection``,
    ``t35-expiry``...), so ``calls``, ``stats`` and ``audit`` show the refined outcome."""
    return OutcomeRefiner(rules, trunks)


# -- check --number ----------------------------------------------------------------------------------------
def compact_ladder(call: Any) -> str:
    """The call's messages on one line, with the milliseconds since the IAM: ``IAM> 0.0, SAM> 666.4,
    <REL 675.0, RLC> 697.1 ms`` (``X>`` from the calling side, ``<X`` from the called side, ``?X``
    direction unknown)."""
    t0 = call.start
    steps = []
    for _frame, ts, type_, direction, _raw in call.timeline:
        name = f"{type_}>" if direction == 0 else f"<{type_}" if direction == 1 else f"?{type_}"
        steps.append(f"{name} {(ts - t0) * 1000.0:.1f}")
    return ", ".join(steps) + " ms"


def matched_call(call: Any, file: str | None = None) -> dict[str, Any]:
    """A call as ``check --number`` lists it (:data:`MATCH_KEYS`; ``findings`` empty until the run
    fills it)."""
    from sigdiag.codec.names import cause_name, location_short

    end = call.end_ts if call.end_ts is not None else call.last_ts
    return {
        "call_id": call.call_id,
        "file": file,
        "iam_frame": call.iam.frame,
        "start": call.start,
        "end": call.end_ts,
        "protocol": call.protocol,
        "opc": call.opc,
        "dpc": call.dpc,
        "cic": call.cic,
        "calling": call.calling,
        "called": call.called,
        "outcome": call.outcome,
        "outcome_detail": call.outcome_detail,
        "base_outcome": call.base_outcome,
        "outcome_by": call.outcome_by,
        "cause": call.cause,
        "cause_name": cause_name(call.cause),
        "cause_location": call.cause_location,
        "cause_location_name": location_short(call.cause_location),
        "released_by": call.released_by,
        "phase": call.phase,
        "end_reason": call.end_reason,
        "pdd_ms": call.pdd_ms,
        "duration_s": round(end - call.start, 6) if end is not None else None,
        "conversation_s": call.conversation_s,
        "findings": [],
        "ladder": compact_ladder(call),
        "frames": [t[0] for t in call.timeline],
    }


class NearestNumbers:
    """The numbers seen that come closest to ``number`` (for "no call matches N"): fewest digit edits
    that make ``number`` occur in them (:func:`_distance`), then the longest common prefix.  Memory is
    bounded: beyond ``cap`` distinct numbers, only the half that share the longest prefix with ``number``
    (then the closest length) stay."""

    def __init__(self, number: str | None, cap: int = 100_000) -> None:
        self.number = number or ""
        self.cap = cap
        self.seen: set[str] = set()

    def add(self, value: str | None) -> None:
        if value and value not in self.seen:
            self.seen.add(value)
            if len(self.seen) > self.cap:
                self._prune()

    def _prune(self) -> None:
        n = self.number
        ranked = sorted(self.seen, key=lambda v: (-_common_prefix(v, n), abs(len(v) - len(n)), v))
        self.seen = set(ranked[: self.cap // 2])

    def closest(self, k: int = 5) -> list[str]:
        n = self.number
        best: list[tuple[int, int, str]] = []  # the k best so far, as a max-heap on (distance, -prefix)
        for v in self.seen:
            limit = -best[0][0] if len(best) == k else None
            d = _distance(n, v, limit)
            if d is None:
                continue
            item = (-d, _common_prefix(v, n), v)
            if len(best) < k:
                heapq.heappush(best, item)
            elif item > best[0]:
                heapq.heapreplace(best, item)
        return [v for _, _, v in sorted(best, key=lambda x: (-x[0], -x[1], x[2]))]


def _common_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _distance(a: str, b: str, limit: int | None = None) -> int | None:
    """The fewest edits (insert, delete, change a digit) that make ``a`` occur in ``b`` (the ``--number``
    match is "contains": a Levenshtein distance of ``a`` to the closest part of ``b``); None when it is
    certainly above ``limit``."""
    if limit is not None and len(a) - len(b) > limit:
        return None
    prev = [0] * (len(b) + 1)  # ``a`` may start anywhere in ``b``
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        if limit is not None and min(cur) > limit:
            return None
        prev = cur
    d = min(prev)  # ... and end anywhere
    return None if limit is not None and d > limit else d
