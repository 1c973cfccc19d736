"""Message formats: ITU-T Q.763 Tables 21-52, ANSI T1.113 differences, BICC (Q.1902.3).

Each entry reads like the standard's table: the mandatory fixed parameters with their lengths, the
mandatory variable parameters (one pointer each, in order), and whether the message has an optional part
(one more pointer).  The same table drives decoding and encoding.
"""

from __future__ import annotations

from dataclasses import dataclass

from sigdiag.codec import codes as C

__all__ = ["ANSI_MESSAGES", "BICC_MESSAGES", "ITU_MESSAGES", "MessageSpec", "message_table"]

# Short names of the parameter codes of the mandatory parts (from sigdiag.codec.codes), so that the tables
# below read like Q.763's.
TMR = C.TRANSMISSION_MEDIUM_REQUIREMENT
ACCESS = C.ACCESS_TRANSPORT
CALLED = C.CALLED_PARTY_NUMBER
SUBSEQ = C.SUBSEQUENT_NUMBER
NOC = C.NATURE_OF_CONNECTION_INDICATORS
FCI = C.FORWARD_CALL_INDICATORS
CPC = C.CALLING_PARTYS_CATEGORY
INR_IND = C.INFORMATION_REQUEST_INDICATORS
INF_IND = C.INFORMATION_INDICATORS
COT_IND = C.CONTINUITY_INDICATORS
BCI = C.BACKWARD_CALL_INDICATORS
CAUSE = C.CAUSE_INDICATORS
CGSMT = C.CIRCUIT_GROUP_SUPERVISION_MESSAGE_TYPE
RANGE = C.RANGE_AND_STATUS
FACILITY = C.FACILITY_INDICATOR
USI = C.USER_SERVICE_INFORMATION
UUI = C.USER_TO_USER_INFORMATION
SUSRES = C.SUSPEND_RESUME_INDICATORS
EVENT = C.EVENT_INFORMATION
CSI = C.CIRCUIT_STATE_INDICATOR
CVRI = C.CIRCUIT_VALIDATION_RESPONSE_INDICATOR
CGCI = C.CIRCUIT_GROUP_CHARACTERISTICS_INDICATOR


@dataclass(frozen=True, slots=True)
class MessageSpec:
    code: int
    abbr: str
    name: str
    fixed: tuple[tuple[int, int], ...] = ()  # (parameter code, length)
    variable: tuple[int, ...] = ()
    optional: bool = True


def _table(*specs: MessageSpec) -> dict[int, MessageSpec]:
    return {s.code: s for s in specs}


_M = MessageSpec

