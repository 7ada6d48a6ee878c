"""History of logged signals in an embedded SQLite database.

Durability: the database runs in WAL mode with ``synchronous=NORMAL`` by
default, and every :meth:`HistoryStore.append` call is one transaction. In WAL
mode a commit is a single append to the ``-wal`` file, so a process killed at
any moment (SIGKILL, crash) leaves a consistent database that holds every
committed batch: the written WAL frames are already in the operating system's
cache. ``NORMAL`` skips the fsync at each commit; after a power loss or OS crash
the last batches may be missing, but the database is still never corrupt.
``synchronous="FULL"`` also fsyncs every commit (power-safe durability, at the
price of one disk flush per batch). One transaction per batch (not per row) is
what makes thousands of rows per second cheap.

Schema (version 2, in ``PRAGMA user_version``): ``series(id, device, signal)``
and ``samples(series, ts, kind, value, unit, quality)``; ``ts`` is UTC in
microseconds since the Unix epoch, ``quality`` the :class:`Quality` bits and
``kind`` how to restore the value's Python type. A signal has at most one value
per time: ``(series, ts)`` is unique and :meth:`HistoryStore.append` ignores a
value whose signal and time are stored already (the first one stays), so an
interval that a backfill reads twice, or a batch that is replayed, is stored once.
Version 1 (no unique key) is migrated when a writing store opens it: duplicates
are removed (the first stored stays), then the key is added, in one transaction.

Thread safety: one :class:`HistoryStore` owns one connection, which may be used
from any thread; calls are serialized by an internal lock. From asyncio, call
the methods through ``asyncio.to_thread`` (or a single-thread executor) so the
event loop never waits for the disk. Several stores (processes or threads) may
open the same file: WAL lets readers work while one writer commits; a writer
waits up to ``busy_timeout_s`` for another writer's lock.
"""

from __future__ import annotations

import datetime as dt
import heapq
import logging
import os
import re
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Literal, NamedTuple, Self

from obisgate import ConfigError, ObisgateError
from obisgate.gateway.quality import Quality
from obisgate.gateway.sqlite_rows import chunks, insert_rows, value_rows

__all__ = [
    "Bucket",
    "HistoryGaps",
    "HistoryRecord",
    "HistoryRow",
    "HistoryStore",
    "HistoryValue",
    "HistoryWriteError",
    "Reading",
    "history_files",
]

_LOGGER = logging.getLogger(__name__)

SCHEMA_VERSION = 2

HistoryValue = bool | int | float | str | dt.datetime | dt.date | dt.time | None
"""What a history row can hold (date/time values are naive meter-local times)."""

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_INT64 = (-(2**63), 2**63 - 1)

# kind codes: how a value is stored and restored
_NULL, _INT, _FLOAT, _TEXT, _BOOL, _BIGINT, _DATE, _TIME, _DATETIME = range(9)

# The reading methods take valid (quality 0) numbers (kind _INT or _FLOAT) of one series.
_READING_BEFORE = """
SELECT ts, value FROM samples
WHERE series = (SELECT id FROM series WHERE device = ? AND signal = ?)
  AND ts <= ? AND quality = 0 AND kind IN (1, 2)
ORDER BY ts DESC LIMIT 1
"""
_READING_AFTER = """
SELECT ts, value FROM samples
WHERE series = (SELECT id FROM series WHERE device = ? AND signal = ?)
  AND ts >= ? AND quality = 0 AND kind IN (1, 2)
ORDER BY ts ASC LIMIT 1
"""
_INCREASE = """
WITH target AS (SELECT id FROM series WHERE device = ? AND signal = ?)
SELECT coalesce(sum(max(step, 0)), 0) FROM (
  SELECT value - lag(value) OVER (ORDER BY ts) AS step FROM samples
  WHERE series = (SELECT id FROM target) AND quality = 0 AND kind IN (1, 2) AND ts < ?
    AND ts >= coalesce(
      (SELECT max(ts) FROM samples WHERE series = (SELECT id FROM target)
         AND quality = 0 AND kind IN (1, 2) AND ts <= ?),
      ?)
)
"""
_COUNT_BETWEEN = """
SELECT count(*) FROM samples
WHERE series = (SELECT id FROM series WHERE device = ? AND signal = ?) AND ts >= ? AND ts < ?
"""
_BUCKETS = """
SELECT (ts - ?) / ? AS bucket, avg(ts), avg(value), min(value), max(value), count(*)
FROM samples
WHERE series = (SELECT id FROM series WHERE device = ? AND signal = ?)
  AND ts >= ? AND ts < ? AND quality = 0 AND kind IN (1, 2)
GROUP BY bucket ORDER BY bucket
"""
assert (_INT, _FLOAT) == (1, 2)  # the kinds the statements above name

