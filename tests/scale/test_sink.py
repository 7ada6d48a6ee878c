"""``obisgate sink postgres`` against a real mosquitto and a real PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO

import asyncpg
import pytest
from click.testing import CliRunner

from obisgate.cli import main
from obisgate.sink import SinkError
from obisgate.sink.consumer import SinkSettings, SinkStats, consume
from obisgate.sink.postgres import PostgresWriter
from obisgate.sink.rows import rows_from_payload
from tests.scale.mqtt_tools import count_rows, publish_readouts, readout, sink_command
from tests.services import Mosquitto, Postgres, free_port

pytestmark = pytest.mark.integration


async def until(condition: Callable[[], Awaitable[bool]], deadline_s: float = 30) -> None:
    """Return once ``condition()`` is true; fail at the deadline."""
    end = time.monotonic() + deadline_s
    while not await condition():
        assert time.monotonic() < end, "condition not met before the deadline"
        await asyncio.sleep(0.05)


async def test_two_sinks_store_every_reading_exactly_once(broker: Mosquitto, database: str) -> None:
    stop = asyncio.Event()
    stats = [SinkStats(), SinkStats()]
    sinks = [
        asyncio.create_task(
            consume(
                SinkSettings(mqtt_url=broker.url, client_id=f"sink-{i}", batch_rows=50),
                lambda: PostgresWriter.connect(database),
                stop,
                stats[i],
            )
        )
        for i in range(2)
    ]
    try:
        # both subscribed before publishing: shared subscriptions have no backlog
        await until(lambda: _total(stats, "subscriptions", 2))
        messages = [readout(f"m{d}", n) for d in range(20) for n in range(10)]
        await publish_readouts(broker.port, messages)
        await publish_readouts(broker.port, messages[:50])  # an outbox replay
        await until(lambda: _total(stats, "messages", 250))
    finally:
        stop.set()
        await asyncio.gather(*sinks)
    assert await count_rows(database) == 200 * 4
    assert (
        await count_rows(database, "SELECT count(DISTINCT (device, signal, time)) FROM readings")
        == 200 * 4
    )
    assert all(s.messages > 0 for s in stats)  # the group shared the load
    assert sum(s.inserted for s in stats) == 800
    assert sum(s.duplicates for s in stats) == 200
    connection = await asyncpg.connect(database)
    try:
        partitions = await connection.fetch(
            "SELECT inhrelid::regclass::text AS name FROM pg_inherits "
            "WHERE inhparent = 'readings'::regclass ORDER BY 1"
        )
        row = await connection.fetchrow(
            "SELECT value, unit, quality FROM readings WHERE device = 'm3' AND signal = 's1' "
            "AND time = '2026-12-01T00:00:00Z'"
        )
    finally:
        await connection.close()
    assert [p["name"] for p in partitions] == ["readings_p202611", "readings_p202612"]
    assert (row["value"], row["unit"], row["quality"]) == (2.1, "kWh", 0)


async def _total(stats: list[SinkStats], name: str, value: int) -> bool:
    return sum(int(getattr(s, name)) for s in stats) >= value


def _sink(broker: Mosquitto, dsn: str, tmp: Path, client_id: str) -> subprocess.Popen[bytes]:
    with (tmp / f"{client_id}.log").open("ab") as log:
        return _spawn_sink(broker, dsn, tmp, client_id, log)


def _spawn_sink(
    broker: Mosquitto, dsn: str, tmp: Path, client_id: str, log: IO[bytes]
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        sink_command(broker.url, dsn, client_id, "--stats", str(tmp / f"{client_id}.json")),
        stderr=log,
    )


async def test_nothing_acknowledged_before_commit(
    broker: Mosquitto, postgres_server: Postgres, database: str, tmp_path: Path
) -> None:
    """Database down: the sink keeps its batch unacknowledged; killed then, and restarted
    once the database is back, it gets the same messages again and stores them."""
    sink = _sink(broker, database, tmp_path, "sink-k")
    try:
        log = tmp_path / "sink-k.log"
        await until(lambda: _contains(log, "subscribed to"))
        await publish_readouts(broker.port, [readout("a", n) for n in range(5)])
        await until(lambda: _has_rows(database, 20))
        postgres_server.stop()
        await publish_readouts(broker.port, [readout("a", n) for n in range(5, 30)])
        await until(lambda: _contains(log, "database:"))
        sink.send_signal(signal.SIGKILL)
        sink.wait()
        postgres_server.start()
        assert await count_rows(database) == 20
        sink = _sink(broker, database, tmp_path, "sink-k")
        await until(lambda: _has_rows(database, 30 * 4))
        sink.send_signal(signal.SIGTERM)
        assert sink.wait(30) == 0
    finally:
        if sink.poll() is None:
            sink.kill()
            sink.wait()
    assert await count_rows(database) == 120
    text = log.read_text(encoding="utf-8")
    assert Postgres.password not in text


async def _has_rows(dsn: str, count: int) -> bool:
    try:
        return await count_rows(dsn) >= count
    except (OSError, asyncpg.PostgresError):
        return False


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""


async def _contains(path: Path, text: str) -> bool:
    return text in await asyncio.to_thread(_read, path)


def test_wrong_password_is_one_line_without_it(broker: Mosquitto, database: str) -> None:
    wrong = database.replace(Postgres.password, "Not-The-Pw-42")
    result = CliRunner().invoke(
        main, ["sink", "postgres", "--mqtt", broker.url, "--dsn", wrong, "--duration", "5"]
    )
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert "password authentication failed" in lines[0]
    assert "postgres@127.0.0.1:" in lines[0]
    assert "Not-The-Pw-42" not in result.output


def test_unreachable_database_is_one_line(broker: Mosquitto) -> None:
    dsn = f"postgresql://postgres:Hidden-9@127.0.0.1:{free_port()}/x"
    result = CliRunner().invoke(
        main, ["sink", "postgres", "--mqtt", broker.url, "--dsn", dsn, "--duration", "5"]
    )
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"obisgate: error: PostgreSQL postgres@{dsn.split('@')[1]}: connection refused"
    )


async def test_writer_refuses_nothing_twice_and_history_reads_back(database: str) -> None:

    writer = await PostgresWriter.connect(database)
    try:
        rows = [r for n in range(3) for r in rows_from_payload(json.dumps(readout("h", n)))]
        assert await writer.write(rows) == 12
        assert await writer.write(rows) == 0
    finally:
        await writer.aclose()
    result = await asyncio.to_thread(
        CliRunner().invoke,
        main,
        ["history", "h", "s2", "--dsn", database, "--format", "json"],
    )
    assert result.exit_code == 0, result.output
    items = json.loads(result.output)
    assert [i["value"] for i in items] == [0.2, 1.2, 2.2]
    assert items[0]["time"] == "2026-11-30T23:59:00+00:00"
    missing = await asyncio.to_thread(
        CliRunner().invoke, main, ["history", "h", "nope", "--dsn", database]
    )
    assert missing.exit_code == 1


async def test_history_dsn_with_a_wrong_password(database: str) -> None:
    wrong = database.replace(Postgres.password, "Wrong-Pw-77")
    result = await asyncio.to_thread(
        CliRunner().invoke, main, ["history", "h", "s2", "--dsn", wrong]
    )
    assert result.exit_code == 2
    assert "Wrong-Pw-77" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_connect_error_is_typed(postgres_server: Postgres) -> None:
    async def go() -> None:
        await PostgresWriter.connect(postgres_server.dsn(password="nope-nope"))

    with pytest.raises(SinkError, match="password authentication failed") as info:
        asyncio.run(go())
    assert "nope-nope" not in str(info.value)


async def test_a_message_that_is_no_readout_is_acknowledged_and_counted(
    broker: Mosquitto, database: str
) -> None:
    import aiomqtt  # noqa: PLC0415

    stop = asyncio.Event()
    stats = SinkStats()
    settings = SinkSettings(mqtt_url=broker.url, client_id="sink-bad")
    task = asyncio.create_task(
        consume(settings, lambda: PostgresWriter.connect(database), stop, stats)
    )
    try:
        await until(lambda: _total([stats], "subscriptions", 1))
        async with aiomqtt.Client("127.0.0.1", broker.port) as client:
            await client.publish("obisgate/x/state", b"not json", qos=1)
        await publish_readouts(broker.port, [readout("ok", 1)])
        await until(lambda: _total([stats], "messages", 2))
    finally:
        stop.set()
        await task
    assert stats.rejected == 1
    assert await count_rows(database) == 4
