"""``obisgate sink postgres`` against a real mosquitto (at its default limits) and a real
PostgreSQL: owned history partitions, restarts, poison messages, credentials."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from functools import partial
from pathlib import Path
from typing import IO

import aiomqtt
import asyncpg
import pytest
from click.testing import CliRunner

from obisgate.cli import main
from obisgate.gateway.readings.partitions import count_topic, history_topic
from obisgate.gateway.readings.rows import parse_message
from obisgate.gateway.readings.writer import PostgresWriter
from obisgate.sink.consumer import SinkSettings, SinkStats, consume
from tests.commands import run_until
from tests.scale.mqtt_tools import (
    PARTITIONS,
    count_rows,
    publish_readouts,
    readout,
    share,
    sink_command,
)
from tests.services import Mosquitto, Postgres, find_program, free_port

pytestmark = pytest.mark.integration


async def until(condition: Callable[[], Awaitable[bool]], deadline_s: float = 30) -> None:
    """Return once ``condition()`` is true; fail at the deadline."""
    end = time.monotonic() + deadline_s
    while not await condition():
        assert time.monotonic() < end, "condition not met before the deadline"
        await asyncio.sleep(0.05)


def settings(
    broker: Mosquitto, client_id: str, own: tuple[int, ...], **more: object
) -> SinkSettings:
    return SinkSettings(
        mqtt_url=broker.url,
        partitions=PARTITIONS,
        owned=own,
        client_id=client_id,
        **more,  # type: ignore[arg-type]
    )


async def test_two_sinks_own_the_partitions_and_store_every_reading_exactly_once(
    broker: Mosquitto, database: str
) -> None:
    stop = asyncio.Event()
    stats = [SinkStats(), SinkStats()]
    sinks = [
        asyncio.create_task(
            consume(
                settings(broker, f"sink-{i}", (i, i + 2), batch_rows=50),
                lambda: PostgresWriter.connect(database),
                stop,
                stats[i],
            )
        )
        for i in range(2)
    ]
    try:
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
    assert all(s.messages > 0 for s in stats)  # each owns devices
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


def _sink(
    broker: Mosquitto, dsn: str, tmp: Path, client_id: str, *options: str, own: str = "all"
) -> subprocess.Popen[bytes]:
    with (tmp / f"{client_id}.log").open("ab") as log:
        return _spawn_sink(broker, dsn, tmp, client_id, log, options, own)


def _spawn_sink(
    broker: Mosquitto,
    dsn: str,
    tmp: Path,
    client_id: str,
    log: IO[bytes],
    options: tuple[str, ...],
    own: str,
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        sink_command(
            broker.url, dsn, client_id, "--stats", str(tmp / f"{client_id}.json"), *options, own=own
        ),
        stderr=log,
    )


def _stop(process: subprocess.Popen[bytes], sig: signal.Signals = signal.SIGTERM) -> int:
    if process.poll() is None:
        process.send_signal(sig)
    try:
        return process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


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
        assert _stop(sink) == 0
    finally:
        _stop(sink, signal.SIGKILL)
    assert await count_rows(database) == 120
    text = log.read_text(encoding="utf-8")
    assert Postgres.password not in text


async def test_both_sinks_down_across_a_broker_restart_lose_nothing(
    broker: Mosquitto, database: str, tmp_path: Path
) -> None:
    """The defect of shared subscriptions: mosquitto does not restore them after a restart,
    so what was published before the sinks subscribed again was acknowledged to the
    gateway and dropped. Owned partitions are plain persistent subscriptions: kept."""
    names = ("sink-a", "sink-b")
    sinks = [_sink(broker, database, tmp_path, n, own=share(j, 2)) for j, n in enumerate(names)]
    try:
        for name in names:
            await until(partial(_contains, tmp_path / f"{name}.log", "subscribed to"))
        await publish_readouts(broker.port, [readout(f"d{d}", 0) for d in range(8)])
        await until(lambda: _has_rows(database, 8 * 4))
        for sink in sinks:
            sink.send_signal(signal.SIGKILL)
            sink.wait()
        broker.stop()  # a clean restart: the broker saves its sessions
        broker.start()
        later = [readout(f"d{d}", n) for d in range(8) for n in range(1, 31)]
        await publish_readouts(broker.port, later)
        sinks = [_sink(broker, database, tmp_path, n, own=share(j, 2)) for j, n in enumerate(names)]
        await until(lambda: _has_rows(database, 8 * 31 * 4))
    finally:
        for sink in sinks:
            _stop(sink, signal.SIGKILL)
    assert await count_rows(database) == 8 * 31 * 4


@pytest.mark.parametrize("queue_limit", [None, 2000])
async def test_a_sink_away_beyond_the_brokers_queue_loses_readouts_and_says_so(
    database: str, tmp_path: Path, queue_limit: int | None
) -> None:
    """mosquitto keeps at most ``max_queued_messages`` (1000 by default) for a session
    that is away and drops the rest without telling anyone: 1100 readouts published
    while the sink is down leave 1000 stored. The sink cannot get them back, but it
    logs the broker's own count of dropped messages. With the limit the README asks
    for (here 2000), all of them are stored and nothing is reported."""
    limit = "" if queue_limit is None else f"max_queued_messages {queue_limit}\n"
    server = Mosquitto(tmp_path / "mosquitto", extra_config="sys_interval 1\n" + limit)
    server.start()
    log = tmp_path / "sink-q.log"
    sink = _sink(server, database, tmp_path, "sink-q")
    try:
        await until(lambda: _contains(log, "subscribed to"))
        assert _stop(sink, signal.SIGKILL) != 0
        await publish_readouts(server.port, [readout(f"d{n % 20}", n) for n in range(1100)])
        sink = _sink(server, database, tmp_path, "sink-q")
        if queue_limit is None:
            await until(lambda: _reported_drops(log, 100))
            await until(lambda: _has_rows(database, 1000 * 4))
        else:
            await until(lambda: _has_rows(database, 1100 * 4))
        assert _stop(sink) == 0
    finally:
        _stop(sink, signal.SIGKILL)
        server.stop()
    stats = json.loads((tmp_path / "sink-q.json").read_text())
    assert stats["messages"] == (1000 if queue_limit is None else 1100)
    assert await count_rows(database) == stats["messages"] * 4
    assert stats["broker_dropped"] == (100 if queue_limit is None else 0)
    warnings = [line for line in _read(log).splitlines() if "dropped " in line]
    if queue_limit is None:
        # Usually one line; two when the broker's count (sent every sys_interval) was
        # taken while it was still dropping: together they say 100.
        assert 1 <= len(warnings) <= 2, warnings
        assert warnings[-1] == (
            f"obisgate: warning: broker 127.0.0.1:{server.port} dropped "
            f"{100 - _drops(warnings[:-1])} messages (100 "
            "since it started, $SYS/broker/publish/messages/dropped): a client's queue was "
            "full; if it was this sink's session, readouts of its partitions are lost: raise "
            "the broker's queue limit (mosquitto: max_queued_messages, 1000 by default; "
            "README, History in PostgreSQL)"
        )
        assert _drops(warnings) == 100
    else:
        assert warnings == []


async def test_poison_messages_never_stall_the_sink(
    broker: Mosquitto, database: str, tmp_path: Path
) -> None:
    """A text with NUL bytes, a 400-digit integer, a time out of range and a message that
    is no readout among good ones: everything storable is stored (cleaned), the rest is
    a dead letter with its reason, and a restarted sink does not trip over any of them."""
    good = [readout("ok", n) for n in range(20)]
    nul = readout("poison", 0)
    nul["updates"][0]["value"] = "AB\u0000\u0000\u0000"
    nul["updates"][1]["value"] = 10**400
    far = readout("poison", 1)
    far["updates"][2]["time"] = "9999-12-31T23:59:59.000+00:00"
    topic = history_topic("obisgate", "poison", PARTITIONS)
    sink = _sink(broker, database, tmp_path, "sink-p", "--batch-rows", "10")
    try:
        await until(lambda: _contains(tmp_path / "sink-p.log", "subscribed to"))
        async with aiomqtt.Client("127.0.0.1", broker.port, identifier="poisoner") as client:
            await client.publish(topic, b"\x00not json at all", qos=1)
            await client.publish(topic, json.dumps(nul), qos=1)
            await client.publish(topic, json.dumps(far), qos=1)
        await publish_readouts(broker.port, good)
        expected = 20 * 4 + 4 + 3  # good; the poison readout whole; the far one but one row
        await until(lambda: _has_rows(database, expected))
        sink.send_signal(signal.SIGKILL)  # restarted, it sees no poison it cannot handle
        sink.wait()
        sink = _sink(broker, database, tmp_path, "sink-p")
        await until(lambda: _contains(tmp_path / "sink-p.log", "subscribed to", count=2))
        await publish_readouts(broker.port, [readout("ok", 20)])
        await until(lambda: _has_rows(database, expected + 4))
        assert sink.poll() is None
        assert _stop(sink) == 0
    finally:
        _stop(sink, signal.SIGKILL)
    connection = await asyncpg.connect(database)
    try:
        cleaned = await connection.fetchrow(
            "SELECT text, quality FROM readings WHERE device = 'poison' AND signal = 's0'"
        )
        huge = await connection.fetchrow(
            "SELECT value, text, quality FROM readings WHERE device = 'poison' AND signal = 's1'"
        )
        dead = await connection.fetch("SELECT signal, reason FROM readings_rejected ORDER BY 2")
    finally:
        await connection.close()
    assert (cleaned["text"], cleaned["quality"]) == ("AB", 0)
    assert (huge["value"], huge["text"], huge["quality"]) == (None, str(10**400), 4)
    assert [(d["signal"], d["reason"].split(" (")[0]) for d in dead] == [
        (None, "not JSON"),
        ("s2", "time 9999-12-31T23:59:59+00:00 is out of range"),
    ]
    stats = json.loads((tmp_path / "sink-p.json").read_text())
    assert stats["dead_letters"] == 0  # the second run saw only good messages
    log = (tmp_path / "sink-p.log").read_text(encoding="utf-8")
    assert "Traceback" not in log
    assert "dead letters from sink sink-p" in log


async def test_gateways_announcing_another_partition_count_stop_the_sink(
    broker: Mosquitto, database: str, tmp_path: Path
) -> None:
    async with aiomqtt.Client("127.0.0.1", broker.port) as client:
        await client.publish(count_topic("obisgate"), b"8", qos=1, retain=True)
    sink = _sink(broker, database, tmp_path, "sink-n")
    assert sink.wait(30) == 1
    lines = (tmp_path / "sink-n.log").read_text(encoding="utf-8").strip().splitlines()
    assert lines[-1] == (
        "obisgate: error: the gateways publish history in 8 partitions "
        "(obisgate/history/partitions), this sink has --partitions 4: "
        "start the sinks with --partitions 8"
    )


async def _has_rows(dsn: str, count: int) -> bool:
    try:
        return await count_rows(dsn) >= count
    except (OSError, asyncpg.PostgresError):
        return False


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""


def _drops(lines: list[str]) -> int:
    """The messages that the sink's warnings say the broker dropped, together."""
    return sum(int(n) for line in lines for n in re.findall(r"dropped (\d+) messages", line))