_SCHEMA = """
CREATE TABLE IF NOT EXISTS series (
    id INTEGER PRIMARY KEY,
    device TEXT NOT NULL,
    signal TEXT NOT NULL,
    UNIQUE (device, signal)
);
CREATE TABLE IF NOT EXISTS samples (
    series INTEGER NOT NULL REFERENCES series(id),
    ts INTEGER NOT NULL,
    kind INTEGER NOT NULL,
    value,
    unit TEXT,
    quality INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS samples_series_ts ON samples (series, ts);
"""

#: Version 1 -> 2: one value per signal and time (the first stored stays).
_MIGRATE_1_TO_2 = """
DELETE FROM samples WHERE EXISTS (
    SELECT 1 FROM samples AS older
    WHERE older.series = samples.series AND older.ts = samples.ts AND older.rowid < samples.rowid
);
DROP INDEX IF EXISTS samples_series_ts;
"""


class HistoryWriteError(ObisgateError):
    """A batch could not be stored (disk full, file read-only, database locked too long)."""

    kind = "history error"


class HistoryRecord(NamedTuple):
    """One value to store.

    Attributes:
        device: device alias.
        signal: signal alias.
        time: when it was read: a timezone-aware ``datetime`` (stored as UTC).
        value: the converted value, or ``None`` (e.g. an INVALID value).
        unit: unit text, or ``None``.
        quality: the value's quality.
    """

    device: str
    signal: str
    time: dt.datetime
    value: HistoryValue
    unit: str | None = None
    quality: Quality = Quality.VALID


class HistoryGaps(NamedTuple):
    """Where a device's history has holes (see :meth:`HistoryStore.gaps`).

    Attributes:
        last: the newest stored time of the signals asked for, or ``None`` (nothing stored).
        holes: ``(a, b)``: consecutive stored times farther apart than asked, oldest
            first; ``b`` is at or after the start asked for, ``a`` may be before it.
    """

    last: dt.datetime | None
    holes: list[tuple[dt.datetime, dt.datetime]]


class HistoryRow(NamedTuple):
    """One stored value, as returned by :meth:`HistoryStore.query`.

    Attributes:
        time: UTC, timezone-aware, microsecond resolution.
        value: as appended (``bool``, ``int``, ``float``, ``str``, ``date``,
            ``time``, ``datetime``, or ``None``).
        unit: unit text or ``None``.
        quality: quality flags.
    """

    time: dt.datetime
    value: HistoryValue
    unit: str | None
    quality: Quality


class Reading(NamedTuple):
    """A valid numeric value of a signal at a time (see :meth:`HistoryStore.reading_at`)."""

    time: dt.datetime
    value: float


class Bucket(NamedTuple):
    """Valid numeric values of one signal in one time bucket (see :meth:`HistoryStore.buckets`).

    Attributes:
        number: the bucket's number from the range's start (``(ts - start) // step``).
        time: the mean time of its values.
        mean: their mean.
        low: the smallest.
        high: the largest.
        size: how many values.
    """

    number: int
    time: dt.datetime
    mean: float
    low: float
    high: float
    size: int


def history_files(path: str | os.PathLike[str]) -> list[Path]:
    """The history file at ``path`` and every shard's file beside it
    (``history.sqlite``, ``history-shard0.sqlite``, ``history-shard1.sqlite`` ...),
    those that exist, in that order: what instances of ``--shard``/``--workers``
    sharing a folder write.
    """
    base = Path(path)
    found = [base] if base.is_file() else []
    pattern = re.compile(re.escape(base.stem) + r"-shard\d+" + re.escape(base.suffix) + "$")
    try:
        beside = sorted(base.parent.iterdir())
    except OSError:
        return found
    found += [p for p in beside if pattern.match(p.name) and p.is_file()]
    return found


