"""The promise, broken on purpose: the gateway is killed (SIGKILL) for several profile
periods while the meter is unreachable and the broker is down too; after the restart
every period is in the SQLite history, in PostgreSQL and on MQTT exactly once, with the
meter's values. Real mosquitto (its default limits) and PostgreSQL, the gateway in a
process of its own; only its wall clock is the test's."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from obisgate.errors import ConfigError
from obisgate.gateway.history import HistoryRow, HistoryStore
from obisgate.gateway.quality import Quality
from obisgate.simulator import serve_tcp
from obisgate.simulator.clocked import ClockedMeter
from tests.backfill.gateway_support import BASE, ORIGIN, PASSWORD, PASSWORD_ENV, config_text
from tests.services import Mosquitto, Postgres, require_module, running_postgres

asyncpg = require_module("asyncpg", "the postgres extra")
require_module("aiomqtt", "the mqtt extra")

from tests.mqtt.support import Subscriber  # noqa: E402 - after the check that aiomqtt is there

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
START = datetime(2026, 12, 1, 10, 5, tzinfo=UTC)


class MovedClock:
    """The test's time: the system's plus an offset kept in a file the gateway reads."""

    def __init__(self, path: Path, start: datetime) -> None:
        self.path = path
        self.offset = (start - datetime.now(UTC)).total_seconds()
        self._write()

    def _write(self) -> None:
        self.path.write_text(repr(self.offset), encoding="utf-8")

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.offset)

    def meter_now(self) -> datetime:
        return self.now().replace(tzinfo=None)  # the meter runs in UTC

    def advance(self, delta: timedelta) -> None:
        self.offset += delta.total_seconds()
        self._write()


@pytest.fixture
def postgres() -> Iterator[Postgres]:
    with running_postgres() as server:
        yield server


def gateway(folder: Path, clock: MovedClock, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as stderr:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.backfill.gateway_child", str(folder / "gw.toml"),
             str(clock.path)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )  # fmt: skip


async def until(
    condition: Callable[[], Awaitable[bool]], what: str, deadline_s: float = 60
) -> None:
    """Poll ``condition`` (real processes: the gateway, the database) until it holds."""
    end = time.monotonic() + deadline_s
    while not await condition():
        assert time.monotonic() < end, f"timed out waiting until {what}"
        await asyncio.sleep(0.1)


def history_rows(folder: Path, signal_: str) -> list[Any]:
    try:
        with HistoryStore(folder / "history.sqlite", create=False) as store:
            return store.query("house", signal_)
    except ConfigError:
        return []  # not made yet by the gateway


async def database_rows(dsn: str) -> list[Any]:
    connection = await asyncpg.connect(dsn)
    try:
        if not await connection.fetchval("SELECT to_regclass('readings') IS NOT NULL"):
            return []
        return list(
            await connection.fetch(
                "SELECT signal, time, value, quality FROM readings WHERE device = 'house'"
            )
        )
    finally:
        await connection.close()


def backfilled(rows: list[Any]) -> list[Any]:
    """The backfilled ones of history rows or database records."""
    found = []
    for row in rows:
        quality = row.quality if isinstance(row, HistoryRow) else Quality(row["quality"])
        if quality.backfilled:
            found.append(row)
    return found


async def test_kill_9_with_the_meter_and_the_broker_down_every_period_once(
    tmp_path: Path, postgres: Postgres, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    monkeypatch.setenv("OBISGATE_TEST_PG_PW", Postgres.password)
    clock = MovedClock(tmp_path / "clock", START)
    meter = ClockedMeter(clock.meter_now, origin=ORIGIN)
    profile = meter.profile(BASE, password=PASSWORD)
    broker = Mosquitto(tmp_path / "mosquitto")
    broker.start()
    dsn = postgres.dsn()
    bare = dsn.replace(f":{Postgres.password}@", "@")
    sim = await serve_tcp(profile)
    port = sim.port
    extra = f"""
[mqtt]
url = "{broker.url}"
client_id = "gw1"
topic_prefix = "og"

