"""A worker's RelayOutput and the supervisor's RelayHub over a real Unix socket: batches and
counters arrive, a lost hub is found again and refilled, a hub that stops reading never
stalls the worker, and bad bytes close only their own connection."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import socket
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

import pytest

from obisgate.gateway.outputs.context import OutputContext
from obisgate.gateway.outputs.health import OutputHealth, OutputState
from obisgate.gateway.quality import Quality
from obisgate.gateway.relay.codec import Hello, encode_batch, encode_hello
from obisgate.gateway.relay.hub import RelayHub
from obisgate.gateway.relay.sender import RelayOutput
from obisgate.gateway.updates import STATUS_SIGNAL, SignalUpdate

T0 = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)


def batch(device: str, value: float, at: int = 0) -> list[SignalUpdate]:
    time = T0 + dt.timedelta(seconds=at)
    return [
        SignalUpdate(device, "energy", value, "kWh", time, Quality.VALID),
        SignalUpdate(device, STATUS_SIGNAL, "ok", None, time, Quality.VALID),
    ]


class Received:
    """What the hub published, with an event per batch."""

    def __init__(self) -> None:
        self.batches: list[tuple[SignalUpdate, ...]] = []
        self.changed = asyncio.Event()

    def publish(self, updates: Sequence[SignalUpdate]) -> None:
        self.batches.append(tuple(updates))
        self.changed.set()

    async def until(self, count: int) -> None:
        async with asyncio.timeout(10):
            while len(self.batches) < count:
                self.changed.clear()
                await self.changed.wait()

    def energy(self) -> list[tuple[str, float]]:
        return [(b[0].device, b[0].value) for b in self.batches]


def worker_context(device_counters: dict[str, dict[str, float]]) -> OutputContext:
    health = OutputHealth(state=OutputState.RUNNING, since=T0, counters={"stored_total": 7})
    return OutputContext(
        stats=lambda: {
            "devices": 2,
            "lines": 2,
            "polls": 5,
            "scheduled_reads": 6,
            "succeeded_reads": 4,
            "priority_reads": 1,
            "waiting_polls": 3,
            "dropped_batches": {"history": 1},
        },
        device_stats_of=lambda aliases: {
            a: device_counters[a] for a in aliases if a in device_counters
        },
        health=lambda: {"history": health},
    )


@contextlib.asynccontextmanager
async def hub_at(path: Path, received: Received, count: int = 2) -> AsyncIterator[RelayHub]:
    hub = RelayHub(path, count, received.publish)
    await hub.start()
    try:
        yield hub
    finally:
        await hub.aclose()


async def until(
    changed: asyncio.Event | Sequence[asyncio.Event], condition: Callable[[], bool]
) -> None:
    """Wait until ``condition`` holds, asking again each time one of ``changed`` is set."""
    events = [changed] if isinstance(changed, asyncio.Event) else list(changed)
    async with asyncio.timeout(10):
        while not condition():
            for event in events:
                event.clear()
            waits = [asyncio.ensure_future(e.wait()) for e in events]
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for wait in waits:
                    wait.cancel()


@pytest.fixture
def sock(tmp_path: Path) -> Path:
    return tmp_path / "relay.sock"


async def test_batches_and_counters_reach_the_hub(sock: Path) -> None:
    received = Received()
    counters = {"m1": {"polls": 3.0, "failures": 0.0}, "m2": {"polls": 1.0, "failures": 1.0}}
    async with hub_at(sock, received) as hub:
        relay = RelayOutput(sock, 1, 2, worker_context(counters), stats_interval_s=0.05)
        await relay.start()
        try:
            await relay.publish(batch("m1", 1.0))
            await relay.publish_many([batch("m2", 2.0), batch("m1", 3.0, at=1)])
            await received.until(3)
            assert received.energy() == [("m1", 1.0), ("m2", 2.0), ("m1", 3.0)]
            await until(hub.changed, lambda: hub.device_stats().keys() == {"m1", "m2"})
            assert hub.device_stats_of(["m2", "zz"]) == {"m2": counters["m2"]}
            stats = hub.stats()
            assert (stats["devices"], stats["polls"], stats["workers_connected"]) == (2, 5, 1)
            reads = ("scheduled_reads", "succeeded_reads", "priority_reads", "waiting_polls")
            assert [stats[key] for key in reads] == [6, 4, 1, 3]
            assert stats["dropped_batches"] == {"history/shard1": 1}
            worker = hub.worker_health()
            assert worker["history/shard1"].counters == {"stored_total": 7}
            assert hub.links[1].pid is not None
            assert hub.health().state is OutputState.CONNECTING  # worker 0 never came
            assert relay.health().counters["sent_total"] == 3
        finally:
            await relay.aclose()
        await until(hub.changed, lambda: not hub.links[1].connected)
        assert hub.worker_health()["history/shard1"].state is OutputState.UNKNOWN
        assert hub.health().state is OutputState.DISCONNECTED


async def test_a_new_hub_is_refilled_with_every_devices_latest_batch(sock: Path) -> None:
    """The supervisor's side was restarted: the worker reconnects and sends the latest batch
    of each device again, so the new hub's view is whole at once."""
    first = Received()
    relay = RelayOutput(sock, 0, 1, worker_context({}), retry_s=0.05, retry_max_s=0.1)
    async with hub_at(sock, first, count=1):
        await relay.start()
        for i, device in enumerate(["m1", "m2", "m1"]):
            await relay.publish(batch(device, float(i), at=i))
        await first.until(3)
    try:
        await until(relay.changed, lambda: not relay.connected)
        assert relay.health().state is OutputState.DISCONNECTED
        await relay.publish(batch("m2", 9.0, at=9))  # no hub: dropped, still remembered
        assert relay.dropped_total == 1
        second = Received()
        async with hub_at(sock, second, count=1) as hub:
            await second.until(2)
            assert sorted(second.energy()) == [("m1", 2.0), ("m2", 9.0)]
            assert relay.replayed_total == 2
            assert hub.replays_skipped_total == 0
            assert relay.health().state is OutputState.RUNNING
            await relay.publish(batch("m1", 10.0, at=10))
            await second.until(3)
            assert second.energy()[-1] == ("m1", 10.0)
    finally:
        await relay.aclose()


