"""Priority reads and read figures over a real relay socket: the hub asks the worker that
polls a device and the worker's answer completes the supervisor's future; a worker that is
not connected, goes away or never answers fails the read at once or at its deadline; each
worker's read figures (devices, groups, total with its histogram) reach the hub."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from obisgate.gateway.outputs.context import OutputContext
from obisgate.gateway.poller import ReadRequestError
from obisgate.gateway.readstats import ReadFigures, ReadStats
from obisgate.gateway.relay.codec import (
    FrameDecoder,
    Hello,
    ReadAsk,
    encode_hello,
)
from obisgate.gateway.relay.hub import RelayHub
from obisgate.gateway.relay.sender import RelayOutput
from obisgate.gateway.updates import SignalUpdate
from tests.relay.test_relay import Received, batch, until, worker_context


class WorkerGateway:
    """Stands in for a worker's gateway behind ``request_read``: refuses what a gateway
    refuses and keeps the futures of the reads it queued, for the test to complete."""

    def __init__(self, devices: set[str]) -> None:
        self.devices = devices
        self.queued: dict[str, asyncio.Future[list[SignalUpdate]]] = {}
        self.asked = asyncio.Event()

    def request_read(self, alias: str) -> asyncio.Future[list[SignalUpdate]]:
        if alias == "bug":
            raise RuntimeError("a bug in the worker")
        if alias not in self.devices:
            raise ReadRequestError(f"no device {alias!r} here", "unknown")
        future: asyncio.Future[list[SignalUpdate]] = asyncio.get_running_loop().create_future()
        self.queued[alias] = future
        self.asked.set()
        return future


def context_of(gateway: WorkerGateway) -> OutputContext:
    context = worker_context({})
    context.request_read = gateway.request_read
    return context


@contextlib.asynccontextmanager
async def hub_with_owners(path: Path, ask_timeout_s: float = 60.0) -> AsyncIterator[RelayHub]:
    """Worker 1 polls m1, m3 and the push meter p; worker 0 polls m2."""
    hub = RelayHub(
        path,
        2,
        Received().publish,
        owners={"m1": 1, "m2": 0, "m3": 1, "p": 1, "bug": 1},
        push={"p"},
        ask_timeout_s=ask_timeout_s,
    )
    await hub.start()
    try:
        yield hub
    finally:
        await hub.aclose()


async def refusal(future: asyncio.Future[list[SignalUpdate]]) -> ReadRequestError:
    async with asyncio.timeout(10):
        with pytest.raises(ReadRequestError) as caught:
            await future
    return caught.value


@pytest.fixture
def sock(tmp_path: Path) -> Path:
    return tmp_path / "relay.sock"


async def test_a_read_is_asked_of_the_worker_that_polls_the_device(sock: Path) -> None:
    gateway = WorkerGateway({"m1"})
    async with hub_with_owners(sock) as hub:
        relay = RelayOutput(sock, 1, 2, context_of(gateway))
        await relay.start()
        try:
            await until(hub.changed, lambda: hub.links[1].connected)
            future = hub.request_read("m1")
            async with asyncio.timeout(10):
                await gateway.asked.wait()
            assert list(gateway.queued) == ["m1"]
            assert not future.done()  # the answer waits for the worker's read
            updates = batch("m1", 42.0)
            gateway.queued["m1"].set_result(updates)
            async with asyncio.timeout(10):
                assert await future == updates
            # A device the worker does not know: its refusal, with its reason.
            assert (await refusal(hub.request_read("m3"))).reason == "unknown"
            # A read the worker's gateway gives up (it stops): stopped.
            gateway.asked.clear()
            stopped = hub.request_read("m1")
            async with asyncio.timeout(10):
                await gateway.asked.wait()
            gateway.queued["m1"].cancel()
            assert (await refusal(stopped)).reason == "stopped"
            # A worker's bug answers the read (failed) and leaves its connection serving.
            bug = await refusal(hub.request_read("bug"))
            assert (bug.reason, str(bug)) == ("failed", "a bug in the worker")
            assert (await refusal(hub.request_read("m3"))).reason == "unknown"
            counters = hub.health().counters
            assert (counters["reads_asked_total"], counters["reads_answered_total"]) == (5, 5)
        finally:
            await relay.aclose()


def test_refused_at_once_unknown_push_or_worker_not_connected(sock: Path) -> None:
    async def check() -> None:
        async with hub_with_owners(sock) as hub:
            with pytest.raises(ReadRequestError) as unknown:
                hub.request_read("zz")
            with pytest.raises(ReadRequestError) as push:
                hub.request_read("p")
            with pytest.raises(ReadRequestError) as down:
                hub.request_read("m2")
            assert (unknown.value.reason, push.value.reason) == ("unknown", "push")
            assert down.value.reason == "stopped"
            assert "worker 0" in str(down.value) and "not connected" in str(down.value)

    asyncio.run(check())


async def raw_worker(
    sock: Path, hub: RelayHub, shard: int
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A worker that says hello and then answers nothing (keep its writer: a writer that is
    collected closes its connection)."""
    reader, writer = await asyncio.open_unix_connection(str(sock))
    writer.write(encode_hello(Hello(shard, 2, os.getpid())))
    await until(hub.changed, lambda: hub.links[shard].connected)
    return reader, writer


