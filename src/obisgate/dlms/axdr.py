"""A-XDR encoding of COSEM ``Data`` (IEC 62056-6-2 / 5-3): every type a meter sends.

Decoding gives plain Python values, so a caller never unwraps anything:

==========================  ==========================================
DLMS type (tag)             Python value
==========================  ==========================================
null-data (0)               ``None``
array (1)                   ``list``
structure (2)               ``tuple``
boolean (3)                 ``bool``
bit-string (4)              :class:`BitString`
integer, long, double-long, ``int``
long64 and the unsigned
forms (15, 16, 5, 20, 17,
18, 6, 21)
octet-string (9)            ``bytes`` (a COSEM date-time is one: see
                            :mod:`obisgate.dlms.cosem`)
visible-string (10)         ``str`` (latin-1)
utf8-string (12)            ``str``
bcd (13)                    :class:`Bcd` (an ``int``)
enum (22)                   :class:`Enum` (an ``int``)
float32, float64 (23, 24)   ``float``
date-time, date, time       :class:`DateTimeValue` (the 12, 5 or 4 bytes)
(25, 26, 27)
don't-care (255)            :data:`DONT_CARE`
==========================  ==========================================

Encoding needs the type of every integer: :class:`Typed` names it; ``None``,
``bool``, ``bytes``, ``str``, ``float`` (float64), ``list``, ``tuple``,
:class:`Enum`, :class:`Bcd`, :class:`BitString` and :class:`DateTimeValue`
carry their own. Lengths use the A-XDR/BER form (one byte below 0x80, else
``0x80 | n`` and ``n`` big-endian bytes).

Every malformed input raises :class:`~obisgate.errors.ApduError`; nesting is
limited to :data:`MAX_DEPTH` levels, element counts to what the bytes can hold.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Final

from obisgate.errors import ApduError

__all__ = [
    "DONT_CARE",
    "MAX_DEPTH",
    "Bcd",
    "BitString",
    "DataType",
    "DateTimeValue",
    "Enum",
    "Typed",
    "decode_data",
    "decode_length",
    "encode_data",
    "encode_length",
]

#: Deepest nesting of arrays and structures accepted.
MAX_DEPTH: Final = 16


class DataType(IntEnum):
    """The tags of the ``Data`` CHOICE."""

    NULL = 0
    ARRAY = 1
    STRUCTURE = 2
    BOOLEAN = 3
    BIT_STRING = 4
    DOUBLE_LONG = 5
    DOUBLE_LONG_UNSIGNED = 6
    OCTET_STRING = 9
    VISIBLE_STRING = 10
    UTF8_STRING = 12
    BCD = 13
    INTEGER = 15
    LONG = 16
    UNSIGNED = 17
    LONG_UNSIGNED = 18
    COMPACT_ARRAY = 19
    LONG64 = 20
    LONG64_UNSIGNED = 21
    ENUM = 22
    FLOAT32 = 23
    FLOAT64 = 24
    DATE_TIME = 25
    DATE = 26
    TIME = 27
    DONT_CARE = 255


class Enum(int):
    """An ``enum`` value (a DLMS unit, a status): an ``int`` that remembers its type."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Enum({int(self)})"


