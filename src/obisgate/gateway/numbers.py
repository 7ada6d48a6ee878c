"""Signal number types and the conversion of a meter's value text into a typed value.

Number types (``number_type`` of a signal; names are case-insensitive, blanks,
``_`` and ``-`` inside them are ignored):

=============  ==============================================================
``FLOAT``      decimal number; OVERFLOW beyond the IEEE single range (±3.4e38).
               The value is a Python ``float`` (not rounded to 32 bits).
``DOUBLE``     decimal number; OVERFLOW when it is not finite as a double.
``DIGITAL``    ``0`` or ``1`` (``bool``); other integers are OVERFLOW.
``INT8``       signed integers of 8, 16, 32, 64 bits (``int``); OVERFLOW
``INT16``      outside the type's range. ``UINT8`` ... ``UINT64``: the
``INT32``      unsigned ones. A fractional value (after scaling) is INVALID,
``INT64``      never rounded; ``12.000`` is 12.
``STRING``     the value text exactly as sent (unit split off), never invalid.
``HEX``        hex-coded unsigned integer (``FDF5``, optional ``0x``); OVERFLOW
               beyond 64 bits.
``TIME``       ``hhmmss``, season-prefixed ``Zhhmmss``, ``hh:mm:ss`` or
               ``hh:mm`` (``datetime.time``).
``DATE``       ``YYMMDD``, prefixed ``0YYMMDD``, ``YY-MM-DD`` or ``YYYY-MM-DD``
               (``datetime.date``; two-digit years are 20YY).
``DATETIME``   ``YYMMDDhhmm[ss]``, prefixed ``ZYYMMDDhhmm[ss]``,
               ``YY-MM-DD hh:mm[:ss]`` or ``YYYY-MM-DD hh:mm[:ss]`` (also with
               ``T`` or ``,`` between date and time): a naive
               ``datetime.datetime`` in the meter's own local time.
=============  ==============================================================

Aliases: ``SINT8``..``SINT64`` (signed), ``USINT`` = UINT8, ``BYTE`` = UINT8,
``WORD`` = UINT16, ``DWORD`` = UINT32, ``LWORD``/``QWORD`` = UINT64, ``BOOL``/
``BOOLEAN``/``BIT`` = DIGITAL, ``REAL``/``FLOAT32``/``SINGLE`` = FLOAT,
``LREAL``/``FLOAT64`` = DOUBLE, ``TEXT``/``STR`` = STRING. Bare ``INT``/``UINT``
are refused: 16 bits in IEC 61131, 32 in C.

Numbers are parsed after trimming blanks (space, tab, CR, LF, NUL): an optional
sign, digits, and one decimal point (``1.``, ``.5`` allowed). A decimal comma is
accepted only with ``decimal_comma=True`` (then a point still works): meters that
use commas to separate values inside one bracket must not be misread. Exponents,
``NaN``, ``inf``, placeholders such as ``---.-`` and empty values are INVALID.
Scaling ``value * multiply + add`` is exact (decimal arithmetic) and applies to
FLOAT, DOUBLE and the integer types only; the range check is made on the scaled
value.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import re
from enum import StrEnum
from typing import NamedTuple

from obisgate import ConfigError, Value
from obisgate.gateway.quality import Quality
from obisgate.gateway.units import normalise_unit

__all__ = [
    "ALLOWED_NUMBER_TYPES",
    "NUMERIC_TYPES",
    "SCALED_TYPES",
    "Converted",
    "NumberType",
    "TypedValue",
    "convert",
    "convert_number",
    "parse_number_type",
]


class NumberType(StrEnum):
    """The type a signal's value text is converted to (see the module docstring)."""

    FLOAT = "FLOAT"
    DOUBLE = "DOUBLE"
    DIGITAL = "DIGITAL"
    INT8 = "INT8"
    INT16 = "INT16"
    INT32 = "INT32"
    INT64 = "INT64"
    UINT8 = "UINT8"
    UINT16 = "UINT16"
    UINT32 = "UINT32"
    UINT64 = "UINT64"
    STRING = "STRING"
    HEX = "HEX"
    TIME = "TIME"
    DATE = "DATE"
    DATETIME = "DATETIME"


#: Types that ``multiply`` / ``add`` apply to.
SCALED_TYPES = frozenset(
    {
        NumberType.FLOAT,
        NumberType.DOUBLE,
        NumberType.INT8,
        NumberType.INT16,
        NumberType.INT32,
        NumberType.INT64,
        NumberType.UINT8,
        NumberType.UINT16,
        NumberType.UINT32,
        NumberType.UINT64,
    }
)