async def _reported_drops(path: Path, count: int) -> bool:
    return _drops((await asyncio.to_thread(_read, path)).splitlines()) >= count


async def _contains(path: Path, text: str, count: int = 1) -> bool:
    return (await asyncio.to_thread(_read, path)).count(text) >= count


MQTT_PASSWORD = "Sink-Pw-31"


@pytest.fixture
def password_broker(tmp_path: Path) -> Iterator[Mosquitto]:
    folder = tmp_path / "pwbroker"
    folder.mkdir()
    passwd = find_program("mosquitto_passwd", "mosquitto")
    users = folder / "users"
    subprocess.run([passwd, "-b", "-c", str(users), "sink", MQTT_PASSWORD], check=True)
    server = Mosquitto(folder, extra_config=f"allow_anonymous false\npassword_file {users}\n")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _run_sink(broker: Mosquitto, dsn: str, *options: str, env: dict[str, str] | None = None):
    url = broker.url.replace("mqtt://", "mqtt://sink@")
    return subprocess.run(
        sink_command(url, dsn, "sink-pw", "--duration", "3", *options),
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
        check=False,
    )


def test_a_wrong_mqtt_password_is_one_line_and_exit_1(
    password_broker: Mosquitto, database: str
) -> None:
    result = _run_sink(
        password_broker, database, "--mqtt-password-env", "SINK_PW", env={"SINK_PW": "wrong-1"}
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"obisgate: error: MQTT broker 127.0.0.1:{password_broker.port} refused the login: "
        "not authorized (wrong user name or password?)"
    )
    assert "wrong-1" not in result.stderr
    assert "reconnecting" not in result.stderr


