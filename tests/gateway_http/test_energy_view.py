"""The web view as an energy view, in a real browser (Debian's chromium) at desktop and phone
widths, against a gateway polling simulated meters whose history goes back 45 days.

It opens on a card per meter: the power now, what was taken (and given back) today, this
week and this month in the browser's calendar (Europe/Berlin here), and bars per day, week
or month; then a plot of several signals over the chosen range, zoomable; then the tables.
Screenshots of each width are saved under the test's tmp_path and listed at the end of the
run."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Page, expect

from obisgate.gateway.config import load_config
from obisgate.gateway.history import HistoryRecord, HistoryStore
from obisgate.simulator import SimulatorServer, get_profile, serve_tcp
from tests.gateway_http.browser import Screenshots, chromium, watch_errors
from tests.gateway_http.support import running_gateway

pytestmark = [pytest.mark.integration]

BERLIN = ZoneInfo("Europe/Berlin")
LIVE_IMPORT = 148123.456
LIVE_EXPORT = 2345.5
LIVE_POWER = 1.234


def house_profile() -> object:
    """An MT174 that also reports the power and what it gave back (a roof with panels)."""
    base = get_profile("mt174")
    lines = [x for x in base.lines if not x.startswith("2.8.0(")]
    lines += [
        f"2.8.0({LIVE_EXPORT:011.3f}*kWh)",
        f"1.7.0({LIVE_POWER:06.3f}*kW)",
        "2.7.0(00.000*kW)",
    ]
    return dataclasses.replace(base, lines=tuple(lines), reaction_time_s=0.0)


@dataclass
class History:
    """The readings written into the history before the gateway starts (hourly, 45 days)."""

    imports: list[tuple[dt.datetime, float]]
    exports: list[tuple[dt.datetime, float]]

    @staticmethod
    def value_at(rows: list[tuple[dt.datetime, float]], at: dt.datetime) -> float | None:
        found = [v for t, v in rows if t <= at]
        return found[-1] if found else None


def write_history(path: Path, now: dt.datetime) -> History:
    """Hourly readings of the house meter for 45 days up to an hour ago, rising by a pattern
    (more in the evening, less at night), ending below what the live meter will say."""
    end = now.replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=1)
    times = [end - dt.timedelta(hours=h) for h in range(45 * 24, -1, -1)]
    steps = [0.15 + 0.9 * ((t.hour + 6) % 24 >= 12) * ((t.hour * 7 + t.day) % 5) / 4 for t in times]
    sunny = [0.4 + 0.6 * ((t.day * 3) % 7) / 6 if 9 <= t.hour <= 14 else 0.0 for t in times]
    imports, exports = [], []
    value, given = LIVE_IMPORT - 2.0 - sum(steps), LIVE_EXPORT - 0.5 - sum(sunny)
    records = []
    for time, step, sun in zip(times, steps, sunny, strict=True):
        value += step
        given += sun
        imports.append((time, round(value, 3)))
        exports.append((time, round(given, 3)))
        power = round(step * (1 + (time.hour % 3) / 10), 3)
        records += [
            HistoryRecord("house", "energy_import", time, round(value, 3), "kWh"),
            HistoryRecord("house", "energy_export", time, round(given, 3), "kWh"),
            HistoryRecord("house", "power", time, power, "kW"),
        ]
    with HistoryStore(path) as store:
        store.append(records)
    return History(imports, exports)


def config_text(house: int, garage: int, history: Path) -> str:
    text = f'[http]\nlisten = "127.0.0.1:0"\n[output]\nformat = "none"\n[storage]\npath = "{history}"\n'
    for alias, name, port in (("house", "House", house), ("garage", "Garage", garage)):
        text += (
            f'[[devices]]\ndevice_alias = "{alias}"\nname = "{name}"\n'
            f'url = "tcp://127.0.0.1:{port}"\nscan_rate_ms = 500\npoll_delay_ms = 0\n'
            "serial_close_delay = 0\ntimeout_ms = 2000\nretries = 0\n"
        )
        signals = [("energy_import", "1.8.0"), ("power", "1.7.0")]
        if alias == "house":
            signals += [("energy_export", "2.8.0"), ("power_export", "2.7.0")]
        signals += [("voltage_l1", "32.7.0")]
        for signal, tag in signals:
            text += (
                f'[[signals]]\ndevice_alias = "{alias}"\nsignal_alias = "{signal}"\n'
                f'tag_job_todo = "{tag}"\nnumber_type = "FLOAT"\nlog = 1\n'
            )
    return text


@pytest.fixture
async def meters() -> AsyncIterator[tuple[SimulatorServer, SimulatorServer]]:
    house = await serve_tcp(house_profile())  # type: ignore[arg-type]
    garage = await serve_tcp(house_profile())  # type: ignore[arg-type]
    try:
        yield house, garage
    finally:
        await house.aclose()
        await garage.aclose()


@pytest.fixture
def screenshots(tmp_path: Path, request: pytest.FixtureRequest) -> Screenshots:
    return Screenshots(tmp_path, request.config)


def expected_days(history: History, now: dt.datetime, count: int) -> list[float]:
    """What each of the last ``count`` Berlin days took, by the definition: the register at
    the day's end (for today: the live value) minus the register at its start."""
    today = now.astimezone(BERLIN).date()
    found = []
    for back in range(count - 1, -1, -1):
        day = today - dt.timedelta(days=back)
        start = dt.datetime(day.year, day.month, day.day, tzinfo=BERLIN).astimezone(dt.UTC)
        after = day + dt.timedelta(days=1)
        end = dt.datetime(after.year, after.month, after.day, tzinfo=BERLIN).astimezone(dt.UTC)
        begin = History.value_at(history.imports, start)
        close = LIVE_IMPORT if back == 0 else History.value_at(history.imports, end)
        assert begin is not None
        assert close is not None
        found.append(round(close - begin, 6))
    return found


