"""sigdiag: decode, correlate, diagnose and audit SS7 ISUP/BICC signalling from packet captures.

The library is the product; the ``sigdiag`` command is a thin layer on it::

    import sigdiag
    for m in sigdiag.read_messages("capture.pcap"):
        print(m.frame, m.type, m.cic, m.called, m.cause)
    df = sigdiag.messages_frame("capture.pcap")      # pandas DataFrame, one row per message
    calls = sigdiag.calls_frame("capture.pcap")      # one row per call, with its outcome
                                                     # (refined by the diagnosis rules, as sigdiag calls)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "Anomaly",
    "CaptureError",
    "ConfigError",
    "DecodeSettings",
    "Message",
    "__version__",
    "calls_frame",
    "iter_calls",
    "messages_frame",
    "read_messages",
    "stats_frame",
]

if TYPE_CHECKING:
    from sigdiag.anomalies import Anomaly
    from sigdiag.capture import CaptureError
    from sigdiag.decode import messages_frame, read_messages
    from sigdiag.model import Message
    from sigdiag.report.frames import calls_frame, iter_calls, stats_frame
    from sigdiag.settings import ConfigError, DecodeSettings

_LAZY = {
    "Anomaly": "sigdiag.anomalies",
    "calls_frame": "sigdiag.report.frames",
    "iter_calls": "sigdiag.report.frames",
    "stats_frame": "sigdiag.report.frames",
    "CaptureError": "sigdiag.capture",
    "ConfigError": "sigdiag.settings",
    "DecodeSettings": "sigdiag.settings",
    "Message": "sigdiag.model",
    "messages_frame": "sigdiag.decode",
    "read_messages": "sigdiag.decode",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'sigdiag' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
