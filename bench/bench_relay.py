"""Relay benchmark: what it costs a worker of ``run --workers`` to hand its batches to the
supervisor, and how many the supervisor's side takes.

1. Codec: encode and decode one batch (one readout of S signals and its status) with the
   relay's frames (compact JSON), per batch and in bytes; pickle beside it as a reference
   point (not used: unpickling what arrives on a socket can run code).
2. Through a real Unix socket between two processes: a worker process publishes B batches
   through :class:`RelayOutput` at a rate (or as fast as its event loop goes: "flood");
   this process runs the :class:`RelayHub` with a no-op publish. Reports batches per second
   received, the CPU time of each side per batch, and how many the worker dropped (its
   buffer was full because the hub took them more slowly than they came).

Usage: python bench/bench_relay.py [--signals 3,10,50] [--batches 20000] [--rates 2000,0]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import pickle
import resource
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from obisgate.gateway.outputs.context import OutputContext
from obisgate.gateway.quality import Quality
from obisgate.gateway.relay.codec import FrameDecoder, encode_batch
from obisgate.gateway.relay.hub import RelayHub
from obisgate.gateway.relay.sender import RelayOutput
from obisgate.gateway.updates import STATUS_SIGNAL, SignalUpdate


def batch(device: str, signals: int, value: float) -> list[SignalUpdate]:
    now = datetime.now(UTC)
    updates = [
        SignalUpdate(
            device,
            f"signal{i}",
            value + i,
            "kWh",
            now,
            Quality.VALID,
            f"{value + i:011.3f}*kWh",
            True,
        )
        for i in range(signals)
    ]
    updates.append(
        SignalUpdate(device, STATUS_SIGNAL, "ok", None, now, Quality.VALID, "/ISk5MT174-0001")
    )
    return updates


def best_us(work: Callable[[], object], rounds: int = 2000, repeats: int = 7) -> float:
    """The fastest of ``repeats`` runs of ``rounds`` calls, per call (the machine is shared)."""
    found = []
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(rounds):
            work()
        found.append((time.perf_counter() - started) / rounds * 1e6)
    return min(found)


def codec(signals: int) -> None:
    updates = batch("meter00042", signals, 148123.456)
    frame = encode_batch(updates)
    decoder = FrameDecoder()

    def decode() -> object:
        decoder.feed(frame)
        return decoder.next_message()

    encode_us = best_us(lambda: encode_batch(updates))
    decode_us = best_us(decode)
    pickled = pickle.dumps(updates, protocol=pickle.HIGHEST_PROTOCOL)
    pickle_us = best_us(lambda: pickle.loads(pickle.dumps(updates, protocol=5)))
    print(
        f"| {signals} + status | {len(frame)} B | {encode_us:.1f} us | {decode_us:.1f} us "
        f"| {len(pickled)} B, {pickle_us:.1f} us |"
    )


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


Result = tuple[float, int, int]


def worker(
    path: str,
    signals: int,
    batches: int,
    devices: int,
    rate: float,
    result: multiprocessing.Queue[Result],
) -> None:
    """Publish ``batches`` batches at ``rate`` per second (0: as fast as the loop goes)."""

    async def go() -> None:
        context = OutputContext(stats=lambda: {"devices": devices})
        relay = RelayOutput(path, 0, 1, context, stats_interval_s=1.0)
        await relay.start()
        made = [batch(f"meter{d:05d}", signals, 1000.0 + d) for d in range(devices)]
        loop = asyncio.get_running_loop()
        before = cpu_s()
        started = loop.time()
        for i in range(batches):
            await relay.publish(made[i % devices])
            if i % 64 == 63:
                due = started + (i + 1) / rate if rate else loop.time()
                await asyncio.sleep(max(0.0, due - loop.time()))  # readouts come at a rate
        spent = cpu_s() - before
        await relay.aclose()
        result.put((spent, relay.sent_total, relay.dropped_total))

    asyncio.run(go())


async def through_socket(signals: int, batches: int, devices: int, rate: float) -> None:
    folder = Path(tempfile.mkdtemp(prefix="bench-relay-"))
    path = folder / "relay.sock"
    received = 0
    first = last = 0.0

    def publish(updates: Sequence[SignalUpdate]) -> None:
        nonlocal received, first, last
        received += 1
        last = time.perf_counter()
        if received == 1:
            first = last

    hub = RelayHub(path, 1, publish)
    await hub.start()
    result: multiprocessing.Queue[Result] = multiprocessing.get_context("spawn").Queue()
    process = multiprocessing.get_context("spawn").Process(
        target=worker, args=(str(path), signals, batches, devices, rate, result)
    )
    before = cpu_s()
    process.start()
    loop = asyncio.get_running_loop()
    worker_cpu, sent, dropped = await loop.run_in_executor(None, result.get)
    async with asyncio.timeout(60):  # the worker drained its buffer before it closed
        while received < sent:
            hub.changed.clear()
            await hub.changed.wait()
    hub_cpu = cpu_s() - before
    await loop.run_in_executor(None, process.join)
    await hub.aclose()
    os.rmdir(folder)
    offered = f"{rate:,.0f}/s" if rate else "flood"
    print(
        f"| {signals} + status | {offered} | {batches} | {received / max(last - first, 1e-9):,.0f}/s | "
        f"{worker_cpu / batches * 1e6:.1f} us | {hub_cpu / max(received, 1) * 1e6:.1f} us | "
        f"{dropped} |"
    )
    assert sent + dropped == batches


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--signals", default="3,10,50")
    parser.add_argument("--batches", type=int, default=20_000)
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument(
        "--rates",
        type=lambda text: [float(x) for x in text.split(",")],
        default=[2000.0, 0.0],
        help="batches per second the worker offers, 0 = as fast as it can [2000,0]",
    )
    args = parser.parse_args()
    sizes = [int(x) for x in args.signals.split(",")]
    print("| batch | frame | encode | decode | pickle (reference) |")
    print("|---|---|---|---|---|")
    for signals in sizes:
        codec(signals)
    print()
    print(
        "| batch | offered | batches | received by the hub | worker CPU per batch "
        "| hub CPU per batch | dropped |"
    )
    print("|---|---|---|---|---|---|---|")
    for signals in sizes:
        for rate in args.rates:
            asyncio.run(through_socket(signals, args.batches, args.devices, rate))


if __name__ == "__main__":
    main()
