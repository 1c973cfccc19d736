"""The call key: which messages belong to the same call.

The one definition is :func:`sigdiag.model.call_key` (below the decode pipeline, whose number filter keys
messages the same way); the correlator's per-message loop (:mod:`sigdiag.calls.step`) writes the same
expression out inline for speed, and a test checks that both agree.
"""

from __future__ import annotations

from sigdiag.model import call_key, circuit_key

__all__ = ["call_key", "circuit_key"]
