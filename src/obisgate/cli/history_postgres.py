"""``obisgate history DEVICE SIGNAL --dsn DSN``: the PostgreSQL side of the history command."""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
from collections.abc import Callable

import click

from obisgate.errors import ConfigError, ObisgateError
from obisgate.gateway.history import HistoryRow
from obisgate.gateway.readings.dsn import describe_dsn

__all__ = ["print_postgres_history"]


def print_postgres_history(
    dsn: str,
    device: str,
    signal: str,
    start: dt.datetime | None,
    end: dt.datetime | None,
    limit: int | None,
    write: Callable[[list[HistoryRow]], None],
) -> None:
    """Print the rows with ``write``; exit 1 when the signal has no row, 2 when the
    database cannot be read (one line, never the password)."""
    from obisgate.gateway.readings.reader import read_postgres  # noqa: PLC0415

    try:
        rows = asyncio.run(
            read_postgres(dsn, device, signal, start, end, limit, newest_first=limit is not None)
        )
    except (ObisgateError, ConfigError) as exc:
        click.echo(f"obisgate: error: {exc}", err=True)
        sys.exit(2)
    if rows is None:
        click.echo(f"obisgate: no history for {device}/{signal} in {describe_dsn(dsn)}", err=True)
        sys.exit(1)
    if limit is not None:
        rows.reverse()
    write(rows)