async def test_the_mqtt_password_comes_from_a_variable_or_a_file(
    password_broker: Mosquitto, database: str, tmp_path: Path
) -> None:
    url = password_broker.url.replace("mqtt://", "mqtt://sink@")

    def subscribed(text: str) -> bool:
        return "subscribed to 4 partitions of 4 (0-3)" in text

    by_env = await run_until(
        sink_command(url, database, "sink-pw", "--mqtt-password-env", "SINK_PW"),
        line=subscribed,
        watch="stderr",
        env={**os.environ, "SINK_PW": MQTT_PASSWORD},
    )
    assert by_env.code == 0, by_env.err
    secret = tmp_path / "mqtt.pw"
    secret.write_text(MQTT_PASSWORD + "\nignored\n", encoding="utf-8")
    secret.chmod(0o600)
    by_file = await run_until(
        sink_command(url, database, "sink-pw", "--mqtt-password-file", str(secret)),
        line=subscribed,
        watch="stderr",
    )
    assert by_file.code == 0, by_file.err
    assert "readable by group or others" not in by_file.err
    in_url = await run_until(
        sink_command(url.replace("sink@", f"sink:{MQTT_PASSWORD}@"), database, "sink-pw"),
        line=subscribed,
        watch="stderr",
    )
    assert in_url.code == 0, in_url.err
    assert (
        "obisgate: warning: the MQTT password in --mqtt shows in the process list; "
        "use --mqtt-password-env or --mqtt-password-file"
    ) in in_url.err
    assert MQTT_PASSWORD not in in_url.err


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (("--mqtt-password-env", "NOT_SET_ANYWHERE"), "--mqtt-password-env: the variable"),
        (("--mqtt-password-file", "/nonexistent/pw"), "--mqtt-password-file: cannot read"),
        (("--own", "7"), "--own '7': expected 'all' or partitions 0-3"),
    ],
)
def test_bad_sink_options_are_one_line(
    options: tuple[str, ...], message: str, broker: Mosquitto
) -> None:
    result = CliRunner().invoke(
        main,
        [
            *("sink", "postgres", "--mqtt", broker.url, "--dsn", "postgresql://x@127.0.0.1/x"),
            *("--partitions", "4", *options),
        ],
    )
    assert result.exit_code == 2
    assert result.output.startswith(f"obisgate: error: {message}")
    assert len(result.output.strip().splitlines()) == 1


