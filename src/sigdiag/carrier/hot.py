"""Hot functions compiled with the layer modules' constants as literals.

A few functions run once per frame or per message (the M3UA fast lane, the network decoder's IPv4 and
SCTP fast paths, the SIGTRAN decoder's M3UA fast path).  Written with the layer modules' names
(``PROTO_SCTP``, ``TAG_PROTOCOL_DATA``...), each name would cost a module-global lookup per call: a few
per cent of those paths.  :func:`compile_hot` fills the names in as literals instead: the source is
written with ``{placeholders}``, the values come from the layer modules (imported, not copied), and the
function is compiled once, at import, so that it runs exactly as fast as if the numbers were typed in.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["compile_hot"]


def compile_hot(source: str, namespace: dict[str, Any], **constants: int) -> Callable[..., Any]:
    """The function defined by ``source`` (one ``def``, with ``{name}`` placeholders), compiled with
    ``namespace`` as its globals.  A placeholder is filled in from ``constants``, else from the names
    of ``namespace`` (``{PROTO_SCTP}``, ``{_KEY.start}``: a module passing its ``globals()`` writes its
    own constants' names)."""
    text = source.format_map({**namespace, **constants})
    name = text.split("def ", 1)[1].split("(", 1)[0].strip()
    scope = dict(namespace)
    exec(compile(text, f"<sigdiag hot {name}>", "exec"), scope)
    function: Callable[..., Any] = scope[name]
    return function
