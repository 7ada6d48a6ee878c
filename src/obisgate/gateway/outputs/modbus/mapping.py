"""The Modbus register map: which registers hold which signal, and how values are encoded.

Pure (no I/O): :class:`RegisterMap` keeps the 65536 registers and the 65536
bits (coils = discrete inputs) that the Modbus server answers from, updated
from :class:`SignalUpdate`.

Encoding: a value is multiplied by the signal's ``modbus_scale``, rounded to
the nearest whole number for integer types (halves away from zero), and
packed big-endian into 1, 2 or 4 registers (:func:`encode`);
``word_order = "little"`` puts the least significant register first,
``byte_order = "little"`` swaps the two bytes inside every register. The
quality register holds ``quality.value``: 0 valid, else the bits IV=1, NT=2,
OV=4. A value that is not valid reads as NaN for float types and keeps its
last value for integer types; an integer outside the register type's range is
not valid either (OV). Until a signal's first value, floats read NaN, integers
and bits 0, and its quality register says IV+NT (3) whatever the updates say
(a failed readout or a missing address is not a reading): a 0 that never was
read never looks valid.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from obisgate.gateway.outputs.modbus.config import MODBUS_REGISTERS, ModbusColumns, modbus_type_of
from obisgate.gateway.quality import Quality
from obisgate.gateway.updates import SignalUpdate

if TYPE_CHECKING:
    from obisgate.gateway.config_models import SignalConfig

__all__ = ["RegisterMap", "RegisterSlot", "encode", "scaled", "slots_from_signals"]

Order = Literal["big", "little"]

_STRUCT = {
    "int16": ">h", "uint16": ">H", "int32": ">i", "uint32": ">I",
    "int64": ">q", "uint64": ">Q", "float32": ">f", "float64": ">d",
}  # fmt: skip
_FLOAT_TYPES = frozenset({"float32", "float64"})
#: Quality register value before the first reading.
UNREAD = (Quality.INVALID | Quality.NOT_TOPICAL).value


def scaled(kind: str, value: int | float, scale: float) -> int | float:
    """``value`` times ``scale``, rounded to the nearest whole number (halves away from zero)
    for integer ``kind``s; an integer stays exact when the scale is 1."""
    if kind in _FLOAT_TYPES:
        return float(value) * scale
    if scale == 1 and not isinstance(value, float):
        return int(value)
    product = float(value) * scale
    if not math.isfinite(product):
        raise OverflowError(f"{value} x {scale:g} is not a number")
    return int(math.copysign(math.floor(abs(product) + 0.5), product))


def encode(
    kind: str, value: int | float, word_order: Order = "big", byte_order: Order = "big"
) -> list[int]:
    """The registers of ``value`` as a ``kind`` (``float32``, ``int16`` ...).

    Raises:
        OverflowError: the value does not fit the type (out of an integer
            type's range, beyond the float32 range, or a fraction for an
            integer type).
        KeyError: unknown ``kind``.
    """
    code = _STRUCT[kind]
    if kind in _FLOAT_TYPES:
        number: float = float(value)
    else:
        if isinstance(value, float) and not value.is_integer():
            raise OverflowError(f"{value} is not a whole number")
        number = int(value)
    try:
        data = struct.pack(code, number)
    except struct.error as exc:
        raise OverflowError(str(exc)) from None
    if byte_order == "little":
        data = bytes(b for i in range(0, len(data), 2) for b in (data[i + 1], data[i]))
    words = [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]
    if word_order == "little":
        words.reverse()
    return words


@dataclass(frozen=True, slots=True)
class RegisterSlot:
    """Where one signal lives in the register map.

    Attributes:
        key: ``(device_alias, signal_alias)``.
        address: first value register (0-based), or ``None`` (a bit only).
        kind: ``modbus_type``.
        quality_address: the quality register, or ``None``.
        unit: the signal's configured unit (for the printed map).
        scale: the value is multiplied by it.
        coil: the signal's bit (coil and discrete input), or ``None``.
    """

    key: tuple[str, str]
    address: int | None
    kind: str
    quality_address: int | None = None
    unit: str | None = None
    scale: float = 1.0
    coil: int | None = None

    @property
    def count(self) -> int:
        """Registers the value takes."""
        return 0 if self.address is None else MODBUS_REGISTERS[self.kind]


def slots_from_signals(signals: Iterable[SignalConfig]) -> list[RegisterSlot]:
    """The slots of signals with a ``modbus_address`` or a ``modbus_coil``, in address order
    (bits only after the registers)."""
    slots = []
    for signal in signals:
        columns = signal.columns(ModbusColumns)
        if columns.modbus_address is None and columns.modbus_coil is None:
            continue
        scale = 1.0 if columns.modbus_scale is None else columns.modbus_scale
        slots.append(
            RegisterSlot(
                signal.key,
                columns.modbus_address,
                modbus_type_of(signal),
                columns.modbus_quality_address,
                signal.unit,
                scale,
                columns.modbus_coil,
            )
        )
    return sorted(
        slots,
        key=lambda slot: (slot.address is None, slot.address or 0, slot.coil or 0),
    )


class RegisterMap:
    """The registers and bits served, kept up to date from signal updates.

    Args:
        slots: the mapped signals (non-overlapping, as the configuration checks).
        word_order, byte_order: as in ``[modbus]``.
    """

    def __init__(
        self, slots: Sequence[RegisterSlot], *, word_order: Order = "big", byte_order: Order = "big"
    ) -> None:
        self.slots = list(slots)
        self.word_order: Order = word_order
        self.byte_order: Order = byte_order
        self.registers = [0] * 65536
        self.bits = bytearray(65536)
        self._mapped = bytearray(65536)
        self._bit_mapped = bytearray(65536)
        self._by_key = {slot.key: slot for slot in self.slots}
        self._read: set[tuple[str, str]] = set()
        for slot in self.slots:
            if slot.address is not None:
                self._mapped[slot.address : slot.address + slot.count] = b"\1" * slot.count
                if slot.kind in _FLOAT_TYPES:
                    self._write(slot.address, encode(slot.kind, math.nan, word_order, byte_order))
            if slot.quality_address is not None:
                self._mapped[slot.quality_address] = 1
                self.registers[slot.quality_address] = UNREAD
            if slot.coil is not None:
                self._bit_mapped[slot.coil] = 1

    @property
    def has_bits(self) -> bool:
        """Whether any signal is mapped to a bit (functions 1 and 2 are served)."""
        return any(slot.coil is not None for slot in self.slots)

    def ranges(self) -> list[tuple[int, int]]:
        """``(first, count)`` of every run of consecutive mapped registers."""
        runs: list[tuple[int, int]] = []
        start: int | None = None
        for address, mapped in enumerate(self._mapped):
            if mapped and start is None:
                start = address
            elif not mapped and start is not None:
                runs.append((start, address - start))
                start = None
        if start is not None:
            runs.append((start, 65536 - start))
        return runs

    def is_mapped(self, address: int, count: int) -> bool:
        """True when every register of ``address .. address + count - 1`` is mapped."""
        if address < 0 or count < 1 or address + count > 65536:
            return False
        return all(self._mapped[address : address + count])

    def read(self, address: int, count: int) -> list[int]:
        """The registers ``address .. address + count - 1`` (check :meth:`is_mapped` first)."""
        return self.registers[address : address + count]

    def read_registers(self, address: int, count: int) -> list[int] | None:
        """The registers ``address .. address + count - 1``, or ``None`` when one is not mapped."""
        return self.read(address, count) if self.is_mapped(address, count) else None

    def read_bits(self, address: int, count: int) -> list[bool] | None:
        """The bits ``address .. address + count - 1``, or ``None`` when one is not mapped."""
        if address < 0 or count < 1 or address + count > 65536:
            return None
        if not all(self._bit_mapped[address : address + count]):
            return None
        return [bool(b) for b in self.bits[address : address + count]]

    def update(self, update: SignalUpdate) -> bool:
        """Store a signal's new value and quality; ``False`` when the signal is not mapped."""
        slot = self._by_key.get((update.device, update.signal))
        if slot is None:
            return False
        quality = update.quality
        value = update.value
        words: list[int] | None = None
        number = value if isinstance(value, int | float) else None
        if quality.is_valid:
            if number is None:
                quality = Quality.INVALID
            elif slot.address is not None:
                try:
                    words = encode(
                        slot.kind,
                        scaled(slot.kind, number, slot.scale),
                        self.word_order,
                        self.byte_order,
                    )
                except OverflowError:
                    quality = Quality.OVERFLOW
        if number is not None and not quality & (Quality.INVALID | Quality.OVERFLOW):
            self._read.add(slot.key)
            if slot.coil is not None and quality.is_valid:
                self.bits[slot.coil] = 1 if number else 0
        if slot.address is not None:
            if words is None and slot.kind in _FLOAT_TYPES:
                words = encode(slot.kind, math.nan, self.word_order, self.byte_order)
            if words is not None:
                self._write(slot.address, words)
        if slot.quality_address is not None:
            if slot.key not in self._read:
                quality |= Quality.INVALID | Quality.NOT_TOPICAL
            self.registers[slot.quality_address] = quality.value
        return True

    def _write(self, address: int, words: list[int]) -> None:
        self.registers[address : address + len(words)] = words
