"""The output that keeps the history of signals with ``log > 0`` in SQLite."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import ClassVar

from obisgate.gateway.history import HistoryRecord, HistoryStore, HistoryWriteError
from obisgate.gateway.outputs.base import Output
from obisgate.gateway.outputs.health import HealthRecord, OutputHealth, OutputState
from obisgate.gateway.updates import SignalUpdate

__all__ = ["HistoryOutput"]

_LOGGER = logging.getLogger(__name__)


class HistoryOutput(Output):
    """Appends every logged update to a :class:`HistoryStore`, one transaction per call
    (per batch, or per run of batches that waited in the fan-out's queue).

    Writes run on one worker thread, so the event loop never waits for the disk
    and batches are stored in the order they were read.

    A failing disk (full, locked, read-only) is logged once when writes start
    failing and once when they work again (or at close), with the number of
    readings not stored; polling and the other outputs go on meanwhile.

    It keeps every reading, also those a deadband (``publish = "change"``) holds
    back from the other outputs: the local history is the full record.

    Backfilled batches (intervals of a meter's load profile, read after a gap) are
    stored like any other; a value whose signal and time are stored already is left
    out (:meth:`HistoryStore.append`), so an interval is stored once.

    Attributes:
        not_stored: readings lost since writes started failing (0 when they work).
    """

    name = "history"
    #: Gets the readings a deadband held back too (see ``Fanout.publish``).
    keeps_every_reading: ClassVar[bool] = True
    #: One transaction per 0.1 s run of readouts instead of one per readout.
    lingers = True
    #: The live outputs show a reading only after it is stored here (``Fanout``).
    durable = True
    takes_backfill = True

    def __init__(self, store: HistoryStore) -> None:
        self.store = store
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="obisgate-history")
        self.not_stored = 0
        self.failing = False
        self._stored = 0
        self._health = HealthRecord()

    async def start(self) -> None:
        """Nothing to open: the store was opened when the output was built."""
        self._health.set(OutputState.RUNNING)

    async def publish(self, updates: Sequence[SignalUpdate]) -> None:
        """Store the batch's logged updates in one transaction."""
        await self.publish_many([updates])

    def health(self) -> OutputHealth:
        """Running, or failing while the disk refuses writes (with the readings lost)."""
        return self._health.health(
            address=str(self.store.path),
            counters={"stored_total": self._stored, "not_stored": self.not_stored},
        )

    async def publish_many(self, batches: Sequence[Sequence[SignalUpdate]]) -> None:
        """Store the logged updates of several readouts in one transaction."""
        records = [
            HistoryRecord(u.device, u.signal, u.time, u.value, u.unit, u.quality)
            for updates in batches
            for u in updates
            if u.log
        ]
        if not records:
            return
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor, self.store.append, records)
        except HistoryWriteError as exc:
            if not self.failing:
                self.failing = True
                _LOGGER.error("history: writes fail, readings are not stored: %s", exc)  # noqa: TRY400
            self.not_stored += len(records)
            self._health.set(OutputState.FAILING, str(exc))
            return
        self._stored += len(records)
        self._health.set(OutputState.RUNNING)
        if self.failing:
            _LOGGER.warning(
                "history: writes work again; %d readings were not stored", self.not_stored
            )
            self.failing = False
            self.not_stored = 0

    async def aclose(self) -> None:
        """Report readings not stored, then close the store."""
        if self.failing:
            _LOGGER.error("history: %d readings were not stored (writes failing)", self.not_stored)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self.store.close)
        self._executor.shutdown(wait=True)
        self._health.set(OutputState.CLOSED)
