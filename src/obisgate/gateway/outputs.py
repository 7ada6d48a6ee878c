"""Where signal updates go: a small interface, and the built-in outputs.

An output gets every batch of updates (one batch per readout) through its own
bounded queue and task, so a slow output drops (and counts) batches instead of
stalling polling. New targets (MQTT, HTTP, SCADA) implement :class:`Output`
and are added to :class:`Fanout`; polling does not change.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol, TextIO

from obisgate.gateway.updates import STATUS_SIGNAL, SignalUpdate

__all__ = ["Fanout", "JsonLinesOutput", "Output", "TableOutput"]

_LOGGER = logging.getLogger(__name__)


class Output(Protocol):
    """A destination for signal updates."""

    name: str

    async def publish(self, updates: Sequence[SignalUpdate]) -> None:
        """Deliver one batch. Exceptions are logged by the fan-out, never fatal."""

    async def aclose(self) -> None:
        """Flush and release resources."""


class JsonLinesOutput:
    """One JSON object per update and line (``device, signal, value, unit, time, quality``).

    Writes happen on a worker thread, so a slow reader of stdout never stalls
    polling; when the reader goes away (a closed pipe) the output stops quietly.
    """

    name = "jsonl"

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stdout
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="obisgate-jsonl")
        self._closed_pipe = False

    async def publish(self, updates: Sequence[SignalUpdate]) -> None:
        if self._closed_pipe:
            return
        dumps = json.dumps
        text = "".join(dumps(u.to_json(), ensure_ascii=False) + "\n" for u in updates)
        await asyncio.get_running_loop().run_in_executor(self._executor, self._write, text)

    def _write(self, text: str) -> None:
        try:
            self._stream.write(text)
            self._stream.flush()
        except BrokenPipeError:
            self._closed_pipe = True
            _LOGGER.info("stdout was closed; JSON lines output stopped")

    async def aclose(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._executor, self._write, "")
        self._executor.shutdown(wait=True)


class TableOutput:
    """A live table of the latest value of every signal, redrawn on a terminal.

    Args:
        stream: the terminal.
        min_interval_s: redraw at most this often.
        clock: monotonic seconds.
    """

    name = "table"

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        min_interval_s: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stream = stream or sys.stdout
        self._latest: dict[tuple[str, str], SignalUpdate] = {}
        self._interval = min_interval_s
        self._clock = clock
        self._drawn_at = float("-inf")

    async def publish(self, updates: Sequence[SignalUpdate]) -> None:
        for u in updates:
            self._latest[(u.device, u.signal)] = u
        if self._clock() - self._drawn_at >= self._interval:
            self._draw()

    def render(self) -> str:
        """The table as text."""
        rows = [("device", "signal", "value", "unit", "quality", "time")]
        for (device, signal), u in sorted(self._latest.items()):
            shown = "(status)" if signal == STATUS_SIGNAL else signal
            value = "" if u.value is None else str(u.value)
            quality = ",".join(u.quality.to_json())
            stamp = u.time.strftime("%H:%M:%S")
            rows.append((device, shown, value, u.unit or "", quality, stamp))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        return "\n".join(
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
            for row in rows
        )

    def _draw(self) -> None:
        self._drawn_at = self._clock()
        self._stream.write("\033[H\033[J" + self.render() + "\n")
        self._stream.flush()

    async def aclose(self) -> None:
        self._draw()


class Fanout:
    """Delivers each batch to every output through its own bounded queue.

    Args:
        outputs: the destinations.
        queue_size: batches an output may lag behind before batches are dropped.
    """

    def __init__(self, outputs: Sequence[Output], *, queue_size: int = 1000) -> None:
        self.outputs = list(outputs)
        self.dropped: dict[str, int] = {o.name: 0 for o in self.outputs}
        self._queues: list[asyncio.Queue[Sequence[SignalUpdate] | None]] = [
            asyncio.Queue(queue_size) for _ in self.outputs
        ]
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        """Start one delivery task per output (needs a running loop)."""
        self._tasks = [
            asyncio.create_task(self._deliver(o, q), name=f"output-{o.name}")
            for o, q in zip(self.outputs, self._queues, strict=True)
        ]

    def publish(self, updates: Sequence[SignalUpdate]) -> None:
        """Queue a batch for every output; never blocks."""
        for output, queue in zip(self.outputs, self._queues, strict=True):
            try:
                queue.put_nowait(updates)
            except asyncio.QueueFull:
                self.dropped[output.name] += 1

    async def _deliver(
        self, output: Output, queue: asyncio.Queue[Sequence[SignalUpdate] | None]
    ) -> None:
        while (batch := await queue.get()) is not None:
            try:
                await output.publish(batch)
            except Exception:
                _LOGGER.exception("output %s failed; batch dropped", output.name)
                self.dropped[output.name] += 1

    async def aclose(self) -> None:
        """Deliver what is queued, then close every output."""
        for queue in self._queues:
            await queue.put(None)
        for task in self._tasks:
            with contextlib.suppress(Exception):
                await task
        for output in self.outputs:
            try:
                await output.aclose()
            except Exception:
                _LOGGER.exception("closing output %s failed", output.name)
