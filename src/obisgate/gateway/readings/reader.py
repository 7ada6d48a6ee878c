"""Read one signal's history back from the PostgreSQL readings table (``obisgate history --dsn``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from obisgate.errors import DatabaseError
from obisgate.gateway.history import HistoryRow
from obisgate.gateway.quality import Quality
from obisgate.gateway.readings.dsn import describe_dsn, describe_failure
from obisgate.gateway.readings.schema import TABLE
from obisgate.gateway.readings.writer import database_errors

__all__ = ["read_postgres"]

_QUERY = (
    "SELECT time, value, text, unit, quality FROM readings "
    "WHERE device = $1 AND signal = $2 "
    "AND ($3::timestamptz IS NULL OR time >= $3) AND ($4::timestamptz IS NULL OR time < $4) "
    "ORDER BY time {order} LIMIT $5"
)


def _row(record: Any) -> HistoryRow:
    value = record["value"] if record["value"] is not None else record["text"]
    return HistoryRow(
        time=record["time"].astimezone(dt.UTC),
        value=value,
        unit=record["unit"],
        quality=Quality(record["quality"]),
    )


async def read_postgres(
    dsn: str,
    device: str,
    signal: str,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    limit: int | None = None,
    *,
    newest_first: bool = False,
) -> list[HistoryRow] | None:
    """The stored values of ``device``/``signal`` in ``[start, end)``, oldest first
    (newest first with ``newest_first``), at most ``limit``; ``None`` when the table
    holds no row at all for that signal.

    Numbers come back as ``float``, other values as the text that was stored.

    Raises:
        DatabaseError: the database is unreachable, refuses the login, or has no
            readings table (the message never holds the password).
    """
    from obisgate.gateway.outputs.extras import require_extra  # noqa: PLC0415

    asyncpg = require_extra("asyncpg", "postgres", "history --dsn")
    where = describe_dsn(dsn)
    try:
        connection = await asyncpg.connect(dsn, timeout=10, statement_cache_size=0)
    except (*database_errors(), ValueError) as exc:  # type: ignore[misc]
        raise DatabaseError(f"PostgreSQL {where}: {describe_failure(exc, dsn)}") from None
    try:
        if not await connection.fetchval("SELECT to_regclass($1) IS NOT NULL", TABLE):
            raise DatabaseError(f"PostgreSQL {where}: no {TABLE} table (nothing was stored yet)")
        query = _QUERY.format(order="DESC" if newest_first else "ASC")
        records = await connection.fetch(query, device, signal, start, end, limit)
        if not records and not await connection.fetchval(
            "SELECT EXISTS (SELECT 1 FROM readings WHERE device = $1 AND signal = $2)",
            device,
            signal,
        ):
            return None
    except database_errors() as exc:
        raise DatabaseError(f"PostgreSQL {where}: {describe_failure(exc, dsn)}") from None
    finally:
        await connection.close()
    return [_row(record) for record in records]
