"""No door left open: idle and half-open connections, a connection flood with few file
descriptors, malformed requests, failed authentications, the loopback rule."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import re
import resource
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from obisgate.errors import TransportError
from obisgate.gateway.descriptors import MIN_CLIENTS, PER_LINE, RESERVED, client_budget
from obisgate.gateway.outputs.context import OutputContext
from obisgate.gateway.outputs.http.config import HttpConfig
from obisgate.gateway.outputs.http.spec import HTTP
from obisgate.simulator import get_profile, serve_tcp
from tests.gateway_http.support import meter_config, serving, two_meters

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


async def closed_by_server(reader: asyncio.StreamReader, deadline_s: float = 10.0) -> bool:
    """Whether the server closes the connection before the deadline (what it sent is skipped)."""
    end = time.monotonic() + deadline_s
    with contextlib.suppress(TimeoutError, ConnectionError):
        while (left := end - time.monotonic()) > 0:
            if not await asyncio.wait_for(reader.read(4096), left):
                return True
        return False
    return True


async def test_idle_and_half_open_connections_are_closed(tmp_path: Path) -> None:
    config = two_meters(tmp_path, "idle_timeout = 0.5")
    async with serving(config) as output:
        port = output.port
        idle = await asyncio.open_connection("127.0.0.1", port)  # says nothing at all
        half = await asyncio.open_connection("127.0.0.1", port)  # headers never end
        half[1].write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        kept = await asyncio.open_connection("127.0.0.1", port)  # keep-alive after a request
        kept[1].write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await kept[0].readuntil(b"ok\n")).startswith(b"HTTP/1.1 200")
        async with (
            aiohttp.ClientSession() as session,
            session.get(output.url + "api/events") as stream,
        ):
            for reader, _ in (idle, half, kept):
                assert await closed_by_server(reader)
            # an event stream is a request being answered, not an idle connection
            assert not stream.content.at_eof()
            await until(lambda: output.health().counters["connections"] == 1)
        for _, writer in (idle, half, kept):
            writer.close()


async def test_connections_beyond_the_cap_are_closed_at_once_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    config = two_meters(tmp_path, "max_connections = 4\nidle_timeout = 60")
    async with serving(config) as output:
        held = [await asyncio.open_connection("127.0.0.1", output.port) for _ in range(4)]
        await until(lambda: output.health().counters["connections"] == 4)
        refused = [await asyncio.open_connection("127.0.0.1", output.port) for _ in range(20)]
        for reader, _ in refused:
            assert await closed_by_server(reader, 5.0)
        assert output.health().counters["connections_refused_total"] == 20
        held.pop()[1].close()
        await until(lambda: output.health().counters["connections"] == 3)
        async with (
            aiohttp.ClientSession() as session,
            session.get(output.url + "healthz") as answer,
        ):
            assert answer.status == 200
        for _, writer in held + refused:
            writer.close()
    lines = [r.getMessage() for r in caplog.records if "too many connections" in r.getMessage()]
    assert len(lines) == 1
    assert re.fullmatch(
        r"http: too many connections from 127\.0\.0\.1:\d+: connection closed: "
        r"4 clients connected",
        lines[0],
    )


async def until(condition, deadline_s: float = 10.0) -> None:
    end = time.monotonic() + deadline_s
    while not condition():
        assert time.monotonic() < end, "condition not met before the deadline"
        await asyncio.sleep(0.02)


MALFORMED = [
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http at all\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n",
    b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\n\r\n",
    b"BREW /pot HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
]


async def test_malformed_requests_are_one_line_with_the_peer_and_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with serving(two_meters(tmp_path)) as output:
        for round_ in range(50):
            connections = [
                await asyncio.open_connection("127.0.0.1", output.port) for _ in MALFORMED
            ]
            for (_, writer), junk in zip(connections, MALFORMED, strict=True):
                writer.write(junk)
            for reader, writer in connections:
                answer = await asyncio.wait_for(reader.read(), 10)
                assert answer == b"" or re.match(rb"HTTP/1.[01] 4", answer), (round_, answer[:60])
                writer.close()
        health = output.health()
        async with (
            aiohttp.ClientSession() as session,
            session.get(output.url + "metrics") as response,
        ):
            metrics = await response.text()
    assert health.counters["bad_requests_total"] == 200
    assert "obisgate_http_bad_requests_total 200.0" in metrics
    assert not [r for r in caplog.records if r.exc_info]
    noisy = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(noisy) == 1
    assert noisy[0].getMessage().startswith("http: malformed request from 127.0.0.1: ")


async def test_failed_authentications_are_logged_with_the_peer_and_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("OBISGATE_TEST_TOKEN", "Right-Token-5")
    config = two_meters(tmp_path, 'token_env = "OBISGATE_TEST_TOKEN"')
    async with serving(config) as output, aiohttp.ClientSession() as session:
        for n in range(30):
            headers = {"Authorization": f"Bearer wrong-{n}"}
            async with session.get(output.url + "api/devices", headers=headers) as answer:
                assert answer.status == 401
        for _ in range(5):
            async with session.get(output.url + "api/devices") as answer:
                assert answer.status == 401
        headers = {"Authorization": "Bearer Right-Token-5"}
        async with session.get(output.url + "metrics", headers=headers) as answer:
            metrics = await answer.text()
    assert "obisgate_http_auth_failures_total 30.0" in metrics
    assert "obisgate_http_auth_missing_total 5.0" in metrics
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert lines == ["http: authentication failed from 127.0.0.1: GET /api/devices"]
    assert "Right-Token-5" not in caplog.text
    assert "wrong-" not in caplog.text


def test_all_of_127_0_0_0_8_is_loopback_in_the_code_and_the_readme(tmp_path: Path) -> None:
    for host in ("127.0.0.1", "127.0.0.2", "127.1.2.3", "127.255.255.254", "[::1]", "localhost"):
        assert HttpConfig(listen=f"{host}:8080").host.strip("[]") in host
    for host in ("128.0.0.1", "10.0.0.1", "0.0.0.0", "[::]"):
        with pytest.raises(ValueError, match="reachable from other machines"):
            HttpConfig(listen=f"{host}:8080")
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    assert "binds to a loopback address (any of 127.0.0.0/8, `::1` or `localhost`;" in readme


async def test_serving_on_another_loopback_address_needs_no_token(tmp_path: Path) -> None:
    config = two_meters(tmp_path).with_section(HTTP, HttpConfig(listen="127.0.0.2:0"))
    async with (
        serving(config) as output,
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.2:{output.port}/healthz") as answer,
    ):
        assert answer.status == 200


def test_the_client_budget_leaves_the_lines_their_descriptors() -> None:
    assert client_budget(10, limit=1024) == 1024 - RESERVED - 10 * PER_LINE
    assert client_budget(1000, limit=1024) == 0


async def test_no_listener_without_descriptors_to_spare(tmp_path: Path) -> None:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    lines = (soft - RESERVED - MIN_CLIENTS) // PER_LINE + 1
    context = OutputContext(stats=lambda: {"lines": lines})
    with pytest.raises(TransportError, match=r"file descriptors are left for HTTP clients"):
        async with serving(two_meters(tmp_path), context):
            pass


@pytest.fixture
async def four_meters() -> AsyncIterator[dict[str, int]]:
    async with contextlib.AsyncExitStack() as stack:
        ports = {}
        for alias in "abcd":
            server = await stack.enter_async_context(await serve_tcp(get_profile("mt174")))
            ports[alias] = server.port
        yield ports


def _limit(soft: int, hard: int) -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


async def test_idle_connections_never_starve_the_meters(
    tmp_path: Path, four_meters: dict[str, int]
) -> None:
    """The defect: with a 128-descriptor limit, 150 idle HTTP connections (no token needed)
    made every poll fail with "Too many open files" and wrote megabytes of log. Now the
    gateway raises its soft limit to the hard one, keeps descriptors for its lines, and
    closes connections beyond what is left: every meter is still read, the log is short."""
    config = tmp_path / "gateway.toml"
    config.write_text(meter_config(four_meters, tmp_path / "h.sqlite"), encoding="utf-8")
    gateway = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "obisgate", "run", str(config), "--format", "jsonl"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        preexec_fn=lambda: _limit(64, 128),
    )
    assert gateway.stdout is not None
    assert gateway.stderr is not None
    statuses: list[dict[str, str]] = []
    err = bytearray()

    async def collect_stdout() -> None:
        assert gateway.stdout is not None
        async for line in gateway.stdout:
            item = json.loads(line)
            if item["signal"] == "_status":
                statuses.append(item)

    async def collect_stderr() -> None:
        assert gateway.stderr is not None
        while chunk := await gateway.stderr.read(65536):
            err.extend(chunk)

    readers = [asyncio.create_task(collect_stdout()), asyncio.create_task(collect_stderr())]
    connections = []
    try:
        await until(lambda: b"web view on http://" in err, 30)
        port = int(re.search(rb"web view on http://127\.0\.0\.1:(\d+)/", err).group(1))  # type: ignore[union-attr]
        limits = await asyncio.to_thread(Path(f"/proc/{gateway.pid}/limits").read_text)
        assert re.search(r"Max open files\s+128\s+128", limits)  # raised to the hard limit
        for _ in range(150):
            connections.append(await asyncio.open_connection("127.0.0.1", port))
        opened = dt.datetime.now(dt.UTC)

        def read_since() -> dict[str, list[str]]:
            found: dict[str, list[str]] = {alias: [] for alias in four_meters}
            for item in statuses:
                if dt.datetime.fromisoformat(item["time"]) > opened:
                    found[item["device"]].append(item["value"])
            return found

        await until(lambda: all(len(v) >= 3 for v in read_since().values()), 20)
        assert all(set(v) == {"ok"} for v in read_since().values()), read_since()
    finally:
        for _, writer in connections:
            writer.close()
        if gateway.returncode is None:
            gateway.terminate()
        await asyncio.wait_for(gateway.wait(), 30)
        await asyncio.gather(*readers)
    text = err.decode(errors="replace")
    assert gateway.returncode == 0, text[-2000:]
    assert "Too many open files" not in text
    assert "Traceback" not in text
    assert len(err) < 5000, text[-2000:]
