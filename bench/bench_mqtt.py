"""MQTT output benchmark against a local mosquitto.

1. Throughput: N readouts (one ``json`` message each, every one of a 50-signal
   meter) through ``MqttOutput.publish`` -> outbox -> broker, QoS 1 with up to
   64 in flight; reports readouts/s from the first publish to the last PUBACK.
2. Backlog: the broker is down while B readouts are stored in the outbox; then
   it starts and the time from start to the last PUBACK is the drain time.

Usage: python bench/bench_mqtt.py [--readouts 5000] [--backlog 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from obisgate.gateway.config import load_config
from obisgate.gateway.outputs.context import OutputContext
from obisgate.gateway.outputs.factory import network_outputs
from obisgate.gateway.outputs.mqtt.output import MqttOutput
from obisgate.gateway.quality import Quality
from obisgate.gateway.updates import STATUS_SIGNAL, SignalUpdate


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Broker:
    """mosquitto on 127.0.0.1, started and stopped by PID."""

    def __init__(self, folder: Path, port: int) -> None:
        program = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/sbin")
        if program is None:
            raise SystemExit("mosquitto is not installed (Debian package mosquitto)")
        self.program = program
        self.port = port
        self.config = folder / "mosquitto.conf"
        user = pwd.getpwuid(os.geteuid()).pw_name
        self.config.write_text(
            f"listener {port} 127.0.0.1\nallow_anonymous true\nuser {user}\n", encoding="utf-8"
        )
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.program, "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        end = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                if time.monotonic() > end:
                    raise
                time.sleep(0.02)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


def readout(i: int, signals: int) -> list[SignalUpdate]:
    now = dt.datetime(2026, 12, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=i)
    updates = [
        SignalUpdate("m1", f"s{k}", 1000.0 + i + k / 1000, "kWh", now, Quality.VALID)
        for k in range(signals)
    ]
    updates.append(SignalUpdate("m1", STATUS_SIGNAL, "ok", None, now, Quality.VALID))
    return updates


async def make_output(folder: Path, port: int) -> MqttOutput:
    config = folder / "gw.toml"
    config.write_text(
        '[[devices]]\ndevice_alias = "m1"\nip = "127.0.0.1"\nport = 1\n'
        '[storage]\npath = "history.sqlite"\n'
        f'[mqtt]\nurl = "mqtt://127.0.0.1:{port}"\nclient_id = "bench"\n'
        'discovery_prefix = "none"\n',
        encoding="utf-8",
    )
    (output,) = network_outputs(load_config(config), OutputContext())
    assert isinstance(output, MqttOutput)
    await output.start()
    return output


async def wait_sent(output: MqttOutput, count: int) -> None:
    while output.health().counters["sent_total"] < count:  # noqa: ASYNC110 - polls the counters
        await asyncio.sleep(0.01)


async def throughput(folder: Path, readouts: int) -> None:
    port = free_port()
    broker = Broker(folder, port)
    broker.start()
    try:
        output = await make_output(folder, port)
        await asyncio.wait_for(_until(lambda: output.health().up), 10)
        batches = [readout(i, 50) for i in range(readouts)]
        began = time.perf_counter()
        for batch in batches:
            await output.publish(batch)
        stored = time.perf_counter() - began
        await wait_sent(output, readouts)
        elapsed = time.perf_counter() - began
        await output.aclose()
    finally:
        broker.stop()
    print(
        f"throughput: {readouts} readouts of 50 signals (json, QoS 1, 64 in flight): "
        f"{readouts / elapsed:.0f} readouts/s to the broker "
        f"(outbox appends alone: {readouts / stored:.0f}/s)"
    )


async def _until(condition: object) -> None:
    assert callable(condition)
    while not condition():  # noqa: ASYNC110 - polls the output's health
        await asyncio.sleep(0.01)


async def backlog(folder: Path, count: int) -> None:
    port = free_port()
    broker = Broker(folder, port)  # down while the backlog builds up
    output = await make_output(folder, port)
    began = time.perf_counter()
    for i in range(count):
        await output.publish(readout(i, 5))
    stored = time.perf_counter() - began
    depth = output.health().counters["outbox_depth"]
    broker.start()
    try:
        began = time.perf_counter()
        await _until(lambda: output.health().up)
        connected = time.perf_counter()
        await wait_sent(output, count)
        drained = time.perf_counter() - connected
        await output.aclose()
    finally:
        broker.stop()
    print(
        f"backlog: {depth} messages stored in {stored:.1f} s while the broker was down; "
        f"reconnected {connected - began:.1f} s after the broker started (retry backoff), "
        f"then drained {count} in {drained:.1f} s ({count / drained:.0f} msg/s)"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--readouts", type=int, default=5000)
    parser.add_argument("--backlog", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "a").mkdir()
        (Path(tmp) / "b").mkdir()
        await throughput(Path(tmp) / "a", args.readouts)
        await backlog(Path(tmp) / "b", args.backlog)


if __name__ == "__main__":
    asyncio.run(main())
