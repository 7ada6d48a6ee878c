"""A durable, bounded FIFO of outgoing messages in its own SQLite file.

The MQTT and PostgreSQL outputs each append every message to an outbox of their
own before anything is sent, and delete a message only after the broker
acknowledged it / the database committed it, so neither an outage nor a
``kill -9`` of the gateway loses a message that was appended: after a restart
the rows still in the file are sent again, in order. A message acknowledged just
before a crash but not yet deleted is sent twice (duplicates are allowed, gaps
never).

Durability: WAL mode and one transaction per :meth:`Outbox.append` call, as
:mod:`obisgate.gateway.history`. With ``synchronous="NORMAL"`` a killed process
loses nothing committed; ``"FULL"`` also survives a power loss.

Sequence numbers (``seq``) only grow (``AUTOINCREMENT``), also across restarts
and after the table was emptied, so a reader's "sent up to" position is never
overtaken by reused numbers.

Bound: at most ``max_rows`` rows; an append beyond that drops the oldest rows
in the same transaction and returns how many it dropped. :class:`DropLog` turns
those counts into one log line when dropping starts and one with the count when
it ends (an episode), and keeps the total for the output's health.

Thread safety: one connection guarded by a lock; call from one worker thread
(the event loop must never wait for the disk).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, NamedTuple

from obisgate.errors import ConfigError
from obisgate.gateway.sqlite_rows import insert_rows

__all__ = ["AckedPrefix", "DropLog", "Outbox", "OutboxMessage", "outbox_path"]

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    qos INTEGER NOT NULL,
    retain INTEGER NOT NULL
);
"""


class OutboxMessage(NamedTuple):
    """One stored message.

    Attributes:
        seq: its position (grows with every append).
        topic, payload, qos, retain: as published.
    """

    seq: int
    topic: str
    payload: bytes
    qos: int
    retain: bool


def outbox_path(history_path: str | os.PathLike[str], name: str) -> Path:
    """The outbox file of output ``name`` beside the history file.

    ``/var/lib/obisgate/obisgate-history.sqlite`` ->
    ``/var/lib/obisgate/obisgate-history.mqtt-outbox.sqlite``.
    """
    path = Path(history_path)
    return path.with_name(f"{path.stem}.{name}-outbox.sqlite")


class Outbox:
    """The outbox file: append, read in order, delete what was acknowledged.

    Args:
        path: the SQLite file (created with its folder when missing).
        max_rows: the bound (at least 1).
        synchronous: ``NORMAL`` or ``FULL`` (see the module docstring).

    Raises:
        ConfigError: the file cannot be opened or created, is not an SQLite
            database, or holds something else than an outbox.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        max_rows: int,
        synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
    ) -> None:
        if max_rows < 1:
            raise ValueError("max_rows must be at least 1")
        self.path = Path(path)
        self.max_rows = max_rows
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"cannot open the outbox {self.path}: {exc}") from None
        try:
            self._setup(synchronous)
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise ConfigError(f"cannot use the outbox {self.path}: {exc}") from None
        self.depth: int = self._conn.execute("SELECT count(*) FROM outbox").fetchone()[0]
        """Rows in the file (read from any thread; updated by the methods)."""

    def _setup(self, synchronous: str) -> None:
        conn = self._conn
        conn.execute("PRAGMA busy_timeout = 5000")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        if version != SCHEMA_VERSION and (version != 0 or tables - {"sqlite_sequence"}):
            raise sqlite3.DatabaseError(
                f"not an obisgate outbox (schema {version}, tables {', '.join(sorted(tables))})"
            )
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        conn.executescript(_SCHEMA)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def append(self, messages: Sequence[tuple[str, bytes, int, bool]]) -> int:
        """Store ``(topic, payload, qos, retain)`` messages in one transaction.

        Returns:
            How many of the oldest rows were dropped to stay within ``max_rows``.

        Raises:
            sqlite3.Error: the write failed (disk full, I/O error); nothing of
                this call was stored.
        """
        if not messages:
            return 0
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                # Multi-row statements: a few GIL hand-overs per transaction, not one
                # per message (see obisgate.gateway.sqlite_rows).
                insert_rows(
                    conn,
                    "INSERT INTO outbox (topic, payload, qos, retain)",
                    [(t, p, q, int(r)) for t, p, q, r in messages],
                    4,
                )
                excess = self.depth + len(messages) - self.max_rows
                dropped = 0
                if excess > 0:
                    dropped = conn.execute(
                        "DELETE FROM outbox WHERE seq IN "
                        "(SELECT seq FROM outbox ORDER BY seq LIMIT ?)",
                        (excess,),
                    ).rowcount
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:  # SQLite already rolled back after e.g. SQLITE_FULL
                    conn.execute("ROLLBACK")
                raise
            self.depth += len(messages) - dropped
            return dropped

    def read(self, after: int, limit: int) -> list[OutboxMessage]:
        """Up to ``limit`` messages with ``seq > after``, oldest first."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT seq, topic, payload, qos, retain FROM outbox WHERE seq > ? "
                "ORDER BY seq LIMIT ?",
                (after, limit),
            ).fetchall()
        return [OutboxMessage(s, t, bytes(p), q, bool(r)) for s, t, p, q, r in rows]

    def delete_through(self, seq: int) -> None:
        """Delete every message with ``seq`` up to and including ``seq`` (acknowledged).

        Raises:
            sqlite3.Error: the write failed; the rows stay (and are sent again).
        """
        with self._lock:
            deleted = self._conn.execute("DELETE FROM outbox WHERE seq <= ?", (seq,)).rowcount
            self.depth -= deleted

    def close(self) -> None:
        """Close the file (idempotent)."""
        with self._lock:
            self._conn.close()


