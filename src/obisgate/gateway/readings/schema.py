"""The PostgreSQL readings table and its dead letters, created by the writer when missing.

::

    readings(device text, signal text, time timestamptz,   -- primary key
             value double precision,   -- numeric values
             text text,                -- any other value (text, dates, booleans)
             unit text, quality smallint, raw text)

``quality`` holds the :class:`~obisgate.gateway.quality.Quality` bits (0 = valid).
The primary key ``(device, signal, time)`` makes a replayed reading a no-op
(``ON CONFLICT DO NOTHING``). Partitioning:

* plain PostgreSQL: ``PARTITION BY RANGE (time)``, one partition per calendar
  month (UTC), ``readings_pYYYYMM``, created by the writer before it writes the first
  row of that month (under an advisory lock, so several writers may race). Old months
  are dropped with ``DROP TABLE readings_p202501``.
* TimescaleDB (the ``timescaledb`` extension present in the database): the same
  columns in a plain table made a hypertable on ``time``; TimescaleDB then makes
  the chunks, and the writer never creates partitions.

Dead letters: what could not be stored in ``readings`` (refused when cleaned, or
refused by PostgreSQL itself) is kept, with the reason, in::

    readings_rejected(key text PRIMARY KEY,   -- sha256 of reason + data: a replay is a no-op
                      received timestamptz, source text, device text, signal text,
                      time text, reason text, data text)   -- all ASCII

Query it with ``SELECT received, source, device, signal, reason FROM
readings_rejected ORDER BY received``; delete rows once handled.
"""

from __future__ import annotations

import datetime as dt

__all__ = [
    "CREATE_DEAD_LETTERS",
    "CREATE_PARTITIONED",
    "CREATE_PLAIN",
    "CREATE_STAGING",
    "DEAD_LETTERS",
    "HAS_TIMESCALE",
    "INSERT_DEAD_LETTER",
    "IS_PARTITIONED",
    "MAKE_HYPERTABLE",
    "MOVE_STAGED",
    "PARTITION_LOCK",
    "STAGING",
    "TABLE",
    "month_partition",
    "month_start",
]

TABLE = "readings"
STAGING = "readings_staging"
DEAD_LETTERS = "readings_rejected"

_COLUMNS = """
    device text NOT NULL,
    signal text NOT NULL,
    time timestamptz NOT NULL,
    value double precision,
    text text,
    unit text,
    quality smallint NOT NULL DEFAULT 0,
    raw text,
    PRIMARY KEY (device, signal, time)
"""

CREATE_PARTITIONED = f"CREATE TABLE IF NOT EXISTS {TABLE} ({_COLUMNS}) PARTITION BY RANGE (time)"
CREATE_PLAIN = f"CREATE TABLE IF NOT EXISTS {TABLE} ({_COLUMNS})"
MAKE_HYPERTABLE = f"SELECT create_hypertable('{TABLE}', 'time', if_not_exists => TRUE)"
CREATE_STAGING = (
    f"CREATE TEMPORARY TABLE IF NOT EXISTS {STAGING} "
    f"(LIKE {TABLE} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
)
MOVE_STAGED = (
    "INSERT INTO readings SELECT * FROM readings_staging "
    "ON CONFLICT (device, signal, time) DO NOTHING"
)
CREATE_DEAD_LETTERS = f"""CREATE TABLE IF NOT EXISTS {DEAD_LETTERS} (
    key text PRIMARY KEY,
    received timestamptz NOT NULL DEFAULT now(),
    source text NOT NULL,
    device text,
    signal text,
    time text,
    reason text NOT NULL,
    data text NOT NULL
)"""
INSERT_DEAD_LETTER = (
    "INSERT INTO readings_rejected (key, source, device, signal, time, reason, data) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (key) DO NOTHING"
)
HAS_TIMESCALE = "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')"
IS_PARTITIONED = (
    "SELECT EXISTS (SELECT 1 FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid "
    "WHERE c.relname = $1 AND pg_table_is_visible(c.oid))"
)
#: Any constant: serializes partition creation between writers, per database.
PARTITION_LOCK = 620562100


def month_start(time: dt.datetime) -> dt.datetime:
    """The first instant (UTC) of the calendar month of ``time``."""
    utc = time.astimezone(dt.UTC)
    return dt.datetime(utc.year, utc.month, 1, tzinfo=dt.UTC)


def month_partition(start: dt.datetime) -> str:
    """``CREATE TABLE`` for the partition of the month beginning at ``start``."""
    end = dt.datetime(start.year + start.month // 12, start.month % 12 + 1, 1, tzinfo=dt.UTC)
    name = f"{TABLE}_p{start.year:04d}{start.month:02d}"
    return (
        f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF {TABLE} "
        f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
    )