async def test_replays_the_hub_already_has_are_skipped(sock: Path) -> None:
    received = Received()
    relay = RelayOutput(sock, 0, 1, worker_context({}), retry_s=0.05, retry_max_s=0.1)
    async with hub_at(sock, received, count=1) as hub:
        await relay.start()
        try:
            await relay.publish(batch("m1", 1.0))
            await received.until(1)
            writer = hub.links[0].writer
            assert writer is not None
            writer.close()  # the connection breaks; both processes live on
            await until(
                [relay.changed, hub.changed],
                lambda: relay.connects_total == 2 and hub.replays_skipped_total == 1,
            )
            await relay.publish(batch("m1", 2.0, at=1))
            await received.until(2)
            assert received.energy() == [("m1", 1.0), ("m1", 2.0)]  # not 1.0 twice
        finally:
            await relay.aclose()


async def test_a_hub_that_stops_reading_never_stalls_the_worker(sock: Path) -> None:
    """A supervisor that takes nothing: every publish returns at once, the batches beyond the
    buffer are dropped and counted, and the worker keeps its memory bounded."""
    accepted: list[socket.socket] = []
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(sock))
    listener.listen()
    listener.setblocking(False)
    loop = asyncio.get_running_loop()
    accepting = asyncio.ensure_future(loop.sock_accept(listener))
    relay = RelayOutput(sock, 0, 1, worker_context({}), buffer_limit=64 * 1024)
    try:
        await relay.start()
        conn, _ = await accepting
        accepted.append(conn)  # held open, never read
        async with asyncio.timeout(30):  # a guard only: publish never awaits the peer
            for i in range(20_000):
                await relay.publish(batch("m1", float(i)))
        health = relay.health()
        assert relay.dropped_total > 0
        assert relay.sent_total + relay.dropped_total == 20_000
        assert health.counters["buffered_bytes"] <= 64 * 1024
        assert health.state is OutputState.RUNNING  # connected, only slow
    finally:
        await relay.aclose()
        for conn in accepted:
            conn.close()
        listener.close()


async def test_bad_bytes_close_only_their_connection(sock: Path) -> None:
    received = Received()
    async with hub_at(sock, received) as hub:
        good = RelayOutput(sock, 0, 2, worker_context({}))
        await good.start()
        try:
            for data in (
                b"\x00\x00\x00\x00",  # no frame
                encode_batch(batch("m9", 1.0)),  # no hello first
                encode_hello(Hello(0, 5, 1)),  # a worker of another count
                encode_hello(Hello(1, 2, 1)) + encode_hello(Hello(1, 2, 1)),  # two hellos
            ):
                reader, writer = await asyncio.open_unix_connection(str(sock))
                writer.write(data)
                async with asyncio.timeout(10):
                    assert await reader.read() == b""  # the hub closed it
                writer.close()
            assert hub.bad_frames_total == 4
            await good.publish(batch("m1", 5.0))
            await received.until(1)
            assert received.energy() == [("m1", 5.0)]
            assert hub.links[0].connected
        finally:
            await good.aclose()


async def test_a_worker_that_connects_again_replaces_its_old_connection(sock: Path) -> None:
    received = Received()
    async with hub_at(sock, received) as hub:
        old = RelayOutput(sock, 0, 2, worker_context({}))
        new = RelayOutput(sock, 0, 2, worker_context({}))
        await old.start()
        await until(hub.changed, lambda: hub.links[0].connected)
        first = hub.links[0].writer
        await new.start()
        try:
            await until(hub.changed, lambda: hub.links[0].writer is not first)
            await new.publish(batch("m1", 1.0))
            await received.until(1)
            assert hub.links[0].connected
            assert hub.connections_total == 2
        finally:
            await new.aclose()
            await old.aclose()


async def test_a_worker_starts_before_its_hub_and_connects_when_it_comes(sock: Path) -> None:
    relay = RelayOutput(sock, 0, 1, worker_context({}), retry_s=0.05, retry_max_s=0.1)
    await relay.start()
    try:
        assert relay.health().state is OutputState.DISCONNECTED
        assert "No such file" in (relay.health().last_error or "")
        received = Received()
        async with hub_at(sock, received, count=1):
            await until(relay.changed, lambda: relay.connected)
            await relay.publish(batch("m1", 1.0))
            await received.until(1)
    finally:
        await relay.aclose()
    assert relay.health().state is OutputState.CLOSED
