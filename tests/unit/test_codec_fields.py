"""Named fields of the codec (sigdiag.codec.fields, sigdiag.codec.codes): each reader agrees with the full
decode (decode_params) on hex vectors and on random values, and each parameter code names the parameter
the codec's table decodes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sigdiag.codec import codes, decode_bytes
from sigdiag.codec import fields as F
from sigdiag.codec.catalogue import ANSI_PARAMETERS, PARAMETERS
from sigdiag.codec.isup import decode_params


def test_every_code_names_the_parameter_the_table_decodes() -> None:
    names = [n for n in vars(codes) if n.isupper()]
    assert len(names) >= 20
    for name in names:
        code = getattr(codes, name)
        table = PARAMETERS if code in PARAMETERS else ANSI_PARAMETERS
        assert table[code][0] == name.lower(), name


def test_fields_reexports_the_codes() -> None:
    for name in F.__all__:
        if name.isupper() and hasattr(codes, name):
            assert getattr(F, name) == getattr(codes, name)


def test_value_constants_come_from_the_name_tables() -> None:
    assert (F.SUBSCRIBER_FREE, F.EVENT_ALERTING, F.HARDWARE_FAILURE_ORIENTED) == (1, 1, 1)
    full = decode_params([(codes.BACKWARD_CALL_INDICATORS, bytes((F.SUBSCRIBER_FREE << 2, 0)))], "itu")
    assert full["backward_call_indicators"]["called_partys_status_name"] == "subscriber free"


# (reader, parameter code, decoded key of the parameter, decoded field)
READERS: list[tuple[Callable[[bytes], int | None], int, str, str]] = [
    (F.nature_of_address, codes.CALLED_PARTY_NUMBER, "called_party_number", "nature_of_address"),
    (F.nature_of_address, codes.CALLING_PARTY_NUMBER, "calling_party_number", "nature_of_address"),
    (F.numbering_plan, codes.CALLED_PARTY_NUMBER, "called_party_number", "numbering_plan"),
    (F.numbering_plan, codes.CALLING_PARTY_NUMBER, "calling_party_number", "numbering_plan"),
    (F.address_presentation, codes.CALLING_PARTY_NUMBER, "calling_party_number", "presentation"),
    (F.screening, codes.CALLING_PARTY_NUMBER, "calling_party_number", "screening"),
    (
        F.called_partys_status,
        codes.BACKWARD_CALL_INDICATORS,
        "backward_call_indicators",
        "called_partys_status",
    ),
    (F.event_indicator, codes.EVENT_INFORMATION, "event_information", "event"),
    (
        F.supervision_type,
        codes.CIRCUIT_GROUP_SUPERVISION_MESSAGE_TYPE,
        "circuit_group_supervision_message_type",
        "type",
    ),
    (F.hop_counter, codes.HOP_COUNTER, "hop_counter", "hop_counter"),
    (F.cause_value, codes.CAUSE_INDICATORS, "cause_indicators", "cause_value"),
    (F.cause_location, codes.CAUSE_INDICATORS, "cause_indicators", "location"),
    (F.circuit_range, codes.RANGE_AND_STATUS, "range_and_status", "range"),
]
IDS = [f"{r.__name__}-{key}" for r, _, key, _ in READERS]


def _full(code: int, value: bytes) -> dict[str, Any]:
    return decode_params([(code, value)], "itu")[PARAMETERS[code][0]]


def _agrees(reader: Callable[[bytes], int | None], code: int, field: str, value: bytes) -> None:
    full = _full(code, value)
    got = reader(value)
    if "error" in full:
        return  # the codec keeps it raw: no field to agree with (the reader still must not raise)
    assert got == full[field], (value.hex(), full)


# hand-checked values: (parameter code, value hex, {field: expected})
VECTORS = [
    (codes.CALLED_PARTY_NUMBER, "8310403511040a", {"nature_of_address": 3, "numbering_plan": 1}),
    (
        codes.CALLING_PARTY_NUMBER,
        "031710507822000000",
        {"nature_of_address": 3, "numbering_plan": 1, "presentation": 1, "screening": 3},
    ),
    (codes.CALLING_PARTY_NUMBER, "04", {"nature_of_address": 4, "numbering_plan": None}),
    (codes.BACKWARD_CALL_INDICATORS, "1614", {"called_partys_status": 1}),
    (codes.BACKWARD_CALL_INDICATORS, "0a14", {"called_partys_status": 2}),
    (codes.EVENT_INFORMATION, "81", {"event": 1}),
    (codes.EVENT_INFORMATION, "02", {"event": 2}),
    (codes.CIRCUIT_GROUP_SUPERVISION_MESSAGE_TYPE, "01", {"type": 1}),
    (codes.HOP_COUNTER, "3f", {"hop_counter": 31}),
    (codes.CAUSE_INDICATORS, "82a6", {"cause_value": 38, "location": 2}),
    (codes.CAUSE_INDICATORS, "038090", {"cause_value": 16, "location": 3}),
    (codes.RANGE_AND_STATUS, "1f0000ffff", {"range": 31}),
]
BY_FIELD = {(code, field): reader for reader, code, _, field in READERS}


@pytest.mark.parametrize(("code", "hexstr", "expected"), VECTORS)
def test_vectors(code: int, hexstr: str, expected: dict[str, int | None]) -> None:
    value = bytes.fromhex(hexstr)
    for field, want in expected.items():
        reader = BY_FIELD[(code, field)]
        assert reader(value) == want, field
        _agrees(reader, code, field, value)


@pytest.mark.parametrize(("reader", "code", "key", "field"), READERS, ids=IDS)
def test_short_values_give_none(
    reader: Callable[[bytes], int | None], code: int, key: str, field: str
) -> None:
    assert reader(b"") is None


@pytest.mark.parametrize(("reader", "code", "key", "field"), READERS, ids=IDS)
@given(value=st.binary(min_size=0, max_size=12))
def test_reader_agrees_with_full_decode(
    reader: Callable[[bytes], int | None], code: int, key: str, field: str, value: bytes
) -> None:
    _agrees(reader, code, field, value)


@given(
    nai=st.integers(0, 127),
    plan=st.integers(0, 7),
    presentation=st.integers(0, 3),
    screening=st.integers(0, 3),
    digits=st.text("0123456789", max_size=12),
)
def test_calling_number_fields_of_random_numbers(
    nai: int, plan: int, presentation: int, screening: int, digits: str
) -> None:
    from sigdiag.codec.catalogue import CALLING_NUMBER

    value = CALLING_NUMBER.encode(
        {
            "nature_of_address": nai,
            "numbering_plan": plan,
            "presentation": presentation,
            "screening": screening,
            "digits": digits,
        }
    )
    assert F.nature_of_address(value) == nai
    assert F.numbering_plan(value) == plan
    assert F.address_presentation(value) == presentation
    assert F.screening(value) == screening


@given(value=st.binary(max_size=8))
def test_cause_readers_are_the_message_key_fields(value: bytes) -> None:
    m = decode_bytes(bytes((1, 0, 0x0C, 2, 0, len(value))) + value)  # REL, cause indicators as given
    assert m.type == "REL"
    assert (F.cause_value(value), F.cause_location(value)) == (m.cause, m.cause_location)


@given(cic=st.integers(0, 4000), value=st.binary(max_size=6), use_status=st.booleans())
def test_range_circuits_agree_with_status_bits(cic: int, value: bytes, use_status: bool) -> None:
    got = F.range_circuits(cic, value, use_status)
    if not value:
        assert got is None
        return
    full = _full(codes.RANGE_AND_STATUS, value)
    assert got is not None
    bits = full.get("status_bits")
    if use_status and bits:
        assert got == tuple(cic + i for i, b in enumerate(bits) if b == "1")
    else:
        assert got == tuple(range(cic, cic + full["circuits"]))


def test_param_value_finds_the_first() -> None:
    raw = [(codes.CALLED_PARTY_NUMBER, b"\x01"), (codes.CALLING_PARTY_NUMBER, b"\x02"), (0x0A, b"\x03")]
    assert F.param_value(raw, codes.CALLING_PARTY_NUMBER) == b"\x02"
    assert F.param_value(raw, codes.HOP_COUNTER) is None
    iam = decode_bytes(bytes.fromhex("1100010020000a030208068310403511040a08831310507822000000"))
    v = F.param_value(iam.raw_params, codes.CALLING_PARTY_NUMBER)
    assert v is not None and F.nature_of_address(v) == 3 and F.numbering_plan(v) == 1
