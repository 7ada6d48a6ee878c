"""The token rule: with token_env set, every request but /healthz needs the bearer token
(or, from a browser, basic authentication with the token as password); the token is
never shown."""

from __future__ import annotations

import base64
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from obisgate.gateway.outputs.http.server import HttpOutput
from tests.gateway_http.support import good_m1, serving, two_meters

TOKEN = "t0ken-\u00e9-Xy9"
PATHS = [
    "",
    "api/devices",
    "api/signals",
    "api/history?device=m1&signal=energy",
    "api/gateway",
    "metrics",
    "static/view.js",
]


@pytest.fixture
async def guarded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[HttpOutput]:
    monkeypatch.setenv("OBISGATE_TEST_HTTP_TOKEN", TOKEN)
    config = two_meters(tmp_path, 'token_env = "OBISGATE_TEST_HTTP_TOKEN"')
    async with serving(config) as output:
        await output.publish(good_m1())
        yield output


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize("path", [*PATHS, "api/events"])
@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer wrong",
        "Bearer " + TOKEN[:-1],
        "Bearer",
        "Token " + TOKEN,
        basic("u", "x"),
        "Basic !!!not-base64",
    ],
)
async def test_requests_without_the_right_token_are_refused(
    guarded: HttpOutput, path: str, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    async with (
        aiohttp.ClientSession() as client,
        client.get(guarded.url + path, headers=headers) as response,
    ):
        assert response.status == 401
        assert response.headers.getall("WWW-Authenticate") == [
            'Bearer realm="obisgate"',
            'Basic realm="obisgate", charset="UTF-8"',
        ]
        body = await response.text()
    assert TOKEN not in body


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(
    "authorization",
    ["Bearer " + TOKEN, "bearer " + TOKEN, basic("anyone", TOKEN), basic("", TOKEN)],
)
async def test_the_token_opens_every_endpoint(
    guarded: HttpOutput, path: str, authorization: str
) -> None:
    async with (
        aiohttp.ClientSession() as client,
        client.get(guarded.url + path, headers={"Authorization": authorization}) as response,
    ):
        assert response.status in (200, 404)  # 404: no history is kept in this configuration
        assert TOKEN not in await response.text()


async def test_healthz_needs_no_token(guarded: HttpOutput) -> None:
    async with aiohttp.ClientSession() as client, client.get(guarded.url + "healthz") as response:
        assert response.status == 200


async def test_events_with_the_token(guarded: HttpOutput) -> None:
    headers = {"Authorization": "Bearer " + TOKEN}
    async with (
        aiohttp.ClientSession() as client,
        client.get(guarded.url + "api/events", headers=headers) as response,
    ):
        assert response.status == 200
        assert b"event: snapshot" in await response.content.readuntil(b"snapshot")


async def test_the_token_never_reaches_the_logs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("OBISGATE_TEST_HTTP_TOKEN", TOKEN)
    config = two_meters(tmp_path, 'token_env = "OBISGATE_TEST_HTTP_TOKEN"')
    async with serving(config) as output, aiohttp.ClientSession() as client:
        for authorization in ("Bearer " + TOKEN, "Bearer wrong"):
            async with client.get(
                output.url + "api/devices", headers={"Authorization": authorization}
            ) as response:
                await response.read()
        assert TOKEN not in repr(output.__dict__)
    assert TOKEN not in caplog.text
