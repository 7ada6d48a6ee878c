"""A-XDR ``Data``: byte vectors of every type, round trips, and bad input."""

from __future__ import annotations

import contextlib
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from obisgate.dlms.axdr import (
    DONT_CARE,
    MAX_DEPTH,
    Bcd,
    BitString,
    DataType,
    DateTimeValue,
    Enum,
    Typed,
    decode_data,
    decode_length,
    encode_data,
    encode_length,
)
from obisgate.errors import ApduError

VECTORS: list[tuple[str, Any, Any]] = [
    # hex, value to encode, value decoded
    ("00", None, None),
    ("0301", True, True),
    ("0300", False, False),
    ("0405A8", BitString(b"\xa8", 5), BitString(b"\xa8", 5)),
    ("05FFFFFFFE", Typed(DataType.DOUBLE_LONG, -2), -2),
    ("06000F4240", Typed(DataType.DOUBLE_LONG_UNSIGNED, 1_000_000), 1_000_000),
    ("0903414243", b"ABC", b"ABC"),
    ("0A026869", "hi", "hi"),
    ("0C02C3A9", Typed(DataType.UTF8_STRING, "é"), "é"),
    ("0D12", Bcd(0x12), Bcd(0x12)),
    ("0F80", Typed(DataType.INTEGER, -128), -128),
    ("10FF85", Typed(DataType.LONG, -123), -123),
    ("11FF", Typed(DataType.UNSIGNED, 255), 255),
    ("12FFFF", Typed(DataType.LONG_UNSIGNED, 65535), 65535),
    ("14FFFFFFFFFFFFFFFF", Typed(DataType.LONG64, -1), -1),
    ("150000000100000000", Typed(DataType.LONG64_UNSIGNED, 1 << 32), 1 << 32),
    ("161E", Enum(30), Enum(30)),
    ("173FC00000", Typed(DataType.FLOAT32, 1.5), 1.5),
    ("18400921FB54442D18", math.pi, math.pi),
    (
        "1907E80316050A0F0000FFC400",
        DateTimeValue(DataType.DATE_TIME, bytes.fromhex("07E80316050A0F0000FFC400")),
        DateTimeValue(DataType.DATE_TIME, bytes.fromhex("07E80316050A0F0000FFC400")),
    ),
    ("1A07E8031605", DateTimeValue(DataType.DATE, bytes.fromhex("07E8031605")), None),
    ("1B0A0F0000", DateTimeValue(DataType.TIME, bytes.fromhex("0A0F0000")), None),
    ("FF", DONT_CARE, DONT_CARE),
    # a register's scaler_unit: structure {integer -3, enum 30 (Wh)}
    ("02020FFD161E", (Typed(DataType.INTEGER, -3), Enum(30)), (-3, Enum(30))),
    ("010211011102", [Typed(DataType.UNSIGNED, 1), Typed(DataType.UNSIGNED, 2)], [1, 2]),
    ("0100", [], []),
]


@pytest.mark.parametrize(("hexed", "value", "decoded"), VECTORS)
def test_vectors(hexed: str, value: Any, decoded: Any) -> None:
    data = bytes.fromhex(hexed)
    assert encode_data(value) == data
    got, end = decode_data(data)
    assert end == len(data)
    assert got == (value if decoded is None else decoded)


def test_lengths() -> None:
    for n, hexed in ((0, "00"), (127, "7F"), (128, "8180"), (300, "82012C"), (1 << 20, "83100000")):
        assert encode_length(n) == bytes.fromhex(hexed)
        assert decode_length(bytes.fromhex(hexed), 0) == (n, len(bytes.fromhex(hexed)))
    long_string = b"x" * 300
    assert decode_data(encode_data(long_string))[0] == long_string


@pytest.mark.parametrize(
    "hexed",
    [
        "",  # nothing
        "07",  # unknown tag
        "13",  # compact-array: not supported
        "06000F42",  # cut integer
        "0905414243",  # string shorter than its length
        "0285",  # length form of five bytes
        "0180",  # bad length form
        "01FF",  # more elements than bytes
        "173FC0",  # cut float
        "0409FF",  # bit-string shorter than its bits
        "1907E803",  # cut date-time
        "0C02C328",  # invalid UTF-8
    ],
)
def test_malformed_input_is_an_apdu_error(hexed: str) -> None:
    with pytest.raises(ApduError):
        decode_data(bytes.fromhex(hexed))


def test_nesting_is_limited() -> None:
    deep = bytes.fromhex("0101") * (MAX_DEPTH + 1) + b"\x00"
    with pytest.raises(ApduError, match="nesting"):
        decode_data(deep)
    ok = bytes.fromhex("0101") * (MAX_DEPTH - 1) + b"\x00"
    assert decode_data(ok)[1] == len(ok)


@pytest.mark.parametrize(
    "value",
    [5, Typed(DataType.UNSIGNED, 256), Typed(DataType.INTEGER, -129), Enum(256), object()],
)
def test_values_that_cannot_be_encoded(value: Any) -> None:
    with pytest.raises(ApduError):
        encode_data(value)


_INT_RANGES = {
    DataType.INTEGER: (-128, 127),
    DataType.LONG: (-(1 << 15), (1 << 15) - 1),
    DataType.DOUBLE_LONG: (-(1 << 31), (1 << 31) - 1),
    DataType.LONG64: (-(1 << 63), (1 << 63) - 1),
    DataType.UNSIGNED: (0, 255),
    DataType.LONG_UNSIGNED: (0, 65535),
    DataType.DOUBLE_LONG_UNSIGNED: (0, (1 << 32) - 1),
    DataType.LONG64_UNSIGNED: (0, (1 << 64) - 1),
}


def _leaf() -> st.SearchStrategy[tuple[Any, Any]]:
    ints = st.sampled_from(list(_INT_RANGES)).flatmap(
        lambda t: st.integers(*_INT_RANGES[t]).map(lambda v: (Typed(t, v), v))
    )
    return st.one_of(
        ints,
        st.none().map(lambda v: (v, v)),
        st.booleans().map(lambda v: (v, v)),
        st.binary(max_size=40).map(lambda v: (v, v)),
        st.text(st.characters(max_codepoint=255), max_size=20).map(lambda v: (v, v)),
        st.text(max_size=10).map(lambda v: (Typed(DataType.UTF8_STRING, v), v)),
        st.integers(0, 255).map(lambda v: (Enum(v), Enum(v))),
        st.floats(allow_nan=False).map(lambda v: (v, v)),
    )


values = st.recursive(
    _leaf(),
    lambda children: st.one_of(
        st.lists(children, max_size=4).map(lambda xs: ([x for x, _ in xs], [y for _, y in xs])),
        st.lists(children, max_size=4).map(
            lambda xs: (tuple(x for x, _ in xs), tuple(y for _, y in xs))
        ),
    ),
    max_leaves=20,
)


@given(values)
def test_round_trip(case: tuple[Any, Any]) -> None:
    value, expected = case
    data = encode_data(value)
    decoded, end = decode_data(data)
    assert end == len(data)
    assert decoded == expected


@given(st.binary(max_size=200))
def test_arbitrary_bytes_raise_only_apdu_errors(data: bytes) -> None:
    with contextlib.suppress(ApduError):
        decode_data(data)
