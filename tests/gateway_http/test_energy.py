"""The energy view's arithmetic: which signals are registers or power, where days, weeks and
months of a time zone begin (daylight saving time included), and what each period counted."""

from __future__ import annotations

import datetime as dt
import itertools
import re
from zoneinfo import ZoneInfo

import pytest

from obisgate.gateway.history import Reading
from obisgate.gateway.outputs.http.energy import Bar, Period, Role, bars, boundaries, role_of
from obisgate.gateway.outputs.http.page import MAX_CARDS, render_page
from obisgate.gateway.outputs.http.state import LiveState, SignalInfo

BERLIN = ZoneInfo("Europe/Berlin")
UTC = dt.UTC


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).astimezone(UTC)


@pytest.mark.parametrize(
    ("tag", "unit", "alias", "maker", "role"),
    [
        ("1.8.0", "kWh", "energy", None, Role.IMPORT),
        ("1-0:1.8.0*255", "Wh", "e", None, Role.IMPORT),  # DLMS spelling, current value
        ("2.8.0", None, "e", None, Role.EXPORT),
        ("1.7.0", "kW", "p", None, Role.POWER),
        ("16.7.0", "W", "p", None, Role.POWER),
        ("2.7.0", "kW", "p", None, Role.POWER_EXPORT),
        ("1.8.1", "kWh", "tariff", None, None),  # the total counts it already
        ("1.8.0*24", "kWh", "billing", None, None),  # a stored billing period
        ("1.8.0&01", "kWh", "billing", None, None),
        ("6.8", "MWh", "heat", "LUG", Role.IMPORT),  # a Landis+Gyr heat meter's energy
        ("6.8", "kvarh", "q2", None, None),  # an electricity meter's reactive energy
        ("7-0:3.0.0", "m3", "gas", None, Role.IMPORT),
        ("32.7.0", "V", "voltage", None, None),
        ("C.1.0", None, "serial", None, None),
        ("99.99.9", "kWh", "pv_yield", None, Role.IMPORT),  # unknown code: by the unit
        ("99.99.9", "kWh", "pv_export", None, Role.EXPORT),
        ("", "kW", "power", None, Role.POWER),
        ("", "kvar", "q", None, None),
    ],
)
def test_roles(
    tag: str, unit: str | None, alias: str, maker: str | None, role: Role | None
) -> None:
    assert role_of(tag, unit, alias, maker) is role


def test_days_are_local_calendar_days_also_across_daylight_saving_time() -> None:
    now = utc("2026-10-26T10:00:00+01:00")  # the day after summer time ended
    edges = boundaries(now, BERLIN, Period.DAY, 3)
    assert edges == [
        utc("2026-10-24T00:00:00+02:00"),
        utc("2026-10-25T00:00:00+02:00"),
        utc("2026-10-26T00:00:00+01:00"),
        utc("2026-10-27T00:00:00+01:00"),
    ]
    lengths = [(b - a) / dt.timedelta(hours=1) for a, b in itertools.pairwise(edges)]
    assert lengths == [24, 25, 24]
    spring = boundaries(utc("2026-03-29T12:00:00+02:00"), BERLIN, Period.DAY, 1)
    assert (spring[1] - spring[0]) / dt.timedelta(hours=1) == 23


def test_a_day_begins_at_local_midnight_not_utc() -> None:
    # 00:30 in Berlin is still the previous day in UTC.
    edges = boundaries(utc("2026-12-08T00:30:00+01:00"), BERLIN, Period.DAY, 1)
    assert edges == [utc("2026-12-08T00:00:00+01:00"), utc("2026-12-09T00:00:00+01:00")]
    assert boundaries(utc("2026-12-08T00:30:00+01:00"), UTC, Period.DAY, 1)[0] == utc(
        "2026-12-07T00:00:00+00:00"
    )


def test_weeks_begin_on_the_given_day() -> None:
    wednesday = utc("2026-12-09T12:00:00+01:00")
    assert boundaries(wednesday, BERLIN, Period.WEEK, 2) == [
        utc("2026-11-30T00:00:00+01:00"),
        utc("2026-12-07T00:00:00+01:00"),  # Monday (ISO)
        utc("2026-12-14T00:00:00+01:00"),
    ]
    assert boundaries(wednesday, BERLIN, Period.WEEK, 1, week_start=7)[0] == utc(
        "2026-12-06T00:00:00+01:00"  # Sunday
    )
    sunday = utc("2026-12-13T23:00:00+01:00")
    assert boundaries(sunday, BERLIN, Period.WEEK, 1)[0] == utc("2026-12-07T00:00:00+01:00")
    assert boundaries(sunday, BERLIN, Period.WEEK, 1, week_start=7)[0] == utc(
        "2026-12-13T00:00:00+01:00"
    )


def test_months_across_the_year() -> None:
    assert boundaries(utc("2026-01-15T08:00:00+01:00"), BERLIN, Period.MONTH, 3) == [
        utc("2025-11-01T00:00:00+01:00"),
        utc("2025-12-01T00:00:00+01:00"),
        utc("2026-01-01T00:00:00+01:00"),
        utc("2026-02-01T00:00:00+01:00"),
    ]
    april = boundaries(utc("2026-04-02T08:00:00+02:00"), BERLIN, Period.MONTH, 1)
    assert april == [utc("2026-04-01T00:00:00+02:00"), utc("2026-05-01T00:00:00+02:00")]