def shown(value: float) -> str:
    """A figure as the page writes it in en-GB: fewer decimals for bigger numbers."""
    size = abs(value)
    digits = 0 if size >= 1000 else 1 if size >= 100 else 2 if size >= 10 else 3
    text = f"{value:,.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def shown_as(value: float) -> re.Pattern[str]:
    """What the page may write for ``value``: it sums the day from the history's floats,
    so a figure on a rounding tie (10.325 at 2 decimals) may go either way."""
    texts = {shown(value - 1e-9), shown(value + 1e-9)}
    return re.compile("^(" + "|".join(re.escape(t) for t in sorted(texts)) + ")$")


async def bar_values(page: Page, device: str) -> list[float]:
    values = await page.locator(f'.card[data-device="{device}"] .bar.import').evaluate_all(
        "bars => bars.map(b => b.dataset.value)"
    )
    return [round(float(v), 6) for v in values]


async def horizontal_overflow(page: Page) -> int:
    return int(await page.evaluate("document.documentElement.scrollWidth - window.innerWidth"))


async def test_the_page_opens_on_energy_with_a_plot_above_the_fold(
    tmp_path: Path, meters: tuple[SimulatorServer, SimulatorServer], screenshots: Screenshots
) -> None:
    house, garage = meters
    now = dt.datetime.now(dt.UTC)
    history = write_history(tmp_path / "h.sqlite", now)
    (tmp_path / "gw.toml").write_text(config_text(house.port, garage.port, tmp_path / "h.sqlite"))
    async with (
        running_gateway(load_config(tmp_path / "gw.toml")) as gw,
        chromium(
            tmp_path / "desktop-profile",
            viewport={"width": 1280, "height": 800},
            timezone_id="Europe/Berlin",
            locale="en-GB",
        ) as browser,
    ):
        page = await browser.new_page()
        errors = watch_errors(page)
        await page.goto(gw.url)
        await expect(page.locator("#live")).to_have_text("live")
        assert await page.evaluate("window.obisgate.zone") == "Europe/Berlin"
        await expect(page.locator("#zone")).to_contain_text("Europe/Berlin")
        card = page.locator('.card[data-device="house"]')
        # The live value came in after the history: today's figure uses it.
        expected = expected_days(history, now, 7)

        async def bars_match() -> bool:
            return await bar_values(page, "house") == expected

        await page.wait_for_function(
            "() => [...document.querySelectorAll('.card[data-device=\"house\"] .bar.import')]"
            ".length === 7"
        )
        await expect(card.locator(".totals [data-period=day] .figure.import .v")).to_have_text(
            shown_as(expected[-1])
        )
        assert await bars_match(), (await bar_values(page, "house"), expected)
        await expect(card.locator(".power .v")).to_have_text("1.234")
        await expect(card.locator(".power .u")).to_have_text("kW")
        await expect(card.locator(".totals .figure.export").first).to_be_visible()
        await expect(page.locator('.card[data-device="garage"] .bar.import')).to_have_count(7)

        # The plot is above the fold: the power of both meters, over the last 24 hours.
        await page.wait_for_function("() => window.obisgate.plotted >= 1")
        box = await page.locator("#plot canvas").bounding_box()
        assert box is not None
        assert box["y"] + box["height"] <= 800, box
        assert await page.evaluate("window.obisgate.plot.series.length") == 3  # x + 2 powers
        span = await page.evaluate(
            "(() => { const x = window.obisgate.plot.scales.x; return [x.min, x.max]; })()"
        )
        assert abs((span[1] - span[0]) - 86400) < 120  # the range chosen, not the data's
        await screenshots.take(page, "energy-desktop-first-screen", full_page=False)
        shot = await screenshots.take(page, "energy-desktop")
        assert shot.stat().st_size > 10_000

        # Weeks and months: the bars follow the choice.
        await page.click('.periods button[data-period="month"]')
        await expect(card.locator(".bar.import")).to_have_count(12)
        await expect(card).to_have_attribute("data-period", "month")
        await page.click('.periods button[data-period="week"]')
        await expect(card.locator(".bar.import")).to_have_count(8)

        # Several series at once, any logged signal, over another range; then zoom.
        await page.click("#series-summary")
        await page.check('#series-picker input[data-device="house"][data-signal="energy_import"]')
        await page.click("#series-summary")
        await expect(page.locator("#series-picker .choices")).to_be_hidden()
        await page.select_option("#range", value="604800")
        await page.wait_for_function(
            "() => window.obisgate.drawing === 0 && window.obisgate.plot"
            " && window.obisgate.plot.series.length === 4"
            " && window.obisgate.plot.scales.x.max - window.obisgate.plot.scales.x.min > 600000"
        )
        over = page.locator("#plot .u-over")
        area = await over.bounding_box()
        assert area is not None
        x0 = area["x"] + area["width"] * 0.3
        x1 = area["x"] + area["width"] * 0.6
        y = area["y"] + area["height"] / 2
        await page.mouse.move(x0, y)
        await page.mouse.down()
        await page.mouse.move(x1, y, steps=5)
        await page.mouse.up()
        zoomed = await page.evaluate(
            "(() => { const x = window.obisgate.plot.scales.x; return x.max - x.min; })()"
        )
        assert zoomed < 604800 * 0.5
        await expect(page.locator("#reset-zoom")).to_be_visible()
        await page.mouse.dblclick(x0, y)
        whole = await page.evaluate(
            "(() => { const x = window.obisgate.plot.scales.x; return x.max - x.min; })()"
        )
        assert abs(whole - 604800) < 120
        await expect(page.locator("#reset-zoom")).to_be_hidden()
        await screenshots.take(page, "energy-desktop-weeks")
        assert errors == []


