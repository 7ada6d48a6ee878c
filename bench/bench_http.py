"""HTTP output benchmark: /metrics with many signals, and server-sent events fan-out.

1. ``/metrics`` for D devices x S numeric signals (default 1000 x 10 = 10 000 gauges):
   time to build the exposition in process and over HTTP (loopback), and its size.
2. Fan-out: C clients on ``/api/events``; B batches (one readout of S signals each)
   published back to back. Reports the time ``publish`` spends per batch (the cost the
   gateway's delivery task pays, whatever the clients do) and the time until every
   client has received every batch.
3. ``/api/signals`` for D x S signals against a bare aiohttp handler serving the same
   JSON (``web.json_response`` of the same list, encoded per request): median time of
   R sequential GETs over one keep-alive connection, without updates in between and
   with one readout published before every GET.

Usage: python bench/bench_http.py [--devices 1000] [--signals 10] [--clients 50] [--batches 2000]
       [--requests 200] [--only signals]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from datetime import UTC, datetime

import aiohttp
from aiohttp import web

from obisgate.gateway.outputs.context import OutputContext
from obisgate.gateway.outputs.http.metrics import MetricsSnapshot, render_metrics
from obisgate.gateway.outputs.http.server import HttpOutput
from obisgate.gateway.outputs.http.state import LiveState, SignalInfo
from obisgate.gateway.quality import Quality
from obisgate.gateway.updates import STATUS_SIGNAL, SignalUpdate


def batch(device: str, signals: int, value: float) -> list[SignalUpdate]:
    now = datetime.now(UTC)
    updates = [
        SignalUpdate(device, f"s{i}", value + i, "kWh", now, Quality.VALID) for i in range(signals)
    ]
    updates.append(SignalUpdate(device, STATUS_SIGNAL, "ok", None, now, Quality.VALID))
    return updates


def output(devices: int, signals: int) -> HttpOutput:
    aliases = [f"meter{d:05d}" for d in range(devices)]
    state = LiveState.of(
        [(a, a) for a in aliases],
        [SignalInfo(a, f"s{i}", f"s{i}", "kWh", False) for a in aliases for i in range(signals)],
        queue_size=4096,
    )
    return HttpOutput("127.0.0.1", 0, state, OutputContext(), announce=lambda _line: None)


async def bench_metrics(devices: int, signals: int) -> None:
    server = output(devices, signals)
    for d in range(devices):
        await server.publish(batch(f"meter{d:05d}", signals, float(d)))
    await server.start()
    try:
        times, snapshot_times = [], []
        for _ in range(5):
            began = time.perf_counter()
            snapshot = MetricsSnapshot.take(server.state, server.context)
            snapshot_times.append(time.perf_counter() - began)
            body, _ = render_metrics(snapshot)
            times.append(time.perf_counter() - began)
        lags: list[float] = []
        ticking = asyncio.create_task(ticker(lags))
        async with aiohttp.ClientSession() as client:
            http_times = []
            for _ in range(5):
                began = time.perf_counter()
                async with client.get(server.url + "metrics") as response:
                    text = await response.read()
                http_times.append(time.perf_counter() - began)
        ticking.cancel()
        print(
            f"/metrics, {devices} devices x {signals} signals = {devices * signals} gauges: "
            f"{len(body) / 1e6:.2f} MB; snapshot on the loop median "
            f"{statistics.median(snapshot_times) * 1000:.1f} ms, snapshot + build median "
            f"{statistics.median(times) * 1000:.0f} ms, GET over loopback median "
            f"{statistics.median(http_times) * 1000:.0f} ms ({len(text)} bytes); "
            f"event loop late by at most {max(lags) * 1000:.0f} ms during the GETs"
        )
    finally:
        await server.aclose()


async def ticker(lags: list[float], period_s: float = 0.01) -> None:
    """How late a 10 ms timer fires: what polling would feel while /metrics is served."""
    loop = asyncio.get_running_loop()
    while True:
        due = loop.time() + period_s
        await asyncio.sleep(period_s)
        lags.append(max(0.0, loop.time() - due))


async def reader(client: aiohttp.ClientSession, url: str, wanted: int, ready: asyncio.Event) -> int:
    got = 0
    async with client.get(url) as response:
        await response.content.readuntil(b"event: snapshot")
        ready.set()
        while got < wanted:
            line = await response.content.readline()
            if line.startswith(b"event: batch"):
                got += 1
    return got


async def bench_fanout(clients: int, signals: int, batches: int) -> None:
    server = output(100, signals)
    await server.start()
    try:
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as client:
            readies = [asyncio.Event() for _ in range(clients)]
            tasks = [
                asyncio.create_task(reader(client, server.url + "api/events", batches, r))
                for r in readies
            ]
            await asyncio.gather(*(r.wait() for r in readies))
            began = time.perf_counter()
            publish_s = 0.0
            for b in range(batches):
                updates = batch(f"meter{b % 100:05d}", signals, float(b))
                t0 = time.perf_counter()
                await server.publish(updates)
                publish_s += time.perf_counter() - t0
                if b % 50 == 0:
                    await asyncio.sleep(0)  # let the streams run, as between real readouts
            received = await asyncio.gather(*tasks)
            total = time.perf_counter() - began
        cut = server.state.cut_total
        print(
            f"SSE fan-out, {clients} clients x {batches} batches of {signals} signals: "
            f"publish {publish_s / batches * 1e6:.0f} us/batch; all delivered in {total:.2f} s "
            f"({clients * batches / total:.0f} events/s); received {sum(received)}, "
            f"clients cut off {cut}"
        )
    finally:
        await server.aclose()


async def timed_gets(client: aiohttp.ClientSession, url: str, count: int, between: object) -> float:
    """Median seconds of ``count`` GETs of ``url``; ``between()`` is awaited before each."""
    times = []
    body = b""
    for _ in range(count):
        await between()  # type: ignore[operator]
        began = time.perf_counter()
        async with client.get(url) as response:
            body = await response.read()
        times.append(time.perf_counter() - began)
    assert body.startswith(b"[")
    return statistics.median(times)


async def bench_signals(devices: int, signals: int, requests: int) -> None:
    server = output(devices, signals)
    for d in range(devices):
        await server.publish(batch(f"meter{d:05d}", signals, float(d)))
    await server.start()
    data = server.state.signal_list()
    bare = web.Application()

    async def handler(_request: web.Request) -> web.Response:
        return web.json_response(data)

    bare.router.add_get("/api/signals", handler)
    runner = web.AppRunner(bare)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    bare_url = f"http://127.0.0.1:{port}/api/signals"
    tick = iter(range(10**9))

    async def nothing() -> None:
        return None

    async def a_readout() -> None:
        n = next(tick)
        await server.publish(batch(f"meter{n % devices:05d}", signals, float(n)))

    try:
        async with aiohttp.ClientSession() as client:
            bare_s = await timed_gets(client, bare_url, requests, nothing)
            kept_s = await timed_gets(client, server.url + "api/signals", requests, nothing)
            busy_s = await timed_gets(client, server.url + "api/signals", requests, a_readout)
        print(
            f"/api/signals, {devices} devices x {signals} signals ({len(json.dumps(data))} "
            f"bytes): bare aiohttp handler median {bare_s * 1000:.2f} ms; obisgate "
            f"{kept_s * 1000:.2f} ms between updates ({kept_s / bare_s:.2f}x the bare one), "
            f"{busy_s * 1000:.2f} ms with a readout before every GET ({busy_s / bare_s:.2f}x)"
        )
    finally:
        await runner.cleanup()
        await server.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--signals", type=int, default=10)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--batches", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--only", choices=["metrics", "fanout", "signals"])
    args = parser.parse_args()
    if args.only in (None, "metrics"):
        asyncio.run(bench_metrics(args.devices, args.signals))
    if args.only in (None, "fanout"):
        asyncio.run(bench_fanout(args.clients, args.signals, args.batches))
    if args.only in (None, "signals"):
        asyncio.run(bench_signals(args.devices, args.signals, args.requests))


if __name__ == "__main__":
    main()