async def next_ask(reader: asyncio.StreamReader) -> ReadAsk:
    decoder = FrameDecoder()
    async with asyncio.timeout(10):
        while (message := decoder.next_message()) is None:
            data = await reader.read(4096)
            assert data, "the hub closed the connection"
            decoder.feed(data)
    assert isinstance(message, ReadAsk)
    return message


async def test_a_worker_that_goes_away_fails_its_waiting_reads_at_once(sock: Path) -> None:
    async with hub_with_owners(sock) as hub:
        reader, writer = await raw_worker(sock, hub, 1)
        future = hub.request_read("m1")
        assert (await next_ask(reader)).device == "m1"
        # The worker's end of the connection closes (as when the kernel closes a killed
        # process's socket): the read fails without waiting for any deadline.
        writer.transport.abort()
        error = await refusal(future)
        assert error.reason == "stopped"
        assert "worker 1 ended before it answered" in str(error)
        assert hub.health().counters["reads_unanswered_total"] == 1
        with pytest.raises(ReadRequestError):
            hub.request_read("m1")  # and the next one is refused until it is back


async def test_a_worker_that_never_answers_fails_the_read_at_the_deadline(sock: Path) -> None:
    async with hub_with_owners(sock, ask_timeout_s=0.2) as hub:
        reader, writer = await raw_worker(sock, hub, 1)
        future = hub.request_read("m3")
        assert (await next_ask(reader)).device == "m3"
        error = await refusal(future)
        assert (error.reason, "did not answer within 0.2 s" in str(error)) == ("stopped", True)
        assert not hub.links[1].asked
        writer.close()


Devices = dict[str, tuple[str, str | None, ReadStats]]


def figures_of(shard: str, devices: Devices) -> ReadFigures:
    group = ReadStats.total(s for line, g, s in devices.values() if g is not None)
    return ReadFigures(
        shard=shard,
        total=ReadStats.total(s for _, _, s in devices.values()),
        devices=devices,
        groups={f"g{shard[0]}": (group, 2, 0, 0, 1, 0.5, 1)} if group.scheduled else {},
    )


def stats(*lateness: float, failed: int = 0, missed: int = 0) -> ReadStats:
    found = ReadStats()
    for late in lateness:
        found.record(True, late)
    for _ in range(failed):
        found.record(False, 0.0)
    found.record_missed(missed)
    return found


async def test_every_workers_read_figures_reach_the_hub(sock: Path) -> None:
    zero: Devices = {"m2": ("tcp://b:1", None, stats(0.02, 0.03, failed=1))}
    one: Devices = {
        "m1": ("tcp://a:1", "cell", stats(0.5, 4.0, missed=2)),
        "m3": ("tcp://a:1", "cell", stats(0.001)),
    }
    asked: list[set[str]] = []

    def context(shard: str, devices: Devices) -> OutputContext:
        found = worker_context({})
        found.read_figures = lambda: figures_of(shard, devices)

        def some(aliases: object) -> ReadFigures:
            wanted = set(aliases)  # type: ignore[call-overload]
            asked.append(wanted)
            return dataclasses.replace(
                figures_of(shard, devices),
                devices={a: f for a, f in devices.items() if a in wanted},
            )

        found.read_figures_of = some
        return found

    async with hub_with_owners(sock) as hub:
        relays = [
            RelayOutput(sock, 0, 2, context("0/2", zero), stats_interval_s=0.05),
            RelayOutput(sock, 1, 2, context("1/2", one), stats_interval_s=0.05),
        ]
        for relay in relays:
            await relay.start()
        try:
            await until(
                hub.changed, lambda: hub.read_figures().devices.keys() == {"m1", "m2", "m3"}
            )
            figures = hub.read_figures()
            assert list(figures.shards) == ["0/2", "1/2"]
            expected = {**zero, **one}
            for alias, (line, group, mine) in expected.items():
                got_line, got_group, got = figures.devices[alias]
                assert (got_line, got_group) == (line, group)
                assert got.to_json() == mine.to_json()
                assert got.histogram() == mine.histogram()
            total = ReadStats.total(s for _, _, s in expected.values())
            assert figures.total.to_json() == total.to_json()
            assert figures.total.missed == 2 and figures.total.scheduled == 8
            assert (
                figures.shard_totals()["1/2"].to_json()
                == ReadStats.total(s for _, _, s in one.values()).to_json()
            )
            assert list(figures.groups) == ["g1"]
            assert figures.lines()["tcp://a:1"].scheduled == 5
            # After the connect's whole figures, only the devices read lately are asked for.
            await relays[1].publish(batch("m3", 1.0))
            await until(hub.changed, lambda: {"m3"} in asked)
        finally:
            for relay in relays:
                await relay.aclose()
