"""History sink benchmark: readings per second from the broker into PostgreSQL.

A real mosquitto and a real PostgreSQL (started on free loopback ports, as the tests
do; needs the Debian packages mosquitto and postgresql). For 1 and 2 sinks
(``obisgate sink postgres``, one process each, owning their share of the history
partitions):
the sinks subscribe once and stop; ``--messages`` readout messages (``--signals``
values + the status each, the MQTT output's ``json`` format) are queued in the
broker for them; the sinks are started again and the time from their start to the
last row committed in PostgreSQL is measured.

Usage: python bench/bench_sink.py [--messages 20000] [--signals 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiomqtt

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench_gateway import wait_for
from tests.scale.mqtt_tools import PARTITIONS, count_rows, readout, share, sink_command
from tests.services import Mosquitto, Postgres

from obisgate.gateway.readings.partitions import history_topic


def sink(broker: Mosquitto, dsn: str, j: int, sinks: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as err:
        return subprocess.Popen(
            sink_command(broker.url, dsn, f"bench-{j}", own=share(j, sinks)),
            stderr=err,
        )


async def publish(port: int, count: int, signals: int) -> None:
    quiet = logging.getLogger("bench.publisher")  # aiomqtt warns about many pending publishes
    quiet.setLevel(logging.ERROR)
    async with aiomqtt.Client(
        "127.0.0.1", port, max_inflight_messages=1000, logger=quiet
    ) as client:
        pending = []
        for n in range(count):
            message = readout(f"m{n % 5000}", n // 5000, signals=signals)
            pending.append(
                client.publish(
                    history_topic("obisgate", message["device"], PARTITIONS),
                    json.dumps(message),
                    qos=1,
                )
            )
            if len(pending) >= 500:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)


async def table_bytes(dsn: str) -> int:
    """Disk size of the readings partitions, indexes included."""
    import asyncpg  # noqa: PLC0415

    connection = await asyncpg.connect(dsn)
    try:
        return int(
            await connection.fetchval(
                "SELECT sum(pg_total_relation_size(inhrelid)) FROM pg_inherits "
                "WHERE inhparent = 'readings'::regclass"
            )
        )
    finally:
        await connection.close()


def run(sinks: int, messages: int, signals: int, folder: Path) -> tuple[float, int, int]:
    # The whole backlog waits in the sinks' sessions: beyond mosquitto's default of
    # 1000 queued messages per session, as a deployment must configure it (README).
    broker = Mosquitto(
        folder / f"mq{sinks}", extra_config="max_inflight_messages 1000\nmax_queued_messages 0\n"
    )
    database = Postgres()
    broker.start()
    database.start()
    try:
        dsn = database.dsn()
        logs = [folder / f"sink{sinks}-{i}.log" for i in range(sinks)]
        procs = [sink(broker, dsn, i, sinks, logs[i]) for i in range(sinks)]
        wait_for(
            lambda: (
                all("subscribed" in p.read_text() for p in logs if p.exists())
                and all(p.exists() for p in logs)
            ),
            30,
            "the sinks to subscribe",
        )
        for p in procs:
            p.terminate()
            p.wait()
        asyncio.run(publish(broker.port, messages, signals))
        expected = messages * (signals + 1)
        started = time.monotonic()
        procs = [sink(broker, dsn, i, sinks, logs[i]) for i in range(sinks)]
        wait_for(lambda: asyncio.run(count_rows(dsn)) >= expected, 600, "every row")
        elapsed = time.monotonic() - started
        for p in procs:
            p.terminate()
            p.wait()
        return elapsed, expected, asyncio.run(table_bytes(dsn))
    finally:
        broker.stop()
        database.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--signals", type=int, default=10)
    parser.add_argument("--sinks", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    print(
        f"{'sinks':>5} {'messages':>9} {'rows':>8} {'seconds':>8} {'msg/s':>7} {'rows/s':>8} "
        f"{'bytes/row':>9}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for count in args.sinks:
            seconds, rows, size = run(count, args.messages, args.signals, Path(tmp))
            print(
                f"{count:>5} {args.messages:>9} {rows:>8} {seconds:>8.1f} "
                f"{args.messages / seconds:>7.0f} {rows / seconds:>8.0f} {size / rows:>9.0f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
