"""OPC UA mapping: StatusCode per quality, variant types."""

from __future__ import annotations

import datetime as dt

import pytest

from obisgate.gateway.numbers import NumberType
from obisgate.gateway.outputs.opcua.mapping import status_name, variant_kind, variant_value
from obisgate.gateway.quality import Quality
from obisgate.gateway.updates import SignalUpdate

AT = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("value", "quality", "status"),
    [
        (1.0, Quality.VALID, "Good"),
        (1.0, Quality.NOT_TOPICAL, "UncertainNoCommunicationLastUsableValue"),
        (None, Quality.NOT_TOPICAL, "BadNoCommunication"),
        (None, Quality.INVALID, "Bad"),
        (None, Quality.OVERFLOW, "BadOutOfRange"),
        (None, Quality.OVERFLOW | Quality.NOT_TOPICAL, "BadOutOfRange"),
    ],
)
def test_status(value: object, quality: Quality, status: str) -> None:
    assert status_name(SignalUpdate("m", "s", value, None, AT, quality)) == status


def test_variants() -> None:
    assert variant_kind(NumberType.UINT64) == "Double"
    assert variant_kind(NumberType.DIGITAL) == "Boolean"
    assert variant_kind(NumberType.DATE) == "String"
    assert variant_value("Double", 7) == 7.0
    assert variant_value("Boolean", 1) is True
    assert variant_value("String", dt.date(2025, 11, 18)) == "2025-11-18"
    assert variant_value("String", None) is None
