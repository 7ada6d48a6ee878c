"""OBIS codes in both spellings, units, scalers, COSEM date-time, value texts."""

from __future__ import annotations

from datetime import datetime

import pytest

from obisgate.dlms.axdr import BitString, DataType, DateTimeValue, Enum
from obisgate.dlms.cosem import (
    CosemClass,
    CosemDateTime,
    Obis,
    format_value,
    parse_obis,
    scaled_text,
    unit_code,
    unit_symbol,
)
from obisgate.errors import ConfigError


@pytest.mark.parametrize(
    ("text", "obis"),
    [
        ("1-0:1.8.0*255", Obis(1, 0, 1, 8, 0, 255)),
        ("1-0:1.8.0.255", Obis(1, 0, 1, 8, 0, 255)),
        ("1-0:1.8.0", Obis(1, 0, 1, 8, 0, 255)),
        ("0-0:40.0.0*255", Obis(0, 0, 40, 0, 0, 255)),
        ("1-0:1.8.0&01", Obis(1, 0, 1, 8, 0, 1)),
        ("1.8.0", Obis(1, 0, 1, 8, 0, 255)),
        ("1.8.0*24", Obis(1, 0, 1, 8, 0, 24)),
        ("32.7", Obis(1, 0, 32, 7, 0, 255)),
        ("C.1.0", Obis(1, 0, 96, 1, 0, 255)),
        ("F.F", Obis(1, 0, 97, 97, 0, 255)),
        (" 0-0:C.1.0*255 ", Obis(0, 0, 96, 1, 0, 255)),
    ],
)
def test_parse_obis(text: str, obis: Obis) -> None:
    assert parse_obis(text) == obis


@pytest.mark.parametrize("text", ["", "1.8", "1-0:1.8.0*256", "1-0:1.8.X", "hello", "1:2:3"])
def test_parse_obis_refuses(text: str) -> None:
    if text == "1.8":  # C.D is a valid reduced form (E = 0)
        assert parse_obis(text) == Obis(1, 0, 1, 8, 0, 255)
        return
    with pytest.raises(ConfigError):
        parse_obis(text)


def test_obis_text_and_bytes() -> None:
    obis = Obis.from_bytes(bytes.fromhex("0100010800FF"))
    assert str(obis) == "1-0:1.8.0*255"
    assert obis.reduced == "1.8.0"
    assert Obis(1, 0, 1, 8, 0, 24).reduced == "1.8.0*24"
    assert obis.to_bytes() == bytes.fromhex("0100010800FF")
    with pytest.raises(ValueError):
        Obis.from_bytes(b"\x01")


def test_units() -> None:
    assert [unit_symbol(u) for u in (30, 27, 35, 33, 44, 32, 13)] == [
        "Wh",
        "W",
        "V",
        "A",
        "Hz",
        "varh",
        "m³",
    ]
    assert unit_symbol(255) is None
    assert unit_symbol(None) is None
    assert unit_symbol(200) == "unit 200"
    assert unit_code("Wh") == 30
    with pytest.raises(ConfigError):
        unit_code("kWh")  # DLMS has no kWh


@pytest.mark.parametrize(
    ("value", "scaler", "text"),
    [
        (148123456, 0, "148123456"),
        (148123456, -3, "148123.456"),
        (2301, -1, "230.1"),
        (5, 3, "5000"),
        (-123, -2, "-1.23"),
        (0, -2, "0.00"),
        (7, -4, "0.0007"),
    ],
)
def test_scaled_text_is_exact(value: int, scaler: int, text: str) -> None:
    assert scaled_text(value, scaler) == text


def test_class_attributes() -> None:
    assert CosemClass.REGISTER.scaler_unit_attribute == 3
    assert CosemClass.EXTENDED_REGISTER.scaler_unit_attribute == 3
    assert CosemClass.DEMAND_REGISTER.scaler_unit_attribute == 4
    assert CosemClass.DATA.scaler_unit_attribute is None


def test_date_time() -> None:
    raw = bytes.fromhex("07E80316050A0F0000FFC400")
    stamp = CosemDateTime.decode(raw)
    assert stamp.to_datetime() == datetime(2024, 3, 22, 10, 15)
    assert stamp.deviation == -60
    assert str(stamp) == "2024-03-22 10:15:00+01:00"
    assert stamp.encode() == raw
    same = CosemDateTime.from_datetime(datetime(2024, 3, 22, 10, 15), deviation=-60)
    assert same.encode() == raw
    unspecified = CosemDateTime.decode(bytes.fromhex("FFFFFFFFFFFFFFFFFF800000"))
    assert unspecified.to_datetime() is None
    assert unspecified.deviation is None
    with pytest.raises(ValueError):
        CosemDateTime.decode(b"\x00")


def test_format_value() -> None:
    assert format_value(None) == ("", "")
    assert format_value(True) == ("true", "true")
    assert format_value(Enum(3)) == ("3", "3")
    assert format_value(b"ZMD405") == ("ZMD405", "5A4D44343035")
    assert format_value(b"\x01\x02") == ("0102", "0102")
    assert format_value(bytes.fromhex("07E80316050A0F00FF800000"))[0] == "2024-03-22 10:15:00"
    dt = DateTimeValue(DataType.DATE_TIME, bytes.fromhex("07E80316050A0F00FF800000"))
    assert format_value(dt)[0] == "2024-03-22 10:15:00"
    assert format_value(BitString(b"\xa0", 3)) == ("101", "101")
    assert format_value([1, (2, b"x")])[0] == "[1, [2, x]]"
    assert format_value(1.5) == ("1.5", "1.5")