@pytest.mark.parametrize(
    ("now", "count", "week_start", "message"),
    [
        (dt.datetime(2026, 12, 1, tzinfo=UTC), 0, 1, "count"),
        (dt.datetime(2026, 12, 1, tzinfo=UTC), 1, 8, "week_start"),
        (dt.datetime(2026, 12, 1), 1, 1, "timezone-aware"),
    ],
)
def test_bad_boundaries(now: dt.datetime, count: int, week_start: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        boundaries(now, BERLIN, Period.DAY, count, week_start)


class Register:
    """A register's stored values, read the way the history is."""

    def __init__(self, readings: list[tuple[str, float]]) -> None:
        self.readings = [Reading(utc(t), v) for t, v in readings]
        self.increases: list[tuple[dt.datetime, dt.datetime]] = []

    def reading_at(self, at: dt.datetime, *, after: bool = False) -> Reading | None:
        if after:
            return next((r for r in self.readings if r.time >= at), None)
        before = [r for r in self.readings if r.time <= at]
        return before[-1] if before else None

    def increase(self, start: dt.datetime, end: dt.datetime) -> float:
        self.increases.append((start, end))
        values = [r.value for r in self.readings if start <= r.time < end]
        base = self.reading_at(start)
        if base is not None and base.time < start:
            values.insert(0, base.value)
        return sum(max(b - a, 0.0) for a, b in itertools.pairwise(values))


def test_each_bar_is_the_register_at_its_end_minus_at_its_start() -> None:
    register = Register(
        [
            ("2026-12-01T00:00:00+00:00", 100.0),
            ("2026-12-01T12:00:00+00:00", 104.0),
            ("2026-12-02T00:00:00+00:00", 110.0),  # exactly at a boundary: ends one, starts next
            ("2026-12-02T18:00:00+00:00", 117.5),
            ("2026-12-03T06:00:00+00:00", 120.0),
        ]
    )
    now = utc("2026-12-03T08:00:00+00:00")
    edges = boundaries(now, UTC, Period.DAY, 3)
    found = bars(register, edges, now)
    assert [(b.value, b.partial, b.running) for b in found] == [
        (10.0, False, False),
        (7.5, False, False),
        (2.5, False, True),  # today so far: the latest value minus midnight's
    ]
    assert found[2] == Bar(edges[2], edges[3], 2.5, False, True)


def test_history_beginning_within_a_period_and_a_day_without_values() -> None:
    register = Register(
        [
            ("2026-12-01T06:00:00+00:00", 50.0),  # history begins here
            ("2026-12-01T20:00:00+00:00", 58.0),
            ("2026-12-03T10:00:00+00:00", 70.0),  # nothing on the 2nd
        ]
    )
    now = utc("2026-12-03T12:00:00+00:00")
    found = bars(register, boundaries(now, UTC, Period.DAY, 4), now)
    assert [(b.value, b.partial) for b in found] == [
        (None, False),  # before the history
        (8.0, True),  # from its first value on
        (None, False),  # no value stored that day: unknown, not zero
        (12.0, False),
    ]


def test_a_register_that_went_back_counts_only_its_rises() -> None:
    register = Register(
        [
            ("2026-12-01T00:00:00+00:00", 900.0),
            ("2026-12-01T10:00:00+00:00", 905.0),
            ("2026-12-01T11:00:00+00:00", 1.0),  # the meter was replaced
            ("2026-12-01T23:00:00+00:00", 4.0),
        ]
    )
    now = utc("2026-12-02T01:00:00+00:00")
    edges = boundaries(now, UTC, Period.DAY, 2)
    first, second = bars(register, edges, now)
    assert first.value == 8.0  # 5 before the exchange, 3 after
    assert register.increases == [(edges[0], edges[1])]
    assert second.value is None  # no value yet today


def test_the_page_shows_twelve_cards_and_offers_the_other_devices() -> None:
    devices = [(f"m{i:02d}", f"Meter {i}") for i in range(14)]
    signals = [SignalInfo(a, "energy", "Energy", "kWh", True, "1.8.0") for a, _ in devices]
    signals += [SignalInfo(a, "power", "Power", "kW", True, "1.7.0") for a, _ in devices[:2]]
    signals.append(SignalInfo("m13", "volts", "Volts", "V", True, "32.7.0"))
    page = render_page(LiveState.of(devices, signals))
    assert page.count('<article class="card"') == MAX_CARDS == 12
    assert '<article class="card" data-device="m11" data-signals="energy:import">' in page
    assert 'data-device="m12" data-signals' not in page
    assert '<select id="energy-device">' in page
    assert page.count('<option value="m') == 14  # every energy device
    # What the plot shows first: the power of the meters that have a card.
    checked = re.findall(r'data-device="(\w+)" data-signal="(\w+)"[^>]*checked>', page)
    assert checked == [("m00", "power"), ("m01", "power")]


def test_without_energy_registers_there_is_no_energy_section() -> None:
    state = LiveState.of([("m1", "m1")], [SignalInfo("m1", "volts", "Volts", "V", True, "32.7.0")])
    page = render_page(state)
    assert '<section id="energy" hidden>' in page
    assert "<article" not in page
    assert re.findall(r'data-signal="(\w+)"[^>]*checked>', page) == ["volts"]  # the first logged
