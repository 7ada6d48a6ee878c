"""Write readings into PostgreSQL: COPY into a staging table, then one de-duplicating INSERT.

One :class:`PostgresWriter` owns one asyncpg connection. :meth:`PostgresWriter.write`
is one transaction: the rows are copied (binary COPY) into a temporary staging table
and moved with ``INSERT … ON CONFLICT (device, signal, time) DO NOTHING``, so a
batch is stored completely or not at all, and rows already stored (replays from a
gateway's outbox, a redelivery after a sink restart) are skipped. The staging table
empties itself at commit.

The prepared-statement cache is off (``statement_cache_size=0``) so the writer
also works behind pgbouncer in transaction mode.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from typing import Any

from obisgate.gateway.outputs.extras import require_extra
from obisgate.sink import SinkError
from obisgate.sink import schema as sql
from obisgate.sink.dsn import describe_dsn, describe_failure
from obisgate.sink.rows import COLUMNS, Row

__all__ = ["PostgresWriter", "database_errors"]

_LOGGER = logging.getLogger("obisgate.sink")


def _asyncpg() -> Any:
    return require_extra("asyncpg", "postgres", "sink postgres")


def database_errors() -> tuple[type[BaseException], ...]:
    """The exceptions that mean "the database failed" (retry later), not a bug."""
    asyncpg = _asyncpg()
    return (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)


class PostgresWriter:
    """Stores batches of :class:`~obisgate.sink.rows.Row` in the readings table.

    Use :meth:`connect`; close with :meth:`aclose`.
    """

    def __init__(self, connection: Any, dsn: str, *, partitioned: bool) -> None:
        self._connection = connection
        self._dsn = dsn
        self._partitioned = partitioned
        self._months: set[dt.datetime] = set()

    @classmethod
    async def connect(cls, dsn: str, *, timeout_s: float = 10.0) -> PostgresWriter:
        """Connect, create the readings table when missing, prepare the staging table.

        Raises:
            SinkError: the database is unreachable, refuses the login (the message
                names user, host, port and database, never the password), or the
                table cannot be created.
        """
        asyncpg = _asyncpg()
        failures: tuple[type[BaseException], ...] = (*database_errors(), ValueError)
        try:
            connection = await asyncpg.connect(dsn, timeout=timeout_s, statement_cache_size=0)
        except failures as exc:
            raise SinkError(
                f"PostgreSQL {describe_dsn(dsn)}: {describe_failure(exc, dsn)}"
            ) from None
        try:
            partitioned = await cls._create_table(connection)
            await connection.execute(sql.CREATE_STAGING)
        except database_errors() as exc:
            await connection.close()
            raise SinkError(
                f"PostgreSQL {describe_dsn(dsn)}: cannot create the {sql.TABLE} table: "
                f"{describe_failure(exc, dsn)}"
            ) from None
        return cls(connection, dsn, partitioned=partitioned)

    @staticmethod
    async def _create_table(connection: Any) -> bool:
        """Create the table (a hypertable where TimescaleDB is installed); partitioned?"""
        async with connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock($1)", sql.PARTITION_LOCK)
            if await connection.fetchval(sql.HAS_TIMESCALE):
                await connection.execute(sql.CREATE_PLAIN)
                await connection.execute(sql.MAKE_HYPERTABLE)
            else:
                await connection.execute(sql.CREATE_PARTITIONED)
            return bool(await connection.fetchval(sql.IS_PARTITIONED, sql.TABLE))

    async def _ensure_partitions(self, rows: Sequence[Row]) -> None:
        months = {sql.month_start(row.time) for row in rows} - self._months
        if not months:
            return
        async with self._connection.transaction():
            await self._connection.execute("SELECT pg_advisory_xact_lock($1)", sql.PARTITION_LOCK)
            for month in sorted(months):
                await self._connection.execute(sql.month_partition(month))
        self._months |= months

    async def write(self, rows: Sequence[Row]) -> int:
        """Store ``rows`` in one transaction; the number of rows that were new.

        Raises:
            the driver's errors (:func:`database_errors`): nothing of the batch
            was stored; the caller retries, on a new writer if the connection broke.
        """
        if not rows:
            return 0
        if self._partitioned:
            await self._ensure_partitions(rows)
        async with self._connection.transaction():
            await self._connection.copy_records_to_table(sql.STAGING, records=rows, columns=COLUMNS)
            status: str = await self._connection.execute(sql.MOVE_STAGED)
        return int(status.rsplit(" ", 1)[-1])

    async def aclose(self) -> None:
        """Close the connection (quietly when it is already broken)."""
        try:
            await self._connection.close(timeout=5)
        except database_errors():
            self._connection.terminate()
