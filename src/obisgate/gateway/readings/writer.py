"""Write readings into PostgreSQL: COPY into a staging table, one de-duplicating INSERT,
and dead letters for what PostgreSQL refuses.

One :class:`PostgresWriter` owns one asyncpg connection. :meth:`PostgresWriter.write`
is one transaction: the rows are copied (binary COPY) into a temporary staging table
and moved with ``INSERT … ON CONFLICT (device, signal, time) DO NOTHING``, so a
batch is stored completely or not at all, and rows already stored (replays from a
gateway's outbox, a redelivery after a sink restart) are skipped. The staging table
empties itself at commit.

:meth:`PostgresWriter.store` is what the gateway's ``[postgres]`` output and
``obisgate sink postgres`` call: it writes a batch, and when PostgreSQL refuses a
row (bad data that cleaning did not catch, a value the column cannot take) it splits
the batch in halves until the refused rows are alone, stores every other row, and
puts each refused row into the dead-letter table with PostgreSQL's reason, together
with the readings refused before (:class:`~obisgate.gateway.readings.rows.Refused`). So one
bad row never blocks the rest, and is never retried for ever. Failures of the
database itself (connection lost, server shutting down, disk full) are raised: the
caller keeps the batch and retries on a new connection.

The prepared-statement cache is off (``statement_cache_size=0``) so the writer
also works behind pgbouncer in transaction mode.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from typing import Any, NamedTuple

from obisgate.errors import DatabaseError
from obisgate.gateway.outputs.extras import require_extra
from obisgate.gateway.readings import schema as sql
from obisgate.gateway.readings.dsn import describe_dsn, describe_failure
from obisgate.gateway.readings.rows import COLUMNS, Refused, Row, ascii_text

__all__ = ["PostgresWriter", "Stored", "database_errors", "refusal_errors"]


def _asyncpg() -> Any:
    return require_extra("asyncpg", "postgres", "postgres")


def database_errors() -> tuple[type[BaseException], ...]:
    """The exceptions that mean "the database failed" (retry later), not a bug.

    ``InternalClientError`` is asyncpg's "the connection is in a state it cannot
    go on from" (an operation cut by a lost connection).
    """
    asyncpg = _asyncpg()
    return (
        asyncpg.PostgresError,
        asyncpg.InterfaceError,
        asyncpg.InternalClientError,
        OSError,
        TimeoutError,
    )


def refusal_errors() -> tuple[type[BaseException], ...]:
    """The exceptions that mean "PostgreSQL (or its driver) refuses this data".

    Data exceptions (SQLSTATE class 22: bad encoding, out of range ...), integrity
    violations (class 23), program limits (class 54: an index row too large), and
    the driver's own refusal to encode a value (``ValueError``, ``OverflowError``,
    ``TypeError``). Checked before :func:`database_errors`, which covers them.
    """
    asyncpg = _asyncpg()
    return (
        asyncpg.DataError,
        asyncpg.IntegrityConstraintViolationError,
        asyncpg.ProgramLimitExceededError,
        ValueError,
        OverflowError,
        TypeError,
    )


class Stored(NamedTuple):
    """The outcome of :meth:`PostgresWriter.store`.

    Attributes:
        inserted: rows that were new in the readings table.
        stored: rows in the readings table now (new or already there).
        dead_letters: readings that went to the dead-letter table (refused before,
            or refused by PostgreSQL), new or already there.
        reason: the first dead letter's reason (for the caller's log line), if any.
    """

    inserted: int
    stored: int
    dead_letters: int
    reason: str | None = None


def _dead_letter_key(refused: Refused) -> str:
    text = "\0".join(
        (refused.device or "", refused.signal or "", refused.time or "", refused.reason)
    )
    return hashlib.sha256(f"{text}\0{refused.data}".encode()).hexdigest()


def _refused_row(row: Row, reason: str) -> Refused:
    return Refused(
        ascii_text(row.device),
        ascii_text(row.signal),
        row.time.isoformat(),
        ascii_text(reason),
        ascii_text(row._asdict()),
    )


class PostgresWriter:
    """Stores batches of :class:`~obisgate.gateway.readings.rows.Row` in the readings table.

    Use :meth:`connect`; close with :meth:`aclose`.
    """

    def __init__(self, connection: Any, dsn: str, *, partitioned: bool) -> None:
        self._connection = connection
        self._dsn = dsn
        self._partitioned = partitioned
        self._months: set[dt.datetime] = set()

    @classmethod
    async def connect(
        cls, dsn: str, *, password: str | None = None, timeout_s: float = 10.0
    ) -> PostgresWriter:
        """Connect, create the readings and dead-letter tables when missing, prepare
        the staging table.

        Args:
            dsn: ``postgresql://user@host:port/db`` (libpq's ``PGPASSWORD`` and
                ``~/.pgpass`` apply when it holds no password).
            password: the password, when it is not in ``dsn``.
            timeout_s: connection timeout.

        Raises:
            DatabaseError: the database is unreachable, refuses the login (the
                message names user, host, port and database, never the password),
                or the tables cannot be created.
        """
        asyncpg = _asyncpg()
        failures: tuple[type[BaseException], ...] = (*database_errors(), ValueError)
        try:
            connection = await asyncpg.connect(
                dsn, password=password, timeout=timeout_s, statement_cache_size=0
            )
        except failures as exc:
            reason = describe_failure(exc, dsn, password)
            raise DatabaseError(f"PostgreSQL {describe_dsn(dsn)}: {reason}") from None
        try:
            partitioned = await cls._create_tables(connection)
            await connection.execute(sql.CREATE_STAGING)
        except database_errors() as exc:
            await connection.close()
            raise DatabaseError(
                f"PostgreSQL {describe_dsn(dsn)}: cannot create the {sql.TABLE} table: "
                f"{describe_failure(exc, dsn, password)}"
            ) from None
        return cls(connection, dsn, partitioned=partitioned)

    @staticmethod
    async def _create_tables(connection: Any) -> bool:
        """Create the tables (a hypertable where TimescaleDB is installed); partitioned?"""
        async with connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock($1)", sql.PARTITION_LOCK)
            if await connection.fetchval(sql.HAS_TIMESCALE):
                await connection.execute(sql.CREATE_PLAIN)
                await connection.execute(sql.MAKE_HYPERTABLE)
            else:
                await connection.execute(sql.CREATE_PARTITIONED)
            await connection.execute(sql.CREATE_DEAD_LETTERS)
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
            the driver's errors (:func:`refusal_errors`, :func:`database_errors`):
            nothing of the batch was stored.
        """
        if not rows:
            return 0
        if self._partitioned:
            await self._ensure_partitions(rows)
        async with self._connection.transaction():
            await self._connection.copy_records_to_table(sql.STAGING, records=rows, columns=COLUMNS)
            status: str = await self._connection.execute(sql.MOVE_STAGED)
        return int(status.rsplit(" ", 1)[-1])

    async def store(
        self, rows: Sequence[Row], refused: Sequence[Refused] = (), *, source: str
    ) -> Stored:
        """Store ``rows``; each row PostgreSQL refuses, and ``refused``, as dead letters.

        A batch that PostgreSQL refuses is split in halves until each refused row is
        alone (each part its own transaction); a row refused alone is tried once
        more after its month's partition was made again (someone may have dropped
        it), then becomes a dead letter with PostgreSQL's reason. Dead letters are
        written with ``source`` (e.g. the topic or the gateway) in one transaction,
        after the rows.

        Raises:
            the driver's :func:`database_errors` (the database failed, not the
            data): some parts may be stored already; storing the same batch again
            is harmless (rows and dead letters are de-duplicated).
        """
        refusals = refusal_errors()
        inserted = stored = 0
        dead = list(refused)
        parts: list[Sequence[Row]] = [rows] if rows else []
        while parts:
            part = parts.pop()
            try:
                inserted += await self.write(part)
                stored += len(part)
                continue
            except refusals as exc:
                self._months.clear()  # a partition dropped meanwhile looks like a bad row
                if len(part) > 1:
                    middle = len(part) // 2
                    parts += [part[middle:], part[:middle]]
                    continue
                first = exc
            try:
                inserted += await self.write(part)
                stored += 1
            except refusals:
                reason = f"refused by PostgreSQL: {describe_failure(first, self._dsn)}"
                dead.append(_refused_row(part[0], reason))
        if dead:
            await self._dead_letters(dead, source)
        return Stored(inserted, stored, len(dead), dead[0].reason if dead else None)

    async def _dead_letters(self, dead: Sequence[Refused], source: str) -> None:
        records = [
            (
                _dead_letter_key(d),
                ascii_text(source),
                d.device,
                d.signal,
                d.time,
                ascii_text(d.reason),
                d.data,
            )
            for d in dead
        ]
        async with self._connection.transaction():
            await self._connection.executemany(sql.INSERT_DEAD_LETTER, records)

    async def aclose(self) -> None:
        """Close the connection (quietly when it is already broken: then it is cut)."""
        try:
            await self._connection.close(timeout=5)
        except Exception:  # a connection in any broken state: cut it
            self._connection.terminate()