_INT_RANGES: dict[NumberType, tuple[int, int]] = {
    NumberType.INT8: (-(2**7), 2**7 - 1),
    NumberType.INT16: (-(2**15), 2**15 - 1),
    NumberType.INT32: (-(2**31), 2**31 - 1),
    NumberType.INT64: (-(2**63), 2**63 - 1),
    NumberType.UINT8: (0, 2**8 - 1),
    NumberType.UINT16: (0, 2**16 - 1),
    NumberType.UINT32: (0, 2**32 - 1),
    NumberType.UINT64: (0, 2**64 - 1),
}
_FLOAT32_MAX = 3.4028234663852886e38
# Module constants: an enum member looked up on its class costs ~0.1 us each time.
_STRING, _FLOAT, _DOUBLE = NumberType.STRING, NumberType.FLOAT, NumberType.DOUBLE
_VALID = Quality.VALID
_new_tuple = tuple.__new__  # builds a Converted without its keyword-handling __new__
_HEX_MAX = 2**64 - 1

_ALIASES: dict[str, NumberType] = {
    **{t.value: t for t in NumberType},
    **{f"SINT{n}": NumberType[f"INT{n}"] for n in (8, 16, 32, 64)},
    "USINT": NumberType.UINT8,
    "BYTE": NumberType.UINT8,
    "WORD": NumberType.UINT16,
    "DWORD": NumberType.UINT32,
    "LWORD": NumberType.UINT64,
    "QWORD": NumberType.UINT64,
    "BOOL": NumberType.DIGITAL,
    "BOOLEAN": NumberType.DIGITAL,
    "BIT": NumberType.DIGITAL,
    "REAL": NumberType.FLOAT,
    "FLOAT32": NumberType.FLOAT,
    "SINGLE": NumberType.FLOAT,
    "LREAL": NumberType.DOUBLE,
    "FLOAT64": NumberType.DOUBLE,
    "TEXT": NumberType.STRING,
    "STR": NumberType.STRING,
}
_AMBIGUOUS = {"INT": "INT16 or INT32", "UINT": "UINT16 or UINT32"}

#: What ``parse_number_type`` accepts, for error messages.
ALLOWED_NUMBER_TYPES = ", ".join(t.value for t in NumberType)


def parse_number_type(name: str | NumberType) -> NumberType:
    """Return the number type a name or alias stands for.

    Raises:
        ConfigError: unknown or ambiguous name (the message lists what is allowed).
    """
    if isinstance(name, NumberType):
        return name
    key = re.sub(r"[\s_-]+", "", str(name)).upper()
    found = _ALIASES.get(key)
    if found is not None:
        return found
    if key in _AMBIGUOUS:
        raise ConfigError(f"number type {name!r} is ambiguous: use {_AMBIGUOUS[key]}")
    raise ConfigError(
        f"unknown number type {name!r}; allowed: {ALLOWED_NUMBER_TYPES} "
        "(or an alias such as SINT16, WORD, DWORD, BOOL, REAL)"
    )


TypedValue = bool | int | float | str | dt.time | dt.date | dt.datetime
"""What a conversion can produce (``datetime.datetime`` is also a ``date``)."""


class Converted(NamedTuple):
    """The result of a conversion.

    Attributes:
        value: the typed value; ``None`` unless the quality is valid.
        quality: :attr:`Quality.VALID`, or INVALID / OVERFLOW with ``value=None``.
        unit: the unit as sent (``None`` without ``*``) or the override.
        raw: the value text that was converted.
        note: why the value is not valid, in words (``None`` when valid).
    """

    value: TypedValue | None
    quality: Quality
    unit: str | None
    raw: str = ""
    note: str | None = None


_BLANKS = " \t\r\n\x00"
_NUMBER_POINT = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
_NUMBER_COMMA = re.compile(r"[+-]?(?:\d+(?:[.,]\d*)?|[.,]\d+)")
_HEX = re.compile(r"(?:0[xX])?([0-9A-Fa-f]+)")
_CTX = decimal.Context(prec=400, Emax=999_999, Emin=-999_999)

_TIME_FORMATS = (
    re.compile(r"\d?(?P<H>\d\d)(?P<M>\d\d)(?P<S>\d\d)"),
    re.compile(r"(?P<H>\d\d?):(?P<M>\d\d)(?::(?P<S>\d\d))?"),
)
_DATE_FORMATS = (
    re.compile(r"\d?(?P<y>\d\d)(?P<m>\d\d)(?P<d>\d\d)"),
    re.compile(r"(?P<y>\d\d|\d{4})-(?P<m>\d\d)-(?P<d>\d\d)"),
)
_DATETIME_FORMATS = (
    re.compile(r"\d?(?P<y>\d\d)(?P<m>\d\d)(?P<d>\d\d)(?P<H>\d\d)(?P<M>\d\d)(?P<S>\d\d)?"),
    re.compile(
        r"(?P<y>\d\d|\d{4})-(?P<m>\d\d)-(?P<d>\d\d)[ T,]+"
        r"(?P<H>\d\d?):(?P<M>\d\d)(?::(?P<S>\d\d))?"
    ),
)


