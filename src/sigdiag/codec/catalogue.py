"""The parameter catalogue: the bit layouts of Q.763's indicator parameters, the number formats, and
Table 5, each parameter code with its name and codec (:mod:`sigdiag.codec.params` has the codecs).

Table 5 is written as the standard prints it, a code and a name a row; :data:`CODECS` says how the
parameters sigdiag interprets decode, and every other parameter is kept as raw hex.
"""

from __future__ import annotations

from collections.abc import Mapping

from sigdiag.codec import names as N
from sigdiag.codec.params import (
    RAW,
    AccessTransport,
    ApplicationTransport,
    Bits,
    Cause,
    Codec,
    Number,
    RangeAndStatus,
    UserServiceInformation,
    layout,
)

__all__ = ["ANSI_PARAMETERS", "CODECS", "PARAMETERS"]


def _enum1(name: str, names: Mapping[int, str]) -> Bits:
    return Bits(1, layout((name, 8, names)))


#: Octet 2 of the numbers: called, calling (also connected, location...) and redirecting layouts.
_CALLED_OCTET = layout(("spare", 4), ("numbering_plan", 3, N.NUMBERING_PLAN), ("inn", 1))
_CALLING_OCTET = layout(
    ("screening", 2, N.SCREENING),
    ("presentation", 2, N.ADDRESS_PRESENTATION),
    ("numbering_plan", 3, N.NUMBERING_PLAN),
    ("number_incomplete", 1),
)
_REDIRECTING_OCTET = layout(
    ("spare", 2),
    ("presentation", 2, N.ADDRESS_PRESENTATION),
    ("numbering_plan", 3, N.NUMBERING_PLAN),
    ("spare2", 1),
)

NATURE_OF_CONNECTION = Bits(
    1,
    layout(
        ("satellite", 2, N.SATELLITE),
        ("continuity_check", 2, N.CONTINUITY_CHECK),
        ("echo_control_device", 1),
        ("spare", 3),
    ),
)
FORWARD_CALL_INDICATORS = Bits(
    2,
    layout(
        ("international_call", 1),
        ("end_to_end_method", 2, N.END_TO_END_METHOD),
        ("interworking", 1),
        ("end_to_end_information", 1),
        ("isup_all_the_way", 1),
        ("isup_preference", 2, N.ISUP_PREFERENCE),
        ("isdn_access", 1),
        ("sccp_method", 2, N.SCCP_METHOD),
        ("spare", 1),
        ("national_use", 4),
    ),
)
OPTIONAL_FORWARD_CALL_INDICATORS = Bits(
    1,
    layout(
        ("closed_user_group_call", 2, N.CUG_CALL),
        ("simple_segmentation", 1),
        ("spare", 4),
        ("connected_line_identity_request", 1),
    ),
)
BACKWARD_CALL_INDICATORS = Bits(
    2,
    layout(
        ("charge", 2, N.CHARGE),
        ("called_partys_status", 2, N.CALLED_STATUS),
        ("called_partys_category", 2, N.CALLED_CATEGORY),
        ("end_to_end_method", 2, N.END_TO_END_METHOD),
        ("interworking", 1),
        ("end_to_end_information", 1),
        ("isup_all_the_way", 1),
        ("holding_requested", 1),
        ("isdn_access", 1),
        ("echo_control_device", 1),
        ("sccp_method", 2, N.SCCP_METHOD),
    ),
)
OPTIONAL_BACKWARD_CALL_INDICATORS = Bits(
    1,
    layout(
        ("in_band_information", 1),
        ("call_diversion_may_occur", 1),
        ("simple_segmentation", 1),
        ("mlpp_user", 1),
        ("national_use", 4),
    ),
)
EVENT_INFORMATION = Bits(1, layout(("event", 7, N.EVENT_INDICATOR), ("presentation_restricted", 1)))
REDIRECTION_INFORMATION = Bits(
    2,
    layout(
        ("redirecting_indicator", 3, N.REDIRECTING_INDICATOR),
        ("spare", 1),
        ("original_redirection_reason", 4, N.REDIRECTING_REASON),
        ("redirection_counter", 3),
        ("spare2", 1),
        ("redirecting_reason", 4, N.REDIRECTING_REASON),
    ),
)
HOP_COUNTER = Bits(1, layout(("hop_counter", 5), ("spare", 3)))
CGSM_TYPE = Bits(1, layout(("type", 2, N.CGSM_TYPE), ("spare", 6)))
AUTOMATIC_CONGESTION_LEVEL = _enum1(
    "level", {1: "congestion level 1 exceeded", 2: "congestion level 2 exceeded"}
)
CONTINUITY_INDICATORS = Bits(1, layout(("continuity_check_successful", 1), ("spare", 7)))
SUSPEND_RESUME = Bits(1, layout(("network_initiated", 1), ("spare", 7)))
INFORMATION_REQUEST_INDICATORS = Bits(
    2,
    layout(
        ("calling_party_address_request", 1),
        ("holding_indicator", 1),
        ("spare", 1),
        ("calling_partys_category_request", 1),
        ("charge_information_request", 1),
        ("spare2", 2),
        ("malicious_call_identification_request", 1),
        ("spare3", 4),
        ("national_use", 4),
    ),
)
INFORMATION_INDICATORS = Bits(
    2,
    layout(
        ("calling_party_address_response", 2),
        ("hold_provided", 1),
        ("spare", 2),
        ("calling_partys_category_response", 1),
        ("charge_information_response", 1),
        ("solicited_information", 1),
        ("spare2", 4),
        ("national_use", 4),
    ),
)

