"""Value names from ITU-T Q.763, Q.850 and ANSI T1.113: the vocabulary of decoded parameters."""

from __future__ import annotations

__all__ = [
    "CALLING_PARTYS_CATEGORY",
    "CAUSE_LOCATION",
    "CAUSE_LOCATION_SHORT",
    "CAUSE_VALUE",
    "EVENT_INDICATOR",
    "NATURE_OF_ADDRESS",
    "NUMBERING_PLAN",
    "TRANSMISSION_MEDIUM",
    "cause_name",
    "location_short",
]


def _names(rows: str) -> dict[int, str]:
    """value -> name from rows ``VALUE NAME`` (the value decimal, or hex with ``0x``), as the standards'
    tables print them."""
    out: dict[int, str] = {}
    for row in rows.strip().split("\n"):
        value, name = row.split(None, 1)
        out[int(value, 0)] = name.strip()
    return out


#: Q.850 cause values.
CAUSE_VALUE = _names(
    """
    1    Unallocated (unassigned) number
    2    No route to specified transit network
    3    No route to destination
    4    Send special information tone
    5    Misdialled trunk prefix
    6    Channel unacceptable
    7    Call awarded and being delivered in an established channel
    8    Preemption
    9    Preemption - circuit reserved for reuse
    14   QoR: ported number
    16   Normal call clearing
    17   User busy
    18   No user responding
    19   No answer from user (user alerted)
    20   Subscriber absent
    21   Call rejected
    22   Number changed
    23   Redirection to new destination
    24   Call rejected due to feature at the destination
    25   Exchange routing error
    26   Non-selected user clearing
    27   Destination out of order
    28   Invalid number format (address incomplete)
    29   Facility rejected
    30   Response to STATUS ENQUIRY
    31   Normal, unspecified
    34   No circuit/channel available
    38   Network out of order
    39   Permanent frame mode connection out of service
    40   Permanent frame mode connection operational
    41   Temporary failure
    42   Switching equipment congestion
    43   Access information discarded
    44   Requested circuit/channel not available
    46   Precedence call blocked
    47   Resource unavailable, unspecified
    49   Quality of service not available
    50   Requested facility not subscribed
    53   Outgoing calls barred within CUG
    55   Incoming calls barred within CUG
    57   Bearer capability not authorized
    58   Bearer capability not presently available
    62   Inconsistency in designated outgoing access information and subscriber class
    63   Service or option not available, unspecified
    65   Bearer capability not implemented
    66   Channel type not implemented
    69   Requested facility not implemented
    70   Only restricted digital information bearer capability is available
    79   Service or option not implemented, unspecified
    81   Invalid call reference value
    82   Identified channel does not exist
    83   A suspended call exists, but this call identity does not
    84   Call identity in use
    85   No call suspended
    86   Call having the requested call identity has been cleared
    87   User not member of CUG
    88   Incompatible destination
    90   Non-existent CUG
    91   Invalid transit network selection
    95   Invalid message, unspecified
    96   Mandatory information element is missing
    97   Message type non-existent or not implemented
    98   Message not compatible with call state or message type non-existent or not implemented
    99   Information element/parameter non-existent or not implemented
    100  Invalid information element contents
    101  Message not compatible with call state
    102  Recovery on timer expiry
    103  Parameter non-existent or not implemented, passed on
    110  Message with unrecognized parameter, discarded
    111  Protocol error, unspecified
    127  Interworking, unspecified
    """
)

#: Q.850 location.
CAUSE_LOCATION = _names(
    """
    0   user (U)
    1   private network serving the local user (LPN)
    2   public network serving the local user (LN)
    3   transit network (TN)
    4   public network serving the remote user (RLN)
    5   private network serving the remote user (RPN)
    7   international network (INTL)
    10  network beyond interworking point (BI)
    """
)

#: Q.850 location abbreviations (what an engineer reads in a trace: "TN", "RLN"...).
CAUSE_LOCATION_SHORT = _names(
    """
    0   user
    1   LPN
    2   LN
    3   TN
    4   RLN
    5   RPN
    7   INTL
    10  BI
    """
)

CAUSE_CODING_STANDARD = _names(
    """
    0  ITU-T standardized coding
    1  ISO/IEC standard
    2  national standard
    3  standard specific to identified location
    """
)

NATURE_OF_ADDRESS = _names(
    """
    0  spare
    1  subscriber number (national use)
    2  unknown (national use)
    3  national (significant) number
    4  international number
    5  network-specific number (national use)
    6  network routing number in national (significant) number format
    7  network routing number in network-specific number format
    8  network routing number concatenated with called directory number
    """
)

NUMBERING_PLAN = _names(
    """
    0  spare
    1  ISDN (Telephony) numbering plan (ITU-T E.164)
    3  Data numbering plan (ITU-T X.121)
    4  Telex numbering plan (ITU-T F.69)
    5  private numbering plan
    6  reserved for national use
    """
)

ADDRESS_PRESENTATION = _names(
    """
    0  presentation allowed
    1  presentation restricted
    2  address not available
    3  reserved for restriction by the network
    """
)

SCREENING = _names(
    """
    0  user provided, not verified
    1  user provided, verified and passed
    2  user provided, verified and failed
    3  network provided
    """
)

CALLING_PARTYS_CATEGORY = _names(
    """
    0   calling party's category unknown at this time
    1   operator, language French
    2   operator, language English
    3   operator, language German
    4   operator, language Russian
    5   operator, language Spanish
    9   reserved (national use)
    10  ordinary calling subscriber
    11  calling subscriber with priority
    12  data call (voice band data)
    13  test call
    15  payphone
    """
)

