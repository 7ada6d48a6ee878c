"""The web view in a real headless browser (Debian's chromium driven by playwright) against
the gateway polling simulated meters: live values, a meter going down, a history plot."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import BrowserContext, async_playwright, expect
from playwright.async_api import Error as PlaywrightError

from obisgate.gateway.config import load_config
from obisgate.simulator import get_profile, serve_tcp
from tests.gateway_http.browser import CHROMIUM_FLAGS, TIMEOUT_MS, chromium, watch_errors
from tests.gateway_http.support import meter_config, running_gateway, set_energy
from tests.services import find_program

pytestmark = [pytest.mark.integration]


@pytest.fixture
async def browser(tmp_path: Path) -> AsyncIterator[BrowserContext]:
    async with chromium(tmp_path / "chromium-profile") as context:
        yield context


async def test_live_values_a_device_going_down_and_a_history_plot(
    tmp_path: Path, browser: BrowserContext
) -> None:
    profile = get_profile("mt174")
    meter_a = await serve_tcp(profile)
    meter_b = await serve_tcp(profile)
    try:
        ports = {"a": meter_a.port, "b": meter_b.port}
        (tmp_path / "gw.toml").write_text(meter_config(ports, tmp_path / "h.sqlite"))
        async with running_gateway(load_config(tmp_path / "gw.toml")) as gw:
            page = await browser.new_page()
            errors = watch_errors(page)
            await page.goto(gw.url)
            await expect(page.locator("#live")).to_have_text("live", timeout=TIMEOUT_MS)
            await page.evaluate("window.loadedOnce = true")
            energy_a = page.locator('#signals tr[data-device="a"][data-signal="energy"] td.value')
            await expect(energy_a).to_have_text("148123.456", timeout=TIMEOUT_MS)

            set_energy(meter_a, "0148200.5")
            await expect(energy_a).to_have_text("148200.5", timeout=TIMEOUT_MS)
            assert await page.evaluate("window.loadedOnce === true")  # live, not reloaded
            assert await page.evaluate("window.obisgate.batches") >= 1

            # Every output's health, rendered with the page and then refreshed from
            # /api/gateway: the history output counts what it stored.
            outputs = page.locator("#outputs")
            await expect(outputs.locator('tr[data-output="http"] .badge')).to_have_text("running")
            await page.wait_for_function(
                "() => window.obisgate.outputRefreshes >= 1", timeout=TIMEOUT_MS
            )
            history = outputs.locator('tr[data-output="history"]')
            await expect(history.locator(".badge")).to_have_text("running")
            await expect(history.locator("td.counters")).not_to_contain_text("stored_total 0")
            await expect(history.locator("td.counters")).to_contain_text("stored_total ")

            device_b = page.locator('#devices tr[data-device="b"]')
            await expect(device_b.locator(".badge")).to_have_text("ok", timeout=TIMEOUT_MS)
            await meter_b.aclose()
            await expect(device_b.locator(".badge")).to_have_text("down", timeout=TIMEOUT_MS)
            await expect(device_b.locator("td.status")).to_contain_text("connection error")
            await expect(device_b.locator("td.last-error")).to_contain_text("connection error")
            await expect(
                page.locator('#signals tr[data-device="b"][data-signal="energy"] td.quality')
            ).to_contain_text("not_topical")

            await page.click("#series-summary")
            for box in await page.locator("#series-picker input").all():
                await box.set_checked(False)
            await page.check('#series-picker input[data-device="a"][data-signal="energy"]')
            await page.select_option("#range", value="3600")
            await page.click("#plot-button")
            await page.wait_for_function(
                "() => { const p = window.obisgate.plot;"
                " return p !== null && p.data[1].includes(148123.456)"
                " && p.data[1].includes(148200.5); }",
                timeout=TIMEOUT_MS,
            )
            await expect(page.locator("#plot canvas")).to_have_count(1)
            size = await page.evaluate(
                "(() => { const c = document.querySelector('#plot canvas');"
                " return [c.width, c.height]; })()"
            )
            assert size[0] > 0
            assert size[1] > 0
            await expect(page.locator("#plot-status")).to_contain_text("values")
            assert errors == []
    finally:
        await meter_a.aclose()
        await meter_b.aclose()


async def test_with_a_token_the_browser_logs_in_with_the_token_as_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OBISGATE_TEST_WEB_TOKEN", "web-t0ken")
    meter = await serve_tcp(get_profile("mt174"))
    try:
        text = meter_config(
            {"a": meter.port}, tmp_path / "h.sqlite", 'token_env = "OBISGATE_TEST_WEB_TOKEN"'
        )
        (tmp_path / "gw.toml").write_text(text)
        async with (
            running_gateway(load_config(tmp_path / "gw.toml")) as gw,
            async_playwright() as driver,
        ):
            browser = await driver.chromium.launch(  # a fresh temporary profile
                executable_path=find_program("chromium", "chromium"),
                headless=True,
                args=CHROMIUM_FLAGS,
            )
            try:
                anonymous = await (await browser.new_context()).new_page()
                with pytest.raises(PlaywrightError, match="ERR_INVALID_AUTH_CREDENTIALS"):
                    await anonymous.goto(gw.url)  # refused: a login prompt, no page
                # What a person types into the browser's login prompt: any name, the token.
                context = await browser.new_context(
                    http_credentials={"username": "technician", "password": "web-t0ken"}
                )
                context.set_default_timeout(TIMEOUT_MS)
                page = await context.new_page()
                errors = watch_errors(page)
                await page.goto(gw.url)
                await expect(page.locator("#live")).to_have_text("live", timeout=TIMEOUT_MS)
                await expect(
                    page.locator('#signals tr[data-device="a"][data-signal="energy"] td.value')
                ).to_have_text("148123.456", timeout=TIMEOUT_MS)
                assert errors == []
            finally:
                await browser.close()
    finally:
        await meter.aclose()
