"""Guards: totals that only grow, ranges, rates; resets and jumps confirmed by repeats."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from obisgate.gateway.outputs.mqtt.ha_discovery import infer_classes
from obisgate.gateway.processing.guards import (
    TOTAL_UNITS,
    Guard,
    GuardEvent,
    GuardRules,
    Verdict,
    is_total_unit,
)
from obisgate.gateway.quality import Quality
from obisgate.gateway.updates import SignalUpdate

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
SCAN = dt.timedelta(seconds=10)


def reading(
    value: object, index: int, unit: str | None = "kWh", quality: Quality = Quality.VALID
) -> SignalUpdate:
    return SignalUpdate("m1", "energy", value, unit, T0 + index * SCAN, quality, str(value), True)


def feed(
    guard: Guard, values: Sequence[object], unit: str | None = "kWh"
) -> tuple[list[SignalUpdate], list[GuardEvent | None]]:
    out, events = [], []
    for index, value in enumerate(values):
        update, event = guard.check(reading(value, index, unit))
        out.append(update)
        events.append(event)
    return out, events


def shown(updates: Sequence[SignalUpdate]) -> list[object]:
    """The value of each update, or "X" for one made invalid."""
    return ["X" if u.quality is Quality.INVALID else u.value for u in updates]


def test_a_lower_total_is_invalid_logged_once_and_valid_again() -> None:
    guard = Guard(GuardRules())
    out, events = feed(guard, [100.0, 100.5, 99.0, 99.0, 101.0, 101.2])
    assert shown(out) == [100.0, 100.5, "X", "X", 101.0, 101.2]
    assert out[2].raw == "99.0"  # what the meter sent stays in the update, its value does not
    assert [e and e.verdict for e in events] == [
        None,
        None,
        Verdict.REJECTED,
        None,
        Verdict.VALID_AGAIN,
        None,
    ]
    assert events[2] is not None
    assert events[2].message == (
        "99.0 is lower than the last accepted total 100.5: invalid "
        "(accepted if it holds for 3 readings)"
    )
    assert events[4] is not None
    assert events[4].message == "valid again after 2 rejected readings"
    assert guard.last == (101.2, T0 + 5 * SCAN)


def test_a_meter_exchange_is_accepted_after_reset_confirm_readings() -> None:
    guard = Guard(GuardRules(reset_confirm=3))
    out, events = feed(guard, [5000.0, 5000.2, 0.1, 0.2, 0.2, 0.3, 0.4])
    assert shown(out) == [5000.0, 5000.2, "X", "X", 0.2, 0.3, 0.4]
    reset = events[4]
    assert reset is not None
    assert reset.verdict is Verdict.RESET
    assert (
        reset.message
        == "total fell from 5000.2 to 0.2 and held for 3 readings: accepted as a meter reset"
    )
    assert reset.count == 2


def test_a_run_that_does_not_agree_starts_again() -> None:
    guard = Guard(GuardRules(reset_confirm=3))
    # 50 then 40: not a run (a total that fell again); 40, 41, 42 is one
    out, events = feed(guard, [100, 50, 40, 41, 42])
    assert shown(out) == [100, "X", "X", "X", 42]
    assert events[4] is not None
    assert events[4].verdict is Verdict.RESET


def test_reset_confirm_one_accepts_at_once_and_reports() -> None:
    guard = Guard(GuardRules(reset_confirm=1))
    out, events = feed(guard, [100, 3])
    assert shown(out) == [100, 3]
    assert events[1] is not None
    assert events[1].verdict is Verdict.RESET


def test_the_unit_decides_unless_monotonic_is_given() -> None:
    assert shown(feed(Guard(GuardRules()), [10, 5], unit="W")[0]) == [10, 5]
    assert shown(feed(Guard(GuardRules()), [10, 5], unit=" M3 ")[0]) == [10, "X"]
    assert shown(feed(Guard(GuardRules(monotonic=True)), [10, 5], unit="imp")[0]) == [10, "X"]
    assert shown(feed(Guard(GuardRules(monotonic=False)), [10, 5], unit="kWh")[0]) == [10, 5]


def test_totals_are_what_home_assistant_discovery_calls_total_increasing() -> None:
    units = ["Wh", "kWh", "MWh", "GWh", "MJ", "GJ", "varh", "kvarh", "VAh", "kVAh", "m3", "m³", "l"]
    units += ["W", "kW", "var", "VA", "V", "A", "Hz", "°C", "m3/h", "L/h", "imp", ""]
    for unit in units:
        assert is_total_unit(unit) == (infer_classes(unit)[2] == "total_increasing"), unit
    assert len(TOTAL_UNITS) == 13


def test_range() -> None:
    guard = Guard(GuardRules(monotonic=False, min_value=-10, max_value=10))
    out, events = feed(guard, [0, 11, 12, -10.5, 10, -10], unit="kW")
    assert shown(out) == [0, "X", "X", "X", 10, -10]
    assert events[1] is not None
    assert events[1].message == "11 is above max_value 10: invalid"
    assert events[3] is None  # the episode goes on: logged once
    assert events[4] is not None
    assert events[4].message == "valid again after 3 rejected readings"
    # a reading outside the range never becomes a "jump", however often it repeats
    assert (
        shown(feed(Guard(GuardRules(max_value=1, reset_confirm=2)), [2, 2, 2, 2], unit="kW")[0])
        == ["X"] * 4
    )


def test_a_spike_is_caught_by_max_rate() -> None:
    # 10 s scans; 36 kWh/h = 0.1 kWh per scan
    guard = Guard(GuardRules(max_rate=36))
    out, events = feed(guard, [100.0, 100.1, 99999.0, 100.2, 100.3])
    assert shown(out) == [100.0, 100.1, "X", 100.2, 100.3]
    assert events[2] is not None
    assert events[2].message.startswith("99999.0 moved from 100.1 faster than max_rate 36 per hour")


def test_max_rate_measures_from_the_last_accepted_reading() -> None:
    # after a long gap, the rate is the average over the gap: a big step is fine
    guard = Guard(GuardRules(max_rate=36))
    guard.check(reading(100.0, 0))
    later, event = guard.check(reading(110.0, 360))  # an hour later: 10 kWh/h
    assert later.quality is Quality.VALID
    assert event is None
    # two readings less than a second apart count as a second apart
    same_time, _ = guard.check(reading(110.02, 360))
    assert same_time.quality is Quality.INVALID


def test_a_level_change_beyond_max_rate_is_accepted_as_a_jump() -> None:
    guard = Guard(GuardRules(monotonic=False, max_rate=3600, reset_confirm=2))  # 10 per scan
    out, events = feed(guard, [0, 5, 500, 505, 510], unit="kW")
    assert shown(out) == [0, 5, "X", 505, 510]
    assert events[3] is not None
    assert events[3].verdict is Verdict.JUMP


def test_readings_that_are_not_valid_pass_but_never_show_a_rejected_value() -> None:
    guard = Guard(GuardRules())
    guard.check(reading(100.0, 0))
    rejected, _ = guard.check(reading(5.0, 1))
    assert rejected.value is None
    # the poller repeats the last value it read (5.0, rejected) flagged not topical
    stale, event = guard.check(reading(5.0, 2, quality=Quality.NOT_TOPICAL))
    assert (stale.value, stale.quality, event) == (100.0, Quality.NOT_TOPICAL, None)
    missing, _ = guard.check(reading(None, 3, quality=Quality.NOT_TOPICAL))
    assert missing.value is None
    assert Guard(GuardRules()).check(reading(7.0, 0, quality=Quality.NOT_TOPICAL))[0].value is None


def test_values_that_are_no_numbers_pass() -> None:
    guard = Guard(GuardRules(monotonic=True, max_value=1))
    for value in ("text", True, dt.date(2026, 1, 1)):
        assert guard.check(reading(value, 0))[0].value == value


def test_a_restored_reading_guards_the_first_one_after_a_restart() -> None:
    guard = Guard(GuardRules(), last=(1234.5, T0))
    update, event = guard.check(reading(12.0, 1))
    assert update.quality is Quality.INVALID
    assert event is not None


def test_stateful() -> None:
    assert GuardRules().stateful
    assert GuardRules(monotonic=False, max_rate=1).stateful
    assert not GuardRules(monotonic=False, min_value=0).stateful


# -- properties ------------------------------------------------------------------

steps = st.lists(
    st.one_of(
        st.floats(0, 5),  # normal consumption
        st.floats(-1000, -0.001),  # a lower reading
        st.floats(1000, 1e9),  # a spike
        st.just(0.0),
    ),
    max_size=60,
)


def readings_from(start: float, deltas: list[float], lower_once: bool) -> list[float]:
    """Readings: a running total with the deltas added; with ``lower_once`` a negative
    delta is a single misread (the next reading continues from the true total)."""
    values, total = [], start
    for delta in deltas:
        if lower_once and delta < 0:
            values.append(total + delta)
        else:
            total += delta
            values.append(total)
    return values


@given(st.floats(0, 1e6), steps, st.integers(1, 6), st.booleans())
def test_the_published_valid_total_decreases_only_at_a_confirmed_reset(
    start: float, deltas: list[float], confirm: int, lower_once: bool
) -> None:
    guard = Guard(GuardRules(monotonic=True, reset_confirm=confirm))
    out, events = feed(guard, readings_from(start, deltas, lower_once))
    previous = None
    rejected_in_row = 0
    for update, event in zip(out, events, strict=True):
        if update.quality is not Quality.VALID:
            assert update.value is None
            rejected_in_row += 1
            continue
        if previous is not None and update.value < previous:
            assert event is not None
            assert event.verdict is Verdict.RESET
            assert rejected_in_row >= confirm - 1  # the lower value was seen confirm times
        previous = update.value
        rejected_in_row = 0


@given(
    st.floats(0, 1e6),
    st.lists(
        st.tuples(
            st.floats(0, 5),
            st.one_of(st.none(), st.floats(-1000, -0.001), st.floats(1000, 1e9)),
        ),
        max_size=40,
    ),
)
def test_single_misreads_never_get_through(
    start: float, steps: list[tuple[float, float | None]]
) -> None:
    # Between good readings (at most 5 kWh per 10 s scan, max_rate 1800 kWh/h), single
    # lower readings and spikes: the valid sequence is exactly the good readings.
    guard = Guard(GuardRules(monotonic=True, max_rate=1800, reset_confirm=2))
    truth: list[float | None] = [start]
    values, total = [start], start
    for delta, bad in steps:
        if bad is not None:
            values.append(total + bad)
            truth.append(None)
        total += delta
        values.append(total)
        truth.append(total)
    out, events = feed(guard, values)
    valid = [u.value for u in out if u.quality is Quality.VALID]
    assert valid == sorted(valid)
    assert [u.value if u.quality is Quality.VALID else None for u in out] == truth
    assert not any(e is not None and e.verdict in (Verdict.RESET, Verdict.JUMP) for e in events)


@given(
    st.lists(st.floats(-1e6, 1e6), max_size=40),
    st.floats(-100, 100),
    st.floats(0, 200),
    st.integers(1, 5),
)
def test_valid_readings_stay_in_range_and_within_the_rate(
    values: list[float], low: float, width: float, confirm: int
) -> None:
    high = low + width
    rate = 3600.0  # 10 per 10 s scan
    guard = Guard(
        GuardRules(
            monotonic=False, min_value=low, max_value=high, max_rate=rate, reset_confirm=confirm
        )
    )
    out, events = feed(guard, values, unit="kW")
    last = None
    for update, event in zip(out, events, strict=True):
        if update.quality is not Quality.VALID:
            continue
        assert low <= update.value <= high
        if last is not None and not (event is not None and event.verdict is Verdict.JUMP):
            assert abs(update.value - last[0]) <= 10 * (update.time - last[1]) / SCAN + 1e-9
        last = (update.value, update.time)


@pytest.mark.parametrize("confirm", [1, 2, 5])
def test_every_rejection_episode_is_reported_once(confirm: int) -> None:
    guard = Guard(GuardRules(reset_confirm=confirm))
    _, events = feed(guard, [10, 5, 5, 5, 5, 5, 5, 11])
    verdicts = [e.verdict for e in events if e is not None]
    assert verdicts.count(Verdict.REJECTED) == (1 if confirm > 1 else 0)
    assert verdicts.count(Verdict.RESET) == 1