#: Q.763 (12/1999) message formats.
ITU_MESSAGES: dict[int, MessageSpec] = _table(
    _M(0x01, "IAM", "Initial address", ((NOC, 1), (FCI, 2), (CPC, 1), (TMR, 1)), (CALLED,)),
    _M(0x02, "SAM", "Subsequent address", (), (SUBSEQ,)),
    _M(0x03, "INR", "Information request", ((INR_IND, 2),)),
    _M(0x04, "INF", "Information", ((INF_IND, 2),)),
    _M(0x05, "COT", "Continuity", ((COT_IND, 1),), optional=False),
    _M(0x06, "ACM", "Address complete", ((BCI, 2),)),
    _M(0x07, "CON", "Connect", ((BCI, 2),)),
    _M(0x08, "FOT", "Forward transfer"),
    _M(0x09, "ANM", "Answer"),
    _M(0x0C, "REL", "Release", (), (CAUSE,)),
    _M(0x0D, "SUS", "Suspend", ((SUSRES, 1),)),
    _M(0x0E, "RES", "Resume", ((SUSRES, 1),)),
    _M(0x10, "RLC", "Release complete"),
    _M(0x11, "CCR", "Continuity check request", optional=False),
    _M(0x12, "RSC", "Reset circuit", optional=False),
    _M(0x13, "BLO", "Blocking", optional=False),
    _M(0x14, "UBL", "Unblocking", optional=False),
    _M(0x15, "BLA", "Blocking acknowledgement", optional=False),
    _M(0x16, "UBA", "Unblocking acknowledgement", optional=False),
    _M(0x17, "GRS", "Circuit group reset", (), (RANGE,), optional=False),
    _M(0x18, "CGB", "Circuit group blocking", ((CGSMT, 1),), (RANGE,), optional=False),
    _M(0x19, "CGU", "Circuit group unblocking", ((CGSMT, 1),), (RANGE,), optional=False),
    _M(0x1A, "CGBA", "Circuit group blocking acknowledgement", ((CGSMT, 1),), (RANGE,), optional=False),
    _M(0x1B, "CGUA", "Circuit group unblocking acknowledgement", ((CGSMT, 1),), (RANGE,), optional=False),
    _M(0x1F, "FAR", "Facility request", ((FACILITY, 1),)),
    _M(0x20, "FAA", "Facility accepted", ((FACILITY, 1),)),
    _M(0x21, "FRJ", "Facility reject", ((FACILITY, 1),), (CAUSE,)),
    _M(0x24, "LPA", "Loop back acknowledgement", optional=False),
    _M(0x28, "PAM", "Pass-along", optional=False),
    _M(0x29, "GRA", "Circuit group reset acknowledgement", (), (RANGE,), optional=False),
    _M(0x2A, "CQM", "Circuit group query", (), (RANGE,), optional=False),
    _M(0x2B, "CQR", "Circuit group query response", (), (RANGE, CSI), optional=False),
    _M(0x2C, "CPG", "Call progress", ((EVENT, 1),)),
    _M(0x2D, "USR", "User-to-user information", (), (UUI,)),
    _M(0x2E, "UCIC", "Unequipped CIC", optional=False),
    _M(0x2F, "CFN", "Confusion", (), (CAUSE,)),
    _M(0x30, "OLM", "Overload", optional=False),
    _M(0x31, "CRG", "Charge information"),
    _M(0x32, "NRM", "Network resource management"),
    _M(0x33, "FAC", "Facility"),
    _M(0x34, "UPT", "User part test"),
    _M(0x35, "UPA", "User part available"),
    _M(0x36, "IDR", "Identification request"),
    _M(0x37, "IRS", "Identification response"),
    _M(0x38, "SGM", "Segmentation"),
    _M(0x40, "LOP", "Loop prevention"),
    _M(0x41, "APM", "Application transport"),
    _M(0x42, "PRI", "Pre-release information"),
    _M(0x43, "SDN", "Subsequent directory number"),
)

#: ANSI T1.113: IAM carries user service information instead of transmission medium requirement,
#: and the ANSI-only circuit reservation / validation / exit messages.
ANSI_MESSAGES: dict[int, MessageSpec] = {
    **{c: s for c, s in ITU_MESSAGES.items() if c not in (0x1F, 0x20, 0x21, 0x34, 0x35, 0x40, 0x42, 0x43)},
    **_table(
        _M(0x01, "IAM", "Initial address", ((NOC, 1), (FCI, 2), (CPC, 1)), (USI, CALLED)),
        _M(0xE9, "CRA", "Circuit reservation acknowledgement", optional=False),
        _M(0xEA, "CRM", "Circuit reservation", ((NOC, 1),), optional=False),
        _M(0xEB, "CVR", "Circuit validation response", ((CVRI, 1), (CGCI, 1))),
        _M(0xEC, "CVT", "Circuit validation test", optional=False),
        _M(0xED, "EXM", "Exit"),
    ),
}

#: BICC (Q.1902.3) uses the Q.763 formats with a 4-octet call instance code.  Messages BICC does not use
#: (circuit blocking, continuity) still decode by their ISUP format, as Wireshark does.
BICC_MESSAGES: dict[int, MessageSpec] = ITU_MESSAGES

#: Message names of every table, for codes a variant does not define (decoded as unknown, named anyway).
ALL_ABBRS: dict[int, str] = {
    **{c: s.abbr for c, s in ANSI_MESSAGES.items()},
    **{c: s.abbr for c, s in ITU_MESSAGES.items()},
}


def message_table(protocol: str, variant: str) -> dict[int, MessageSpec]:
    """The message table for a protocol (isup|bicc) and variant (itu|ansi)."""
    if protocol == "bicc":
        return BICC_MESSAGES
    return ANSI_MESSAGES if variant == "ansi" else ITU_MESSAGES
