"""Nothing lost end to end: durable stores that are held back for real (another
connection holds the write lock of their SQLite files) lose no batch of a burst of
several queue sizes; they catch up in bigger transactions, and the live outputs see
every batch in order, each only once it is stored. Beyond the backlog a store drops,
counted, and what waits stays bounded."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from obisgate.gateway.config import load_config
from obisgate.gateway.history import HistoryStore
from obisgate.gateway.outputs.base import STORE_LINGER_S, STORE_RUN, Fanout
from obisgate.gateway.outputs.context import OutputContext
from obisgate.gateway.outputs.factory import network_outputs
from obisgate.gateway.outputs.history.output import HistoryOutput
from obisgate.gateway.quality import Quality
from obisgate.gateway.updates import SignalUpdate
from tests.stub_output import StubOutput

T0 = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
DEVICES = 7
QUEUE_SIZE = 1000  # the Fanout's default
SIGNALS = ("energy", "power", "voltage")


def readout(n: int) -> list[SignalUpdate]:
    """Readout ``n`` of device ``m<n % 7>``: three logged signals, its own time and values."""
    time = T0 + dt.timedelta(seconds=n)
    return [
        SignalUpdate(f"m{n % DEVICES}", s, float(n), "kWh", time, Quality.VALID, None, True)
        for s in SIGNALS
    ]


class Live(StubOutput):
    """A live output that checks, for each batch it gets, that the history has it."""

    name = "live"

    def __init__(self, history: Path) -> None:
        self.values: list[float] = []
        self.unstored: list[float] = []
        self._history = history
        self._conn: sqlite3.Connection | None = None

    async def publish(self, updates: Sequence[SignalUpdate]) -> None:
        if self._conn is None:
            self._conn = sqlite3.connect(self._history)
        first = updates[0]
        micros = (first.time - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(
            microseconds=1
        )
        stored = self._conn.execute(
            "SELECT count(*) FROM samples JOIN series ON series.id = samples.series "
            "WHERE device = ? AND ts = ?",
            (first.device, micros),
        ).fetchone()[0]
        if stored != len(SIGNALS):
            self.unstored.append(first.value)
        self.values.append(first.value)

    async def aclose(self) -> None:
        if self._conn is not None:
            self._conn.close()


def mqtt_config(folder: Path) -> Path:
    """An MQTT output whose broker is not there: the outbox takes every readout."""
    path = folder / "gw.toml"
    path.write_text(
        '[storage]\npath = "history.sqlite"\n'
        '[mqtt]\nurl = "mqtt://127.0.0.1:9"\nclient_id = "t"\ndiscovery_prefix = "none"\n'
        'outbox_max_rows = 1000000\n[[devices]]\ndevice_alias = "m0"\nip = "127.0.0.1"\n'
        "port = 1\n",
        encoding="utf-8",
    )
    return path


def hold(path: Path) -> sqlite3.Connection:
    """Another connection that holds the file's write lock until it rolls back."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    return conn


async def test_stores_held_back_lose_nothing_of_a_burst_and_live_sees_each_once_stored(
    tmp_path: Path,
) -> None:
    history_file = tmp_path / "history.sqlite"
    # a long busy timeout: the store waits for the lock however slow this machine is
    history = HistoryOutput(HistoryStore(history_file, busy_timeout_s=120.0))
    (mqtt,) = network_outputs(load_config(mqtt_config(tmp_path)), OutputContext())
    live = Live(history_file)
    fanout = Fanout([history, mqtt, live], linger_s=STORE_LINGER_S)  # the gateway's settings
    await fanout.start()
    outbox = mqtt.outbox  # type: ignore[attr-defined]
    # the outbox waits for a lock this long (its own setting is 5 s)
    outbox._conn.execute("PRAGMA busy_timeout = 120000")
    holders = [hold(history_file), hold(outbox.path)]
    total = 5 * QUEUE_SIZE
    for n in range(total):  # a burst of five queue sizes while both stores are held
        fanout.publish(readout(n))
        if n % 100 == 0:
            await asyncio.sleep(0)  # the stores take a run and block on the lock
    await asyncio.sleep(0)
    assert live.values == []  # nothing is shown while no store has it
    for holder in holders:
        holder.rollback()
        holder.close()
    await fanout.aclose()

    assert fanout.dropped == {"history": 0, "mqtt": 0, "live": 0}
    with HistoryStore(history_file, create=False) as check:
        for device in range(DEVICES):
            for signal in SIGNALS:
                rows = check.query(f"m{device}", signal)
                assert [r.value for r in rows] == [float(n) for n in range(device, total, DEVICES)]
    conn = sqlite3.connect(outbox.path)
    payloads = [bytes(p) for (p,) in conn.execute("SELECT payload FROM outbox ORDER BY seq")]
    conn.close()
    assert len(payloads) == total
    assert [json.loads(p)["updates"][0]["value"] for p in payloads] == [
        float(n) for n in range(total)
    ]
    assert live.values == [float(n) for n in range(total)]  # every batch, in order
    assert live.unstored == []  # each shown only once it was in the history