async def test_on_a_phone_nothing_scrolls_sideways_and_units_stay_beside_values(
    tmp_path: Path, meters: tuple[SimulatorServer, SimulatorServer], screenshots: Screenshots
) -> None:
    house, garage = meters
    now = dt.datetime.now(dt.UTC)
    write_history(tmp_path / "h.sqlite", now)
    (tmp_path / "gw.toml").write_text(config_text(house.port, garage.port, tmp_path / "h.sqlite"))
    async with (
        running_gateway(load_config(tmp_path / "gw.toml")) as gw,
        chromium(
            tmp_path / "phone-profile",
            viewport={"width": 390, "height": 844},
            device_scale_factor=2,
            is_mobile=True,
            has_touch=True,
            timezone_id="Europe/Berlin",
            locale="en-GB",
        ) as browser,
    ):
        page = await browser.new_page()
        errors = watch_errors(page)
        await page.goto(gw.url)
        await expect(page.locator("#live")).to_have_text("live")
        await expect(page.locator('.card[data-device="house"] .bar.import')).to_have_count(7)
        await page.wait_for_function("() => window.obisgate.plotted >= 1")
        energy = page.locator('#signals tr[data-device="house"][data-signal="energy_import"]')
        await expect(energy.locator("td.value")).to_have_text("148123.456")
        assert await horizontal_overflow(page) <= 0
        # The unit sits right beside its value, on the same line.
        value = await energy.locator("td.value").bounding_box()
        unit = await energy.locator("td.unit").bounding_box()
        assert value is not None
        assert unit is not None
        assert 0 <= unit["x"] - (value["x"] + value["width"]) < 12
        assert abs(unit["y"] - value["y"]) < 8
        assert value["x"] + value["width"] <= 390
        figure = page.locator('.card[data-device="house"] [data-period=day] .figure.import')
        number = await figure.locator(".v").bounding_box()
        kwh = await figure.locator(".u").bounding_box()
        assert number is not None
        assert kwh is not None
        assert abs(kwh["y"] + kwh["height"] - (number["y"] + number["height"])) < 6
        assert (await page.locator("#plot canvas").bounding_box() or {"width": 999})["width"] <= 390
        # Every time on the page in one style: the local time with the zone.
        since = page.locator('#devices tr[data-device="house"] td.since')
        await expect(since).to_contain_text(re.compile(r"\d\d:\d\d:\d\d CES?T"))
        await screenshots.take(page, "energy-phone-first-screen", full_page=False)
        shot = await screenshots.take(page, "energy-phone")
        assert shot.stat().st_size > 10_000
        await page.click('.periods button[data-period="month"]')
        await expect(page.locator('.card[data-device="house"] .bar.import')).to_have_count(12)
        assert await horizontal_overflow(page) <= 0
        await screenshots.take(page, "energy-phone-months")
        assert errors == []