def convert(
    value: Value | str,
    number_type: NumberType | str,
    *,
    multiply: float = 1,
    add: float = 0,
    decimal_comma: bool = False,
    unit: str | None = None,
) -> Converted:
    """Convert one value group (or its text) to a typed value with a quality.

    Args:
        value: a value group as parsed (its ``value`` text and ``unit`` are used;
            pick a sub-value with :attr:`Value.subvalues` first), or plain text.
        number_type: the target type, a :class:`NumberType` or a name/alias.
        multiply: scale factor for FLOAT, DOUBLE and integer types.
        add: offset added after ``multiply``.
        decimal_comma: also accept ``,`` as the decimal separator.
        unit: unit override; ``None`` keeps the unit the meter sent. Either is
            written one way (:func:`~obisgate.gateway.units.normalise_unit`).

    Returns:
        The converted value. Bad text never raises: it yields INVALID, a value
        that does not fit the type yields OVERFLOW, both with ``value=None``.

    Raises:
        ConfigError: ``number_type`` is not a known name, or ``multiply``/``add``
            is not finite.
    """
    ntype = parse_number_type(number_type)
    if isinstance(value, Value):
        text, sent_unit = value.value, value.unit
    else:
        text, sent_unit = value, None
    out_unit = normalise_unit(sent_unit if unit is None else unit)
    try:
        typed = _convert_text(text, ntype, multiply, add, decimal_comma)
    except _Invalid as exc:
        return Converted(None, Quality.INVALID, out_unit, text, str(exc))
    except _Overflow as exc:
        return Converted(None, Quality.OVERFLOW, out_unit, text, str(exc))
    return _new_tuple(Converted, (typed, _VALID, out_unit, text, None))


#: The types a computed number (a derived signal's result) may be given.
NUMERIC_TYPES = SCALED_TYPES | {NumberType.DIGITAL, NumberType.HEX}


def convert_number(number: int | float, number_type: NumberType) -> Converted:
    """A computed number (a derived signal's result) as ``number_type``, with a quality.

    FLOAT / DOUBLE: a ``float``, OVERFLOW when not finite or beyond the type's
    range. Integer types and HEX: an ``int``, INVALID when the number has a
    fraction (never rounded), OVERFLOW outside the type's range. DIGITAL: a
    ``bool`` from 0 or 1, OVERFLOW for another whole number.

    Raises:
        ConfigError: ``number_type`` is not one of :data:`NUMERIC_TYPES`.
    """
    if number_type not in NUMERIC_TYPES:
        raise ConfigError(f"a computed number cannot be {number_type.value}")
    try:
        return Converted(_typed_number(number, number_type), Quality.VALID, None)
    except _Invalid as exc:
        return Converted(None, Quality.INVALID, None, "", str(exc))
    except _Overflow as exc:
        return Converted(None, Quality.OVERFLOW, None, "", str(exc))


def _typed_number(number: int | float, ntype: NumberType) -> TypedValue:
    if isinstance(number, float) and not math.isfinite(number):
        raise _Overflow(f"{number} is not a finite number")
    if ntype in (NumberType.FLOAT, NumberType.DOUBLE):
        try:
            result = float(number)
        except OverflowError:
            raise _Overflow(f"out of the {ntype.value} range") from None
        if ntype is NumberType.FLOAT and abs(result) > _FLOAT32_MAX:
            raise _Overflow(f"{result!r} is out of the FLOAT range")
        return result
    if isinstance(number, float) and not number.is_integer():
        raise _Invalid(f"{number!r} is not an integer ({ntype.value})")
    integer = int(number)
    if ntype is NumberType.DIGITAL:
        if integer not in (0, 1):
            raise _Overflow(f"digital value must be 0 or 1, got {integer}")
        return bool(integer)
    low, high = (0, _HEX_MAX) if ntype is NumberType.HEX else _INT_RANGES[ntype]
    if not low <= integer <= high:
        shown = str(integer) if integer.bit_length() < 128 else "a number"
        raise _Overflow(f"{shown} is out of the {ntype.value} range {low}..{high}")
    return integer


class _Invalid(Exception):
    pass


class _Overflow(Exception):
    pass


