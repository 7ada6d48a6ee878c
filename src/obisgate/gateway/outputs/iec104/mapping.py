"""The IEC 104 information objects of the signals, and what a reading becomes on the wire.

Pure: :func:`points_from_signals` gives the IOA map,
:func:`measured` / :func:`counter` / :func:`single` turn a
:class:`SignalUpdate` into the value and quality bits to send.

Quality: on measured values (``M_ME_*``, ``M_SP_*``) INVALID -> IV,
NOT_TOPICAL -> NT, OVERFLOW -> OV. Integrated totals (``M_IT_TB_1``) have no
NT bit: INVALID and NOT_TOPICAL -> IV, OVERFLOW -> CY (carry). A reading
without a value (invalid, overflow, never read) keeps the point's previous
value with the flags set. A measured value beyond the short float range is
OV; a counter beyond 32 bits wraps and sets CY.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from obisgate.gateway.outputs.iec104.config import Iec104Columns, iec104_type_of
from obisgate.gateway.quality import Quality
from obisgate.gateway.updates import SignalUpdate

if TYPE_CHECKING:
    from obisgate.gateway.config_models import SignalConfig

__all__ = [
    "COUNTER_TYPES",
    "CounterValue",
    "IoaPoint",
    "MeasuredValue",
    "counter",
    "measured",
    "points_from_signals",
    "single",
]

#: Types answered by counter interrogation (not by general interrogation).
COUNTER_TYPES = frozenset({"M_IT_TB_1"})
_FLOAT32_MAX = 3.4028234663852886e38


@dataclass(frozen=True, slots=True)
class IoaPoint:
    """One signal as an information object.

    Attributes:
        key: ``(device_alias, signal_alias)``.
        ioa: information object address.
        kind: ``iec104_type``.
        scale: the value is multiplied by it.
        unit: the signal's configured unit (for the printed map).
    """

    key: tuple[str, str]
    ioa: int
    kind: str
    scale: float = 1.0
    unit: str | None = None


def points_from_signals(signals: Iterable[SignalConfig]) -> list[IoaPoint]:
    """The points of signals with an ``ioa``, in IOA order."""
    points = [
        IoaPoint(s.key, ioa, iec104_type_of(s), columns.iec104_scale, s.unit)
        for s in signals
        if (ioa := (columns := s.columns(Iec104Columns)).ioa) is not None
    ]
    return sorted(points, key=lambda p: p.ioa)


@dataclass(frozen=True, slots=True)
class MeasuredValue:
    """A measured value (short float or single point) to send.

    Attributes:
        value: the number (``bool`` for a single point).
        invalid, not_topical, overflow: the IV, NT, OV bits.
        time: the reading's time (the time tag).
    """

    value: float | bool
    invalid: bool
    not_topical: bool
    overflow: bool
    time: dt.datetime


@dataclass(frozen=True, slots=True)
class CounterValue:
    """An integrated total to send.

    Attributes:
        counter: signed 32-bit count.
        invalid, carry: the IV and CY bits.
        time: the reading's time (the time tag).
    """

    counter: int
    invalid: bool
    carry: bool
    time: dt.datetime


def _number(update: SignalUpdate) -> float | None:
    value = update.value
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value) if isinstance(value, float) else value
    return None


def measured(update: SignalUpdate, scale: float, previous: float) -> MeasuredValue:
    """A short float from an update (``previous``: the value sent last, kept when there is none)."""
    quality = update.quality
    number = _number(update)
    value = previous
    overflow = Quality.OVERFLOW in quality
    if number is None:
        invalid = Quality.INVALID in quality or not overflow
    else:
        invalid = Quality.INVALID in quality
        scaled = float(number * scale)
        if abs(scaled) > _FLOAT32_MAX:
            overflow = True
        else:
            value = scaled
    return MeasuredValue(value, invalid, Quality.NOT_TOPICAL in quality, overflow, update.time)


def single(update: SignalUpdate, previous: bool) -> MeasuredValue:
    """A single point from an update (``previous`` kept when there is no value)."""
    quality = update.quality
    number = _number(update)
    value = previous if number is None else number != 0
    return MeasuredValue(
        value,
        Quality.INVALID in quality or (number is None and Quality.OVERFLOW not in quality),
        Quality.NOT_TOPICAL in quality,
        Quality.OVERFLOW in quality,
        update.time,
    )


def counter(update: SignalUpdate, scale: float, previous: int) -> CounterValue:
    """An integrated total from an update (``previous`` kept when there is no value)."""
    quality = update.quality
    number = _number(update)
    carry = Quality.OVERFLOW in quality
    invalid = bool(quality & (Quality.INVALID | Quality.NOT_TOPICAL))
    count = previous
    if number is None:
        invalid = invalid or not carry
    else:
        whole = round(number * scale)
        wrapped = (whole + 2**31) % 2**32 - 2**31
        carry = carry or wrapped != whole
        count = wrapped
    return CounterValue(count, invalid, carry, update.time)
