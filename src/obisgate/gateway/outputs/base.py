"""The output contract and the fan-out that feeds every output.

An output gets every batch of updates (one batch per readout) through its own
bounded queue and task, so a slow output drops (and counts) batches instead of
stalling polling. A durable store's queue is much longer (:data:`STORE_BACKLOG`):
a store that stalls for a while (a locked file, a slow disk, a saturated event
loop) coalesces what waits into bigger transactions afterwards instead of losing
it; only beyond that bound does it drop (and count) batches too.

Each destination implements :class:`Output` (every method is abstract, so
``mypy --strict`` refuses an output with a missing or misspelt one); polling does
not change when one is added.

Durable before visible: a batch reaches the outputs that show or serve values
live only after every durable store has finished with it (:mod:`.release`).
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import ClassVar

from obisgate.gateway.outputs.health import OutputHealth, OutputState, utc_now
from obisgate.gateway.outputs.release import ReleaseOrder, Waiting
from obisgate.gateway.updates import SignalUpdate

__all__ = [
    "MAX_BATCHES_AT_ONCE",
    "STORE_BACKLOG",
    "STORE_LINGER_S",
    "STORE_RUN",
    "Fanout",
    "Output",
    "PartlyPublished",
    "publish_each",
]

_LOGGER = logging.getLogger(__name__)

#: Most batches handed to one ``publish_many`` call of a live output.
MAX_BATCHES_AT_ONCE = 256

#: Most batches handed to one ``publish_many`` call of a durable store (one
#: transaction): a store that fell behind catches up in runs this long. Bounded
#: because the output builds its rows (history records, MQTT payloads) on the event
#: loop, 0.1-0.3 ms per readout: one run holds the loop for a few tenths of a second
#: at most, and only while a store catches up.
STORE_RUN = 1024

#: Most batches a durable store may have waiting (queued, in memory) before the
#: fan-out drops and counts them: 20 s at 1 000 readouts/s. Memory while it is full:
#: about 0.2 kB per update (17 MB for readouts of 4 updates, ~0.2 GB of 50). Within
#: it, nothing is lost to a store that stalls for a while.
STORE_BACKLOG = 20_000

#: How long the gateway's fan-out lets batches gather for an output that
#: :attr:`~Output.lingers` (one disk transaction per run instead of one per readout).
STORE_LINGER_S = 0.1


class Output(abc.ABC):
    """A destination for signal updates.

    Attributes:
        name: the output's name in logs, counters and health (a network
            output's section name).
        keeps_every_reading: ``True`` for an output that also gets the readings
            a deadband (``publish = "change"``) holds back: the SQLite history, the
            full local record. Every other output gets only the published ones.
        lingers: whether the fan-out may let batches gather for up to its
            ``linger_s`` before handing them to :meth:`publish_many` (a store
            that writes one transaction per call sets it; an output that shows
            or serves values live leaves it off and never waits).
        durable: the output keeps what it is given across a ``kill -9`` once
            :meth:`publish_many` has returned (the SQLite history, the MQTT and
            PostgreSQL outboxes). The fan-out hands a batch to the other outputs
            only when every durable one has finished with it (see :class:`Fanout`).
        takes_backfill: the output also gets the backfilled batches (intervals of
            a meter's load profile read after a gap, each update marked
            :attr:`~obisgate.gateway.quality.Quality.BACKFILLED` and stamped with
            its own past time): set by the outputs that keep a history or forward
            it to one (the SQLite history, PostgreSQL, MQTT's backfill topic). The
            others (live views, SCADA servers) never see them, so an old interval
            never shows as a current value.
    """

    name: str
    keeps_every_reading: ClassVar[bool] = False
    lingers: ClassVar[bool] = False
    durable: ClassVar[bool] = False
    takes_backfill: ClassVar[bool] = False

    @abc.abstractmethod
    async def start(self) -> None:
        """Open what the output needs (a server, a client, a file) before the first poll.

        :meth:`Fanout.start` awaits every output's start concurrently. An exception
        is logged in one line and turns this output off (its health is
        :attr:`OutputState.OFF`); polling and the other outputs go on.
        """

    @abc.abstractmethod
    async def publish(self, updates: Sequence[SignalUpdate]) -> None:
        """Deliver one batch (one readout). An exception loses (and counts) this
        batch only; it is logged by the fan-out, never fatal."""

    @abc.abstractmethod
    async def publish_many(self, batches: Sequence[Sequence[SignalUpdate]]) -> None:
        """Deliver several batches that waited in the queue, in order.

        An output that can store them at once (one disk transaction) does so,
        all or none: when it raises, the fan-out hands each batch to
        :meth:`publish` alone, so a bad readout loses only itself. An output
        that delivers them one by one uses :func:`publish_each`, which raises
        :class:`PartlyPublished` with the outcome of each instead.
        """

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Flush and release resources; called once, also when :meth:`start` failed."""

    @abc.abstractmethod
    def health(self) -> OutputHealth:
        """The output's state for the API, the metrics and the web view (never a secret).

        Cheap and non-blocking: called on the event loop at every request.
        """


class PartlyPublished(Exception):
    """``publish_many`` delivered its batches one by one and some of them failed.

    Attributes:
        outcomes: per batch, in order: ``None`` (delivered) or its exception.
    """

    def __init__(self, outcomes: list[Exception | None]) -> None:
        failed = sum(outcome is not None for outcome in outcomes)
        super().__init__(f"{failed} of {len(outcomes)} batches failed")
        self.outcomes = outcomes


async def publish_each(output: Output, batches: Sequence[Sequence[SignalUpdate]]) -> None:
    """``output.publish`` for each batch, in order (``publish_many`` of an output
    that has no faster way).

    Raises:
        PartlyPublished: one or more batches failed; the others were delivered.
    """
    outcomes: list[Exception | None] = []
    for batch in batches:
        try:
            await output.publish(batch)
        except Exception as exc:
            outcomes.append(exc)
        else:
            outcomes.append(None)
    if any(outcome is not None for outcome in outcomes):
        raise PartlyPublished(outcomes)


#: A batch and its place in the release order (``None``: no live output waits for it).
_Item = tuple[Sequence[SignalUpdate], Waiting | None]


class _Inbox(asyncio.Queue[_Item | None]):
    """An output's queue, with :attr:`ready` set when :data:`MAX_BATCHES_AT_ONCE`
    batches or the end marker are in it, so that a lingering reader wakes once per
    run instead of once per batch.

    Unbounded itself: the fan-out keeps it within the room it allows the output
    (:meth:`Fanout._offer` drops beyond it, :meth:`room_for` waits for it).
    """

    def __init__(self) -> None:
        super().__init__()
        self.ready = asyncio.Event()
        self._taken = asyncio.Event()

    def put_nowait(self, item: _Item | None) -> None:
        """As :meth:`asyncio.Queue.put_nowait` (``put`` ends in it too)."""
        super().put_nowait(item)
        if item is None or self.qsize() >= MAX_BATCHES_AT_ONCE - 1:
            self.ready.set()

    def get_nowait(self) -> _Item | None:
        """As :meth:`asyncio.Queue.get_nowait` (``get`` ends in it too)."""
        item = super().get_nowait()
        self._taken.set()
        return item

    async def room_for(self, room: int) -> None:
        """Return once fewer than ``room`` items are queued."""
        while self.qsize() >= room:
            self._taken.clear()
            await self._taken.wait()


class Fanout:
    """Delivers each batch to every output through its own bounded queue.

    Durable before visible: a batch goes first to the started :attr:`~Output.durable`
    outputs (the stores), which may linger and write a run of batches in one
    transaction. Only when every store that took it has finished with it (stored,
    or failed: a failure is that store's loss, counted in :attr:`dropped` and its
    health, and never holds the others) is it handed to the other outputs (JSON
    lines, table, HTTP, SCADA servers, the workers' relay), in the order the batches
    were published. So a reading any output showed is already in every store, and a
    ``kill -9`` of the gateway cannot lose it; the live outputs see it up to
    ``linger_s`` plus one store transaction later. Without a store, a batch goes to
    every output at once.

    A store that falls behind loses nothing while at most ``store_backlog`` batches
    wait for it: it writes them in its next transactions, up to :data:`STORE_RUN`
    batches each (coalesced), and the live outputs wait with it, so that nothing
    is shown before it is stored. What the stores then release at once counts as
    one arrival for a live output's ``queue_size`` (a fast live output never drops
    a burst; a slow one still drops what it cannot take beyond it). Beyond
    ``store_backlog`` a store drops (and counts) batches, and a store that hangs
    holds the live outputs for at most ``store_backlog + STORE_RUN`` batches
    (:mod:`.release`). Polling never waits for any of it.

    Backfilled batches go to the outputs that take them (the stores) straight away:
    no live output shows them.

    Args:
        outputs: the destinations.
        queue_size: batches a live output may lag behind before batches are dropped.
        store_backlog: batches a durable store may lag behind before batches are
            dropped (see above).
        linger_s: after the first batch of a run, how long an output that
            :attr:`~Output.lingers` waits for more before it is handed the run
            (0: it gets what is queued at once). A store then writes one
            transaction per ``linger_s`` instead of one per readout, which is most
            of its CPU per readout; the price is that much delay, for the live
            outputs too. A ``kill -9`` loses the batches still lingering or queued
            here, which no live output has shown yet.

    Attributes:
        dropped: output name -> batches it lost (queue full, or ``publish`` raised).
        failed: outputs whose ``start`` failed, with the reason.
    """

    def __init__(
        self,
        outputs: Sequence[Output],
        *,
        queue_size: int = 1000,
        linger_s: float = 0.0,
        store_backlog: int = STORE_BACKLOG,
    ) -> None:
        self.outputs = list(outputs)
        self.linger_s = linger_s
        self.queue_size = queue_size
        self.store_backlog = store_backlog
        self.dropped: dict[str, int] = {o.name: 0 for o in self.outputs}
        #: Outputs whose ``start`` failed, with the reason.
        self.failed: dict[str, str] = {}
        self._failed_at: dict[str, OutputHealth] = {}
        self._queues = [_Inbox() for _ in self.outputs]
        pairs = list(zip(self.outputs, self._queues, strict=True))
        self._stores = [(o, q) for o, q in pairs if o.durable]
        self._live = [(o, q) for o, q in pairs if not o.durable]
        self._order = ReleaseOrder(self._released, bound=store_backlog + STORE_RUN)
        self._burst = 0  # batches released to the live outputs by the current release
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Start every output, all at once, then one delivery task each.

        The starts run concurrently (a slow one, e.g. an OPC UA server, does not
        delay the others); this returns when every start has ended. An output
        whose ``start`` fails is logged in one line and left out: its batches are
        discarded (not counted as dropped) and it is still closed; the live
        outputs do not wait for a store that did not start.
        """
        await asyncio.gather(*(self._start_one(o) for o in self.outputs))
        self._tasks = [
            asyncio.create_task(self._deliver(o, q), name=f"output-{o.name}")
            for o, q in zip(self.outputs, self._queues, strict=True)
        ]

    async def _start_one(self, output: Output) -> None:
        try:
            await output.start()
        except Exception as exc:
            _LOGGER.error("output %s did not start: %s", output.name, exc)  # noqa: TRY400
            self.failed[output.name] = str(exc)
            self._failed_at[output.name] = OutputHealth(
                state=OutputState.OFF, since=utc_now(), last_error=str(exc)
            )

    def health(self) -> dict[str, OutputHealth]:
        """Output name -> its health, for every output in order.

        An output whose start failed is :attr:`OutputState.OFF` with the reason;
        one whose ``health()`` raises (a bug) is :attr:`OutputState.UNKNOWN`,
        so that one output cannot hide the others.
        """
        found: dict[str, OutputHealth] = {}
        for output in self.outputs:
            off = self._failed_at.get(output.name)
            if off is not None:
                found[output.name] = off
                continue
            try:
                found[output.name] = output.health()
            except Exception as exc:
                _LOGGER.debug("health of output %s failed: %r", output.name, exc)
                found[output.name] = OutputHealth(
                    state=OutputState.UNKNOWN,
                    since=utc_now(),
                    last_error=f"health unavailable ({type(exc).__name__})",
                )
        return found

    def publish(
        self, updates: Sequence[SignalUpdate], every: Sequence[SignalUpdate] | None = None
    ) -> None:
        """Queue a batch for the stores, and for the live outputs once the stores are
        done with it (see the class docstring); never blocks.

        ``every``: the batch with the readings a deadband held back too (see
        :mod:`obisgate.gateway.processing.stage`), for the outputs that keep every
        reading (``keeps_every_reading``: the history); the others get ``updates``.
        An empty batch is not queued.
        """
        if not self._stores:
            self._show(updates, every, self.queue_size)
            return
        waiting = Waiting(updates, every) if self._live else None
        for output, queue in self._stores:
            batch = _batch_for(output, updates, every)
            if not batch or output.name in self.failed:
                continue
            taken = self._offer(output, queue, (batch, waiting), self.store_backlog)
            if taken and waiting is not None:
                waiting.stores += 1
        if waiting is not None:
            self._burst = 0
            self._order.add(waiting)

    def _released(
        self, updates: Sequence[SignalUpdate], every: Sequence[SignalUpdate] | None
    ) -> None:
        """Show a batch the stores are done with; a burst released at once (by one
        ``ReleaseOrder`` call, :attr:`_burst` reset before it) gets room beside
        ``queue_size`` in the live queues."""
        self._burst += 1
        self._show(updates, every, self.queue_size + self._burst)

    def _show(
        self, updates: Sequence[SignalUpdate], every: Sequence[SignalUpdate] | None, room: int
    ) -> None:
        """Queue a batch for the live outputs (every output when there is no store),
        dropping it for a live output that has ``room`` batches queued already."""
        for output, queue in self._live:
            batch = _batch_for(output, updates, every)
            if not batch or output.name in self.failed:
                continue
            self._offer(output, queue, (batch, None), room)

    def _offer(self, output: Output, queue: _Inbox, item: _Item, room: int) -> bool:
        """Queue ``item`` unless ``room`` batches wait already (then it is dropped, and
        counted)."""
        if queue.qsize() >= room:
            self.dropped[output.name] += 1
            return False
        queue.put_nowait(item)
        return True

    async def publish_backfill(self, batches: Sequence[Sequence[SignalUpdate]]) -> None:
        """Queue backfilled batches for every output that takes them (``takes_backfill``),
        in order, waiting for room in a full queue instead of dropping: a backfill
        is never lost to a busy output, it only waits (in a task of its own, so no
        line waits with it). An output whose start failed gets nothing."""
        for output, queue in zip(self.outputs, self._queues, strict=True):
            if not output.takes_backfill or output.name in self.failed:
                continue
            room = self.store_backlog if output.durable else self.queue_size
            for batch in batches:
                await queue.room_for(room)
                queue.put_nowait((batch, None))

    async def _deliver(self, output: Output, queue: _Inbox) -> None:
        """Publish each batch in order until the end marker (``None``).

        Every batch waiting in the queue goes to one ``publish_many`` call (up
        to :data:`STORE_RUN` for a store, :data:`MAX_BATCHES_AT_ONCE` for a live
        output), so an output that fell behind catches up with one disk
        transaction instead of one per readout; a lone batch
        goes to ``publish``. A store then marks the batches done, whatever
        their outcome, which may release them to the live outputs.

        A failing ``publish`` drops (and counts) its batch; when ``publish_many``
        fails, its batches are published one by one (unless it says which
        failed: :class:`PartlyPublished`), so a bad readout loses only
        itself. So that a broken
        output does not flood the log, the first failure is logged with its
        traceback, then one line each time the exception's type changes, and
        one line with the number of batches lost when a batch goes through
        again (or at close, if it never does).
        """
        failing: type[BaseException] | None = None
        lost = 0
        end = False
        linger_s = self.linger_s if output.lingers else 0.0
        run = STORE_RUN if output.durable else MAX_BATCHES_AT_ONCE
        while not end and (item := await queue.get()) is not None:
            items = [item]
            end = await _gather(queue, items, linger_s, run)
            outcomes: list[Exception | None] = []
            if output.name not in self.failed:
                outcomes = await _deliver_batches(output, [batch for batch, _ in items])
            if output.durable:
                for _, waiting in items:
                    if waiting is not None:
                        waiting.stores -= 1
                self._burst = 0
                self._order.release()
            for exc in outcomes:
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
        """Deliver what is queued (the stores first, then what they release to the live
        outputs), then close every output."""
        for durable in (True, False):
            group = [i for i, output in enumerate(self.outputs) if output.durable is durable]
            for i in group:
                await self._queues[i].put(None)
            for i in group:
                if i < len(self._tasks):
                    with contextlib.suppress(Exception):
                        await self._tasks[i]
            self._burst = 0
            self._order.release(everything=True)  # only a crashed delivery task leaves any
        for output in self.outputs:
            try:
                await output.aclose()
            except Exception:
                _LOGGER.exception("closing output %s failed", output.name)


def _batch_for(
    output: Output, updates: Sequence[SignalUpdate], every: Sequence[SignalUpdate] | None
) -> Sequence[SignalUpdate]:
    """The batch ``output`` gets: ``every`` if it keeps every reading, else ``updates``."""
    if every is not None and output.keeps_every_reading:
        return every
    return updates


async def _gather(queue: _Inbox, items: list[_Item], linger_s: float, run: int) -> bool:
    """Add to ``items`` what is queued, and what comes within ``linger_s``, up to
    ``run`` batches; whether the end marker was taken.

    While lingering it sleeps until the deadline, the run or the end marker, waking
    when :attr:`_Inbox.ready` says more came, not at each batch.
    """
    deadline = None
    while True:
        while len(items) < run and not queue.empty():
            more = queue.get_nowait()
            if more is None:
                return True
            items.append(more)
        if len(items) >= run or linger_s <= 0:
            return False
        if deadline is None:
            deadline = asyncio.get_running_loop().time() + linger_s
        queue.ready.clear()
        try:
            async with asyncio.timeout_at(deadline):
                await queue.ready.wait()
        except TimeoutError:
            linger_s = 0  # take what came meanwhile, then deliver


async def _deliver_batches(
    output: Output, batches: list[Sequence[SignalUpdate]]
) -> list[Exception | None]:
    """Publish ``batches`` in order: the outcome of each (``None``: delivered)."""
    if len(batches) > 1:
        try:
            await output.publish_many(batches)
        except PartlyPublished as exc:
            return exc.outcomes
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
