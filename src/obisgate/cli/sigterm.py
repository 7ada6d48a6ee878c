"""SIGTERM ends a one-shot command with a message, like Ctrl-C, not silently."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable
from typing import TypeVar

from obisgate.cli.common import fail

__all__ = ["EXIT_TERMINATED", "stop_on_sigterm"]

T = TypeVar("T")

#: 128 + SIGTERM, what a shell reports for a process ended by it.
EXIT_TERMINATED = 128 + signal.SIGTERM


async def stop_on_sigterm(work: Awaitable[T], what: str) -> T:
    """Await ``work``; on SIGTERM cancel it (ports close, traces flush) and exit
    with ``obisgate: error: terminated (SIGTERM) during WHAT`` and status 143.

    Where signal handlers cannot be installed (not the main thread) ``work``
    simply runs.
    """
    task = asyncio.ensure_future(work)
    loop = asyncio.get_running_loop()
    terminated = asyncio.Event()

    def on_sigterm() -> None:
        terminated.set()
        task.cancel()

    installed = False
    with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):
        loop.add_signal_handler(signal.SIGTERM, on_sigterm)
        installed = True
    try:
        return await task
    except asyncio.CancelledError:
        if terminated.is_set():
            fail(f"terminated (SIGTERM) during {what}", EXIT_TERMINATED)
        raise
    finally:
        if installed:
            loop.remove_signal_handler(signal.SIGTERM)
