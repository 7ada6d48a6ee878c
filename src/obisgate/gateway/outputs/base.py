"""The output interface and the fan-out that feeds every output.

An output gets every batch of updates (one batch per readout) through its own
bounded queue and task, so a slow output drops (and counts) batches instead of
stalling polling. Each destination is one module of this package and
implements :class:`Output`; polling does not change when one is added.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from obisgate.gateway.updates import SignalUpdate

__all__ = ["MAX_BATCHES_AT_ONCE", "Fanout", "Output"]

_LOGGER = logging.getLogger(__name__)

#: Most batches handed to one ``publish_many`` call.
MAX_BATCHES_AT_ONCE = 256


class Output(Protocol):
    """A destination for signal updates.

    An output may also define ``async def start(self) -> None`` (open a server,
    connect a client): :meth:`Fanout.start` awaits it (concurrently with the other
    outputs' starts) before the first poll. An
    exception from ``start`` is logged in one line and turns that output off;
    polling and the other outputs go on.

    An output that stores batches may also define ``async def publish_many(self,
    batches: Sequence[Sequence[SignalUpdate]]) -> None``: it then gets every batch
    waiting in its queue in one call, in order, instead of ``publish`` per batch.
    If it raises, the batches are given to ``publish`` one by one.
    """

    name: str

    async def publish(self, updates: Sequence[SignalUpdate]) -> None:
        """Deliver one batch. Exceptions are logged by the fan-out, never fatal."""

    async def aclose(self) -> None:
        """Flush and release resources."""


class Fanout:
    """Delivers each batch to every output through its own bounded queue.

    Args:
        outputs: the destinations.
        queue_size: batches an output may lag behind before batches are dropped.

    Attributes:
        dropped: output name -> batches it lost (queue full, or ``publish`` raised).
        failed: outputs whose ``start`` failed, with the reason.
    """

    def __init__(self, outputs: Sequence[Output], *, queue_size: int = 1000) -> None:
        self.outputs = list(outputs)
        self.dropped: dict[str, int] = {o.name: 0 for o in self.outputs}
        #: Outputs whose ``start`` failed, with the reason.
        self.failed: dict[str, str] = {}
        self._queues: list[asyncio.Queue[Sequence[SignalUpdate] | None]] = [
            asyncio.Queue(queue_size) for _ in self.outputs
        ]
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Start every output that has a ``start`` method, all at once, then one delivery task each.

        The starts run concurrently (a slow one, e.g. an OPC UA server, does not
        delay the others); this returns when every start has ended. An output
        whose ``start`` fails is logged in one line and left out: its batches are
        discarded (not counted as dropped) and it is still closed.
        """
        await asyncio.gather(*(self._start_one(o) for o in self.outputs))
        self._tasks = [
            asyncio.create_task(self._deliver(o, q), name=f"output-{o.name}")
            for o, q in zip(self.outputs, self._queues, strict=True)
        ]

    async def _start_one(self, output: Output) -> None:
        start = getattr(output, "start", None)
        if start is None:
            return
        try:
            await start()
        except Exception as exc:
            _LOGGER.error("output %s did not start: %s", output.name, exc)  # noqa: TRY400
            self.failed[output.name] = str(exc)

    def publish(
        self, updates: Sequence[SignalUpdate], every: Sequence[SignalUpdate] | None = None
    ) -> None:
        """Queue a batch for every output; never blocks.

        ``every``: the batch with the readings a deadband held back too (see
        :mod:`obisgate.gateway.processing.stage`), for the outputs that keep every
        reading (``keeps_every_reading``: the history); the others get ``updates``.
        An empty batch is not queued.
        """
        for output, queue in zip(self.outputs, self._queues, strict=True):
            batch = updates
            if every is not None and getattr(output, "keeps_every_reading", False):
                batch = every
            if not batch:
                continue
            try:
                queue.put_nowait(batch)
            except asyncio.QueueFull:
                self.dropped[output.name] += 1

    async def _deliver(
        self, output: Output, queue: asyncio.Queue[Sequence[SignalUpdate] | None]
    ) -> None:
        """Publish each batch in order until the end marker (``None``).

        An output with ``publish_many`` gets every batch waiting in its queue at
        once (up to :data:`MAX_BATCHES_AT_ONCE`), so one that fell behind catches
        up with one disk transaction instead of one per readout.

        A failing ``publish`` drops (and counts) its batch; when ``publish_many``
        fails, its batches are published one by one, so a bad readout loses only
        itself. So that a broken
        output does not flood the log, the first failure is logged with its
        traceback, then one line each time the exception's type changes, and
        one line with the number of batches lost when a batch goes through
        again (or at close, if it never does).
        """
        many = getattr(output, "publish_many", None)
        failing: type[BaseException] | None = None
        lost = 0
        end = False
        while not end and (batch := await queue.get()) is not None:
            batches = [batch]
            while many is not None and len(batches) < MAX_BATCHES_AT_ONCE and not queue.empty():
                more = queue.get_nowait()
                if more is None:
                    end = True
                    break
                batches.append(more)
            if output.name in self.failed:
                continue
            for exc in await _deliver_batches(output, many, batches):
                if exc is None:
                    if failing is not None:
                        _LOGGER.warning(
                            "output %s works again; %d batches were dropped", output.name, lost
                        )
                        failing, lost = None, 0
                    continue
                self.dropped[output.name] += 1
                lost += 1
                if failing is None:
                    _LOGGER.error(
                        "output %s failed; batches are dropped", output.name, exc_info=exc
                    )
                elif type(exc) is not failing:
                    _LOGGER.error(  # no traceback: the first failure had it
                        "output %s now fails with %s: %s (%d batches dropped so far)",
                        output.name,
                        type(exc).__name__,
                        exc,
                        lost,
                    )
                failing = type(exc)
        if failing is not None:
            _LOGGER.error(
                "output %s still failing at close; %d batches were dropped", output.name, lost
            )

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


async def _deliver_batches(
    output: Output,
    many: Callable[[Sequence[Sequence[SignalUpdate]]], Awaitable[None]] | None,
    batches: list[Sequence[SignalUpdate]],
) -> list[Exception | None]:
    """Publish ``batches`` in order: the outcome of each (``None``: delivered)."""
    if many is not None and len(batches) > 1:
        try:
            await many(batches)
        except Exception:  # noqa: S110 - each batch is tried again, and its error counted
            pass
        else:
            return [None] * len(batches)
    outcomes: list[Exception | None] = []
    for batch in batches:
        try:
            await output.publish(batch)
        except Exception as exc:
            outcomes.append(exc)
        else:
            outcomes.append(None)
    return outcomes
