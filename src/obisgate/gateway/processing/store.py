"""The processing stage's memory across restarts, in a small SQLite file of its own.

What is kept, per signal: the last reading a guard accepted (so that a lower
total or a spike right after a restart is still caught) and the previous
reading of a ``delta`` / ``rate`` source (so that the first delta after a
restart covers the downtime). One row per signal and kind, overwritten.

The file is ``<history>.guards.sqlite`` beside the history (with ``--shard`` its
name carries the shard's suffix like the history's). It is not a table of the
history: the history exists only when a signal logs and refuses foreign tables.
The stage writes the rows that changed every 30 s and at shutdown; a
``kill -9`` loses at most those 30 s, which only makes the guards compare
with an older (for a total: lower) reading, never a wrong one.

Values are stored as JSON numbers (integers keep every digit), times as ISO 8601.

Thread safety: one connection guarded by a lock; call from a worker thread.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from obisgate.errors import ConfigError

__all__ = ["KINDS", "StateRow", "StateStore", "state_path"]

SCHEMA_VERSION = 1

#: ``guard``: a guard's last accepted reading; ``previous``: a delta / rate source's.
KINDS = ("guard", "previous")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS last_reading (
    device TEXT NOT NULL,
    signal TEXT NOT NULL,
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    time TEXT NOT NULL,
    PRIMARY KEY (device, signal, kind)
) WITHOUT ROWID;
"""

StateRow = tuple[str, str, str, int | float, dt.datetime]
"""``(device, signal, kind, value, time)``."""


def state_path(history_path: str | os.PathLike[str]) -> Path:
    """The state file beside the history file.

    ``/var/lib/obisgate/obisgate-history.sqlite`` ->
    ``/var/lib/obisgate/obisgate-history.guards.sqlite``.
    """
    path = Path(history_path)
    return path.with_name(f"{path.stem}.guards.sqlite")


class StateStore:
    """The state file: load everything once, then upsert what changed.

    Args:
        path: the SQLite file (created with its folder when missing).
        synchronous: ``NORMAL`` or ``FULL``, as the history's.

    Raises:
        ConfigError: the file cannot be opened or created, is not an SQLite
            database, or holds something else.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
    ) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"cannot open the guard state {self.path}: {exc}") from None
        try:
            self._setup(synchronous)
        except sqlite3.Error as exc:
            self._conn.close()
            raise ConfigError(f"cannot use the guard state {self.path}: {exc}") from None

    def _setup(self, synchronous: str) -> None:
        conn = self._conn
        conn.execute("PRAGMA busy_timeout = 5000")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        if version != SCHEMA_VERSION and (version != 0 or tables):
            raise sqlite3.DatabaseError(
                f"not an obisgate guard state (schema {version}, tables "
                f"{', '.join(sorted(tables)) or 'none'})"
            )
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        conn.executescript(_SCHEMA)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def load(self) -> list[StateRow]:
        """Every row; a row that does not parse (edited by hand) is left out.

        Raises:
            sqlite3.Error: the read failed.
        """
        with self._lock:
            rows = self._conn.execute(
                "SELECT device, signal, kind, value, time FROM last_reading"
            ).fetchall()
        found: list[StateRow] = []
        for device, signal, kind, value, time in rows:
            try:
                number = json.loads(value)
                when = dt.datetime.fromisoformat(time)
            except (TypeError, ValueError):
                continue
            if (
                kind in KINDS
                and isinstance(number, int | float)
                and not isinstance(number, bool)
                and when.tzinfo is not None
            ):
                found.append((device, signal, kind, number, when))
        return found

    def save(self, rows: Iterable[StateRow]) -> None:
        """Insert or replace ``rows`` in one transaction.

        Raises:
            sqlite3.Error: the write failed (disk full, I/O error); nothing was stored.
        """
        values = [
            (device, signal, kind, json.dumps(value), time.isoformat())
            for device, signal, kind, value, time in rows
        ]
        if not values:
            return
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(
                    "INSERT OR REPLACE INTO last_reading (device, signal, kind, value, time) "
                    "VALUES (?, ?, ?, ?, ?)",
                    values,
                )
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def close(self) -> None:
        """Close the file (idempotent)."""
        with self._lock:
            self._conn.close()
