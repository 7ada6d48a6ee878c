"""``/api/energy`` and the aggregated ``/api/history`` over real TCP, on history files as the
workers of ``run --workers`` leave them (one device's rows in two files after a reshard)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from obisgate.gateway.config import load_config
from obisgate.gateway.history import HistoryRecord, HistoryStore, history_files
from obisgate.gateway.outputs.context import OutputContext
from obisgate.gateway.outputs.http.server import HttpOutput
from obisgate.gateway.quality import Quality
from tests.gateway_http.support import serving, update, write_config

UTC = dt.UTC
NOW = dt.datetime(2026, 12, 9, 11, 0, tzinfo=UTC)  # Wednesday, 12:00 in Berlin

CONFIG = """\
    [http]
    listen = "127.0.0.1:0"

    [[devices]]
    device_alias = "m1"
    name = "House"
    url = "tcp://127.0.0.1:1"

    [[devices]]
    device_alias = "m2"
    url = "tcp://127.0.0.1:2"

    [[signals]]
    device_alias = "m1"
    signal_alias = "energy"
    tag_job_todo = "1.8.0"
    number_type = "FLOAT"
    log = 1

    [[signals]]
    device_alias = "m1"
    signal_alias = "returned"
    tag_job_todo = "2.8.0"
    number_type = "FLOAT"
    log = 1

    [[signals]]
    device_alias = "m1"
    signal_alias = "power"
    tag_job_todo = "1.7.0"
    number_type = "FLOAT"
    unit = "kW"

    [[signals]]
    device_alias = "m1"
    signal_alias = "tariff1"
    tag_job_todo = "1.8.1"
    number_type = "FLOAT"
    log = 1

    [[signals]]
    device_alias = "m2"
    signal_alias = "voltage"
    tag_job_todo = "32.7.0"
    number_type = "FLOAT"
    log = 1
"""


def hourly(
    start: dt.datetime, hours: int, first: float, step: float
) -> list[tuple[dt.datetime, float]]:
    return [(start + dt.timedelta(hours=h), first + step * h) for h in range(hours)]


@pytest.fixture
def files(tmp_path: Path) -> Path:
    """m1 read hourly from 1 Dec 00:00 UTC on, 1 kWh an hour taken, 0.25 given back; its rows
    until 5 Dec in the file of shard 1, after that in shard 0's (its line moved)."""
    start = dt.datetime(2026, 12, 1, tzinfo=UTC)
    taken = hourly(start, 8 * 24 + 11, 1000.0, 1.0)  # up to 10:00 on the 9th
    given = hourly(start, 8 * 24 + 11, 50.0, 0.25)
    moved = dt.datetime(2026, 12, 5, tzinfo=UTC)
    for shard in (0, 1):
        records = [
            HistoryRecord("m1", signal, t, v, "kWh")
            for signal, rows in (("energy", taken), ("returned", given))
            for t, v in rows
            if (t < moved) == (shard == 1)
        ]
        with HistoryStore(tmp_path / f"h-shard{shard}.sqlite") as store:
            store.append(records)
    return tmp_path / "h.sqlite"


@pytest.fixture
async def output(tmp_path: Path, files: Path) -> AsyncIterator[HttpOutput]:
    config = write_config(tmp_path, CONFIG)
    context = OutputContext(history_files=lambda: history_files(files))
    async with serving(load_config(config), context) as http:
        http.clock = lambda: NOW
        await http.publish([update("m1", "power", 2.5, unit="kW", at=dt.timedelta(hours=8))])
        yield http


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def get(client: aiohttp.ClientSession, url: str, status: int = 200) -> Any:
    async with client.get(url) as answer:
        assert answer.status == status, await answer.text()
        return await answer.json()


async def test_days_in_the_browsers_zone_over_both_files(
    output: HttpOutput, client: aiohttp.ClientSession
) -> None:
    body = await get(
        client, output.url + "api/energy?device=m1&period=day&count=3&tz=Europe/Berlin"
    )
    assert (body["device"], body["name"], body["period"], body["count"]) == (
        "m1",
        "House",
        "day",
        3,
    )
    assert body["tz"] == "Europe/Berlin"
    assert body["now"] == "2026-12-09T12:00:00+01:00"
    taken, given = body["registers"]
    assert (taken["signal"], taken["direction"], taken["unit"]) == ("energy", "import", "kWh")
    assert (given["signal"], given["direction"]) == ("returned", "export")
    assert taken["since"] == "2026-12-01T01:00:00+01:00"
    # Berlin days begin at 23:00 UTC: 24 hourly steps each, today 11 (23:00 .. 10:00).
    assert [(b["start"], b["value"], b["running"]) for b in taken["bars"]] == [
        ("2026-12-07T00:00:00+01:00", 24.0, False),
        ("2026-12-08T00:00:00+01:00", 24.0, False),
        ("2026-12-09T00:00:00+01:00", 11.0, True),
    ]
    assert [b["value"] for b in given["bars"]] == [6.0, 6.0, 2.75]
    assert taken["current"]["day"]["value"] == 11.0
    assert taken["current"]["week"]["start"] == "2026-12-07T00:00:00+01:00"  # Monday
    assert taken["current"]["week"]["value"] == 24.0 + 24.0 + 11.0
    month = taken["current"]["month"]
    assert (month["start"], month["partial"]) == ("2026-12-01T00:00:00+01:00", True)
    assert month["value"] == 8 * 24 + 10 - 0.0  # from the first value (01:00 Berlin) on
    assert body["power"] == [
        {
            "signal": "power",
            "direction": "power",
            "value": 2.5,
            "unit": "kW",
            "time": "2026-12-01T18:00:00.000+00:00",
            "quality": ["valid"],
        }
    ]


