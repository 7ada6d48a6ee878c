"""The output that keeps the history of signals with ``log > 0`` in SQLite."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from obisgate.gateway.history import HistoryRecord, HistoryStore
from obisgate.gateway.updates import SignalUpdate

__all__ = ["HistoryOutput"]


class HistoryOutput:
    """Appends every logged update to a :class:`HistoryStore`, one transaction per batch.

    Writes run on one worker thread, so the event loop never waits for the disk
    and batches are stored in the order they were read.
    """

    name = "history"

    def __init__(self, store: HistoryStore) -> None:
        self.store = store
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="obisgate-history")

    async def publish(self, updates: Sequence[SignalUpdate]) -> None:
        records = [
            HistoryRecord(u.device, u.signal, u.time, u.value, u.unit, u.quality)
            for u in updates
            if u.log
        ]
        if records:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self._executor, self.store.append, records)

    async def aclose(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self.store.close)
        self._executor.shutdown(wait=True)