class Bcd(int):
    """A ``bcd`` value: an ``int`` that remembers its type."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Bcd({int(self)})"


@dataclass(frozen=True, slots=True)
class BitString:
    """A ``bit-string``: ``bits`` bits, first bit in the high bit of ``data[0]``."""

    data: bytes
    bits: int

    def __str__(self) -> str:
        text = "".join(f"{b:08b}" for b in self.data)
        return text[: self.bits]


@dataclass(frozen=True, slots=True)
class DateTimeValue:
    """A ``date-time`` (12 bytes), ``date`` (5) or ``time`` (4) sent as its own type."""

    kind: DataType
    data: bytes


class _DontCare:
    __slots__ = ()

    def __repr__(self) -> str:
        return "DONT_CARE"


#: The ``dont-care`` value.
DONT_CARE: Final = _DontCare()


@dataclass(frozen=True, slots=True)
class Typed:
    """A value with its DLMS type, for encoding integers (and forcing any type).

    Attributes:
        type: the tag.
        value: the value; for ``ARRAY`` / ``STRUCTURE`` a sequence of values
            (each a :class:`Typed` or a self-typed value).
    """

    type: DataType
    value: Any


# Fixed-size integer types: tag -> (size, signed).
_INTS: Final[dict[int, tuple[int, bool]]] = {
    DataType.INTEGER: (1, True),
    DataType.LONG: (2, True),
    DataType.DOUBLE_LONG: (4, True),
    DataType.LONG64: (8, True),
    DataType.UNSIGNED: (1, False),
    DataType.LONG_UNSIGNED: (2, False),
    DataType.DOUBLE_LONG_UNSIGNED: (4, False),
    DataType.LONG64_UNSIGNED: (8, False),
}
_DATE_SIZES: Final[dict[int, int]] = {DataType.DATE_TIME: 12, DataType.DATE: 5, DataType.TIME: 4}
#: Fixed-size integer tags -> (unpack_from, size), for the container fast path.
_FIXED: Final[dict[int, tuple[Any, int]]] = {
    tag: (struct.Struct(fmt).unpack_from, struct.calcsize(fmt))
    for tag, fmt in (
        (DataType.INTEGER, ">b"),
        (DataType.LONG, ">h"),
        (DataType.DOUBLE_LONG, ">i"),
        (DataType.LONG64, ">q"),
        (DataType.UNSIGNED, ">B"),
        (DataType.LONG_UNSIGNED, ">H"),
        (DataType.DOUBLE_LONG_UNSIGNED, ">I"),
        (DataType.LONG64_UNSIGNED, ">Q"),
    )
}
_ENUM_TAG: Final = 22
_CONTAINERS: Final = frozenset({1, 2})
_STRINGS: Final = frozenset({9, 10, 12})
_FLOATS: Final = frozenset({23, 24})
_FLOAT32: Final = struct.Struct(">f")
_FLOAT64: Final = struct.Struct(">d")


def encode_length(n: int) -> bytes:
    """The A-XDR length of ``n`` (one byte below 0x80, else ``0x80 | size`` + bytes)."""
    if n < 0x80:
        return bytes((n,))
    size = (n.bit_length() + 7) // 8
    return bytes((0x80 | size,)) + n.to_bytes(size, "big")


def decode_length(data: bytes | bytearray, pos: int) -> tuple[int, int]:
    """Read a length at ``pos``; returns ``(length, position after it)``.

    Raises:
        ApduError: cut short, or a length of more than four bytes.
    """
    try:
        first = data[pos]
    except IndexError:
        raise ApduError("A-XDR length cut short") from None
    if first < 0x80:
        return first, pos + 1
    size = first & 0x7F
    if size == 0 or size > 4 or pos + 1 + size > len(data):
        raise ApduError(f"bad A-XDR length form 0x{first:02X}")
    return int.from_bytes(data[pos + 1 : pos + 1 + size], "big"), pos + 1 + size


def decode_data(data: bytes | bytearray, pos: int = 0) -> tuple[Any, int]:
    """Decode one ``Data`` value at ``pos``; returns ``(value, position after it)``.

    Raises:
        ApduError: an unknown tag, a value cut short, too deep a nesting, or a
            count larger than the bytes can hold.
    """
    try:
        return _decode(data, pos, 0)
    except IndexError:
        raise ApduError("A-XDR value cut short") from None
    except UnicodeDecodeError:
        raise ApduError("utf8-string is not valid UTF-8") from None


def _decode(data: bytes | bytearray, pos: int, depth: int) -> tuple[Any, int]:
    tag = data[pos]
    pos += 1
    sized = _INTS.get(tag)
    if sized is not None:
        size, signed = sized
        end = pos + size
        if end > len(data):
            raise ApduError("A-XDR integer cut short")
        return int.from_bytes(data[pos:end], "big", signed=signed), end
    if tag in _CONTAINERS:
        if depth >= MAX_DEPTH:
            raise ApduError(f"A-XDR nesting deeper than {MAX_DEPTH} levels")
        count, pos = decode_length(data, pos)
        if count > len(data) - pos:
            raise ApduError(f"A-XDR {DataType(tag).name.lower()} of {count} elements cut short")
        items: list[Any] = []
        append = items.append
        n = len(data)
        for _ in range(count):
            # Fixed-size integers and enums (most elements) inline, the rest recursively.
            inner = data[pos]
            fixed = _FIXED.get(inner)
            if fixed is not None:
                unpack, size = fixed
                if pos + 1 + size > n:
                    raise ApduError("A-XDR integer cut short")
                append(unpack(data, pos + 1)[0])
                pos += 1 + size
            elif inner == _ENUM_TAG:
                append(Enum(data[pos + 1]))
                pos += 2
            else:
                item, pos = _decode(data, pos, depth + 1)
                append(item)
        return (tuple(items) if tag == DataType.STRUCTURE else items), pos
    if tag in _STRINGS:
        n, pos = decode_length(data, pos)
        end = pos + n
        if end > len(data):
            raise ApduError("A-XDR string cut short")
        raw = bytes(data[pos:end])
        if tag == DataType.OCTET_STRING:
            return raw, end
        return (raw.decode("latin-1") if tag == DataType.VISIBLE_STRING else raw.decode()), end
    if tag == DataType.ENUM:
        return Enum(data[pos]), pos + 1
    if tag == DataType.NULL:
        return None, pos
    if tag == DataType.BOOLEAN:
        return data[pos] != 0, pos + 1
    if tag in _FLOATS:
        codec = _FLOAT32 if tag == DataType.FLOAT32 else _FLOAT64
        end = pos + codec.size
        if end > len(data):
            raise ApduError("A-XDR float cut short")
        return codec.unpack_from(data, pos)[0], end
    if tag == DataType.BCD:
        return Bcd(data[pos]), pos + 1
    if tag == DataType.BIT_STRING:
        bits, pos = decode_length(data, pos)
        end = pos + (bits + 7) // 8
        if end > len(data):
            raise ApduError("A-XDR bit-string cut short")
        return BitString(bytes(data[pos:end]), bits), end
    date_size = _DATE_SIZES.get(tag)
    if date_size is not None:
        end = pos + date_size
        if end > len(data):
            raise ApduError("A-XDR date/time cut short")
        return DateTimeValue(DataType(tag), bytes(data[pos:end])), end
    if tag == DataType.DONT_CARE:
        return DONT_CARE, pos
    raise ApduError(f"unknown or unsupported A-XDR type tag {tag}")


def encode_data(value: Any) -> bytes:
    """Encode one value (see the module docstring for the types).

    Raises:
        ApduError: an ``int`` without :class:`Typed`, a value out of its type's
            range, or a type that cannot be encoded.
    """
    out = bytearray()
    _encode(value, out)
    return bytes(out)


def _encode(value: Any, out: bytearray) -> None:
    if isinstance(value, Typed):
        _encode_typed(value.type, value.value, out)
    elif value is None:
        out.append(DataType.NULL)
    elif isinstance(value, bool):
        out += bytes((DataType.BOOLEAN, 1 if value else 0))
    elif isinstance(value, Enum):
        _encode_typed(DataType.ENUM, int(value), out)
    elif isinstance(value, Bcd):
        _encode_typed(DataType.BCD, int(value), out)
    elif isinstance(value, bytes):
        _encode_typed(DataType.OCTET_STRING, value, out)
    elif isinstance(value, str):
        _encode_typed(DataType.VISIBLE_STRING, value, out)
    elif isinstance(value, float):
        _encode_typed(DataType.FLOAT64, value, out)
    elif isinstance(value, list):
        _encode_typed(DataType.ARRAY, value, out)
    elif isinstance(value, tuple):
        _encode_typed(DataType.STRUCTURE, value, out)
    elif isinstance(value, BitString):
        _encode_typed(DataType.BIT_STRING, value, out)
    elif isinstance(value, DateTimeValue):
        _encode_typed(value.kind, value.data, out)
    elif value is DONT_CARE:
        out.append(DataType.DONT_CARE)
    else:
        raise ApduError(f"cannot encode {type(value).__name__} without a DLMS type (use Typed)")


def _encode_typed(tag: DataType, value: Any, out: bytearray) -> None:
    sized = _INTS.get(tag)
    if sized is not None:
        size, signed = sized
        try:
            out += bytes((tag,)) + int(value).to_bytes(size, "big", signed=signed)
        except OverflowError:
            raise ApduError(f"{value} does not fit {tag.name.lower()}") from None
        return
    if tag in (DataType.ARRAY, DataType.STRUCTURE):
        items = list(value)
        out.append(tag)
        out += encode_length(len(items))
        for item in items:
            _encode(item, out)
    elif tag == DataType.OCTET_STRING:
        raw = bytes(value)
        out.append(tag)
        out += encode_length(len(raw)) + raw
    elif tag in (DataType.VISIBLE_STRING, DataType.UTF8_STRING):
        raw = str(value).encode("latin-1" if tag == DataType.VISIBLE_STRING else "utf-8")
        out.append(tag)
        out += encode_length(len(raw)) + raw
    elif tag in (DataType.ENUM, DataType.BCD):
        if not 0 <= int(value) <= 0xFF:
            raise ApduError(f"{value} does not fit {tag.name.lower()}")
        out += bytes((tag, int(value)))
    elif tag == DataType.BOOLEAN:
        out += bytes((tag, 1 if value else 0))
    elif tag == DataType.NULL:
        out.append(tag)
    elif tag == DataType.FLOAT32:
        out.append(tag)
        out += _FLOAT32.pack(float(value))
    elif tag == DataType.FLOAT64:
        out.append(tag)
        out += _FLOAT64.pack(float(value))
    elif tag == DataType.BIT_STRING:
        bits: BitString = value
        out.append(tag)
        out += encode_length(bits.bits) + bits.data
    elif tag in _DATE_SIZES:
        raw = bytes(value.data if isinstance(value, DateTimeValue) else value)
        if len(raw) != _DATE_SIZES[tag]:
            raise ApduError(f"{tag.name.lower()} takes {_DATE_SIZES[tag]} bytes, not {len(raw)}")
        out.append(tag)
        out += raw
    elif tag == DataType.DONT_CARE:
        out.append(tag)
    else:
        raise ApduError(f"cannot encode A-XDR type {tag.name.lower()}")
