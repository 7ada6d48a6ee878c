"""The PostgreSQL output: every readout into the readings table, through a durable outbox.

This is the billing path: no broker between the meter and the database.
:meth:`PostgresOutput.publish_many` only appends each readout, as the readout
message (:mod:`obisgate.gateway.readings.message`), to an outbox of its own
(:mod:`~obisgate.gateway.outputs.outbox`: SQLite beside the history,
``<history>.postgres-outbox.sqlite``, one transaction per call) on a worker
thread; it never waits for the database. One writer task (asyncpg, loaded lazily
from the ``postgres`` extra):

1. connects (:class:`~obisgate.gateway.readings.writer.PostgresWriter`: creates the
   readings and dead-letter tables when missing); on failure it waits
   (:class:`~obisgate.backoff.Backoff`, jittered, 1 s doubling to 30 s) and tries
   again, for ever;
2. reads the oldest readouts from the outbox, up to ``batch_rows`` rows, turns
   them into rows exactly as ``obisgate sink postgres`` does
   (:func:`~obisgate.gateway.readings.rows.parse_message`: cleaned; what cannot be stored
   is refused) and stores them (:meth:`~obisgate.gateway.readings.writer.PostgresWriter.store`:
   COPY into a staging table, ``INSERT … ON CONFLICT (device, signal, time) DO
   NOTHING``, dead letters for rows PostgreSQL refuses) and commits;
3. only then deletes those readouts from the outbox.

A ``kill -9`` at any moment loses nothing that reached the outbox: readouts
stored but not yet deleted are stored again after the restart, and the primary
key makes that a no-op (no duplicates, no gaps). Failures (database unreachable,
wrong password, a full disk for the outbox) are logged in one line when they
start and when they end, and shown in the output's health; polling and the other
outputs go on. Passwords never appear in logs or health.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from obisgate.backoff import Backoff
from obisgate.errors import ConfigError, DatabaseError
from obisgate.gateway.outputs.base import Output
from obisgate.gateway.outputs.extras import require_extra
from obisgate.gateway.outputs.health import HealthRecord, OutputHealth, OutputState
from obisgate.gateway.outputs.outbox import DropLog, Outbox, OutboxMessage, outbox_path
from obisgate.gateway.outputs.peer_errors import PeerErrorLog
from obisgate.gateway.readings.dsn import describe_dsn, describe_failure
from obisgate.gateway.readings.message import readout_payload
from obisgate.gateway.readings.rows import Refused, Row, parse_message
from obisgate.gateway.updates import STATUS_SIGNAL, SignalUpdate

if TYPE_CHECKING:
    from pathlib import Path

    from obisgate.gateway.config_models import GatewayConfig
    from obisgate.gateway.outputs.context import OutputContext
    from obisgate.gateway.outputs.postgres.config import PostgresConfig
    from obisgate.gateway.readings.writer import PostgresWriter

__all__ = ["PostgresOutput", "create"]

_LOGGER = logging.getLogger(__name__)

T = TypeVar("T")

#: Readouts read from the outbox at a time.
_READ_BATCH = 1000


def create(
    config: GatewayConfig, section: PostgresConfig, context: OutputContext
) -> PostgresOutput:
    """The PostgreSQL output of ``section``; its outbox lives beside the history file.

    Raises:
        ConfigError: the ``postgres`` extra (asyncpg) is not installed.
    """
    require_extra("asyncpg", "postgres", "postgres")
    history = context.history_path or config.storage.path
    return PostgresOutput(
        section,
        outbox_file=outbox_path(history, "postgres"),
        synchronous=config.storage.synchronous,
        source="gateway" if context.shard is None else f"gateway {context.shard}",
    )


class PostgresOutput(Output):
    """Stores readouts in PostgreSQL; see the module docstring.

    Args:
        section: the ``[postgres]`` section.
        outbox_file: the outbox's SQLite file.
        synchronous: the outbox's SQLite ``synchronous`` (NORMAL or FULL).
        source: names this gateway in the dead-letter table.
        backoff_s: first and largest ceiling of the jittered wait between
            connection attempts.
        connect: opens a writer (``dsn``, ``password``); tests inject failures here.
    """

    name = "postgres"
    #: One outbox transaction per 0.1 s run of readouts instead of one per readout.
    lingers = True
    #: The live outputs show a reading only after it is in the outbox (``Fanout``).
    durable = True
    #: Backfilled intervals are readings like any other: ``ON CONFLICT DO NOTHING``
    #: stores each (device, signal, time) once.
    takes_backfill = True

    def __init__(
        self,
        section: PostgresConfig,
        *,
        outbox_file: Path,
        synchronous: Any = "NORMAL",
        source: str = "gateway",
        backoff_s: tuple[float, float] = (1.0, 30.0),
        connect: Callable[[str, str | None], Any] | None = None,
    ) -> None:
        self.section = section
        self.outbox_file = outbox_file
        self.source = source
        self._synchronous = synchronous
        self._backoff = backoff_s
        self._connect = connect or _connect
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="obisgate-postgres-outbox")
        self._outbox: Outbox | None = None
        self._task: asyncio.Task[None] | None = None
        self._new_rows = asyncio.Event()
        self._drained = asyncio.Event()
        self._closing = asyncio.Event()
        self._connected = False
        self._record = HealthRecord()
        self._logged_error: str | None = None
        self._store_error: str | None = None
        self._full = DropLog(_LOGGER, "postgres", "readouts")
        self._dead_log = PeerErrorLog(_LOGGER, "postgres: dead letters", window_s=60.0)
        self._dropped = 0
        self._stored = 0
        self._inserted = 0
        self._dead_letters = 0
        self._secret: str | None = None

    # -- the Output interface ---------------------------------------------------

    async def start(self) -> None:
        """Open the outbox and start the writer; never waits for the database.

        Raises:
            ConfigError: the password cannot be read, or the outbox cannot be opened.
        """
        try:
            await self._io(self.section.resolve_password)
        except ConfigError as exc:
            self._record.set(OutputState.OFF, str(exc))
            raise
        self._outbox = await self._io(
            partial(
                Outbox,
                self.outbox_file,
                max_rows=self.section.outbox_max_rows,
                synchronous=self._synchronous,
            )
        )
        if self._outbox.depth:
            _LOGGER.info(
                "postgres: %d readouts from an earlier run wait in the outbox", self._outbox.depth
            )
        self._record.set(OutputState.CONNECTING)
        self._task = asyncio.create_task(self._run(), name="postgres-writer")

    async def publish(self, updates: Sequence[SignalUpdate]) -> None:
        """Append the readout to the outbox (a disk write, never the network)."""
        await self.publish_many([updates])

    async def publish_many(self, batches: Sequence[Sequence[SignalUpdate]]) -> None:
        """Append several readouts to the outbox in one transaction."""
        if self._outbox is None:
            return
        messages = []
        for updates in batches:
            kept = (
                [u for u in updates if u.log or u.signal == STATUS_SIGNAL]
                if self.section.only_logged
                else updates
            )
            if kept:
                messages.append((kept[0].device, readout_payload(kept), 1, False))
        if not messages:
            return
        try:
            dropped = await self._io(self._outbox.append, messages)
        except sqlite3.Error as exc:
            self._dropped += len(messages)
            reason = f"cannot store in the outbox {self.outbox_file}: {exc}"
            if self._store_error != reason:
                _LOGGER.error("postgres: %s; readouts are dropped until it can", reason)  # noqa: TRY400
            self._store_error = self._record.last_error = reason
            return
        if self._store_error is not None:
            _LOGGER.warning("postgres: the outbox takes readouts again")
            self._store_error = None
        self._dropped += dropped
        self._full.appended(dropped, self.section.outbox_max_rows)
        self._drained.clear()
        self._new_rows.set()

    async def aclose(self) -> None:
        """Store what the database takes within a few seconds, then stop.

        What is not stored stays in the outbox for the next run.
        """
        if self._task is not None:
            if self._connected:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._drained.wait(), 5.0)
            self._closing.set()
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._outbox is not None:
            await self._io(self._outbox.close)
        self._full.end()
        self._executor.shutdown(wait=True)
        self._record.set(OutputState.CLOSED)

    def health(self) -> OutputHealth:
        """Connected or not, the outbox's depth, what was stored, dropped, refused (no secrets)."""
        return self._record.health(
            address=describe_dsn(self.section.dsn),
            counters={
                "outbox_depth": 0 if self._outbox is None else self._outbox.depth,
                "dropped_total": self._dropped,
                "outbox_dropped_total": self._full.total,
                "stored_total": self._stored,
                "inserted_total": self._inserted,
                "dead_letters_total": self._dead_letters,
            },
        )

    # -- the writer -------------------------------------------------------------

    async def _io(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def _run(self) -> None:
        backoff = Backoff(*self._backoff)
        failures: tuple[type[BaseException], ...] = (
            *_database_errors(),
            DatabaseError,
            ConfigError,
        )
        while not self._closing.is_set():
            writer: PostgresWriter | None = None
            try:
                password = await self._io(self.section.resolve_password)
                self._secret = None if password is None else password.get_secret_value()
                writer = await self._connect(self.section.dsn, self._secret)
                self._up()
                backoff.reset()
                await self._drain(writer)
            except failures as exc:
                self._down(exc)
            except Exception as exc:  # a bug: say so once, then go on as after a failure
                _LOGGER.exception("postgres: unexpected failure; retrying")
                self._down(exc)
            finally:
                if writer is not None:
                    await writer.aclose()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), backoff.next_delay())

    def _up(self) -> None:
        depth = 0 if self._outbox is None else self._outbox.depth
        where = describe_dsn(self.section.dsn)
        if self._logged_error is not None:
            _LOGGER.warning("postgres: connected again to %s (%d readouts waiting)", where, depth)
        else:
            _LOGGER.info("postgres: connected to %s (%d readouts waiting)", where, depth)
        self._connected = True
        self._record.set(OutputState.RUNNING)
        self._record.last_error = self._logged_error = None

    def _down(self, exc: BaseException) -> None:
        reason = describe_failure(exc, self.section.dsn, self._secret)
        was_connected = self._connected
        self._connected = False
        self._record.set(OutputState.DISCONNECTED, reason)
        where = describe_dsn(self.section.dsn)
        if was_connected:
            _LOGGER.warning(
                "postgres: connection to %s lost (%s); readouts wait in the outbox", where, reason
            )
        elif reason != self._logged_error:
            _LOGGER.warning("postgres: cannot connect to %s: %s; retrying", where, reason)
        self._logged_error = reason

    async def _drain(self, writer: PostgresWriter) -> None:
        """Store the outbox's readouts in order, for ever (until the connection fails)."""
        outbox = self._outbox
        assert outbox is not None
        after = 0
        while True:
            self._new_rows.clear()
            pending = await self._io(outbox.read, after, _READ_BATCH)
            if not pending:
                self._drained.set()
                await self._new_rows.wait()
                continue
            while pending:
                taken, rows, refused = self._batch(pending)
                pending = pending[len(taken) :]
                stored = await writer.store(rows, refused, source=self.source)
                self._stored += stored.stored
                self._inserted += stored.inserted
                self._dead_letters += stored.dead_letters
                if stored.reason is not None:
                    self._dead_log.report(
                        self.source, f"{stored.dead_letters} in a batch, e.g. {stored.reason}"
                    )
                after = taken[-1].seq
                try:
                    await self._io(outbox.delete_through, after)
                except sqlite3.Error as exc:
                    # Stored again after a restart: a no-op thanks to the primary key.
                    self._record.last_error = f"outbox: stored readouts not removed: {exc}"

    def _batch(
        self, pending: Sequence[OutboxMessage]
    ) -> tuple[list[OutboxMessage], list[Row], list[Refused]]:
        """The first readouts of ``pending`` holding up to ``batch_rows`` rows (at least one)."""
        taken: list[OutboxMessage] = []
        rows: list[Row] = []
        refused: list[Refused] = []
        for message in pending:
            more, bad = parse_message(message.payload)
            if taken and len(rows) + len(more) > self.section.batch_rows:
                break
            taken.append(message)
            rows += more
            refused += bad
        return taken, rows, refused


def _database_errors() -> tuple[type[BaseException], ...]:
    from obisgate.gateway.readings.writer import database_errors  # noqa: PLC0415

    return database_errors()


async def _connect(dsn: str, password: str | None) -> PostgresWriter:
    from obisgate.gateway.readings.writer import PostgresWriter  # noqa: PLC0415

    return await PostgresWriter.connect(dsn, password=password)
