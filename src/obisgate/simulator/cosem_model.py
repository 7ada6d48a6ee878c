"""The COSEM objects a simulated mode E / HDLC meter serves, made from its D0 data sets.

Each data set of the profile becomes one object whose value matches it:

* a number with a unit becomes a register (class 3) holding the integer of its
  digits, with the scaler and DLMS unit that give the same quantity: DLMS has
  no kWh, so ``1.8.0(0148123.456*kWh)`` is 148123456 Wh (scaler 0) and
  ``32.7.0(230.1*V)`` is 2301 with scaler -1 V;
* a number with a unit followed by a time stamp (``1.6.0(02.468*kW)(2511180930)``)
  becomes an extended register (class 4) with that capture time;
* anything else (serial numbers, versions, status words) becomes a data
  object (class 1) holding the text as a visible-string.

The reduced D0 address is read as ``parse_obis`` reads it (``1.8.0`` is
``1-0:1.8.0*255``). A clock (0-0:1.0.0*255) is added, set from the readout's
``0.9.1`` / ``0.9.2`` when they parse, and a profile generic 1-0:99.1.0*255
holding the load profile of the programming-mode profile (or a demo one).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from obisgate.dlms.axdr import DataType, Typed
from obisgate.dlms.cosem import CosemClass, CosemDateTime, Obis, parse_obis
from obisgate.dlms.server import CosemObject
from obisgate.errors import ConfigError
from obisgate.protocol.dataset import DataSet, Value

__all__ = ["CLOCK", "LOAD_PROFILE", "cosem_objects", "register_parts"]

CLOCK: Final = Obis(0, 0, 1, 0, 0, 255)
LOAD_PROFILE: Final = Obis(1, 0, 99, 1, 0, 255)
_DEFAULT_CLOCK: Final = datetime(2024, 3, 22, 10, 15, 0)

#: D0 unit (case-insensitive) -> (DLMS unit code, power of ten to the DLMS unit).
_UNITS: Final[dict[str, tuple[int, int]]] = {
    "wh": (30, 0),
    "kwh": (30, 3),
    "mwh": (30, 6),
    "varh": (32, 0),
    "kvarh": (32, 3),
    "mvarh": (32, 6),
    "vah": (31, 0),
    "kvah": (31, 3),
    "w": (27, 0),
    "kw": (27, 3),
    "mw": (27, 6),
    "var": (29, 0),
    "kvar": (29, 3),
    "va": (28, 0),
    "kva": (28, 3),
    "mva": (28, 6),
    "v": (35, 0),
    "kv": (35, 3),
    "a": (33, 0),
    "hz": (44, 0),
    "m3": (13, 0),
    "m³": (13, 0),
    "m3ph": (15, 0),
    "gj": (25, 9),
    "mj": (25, 6),
    "kj": (25, 3),
    "j": (25, 0),
    "h": (5, 0),
    "s": (7, 0),
    "c": (9, 0),
    "°c": (9, 0),
    "k": (52, 0),
    "deg": (8, 0),
    "%": (56, 0),
    "l": (19, 0),
    "kg": (20, 0),
    "bar": (24, 0),
}
_NUMBER = re.compile(r"\s*[+-]?\d+(?:\.\d+)?\s*")
_STAMP = re.compile(r"\d{10}|\d{12}")


def register_parts(value: Value) -> tuple[int, int, int] | None:
    """``(integer, scaler, DLMS unit)`` of a D0 value with a known unit, or ``None``."""
    if value.unit is None or not _NUMBER.fullmatch(value.value):
        return None
    unit = _UNITS.get(value.unit.strip().lower())
    if unit is None:
        return None
    code, power = unit
    try:
        number = Decimal(value.value.strip())
    except InvalidOperation:
        return None
    exponent = number.as_tuple().exponent
    assert isinstance(exponent, int)
    digits = int(number.scaleb(-exponent))
    scaler = exponent + power
    if not -128 <= scaler <= 127:
        return None
    return digits, scaler, code


def _stamp(text: str) -> bytes | None:
    """A 12-byte date-time of ``YYMMDDhhmm[ss]``, or ``None``."""
    text = text.strip()
    if not _STAMP.fullmatch(text):
        return None
    try:
        when = datetime.strptime(text, "%y%m%d%H%M%S" if len(text) == 12 else "%y%m%d%H%M")
    except ValueError:
        return None
    return CosemDateTime.from_datetime(when).encode()


def _int_type(digits: int) -> DataType:
    if -0x8000_0000 <= digits <= 0x7FFF_FFFF:
        return DataType.DOUBLE_LONG if digits < 0 else DataType.DOUBLE_LONG_UNSIGNED
    return DataType.LONG64 if digits < 0 else DataType.LONG64_UNSIGNED


def _object(dataset: DataSet) -> CosemObject | None:
    try:
        obis = parse_obis(dataset.address.replace("&", "*"))
    except ConfigError:
        return None
    first = dataset.values[0]
    parts = register_parts(first)
    if parts is None:
        text = first.raw.strip()
        return CosemObject(CosemClass.DATA, obis, {2: text})
    digits, scaler, unit = parts
    value = Typed(_int_type(digits), digits)
    scaler_unit = (Typed(DataType.INTEGER, scaler), Typed(DataType.ENUM, unit))
    if len(dataset.values) > 1 and (stamp := _stamp(dataset.values[1].raw)) is not None:
        return CosemObject(
            CosemClass.EXTENDED_REGISTER,
            obis,
            {2: value, 3: scaler_unit, 4: Typed(DataType.UNSIGNED, 0), 5: stamp},
        )
    return CosemObject(CosemClass.REGISTER, obis, {2: value, 3: scaler_unit})


def _clock_time(datasets: Sequence[DataSet]) -> datetime:
    found = {ds.address: ds.value.value.strip() for ds in datasets}
    time_text = re.sub(r"\D", "", found.get("0.9.1", ""))[-6:]
    date_text = re.sub(r"\D", "", found.get("0.9.2", ""))[-6:]
    try:
        return datetime.strptime(date_text + time_text, "%y%m%d%H%M%S")
    except ValueError:
        return _DEFAULT_CLOCK


def cosem_objects(
    datasets: Sequence[DataSet],
    *,
    profile_rows: Sequence[tuple[datetime, tuple[str, ...]]] = (),
    profile_channels: Sequence[tuple[str, str]] = (("1.5.0", "kW"), ("2.5.0", "kW")),
    profile_interval_min: int = 15,
) -> list[CosemObject]:
    """The objects of a meter whose D0 readout is ``datasets`` (see the module docstring).

    Args:
        datasets: the D0 data sets; addresses that are no OBIS code are left out,
            as is a second data set with the same code.
        profile_rows: the load profile: time stamp and one value text per channel.
        profile_channels: the profile's channels (D0 code, D0 unit).
        profile_interval_min: the capture period in minutes.
    """
    objects: list[CosemObject] = []
    seen: set[Obis] = {CLOCK, LOAD_PROFILE}
    for dataset in datasets:
        obj = _object(dataset)
        if obj is not None and obj.obis not in seen:
            seen.add(obj.obis)
            objects.append(obj)
    clock = CosemDateTime.from_datetime(_clock_time(datasets), deviation=-60).encode()
    objects.append(CosemObject(CosemClass.CLOCK, CLOCK, {2: clock, 3: Typed(DataType.LONG, 60)}))
    for obj in _load_profile(profile_rows, profile_channels, profile_interval_min):
        if obj.obis not in seen or obj.obis == LOAD_PROFILE:
            seen.add(obj.obis)
            objects.append(obj)
    return objects


def _load_profile(
    rows: Sequence[tuple[datetime, tuple[str, ...]]],
    channels: Sequence[tuple[str, str]],
    interval_min: int,
) -> list[CosemObject]:
    capture: list[Any] = [
        (
            Typed(DataType.LONG_UNSIGNED, CosemClass.CLOCK),
            CLOCK.to_bytes(),
            Typed(DataType.INTEGER, 2),
            Typed(DataType.LONG_UNSIGNED, 0),
        )
    ]
    registers: list[CosemObject] = []
    scalers: list[tuple[int, int]] = []
    for code, unit in channels:
        obis = parse_obis(code)
        sample = next((r[1][len(scalers)] for r in rows if len(r[1]) > len(scalers)), "0")
        parts = register_parts(Value.from_raw(f"{sample}*{unit}"))
        scaler, unit_code = (parts[1], parts[2]) if parts else (0, 255)
        scalers.append((scaler, unit_code))
        capture.append(
            (
                Typed(DataType.LONG_UNSIGNED, CosemClass.REGISTER),
                obis.to_bytes(),
                Typed(DataType.INTEGER, 2),
                Typed(DataType.LONG_UNSIGNED, 0),
            )
        )
        registers.append(
            CosemObject(
                CosemClass.REGISTER,
                obis,
                {
                    2: Typed(DataType.DOUBLE_LONG_UNSIGNED, 0),
                    3: (Typed(DataType.INTEGER, scaler), Typed(DataType.ENUM, unit_code)),
                },
            )
        )
    buffer: list[tuple[Any, ...]] = []
    for when, values in rows:
        row: list[Any] = [CosemDateTime.from_datetime(when, deviation=-60).encode()]
        for i, (scaler, _unit) in enumerate(scalers):
            text = values[i] if i < len(values) else "0"
            parts = register_parts(Value.from_raw(f"{text}*{channels[i][1]}"))
            number = 0
            if parts is not None:
                number = int(Decimal(parts[0]).scaleb(parts[1] - scaler))
            row.append(Typed(_int_type(number), number))
        buffer.append(tuple(row))
    profile = CosemObject(
        CosemClass.PROFILE_GENERIC,
        LOAD_PROFILE,
        {
            3: capture,
            4: Typed(DataType.DOUBLE_LONG_UNSIGNED, interval_min * 60),
            5: Typed(DataType.ENUM, 1),
            7: Typed(DataType.DOUBLE_LONG_UNSIGNED, len(buffer)),
            8: Typed(DataType.DOUBLE_LONG_UNSIGNED, max(len(buffer), 1)),
        },
        version=1,
        rows=tuple(buffer),
    )
    return [*registers, profile]
