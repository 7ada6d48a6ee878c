"""COSEM names and values: OBIS codes, interface classes, units, scalers, date-time.

OBIS codes (IEC 62056-61) are six value groups ``A-B:C.D.E*F``. :func:`parse_obis`
takes both spellings a user writes: the full one (``1-0:1.8.0*255``, also
``1-0:1.8.0.255`` and ``&`` for ``*``) and the reduced one of D0 readouts
(``1.8.0`` = ``1-0:1.8.0*255``, ``1.8.0*24`` = F 24, ``32.7`` = E 0), with the
D0 letters in group C (``C`` 96, ``F`` 97, ``L`` 98, ``P`` 99).

DLMS has no kWh: a register holds an integer, a scaler (a power of ten) and a
unit from the table of IEC 62056-6-2 (:data:`UNITS`). :func:`scaled_text`
turns integer and scaler into the exact decimal text, without float rounding.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import IntEnum
from typing import Any, Final, NamedTuple

from obisgate.dlms.axdr import BitString, DateTimeValue, Enum
from obisgate.errors import ConfigError

__all__ = [
    "UNITS",
    "CosemClass",
    "CosemDateTime",
    "Obis",
    "format_value",
    "parse_obis",
    "scaled_text",
    "unit_symbol",
]


class CosemClass(IntEnum):
    """Interface classes obisgate reads (class_id)."""

    DATA = 1
    REGISTER = 3
    EXTENDED_REGISTER = 4
    DEMAND_REGISTER = 5
    PROFILE_GENERIC = 7
    CLOCK = 8
    ASSOCIATION_SN = 12
    ASSOCIATION_LN = 15
    SAP_ASSIGNMENT = 17

    @property
    def value_attribute(self) -> int:
        """The attribute holding the value (2; a demand register's current average is 2 too)."""
        return 2

    @property
    def scaler_unit_attribute(self) -> int | None:
        """The attribute holding ``scaler_unit`` (3, or 4 for a demand register), if any."""
        if self in (CosemClass.REGISTER, CosemClass.EXTENDED_REGISTER):
            return 3
        if self is CosemClass.DEMAND_REGISTER:
            return 4
        return None


#: Classes whose value a readout shows (attribute 2).
VALUE_CLASSES: Final = frozenset(
    {
        CosemClass.DATA,
        CosemClass.REGISTER,
        CosemClass.EXTENDED_REGISTER,
        CosemClass.DEMAND_REGISTER,
        CosemClass.CLOCK,
    }
)

#: DLMS unit enum -> symbol (IEC 62056-6-2, table of units). 255: count, no unit.
UNITS: Final[dict[int, str]] = {
    1: "a",
    2: "mo",
    3: "wk",
    4: "d",
    5: "h",
    6: "min",
    7: "s",
    8: "°",
    9: "°C",
    10: "currency",
    11: "m",
    12: "m/s",
    13: "m³",
    14: "m³",
    15: "m³/h",
    16: "m³/h",
    17: "m³/d",
    18: "m³/d",
    19: "l",
    20: "kg",
    21: "N",
    22: "Nm",
    23: "Pa",
    24: "bar",
    25: "J",
    26: "J/h",
    27: "W",
    28: "VA",
    29: "var",
    30: "Wh",
    31: "VAh",
    32: "varh",
    33: "A",
    34: "C",
    35: "V",
    36: "V/m",
    37: "F",
    38: "Ω",
    39: "Ωm²/m",
    40: "Wb",
    41: "T",
    42: "A/m",
    43: "H",
    44: "Hz",
    45: "1/(Wh)",
    46: "1/(varh)",
    47: "1/(VAh)",
    48: "V²h",
    49: "A²h",
    50: "kg/s",
    51: "S",
    52: "K",
    53: "1/(V²h)",
    54: "1/(A²h)",
    55: "1/m³",
    56: "%",
    57: "Ah",
    60: "Wh/m³",
    61: "J/m³",
    62: "Mol %",
    63: "g/m³",
    64: "Pa s",
    65: "J/kg",
    66: "g/cm²",
    67: "atm",
    70: "dBm",
    71: "dBµV",
    72: "dB",
}
_SYMBOL_TO_UNIT: Final[dict[str, int]] = {}
for _code, _symbol in UNITS.items():
    _SYMBOL_TO_UNIT.setdefault(_symbol, _code)


def unit_symbol(unit: int | None) -> str | None:
    """The symbol of DLMS unit ``unit``; ``None`` for no unit (255, 0) or none given.

    An unknown code is shown as ``unit NN`` rather than dropped.
    """
    if unit is None or unit in (0, 255):
        return None
    if unit == 254:
        return "other unit"
    return UNITS.get(unit, f"unit {unit}")


def unit_code(symbol: str) -> int:
    """The DLMS unit code of ``symbol`` (for building simulated registers).

    Raises:
        ConfigError: no DLMS unit has that symbol.
    """
    try:
        return _SYMBOL_TO_UNIT[symbol]
    except KeyError:
        raise ConfigError(f"no DLMS unit has the symbol {symbol!r}") from None


_D0_LETTERS: Final = {"C": 96, "F": 97, "L": 98, "P": 99}
_FULL = re.compile(
    r"(?P<a>\w{1,3})-(?P<b>\w{1,3}):(?P<c>\w{1,3})\.(?P<d>\w{1,3})\.(?P<e>\w{1,3})"
    r"(?:[*&.](?P<f>\w{1,3}))?"
)
_REDUCED = re.compile(r"(?P<c>\w{1,3})\.(?P<d>\w{1,3})(?:\.(?P<e>\w{1,3}))?(?:[*&](?P<f>\w{1,3}))?")


class Obis(NamedTuple):
    """An OBIS code: six value groups 0-255."""

    a: int
    b: int
    c: int
    d: int
    e: int
    f: int

    @classmethod
    def from_bytes(cls, data: bytes) -> Obis:
        """The code of a 6-byte logical name.

        Raises:
            ValueError: not six bytes.
        """
        if len(data) != 6:
            raise ValueError(f"a logical name has 6 bytes, not {len(data)}")
        return cls(*data)

    def to_bytes(self) -> bytes:
        """The 6-byte logical name."""
        return bytes(self)

    def __str__(self) -> str:
        return f"{self.a}-{self.b}:{self.c}.{self.d}.{self.e}*{self.f}"

    @property
    def reduced(self) -> str:
        """The D0 spelling ``C.D.E`` (``C.D.E*F`` when F is not 255)."""
        text = f"{self.c}.{self.d}.{self.e}"
        return text if self.f == 255 else f"{text}*{self.f}"


def _group(text: str | None, name: str, code: str, default: int) -> int:
    if text is None:
        return default
    if text.isdigit():
        value = int(text)
    elif name in "cd" and text.upper() in _D0_LETTERS and len(text) == 1:
        value = _D0_LETTERS[text.upper()]
    else:
        raise ConfigError(f"OBIS code {code!r}: group {name.upper()} {text!r} is not 0-255")
    if value > 255:
        raise ConfigError(f"OBIS code {code!r}: group {name.upper()} {value} is not 0-255")
    return value


def parse_obis(code: str) -> Obis:
    """Parse an OBIS code in either spelling (see the module docstring).

    Raises:
        ConfigError: not an OBIS code, or a group above 255.
    """
    text = code.strip()
    match = _FULL.fullmatch(text)
    if match is not None:
        g = match.groupdict()
        return Obis(
            *(_group(g[k], k, code, 255 if k == "f" else 0) for k in ("a", "b", "c", "d", "e", "f"))
        )
    match = _REDUCED.fullmatch(text)
    if match is not None:
        g = match.groupdict()
        return Obis(
            1,
            0,
            _group(g["c"], "c", code, 0),
            _group(g["d"], "d", code, 0),
            _group(g["e"], "e", code, 0),
            _group(g["f"], "f", code, 255),
        )
    raise ConfigError(
        f"OBIS code {code!r}: expected A-B:C.D.E*F (e.g. 1-0:1.8.0*255) or C.D.E (e.g. 1.8.0)"
    )


def scaled_text(value: int, scaler: int) -> str:
    """``value`` x 10^``scaler`` as exact decimal text (``148123456, -3`` -> ``148123.456``)."""
    if scaler == 0:
        return str(value)
    number = Decimal(value).scaleb(scaler)
    if scaler > 0:
        return str(int(number))
    return f"{number:f}"


@dataclass(frozen=True, slots=True)
class CosemDateTime:
    """A COSEM date-time (12 bytes): fields 0xFF / 0xFFFF / 0x8000 mean "not specified".

    Attributes:
        year, month, day, weekday, hour, minute, second, hundredths: as sent
            (``None`` when not specified).
        deviation: minutes local time is behind UTC (``None``: not specified).
        status: the clock status byte (``None``: not specified).
    """

    year: int | None
    month: int | None
    day: int | None
    weekday: int | None
    hour: int | None
    minute: int | None
    second: int | None
    hundredths: int | None
    deviation: int | None
    status: int | None

    @classmethod
    def decode(cls, data: bytes) -> CosemDateTime:
        """Parse 12 bytes.

        Raises:
            ValueError: not 12 bytes.
        """
        if len(data) != 12:
            raise ValueError(f"a COSEM date-time has 12 bytes, not {len(data)}")
        year = int.from_bytes(data[0:2], "big")
        deviation = int.from_bytes(data[9:11], "big", signed=True)

        def opt(b: int) -> int | None:
            return None if b == 0xFF else b

        return cls(
            None if year == 0xFFFF else year,
            opt(data[2]),
            opt(data[3]),
            opt(data[4]),
            opt(data[5]),
            opt(data[6]),
            opt(data[7]),
            opt(data[8]),
            None if deviation == -0x8000 else deviation,
            opt(data[11]),
        )

    @classmethod
    def from_datetime(
        cls, when: datetime, *, deviation: int | None = None, status: int | None = 0
    ) -> CosemDateTime:
        """The date-time of a naive (meter local) ``datetime``."""
        return cls(
            when.year,
            when.month,
            when.day,
            when.isoweekday(),
            when.hour,
            when.minute,
            when.second,
            when.microsecond // 10000,
            deviation,
            status,
        )

    def encode(self) -> bytes:
        """The 12 bytes."""

        def b(v: int | None) -> int:
            return 0xFF if v is None else v

        year = 0xFFFF if self.year is None else self.year
        deviation = -0x8000 if self.deviation is None else self.deviation
        return (
            year.to_bytes(2, "big")
            + bytes(
                (
                    b(self.month),
                    b(self.day),
                    b(self.weekday),
                    b(self.hour),
                    b(self.minute),
                    b(self.second),
                    b(self.hundredths),
                )
            )
            + deviation.to_bytes(2, "big", signed=True)
            + bytes((b(self.status),))
        )

    def to_datetime(self) -> datetime | None:
        """The naive local time, or ``None`` when the date or time is not fully specified
        or impossible."""
        fields = (self.year, self.month, self.day, self.hour, self.minute)
        if any(f is None for f in fields):
            return None
        try:
            return datetime(
                self.year or 0,
                self.month or 0,
                self.day or 0,
                self.hour or 0,
                self.minute or 0,
                self.second or 0,
                (self.hundredths or 0) * 10000 if (self.hundredths or 0) < 100 else 0,
            )
        except ValueError:
            return None

    def __str__(self) -> str:
        when = self.to_datetime()
        if when is None:
            return self.encode().hex().upper()
        text = when.strftime("%Y-%m-%d %H:%M:%S")
        if self.deviation is not None:
            # DLMS counts minutes local time is *behind* UTC; ISO 8601 the offset ahead.
            offset = timedelta(minutes=-self.deviation)
            sign = "-" if offset < timedelta(0) else "+"
            minutes = abs(self.deviation)
            text += f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"
        return text


def _printable(raw: bytes) -> bool:
    return bool(raw) and all(0x20 <= b < 0x7F for b in raw)


def format_value(value: Any) -> tuple[str, str]:
    """``(value text, raw text)`` of a decoded value for a readout's data set.

    Numbers give their decimal text (both the same); a 12-byte octet-string or
    a date-time gives ``YYYY-MM-DD hh:mm:ss[+hh:mm]`` and its hex; a printable
    octet-string its text and hex; other octet-strings hex twice; arrays and
    structures a bracketed list of their elements.
    """
    if value is None:
        return "", ""
    if isinstance(value, bool):
        text = "true" if value else "false"
        return text, text
    if isinstance(value, Enum | int):
        return str(int(value)), str(int(value))
    if isinstance(value, float):
        return repr(value), repr(value)
    if isinstance(value, bytes):
        hexed = value.hex().upper()
        if len(value) == 12 and not _printable(value):
            stamp = CosemDateTime.decode(value)
            if stamp.to_datetime() is not None:
                return str(stamp), hexed
        if _printable(value):
            return value.decode("ascii"), hexed
        return hexed, hexed
    if isinstance(value, str):
        return value, value
    if isinstance(value, DateTimeValue):
        hexed = value.data.hex().upper()
        if len(value.data) == 12:
            return str(CosemDateTime.decode(value.data)), hexed
        return hexed, hexed
    if isinstance(value, BitString):
        return str(value), str(value)
    if isinstance(value, list | tuple):
        parts = [format_value(v)[0] for v in value]
        text = "[" + ", ".join(parts) + "]"
        return text, text
    return str(value), str(value)