def _convert_text(
    text: str, ntype: NumberType, multiply: float, add: float, decimal_comma: bool
) -> TypedValue:
    if ntype is _STRING:
        return text
    stripped = text.strip(_BLANKS)
    if not stripped:
        raise _Invalid("empty value")
    # The usual signal: the text's float directly (what float(Decimal(text)) is, both
    # correctly rounded); anything else takes the exact path below, for its message.
    if (
        (ntype is _FLOAT or ntype is _DOUBLE)
        and multiply == 1
        and add == 0
        and (_NUMBER_COMMA if decimal_comma else _NUMBER_POINT).fullmatch(stripped)
    ):
        result = float(stripped.replace(",", ".") if decimal_comma else stripped)
        if not math.isinf(result) and (ntype is _DOUBLE or abs(result) <= _FLOAT32_MAX):
            return result
    if ntype is NumberType.HEX:
        match = _HEX.fullmatch(stripped)
        if match is None:
            raise _Invalid(f"not a hex number: {stripped!r}")
        number = int(match.group(1), 16)
        if number > _HEX_MAX:
            raise _Overflow("hex value does not fit in 64 bits")
        return number
    if ntype is NumberType.TIME:
        return _parse_time(stripped)
    if ntype is NumberType.DATE:
        return _parse_date(stripped)
    if ntype is NumberType.DATETIME:
        return _parse_datetime(stripped)
    number_dec = _parse_decimal(stripped, decimal_comma)
    if ntype is NumberType.DIGITAL:
        if number_dec != number_dec.to_integral_value():
            raise _Invalid(f"not 0 or 1: {stripped!r}")
        if number_dec not in (0, 1):
            raise _Overflow(f"digital value must be 0 or 1, got {stripped!r}")
        return bool(number_dec)
    scaled = _scale(number_dec, multiply, add)
    if ntype in (NumberType.FLOAT, NumberType.DOUBLE):
        result = float(scaled)
        if math.isinf(result) or (ntype is NumberType.FLOAT and abs(result) > _FLOAT32_MAX):
            raise _Overflow(f"{scaled} is out of the {ntype.value} range")
        return result
    low, high = _INT_RANGES[ntype]
    if scaled != scaled.to_integral_value():
        raise _Invalid(f"{scaled} is not an integer ({ntype.value})")
    integer = int(scaled)
    if not low <= integer <= high:
        shown = str(scaled) if scaled.adjusted() < 40 else f"a {scaled.adjusted() + 1}-digit number"
        raise _Overflow(f"{shown} is out of the {ntype.value} range {low}..{high}")
    return integer


def _parse_decimal(text: str, decimal_comma: bool) -> decimal.Decimal:
    pattern = _NUMBER_COMMA if decimal_comma else _NUMBER_POINT
    if pattern.fullmatch(text) is None:
        hint = "" if decimal_comma or "," not in text else " (decimal comma not enabled)"
        raise _Invalid(f"not a number: {text!r}{hint}")
    return decimal.Decimal(text.replace(",", "."))


def _scale(number: decimal.Decimal, multiply: float, add: float) -> decimal.Decimal:
    if multiply == 1 and add == 0:
        return number
    try:
        factor = decimal.Decimal(repr(float(multiply)))
        offset = decimal.Decimal(repr(float(add)))
    except decimal.InvalidOperation:
        raise ConfigError("multiply and add must be finite numbers") from None
    if not (factor.is_finite() and offset.is_finite()):
        raise ConfigError("multiply and add must be finite numbers")
    return _CTX.add(_CTX.multiply(number, factor), offset)


def _fields(patterns: tuple[re.Pattern[str], ...], text: str, what: str) -> dict[str, int]:
    for pattern in patterns:
        match = pattern.fullmatch(text)
        if match is not None:
            return {k: int(v) for k, v in match.groupdict().items() if v is not None}
    raise _Invalid(f"not a {what}: {text!r}")


def _year(fields: dict[str, int]) -> int:
    year = fields["y"]
    return year + 2000 if year < 100 else year


def _parse_time(text: str) -> dt.time:
    f = _fields(_TIME_FORMATS, text, "time (hhmmss, hh:mm:ss)")
    try:
        return dt.time(f["H"], f["M"], f.get("S", 0))
    except ValueError:
        raise _Invalid(f"no such time: {text!r}") from None


def _parse_date(text: str) -> dt.date:
    f = _fields(_DATE_FORMATS, text, "date (YYMMDD, YY-MM-DD)")
    try:
        return dt.date(_year(f), f["m"], f["d"])
    except ValueError:
        raise _Invalid(f"no such date: {text!r}") from None


def _parse_datetime(text: str) -> dt.datetime:
    f = _fields(_DATETIME_FORMATS, text, "date and time (YYMMDDhhmm[ss])")
    try:
        return dt.datetime(_year(f), f["m"], f["d"], f["H"], f["M"], f.get("S", 0))
    except ValueError:
        raise _Invalid(f"no such date and time: {text!r}") from None
