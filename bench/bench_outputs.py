"""What the history store and the MQTT output cost per readout, at N devices.

Readouts of N devices (3 logged FLOAT signals + ``_status`` each, the shape
``bench_gateway.py`` polls; ``--signals`` sets how many FLOAT signals) are published through the gateway's ``Fanout`` at a
steady rate, one readout at a time as line pollers do, round-robin over the
devices, through a ``Fanout`` set up as the gateway's (its linger), into: no output, the history output (SQLite), the MQTT output (outbox +
sender + a local mosquitto, ``json``, discovery off), and both. The CPU of this
process (every thread: the event loop, the SQLite worker threads, paho's) per
readout is measured over the steady state, after every device's series exists
(one warm-up append of all of them), and the cost of an output is its CPU per
readout minus the run without outputs. The broker's CPU is printed apart.

Usage: python bench/bench_outputs.py [--devices 500 5000 50000] [--readouts 5000]
       [--rate 1000] [--signals 3 10 50]

``--signals``: logged FLOAT signals per readout, one table row per count (default 3:
energy, power, voltage; more are named ``s3``, ``s4``, ...).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import resource
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from bench_mqtt import Broker, free_port

from obisgate.gateway.config import load_config
from obisgate.gateway.history import HistoryRecord, HistoryStore
from obisgate.gateway.outputs import Fanout, Output
from obisgate.gateway.outputs.context import OutputContext
from obisgate.gateway.outputs.factory import network_outputs
from obisgate.gateway.outputs.history.output import HistoryOutput

try:  # the gateway's linger (0 before it existed, for a side-by-side run on an older tree)
    from obisgate.gateway.outputs.base import STORE_LINGER_S
except ImportError:  # pragma: no cover
    STORE_LINGER_S = 0.0
from obisgate.gateway.quality import Quality
from obisgate.gateway.updates import STATUS_SIGNAL, SignalUpdate

SIGNALS: tuple[str, ...] = ("energy", "power", "voltage")


def signal_names(count: int) -> tuple[str, ...]:
    """``count`` signal names: the three of bench_gateway's readout first, then s3, s4, ..."""
    return ("energy", "power", "voltage", *(f"s{k}" for k in range(3, count)))[:count]


def readout(device: int, n: int) -> list[SignalUpdate]:
    now = dt.datetime(2026, 12, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=n)
    alias = f"m{device}"
    updates = [
        SignalUpdate(alias, s, 1000.0 + n + k / 8, "kWh", now, Quality.VALID, f"{n}*kWh", True)
        for k, s in enumerate(SIGNALS)
    ]
    updates.append(
        SignalUpdate(alias, STATUS_SIGNAL, "ok", None, now, Quality.VALID, "/ISk5MT174-BENCH")
    )
    return updates


def warm_history(path: Path, devices: int) -> None:
    """Every series of every device, in one append (fast before and after the fix)."""
    now = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)
    with HistoryStore(path) as store:
        store.append(HistoryRecord(f"m{d}", s, now, 0.0) for d in range(devices) for s in SIGNALS)


