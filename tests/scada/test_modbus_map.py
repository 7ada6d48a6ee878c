"""The Modbus register map: byte-exact encodings, orders, quality register, unmapped registers."""

from __future__ import annotations

import datetime as dt
import math
import struct

import pytest

from obisgate.gateway.outputs.modbus.mapping import RegisterMap, RegisterSlot, encode, scaled
from obisgate.gateway.quality import Quality
from obisgate.gateway.updates import SignalUpdate

T0 = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("kind", "value", "registers"),
    [
        ("float32", 230.5, [0x4366, 0x8000]),
        ("float32", -1.0, [0xBF80, 0x0000]),
        ("float64", 1.0, [0x3FF0, 0, 0, 0]),
        ("float64", 148123.456, [0x4102, 0x14DB, 0xA5E3, 0x53F8]),
        ("int16", -2, [0xFFFE]),
        ("uint16", 65535, [0xFFFF]),
        ("int32", -2, [0xFFFF, 0xFFFE]),
        ("int32", 148123456, [0x08D4, 0x2F40]),
        ("uint32", 0x12345678, [0x1234, 0x5678]),
        ("int64", -1, [0xFFFF] * 4),
        ("uint64", 0x0102030405060708, [0x0102, 0x0304, 0x0506, 0x0708]),
        ("uint16", True, [1]),
    ],
)
def test_big_endian_encodings(kind: str, value: float, registers: list[int]) -> None:
    assert encode(kind, value) == registers


def test_word_and_byte_order() -> None:
    assert encode("uint32", 0x12345678, "little", "big") == [0x5678, 0x1234]
    assert encode("uint32", 0x12345678, "big", "little") == [0x3412, 0x7856]
    assert encode("uint32", 0x12345678, "little", "little") == [0x7856, 0x3412]
    assert encode("uint64", 0x0102030405060708, "little") == [0x0708, 0x0506, 0x0304, 0x0102]
    assert encode("float32", 230.5, "little") == [0x8000, 0x4366]
    assert encode("int16", 0x0102, "little", "little") == [0x0201]


@pytest.mark.parametrize(
    ("kind", "value"),
    [("int16", 40000), ("uint16", -1), ("int32", 2**31), ("uint64", 2**64), ("int32", 1.5),
     ("float32", 1e39)],
)  # fmt: skip
def test_values_that_do_not_fit(kind: str, value: float) -> None:
    with pytest.raises(OverflowError):
        encode(kind, value)


def update(signal: str, value: object, quality: Quality = Quality.VALID) -> SignalUpdate:
    return SignalUpdate("m", signal, value, None, T0, quality)


def float32(registers: list[int]) -> float:
    value: float = struct.unpack(">f", struct.pack(">HH", *registers))[0]
    return value


def make_map() -> RegisterMap:
    return RegisterMap(
        [
            RegisterSlot(("m", "volts"), 0, "float32", quality_address=100),
            RegisterSlot(("m", "count"), 2, "int32", quality_address=101),
            RegisterSlot(("m", "flag"), 10, "uint16"),
        ]
    )


def test_before_the_first_reading() -> None:
    registers = make_map()
    assert math.isnan(float32(registers.read(0, 2)))
    assert registers.read(2, 2) == [0, 0]
    assert registers.read(100, 2) == [3, 3]  # IV + NT


def test_values_and_quality_registers() -> None:
    registers = make_map()
    assert registers.update(update("volts", 230.5))
    assert registers.update(update("count", 7))
    assert not registers.update(update("unmapped", 1))
    assert registers.read(0, 4) == [0x4366, 0x8000, 0, 7]
    assert registers.read(100, 2) == [0, 0]


def test_invalid_values_read_nan_for_floats_and_keep_the_last_integer() -> None:
    registers = make_map()
    registers.update(update("volts", 230.5))
    registers.update(update("count", 7))
    registers.update(update("volts", 230.5, Quality.NOT_TOPICAL))
    registers.update(update("count", 7, Quality.NOT_TOPICAL))
    assert math.isnan(float32(registers.read(0, 2)))
    assert registers.read(2, 2) == [0, 7]
    assert registers.read(100, 2) == [2, 2]
    registers.update(update("count", None, Quality.INVALID))
    assert (registers.read(2, 2), registers.read(101, 1)) == ([0, 7], [1])
    registers.update(update("count", 2**40))  # valid for the meter, too big for int32
    assert (registers.read(2, 2), registers.read(101, 1)) == ([0, 7], [4])
    registers.update(update("count", None, Quality.NOT_TOPICAL | Quality.OVERFLOW))
    assert registers.read(101, 1) == [6]


def test_mapped_registers_and_ranges() -> None:
    registers = make_map()
    assert registers.ranges() == [(0, 4), (10, 1), (100, 2)]
    assert registers.is_mapped(0, 4)
    assert registers.is_mapped(100, 2)
    assert not registers.is_mapped(3, 2)
    assert not registers.is_mapped(65535, 2)


@pytest.mark.parametrize(
    ("kind", "value", "scale", "expected"),
    [
        ("int32", 1234.5678, 1000.0, 1234568),
        ("int32", -0.0005, 1000.0, -1),  # halves away from zero
        ("uint32", 0.0005, 1000.0, 1),
        ("int16", 2**62 + 1, 1.0, 2**62 + 1),  # integers stay exact (and overflow on encode)
        ("float32", 1.5, 10.0, 15.0),
    ],
)
def test_scaled_values(kind: str, value: float, scale: float, expected: float) -> None:
    assert scaled(kind, value, scale) == expected


def test_scaled_integer_register_and_its_overflow() -> None:
    registers = RegisterMap([RegisterSlot(("m", "wh"), 0, "uint32", 10, scale=1000.0)])
    registers.update(update("wh", 148123.456))
    assert registers.read(0, 2) == [0x08D4, 0x2F40]
    assert registers.read(10, 1) == [0]
    registers.update(update("wh", 5_000_000.0))  # 5e9 Wh does not fit an uint32
    assert (registers.read(0, 2), registers.read(10, 1)) == ([0x08D4, 0x2F40], [4])


def test_a_signal_never_read_says_invalid_and_not_topical_until_its_first_value() -> None:
    registers = make_map()
    registers.update(update("count", None, Quality.NOT_TOPICAL))  # a failed readout
    registers.update(update("volts", None, Quality.INVALID))  # text that did not parse
    assert registers.read(100, 2) == [3, 3]
    registers.update(update("count", 5))
    registers.update(update("count", 5, Quality.NOT_TOPICAL))  # read before: NT only
    assert registers.read(101, 1) == [2]


def test_bits_of_digital_signals() -> None:
    registers = RegisterMap([RegisterSlot(("m", "door"), None, "uint16", 20, coil=3)])
    assert registers.has_bits
    assert registers.read_bits(3, 1) == [False]
    assert registers.read_bits(2, 2) is None  # bit 2 is not mapped
    registers.update(update("door", 1))
    assert registers.read_bits(3, 1) == [True]
    assert registers.read_registers(20, 1) == [0]
    registers.update(update("door", None, Quality.NOT_TOPICAL))
    assert (registers.read_bits(3, 1), registers.read_registers(20, 1)) == ([True], [2])
    assert not make_map().has_bits
