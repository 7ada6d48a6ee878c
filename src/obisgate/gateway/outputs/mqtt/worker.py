"""The one thread the MQTT output's disk work runs on, so the event loop never waits for SQLite."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

__all__ = ["DiskWorker"]

T = TypeVar("T")


class DiskWorker:
    """Runs blocking calls one after another on a thread of its own.

    The outbox's connection is used from this thread only (see
    :mod:`~obisgate.gateway.outputs.outbox`); reading a password file or
    loading TLS files runs here too.
    """

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="obisgate-mqtt-outbox")

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on the worker thread; its exception propagates."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def shutdown(self) -> None:
        """Wait for the call under way, then stop the thread."""
        self._executor.shutdown(wait=True)
