"""Priority reads over HTTP (POST /api/devices/<alias>/read, its token and origin rules) and
the read-success figures in /api/devices, /api/reads and /metrics."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from obisgate.gateway.config import load_config
from obisgate.gateway.outputs.context import OutputContext
from obisgate.gateway.outputs.http.server import HttpOutput
from obisgate.gateway.poller import ReadRequestError
from obisgate.gateway.updates import SignalUpdate
from obisgate.simulator import get_profile, serve_tcp
from tests.gateway_http.support import good_m1, meter_config, running_gateway, serving, two_meters

TOKEN = "r3ad-t0ken"


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def answering(asked: list[str]) -> OutputContext:
    """A context whose gateway answers every read at once with m1's good readout, and
    refuses the devices named after a refusal reason."""

    def request_read(alias: str) -> asyncio.Future[list[SignalUpdate]]:
        if alias in ("unknown", "push", "stopped"):
            raise ReadRequestError(f"refused: {alias}", alias)
        asked.append(alias)
        future: asyncio.Future[list[SignalUpdate]] = asyncio.get_running_loop().create_future()
        if alias.startswith("late-"):  # refused once asked (a worker of run --workers)
            reason = alias.removeprefix("late-")
            future.set_exception(ReadRequestError(f"refused later: {reason}", reason))
        elif alias != "slow":
            future.set_result(good_m1())
        return future

    return OutputContext(request_read=request_read)


async def test_a_read_is_answered_with_its_updates(
    tmp_path: Path, client: aiohttp.ClientSession
) -> None:
    asked: list[str] = []
    async with serving(two_meters(tmp_path), answering(asked)) as output:
        async with client.post(output.url + "api/devices/m1/read") as response:
            assert response.status == 200
            body = await response.json()
        assert asked == ["m1"]
        assert body["device"] == "m1" and body["status"] == "ok"
        assert [u["signal"] for u in body["updates"]] == ["energy", "serial"]
        assert body["updates"][0]["value"] == 148123.5
        async with client.post(output.url + "api/devices/slow/read?wait=0") as response:
            assert response.status == 202
            assert await response.json() == {"device": "slow", "queued": True}
        for alias, status in (("unknown", 404), ("push", 409), ("stopped", 503)):
            async with client.post(output.url + f"api/devices/{alias}/read") as response:
                assert response.status == status
                assert (await response.json())["error"] == f"refused: {alias}"
        for reason, status in (("unknown", 404), ("push", 409), ("stopped", 503)):
            async with client.post(output.url + f"api/devices/late-{reason}/read") as response:
                assert response.status == status
                assert (await response.json())["error"] == f"refused later: {reason}"
        for wait in ("x", "-1", "4000"):
            async with client.post(output.url + f"api/devices/m1/read?wait={wait}") as response:
                assert response.status == 400


async def test_reads_need_the_token_when_one_is_set(
    tmp_path: Path, client: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OBISGATE_TEST_HTTP_TOKEN", TOKEN)
    asked: list[str] = []
    config = two_meters(tmp_path, 'token_env = "OBISGATE_TEST_HTTP_TOKEN"')
    async with serving(config, answering(asked)) as output:
        url = output.url + "api/devices/m1/read"
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            async with client.post(url, headers=headers) as response:
                assert response.status == 401
        assert asked == []
        async with client.post(url, headers={"Authorization": f"Bearer {TOKEN}"}) as response:
            assert response.status == 200
        assert asked == ["m1"]


async def test_without_a_token_reads_are_asked_only_on_loopback(
    tmp_path: Path, client: aiohttp.ClientSession
) -> None:
    asked: list[str] = []
    async with serving(two_meters(tmp_path), answering(asked)) as output:
        # As if listening beyond loopback with allow_anonymous = 1 (the check reads the
        # configured host; the socket stays on loopback for the test).
        output.host = "192.0.2.10"
        async with client.post(
            output.url.replace("192.0.2.10", "127.0.0.1") + "api/devices/m1/read"
        ) as response:
            assert response.status == 403
            assert "needs a token" in (await response.json())["error"]
        async with client.get(
            output.url.replace("192.0.2.10", "127.0.0.1") + "api/devices"
        ) as response:
            assert response.status == 200  # reading stays open as configured
    assert asked == []


async def test_a_page_of_another_origin_cannot_ask_for_reads(
    tmp_path: Path, client: aiohttp.ClientSession
) -> None:
    asked: list[str] = []
    async with serving(two_meters(tmp_path), answering(asked)) as output:
        url = output.url + "api/devices/m1/read"
        for headers in (
            {"Origin": "http://evil.example"},
            {"Sec-Fetch-Site": "cross-site"},
            {"Origin": "null"},
        ):
            async with client.post(url, headers=headers) as response:
                assert response.status == 403
        assert asked == []
        same = output.url.rstrip("/")
        async with client.post(
            url, headers={"Origin": same, "Sec-Fetch-Site": "same-origin"}
        ) as response:
            assert response.status == 200
        assert asked == ["m1"]


async def test_a_real_gateway_reads_now_and_shows_its_figures(
    tmp_path: Path, client: aiohttp.ClientSession
) -> None:
    profile = get_profile("mt174")
    async with await serve_tcp(profile) as meter:
        text = meter_config({"a": meter.port}, tmp_path / "h.sqlite").replace(
            "scan_rate_ms = 300", 'scan_rate_ms = 600000\ngroup = "pool"'
        )
        text = "[groups.pool]\nmax_sessions = 1\n" + text
        path = tmp_path / "gw.toml"
        path.write_text(text, encoding="utf-8")
        config = load_config(path)
        async with running_gateway(config) as running:
            url = running.url
            async with client.post(url + "api/devices/a/read?wait=30") as response:
                assert response.status == 200
                body = await response.json()
            assert body["status"] == "ok"
            energy = next(u for u in body["updates"] if u["signal"] == "energy")
            assert (energy["value"], energy["unit"]) == (148123.456, "kWh")
            async with client.get(url + "api/devices") as response:
                (device,) = await response.json()
            assert device["group"] == "pool"
            assert device["line"] == f"tcp://127.0.0.1:{meter.port}"
            assert device["reads"]["priority_reads"] == 1
            async with client.get(url + "api/reads?by=line") as response:
                reads = await response.json()
            assert reads["shard"]["shard"] == "0/1"
            assert reads["shard"]["priority_reads"] == 1
            (group,) = reads["groups"]
            assert (group["group"], group["max_sessions"], group["sessions"]) == ("pool", 1, 0)
            assert reads["lines"][0]["line"] == device["line"]
            async with client.get(url + "api/reads?by=nothing") as response:
                assert response.status == 400
            async with client.get(url + "metrics") as response:
                metrics = await response.text()
            async with client.get(url) as response:
                page = await response.text()
    assert 'obisgate_device_priority_reads_total{device="a"} 1.0' in metrics
    assert 'obisgate_group_max_sessions{group="pool"} 1.0' in metrics
    assert 'obisgate_shard_scheduled_reads_total{shard="0/1"}' in metrics
    assert 'obisgate_shard_read_lateness_seconds_bucket{le="+Inf",shard="0/1"}' in metrics
    assert "obisgate_group_waiting_polls_total" in metrics
    assert '<button type="button" class="read"' in page
    assert "group pool" in page


async def test_no_gateway_no_reads(tmp_path: Path, client: aiohttp.ClientSession) -> None:
    async with serving(two_meters(tmp_path)) as output:
        assert isinstance(output, HttpOutput)
        async with client.post(output.url + "api/devices/m1/read") as response:
            assert response.status == 503
        async with client.get(output.url + "api/reads") as response:
            body = await response.json()
    assert body["shard"]["scheduled_reads"] == 0
    assert body["groups"] == []
