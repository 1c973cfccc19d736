"""Calls and KPIs with the outcomes the command line shows: the outcome overrides of the diagnosis rules
applied, as ``sigdiag calls``, ``stats`` and ``check`` apply them.

:mod:`sigdiag.calls` sits below the rules, so its :func:`~sigdiag.calls.iter_calls`,
:func:`~sigdiag.calls.calls_frame` and :func:`~sigdiag.calls.stats_frame` classify by the outcomes table
alone unless refiners are handed in; these take the same options and hand in the shipped rules'
outcome refiner (:func:`sigdiag.rules.check.outcome_refiner`) unless ``refiners`` is given (``()``: the
cause-based classes only).  ``sigdiag.calls_frame`` and ``sigdiag.stats_frame`` are these.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from os import PathLike
from typing import TYPE_CHECKING, Any

from sigdiag.calls import pipeline
from sigdiag.calls.pipeline import CallReader, Refiner

if TYPE_CHECKING:
    import pandas as pd

    from sigdiag.calls.stats import TrunkMap

__all__ = ["calls_frame", "iter_calls", "stats_frame"]


def _refiners(refiners: Sequence[Refiner] | None) -> Sequence[Refiner]:
    if refiners is not None:
        return refiners
    from sigdiag.rules.check import outcome_refiner

    return [outcome_refiner()]


def iter_calls(
    path: str | PathLike[str], *, refiners: Sequence[Refiner] | None = None, **options: Any
) -> CallReader:
    """:func:`sigdiag.calls.iter_calls` with the shipped rules' outcome overrides by default."""
    return pipeline.iter_calls(path, refiners=_refiners(refiners), **options)


def calls_frame(
    path: str | PathLike[str], *, refiners: Sequence[Refiner] | None = None, **options: Any
) -> pd.DataFrame:
    """:func:`sigdiag.calls.calls_frame` with the shipped rules' outcome overrides by default."""
    return pipeline.calls_frame(path, refiners=_refiners(refiners), **options)


def stats_frame(
    paths: str | PathLike[str] | Iterable[str | PathLike[str]],
    by: str | None = None,
    trunks: TrunkMap | str | PathLike[str] | None = None,
    *,
    refiners: Sequence[Refiner] | None = None,
    **options: Any,
) -> pd.DataFrame:
    """:func:`sigdiag.calls.stats_frame` with the shipped rules' outcome overrides by default (one
    refiner for all the files)."""
    return pipeline.stats_frame(paths, by, trunks, refiners=_refiners(refiners), **options)
