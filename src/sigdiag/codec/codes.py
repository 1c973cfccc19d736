"""ISUP parameter codes by name (Q.763 Table 5): write ``CAUSE_INDICATORS``, not ``0x12``.

Plain ints (a module global is as fast as a literal in a loop), named like the parameter's key in
:func:`sigdiag.codec.isup.decode_params` upper-cased; ``tests/unit/test_codec_fields.py`` checks each one
against the codec's parameter table (:data:`sigdiag.codec.catalogue.PARAMETERS`), the table that decodes
it.  Only the parameters that code outside the table names are here: the mandatory parameters of the
message tables, the key fields and the ones calls and rules read.
"""

from __future__ import annotations

from typing import Final

# Every name here is public (no __all__ needed): one constant per parameter, sorted by code.

TRANSMISSION_MEDIUM_REQUIREMENT: Final = 0x02
ACCESS_TRANSPORT: Final = 0x03
CALLED_PARTY_NUMBER: Final = 0x04
SUBSEQUENT_NUMBER: Final = 0x05
NATURE_OF_CONNECTION_INDICATORS: Final = 0x06
FORWARD_CALL_INDICATORS: Final = 0x07
CALLING_PARTYS_CATEGORY: Final = 0x09
CALLING_PARTY_NUMBER: Final = 0x0A
INFORMATION_REQUEST_INDICATORS: Final = 0x0E
INFORMATION_INDICATORS: Final = 0x0F
CONTINUITY_INDICATORS: Final = 0x10
BACKWARD_CALL_INDICATORS: Final = 0x11
CAUSE_INDICATORS: Final = 0x12
CIRCUIT_GROUP_SUPERVISION_MESSAGE_TYPE: Final = 0x15
RANGE_AND_STATUS: Final = 0x16
FACILITY_INDICATOR: Final = 0x18
USER_SERVICE_INFORMATION: Final = 0x1D
USER_TO_USER_INFORMATION: Final = 0x20
SUSPEND_RESUME_INDICATORS: Final = 0x22
EVENT_INFORMATION: Final = 0x24
CIRCUIT_STATE_INDICATOR: Final = 0x26
HOP_COUNTER: Final = 0x3D
#: ANSI circuit validation response (CVR) fixed parameters have no wire code: pseudo-codes above 0xFF.
CIRCUIT_VALIDATION_RESPONSE_INDICATOR: Final = 0x100
CIRCUIT_GROUP_CHARACTERISTICS_INDICATOR: Final = 0x101
