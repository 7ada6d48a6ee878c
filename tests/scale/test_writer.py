"""The PostgreSQL writer against a real PostgreSQL: poison rows become dead letters, the
rest is stored, replays are no-ops."""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg
import pytest

from obisgate.errors import DatabaseError
from obisgate.gateway.readings.rows import Refused, Row
from obisgate.gateway.readings.writer import PostgresWriter
from tests.services import Postgres

pytestmark = pytest.mark.integration

T0 = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


def row(n: int, **changes: Any) -> Row:
    base = Row("m", f"s{n}", T0 + dt.timedelta(seconds=n), float(n), None, "kWh", 0, None)
    return base._replace(**changes)


async def fetch(dsn: str, query: str) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(dsn)
    try:
        return list(await connection.fetch(query))
    finally:
        await connection.close()


async def test_rows_postgresql_refuses_become_dead_letters_and_the_rest_is_stored(
    database: str,
) -> None:
    """Rows that were never cleaned (as a bug or another writer could make them): one
    batch, three poison rows among 40; the writer finds them and stores the 37 others."""
    rows = [row(n) for n in range(40)]
    rows[3] = row(3, text="pad\x00\x00")  # PostgreSQL: invalid byte sequence 0x00
    rows[17] = row(17, text="x\ud800")  # the driver: cannot encode as UTF-8
    rows[31] = row(31, value=10**400)  # the driver: too large for a double
    before = Refused("m", "bad", "nope", "time 'nope' is not ISO 8601", '{"time": "nope"}')
    writer = await PostgresWriter.connect(database)
    try:
        stored = await writer.store(rows, [before], source="test")
        again = await writer.store(rows, [before], source="test")  # a replay
    finally:
        await writer.aclose()
    assert (stored.inserted, stored.stored, stored.dead_letters) == (37, 37, 4)
    assert stored.reason is not None
    assert (again.inserted, again.stored, again.dead_letters) == (0, 37, 4)
    kept = {r["signal"] for r in await fetch(database, "SELECT signal FROM readings")}
    assert kept == {f"s{n}" for n in range(40)} - {"s3", "s17", "s31"}
    dead = await fetch(
        database, "SELECT source, device, signal, time, reason, data FROM readings_rejected"
    )
    assert len(dead) == 4  # the replay added none
    by_signal = {d["signal"]: d for d in dead}
    assert set(by_signal) == {"s3", "s17", "s31", "bad"}
    assert "0x00" in by_signal["s3"]["reason"]
    assert "pad\\u0000" in by_signal["s3"]["data"]
    assert by_signal["s3"]["time"] == (T0 + dt.timedelta(seconds=3)).isoformat()
    assert "surrogates" in by_signal["s17"]["reason"]
    assert "too large" in by_signal["s31"]["reason"]
    assert by_signal["bad"]["reason"] == "time 'nope' is not ISO 8601"
    assert {d["source"] for d in dead} == {"test"}
    assert all(d["data"].isascii() for d in dead)


async def test_a_partition_dropped_meanwhile_is_made_again_not_a_dead_letter(
    database: str,
) -> None:
    writer = await PostgresWriter.connect(database)
    try:
        await writer.store([row(0)], source="test")
        connection = await asyncpg.connect(database)
        try:
            await connection.execute("DROP TABLE readings_p202612")
        finally:
            await connection.close()
        stored = await writer.store([row(1), row(2)], source="test")
    finally:
        await writer.aclose()
    assert (stored.inserted, stored.dead_letters) == (2, 0)
    assert len(await fetch(database, "SELECT 1 FROM readings")) == 2


async def test_a_down_database_is_raised_not_dead_lettered(
    postgres_server: Postgres, database: str
) -> None:
    writer = await PostgresWriter.connect(database)
    postgres_server.stop()
    try:
        with pytest.raises((OSError, asyncpg.PostgresError, asyncpg.InterfaceError)):
            await writer.store([row(0)], source="test")
    finally:
        await writer.aclose()
        postgres_server.start()
    assert await fetch(database, "SELECT 1 FROM readings_rejected") == []


async def test_connect_error_is_typed_without_the_password(postgres_server: Postgres) -> None:
    with pytest.raises(DatabaseError, match="password authentication failed") as info:
        await PostgresWriter.connect(postgres_server.dsn(password="nope-nope"))
    assert "nope-nope" not in str(info.value)
    dsn = postgres_server.dsn().replace(f":{Postgres.password}@", "@")
    with pytest.raises(DatabaseError, match="password authentication failed") as info:
        await PostgresWriter.connect(dsn, password="Also-Wrong-3")
    assert "Also-Wrong-3" not in str(info.value)
    writer = await PostgresWriter.connect(dsn, password=Postgres.password)
    await writer.aclose()