def config_file(folder: Path, devices: int, port: int | None) -> Path:
    lines = ['[storage]\npath = "history.sqlite"\n']
    if port is not None:
        lines.append(
            f'[mqtt]\nurl = "mqtt://127.0.0.1:{port}"\nclient_id = "bench"\n'
            'discovery_prefix = "none"\noutbox_max_rows = 10000000\n'
        )
    lines.append('[[devices]]\ndevice_alias = "m0"\nip = "127.0.0.1"\nport = 1\n')
    path = folder / "gw.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def sent(output: Any) -> int:
    """Outbox rows the MQTT output had acknowledged by the broker so far."""
    return int(output.health().counters["sent_total"])


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def run(
    folder: Path, devices: int, readouts: int, rate: float, *, history: bool, mqtt: int | None
) -> float:
    """CPU seconds per readout of this process while ``readouts`` readouts pass."""
    outputs: list[Output] = []
    context = OutputContext()
    mqtt_output: Any = None
    if history:
        warm_history(folder / "history.sqlite", devices)
        store = HistoryStore(folder / "history.sqlite")
        # the cache the warm-up of a long-running gateway would have built
        store.append(
            HistoryRecord(f"m{d}", s, dt.datetime(2026, 11, 30, tzinfo=dt.UTC), 0.0)
            for d in range(devices)
            for s in SIGNALS
        )
        outputs.append(HistoryOutput(store))
    if mqtt is not None:
        (mqtt_output,) = network_outputs(load_config(config_file(folder, devices, mqtt)), context)
        outputs.append(mqtt_output)
    linger: dict[str, Any] = {"linger_s": STORE_LINGER_S} if STORE_LINGER_S else {}
    fanout = Fanout(outputs, **linger)
    await fanout.start()
    warm = 0
    if mqtt is not None:
        while not mqtt_output.health().up:  # noqa: ASYNC110 - bench start-up
            await asyncio.sleep(0.01)
        # One readout of every device first: each device's availability (retained) is
        # published once, at its first readout, not in the steady state measured here.
        for first in range(0, devices, 1000):
            await mqtt_output.publish_many(
                [readout(d, -1) for d in range(first, min(first + 1000, devices))]
            )
        warm = devices
        tracker = mqtt_output._announcer._devices
        while (  # noqa: ASYNC110 - bench wait
            sent(mqtt_output) < devices or tracker.dirty_availability
        ):
            await asyncio.sleep(0.01)
    batches = [readout(i % devices, i) for i in range(readouts)]
    step = 1 / rate
    loop = asyncio.get_running_loop()
    began_cpu = cpu()
    began = loop.time()
    for i, batch in enumerate(batches):
        fanout.publish(batch)
        delay = began + (i + 1) * step - loop.time()
        await asyncio.sleep(max(delay, 0))
    if mqtt is not None:
        while sent(mqtt_output) < warm + readouts:  # noqa: ASYNC110 - bench wait
            await asyncio.sleep(0.005)
    spent = cpu() - began_cpu
    await fanout.aclose()
    return spent / readouts


async def main_async(args: argparse.Namespace) -> None:
    global SIGNALS  # noqa: PLW0603 - one setting for readout(), the warm-up and run()
    print(
        f"{'devices':>8} {'signals':>7} {'no output':>10} {'history':>9} {'mqtt':>9} {'both':>9}"
        f"   (ms CPU per readout above 'no output'; {args.readouts} readouts at {args.rate:g}/s)"
    )
    for devices, count in [(d, c) for d in args.devices for c in args.signals]:
        SIGNALS = signal_names(count)
        figures: dict[str, float] = {}
        broker_cpu = 0.0
        for name, history, with_mqtt in (
            ("none", False, False),
            ("history", True, False),
            ("mqtt", False, True),
            ("both", True, True),
        ):
            with tempfile.TemporaryDirectory() as tmp:
                folder = Path(tmp)
                broker = None
                port = None
                if with_mqtt:
                    port = free_port()
                    broker = Broker(folder, port)
                    broker.start()
                try:
                    figures[name] = await run(
                        folder, devices, args.readouts, args.rate, history=history, mqtt=port
                    )
                finally:
                    if broker is not None and broker.process is not None:
                        pid = broker.process.pid
                        broker.process.terminate()
                        _, _, usage = os.wait4(pid, 0)  # noqa: ASYNC222 - bench teardown
                        broker.process = None
                        broker_cpu += usage.ru_utime + usage.ru_stime
        base = figures["none"]
        print(
            f"{devices:>8} {count:>7} {1000 * base:>9.3f}  "
            + " ".join(f"{1000 * (figures[k] - base):>9.3f}" for k in ("history", "mqtt", "both"))
            + f"   broker {1000 * broker_cpu / (2 * args.readouts):.3f} ms/readout",
            flush=True,
        )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, nargs="+", default=[500, 5000, 50000])
    parser.add_argument("--readouts", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=1000.0, help="readouts per second")
    parser.add_argument(
        "--signals", type=int, nargs="+", default=[3], help="logged FLOAT signals per readout"
    )
    asyncio.run(main_async(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
