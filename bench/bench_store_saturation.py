"""Do the durable stores keep up while the event loop is saturated?

Two measurements:

* ``convoy``: one store transaction (``HistoryStore.append`` / ``Outbox.append`` of
  ``--rows`` rows) timed on a worker thread, once with the main thread idle and once
  with it running pure-Python CPU work (as a saturated event loop does); the lead it
  tests: a write that gives up the GIL once per row would wait for it again up to the
  switch interval (5 ms) each time. (Measured: 3-8x slower, milliseconds, not that.)
* ``saturated``: readouts (3 logged FLOAT signals + ``_status``, as ``bench_outputs.py``)
  published at ``--rate`` for ``--seconds`` through the real ``Fanout`` (queue size and
  linger as the gateway's) into the history output, the MQTT output (outbox + sender
  + a local mosquitto, ``json``, discovery off) and one live output, while a task keeps
  the loop busy with CPU work in slices of ``--slice-ms`` (polling's share of the loop).
  Then the loop is freed, the fan-out drained and closed, and it prints the batches
  published, stored (history rows / 3, outbox messages) and dropped, the live output's
  count (and whether it saw them in order) and the store transactions' times.

Usage: python bench/bench_store_saturation.py [--rate 1000] [--seconds 20]
       [--devices 5000] [--rows 768] [--cold] [--no-mqtt]

``--cold``: the history has none of the devices' series yet (the first scan of a new
gateway creates one per device and signal); otherwise every series exists already.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from bench_mqtt import Broker, free_port
from bench_outputs import SIGNALS, config_file, readout

from obisgate.gateway.config import load_config
from obisgate.gateway.history import HistoryRecord, HistoryStore
from obisgate.gateway.outputs import Fanout, Output
from obisgate.gateway.outputs.base import STORE_LINGER_S
from obisgate.gateway.outputs.context import OutputContext
from obisgate.gateway.outputs.factory import network_outputs
from obisgate.gateway.outputs.history.output import HistoryOutput
from obisgate.gateway.outputs.outbox import Outbox
from obisgate.gateway.updates import SignalUpdate

T0 = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


def burn(seconds: float) -> None:
    """Pure-Python CPU work (holds the GIL but for the interpreter's switches)."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        sum(i * i for i in range(200))


def on_thread(fn: Callable[[], object], busy: bool) -> float:
    """Seconds ``fn`` takes on a thread of its own, the main thread busy or idle."""
    spent: list[float] = []

    def timed() -> None:
        began = time.perf_counter()
        fn()
        spent.append(time.perf_counter() - began)

    thread = threading.Thread(target=timed)
    thread.start()
    if busy:
        while thread.is_alive():
            burn(0.002)
    thread.join()
    return spent[0]


def convoy(rows: int) -> None:
    """``append`` of ``rows`` rows on a thread, the main thread idle vs busy (best of 3)."""
    per = len(SIGNALS)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        store = HistoryStore(folder / "h.sqlite")
        devices = max(rows // per, 1)
        store.append(HistoryRecord(f"m{d}", s, T0, 0.0) for d in range(devices) for s in SIGNALS)
        outbox = Outbox(folder / "o.sqlite", max_rows=10_000_000)
        message = ("obisgate/m1/state", b'{"energy": 1234.5, "power": 1.2}' * 4, 1, False)
        counter = iter(range(1, 1_000_000))
        results: dict[tuple[str, bool], float] = {}
        for busy in (False, True, False, True, False, True):
            n = next(counter)
            records = [
                HistoryRecord(f"m{d}", s, T0 + dt.timedelta(seconds=n), float(n))
                for d in range(devices)
                for s in SIGNALS
            ][:rows]
            spent = on_thread(lambda r=records: store.append(r), busy)  # type: ignore[misc]
            key = ("history", busy)
            results[key] = min(results.get(key, spent), spent)
            spent = on_thread(lambda: outbox.append([message] * rows), busy)
            key = ("outbox", busy)
            results[key] = min(results.get(key, spent), spent)
            fresh = [HistoryRecord(f"new{n}-{i}", "energy", T0, 1.0) for i in range(rows)]
            spent = on_thread(lambda r=fresh: store.append(r), busy)  # type: ignore[misc]
            key = ("new series", busy)
            results[key] = min(results.get(key, spent), spent)
        store.close()
        outbox.close()
    print(f"convoy: one append of {rows} rows on a worker thread (best of 3)")
    for name in ("history", "outbox", "new series"):
        idle, busy_ = results[(name, False)], results[(name, True)]
        print(
            f"  {name:<8} main thread idle {1000 * idle:8.1f} ms   busy {1000 * busy_:8.1f} ms"
            f"   x{busy_ / idle:.1f}"
        )


class Timed:
    """Wraps a store's ``append`` on its instance: each call's time and rows."""

    def __init__(self, fn: Callable[[Any], Any]) -> None:
        self.fn = fn
        self.times: list[float] = []
        self.rows = 0

    def __call__(self, rows: Any) -> Any:
        rows = list(rows)
        began = time.perf_counter()
        try:
            return self.fn(rows)
        finally:
            self.times.append(time.perf_counter() - began)
            self.rows += len(rows)

    def summary(self) -> str:
        if not self.times:
            return "no transactions"
        times = sorted(self.times)
        return (
            f"{len(times)} transactions, {self.rows / len(times):.0f} rows each, "
            f"median {1000 * statistics.median(times):.1f} ms, "
            f"p95 {1000 * times[int(0.95 * (len(times) - 1))]:.1f} ms, "
            f"max {1000 * times[-1]:.1f} ms"
        )


class Live(Output):
    """A live output that counts what it is shown and whether it came in order."""

    name = "live"

    def __init__(self) -> None:
        self.shown = 0
        self.in_order = True
        self._last: dt.datetime | None = None

    async def start(self) -> None:
        pass

    async def publish(self, updates: Sequence[SignalUpdate]) -> None:
        self.shown += 1
        if self._last is not None and updates[0].time < self._last:
            self.in_order = False
        self._last = updates[0].time

    async def publish_many(self, batches: Sequence[Sequence[SignalUpdate]]) -> None:
        for batch in batches:
            await self.publish(batch)

    async def aclose(self) -> None:
        pass

    def health(self) -> Any:
        return None


async def saturated(
    folder: Path,
    *,
    rate: float,
    seconds: float,
    devices: int,
    port: int | None,
    slice_ms: float,
    cold: bool,
) -> None:
    store = HistoryStore(folder / "history.sqlite")
    warm = 0 if cold else devices
    store.append(  # every series exists, as in a running gateway (unless cold)
        HistoryRecord(f"m{d}", s, T0 - dt.timedelta(days=1), 0.0)
        for d in range(warm)
        for s in SIGNALS
    )
    history = HistoryOutput(store)
    history_times = Timed(store.append)
    store.append = history_times  # type: ignore[method-assign,assignment]
    outputs: list[Output] = [history]
    mqtt: Any = None
    if port is not None:
        (mqtt,) = network_outputs(load_config(config_file(folder, devices, port)), OutputContext())
        outputs.append(mqtt)
    live = Live()
    outputs.append(live)
    fanout = Fanout(outputs, linger_s=STORE_LINGER_S)
    await fanout.start()
    outbox_times = None
    if mqtt is not None:
        outbox = mqtt.outbox
        outbox_times = Timed(outbox.append)
        outbox.append = outbox_times
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    burned = 0.0

    async def burner() -> None:
        nonlocal burned
        while not stop.is_set():
            burn(slice_ms / 1000)
            burned += slice_ms / 1000
            await asyncio.sleep(0)

    task = asyncio.create_task(burner())
    total = int(rate * seconds)
    began = loop.time()
    published = 0
    while published < total:
        due = min(int((loop.time() - began) * rate) + 1, total)
        while published < due:  # what polling read meanwhile, published at once
            fanout.publish(readout(published % devices, published))
            published += 1
        await asyncio.sleep(0)
    spent = loop.time() - began
    stop.set()
    await task
    await fanout.aclose()
    with HistoryStore(folder / "history.sqlite", create=False) as check:
        rows = check.count() - warm * len(SIGNALS)
    print(
        f"saturated: {published} readouts published in {spent:.1f} s "
        f"({published / spent:.0f}/s), loop busy {100 * burned / spent:.0f} % with CPU work"
    )
    per = len(SIGNALS)
    print(
        f"  history  stored {rows // per} batches ({rows} rows), dropped {fanout.dropped['history']}"
    )
    print(f"           {history_times.summary()}")
    if mqtt is not None and outbox_times is not None:
        print(
            f"  mqtt     outbox took {outbox_times.rows} messages, dropped {fanout.dropped['mqtt']}"
        )
        print(f"           {outbox_times.summary()}")
    print(
        f"  live     shown {live.shown} batches, dropped {fanout.dropped['live']}, "
        f"in order: {live.in_order}"
    )


async def main_async(args: argparse.Namespace) -> None:
    convoy(args.rows)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        broker = None
        port = None
        if args.mqtt:
            port = free_port()
            broker = Broker(folder, port)
            broker.start()
        try:
            await saturated(
                folder,
                rate=args.rate,
                seconds=args.seconds,
                devices=args.devices,
                port=port,
                slice_ms=args.slice_ms,
                cold=args.cold,
            )
        finally:
            if broker is not None and broker.process is not None:
                broker.process.terminate()
                os.waitpid(broker.process.pid, 0)  # noqa: ASYNC222 - bench teardown


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=1000.0, help="readouts per second")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--devices", type=int, default=5000)
    parser.add_argument("--rows", type=int, default=768, help="rows per convoy append")
    parser.add_argument("--slice-ms", type=float, default=2.0, help="CPU work between loop turns")
    parser.add_argument(
        "--cold", action="store_true", help="no series in the history yet (a first scan)"
    )
    parser.add_argument("--no-mqtt", dest="mqtt", action="store_false")
    asyncio.run(main_async(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