async def test_weeks_months_and_the_week_start(
    output: HttpOutput, client: aiohttp.ClientSession
) -> None:
    base = output.url + "api/energy?device=m1&tz=Europe/Berlin"
    weeks = await get(client, base + "&period=week&count=2&week_start=7")
    bars = weeks["registers"][0]["bars"]
    assert [b["start"] for b in bars] == ["2026-11-29T00:00:00+01:00", "2026-12-06T00:00:00+01:00"]
    assert [b["partial"] for b in bars] == [True, False]
    months = await get(client, base + "&period=month")
    assert len(months["registers"][0]["bars"]) == 12  # the default count of months
    assert [b["value"] for b in months["registers"][0]["bars"][:10]] == [None] * 10
    utc = await get(client, output.url + "api/energy?device=m1&period=day&count=1")
    assert utc["tz"] == "UTC"
    assert utc["registers"][0]["bars"][0]["value"] == 10.0  # 00:00 .. 10:00 UTC


async def test_a_device_without_registers(
    output: HttpOutput, client: aiohttp.ClientSession
) -> None:
    body = await get(client, output.url + "api/energy?device=m2")
    assert (body["registers"], body["power"]) == ([], [])


@pytest.mark.parametrize(
    ("query", "status", "fragment"),
    [
        ("", 400, "device is required"),
        ("device=zz", 404, "no device 'zz'"),
        ("device=m1&period=year", 400, "allowed day, week, month"),
        ("device=m1&tz=Mars/Olympus", 400, "time zone name"),
        ("device=m1&tz=../../etc/passwd", 400, "time zone name"),
        ("device=m1&count=0", 400, "count"),
        ("device=m1&count=401", 400, "1 to 400"),
        ("device=m1&week_start=8", 400, "1 to 7"),
    ],
)
async def test_bad_energy_requests(
    output: HttpOutput, client: aiohttp.ClientSession, query: str, status: int, fragment: str
) -> None:
    body = await get(client, output.url + "api/energy?" + query, status)
    assert fragment in body["error"]


async def test_energy_without_any_history(tmp_path: Path, client: aiohttp.ClientSession) -> None:
    config = load_config(write_config(tmp_path, CONFIG))
    async with serving(config, OutputContext()) as http:
        body = await get(client, http.url + "api/energy?device=m1", 404)
    assert body["error"] == "no history is kept: no signal has log > 0"


async def test_history_merges_the_files_and_averages_to_points(
    output: HttpOutput, client: aiohttp.ClientSession
) -> None:
    base = output.url + "api/history?device=m1&signal=energy"
    newest = await get(client, base + "&limit=3&to=2026-12-05T01:00:00Z")
    assert [r["time"][:16] for r in newest["rows"]] == [
        "2026-12-04T22:00",  # shard 1's file
        "2026-12-04T23:00",
        "2026-12-05T00:00",  # shard 0's file
    ]
    assert newest["truncated"] is True
    window = "&from=2026-12-04T00:00:00Z&to=2026-12-06T00:00:00Z"
    averaged = await get(client, base + window + "&points=4")
    assert averaged["step"] == 12 * 3600
    rows = averaged["rows"]
    assert [r["count"] for r in rows] == [12, 12, 12, 12]
    first = 1000.0 + 3 * 24
    assert rows[0]["value"] == first + 5.5
    assert (rows[0]["min"], rows[0]["max"]) == (first, first + 11)
    assert rows[2]["time"] == "2026-12-05T05:30:00.000+00:00"  # the mean time of its values
    assert averaged["unit"] == "kWh"
    raw = await get(client, base + window + "&points=100")  # 48 values: fewer than asked
    assert "step" not in raw
    assert len(raw["rows"]) == 48


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ("&points=10", "points needs a range"),
        ("&points=1&from=2026-12-01&to=2026-12-02", "2 to 10000"),
        ("&points=many&from=2026-12-01&to=2026-12-02", "digits 0-9"),
    ],
)
async def test_bad_points(
    output: HttpOutput, client: aiohttp.ClientSession, query: str, fragment: str
) -> None:
    body = await get(client, output.url + "api/history?device=m1&signal=energy" + query, 400)
    assert fragment in body["error"]


async def test_aggregates_skip_values_that_are_not_valid_numbers(
    tmp_path: Path, client: aiohttp.ClientSession
) -> None:
    start = dt.datetime(2026, 12, 1, tzinfo=UTC)
    with HistoryStore(tmp_path / "one.sqlite") as store:
        store.append(
            [
                HistoryRecord("m1", "energy", start + dt.timedelta(minutes=m), float(m))
                for m in range(6)
            ]
            + [
                HistoryRecord(
                    "m1",
                    "energy",
                    start + dt.timedelta(minutes=3, seconds=1),
                    None,
                    None,
                    Quality.INVALID,
                )
            ]
        )
    context = OutputContext(history_path=tmp_path / "one.sqlite")
    async with serving(load_config(write_config(tmp_path, CONFIG)), context) as http:
        body = await get(
            client,
            http.url + "api/history?device=m1&signal=energy&from=2026-12-01T00:00:00Z"
            "&to=2026-12-01T00:06:00Z&points=2",
        )
    assert [(r["value"], r["count"]) for r in body["rows"]] == [(1.0, 3), (4.0, 3)]
