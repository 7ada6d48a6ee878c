"""A real PostgreSQL server (one per module) and a real mosquitto broker for the sink tests."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.services import Mosquitto, Postgres, running_postgres

_NAMES = itertools.count()


@pytest.fixture(scope="module")
def postgres_server() -> Iterator[Postgres]:
    with running_postgres() as server:
        yield server


@pytest.fixture
def database(postgres_server: Postgres) -> str:
    """The DSN of a fresh, empty database on the module's server."""
    import asyncpg  # noqa: PLC0415

    name = f"t{next(_NAMES)}"

    async def create() -> None:
        connection = await asyncpg.connect(postgres_server.dsn())
        try:
            await connection.execute(f"CREATE DATABASE {name}")
        finally:
            await connection.close()

    asyncio.run(create())
    return postgres_server.dsn(database=name)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    server = Mosquitto(tmp_path / "mosquitto", extra_config="max_inflight_messages 200\n")
    server.start()
    try:
        yield server
    finally:
        server.stop()
