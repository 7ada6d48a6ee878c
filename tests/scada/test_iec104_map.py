"""IEC 104 mapping: quality bits of measured values and integrated totals, scale, time tags."""

from __future__ import annotations

import datetime as dt

import pytest

from obisgate.gateway.outputs.iec104.mapping import counter, measured, single
from obisgate.gateway.quality import Quality
from obisgate.gateway.updates import SignalUpdate

READ_AT = dt.datetime(2025, 11, 18, 9, 30, 0, 123000, tzinfo=dt.UTC)


def update(value: object, quality: Quality = Quality.VALID) -> SignalUpdate:
    return SignalUpdate("m", "s", value, "kWh", READ_AT, quality)


@pytest.mark.parametrize(
    ("quality", "bits"),
    [
        (Quality.VALID, (False, False, False)),
        (Quality.INVALID, (True, False, False)),
        (Quality.NOT_TOPICAL, (False, True, False)),
        (Quality.OVERFLOW, (False, False, True)),
        (Quality.NOT_TOPICAL | Quality.OVERFLOW, (False, True, True)),
    ],
)
def test_measured_quality(quality: Quality, bits: tuple[bool, bool, bool]) -> None:
    sent = measured(update(230.1, quality), 1.0, 0.0)
    assert (sent.invalid, sent.not_topical, sent.overflow) == bits
    assert sent.time == READ_AT


def test_measured_value_scale_and_previous() -> None:
    assert measured(update(1.5), 1000.0, 0.0).value == 1500.0
    missing = measured(update(None, Quality.INVALID), 1.0, 42.0)
    assert (missing.value, missing.invalid) == (42.0, True)
    never_read = measured(update(None, Quality.NOT_TOPICAL), 1.0, 0.0)
    assert (never_read.invalid, never_read.not_topical) == (True, True)
    huge = measured(update(1e300), 1.0, 7.0)
    assert (huge.value, huge.overflow, huge.invalid) == (7.0, True, False)


@pytest.mark.parametrize(
    ("quality", "invalid", "carry"),
    [
        (Quality.VALID, False, False),
        (Quality.INVALID, True, False),
        (Quality.NOT_TOPICAL, True, False),
        (Quality.OVERFLOW, False, True),
        (Quality.NOT_TOPICAL | Quality.OVERFLOW, True, True),
    ],
)
def test_counter_quality(quality: Quality, invalid: bool, carry: bool) -> None:
    sent = counter(update(148123.456, quality), 1000.0, 0)
    assert (sent.counter, sent.invalid, sent.carry) == (148123456, invalid, carry)
    assert sent.time == READ_AT


def test_counter_wraps_past_32_bits_with_carry() -> None:
    sent = counter(update(2**31), 1.0, 0)
    assert (sent.counter, sent.carry) == (-(2**31), True)
    kept = counter(update(None, Quality.OVERFLOW), 1.0, 99)
    assert (kept.counter, kept.carry, kept.invalid) == (99, True, False)


def test_single_point() -> None:
    assert single(update(True), False).value is True
    off = single(update(0, Quality.NOT_TOPICAL), True)
    assert (off.value, off.not_topical, off.invalid) == (False, True, False)
    kept = single(update(None, Quality.INVALID), True)
    assert (kept.value, kept.invalid) == (True, True)
