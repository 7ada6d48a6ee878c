"""Publish on change: deadbands (absolute, percent) and the heartbeat."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from obisgate.gateway.processing.deadband import ChangeFilter, PublishRules
from obisgate.gateway.quality import Quality
from obisgate.gateway.updates import SignalUpdate

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def run(
    rules: PublishRules,
    readings: Sequence[tuple[float, object]],
    quality: Quality = Quality.VALID,
) -> list[object]:
    """The values published from ``(seconds, value)`` readings."""
    change = ChangeFilter(rules)
    published = []
    for seconds, value in readings:
        update = SignalUpdate("m", "p", value, "kW", T0 + dt.timedelta(seconds=seconds), quality)
        if change.publish(update):
            published.append(value)
    return published


def test_any_change_without_a_deadband() -> None:
    assert run(PublishRules(), [(0, 1.0), (10, 1.0), (20, 1.5), (30, 1.5), (40, 1.0)]) == [
        1.0,
        1.5,
        1.0,
    ]


def test_an_absolute_deadband_compares_with_the_last_published_value() -> None:
    # creeping by 0.3 each scan: published when the sum since the last published passes 0.5
    readings = [(i * 10, 1.0 + 0.3 * i) for i in range(6)]
    assert run(PublishRules(deadband=0.5), readings) == [1.0, readings[2][1], readings[4][1]]


def test_a_percent_deadband() -> None:
    assert run(
        PublishRules(deadband=10, percent=True), [(0, 100), (10, 109), (20, 111), (30, 99.8)]
    ) == [100, 111, 99.8]


def test_the_heartbeat_publishes_a_steady_value() -> None:
    readings = [(s, 5.0) for s in range(0, 700, 100)]
    assert run(PublishRules(max_silence_s=300), readings) == [5.0, 5.0, 5.0]  # at 0, 300, 600


def test_a_quality_or_unit_change_is_a_change() -> None:
    change = ChangeFilter(PublishRules(deadband=100))
    good = SignalUpdate("m", "p", 1.0, "kW", T0, Quality.VALID)
    assert change.publish(good)
    assert change.publish(SignalUpdate("m", "p", 1.0, "kW", T0, Quality.NOT_TOPICAL))
    assert not change.publish(SignalUpdate("m", "p", 1.0, "kW", T0, Quality.NOT_TOPICAL))
    assert change.publish(SignalUpdate("m", "p", 1.0, "W", T0, Quality.NOT_TOPICAL))
    assert change.publish(good)


def test_values_that_are_no_numbers() -> None:
    assert run(
        PublishRules(deadband=5), [(0, "a"), (10, "a"), (20, "b"), (30, True), (40, False)]
    ) == ["a", "b", True, False]
    assert run(PublishRules(), [(0, None), (10, None), (20, 1.0)], quality=Quality.INVALID) == [
        None,
        1.0,
    ]