CALLED_NUMBER = Number(_CALLED_OCTET)
CALLING_NUMBER = Number(_CALLING_OCTET)
REDIRECTING_NUMBER = Number(_REDIRECTING_OCTET)
SUBSEQUENT_NUMBER = Number([], subsequent=True)
GENERIC_NUMBER = Number(_CALLING_OCTET, lead=layout(("number_qualifier", 8, N.NUMBER_QUALIFIER)))

TRANSMISSION_MEDIUM = _enum1("medium", N.TRANSMISSION_MEDIUM)
USER_SERVICE_INFORMATION = UserServiceInformation()

#: The codecs of the parameters sigdiag interprets, by parameter name (ITU and ANSI).
CODECS: dict[str, Codec] = {
    "transmission_medium_requirement": TRANSMISSION_MEDIUM,
    "access_transport": AccessTransport(),
    "called_party_number": CALLED_NUMBER,
    "subsequent_number": SUBSEQUENT_NUMBER,
    "nature_of_connection_indicators": NATURE_OF_CONNECTION,
    "forward_call_indicators": FORWARD_CALL_INDICATORS,
    "optional_forward_call_indicators": OPTIONAL_FORWARD_CALL_INDICATORS,
    "calling_partys_category": _enum1("category", N.CALLING_PARTYS_CATEGORY),
    "calling_party_number": CALLING_NUMBER,
    "redirecting_number": REDIRECTING_NUMBER,
    "redirection_number": CALLED_NUMBER,
    "information_request_indicators": INFORMATION_REQUEST_INDICATORS,
    "information_indicators": INFORMATION_INDICATORS,
    "continuity_indicators": CONTINUITY_INDICATORS,
    "backward_call_indicators": BACKWARD_CALL_INDICATORS,
    "cause_indicators": Cause(),
    "redirection_information": REDIRECTION_INFORMATION,
    "circuit_group_supervision_message_type": CGSM_TYPE,
    "range_and_status": RangeAndStatus(),
    "user_service_information": USER_SERVICE_INFORMATION,
    "connected_number": CALLING_NUMBER,
    "suspend_resume_indicators": SUSPEND_RESUME,
    "event_information": EVENT_INFORMATION,
    "automatic_congestion_level": AUTOMATIC_CONGESTION_LEVEL,
    "original_called_number": REDIRECTING_NUMBER,
    "optional_backward_call_indicators": OPTIONAL_BACKWARD_CALL_INDICATORS,
    "user_service_information_prime": USER_SERVICE_INFORMATION,
    "transmission_medium_used": TRANSMISSION_MEDIUM,
    "hop_counter": HOP_COUNTER,
    "transmission_medium_requirement_prime": TRANSMISSION_MEDIUM,
    "location_number": CALLING_NUMBER,
    "call_transfer_number": CALLING_NUMBER,
    "called_in_number": REDIRECTING_NUMBER,
    "application_transport": ApplicationTransport(),
    "called_directory_number": CALLED_NUMBER,
    "original_called_in_number": REDIRECTING_NUMBER,
    "generic_number": GENERIC_NUMBER,
    "generic_address": GENERIC_NUMBER,
    "charge_number": Number(_REDIRECTING_OCTET),
}


