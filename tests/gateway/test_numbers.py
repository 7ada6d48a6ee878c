"""Number types: parsing, ranges, scaling, dates and times, quality flags."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from obisgate import ConfigError, Value
from obisgate.gateway.numbers import NumberType, convert, parse_number_type
from obisgate.gateway.quality import Quality

V = Quality.VALID
INVALID = Quality.INVALID
OVERFLOW = Quality.OVERFLOW


def check(text: str, ntype: str, **kwargs: object) -> tuple[object, Quality]:
    result = convert(text, ntype, **kwargs)  # type: ignore[arg-type]
    if not result.quality.is_valid:
        assert result.value is None
        assert result.note
    else:
        assert result.note is None
    return result.value, result.quality


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("FLOAT", NumberType.FLOAT),
        ("double", NumberType.DOUBLE),
        (" Int 16 ", NumberType.INT16),
        ("uint_64", NumberType.UINT64),
        ("SINT8", NumberType.INT8),
        ("WORD", NumberType.UINT16),
        ("DWORD", NumberType.UINT32),
        ("LWORD", NumberType.UINT64),
        ("BYTE", NumberType.UINT8),
        ("bool", NumberType.DIGITAL),
        ("REAL", NumberType.FLOAT),
        ("LREAL", NumberType.DOUBLE),
        ("text", NumberType.STRING),
        ("date-time", NumberType.DATETIME),
        (NumberType.HEX, NumberType.HEX),
    ],
)
def test_type_names_and_aliases(name: str, expected: NumberType) -> None:
    assert parse_number_type(name) is expected


@pytest.mark.parametrize("name", ["INT", "uint"])
def test_bare_int_is_ambiguous(name: str) -> None:
    with pytest.raises(ConfigError, match="ambiguous"):
        parse_number_type(name)


def test_unknown_type_lists_allowed() -> None:
    with pytest.raises(ConfigError, match=r"unknown number type 'FLOATY'.*UINT64.*DATETIME"):
        parse_number_type("FLOATY")


@pytest.mark.parametrize(
    ("text", "ntype", "expected"),
    [
        ("-128", "INT8", (-128, V)),
        ("127", "INT8", (127, V)),
        ("128", "INT8", (None, OVERFLOW)),
        ("-129", "INT8", (None, OVERFLOW)),
        ("255", "UINT8", (255, V)),
        ("256", "UINT8", (None, OVERFLOW)),
        ("-1", "UINT8", (None, OVERFLOW)),
        ("-0", "UINT8", (0, V)),
        ("32767", "INT16", (32767, V)),
        ("-32769", "INT16", (None, OVERFLOW)),
        ("65535", "UINT16", (65535, V)),
        ("2147483647", "INT32", (2**31 - 1, V)),
        ("2147483648", "INT32", (None, OVERFLOW)),
        ("4294967295", "UINT32", (2**32 - 1, V)),
        ("-9223372036854775808", "INT64", (-(2**63), V)),
        ("9223372036854775808", "INT64", (None, OVERFLOW)),
        ("18446744073709551615", "UINT64", (2**64 - 1, V)),
        ("18446744073709551616", "UINT64", (None, OVERFLOW)),
        ("+000.8", "FLOAT", (0.8, V)),
        ("-000073.69", "DOUBLE", (-73.69, V)),
        ("0147238.4", "FLOAT", (147238.4, V)),
        ("   1.23", "FLOAT", (1.23, V)),
        (" 20000 ", "UINT16", (20000, V)),
        ("00188123 ", "UINT32", (188123, V)),
        ("1.", "FLOAT", (1.0, V)),
        (".5", "FLOAT", (0.5, V)),
        ("0012.000", "INT16", (12, V)),
        ("12.5", "INT16", (None, INVALID)),
        ("\x00\x0042\x00", "INT8", (42, V)),
    ],
)
def test_numbers(text: str, ntype: str, expected: tuple[object, Quality]) -> None:
    value, quality = check(text, ntype)
    assert (value, quality) == expected
    assert type(value) is type(expected[0])


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "\x00" * 8,
        "---.-",
        "abc",
        "1.2.3",
        "1 2",
        "NaN",
        "nan",
        "inf",
        "-Infinity",
        "1e3",
        "0x10",
        "+",
        ".",
        "1,5",
    ],
)
@pytest.mark.parametrize("ntype", ["FLOAT", "DOUBLE", "INT32", "UINT64", "DIGITAL"])
def test_garbage_is_invalid_for_numbers(text: str, ntype: str) -> None:
    assert check(text, ntype) == (None, INVALID)


def test_decimal_comma_only_when_enabled() -> None:
    assert check("000007,4", "FLOAT") == (None, INVALID)
    assert "decimal comma" in (convert("000007,4", "FLOAT").note or "")
    assert check("000007,4", "FLOAT", decimal_comma=True) == (7.4, V)
    assert check("7.4", "FLOAT", decimal_comma=True) == (7.4, V)
    assert check("1,2,3", "FLOAT", decimal_comma=True) == (None, INVALID)
    assert check("-12,0", "INT8", decimal_comma=True) == (-12, V)


def test_float_range() -> None:
    assert check("3" + "0" * 38, "FLOAT") == (3e38, V)
    assert check("4" + "0" * 38, "FLOAT") == (None, OVERFLOW)
    assert check("4" + "0" * 38, "DOUBLE") == (4e38, V)
    assert check("1" + "0" * 400, "DOUBLE") == (None, OVERFLOW)


def test_scaling_is_exact_and_range_checked_after_scaling() -> None:
    assert check("0147238.4", "DOUBLE", multiply=1000) == (147238400.0, V)
    assert check("1234", "FLOAT", multiply=0.001) == (1.234, V)
    assert check("1.5", "INT16", multiply=10) == (15, V)
    assert check("1.55", "INT16", multiply=10) == (None, INVALID)
    assert check("100", "INT8", multiply=2) == (None, OVERFLOW)
    assert check("100", "INT8", add=27) == (127, V)
    assert check("100", "INT8", add=28) == (None, OVERFLOW)
    assert check("5", "UINT8", add=-6) == (None, OVERFLOW)
    assert check("9223372036854775807", "INT64", multiply=1, add=0) == (2**63 - 1, V)
    assert check("4611686018427387904", "INT64", multiply=2) == (None, OVERFLOW)
    value, quality = check("0.1", "DOUBLE", multiply=3)
    assert quality is V and value == 0.3  # exact decimal arithmetic, not 0.30000000000000004


def test_scaling_does_not_apply_to_other_types() -> None:
    assert check("FDF5", "HEX", multiply=10) == (0xFDF5, V)
    assert check("1", "DIGITAL", multiply=10) == (True, V)
    assert check("abc", "STRING", multiply=10) == ("abc", V)


@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan])
def test_non_finite_scaling_is_a_config_error(bad: float) -> None:
    with pytest.raises(ConfigError):
        convert("1", "FLOAT", multiply=bad)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", (False, V)),
        ("1", (True, V)),
        (" 001 ", (True, V)),
        ("1.0", (True, V)),
        ("2", (None, OVERFLOW)),
        ("-1", (None, OVERFLOW)),
        ("0.5", (None, INVALID)),
        ("on", (None, INVALID)),
    ],
)
def test_digital(text: str, expected: tuple[object, Quality]) -> None:
    assert check(text, "DIGITAL") == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("FDF5", (0xFDF5, V)),
        ("fdf5", (0xFDF5, V)),
        ("0000001C", (0x1C, V)),
        (" 00 ", (0, V)),
        ("0x1F", (0x1F, V)),
        ("FFFFFFFFFFFFFFFF", (2**64 - 1, V)),
        ("10000000000000000", (None, OVERFLOW)),
        ("G1", (None, INVALID)),
        ("-1F", (None, INVALID)),
        ("", (None, INVALID)),
        ("########", (None, INVALID)),
    ],
)
def test_hex(text: str, expected: tuple[object, Quality]) -> None:
    assert check(text, "HEX") == expected


def test_string_is_text_as_sent() -> None:
    assert check("L1-L2-L3", "STRING") == ("L1-L2-L3", V)
    assert check("00188123 ", "STRING") == ("00188123 ", V)
    assert check("", "STRING") == ("", V)
    result = convert(Value.from_raw("/SX330"), NumberType.STRING)
    assert result.value == "/SX330"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("235959", dt.time(23, 59, 59)),
        ("000000", dt.time(0, 0, 0)),
        ("0093215", dt.time(9, 32, 15)),  # season-prefixed Zhhmmss, winter
        ("1131519", dt.time(13, 15, 19)),  # summer
        ("14:32:07", dt.time(14, 32, 7)),
        ("8:30", dt.time(8, 30)),
        (" 131519 ", dt.time(13, 15, 19)),
    ],
)
def test_time_valid(text: str, expected: dt.time) -> None:
    assert check(text, "TIME") == (expected, V)


@pytest.mark.parametrize(
    "text", ["240000", "236000", "235960", "12345", "12:3", "25:00:00", "", "hhmmss", "12345678"]
)
def test_time_invalid(text: str) -> None:
    assert check(text, "TIME") == (None, INVALID)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("251118", dt.date(2025, 11, 18)),
        ("0171021", dt.date(2017, 10, 21)),  # prefixed 0YYMMDD
        ("1251118", dt.date(2025, 11, 18)),
        ("25-11-18", dt.date(2025, 11, 18)),
        ("2013-11-28", dt.date(2013, 11, 28)),
        ("240229", dt.date(2024, 2, 29)),
    ],
)
def test_date_valid(text: str, expected: dt.date) -> None:
    assert check(text, "DATE") == (expected, V)


@pytest.mark.parametrize(
    "text", ["000000", "991331", "250230", "230229", "25-13-01", "2511", "", "YYMMDD", "25/11/18"]
)
def test_date_invalid(text: str) -> None:
    assert check(text, "DATE") == (None, INVALID)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2511180930", dt.datetime(2025, 11, 18, 9, 30)),
        ("251118093015", dt.datetime(2025, 11, 18, 9, 30, 15)),
        ("12511180930", dt.datetime(2025, 11, 18, 9, 30)),  # season digit + YYMMDDhhmm
        ("1220823161500", dt.datetime(2022, 8, 23, 16, 15)),  # season + YYMMDDhhmmss
        ("13-07-19 08:30", dt.datetime(2013, 7, 19, 8, 30)),
        ("25-11-03 14:15", dt.datetime(2025, 11, 3, 14, 15)),
        ("2025-11-18T09:30:05", dt.datetime(2025, 11, 18, 9, 30, 5)),
    ],
)
def test_datetime_valid(text: str, expected: dt.datetime) -> None:
    value, quality = check(text, "DATETIME")
    assert (value, quality) == (expected, V)
    assert isinstance(value, dt.datetime)
    assert value.tzinfo is None  # meter-local time


@pytest.mark.parametrize(
    "text", ["0000000000", "9913310000", "2511182460", "251118", "25111809301", "garbage", ""]
)
def test_datetime_invalid(text: str) -> None:
    assert check(text, "DATETIME") == (None, INVALID)


def test_value_group_unit_and_override() -> None:
    value = Value.from_raw("0147238.4*kWh")
    result = convert(value, "FLOAT")
    assert result == (147238.4, V, "kWh", "0147238.4", None)
    assert convert(value, "FLOAT", unit="Wh", multiply=1000).unit == "Wh"
    assert convert(Value.from_raw("013925.5*"), "FLOAT").unit == ""
    assert convert(Value.from_raw("12"), "INT8").unit is None
    assert convert("12", "INT8").unit is None


def test_subvalue_conversion() -> None:
    value = Value.from_raw("088*C&082*C")
    second = value.subvalues[1]
    assert convert(second, "UINT8") == (82, V, "°C", "082", None)  # units written one way


def test_invalid_keeps_raw_and_unit() -> None:
    result = convert(Value.from_raw("---.-*V"), "FLOAT")
    assert result.quality is INVALID
    assert result.raw == "---.-"
    assert result.unit == "V"


@pytest.mark.parametrize(
    ("sent", "configured", "shown"),
    [
        ("KWH", None, "kWh"),
        ("m3", None, "m³"),
        ("m3ph", None, "m³/h"),
        ("kVArh", None, "kvarh"),
        ("degC", None, "°C"),
        ("furlongs", None, "furlongs"),
        ("kWh", "MWH", "MWh"),
        (" V ", None, "V"),
        ("", None, ""),
    ],
)
def test_units_are_written_one_way_for_every_consumer(
    sent: str, configured: str | None, shown: str
) -> None:
    """The unit of a converted value (what JSON lines, MQTT, the history, the API and the
    metrics get) is the one spelling of a known unit, whoever wrote it."""
    value = Value.from_raw(f"1.5*{sent}") if sent else Value.from_raw("1.5*")
    assert convert(value, "FLOAT", unit=configured).unit == shown
    assert convert(value, "FLOAT", unit=configured).quality is Quality.VALID


@settings(max_examples=300, deadline=None)
@given(
    sign=st.sampled_from(["", "+", "-"]),
    whole=st.text("0123456789", max_size=45),
    point=st.sampled_from(["", ".", ","]),
    fraction=st.text("0123456789", max_size=45),
    blanks=st.sampled_from(["", " ", "\t\x00"]),
    ntype=st.sampled_from([NumberType.FLOAT, NumberType.DOUBLE]),
    decimal_comma=st.booleans(),
)
def test_an_unscaled_float_is_the_exact_decimal_rounded_once(
    sign: str,
    whole: str,
    point: str,
    fraction: str,
    blanks: str,
    ntype: NumberType,
    decimal_comma: bool,
) -> None:
    """The unscaled FLOAT / DOUBLE path reads the text's float directly: the same value,
    sign of zero and range check as the exact decimal arithmetic the scaled path does."""
    text = f"{blanks}{sign}{whole}{point}{fraction if point else ''}{blanks}"
    result = convert(text, ntype, decimal_comma=decimal_comma)
    scaled = convert(text, ntype, decimal_comma=decimal_comma, multiply=1.0, add=-0.0)
    number = f"{sign}{whole}{point}{fraction if point else ''}"
    accepted = (whole or (point and fraction)) and (point != "," or decimal_comma)
    if not accepted:
        assert result.quality is INVALID
        return
    exact = float(Decimal(number.replace(",", ".")))
    if math.isinf(exact) or (ntype is NumberType.FLOAT and abs(exact) > 3.4028234663852886e38):
        assert (result.quality, result.value) == (OVERFLOW, None)
        assert result.note == scaled.note
        return
    assert result.quality is V
    assert isinstance(result.value, float)
    assert (result.value, math.copysign(1, result.value)) == (exact, math.copysign(1, exact))