[postgres]
dsn = "{bare}"
password_env = "OBISGATE_TEST_PG_PW"
"""
    (tmp_path / "gw.toml").write_text(
        config_text(port, "backfill_max_days = 1", extra=extra),
        encoding="utf-8",
    )
    log = tmp_path / "gateway.log"
    run: subprocess.Popen[bytes] | None = None
    try:
        async with Subscriber(broker.port, ["og/house/backfill"], client_id="ha") as subscriber:

            def received() -> list[dict[str, Any]]:
                return [json.loads(m.payload) for m in subscriber.on("og/house/backfill")]

            async def have(stamps: list[datetime]) -> bool:
                assert run is not None
                assert run.poll() is None, log.read_text()[-2000:]
                history = {r.time for r in backfilled(history_rows(tmp_path, "energy"))}
                stored = {r["time"] for r in backfilled(await database_rows(dsn))}
                sent = {datetime.fromisoformat(m["time"]) for m in received()}
                return set(stamps) <= history & stored & sent

            # The first run imports the meter's day (09:15 .. 10:00) and polls.
            first = [
                t.replace(tzinfo=UTC) for t in meter.stamps(ORIGIN, ORIGIN + timedelta(hours=1))
            ]
            run = gateway(tmp_path, clock, log)
            await until(lambda: have(first), "the first import everywhere")
            live = len(history_rows(tmp_path, "energy"))
            await until(
                lambda: _true(len(history_rows(tmp_path, "energy")) >= live + 2), "live polls"
            )
            # Everything goes down at once; 65 minutes pass.
            run.send_signal(signal.SIGKILL)
            run.wait()
            await sim.aclose()
            broker.stop()
            clock.advance(timedelta(minutes=65))
            # The gateway comes back first: the meter does not answer, the broker is down.
            run = gateway(tmp_path, clock, log)
            await until(lambda: _true("cannot connect" in log.read_text()), "a failed poll")
            async with await serve_tcp(profile, port=port):
                outage = [
                    t.replace(tzinfo=UTC)
                    for t in meter.stamps(START.replace(tzinfo=None), clock.meter_now())
                ]
                assert len(outage) == 4  # 10:15 .. 11:00
                await until(
                    lambda: _true(
                        set(outage) <= {r.time for r in history_rows(tmp_path, "energy")}
                    ),
                    "the outage in the history",
                )
                broker.start()  # the broker last: the outbox kept the intervals
                await until(lambda: have(first + outage), "the outage everywhere")
                run.send_signal(signal.SIGTERM)
                assert await asyncio.to_thread(run.wait, 30) == 0
            messages = received()
    finally:
        if run is not None and run.poll() is None:
            run.kill()
            run.wait()
        await sim.aclose()
        broker.stop()
    stamps = first + outage
    # SQLite history: every period once per signal, the meter's values.
    for name, text in (("energy", meter.energy_text), ("power", meter.power_text)):
        rows = backfilled(history_rows(tmp_path, name))
        assert [r.time for r in rows] == stamps, name
        assert [r.value for r in rows] == [float(text(t.replace(tzinfo=None))) for t in stamps]
        times = [r.time for r in history_rows(tmp_path, name)]
        assert len(times) == len(set(times))
    # PostgreSQL: the same, once each (the primary key would refuse a second anyway).
    stored = backfilled(await database_rows(dsn))
    by_key = Counter((r["signal"], r["time"]) for r in stored)
    assert set(by_key.values()) == {1}
    assert sorted(t for s, t in by_key if s == "energy") == stamps
    values = {(r["signal"], r["time"]): r["value"] for r in stored}
    assert [values[("energy", t)] for t in stamps] == [
        float(meter.energy_text(t.replace(tzinfo=None))) for t in stamps
    ]
    # MQTT: one message per period, nothing twice, with the meter's values.
    sent = Counter(datetime.fromisoformat(m["time"]) for m in messages)
    assert sorted(sent) == stamps
    assert set(sent.values()) == {1}
    for message in messages:
        stamp = datetime.fromisoformat(message["time"]).replace(tzinfo=None)
        updates = {u["signal"]: u for u in message["updates"]}
        assert updates["energy"]["value"] == float(meter.energy_text(stamp))
        assert updates["power"]["value"] == float(meter.power_text(stamp))
        assert updates["energy"]["quality"] == ["backfilled"]
    assert PASSWORD not in log.read_text()


async def _true(value: bool) -> bool:
    return value