def _table(rows: str) -> dict[int, tuple[str, Codec]]:
    """code -> (name, codec) from rows ``CODE NAME`` (the codec from :data:`CODECS`, else :data:`RAW`)."""
    out: dict[int, tuple[str, Codec]] = {}
    for row in rows.split("\n"):
        if row.strip():
            code, name = row.split()
            out[int(code, 16)] = (name, CODECS.get(name, RAW))
    return out


#: code -> (name, codec).  Q.763 Table 5 order.  Codes not listed decode as ``param_0xNN`` raw hex.
PARAMETERS: dict[int, tuple[str, Codec]] = _table(
    """
    0x01  call_reference
    0x02  transmission_medium_requirement
    0x03  access_transport
    0x04  called_party_number
    0x05  subsequent_number
    0x06  nature_of_connection_indicators
    0x07  forward_call_indicators
    0x08  optional_forward_call_indicators
    0x09  calling_partys_category
    0x0A  calling_party_number
    0x0B  redirecting_number
    0x0C  redirection_number
    0x0D  connection_request
    0x0E  information_request_indicators
    0x0F  information_indicators
    0x10  continuity_indicators
    0x11  backward_call_indicators
    0x12  cause_indicators
    0x13  redirection_information
    0x15  circuit_group_supervision_message_type
    0x16  range_and_status
    0x18  facility_indicator
    0x1A  closed_user_group_interlock_code
    0x1D  user_service_information
    0x1E  signalling_point_code
    0x20  user_to_user_information
    0x21  connected_number
    0x22  suspend_resume_indicators
    0x23  transit_network_selection
    0x24  event_information
    0x25  circuit_assignment_map
    0x26  circuit_state_indicator
    0x27  automatic_congestion_level
    0x28  original_called_number
    0x29  optional_backward_call_indicators
    0x2A  user_to_user_indicators
    0x2B  origination_isc_point_code
    0x2C  generic_notification_indicator
    0x2D  call_history_information
    0x2E  access_delivery_information
    0x2F  network_specific_facility
    0x30  user_service_information_prime
    0x31  propagation_delay_counter
    0x32  remote_operations
    0x33  service_activation
    0x34  user_teleservice_information
    0x35  transmission_medium_used
    0x36  call_diversion_information
    0x37  echo_control_information
    0x38  message_compatibility_information
    0x39  parameter_compatibility_information
    0x3A  mlpp_precedence
    0x3B  mcid_request_indicators
    0x3C  mcid_response_indicators
    0x3D  hop_counter
    0x3E  transmission_medium_requirement_prime
    0x3F  location_number
    0x40  redirection_number_restriction
    0x43  call_transfer_reference
    0x44  loop_prevention_indicators
    0x45  call_transfer_number
    0x4B  ccss
    0x4C  forward_gvns
    0x4D  backward_gvns
    0x4E  redirect_capability
    0x5B  network_management_controls
    0x65  correlation_id
    0x66  scf_id
    0x6E  call_diversion_treatment_indicators
    0x6F  called_in_number
    0x70  call_offering_treatment_indicators
    0x71  charged_party_identification
    0x72  conference_treatment_indicators
    0x73  display_information
    0x74  uid_action_indicators
    0x75  uid_capability_indicators
    0x77  redirect_counter
    0x78  application_transport
    0x79  collect_call_request
    0x7A  ccnr_possible_indicator
    0x7B  pivot_capability
    0x7C  pivot_routing_indicators
    0x7D  called_directory_number
    0x7E  original_called_in_number
    0x81  calling_geodetic_location
    0x82  htr_information
    0x83  network_routing_number
    0x84  query_on_release_capability
    0x85  pivot_status
    0x86  pivot_counter
    0x87  pivot_routing_forward_information
    0x88  pivot_routing_backward_information
    0x89  redirect_status
    0x8A  redirect_forward_information
    0x8B  redirect_backward_information
    0x8C  number_portability_forward_information
    0xC0  generic_number
    0xC1  generic_digits
    """
)

#: ANSI T1.113 / GR-317 parameters that differ from or add to Q.763.
ANSI_PARAMETERS: dict[int, tuple[str, Codec]] = PARAMETERS | _table(
    """
    0xC0  generic_address
    0xC3  egress_service
    0xC4  jurisdiction_information
    0xC5  carrier_identification
    0xC6  business_group
    0xC7  generic_name
    0xE4  local_service_provider_identification
    0xEA  originating_line_information
    0xEB  charge_number
    0xEE  carrier_selection_information
    0x100 circuit_validation_response_indicator
    0x101 circuit_group_characteristics_indicator
    """
)