def _read_only(exc: sqlite3.Error) -> bool:
    """Whether SQLite failed because it may not write the file or its folder."""
    return str(getattr(exc, "sqlite_errorname", "")).startswith("SQLITE_READONLY")


_Row = tuple[tuple[str, str], int, int, object, str | None, int]
"""A record as :meth:`HistoryStore.append` inserts it: ``((device, signal), ts, kind,
value, unit, quality)``."""


def _micros(time: dt.datetime) -> int:
    if time.tzinfo is None or time.utcoffset() is None:
        raise ValueError(f"history time stamps must be timezone-aware, got {time.isoformat()}")
    delta = time - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _from_micros(micros: int) -> dt.datetime:
    return _EPOCH + dt.timedelta(microseconds=micros)


def _encode(value: HistoryValue) -> tuple[int, object]:
    if value is None:
        return _NULL, None
    if isinstance(value, bool):
        return _BOOL, int(value)
    if isinstance(value, int):
        if _INT64[0] <= value <= _INT64[1]:
            return _INT, value
        return _BIGINT, str(value)
    if isinstance(value, float):
        return _FLOAT, value
    if isinstance(value, str):
        return _TEXT, value
    if isinstance(value, dt.datetime):
        return _DATETIME, value.isoformat()
    if isinstance(value, dt.date):
        return _DATE, value.isoformat()
    if isinstance(value, dt.time):
        return _TIME, value.isoformat()
    raise TypeError(f"cannot store a {type(value).__name__} in the history")


def _decode(kind: int, value: object) -> HistoryValue:
    if kind == _NULL or value is None:
        return None
    if kind == _BOOL:
        return bool(value)
    if kind == _BIGINT:
        return int(str(value))
    if kind == _DATETIME:
        return dt.datetime.fromisoformat(str(value))
    if kind == _DATE:
        return dt.date.fromisoformat(str(value))
    if kind == _TIME:
        return dt.time.fromisoformat(str(value))
    if kind == _FLOAT:
        return float(value)  # type: ignore[arg-type]
    if isinstance(value, int | str | float):
        return value
    return str(value)


