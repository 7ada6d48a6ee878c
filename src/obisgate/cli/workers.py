"""``obisgate run CONFIG --workers N|auto``: N shard processes under one supervisor."""

from __future__ import annotations

import asyncio
import logging
import os
import sys

from obisgate.cli.common import fail
from obisgate.supervisor import Supervisor

__all__ = ["run_workers", "worker_count"]

_LOGGER = logging.getLogger("obisgate.workers")


def worker_count(text: str) -> int:
    """``auto`` (the CPUs this process may use) or a positive integer.

    Raises:
        ValueError: anything else.
    """
    if text.strip().lower() == "auto":
        return (
            len(os.sched_getaffinity(0))
            if hasattr(os, "sched_getaffinity")
            else os.cpu_count() or 1
        )
    count = int(text)
    if count < 1:
        raise ValueError(text)
    return count


def run_workers(config: str, workers: str, options: list[str]) -> None:
    """Run ``obisgate run CONFIG --shard i/N OPTIONS`` for i < N until SIGTERM/SIGINT.

    Exits 2 (one line) for a bad ``workers``; otherwise returns when every
    worker has ended by itself with status 0 (``--duration``) or after a stop signal.
    """
    try:
        count = worker_count(workers)
    except ValueError:
        fail(f"--workers {workers!r}: expected a positive number or auto", 2)
    commands = [
        [sys.executable, "-m", "obisgate", "run", config, "--shard", f"{i}/{count}", *options]
        for i in range(count)
    ]
    _LOGGER.info("starting %d workers", count)
    asyncio.run(Supervisor(commands).run())