class AckedPrefix:
    """Which rows may be deleted when acknowledgements arrive in any order.

    Rows are registered in the order they are sent; :meth:`ack` returns the
    highest ``seq`` such that it and every row sent before it are acknowledged
    (``None`` while the oldest sent row is still unacknowledged).
    """

    def __init__(self) -> None:
        self._order: deque[int] = deque()
        self._done: set[int] = set()

    def __len__(self) -> int:
        """Rows sent and not yet part of the acknowledged prefix."""
        return len(self._order)

    @property
    def oldest(self) -> int | None:
        """The oldest row sent and not yet acknowledged (``None``: none)."""
        return self._order[0] if self._order else None

    def sent(self, seq: int) -> None:
        """Register a row as sent (``seq`` larger than every earlier one)."""
        self._order.append(seq)

    def ack(self, seq: int) -> int | None:
        """Mark ``seq`` acknowledged; the new end of the acknowledged prefix, if it grew."""
        self._done.add(seq)
        end = None
        while self._order and self._order[0] in self._done:
            end = self._order.popleft()
            self._done.discard(end)
        return end


class DropLog:
    """What an outbox dropped when full: logged once per episode, with the count.

    An episode starts with the first append that drops rows (one warning) and
    ends with the next append that drops none, or at close (one warning with the
    number of rows dropped in it). :attr:`total` counts every dropped row since
    the start (the output's health exports it).

    Args:
        logger: the output's logger.
        what: the output's name, first in each line (``"mqtt"``).
        unit: what a row is (``"messages"``, ``"readouts"``).
    """

    def __init__(self, logger: logging.Logger, what: str, unit: str) -> None:
        self.logger = logger
        self.what = what
        self.unit = unit
        #: Rows dropped since the start.
        self.total = 0
        self._episode = 0

    def appended(self, dropped: int, max_rows: int) -> None:
        """Account for one append that dropped ``dropped`` rows (0: none)."""
        if dropped:
            if not self._episode:
                self.logger.warning(
                    "%s: outbox full (%d %s): dropping the oldest until it drains",
                    self.what,
                    max_rows,
                    self.unit,
                )
            self._episode += dropped
            self.total += dropped
        else:
            self.end()

    def end(self) -> None:
        """End the episode, if any: one line with the number dropped in it."""
        if self._episode:
            self.logger.warning(
                "%s: outbox no longer full; %d %s were dropped",
                self.what,
                self._episode,
                self.unit,
            )
            self._episode = 0
