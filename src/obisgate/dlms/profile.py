"""Profile generic (class 7) reads by range, into the table of a D0 load profile. Pure.

The buffer is read with selective access by range (selector 1): the restricting
object is the first capture object (the clock, attribute 2), ``from`` and ``to``
are COSEM date-times, all columns selected. Each row becomes a
:class:`~obisgate.protocol.loadprofile.ProfileRow` whose first capture object is
its time stamp; the other columns are scaled by their registers' scalers and
carry their units, as a D0 meter's ``P.01`` rows do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from obisgate.dlms.apdu import AttributeRequest, GetResult
from obisgate.dlms.axdr import DataType, DateTimeValue, Typed
from obisgate.dlms.cosem import (
    CosemClass,
    CosemDateTime,
    Obis,
    format_value,
    scaled_text,
    unit_symbol,
)
from obisgate.errors import ApduError
from obisgate.protocol.dataset import Value
from obisgate.protocol.loadprofile import Channel, LoadProfile, ProfileRow

__all__ = [
    "DEFAULT_PROFILE",
    "CaptureObject",
    "buffer_request",
    "layout_requests",
    "parse_capture_objects",
    "profile_from_buffer",
    "scaler_requests",
]

#: The load profile most meters keep (1-0:99.1.0*255).
DEFAULT_PROFILE: Final = Obis(1, 0, 99, 1, 0, 255)


@dataclass(frozen=True, slots=True)
class CaptureObject:
    """One column of a profile: which attribute of which object it captures."""

    class_id: int
    obis: Obis
    attribute: int
    data_index: int = 0


def layout_requests(profile: Obis) -> list[AttributeRequest]:
    """capture_objects (3) and capture_period (4) of ``profile``."""
    return [
        AttributeRequest(CosemClass.PROFILE_GENERIC, profile, 3),
        AttributeRequest(CosemClass.PROFILE_GENERIC, profile, 4),
    ]


def parse_capture_objects(result: GetResult) -> list[CaptureObject]:
    """The columns of a profile from its attribute 3.

    Raises:
        ApduError: the meter refused it, or sent something else than the
            array of ``{class_id, logical_name, attribute_index, data_index}``.
    """
    if not result.ok:
        raise ApduError(f"the meter refused the profile's capture objects (result {result.error})")
    value = result.value
    if not isinstance(value, list):
        raise ApduError("capture_objects is not an array")
    out = []
    for entry in value:
        if (
            not isinstance(entry, tuple)
            or len(entry) < 3
            or not isinstance(entry[0], int)
            or not isinstance(entry[1], bytes)
            or len(entry[1]) != 6
            or not isinstance(entry[2], int)
        ):
            raise ApduError("a capture object is not {class_id, logical_name, attribute, index}")
        index = entry[3] if len(entry) > 3 and isinstance(entry[3], int) else 0
        out.append(CaptureObject(int(entry[0]), Obis.from_bytes(entry[1]), int(entry[2]), index))
    if not out:
        raise ApduError("the profile captures no objects")
    return out


def scaler_requests(columns: Sequence[CaptureObject]) -> list[AttributeRequest]:
    """The scaler_unit of every captured register value (none for other columns)."""
    requests = []
    for column in columns:
        try:
            attribute = CosemClass(column.class_id).scaler_unit_attribute
        except ValueError:
            attribute = None
        if attribute is not None and column.attribute == 2:
            requests.append(AttributeRequest(column.class_id, column.obis, attribute))
    return requests


def buffer_request(
    profile: Obis, columns: Sequence[CaptureObject], start: datetime, end: datetime
) -> AttributeRequest:
    """GET of the buffer (attribute 2) between ``start`` and ``end`` (meter local time)."""
    clock = columns[0]
    restricting = (
        Typed(DataType.LONG_UNSIGNED, clock.class_id),
        clock.obis.to_bytes(),
        Typed(DataType.INTEGER, clock.attribute),
        Typed(DataType.LONG_UNSIGNED, clock.data_index),
    )
    parameters: tuple[Any, ...] = (
        restricting,
        CosemDateTime.from_datetime(start, status=None).encode(),
        CosemDateTime.from_datetime(end, status=None).encode(),
        [],
    )
    return AttributeRequest(CosemClass.PROFILE_GENERIC, profile, 2, 1, parameters)


def _stamp(value: Any) -> datetime | None:
    raw = value.data if isinstance(value, DateTimeValue) else value
    if isinstance(raw, bytes) and len(raw) == 12:
        return CosemDateTime.decode(raw).to_datetime()
    return None


def profile_from_buffer(
    profile: Obis,
    columns: Sequence[CaptureObject],
    scalers: dict[Obis, tuple[int, int]],
    period_s: int,
    buffer: GetResult,
) -> LoadProfile:
    """The rows of a buffer, as a D0 load profile table.

    Args:
        profile: the profile's logical name.
        columns: its capture objects; the first is the time stamp.
        scalers: scaler and unit per captured register.
        period_s: the capture period (0: not periodic).
        buffer: the GET result of the buffer.

    Raises:
        ApduError: the meter refused the buffer, or a row is not a structure
            as long as the capture objects, or holds no time stamp.
    """
    if not buffer.ok:
        raise ApduError(f"the meter refused the profile buffer (result {buffer.error})")
    if not isinstance(buffer.value, list):
        raise ApduError("the profile buffer is not an array")
    channels = tuple(
        Channel(str(c.obis), unit_symbol(scalers.get(c.obis, (0, 255))[1]) or "")
        for c in columns[1:]
    )
    rows = []
    interval = period_s // 60
    for row in buffer.value:
        if not isinstance(row, tuple) or len(row) != len(columns):
            raise ApduError("a profile row does not match the capture objects")
        when = _stamp(row[0])
        if when is None:
            raise ApduError("a profile row has no valid time stamp in its first column")
        values = []
        for column, cell in zip(columns[1:], row[1:], strict=True):
            scaler_unit = scalers.get(column.obis)
            if scaler_unit is not None and isinstance(cell, int) and not isinstance(cell, bool):
                scaler, unit = scaler_unit
                text = scaled_text(int(cell), scaler)
                values.append(Value(f"{int(cell)} scaler {scaler}", text, unit_symbol(unit)))
            else:
                text, raw = format_value(cell)
                values.append(Value(raw, text, None))
        rows.append(ProfileRow(when, "", "", interval, tuple(values), channels))
    return LoadProfile(str(profile), channels, tuple(rows))