TRANSMISSION_MEDIUM = _names(
    """
    0   speech
    1   spare
    2   64 kbit/s unrestricted
    3   3.1 kHz audio
    4   reserved for alternate speech (service 2)/64 kbit/s unrestricted (service 1)
    5   reserved for alternate 64 kbit/s unrestricted (service 1)/speech (service 2)
    6   64 kbit/s preferred
    7   2 x 64 kbit/s unrestricted
    8   384 kbit/s unrestricted
    9   1536 kbit/s unrestricted
    10  1920 kbit/s unrestricted
    """
)

EVENT_INDICATOR = _names(
    """
    1  ALERTING
    2  PROGRESS
    3  in-band information or an appropriate pattern is now available
    4  call forwarded on busy (national use)
    5  call forwarded on no reply (national use)
    6  call forwarded unconditional (national use)
    """
)

SATELLITE = _names(
    """
    0  no satellite circuit
    1  one satellite circuit
    2  two satellite circuits
    """
)
CONTINUITY_CHECK = _names(
    """
    0  continuity check not required
    1  continuity check required on this circuit
    2  continuity check performed on a previous circuit
    """
)
CHARGE: dict[int, str] = {0: "no indication", 1: "no charge", 2: "charge"}
CALLED_STATUS: dict[int, str] = {0: "no indication", 1: "subscriber free", 2: "connect when free"}
CALLED_CATEGORY: dict[int, str] = {0: "no indication", 1: "ordinary subscriber", 2: "payphone"}
END_TO_END_METHOD = _names(
    """
    0  no end-to-end method available
    1  pass-along method available
    2  SCCP method available
    3  pass-along and SCCP methods available
    """
)
ISUP_PREFERENCE = _names(
    """
    0  ISDN user part preferred all the way
    1  ISDN user part not required all the way
    2  ISDN user part required all the way
    """
)
SCCP_METHOD = _names(
    """
    0  no indication
    1  connectionless method available
    2  connection oriented method available
    3  connectionless and connection oriented methods available
    """
)
CUG_CALL = _names(
    """
    0  non-CUG call
    2  closed user group call, outgoing access allowed
    3  closed user group call, outgoing access not allowed
    """
)
REDIRECTING_INDICATOR = _names(
    """
    0  no redirection
    1  call rerouted
    2  call rerouted, all redirection information presentation restricted
    3  call diverted
    4  call diverted, all redirection information presentation restricted
    5  call rerouted, redirection number presentation restricted
    6  call diversion, redirection number presentation restricted
    """
)
REDIRECTING_REASON = _names(
    """
    0  unknown/not available
    1  user busy
    2  no reply
    3  unconditional
    4  deflection during alerting
    5  deflection immediate response
    6  mobile subscriber not reachable
    """
)
CGSM_TYPE: dict[int, str] = {0: "maintenance oriented", 1: "hardware failure oriented"}
APPLICATION_CONTEXT = _names(
    """
    0  unidentified context and error handling (UCEH) ASE
    1  PSS1 ASE (VPN)
    3  charging ASE
    4  GAT
    5  BAT ASE
    6  enhanced unidentified context and error handling ASE (EUCEH ASE)
    """
)
ITC = _names(
    """
    0   speech
    8   unrestricted digital information
    9   restricted digital information
    16  3.1 kHz audio
    17  unrestricted digital information with tones/announcements
    24  video
    """
)
TRANSFER_MODE: dict[int, str] = {0: "circuit mode", 2: "packet mode"}
TRANSFER_RATE = _names(
    """
    0   packet mode
    16  64 kbit/s
    17  2 x 64 kbit/s
    19  384 kbit/s
    21  1536 kbit/s
    23  1920 kbit/s
    24  multirate (64 kbit/s base rate)
    """
)
Q931_IE = _names(
    """
    0x04  bearer capability
    0x08  cause
    0x10  call identity
    0x14  call state
    0x18  channel identification
    0x1E  progress indicator
    0x20  network-specific facilities
    0x27  notification indicator
    0x28  display
    0x29  date/time
    0x2C  keypad facility
    0x34  signal
    0x4C  connected number
    0x4D  connected subaddress
    0x6C  calling party number
    0x6D  calling party subaddress
    0x70  called party number
    0x71  called party subaddress
    0x74  redirecting number
    0x78  transit network selection
    0x79  restart indicator
    0x7C  low layer compatibility
    0x7D  high layer compatibility
    0x7E  user-user
    0x7F  escape for extension
    """
)
NUMBER_QUALIFIER = _names(
    """
    0   reserved (dialled digits) (national use)
    1   additional called number (national use)
    2   reserved (supplemental user provided calling number - failed network screening) (national use)
    3   reserved (supplemental user provided calling number - not screened) (national use)
    4   reserved (redirecting terminating number) (national use)
    5   additional connected number
    6   additional calling party number
    7   reserved for additional original called number
    8   reserved for additional redirecting number
    9   reserved for additional redirection number
    10  reserved (used in 1992 version)
    """
)


def cause_name(value: int | None) -> str | None:
    """The Q.850 name of a cause value, or None."""
    if value is None:
        return None
    return CAUSE_VALUE.get(value, f"cause {value}")


def location_short(value: int | None) -> str | None:
    """The Q.850 abbreviation of a cause location (``3`` -> ``"TN"``); ``"loc N"`` for a spare or
    reserved value; None for None."""
    if value is None:
        return None
    return CAUSE_LOCATION_SHORT.get(value, f"loc {value}")