class HistoryStore:
    """The history database: append batches, query one signal's values.

    Use as a context manager, or call :meth:`close`.

    Args:
        path: the SQLite file.
        create: create the file (and its directory) when missing; with
            ``False`` a missing file is an error (e.g. for a reading command).
        synchronous: ``"NORMAL"`` (default) or ``"FULL"``: see the module
            docstring.
        busy_timeout_s: how long to wait for another writer's lock.

    Raises:
        ConfigError: the file is missing (``create=False``), cannot be opened,
            cannot be written (``create=True``: a read-only file or directory),
            is not an SQLite database, or was written by a newer schema version.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        create: bool = True,
        synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
        busy_timeout_s: float = 5.0,
    ) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._series: dict[tuple[str, str], int] = {}
        if synchronous not in ("NORMAL", "FULL"):
            raise ConfigError(f"synchronous {synchronous!r}: allowed NORMAL, FULL")
        if not create and not self.path.is_file():
            raise ConfigError(f"no history database at {self.path}")
        try:
            if create:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(
                self.path,
                timeout=busy_timeout_s,
                isolation_level=None,  # explicit BEGIN/COMMIT below
                check_same_thread=False,  # guarded by self._lock
            )
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"cannot open the history database {self.path}: {exc}") from None
        try:
            self._setup(synchronous, create=create)
        except sqlite3.Error as exc:
            self._conn.close()
            if create and _read_only(exc):
                # e.g. a WAL database in a folder it may not write (a read-only mount):
                # SQLite cannot even read it without creating its -shm file.
                raise ConfigError(f"cannot write the history database {self.path}: {exc}") from None
            raise ConfigError(f"{self.path} is not a usable history database: {exc}") from None
        except ConfigError:
            self._conn.close()
            raise

    def _setup(self, synchronous: str, *, create: bool) -> None:
        conn = self._conn
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise ConfigError(
                f"{self.path} has history schema {version}; this obisgate reads up to "
                f"{SCHEMA_VERSION}"
            )
        if not create:
            # A reading store changes nothing: no WAL switch, no tables added to
            # a foreign database. (It still opens read-write: recovering the WAL
            # after a writer was killed needs that.)
            if version == 0:
                raise ConfigError(f"{self.path} is not an obisgate history database")
            return
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            # A write that is rolled back: a read-only file fails now, not at the first batch.
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute(f"PRAGMA user_version={version}")
            finally:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
        except sqlite3.OperationalError as exc:
            raise ConfigError(f"cannot write the history database {self.path}: {exc}") from None
        conn.execute(f"PRAGMA synchronous={synchronous}")
        if version < SCHEMA_VERSION:
            conn.execute("BEGIN IMMEDIATE")
            try:
                removed = 0
                if version == 1:
                    before = conn.total_changes
                    for statement in filter(str.strip, _MIGRATE_1_TO_2.split(";")):
                        conn.execute(statement)
                    removed = conn.total_changes - before
                for statement in filter(str.strip, _SCHEMA.split(";")):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            if version == 1:
                _LOGGER.info(
                    "history %s: schema 1 -> %d (one value per signal and time); "
                    "%d duplicate values removed",
                    self.path,
                    SCHEMA_VERSION,
                    removed,
                )

    # -- context manager ------------------------------------------------------

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection (idempotent). Committed data is on disk already."""
        with self._lock:
            self._conn.close()

    # -- writing --------------------------------------------------------------

    def append(self, records: Iterable[HistoryRecord]) -> int:
        """Store a batch of records in one transaction: all of them or none.

        A record whose signal already has a value at its time (stored earlier, or
        earlier in the batch) is left out: the first value stays.

        Returns:
            The number of rows written (records left out not counted).

        Raises:
            ValueError: a time stamp is naive (no time zone).
            TypeError: a value of a type the history cannot hold.
            HistoryWriteError: the disk failed (full, read-only, locked longer
                than ``busy_timeout_s``); nothing of the batch is stored.
        """
        rows: list[_Row] = []
        add = rows.append
        last_time: dt.datetime | None = None
        micros = 0
        for device, signal, time, value, unit, quality in records:
            if time is not last_time:  # a readout's records share one time: converted once
                micros = _micros(time)
                last_time = time
            # _value_, not .value: Enum's value is a property written in Python.
            if type(value) is float:
                add(((device, signal), micros, _FLOAT, value, unit, quality._value_))
            else:
                add(((device, signal), micros, *_encode(value), unit, quality._value_))
        if not rows:
            return 0
        try:
            return self._insert(rows)
        except sqlite3.Error as exc:
            raise HistoryWriteError(
                f"cannot store {len(rows)} readings in {self.path}: {exc}"
            ) from exc

    def _insert(self, rows: list[_Row]) -> int:
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                ids = self._series_ids({row[0] for row in rows})
                # Multi-row statements, not executemany: a few GIL hand-overs per
                # transaction instead of one per row (see obisgate.gateway.sqlite_rows).
                written = insert_rows(
                    conn,
                    "INSERT OR IGNORE INTO samples (series, ts, kind, value, unit, quality)",
                    [
                        (ids[key], ts, kind, value, unit, quality)
                        for key, ts, kind, value, unit, quality in rows
                    ],
                    6,
                )
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                self._series.clear()  # ids created in the rolled-back transaction are gone
                raise
            return written

    def _series_ids(self, keys: set[tuple[str, str]]) -> dict[tuple[str, str], int]:
        """The id of every ``(device, signal)`` in ``keys`` (and of those cached before),
        creating the missing series.

        New series get their ids in ``(device, signal)`` order, not in the set's (hash)
        order: a device's signals, and devices whose aliases sort together, get adjacent
        ids, so the newest rows of series written together share leaf pages of the
        ``(series, ts)`` index. In hash order, 150 000 series created at once (a first
        scan in one batch, a bulk import) scattered each readout's rows over the whole
        index: a commit of 100 readouts dirtied ~290 pages instead of ~50 (a third of
        the history's CPU at 50 000 devices).
        """
        cache = self._series
        # Only the batch's keys are looked up: ``keys - cache.keys()`` copied the whole
        # cache into a set on every write (14 ms per append at 50 000 devices).
        new = sorted(k for k in keys if k not in cache)
        if not new:
            return cache
        # A first scan creates thousands of series: a few statements per chunk, not two
        # per series (each statement hands the GIL over; see sqlite_rows).
        conn = self._conn
        insert_rows(conn, "INSERT OR IGNORE INTO series (device, signal)", new, 2)
        for start, end in chunks(conn, len(new), 3):
            part = new[start:end]
            values = [v for i, (device, signal) in enumerate(part) for v in (i, device, signal)]
            lookup = (
                "SELECT group_concat(v.column1 || ':' || s.id) "  # noqa: S608 - placeholders only
                f"FROM (VALUES {value_rows(3, len(part))}) AS v "
                "JOIN series AS s ON s.device = v.column2 AND s.signal = v.column3"
            )
            (found,) = conn.execute(lookup, values).fetchone()
            for pair in found.split(","):  # "index:id", both integers
                index, _, series = pair.partition(":")
                cache[part[int(index)]] = int(series)
        return cache

    # -- reading --------------------------------------------------------------

    def query(
        self,
        device: str,
        signal: str,
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
        limit: int | None = None,
        *,
        newest_first: bool = False,
    ) -> list[HistoryRow]:
        """The stored values of one signal, in time order.

        Args:
            device: device alias.
            signal: signal alias.
            start: first time included (timezone-aware), or from the beginning.
            end: first time excluded (timezone-aware), or up to the end.
            limit: at most this many rows (counted from the oldest, or from the
                newest with ``newest_first``).
            newest_first: return the rows newest first.

        Raises:
            ValueError: naive ``start``/``end`` or a negative ``limit``.
            sqlite3.Error: the database cannot be read.
        """
        if limit is not None and limit < 0:
            raise ValueError("limit must not be negative")
        sql = (
            "SELECT ts, kind, value, unit, quality FROM samples "
            "JOIN series ON series.id = samples.series "
            "WHERE series.device = ? AND series.signal = ?"
        )
        params: list[object] = [device, signal]
        if start is not None:
            sql += " AND ts >= ?"
            params.append(_micros(start))
        if end is not None:
            sql += " AND ts < ?"
            params.append(_micros(end))
        order = "DESC" if newest_first else "ASC"
        sql += f" ORDER BY ts {order}, samples.rowid {order}"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        with self._lock:
            rows = self._conn.execute(sql, params).fetchall()
        return [
            HistoryRow(_from_micros(ts), _decode(kind, value), unit, Quality(quality))
            for ts, kind, value, unit, quality in rows
        ]

    def gaps(
        self,
        device: str,
        signals: Iterable[str],
        *,
        since: dt.datetime,
        longer_than: dt.timedelta,
    ) -> HistoryGaps:
        """Holes in the stored times of some signals of one device (any of them counts).

        Args:
            device: device alias.
            signals: signal aliases; a time stored for any of them is a stored time.
            since: holes ending before this are not looked for (timezone-aware).
            longer_than: two consecutive stored times farther apart than this are a hole.

        Raises:
            ValueError: a naive ``since``.
            sqlite3.Error: the database cannot be read.
        """
        names = sorted(set(signals))
        start = _micros(since)
        limit = longer_than // dt.timedelta(microseconds=1)
        marks = ",".join("?" * len(names))
        with self._lock:
            conn = self._conn
            ids = [
                int(row[0])
                for row in conn.execute(
                    f"SELECT id FROM series WHERE device = ? AND signal IN ({marks})",  # noqa: S608 - only ? marks
                    (device, *names),
                )
            ]
            if not ids:
                return HistoryGaps(None, [])
            # Each series in index order (an index-only scan), merged here: several
            # times faster than DISTINCT and a window function over their union.
            runs = []
            last: int | None = None
            for series in ids:
                newest, before = conn.execute(
                    "SELECT max(ts), (SELECT max(ts) FROM samples WHERE series = ? AND ts < ?) "
                    "FROM samples WHERE series = ?",
                    (series, start, series),
                ).fetchone()
                if newest is not None:
                    last = newest if last is None else max(last, newest)
                runs.append(
                    [
                        int(row[0])
                        for row in conn.execute(
                            "SELECT ts FROM samples WHERE series = ? AND ts >= ? ORDER BY ts",
                            (series, start if before is None else before),
                        )
                    ]
                )
        found: list[tuple[int, int]] = []
        previous: int | None = None
        for ts in heapq.merge(*runs):
            if previous is not None and ts - previous > limit:
                found.append((previous, ts))
            previous = ts
        return HistoryGaps(
            None if last is None else _from_micros(last),
            [(_from_micros(a), _from_micros(b)) for a, b in found],
        )

    def reading_at(
        self, device: str, signal: str, at: dt.datetime, *, after: bool = False
    ) -> Reading | None:
        """The register's value at ``at``: the last valid numeric value stored at or before
        it (with ``after``: the first at or after it), or ``None``.

        Raises:
            ValueError: a naive ``at``.
            sqlite3.Error: the database cannot be read.
        """
        sql = _READING_AFTER if after else _READING_BEFORE
        with self._lock:
            row = self._conn.execute(sql, (device, signal, _micros(at))).fetchone()
        return None if row is None else Reading(_from_micros(row[0]), float(row[1]))

    def increase(self, device: str, signal: str, start: dt.datetime, end: dt.datetime) -> float:
        """How much a cumulative register rose from ``start`` to ``end`` (excluded), counting
        only rises between consecutive valid values (from the last one before ``start``): a
        register that went back to zero (a replaced meter) adds what it counted since.

        Raises:
            ValueError: a naive ``start``/``end``.
            sqlite3.Error: the database cannot be read.
        """
        lo, hi = _micros(start), _micros(end)
        with self._lock:
            (total,) = self._conn.execute(_INCREASE, (device, signal, hi, lo, lo)).fetchone()
        return float(total)

    def count_between(self, device: str, signal: str, start: dt.datetime, end: dt.datetime) -> int:
        """How many values (any quality) of one signal are stored from ``start`` to ``end``
        (excluded).

        Raises:
            ValueError: a naive ``start``/``end``.
            sqlite3.Error: the database cannot be read.
        """
        with self._lock:
            row = self._conn.execute(_COUNT_BETWEEN, (device, signal, _micros(start), _micros(end)))
            return int(row.fetchone()[0])

    def buckets(
        self, device: str, signal: str, start: dt.datetime, end: dt.datetime, step: dt.timedelta
    ) -> list[Bucket]:
        """The valid numeric values from ``start`` to ``end`` (excluded) in buckets of
        ``step``, oldest first; buckets without such a value are left out.

        Raises:
            ValueError: a naive ``start``/``end``, or a ``step`` under a microsecond.
            sqlite3.Error: the database cannot be read.
        """
        micros = step // dt.timedelta(microseconds=1)
        if micros < 1:
            raise ValueError("a bucket is at least a microsecond")
        lo = _micros(start)
        with self._lock:
            rows = self._conn.execute(
                _BUCKETS, (lo, micros, device, signal, lo, _micros(end))
            ).fetchall()
        return [
            Bucket(int(b), _from_micros(round(t)), float(mean), float(low), float(high), int(n))
            for b, t, mean, low, high, n in rows
        ]

    def series(self) -> list[tuple[str, str]]:
        """Every ``(device, signal)`` that has been stored, sorted."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT device, signal FROM series ORDER BY device, signal"
            ).fetchall()
        return [(str(d), str(s)) for d, s in rows]

    def has_series(self, device: str, signal: str) -> bool:
        """Whether anything was ever stored for this device and signal."""
        with self._lock:
            row = self._conn.execute(
                "SELECT 1 FROM series WHERE device = ? AND signal = ?", (device, signal)
            ).fetchone()
        return row is not None

    def count(self) -> int:
        """The number of stored rows (all signals)."""
        with self._lock:
            return int(self._conn.execute("SELECT count(*) FROM samples").fetchone()[0])
