"""Load profiles (§9.4): header and value lines, time stamps, range splitting."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from obisgate.errors import ConfigError, FramingError
from obisgate.protocol.loadprofile import (
    Channel,
    format_load_profile,
    parse_load_profile,
    parse_profile_time,
    split_range,
)

# The EMH example of §9.4 (two value lines of six channels).
EMH = (
    "P.01(1220823161500)(00000000)(15)(6)(1.5)(kW)(2.5)(kW)(5.5)(kvar)(6.5)(kvar)"
    "(7.5)(kvar)(8.5)(kvar)\r\n"
    "(0.18374)(0.00078)(0.00000)(0.00006)(0.00087)(0.02431)\r\n"
    "(0.16832)(0.00000)(0.00000)(0.00000)(0.00000)(0.02686)\r\n"
)


def test_parses_the_emh_example() -> None:
    profile = parse_load_profile(EMH)
    assert [c.code for c in profile.channels] == ["1.5", "2.5", "5.5", "6.5", "7.5", "8.5"]
    assert profile.channels[2] == Channel("5.5", "kvar")
    assert [r.timestamp for r in profile.rows] == [
        datetime(2022, 8, 23, 16, 15),
        datetime(2022, 8, 23, 16, 30),
    ]
    first = profile.rows[0]
    assert (first.season, first.status, first.interval_min) == ("1", "00000000", 15)
    assert [v.value for v in first.values] == [
        "0.18374",
        "0.00078",
        "0.00000",
        "0.00006",
        "0.00087",
        "0.02431",
    ]
    assert profile.unparsed == ()


def test_a_new_header_restarts_the_time_and_status() -> None:
    text = (
        "P.01(0240315000000)(00)(15)(1)(1.5)(kW)\r\n(1)\r\n(2)\r\n"
        "P.01(0240315020000)(08)(15)(1)(1.5)(kW)\r\n(3)\r\n"
    )
    rows = parse_load_profile(text).rows
    assert [(r.timestamp.hour, r.timestamp.minute, r.status, r.values[0].value) for r in rows] == [
        (0, 0, "00", "1"),
        (0, 15, "00", "2"),
        (2, 0, "08", "3"),
    ]


def test_rows_glued_to_the_header_and_stray_text() -> None:
    text = "(9)\r\nP.01(2403150000)(00)(60)(2)(1.5)(kW)(2.5)(kW)(1)(2)(3)(4)(5)\r\nX.1(7)\r\n"
    profile = parse_load_profile(text)
    assert [[v.value for v in r.values] for r in profile.rows] == [["1", "2"], ["3", "4"]]
    assert profile.rows[1].timestamp == datetime(2024, 3, 15, 1, 0)
    assert profile.rows[0].season == ""
    assert profile.unparsed == ("(9)", "(5)", "X.1(7)")


@pytest.mark.parametrize(
    ("text", "moment", "season"),
    [
        ("1220823161500", datetime(2022, 8, 23, 16, 15), "1"),
        ("121015061841", datetime(2012, 10, 15, 6, 18, 41), ""),
        ("01301310800", datetime(2013, 1, 31, 8, 0), "0"),
        ("1301310800", datetime(2013, 1, 31, 8, 0), ""),
    ],
)
def test_time_stamp_widths(text: str, moment: datetime, season: str) -> None:
    assert parse_profile_time(text) == (moment, season)


@pytest.mark.parametrize("text", ["", "12345", "01302310800", "abcdefghijk", "12345678901234"])
def test_bad_time_stamps(text: str) -> None:
    with pytest.raises(FramingError):
        parse_profile_time(text)


@pytest.mark.parametrize(
    "header",
    [
        "P.01(0240315000000)(00)(x)(1)(1.5)(kW)",
        "P.01(0240315000000)(00)(15)(3)(1.5)(kW)",
        "P.01(0240315000000)(00)",
        "P.01(0240315000000)(00)(0)(1)(1.5)(kW)",
    ],
)
def test_bad_headers(header: str) -> None:
    with pytest.raises(FramingError):
        parse_load_profile(header + "\r\n")


def test_format_then_parse_round_trip() -> None:
    start = datetime(2024, 3, 15)
    step = timedelta(minutes=15)
    records = [
        (start, "00", ("1.0", "0.1")),
        (start + step, "00", ("1.1", "0.2")),
        (start + 3 * step, "00", ("1.3", "0.3")),  # a gap: new header
        (start + 4 * step, "08", ("1.4", "0.4")),  # new status: new header
    ]
    channels = (Channel("1.5", "kW"), Channel("2.5", "kW"))
    text = format_load_profile("P.01", channels, 15, records)
    assert text.count("P.01(") == 3
    assert text.startswith("P.01(0240315000000)(00)(15)(2)(1.5)(kW)(2.5)(kW)\r\n(1.0)(0.1)\r\n")
    parsed = parse_load_profile(text)
    assert [(r.timestamp, r.status, tuple(v.value for v in r.values)) for r in parsed.rows] == (
        records
    )
    assert format_load_profile("P.01", channels, 15, []) == ""


def test_split_range() -> None:
    a = datetime(2024, 3, 15)
    day = timedelta(days=1)
    assert split_range(a, a, day) == [(a, a)]
    assert split_range(a, a + day, day) == [(a, a + day)]
    assert split_range(a, a + 2 * day + timedelta(hours=1), day) == [
        (a, a + day),
        (a + day, a + 2 * day),
        (a + 2 * day, a + 2 * day + timedelta(hours=1)),
    ]
    with pytest.raises(ConfigError):
        split_range(a + day, a, day)
    with pytest.raises(ConfigError):
        split_range(a, a + day, timedelta(0))


def test_an_absurd_interval_is_a_framing_error() -> None:
    with pytest.raises(FramingError, match="interval"):
        parse_load_profile("P.01(02403150000)(00)(99999999999)(1)(1.5.0)(kW)\r\n(0.1)\r\n")
