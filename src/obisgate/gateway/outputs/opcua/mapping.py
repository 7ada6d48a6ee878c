"""What a signal update becomes in OPC UA: the value's variant type and the StatusCode.

Pure (no asyncua). StatusCodes (OPC UA Part 4 / Part 8 names):

=====================================  =================================================
update                                 StatusCode
=====================================  =================================================
valid                                  ``Good``
NOT_TOPICAL with the last value        ``UncertainNoCommunicationLastUsableValue``
NOT_TOPICAL, never read                ``BadNoCommunication``
INVALID (no value)                     ``Bad``
OVERFLOW (no value)                    ``BadOutOfRange``
before the first readout               ``BadWaitingForInitialData``
=====================================  =================================================

A Bad update keeps the variable's previous value.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from obisgate.gateway.numbers import NumberType
from obisgate.gateway.quality import Quality
from obisgate.gateway.updates import SignalUpdate

__all__ = ["ENDPOINT_PATH", "NAMESPACE", "STATUS", "status_name", "variant_kind", "variant_value"]

#: The namespace URI of obisgate's nodes.
NAMESPACE = "urn:obisgate"
#: The path of the endpoint URL.
ENDPOINT_PATH = "/obisgate/"

#: StatusCode names -> values (OPC UA Part 6 table).
STATUS = {
    "Good": 0x00000000,
    "Bad": 0x80000000,
    "BadOutOfRange": 0x803C0000,
    "BadNoCommunication": 0x80310000,
    "BadWaitingForInitialData": 0x80320000,
    "UncertainNoCommunicationLastUsableValue": 0x408F0000,
}

_DOUBLES = frozenset(
    {
        NumberType.FLOAT, NumberType.DOUBLE,
        NumberType.INT8, NumberType.INT16, NumberType.INT32, NumberType.INT64,
        NumberType.UINT8, NumberType.UINT16, NumberType.UINT32, NumberType.UINT64,
        NumberType.HEX,
    }
)  # fmt: skip


def variant_kind(number_type: NumberType) -> str:
    """``Double`` for numbers, ``Boolean`` for DIGITAL, ``String`` for the rest."""
    if number_type in _DOUBLES:
        return "Double"
    if number_type is NumberType.DIGITAL:
        return "Boolean"
    return "String"


def variant_value(kind: str, value: Any) -> Any:
    """The update's value as ``kind`` (``None`` stays ``None``); dates and times in ISO 8601."""
    if value is None:
        return None
    if kind == "Double":
        return float(value)
    if kind == "Boolean":
        return bool(value)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


def status_name(update: SignalUpdate) -> str:
    """The StatusCode name for an update (see the module docstring)."""
    quality = update.quality
    if update.value is None:
        if Quality.INVALID in quality:
            return "Bad"
        if Quality.OVERFLOW in quality:
            return "BadOutOfRange"
        return "BadNoCommunication"
    if Quality.NOT_TOPICAL in quality:
        return "UncertainNoCommunicationLastUsableValue"
    return "Good"
