"""The text convention of call records: delays such as the PDD in seconds with millisecond precision and
the unit (``1.234 s``, :func:`seconds_text`), rates such as the ASR as a percentage with one decimal
(``45.5 %``, :func:`pct_text`), cause values with their location's Q.850 abbreviation (``38 TN``,
:func:`cause_text`).  The same in every text output (``calls``, ``stats``, ``check``, ``audit``); the
table layouts of ``sigdiag calls`` and ``stats`` are in :mod:`sigdiag.report.calls`."""

from __future__ import annotations

from sigdiag.display import format_ts, ms_text, pct_text, seconds_text

__all__ = ["cause_text", "format_ts", "ms_text", "pct_text", "seconds_text"]


def cause_text(cause: int | None, location: int | None, name: bool = False) -> str:
    """A cause value with its location's Q.850 abbreviation: ``38 TN`` (``name``: ``38 Network out of
    order, TN``); empty for None."""
    from sigdiag.codec.names import cause_name, location_short

    if cause is None:
        return ""
    loc = location_short(location)
    if name:
        return f"{cause} {cause_name(cause)}" + (f", {loc}" if loc else "")
    return f"{cause} {loc}" if loc else str(cause)
