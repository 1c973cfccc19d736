"""From capture files to calls and KPIs: decode -> correlate -> classify -> refine -> filter.

:func:`iter_calls` streams finished calls; :func:`calls_frame` and :func:`stats_frame` give pandas
DataFrames; :func:`by_start` puts a reader's calls in start-time order.  *Refiners* are the hook for later
stages: callables that get every finished call (already classified by the outcomes table) before it is
filtered and handed out, and may change its outcome with :meth:`Call.override_outcome`.  The caller hands
them in (``refiners=``): the diagnosis rules sit above this layer, so the command line and
:mod:`sigdiag.report.frames` pass the rules' outcome refiner (:func:`sigdiag.rules.check.outcome_refiner`);
the command line also runs the refiners registered in :data:`REFINERS` (``register_refiner``).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator, Sequence
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sigdiag.calls.correlate import CALL_KEYS, Call, Correlator
from sigdiag.calls.outcomes import OutcomeTable, load_outcomes
from sigdiag.calls.settings import CallSettings
from sigdiag.calls.stats import TrunkMap, compute_stats
from sigdiag.decode import MessageReader, read_messages
from sigdiag.settings import DecodeSettings

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "REFINERS",
    "CallFilter",
    "CallReader",
    "Refiner",
    "by_start",
    "calls_frame",
    "iter_calls",
    "register_refiner",
    "stats_frame",
]

Refiner = Callable[[Call], None]

#: Refiners applied by the command line (``sigdiag calls``/``stats``), in order.
REFINERS: list[Refiner] = []


def register_refiner(refiner: Refiner) -> Refiner:
    """Add a refiner to :data:`REFINERS` (usable as a decorator); registering twice has no effect."""
    if refiner not in REFINERS:
        REFINERS.append(refiner)
    return refiner


class CallFilter:
    """The ``calls`` filters: CIC, a number contained in the called (IAM + SAM digits) or calling
    number, point codes (either side), outcomes."""

    def __init__(
        self,
        cic: int | None = None,
        number: str | None = None,
        pcs: Iterable[int] | None = None,
        outcomes: Iterable[str] | None = None,
    ) -> None:
        self.cic = cic
        self.number = number
        self.pcs = set(pcs) if pcs else None
        self.outcomes = set(outcomes) if outcomes else None

    @property
    def active(self) -> bool:
        return any(x is not None for x in (self.cic, self.number, self.pcs, self.outcomes))

    def __call__(self, call: Call) -> bool:
        if self.cic is not None and call.cic != self.cic:
            return False
        if (
            self.number is not None
            and self.number not in call.called
            and self.number not in (call.calling or "")
        ):
            return False
        if self.pcs is not None and call.opc not in self.pcs and call.dpc not in self.pcs:
            return False
        return not (self.outcomes is not None and call.outcome not in self.outcomes)


class CallReader:
    """Iterator of finished calls from one capture file.

    ``correlator`` has the counters (messages, duplicates, orphans, evictions) and the orphan and
    circuit-event records; ``reader`` the decoding anomalies.
    """

    def __init__(
        self,
        path: str | PathLike[str],
        decode_settings: DecodeSettings,
        settings: CallSettings,
        outcomes: OutcomeTable,
        refiners: Sequence[Refiner] = (),
        keep: Callable[[Call], bool] | None = None,
        correlator: Correlator | None = None,
    ) -> None:
        self.path = Path(path)
        self.reader: MessageReader = read_messages(path, settings=decode_settings)
        self.correlator = correlator or Correlator(settings, outcomes)
        self.refiners = tuple(refiners)
        self.keep = keep
        plain = not self.refiners and keep is None
        self._it = self.correlator.run(self.reader) if plain else self._run()

    def _run(self) -> Iterator[Call]:
        refiners = self.refiners
        keep = self.keep
        for call in self.correlator.run(self.reader):
            for refine in refiners:
                refine(call)
            if keep is None or keep(call):
                yield call

    def __iter__(self) -> Iterator[Call]:
        return self._it

    def __next__(self) -> Call:
        return next(self._it)


#: finished calls held back between two looks at the calls still open (:func:`by_start`)
_WATERMARK_EVERY = 256


def by_start(reader: CallReader) -> Iterator[Call]:
    """The calls of a :class:`CallReader` in start (IAM) time order, streaming.

    Calls come out of the correlator when they end, a batch of messages at a time.  A finished call is
    held until no call can still come out with an earlier start.  A look at the correlator after a batch
    (``mark``: the earliest start of the calls still open, and the latest time stamp less the reorder
    window for IAMs not yet read) bounds every call not yet handed out, except those that ended in that
    same batch and are still on their way: those were open, or not yet started, at the previous look.  So
    the calls that started before both marks go out.  Memory: the calls that ended while an earlier one
    was still open."""
    correlator = reader.correlator
    slack = correlator.reorder_window + 1.0
    heap: list[tuple[float, int, Call]] = []
    previous = float("-inf")  # the mark of the previous look
    looked_at = -1  # messages read at the previous look (one look per batch at most)
    for seq, call in enumerate(reader, 1):
        heapq.heappush(heap, (call.start, seq, call))
        if seq % _WATERMARK_EVERY == 0 or len(heap) > 4 * _WATERMARK_EVERY:
            messages = correlator.messages
            if messages == looked_at:
                continue
            looked_at = messages
            mark = correlator.now - slack
            for open_call in correlator.table.values():
                if open_call.start < mark:
                    mark = open_call.start
            for waiting in correlator.done:  # ended, held back for the cross-link window (take)
                if waiting.start < mark:
                    mark = waiting.start
            limit = min(mark, previous)
            previous = mark
            while heap and heap[0][0] < limit:
                yield heapq.heappop(heap)[2]
    while heap:
        yield heapq.heappop(heap)[2]


def iter_calls(
    path: str | PathLike[str],
    *,
    settings: CallSettings | None = None,
    outcomes: OutcomeTable | str | PathLike[str] | None = None,
    refiners: Sequence[Refiner] = (),
    cic: int | None = None,
    number: str | None = None,
    decode_settings: DecodeSettings | None = None,
    **decode_options: Any,
) -> CallReader:
    """Finished calls of a capture file, streaming (memory bounded by the calls open at one time).

    ``settings`` are the correlation thresholds (:class:`CallSettings`); ``outcomes`` an outcomes table or
    file (default: :func:`~sigdiag.calls.outcomes.default_outcomes_path`); ``refiners`` run on each call
    before the ``cic``/``number`` filters (default: none, the cause-based classes;
    ``[sigdiag.rules.check.outcome_refiner()]`` adds the outcome overrides of the shipped diagnosis
    rules, which :mod:`sigdiag.report.frames` applies by default).  Other keyword options are decoding
    options as for
    :func:`sigdiag.read_messages` (``pc_format``, ``config``...).  Raises
    :class:`~sigdiag.capture.CaptureError` if the file is not a capture.
    """
    from sigdiag.decode import resolve_settings

    table = outcomes if isinstance(outcomes, OutcomeTable) else load_outcomes(outcomes)
    dsettings = resolve_settings(decode_settings, decode_options.pop("config", None), **decode_options)
    flt = CallFilter(cic=cic, number=number)
    return CallReader(
        path, dsettings, settings or CallSettings(), table, refiners, flt if flt.active else None
    )


def calls_frame(path: str | PathLike[str], **options: Any) -> pd.DataFrame:
    """All calls of a capture as a pandas DataFrame with the :data:`CALL_KEYS` columns.

    Options as for :func:`iter_calls`.  ``flags`` and ``frames`` hold Python lists.
    """
    import pandas as pd

    rows = [c.as_dict() for c in iter_calls(path, **options)]
    return pd.DataFrame(rows, columns=list(CALL_KEYS))


def stats_frame(
    paths: str | PathLike[str] | Iterable[str | PathLike[str]],
    by: str | None = None,
    trunks: TrunkMap | str | PathLike[str] | None = None,
    **options: Any,
) -> pd.DataFrame:
    """KPIs of the calls of one or several captures as a DataFrame (one row per group; see
    :mod:`sigdiag.calls.stats`).  ``trunks`` is a :class:`TrunkMap` or a trunk map file; other options as
    for :func:`iter_calls`."""
    import pandas as pd

    from sigdiag.calls.stats import STATS_KEYS, load_trunks

    if isinstance(paths, str | PathLike):
        paths = [paths]
    tmap = load_trunks(trunks) if trunks is not None and not isinstance(trunks, TrunkMap) else trunks
    settings = options.get("settings") or CallSettings()
    pc_display = options.get("pc_display") or "decimal"

    def calls() -> Iterator[Call]:
        for p in paths:
            yield from iter_calls(p, **options)

    rows = compute_stats(calls(), by, tmap, settings, pc_display)
    return pd.DataFrame(rows, columns=list(STATS_KEYS))
