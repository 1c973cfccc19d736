"""The records that flow between the pipeline's stages, in one place for readers of the library.

capture  -> :class:`Frame`    one record of the capture file (defined in :mod:`sigdiag.capture.frame`)
carrier  -> :class:`Payload`  one ISUP/BICC message's bytes with its MTP3 (or SIP) addressing
                              (:mod:`sigdiag.carrier.payload`)
codec    -> :class:`Message`  one decoded message (:mod:`sigdiag.codec.message`)

Each record is defined by the layer that makes it, so no layer imports one above it; this module, above
the codec, names them together.  All three are plain slotted classes: they are created once per message
on the hot path.  On the most common path (Ethernet/IPv4/SCTP/M3UA frames, see
:mod:`sigdiag.carrier.fastlane`) no Payload is built: the fast lane hands the payload's fields to
:func:`sigdiag.codec.isup.decode_message`, which builds the Message itself.
"""

from __future__ import annotations

from sigdiag.capture.frame import Frame
from sigdiag.carrier.payload import Payload
from sigdiag.codec.message import MESSAGE_KEYS, Message

__all__ = ["MESSAGE_KEYS", "Frame", "Message", "Payload"]
