"""Builders for generators: a DigitTemplate (sigdiag.codec.templates) renders what encode_message
encodes; range and status encodes from status bits as it decodes them."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sigdiag.codec import decode_bytes, encode_message
from sigdiag.codec.isup import encode_cic
from sigdiag.codec.params import ParamError, RangeAndStatus, bcd_encode
from sigdiag.codec.templates import SWAP, DigitTemplate, bcd

DIGITS = "0123456789"


def _iam(called: str, st_: bool, calling: str | None, variant: str = "itu") -> dict[str, Any]:
    p: dict[str, Any] = {
        "nature_of_connection_indicators": {},
        "forward_call_indicators": {"isup_all_the_way": 1},
        "calling_partys_category": {"category": 10},
        "called_party_number": {"nature_of_address": 3, "numbering_plan": 1, "digits": called, "st": st_},
        "hop_counter": {"hop_counter": 9},
    }
    if variant == "ansi":
        p["user_service_information"] = {"information_transfer_rate": 0x10}
    else:
        p["transmission_medium_requirement"] = {"medium": 0}
    if calling is not None:
        p["calling_party_number"] = {
            "nature_of_address": 4,
            "numbering_plan": 1,
            "screening": 3,
            "digits": calling,
        }
    return p


@given(digits=st.text(DIGITS, max_size=20), stop=st.booleans())
def test_bcd_is_the_codecs_encoding(digits: str, stop: bool) -> None:
    assert bcd(digits, stop) == bcd_encode(digits, stop)[0]


@given(
    called=st.text(DIGITS, max_size=16),
    stop=st.booleans(),
    calling=st.text(DIGITS, max_size=15),
    variant=st.sampled_from(["itu", "ansi"]),
    protocol=st.sampled_from(["isup", "bicc"]),
)
def test_iam_template_renders_what_encode_message_encodes(
    called: str, stop: bool, calling: str, variant: str, protocol: str
) -> None:
    variant = "itu" if protocol == "bicc" else variant

    def encode(ph: list[str]) -> bytes:
        return encode_message("IAM", _iam(ph[0], stop, ph[1], variant), protocol=protocol, variant=variant)

    t = DigitTemplate(encode, [(len(called), stop), (len(calling), False)])
    want = encode([called, calling])
    assert t.render(called, calling) == want
    h = t.hex_pieces()
    assert bytes.fromhex(f"{h[0]}{called}{h[1]}{calling}{h[2]}").translate(SWAP) == want
    # with the CIC in front, as a carrier sends it: the decoder reads the digits back
    cic = encode_cic(77, protocol, variant)
    m = decode_bytes(cic + t.render(called, calling), protocol=protocol, variant=variant)
    assert (m.cic, m.type, m.called, m.called_complete) == (77, "IAM", called, stop)
    assert m.calling == (calling or None)


@given(digits=st.text(DIGITS, max_size=12), stop=st.booleans())
def test_sam_template(digits: str, stop: bool) -> None:
    def encode(ph: list[str]) -> bytes:
        return encode_message("SAM", {"subsequent_number": {"digits": ph[0], "st": stop}})

    t = DigitTemplate(encode, [(len(digits), stop)])
    assert t.render(digits) == encode([digits])
    h = t.hex_pieces()
    assert bytes.fromhex(h[0] + digits + h[1]).translate(SWAP) == encode([digits])


@given(bits=st.text("01", min_size=1, max_size=256))
def test_range_and_status_encodes_status_bits_as_decoded(bits: str) -> None:
    codec = RangeAndStatus()
    data = codec.encode({"range": len(bits) - 1, "status_bits": bits})
    assert len(data) == 1 + (len(bits) + 7) // 8
    assert codec.decode(data)["status_bits"] == bits
    # the status octets, when given, win over the bits (a decoded dict has both)
    assert codec.encode({"range": len(bits) - 1, "status": data[1:].hex(), "status_bits": "1"}) == data


def test_range_and_status_bits_layout() -> None:
    codec = RangeAndStatus()
    assert codec.encode({"range": 9, "status_bits": "1010000001"}) == bytes.fromhex("090502")
    assert codec.encode({"range": 2}) == bytes.fromhex("02")
    with pytest.raises(ParamError):
        codec.encode({"range": 2, "status_bits": "1x1"})
