"""JSON lines on stdout: one object per update."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TextIO

from obisgate.gateway.outputs.base import Output, publish_each
from obisgate.gateway.outputs.health import HealthRecord, OutputHealth, OutputState
from obisgate.gateway.updates import SignalUpdate

__all__ = ["JsonLinesOutput"]

_LOGGER = logging.getLogger(__name__)


class JsonLinesOutput(Output):
    """One JSON object per update and line (``device, signal, value, unit, time, quality``).

    Writes happen on a worker thread, so a slow reader of stdout never stalls
    polling; when the reader goes away (a closed pipe) the output stops quietly.
    """

    name = "jsonl"

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stdout
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="obisgate-jsonl")
        self._closed_pipe = False
        self._lines = 0
        self._health = HealthRecord()

    async def start(self) -> None:
        """Nothing to open: stdout is there."""
        self._health.set(OutputState.RUNNING)

    async def publish(self, updates: Sequence[SignalUpdate]) -> None:
        """Write one line per update (on the worker thread)."""
        if self._closed_pipe:
            return
        dumps = json.dumps
        text = "".join(dumps(u.to_json(), ensure_ascii=False) + "\n" for u in updates)
        await asyncio.get_running_loop().run_in_executor(self._executor, self._write, text)
        self._lines += len(updates)

    async def publish_many(self, batches: Sequence[Sequence[SignalUpdate]]) -> None:
        """Each batch in order (see :func:`publish_each`)."""
        await publish_each(self, batches)

    def health(self) -> OutputHealth:
        """Running until stdout is closed by its reader (then off, with that reason)."""
        return self._health.health(counters={"lines_total": self._lines})

    def _write(self, text: str) -> None:
        try:
            self._stream.write(text)
            self._stream.flush()
        except BrokenPipeError:
            self._closed_pipe = True
            self._health.set(OutputState.OFF, "stdout was closed")
            _LOGGER.info("stdout was closed; JSON lines output stopped")

    async def aclose(self) -> None:
        """Flush stdout and stop the worker thread."""
        await asyncio.get_running_loop().run_in_executor(self._executor, self._write, "")
        self._executor.shutdown(wait=True)
        if not self._closed_pipe:
            self._health.set(OutputState.CLOSED)
