"""AARQ/AARE, RLRQ/RLRE and GET APDUs: byte vectors both ways and malformed input."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from obisgate.dlms.apdu import (
    Aarq,
    AssociationResult,
    AttributeRequest,
    Conformance,
    DataAccessResult,
    GetResult,
    apdu_name,
    decode_aare,
    decode_aarq,
    decode_get_request,
    decode_get_response,
    encode_aare,
    encode_aarq,
    encode_get_list,
    encode_get_next,
    encode_get_normal,
    encode_get_response_block,
    encode_get_response_list,
    encode_get_response_normal,
    encode_rlre,
    encode_rlrq,
    password_span,
    service_error_text,
)
from obisgate.dlms.axdr import DataType, Typed
from obisgate.dlms.cosem import Obis
from obisgate.errors import ApduError

CONTEXT = "A109060760857405080101"
INITIATE = "BE10040E01000000065F1F0400007E1F04B0"
ENERGY = Obis(1, 0, 1, 8, 0, 255)


def test_public_aarq() -> None:
    aarq = encode_aarq(conformance=0x007E1F, max_pdu=0x04B0)
    assert aarq.hex().upper() == "601D" + CONTEXT + INITIATE
    assert decode_aarq(aarq) == Aarq(True, False, b"", 0x007E1F, 0x04B0)
    assert password_span(aarq) is None


def test_lls_aarq_and_where_its_password_is() -> None:
    aarq = encode_aarq(password=b"12345678", conformance=0x007E1F, max_pdu=0x04B0)
    assert aarq.hex().upper() == (
        "6036"
        + CONTEXT
        + "8A0207808B0760857405080201"
        + "AC0A8008"
        + b"12345678".hex().upper()
        + INITIATE
    )
    parsed = decode_aarq(aarq)
    assert (parsed.lls, parsed.password) == (True, b"12345678")
    span = password_span(aarq)
    assert span is not None
    assert aarq[span[0] : span[1]] == b"12345678"


def test_accepted_aare() -> None:
    aare = bytes.fromhex(
        "6129" + CONTEXT + "A203020100A305A103020100BE10040E0800065F1F040000501F01F40007"
    )
    parsed = decode_aare(aare)
    assert parsed.accepted
    assert parsed.conformance == 0x00501F
    assert parsed.conformance & Conformance.GET
    assert not parsed.conformance & Conformance.MULTIPLE_REFERENCES
    assert parsed.max_pdu == 0x01F4
    encoded = encode_aare(AssociationResult.ACCEPTED, conformance=0x00501F, max_pdu=0x01F4)
    assert encoded == aare


def test_rejected_aare_names_the_reason() -> None:
    aare = bytes.fromhex(
        "611F" + CONTEXT + "A203020101A305A10302010DBE06040 40E010600".replace(" ", "")
    )
    parsed = decode_aare(aare)
    assert not parsed.accepted
    assert parsed.result is AssociationResult.REJECTED_PERMANENT
    assert parsed.reason().startswith("authentication failure")
    ours = decode_aare(encode_aare(AssociationResult.REJECTED_PERMANENT, 13))
    assert not ours.accepted
    assert ours.diagnostic == 13


def test_release() -> None:
    assert encode_rlrq() == bytes.fromhex("6203800100")
    assert encode_rlre() == bytes.fromhex("6303800100")
    assert apdu_name(encode_rlre()) == "RLRE"


def test_get_requests() -> None:
    register = AttributeRequest(3, ENERGY, 2)
    assert encode_get_normal(register).hex().upper() == "C001C100030100010800FF0200"
    assert encode_get_next(1).hex().upper() == "C002C100000001"
    both = [register, AttributeRequest(3, ENERGY, 3)]
    listed = encode_get_list(both)
    assert listed.hex().upper() == "C003C102" + "00030100010800FF0200" + "00030100010800FF0300"
    assert decode_get_request(listed).attributes == tuple(both)
    ranged = AttributeRequest(
        7, Obis(1, 0, 99, 1, 0, 255), 2, 1, (Typed(DataType.UNSIGNED, 1), b"a", b"b", [])
    )
    assert decode_get_request(encode_get_normal(ranged)).attributes == (
        AttributeRequest(7, Obis(1, 0, 99, 1, 0, 255), 2, 1, (1, b"a", b"b", [])),
    )
    assert decode_get_request(encode_get_next(7)).block == 7


def test_get_responses() -> None:
    normal = decode_get_response(bytes.fromhex("C401C1000600003039"))
    assert normal.results == (GetResult(12345),)
    refused = decode_get_response(bytes.fromhex("C401C10104"))
    assert refused.results == (GetResult(None, DataAccessResult.OBJECT_UNDEFINED),)
    block = decode_get_response(bytes.fromhex("C402C10000000001000 3AABBCC".replace(" ", "")))
    assert (block.kind, block.last_block, block.block, block.raw) == (2, False, 1, b"\xaa\xbb\xcc")
    listed = decode_get_response(bytes.fromhex("C403C10200110501 03".replace(" ", "")))
    assert listed.results == (GetResult(5), GetResult(None, 3))
    assert encode_get_response_normal(GetResult(None, 4), 0xC1) == bytes.fromhex("C401C10104")
    assert encode_get_response_list(
        [GetResult(Typed(DataType.UNSIGNED, 5)), GetResult(None, 3)], 0xC1
    ) == bytes.fromhex("C403C10200110501 03".replace(" ", ""))
    assert encode_get_response_block(b"\xaa\xbb\xcc", 1, False, 0xC1) == bytes.fromhex(
        "C402C100000000010003AABBCC"
    )
    assert DataAccessResult.text(4) == "object-undefined"
    assert DataAccessResult.text(77) == "result 77"


def test_service_errors() -> None:
    assert service_error_text(bytes.fromhex("D80102")) == (
        "exception response: service-not-allowed, service-not-supported"
    )
    assert service_error_text(bytes.fromhex("0E010600")) is not None
    assert service_error_text(bytes.fromhex("C401C10104")) is None


@pytest.mark.parametrize(
    ("decoder", "hexed"),
    [
        (decode_aarq, "61"),
        (decode_aarq, "6005A109060760"),
        (decode_aarq, "6002A100"),
        (decode_aare, "6103A20100"),
        (decode_aare, "6100"),
        (decode_get_response, "C401C1"),
        (decode_get_response, "C409C100"),
        (decode_get_response, "C402C1000000000100FF"),
        (decode_get_response, "C403C10500"),
        (decode_get_request, "C001C1000301"),
        (decode_get_request, "C004C1"),
        (decode_get_request, "C003C105"),
    ],
)
def test_malformed_apdus(decoder: object, hexed: str) -> None:
    with pytest.raises(ApduError):
        decoder(bytes.fromhex(hexed))  # type: ignore[operator]


@given(st.binary(max_size=120), st.sampled_from([b"\x60", b"\x61", b"\xc0", b"\xc4", b""]))
def test_decoders_raise_only_apdu_errors(data: bytes, prefix: bytes) -> None:
    for decoder in (decode_aarq, decode_aare, decode_get_request, decode_get_response):
        with contextlib.suppress(ApduError):
            decoder(prefix + data)
