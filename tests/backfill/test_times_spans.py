"""The meter's clock and UTC, interval boundaries, and the spans left to fill (pure)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from obisgate.gateway.backfill.spans import Span, add_span, holes
from obisgate.gateway.backfill.times import (
    boundaries,
    count_boundaries,
    divides_a_day,
    last_boundary,
    meter_zone,
    next_boundary,
    season_flag,
    to_meter,
    to_utc,
)

BERLIN = ZoneInfo("Europe/Berlin")


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def test_zone_names() -> None:
    assert meter_zone("local") is None
    assert meter_zone(" UTC ") is UTC
    assert meter_zone("+01:00") == timezone(timedelta(hours=1))
    assert meter_zone("-0530") == timezone(-timedelta(hours=5, minutes=30))
    assert meter_zone("Europe/Berlin") == BERLIN
    for bad in ("Mars/Base", "+25:00", "+01:75", "", "../etc/passwd"):
        with pytest.raises(ValueError, match=r"time zone|offset"):
            meter_zone(bad)


def test_a_fixed_offset_meter() -> None:
    plus_one = meter_zone("+01:00")
    assert to_utc(datetime(2026, 7, 1, 12, 15), plus_one) == utc(2026, 7, 1, 11, 15)
    assert to_meter(utc(2026, 7, 1, 11, 15), plus_one) == datetime(2026, 7, 1, 12, 15)
    assert season_flag(utc(2026, 7, 1, 11, 15), plus_one) == "0"


def test_the_repeated_autumn_hour_is_told_apart_by_the_season_flag() -> None:
    # 2026-10-25: Berlin goes from 03:00 CEST back to 02:00 CET; 02:30 happens twice.
    repeated = datetime(2026, 10, 25, 2, 30)
    assert to_utc(repeated, BERLIN, "1") == utc(2026, 10, 25, 0, 30)  # summer: first pass
    assert to_utc(repeated, BERLIN, "0") == utc(2026, 10, 25, 1, 30)  # winter: second pass
    assert to_utc(repeated, BERLIN) == utc(2026, 10, 25, 0, 30)
    # Any other hour: the flag changes nothing.
    assert to_utc(datetime(2026, 10, 25, 12, 0), BERLIN, "1") == utc(2026, 10, 25, 11, 0)
    assert season_flag(utc(2026, 10, 25, 0, 30), BERLIN) == "1"
    assert season_flag(utc(2026, 10, 25, 1, 30), BERLIN) == "0"


def test_boundaries_follow_the_meters_local_grid() -> None:
    quarter = 900
    assert next_boundary(utc(2026, 12, 1, 10, 7), quarter, UTC) == utc(2026, 12, 1, 10, 15)
    assert next_boundary(utc(2026, 12, 1, 10, 15), quarter, UTC) == utc(2026, 12, 1, 10, 30)
    assert last_boundary(utc(2026, 12, 1, 10, 15), quarter, UTC) == utc(2026, 12, 1, 10, 15)
    assert last_boundary(utc(2026, 12, 1, 10, 14, 59), quarter, UTC) == utc(2026, 12, 1, 10, 0)
    # An hourly profile of a meter at +05:30 is stamped at half past, in UTC.
    india = meter_zone("+05:30")
    assert next_boundary(utc(2026, 12, 1, 10, 7), 3600, india) == utc(2026, 12, 1, 10, 30)
    # A daily profile: the meter's midnight.
    assert next_boundary(utc(2026, 12, 1, 10), 86_400, BERLIN) == utc(2026, 12, 1, 23)
    assert boundaries(utc(2026, 12, 1, 10), utc(2026, 12, 1, 11), quarter, UTC) == [
        utc(2026, 12, 1, 10, 15),
        utc(2026, 12, 1, 10, 30),
        utc(2026, 12, 1, 10, 45),
        utc(2026, 12, 1, 11),
    ]
    assert boundaries(utc(2026, 12, 1, 10), utc(2026, 12, 1, 11), quarter, UTC, limit=2) == [
        utc(2026, 12, 1, 10, 15),
        utc(2026, 12, 1, 10, 30),
    ]
    assert boundaries(utc(2026, 12, 1, 10, 1), utc(2026, 12, 1, 10, 14), quarter, UTC) == []


def test_across_the_spring_change_a_quarter_hour_grid_stays_whole() -> None:
    # 2026-03-29: Berlin skips 02:00-03:00 local; the UTC stamps stay 15 minutes apart.
    stamps = boundaries(utc(2026, 3, 29, 0, 30), utc(2026, 3, 29, 1, 30), 900, BERLIN)
    assert stamps == [utc(2026, 3, 29, 0, 45), utc(2026, 3, 29, 1), utc(2026, 3, 29, 1, 15),
                      utc(2026, 3, 29, 1, 30)]  # fmt: skip


@given(
    st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1)),
    st.integers(min_value=0, max_value=3 * 86_400),
    st.sampled_from([60, 300, 900, 1800, 3600]),
    st.sampled_from([UTC, meter_zone("+01:00"), meter_zone("+05:30")]),
)
def test_count_matches_the_listed_boundaries(
    start: datetime, seconds: int, period: int, zone: object
) -> None:
    lo = start.replace(tzinfo=UTC)
    hi = lo + timedelta(seconds=seconds)
    listed = boundaries(lo, hi, period, zone)  # type: ignore[arg-type]
    assert count_boundaries(lo, hi, period, zone) == len(listed)  # type: ignore[arg-type]
    assert all(lo < b <= hi for b in listed)
    assert all(b - a == timedelta(seconds=period) for a, b in itertools.pairwise(listed))


def test_periods_that_divide_a_day() -> None:
    periods = (30, 60, 90, 300, 420, 900, 3600, 5400, 7 * 3600, 86_400)
    assert [p for p in periods if divides_a_day(p)] == [60, 300, 900, 3600, 5400, 86_400]


def test_spans_merge_and_clip() -> None:
    t = [utc(2026, 12, 1, h) for h in range(8)]
    spans = add_span([], Span(t[2], t[3]))
    spans = add_span(spans, Span(t[0], t[1]))
    assert spans == [Span(t[0], t[1]), Span(t[2], t[3])]
    assert add_span(spans, Span(t[1], t[2])) == [Span(t[0], t[3])]  # touching: one span
    assert add_span(spans, Span(t[0], t[5])) == [Span(t[0], t[5])]
    assert add_span(spans, Span(t[5], t[5])) == spans  # empty: nothing added
    assert Span(t[0], t[4]).clipped(t[2]) == Span(t[2], t[4])
    assert Span(t[0], t[2]).clipped(t[2]) is None


def test_holes_are_the_long_steps_clipped_to_the_window() -> None:
    t = [utc(2026, 12, 1, h) for h in range(8)]
    found = [(t[0], t[3]), (t[4], t[4] + timedelta(minutes=10)), (t[5], t[7])]
    assert holes(found, t[1], longer_than=timedelta(minutes=20)) == [
        Span(t[1], t[3]),
        Span(t[5], t[7]),
    ]