class Gated(StubOutput):
    """A durable store that holds its first call until ``gate`` opens."""

    name = "store"
    durable = True

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.holding = asyncio.Event()
        self.values: list[Any] = []
        self.runs: list[int] = []

    async def publish(self, updates: Sequence[SignalUpdate]) -> None:
        await self.publish_many([updates])

    async def publish_many(self, batches: Sequence[Sequence[SignalUpdate]]) -> None:
        self.holding.set()
        await self.gate.wait()
        self.runs.append(len(batches))
        self.values.extend(b[0].value for b in batches)


async def test_beyond_its_backlog_a_store_drops_counted_and_what_waits_is_bounded() -> None:
    store = Gated()
    seen: list[Any] = []

    class Shown(StubOutput):
        name = "live"

        async def publish(self, updates: Sequence[SignalUpdate]) -> None:
            seen.append(updates[0].value)

    fanout = Fanout([store, Shown()], store_backlog=50)
    await fanout.start()
    fanout.publish(readout(0))
    async with asyncio.timeout(10):
        await store.holding.wait()  # batch 0 in delivery, held
    for n in range(1, 200):
        fanout.publish(readout(n))
    queued = [q.qsize() for q in fanout._queues]
    assert queued[0] == 50  # the store's backlog, no more
    assert fanout.dropped["store"] == 199 - 50
    store.gate.set()
    await fanout.aclose()
    assert store.values == [float(n) for n in range(51)]  # what it kept, in order
    assert fanout.dropped == {"store": 149, "live": 0}
    assert seen == [float(n) for n in range(200)]  # the live output still gets every batch


async def test_a_store_that_fell_behind_catches_up_in_runs_of_store_run() -> None:
    store = Gated()
    fanout = Fanout([store])
    await fanout.start()
    fanout.publish(readout(0))
    async with asyncio.timeout(10):
        await store.holding.wait()
    total = 2 * STORE_RUN + 100
    for n in range(1, total):
        fanout.publish(readout(n))
    store.gate.set()
    await fanout.aclose()
    assert store.runs == [1, STORE_RUN, STORE_RUN, 99]  # coalesced, bounded runs
    assert store.values == [float(n) for n in range(total)]
    assert fanout.dropped == {"store": 0}


async def test_a_slow_live_output_behind_a_store_still_drops_beyond_its_queue() -> None:
    store = Gated()
    store.gate.set()
    stuck = asyncio.Event()
    got: list[Any] = []

    class Slow(StubOutput):
        name = "live"

        async def publish(self, updates: Sequence[SignalUpdate]) -> None:
            await stuck.wait()
            got.append(updates[0].value)

    fanout = Fanout([store, Slow()], queue_size=5)
    await fanout.start()
    for n in range(30):  # one at a time: each stored, then released alone
        fanout.publish(readout(n))
        async with asyncio.timeout(10):
            while len(store.values) <= n:  # noqa: ASYNC110 - a turn, not a wait for time
                await asyncio.sleep(0)
    queued = fanout._queues[1].qsize()
    assert queued <= 5 + 1  # its queue_size, and room for the one burst
    assert fanout.dropped == {"store": 0, "live": 30 - 1 - queued}  # one in its publish
    stuck.set()
    await fanout.aclose()
    assert got == sorted(got) and len(got) == 1 + queued
