"""Named ISUP fields for code outside the codec: read one field from a parameter's value octets, fast.

Calls and rules work on ``Message.raw_params`` (the ``(code, value)`` pairs the decoder splits a message
into) so as not to decode every parameter of every message; this module is how they read a field there
without masking and shifting octets themselves.  Every reader comes from the codec that decodes the same
parameter in :mod:`sigdiag.codec.catalogue` (a :class:`~sigdiag.codec.params.Bits` field's
:meth:`~sigdiag.codec.params.Bits.reader`, or the function the codec itself uses), so each field's
position is written once.  ``tests/unit/test_codec_fields.py`` checks every reader against
:func:`sigdiag.codec.isup.decode_params`.

A reader takes the value octets of one parameter and returns the field as an int, or None when the value
is too short to hold it (an empty value, a number without its second octet).  Names follow Q.763's and
the keys :func:`~sigdiag.codec.isup.decode_params` gives.  Typical use::

    v = param_value(m.raw_params, BACKWARD_CALL_INDICATORS)
    if v is not None and called_partys_status(v) == SUBSCRIBER_FREE: ...
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from sigdiag.codec import catalogue as P
from sigdiag.codec import names as N
from sigdiag.codec.codes import (
    BACKWARD_CALL_INDICATORS,
    CALLED_PARTY_NUMBER,
    CALLING_PARTY_NUMBER,
    CAUSE_INDICATORS,
    CIRCUIT_GROUP_SUPERVISION_MESSAGE_TYPE,
    EVENT_INFORMATION,
    HOP_COUNTER,
    RANGE_AND_STATUS,
    SUBSEQUENT_NUMBER,
)
from sigdiag.codec.params import Bits, cause_location, cause_value, circuit_range, range_circuits

__all__ = [
    "BACKWARD_CALL_INDICATORS",
    "CALLED_PARTY_NUMBER",
    "CALLING_PARTY_NUMBER",
    "CAUSE_INDICATORS",
    "CIRCUIT_GROUP_SUPERVISION_MESSAGE_TYPE",
    "EVENT_ALERTING",
    "EVENT_INFORMATION",
    "HARDWARE_FAILURE_ORIENTED",
    "HOP_COUNTER",
    "RANGE_AND_STATUS",
    "SUBSCRIBER_FREE",
    "SUBSEQUENT_NUMBER",
    "address_presentation",
    "called_partys_status",
    "cause_location",
    "cause_value",
    "circuit_range",
    "event_indicator",
    "hop_counter",
    "nature_of_address",
    "numbering_plan",
    "param_value",
    "range_circuits",
    "screening",
    "supervision_type",
]

#: A field reader: value octets -> the field, or None when the value is too short.
Reader = Callable[[bytes], int | None]


def param_value(raw_params: Iterable[tuple[int, bytes]], code: int) -> bytes | None:
    """The value octets of the first parameter with ``code`` in ``raw_params`` (None without one)."""
    for c, value in raw_params:
        if c == code:
            return value
    return None


def _reader(codec: Bits, field: str, name: str | None = None) -> Reader:
    """The codec's reader of ``field``, named ``name`` (the field's name by default); its docstring is
    the ``#:`` comment above its definition below."""
    read = codec.reader(field)
    read.__name__ = read.__qualname__ = name or field
    read.__doc__ = f"The {field!r} field of a value's octets; None when the value is too short for it."
    return read


def _value_of(table: Mapping[int, str], name: str) -> int:
    """The code a name table gives ``name`` (the constants below come from the tables that name them)."""
    return next(code for code, text in table.items() if text == name)


# -- numbers (called, calling, redirecting, connected, location, ...: not the generic number, whose
#    number qualifier comes first, nor the subsequent number, which has no second octet) -----------------
_CALLED = P.CALLED_NUMBER.header  # octet 1: odd/even, nature of address; octet 2: INN, numbering plan
_CALLING = P.CALLING_NUMBER.header  # octet 2: incomplete, numbering plan, presentation, screening

#: Nature of address indicator of a number parameter (octet 1 bits 7-1).
nature_of_address: Reader = _reader(_CALLED, "nature_of_address")
#: Numbering plan indicator of a number parameter (octet 2 bits 7-5); None without octet 2.
numbering_plan: Reader = _reader(_CALLED, "numbering_plan")
#: Address presentation restricted indicator of a calling, connected, redirecting... number (octet 2
#: bits 4-3); None without octet 2.
address_presentation: Reader = _reader(_CALLING, "presentation", "address_presentation")
#: Screening indicator of a calling, connected... number (octet 2 bits 2-1); None without octet 2.
screening: Reader = _reader(_CALLING, "screening")

# -- indicator parameters ------------------------------------------------------------------------------

#: Called party's status indicator of backward call indicators (bits D-C).
called_partys_status: Reader = _reader(P.BACKWARD_CALL_INDICATORS, "called_partys_status")
#: Event indicator of event information (bits G-A).
event_indicator: Reader = _reader(P.EVENT_INFORMATION, "event", "event_indicator")
#: Type indicator of circuit group supervision message type (bits B-A).
supervision_type: Reader = _reader(P.CGSM_TYPE, "type", "supervision_type")
#: Hop counter (bits E-A).
hop_counter: Reader = _reader(P.HOP_COUNTER, "hop_counter")

#: Called party's status "subscriber free".
SUBSCRIBER_FREE = _value_of(N.CALLED_STATUS, "subscriber free")
#: Event indicator "ALERTING".
EVENT_ALERTING = _value_of(N.EVENT_INDICATOR, "ALERTING")
#: Circuit group supervision type "hardware failure oriented".
HARDWARE_FAILURE_ORIENTED = _value_of(N.CGSM_TYPE, "hardware failure oriented")