def test_wrong_database_password_is_one_line_without_it(broker: Mosquitto, database: str) -> None:
    wrong = database.replace(Postgres.password, "Not-The-Pw-42")
    result = CliRunner().invoke(
        main,
        [
            *("sink", "postgres", "--mqtt", broker.url, "--dsn", wrong),
            *("--partitions", "4", "--duration", "5"),
        ],
    )
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert lines[-1].startswith("obisgate: error: PostgreSQL postgres@127.0.0.1:")
    assert "password authentication failed" in lines[-1]
    assert "Not-The-Pw-42" not in result.output


def test_unreachable_database_is_one_line(broker: Mosquitto) -> None:
    dsn = f"postgresql://postgres@127.0.0.1:{free_port()}/x"
    result = CliRunner().invoke(
        main,
        [
            *("sink", "postgres", "--mqtt", broker.url, "--dsn", dsn),
            *("--partitions", "4", "--duration", "5"),
        ],
    )
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"obisgate: error: PostgreSQL postgres@{dsn.split('@')[1]}: connection refused"
    )


async def test_writer_refuses_nothing_twice_and_history_reads_back(database: str) -> None:
    writer = await PostgresWriter.connect(database)
    try:
        rows = [r for n in range(3) for r in parse_message(json.dumps(readout("h", n))).rows]
        assert (await writer.store(rows, source="t")).inserted == 12
        assert (await writer.store(rows, source="t")).inserted == 0
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
