"""The records that flow between the pipeline's stages, in one place for readers of the library.

capture  -> :class:`Frame`    one record of the capture file (defined in :mod:`sigdiag.capture.frame`)
carrier  -> :class:`Payload`  one ISUP/BICC message's bytes with its MTP3 (or SIP) addressing
                              (:mod:`sigdiag.carrier.payload`)
codec    -> :class:`Message`  one decoded message (:mod:`sigdiag.codec.message`)

Each record is defined by the layer that makes it, so no layer imports one above it; this module, above
the codec, names them together.  It also defines which call a message belongs to (:func:`call_key`, the
one definition: the decode pipeline's number filter and the correlator both key by it).  All three
records are plain slotted classes: they are created once per message on the hot path.  On the most common
path (Ethernet/IPv4/SCTP/M3UA frames, see :mod:`sigdiag.carrier.fastlane`) no Payload is built: the fast
lane hands the payload's fields to :func:`sigdiag.codec.isup.decode_message`, which builds the Message
itself.
"""

from __future__ import annotations

from typing import Any

from sigdiag.capture.frame import Frame
from sigdiag.carrier.payload import Payload
from sigdiag.codec.message import MESSAGE_KEYS, Message

__all__ = ["MESSAGE_KEYS", "Frame", "Message", "Payload", "call_key", "circuit_key"]


def circuit_key(
    protocol: str, opc: int | None, dpc: int | None, link: str, cic: int | None
) -> tuple[Any, ...]:
    """The key of a circuit: the protocol, the unordered point-code pair and the CIC (ISUP; BICC: the call
    instance code); without both point codes (BICC on SCTP), the link instead of the pair."""
    if opc is None or dpc is None:
        return (protocol, link, cic)
    return (protocol, opc, dpc, cic) if opc <= dpc else (protocol, dpc, opc, cic)


def call_key(m: Message) -> tuple[Any, ...]:
    """The key of the call ``m`` belongs to: ``("sip", Call-ID)`` for SIP-I, else its circuit's key
    (:func:`circuit_key`).  The correlator keeps one call per key at a time (the per-message loop of
    :mod:`sigdiag.calls.step` writes this same expression out inline, for speed; a test checks that
    both agree)."""
    sid = m.sip_call_id
    if sid is not None:
        return ("sip", sid)
    return circuit_key(m.protocol, m.opc, m.dpc, m.link, m.cic)
