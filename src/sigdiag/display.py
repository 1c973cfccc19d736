"""How values read in every text output (``decode``, ``calls``, ``stats``, ``check``, ``audit``): times in
UTC with microseconds (:func:`format_ts`), delays in seconds with the unit (``1.234 s``,
:func:`seconds_text`, :func:`ms_text`), rates as a percentage with one decimal (``45.5 %``,
:func:`pct_text`).

At the bottom of the layers with :mod:`sigdiag.settings` and :mod:`sigdiag.anomalies`: any layer may
use it, and it imports nothing of sigdiag.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

__all__ = ["format_ts", "ms_text", "pct_text", "seconds_text"]


def format_ts(ts: float | None) -> str:
    """Epoch seconds as UTC ``YYYY-MM-DD HH:MM:SS.ffffff``."""
    if ts is None or (isinstance(ts, float) and math.isnan(ts)):
        return ""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def seconds_text(value: float | None, digits: int = 3) -> str:
    """Seconds with the unit: ``1.234 s``; empty for None."""
    if value is None:
        return ""
    return f"{value:.{digits}f} s"


def ms_text(value: float | None) -> str:
    """A delay given in milliseconds (``pdd_ms``...) in the text convention: seconds, ``1.234 s``."""
    return "" if value is None else seconds_text(value / 1000.0)


def pct_text(value: float | None) -> str:
    """A rate (0..1) as a percentage with one decimal: ``45.5 %``; empty for None."""
    return "" if value is None else f"{value * 100:.1f} %"
