"""The backfills of one line, in the line's free time: polls go first.

The line's :class:`~obisgate.gateway.poller.LinePoller` calls its
:class:`LineBackfill` (``idle``) before each poll, with the time left until it is
due. One programming session (one chunk of one device's profile) is started only
when the device's last session (at first: twice its last poll) fits into that
time, and it is abandoned when the time is up: such a session never delays a
poll, and never holds the line longer than one poll may (the device's
``total_timeout_ms``). A session that was cut short is not a failure: the
device's next chunk is half as long. Devices of a line take turns.

A line so busy that no session fits between its polls still gets its gaps
filled: after :data:`TURN_EVERY_POLLS` polls without a session, the backfill
takes one turn like a poll, bounded by about one poll's time (its last session
or twice the device's last poll, at most ``total_timeout_ms``); the polls after
it may be that much late (a poll that overruns its scan counts missed scans).

The intervals read go to the fan-out's outputs that keep a history
(:meth:`~obisgate.gateway.outputs.base.Fanout.publish_backfill`), in a task of
their own so that a full output queue never holds the line; the next session
waits until they are handed over. :meth:`LineBackfill.watch` wraps the line's
publish function to learn the outcome of every poll (a device answering again).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from obisgate.errors import ObisgateError, TotalTimeoutError
from obisgate.gateway.backfill.device import DeviceBackfill, Phase
from obisgate.gateway.backfill.intervals import interval_batches, missing_channels
from obisgate.gateway.backfill.reading import ProfileRead, ProfileRequest, read_profile
from obisgate.gateway.backfill.spans import Span
from obisgate.gateway.backfill.times import season_flag, to_meter
from obisgate.gateway.history import HistoryGaps
from obisgate.gateway.poller import DeviceState
from obisgate.gateway.updates import STATUS_SIGNAL, SignalUpdate

__all__ = ["Deliver", "LineBackfill"]

_LOGGER = logging.getLogger("obisgate.gateway.backfill")

T = TypeVar("T")

Deliver = Callable[[Sequence[Sequence[SignalUpdate]]], Awaitable[None]]
"""Hands backfilled batches to the outputs that keep a history (may wait for room)."""

Publish = Callable[[Sequence[SignalUpdate]], None]

#: Free line time below which no session is tried (seconds).
MIN_BUDGET_S = 0.5
#: Polls of a line without a session after which a waiting backfill takes a turn.
TURN_EVERY_POLLS = 10


class _CutShort(Exception):
    """The session did not end within the line's free time."""


class BackfillInternalError(ObisgateError):
    """Reading a chunk failed for a reason that is not the meter's (a bug)."""

    kind = "internal error"


class LineBackfill:
    """Runs the backfills of the devices of one line between its polls.

    Args:
        states: the line's devices (those with a profile are backfilled).
        deliver: hands the intervals read to the outputs.
        read: reads one chunk (default: its own connection, :func:`read_profile`).
        clock: monotonic seconds (injectable for tests, the poller's).
        sleep: waits (injectable for tests, paired with ``clock``).
        wall_clock: UTC now.
    """

    def __init__(
        self,
        states: Sequence[DeviceState],
        deliver: Deliver,
        *,
        read: ProfileRead = read_profile,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.devices = {
            s.plan.alias: DeviceBackfill(s, s.plan.profile)
            for s in states
            if s.plan.profile is not None
        }
        self._order = list(self.devices.values())
        self._turn = 0
        self._deliver = deliver
        self._read = read
        self._clock = clock
        self._sleep = sleep or asyncio.sleep
        self._now = wall_clock
        self._delivery: asyncio.Future[None] | None = None
        self._polls_since = 0

    def watch(self, publish: Publish) -> Publish:
        """``publish``, which also tells each device's backfill how its poll went."""

        def watched(updates: Sequence[SignalUpdate]) -> None:
            publish(updates)
            for update in reversed(updates):
                if update.signal == STATUS_SIGNAL:
                    self._polls_since += 1
                    device = self.devices.get(update.device)
                    if device is not None:
                        device.after_poll(device.state.up is True, update.time)
                    return

        return watched

    def load(self, gaps: Mapping[str, HistoryGaps | None]) -> None:
        """Take the history's gaps of each device (a device absent from ``gaps``: the
        history could not be read for it)."""
        now = self._now()
        for alias, device in self.devices.items():
            device.loaded(gaps.get(alias), now)

    async def __call__(self, budget_s: float) -> bool:
        """Use at most ``budget_s`` of the line's free time (``<= 0``: none) for one
        session, or take a turn when the line has been too busy for too long.

        Returns:
            True when a session ran (the line's time was used), else False.
        """
        if self._delivery is not None:
            if not self._delivery.done():
                await self._sleep(0)  # one turn of the loop: room in the queues takes no longer
            if not self._delivery.done():
                return False  # an output's queue is full: the next session waits for it
            self._handed_over()
        starving = self._polls_since >= TURN_EVERY_POLLS
        if not self._order or (budget_s < MIN_BUDGET_S and not starving):
            return False
        now, monotonic = self._now(), self._clock()
        count = len(self._order)
        for step in range(count):
            device = self._order[(self._turn + step) % count]
            chunk = device.next_chunk(now, monotonic)
            if chunk is None:
                continue
            needed = max(device.estimate_s or 2 * device.state.last_duration_s, MIN_BUDGET_S)
            if budget_s >= needed:
                limit = budget_s  # the free time before the next poll
            elif starving:
                limit = needed  # a turn of about one poll
            else:
                continue
            self._turn = (self._turn + step + 1) % count
            self._polls_since = 0
            await self._session(device, chunk, limit)
            return True
        return False

    async def _session(self, device: DeviceBackfill, chunk: Span, limit_s: float) -> None:
        plan = device.state.plan
        profile = device.profile
        total = plan.total_timeout_s
        limit = limit_s if total is None else min(limit_s, total)
        request = ProfileRequest(
            to_meter(chunk.lo, profile.zone),
            to_meter(chunk.hi, profile.zone),
            season_flag(chunk.lo, profile.zone),
        )
        device.started()
        began = self._clock()
        try:
            read = await self._within(limit, self._read(plan, request))
        except _CutShort:
            if total is not None and limit >= total:
                device.failed(TotalTimeoutError("backfill session", total), self._clock())
            else:
                device.cut_short(limit)
            return
        except ObisgateError as exc:
            device.failed(exc, self._clock())
            return
        except Exception as exc:
            _LOGGER.error("%s: backfill: internal error (%s)", device.alias, type(exc).__name__)  # noqa: TRY400
            device.failed(BackfillInternalError(type(exc).__name__), self._clock())
            return
        missing = missing_channels(read, profile.channels)
        if missing and not device.warned_channels:
            device.warned_channels = True
            _LOGGER.warning(
                "%s: its load profile %s has no channel %s; it has %s",
                device.alias,
                profile.address,
                ", ".join(missing),
                ", ".join(c.code for c in read.channels),
            )
        batches = interval_batches(
            device.alias,
            read,
            profile.channels,
            chunk,
            profile.zone,
            decimal_comma=any(s.decimal_comma for _, s in profile.channels),
        )
        device.read(chunk, len(batches), self._clock() - began)
        if batches:
            self._delivery = asyncio.ensure_future(self._deliver(batches))

    async def _within(self, limit: float, work: Awaitable[T]) -> T:
        """``work``, abandoned (cancelled) when ``limit`` seconds of the injected clock pass.

        Raises:
            _CutShort: the limit passed.
        """
        running = asyncio.ensure_future(work)
        timer = asyncio.ensure_future(self._sleep(limit))
        try:
            await asyncio.wait((running, timer), return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
            if not running.done():
                running.cancel()
            await asyncio.gather(running, timer, return_exceptions=True)
        if running.cancelled():
            raise _CutShort
        return running.result()

    def _handed_over(self) -> None:
        delivery, self._delivery = self._delivery, None
        if delivery is not None and not delivery.cancelled() and delivery.exception() is not None:
            _LOGGER.error(
                "backfill: handing intervals to the outputs failed: %r", delivery.exception()
            )

    def progress(self) -> dict[str, dict[str, Any]]:
        """Device alias -> its backfill's progress (``/api/devices``)."""
        monotonic = self._clock()
        return {alias: d.progress(monotonic) for alias, d in self.devices.items()}

    def active(self) -> bool:
        """Whether any device has something left to fill (and may still fill it)."""
        return any(d.spans and d.phase not in (Phase.REFUSED, Phase.GAVE_UP) for d in self._order)

    async def aclose(self) -> None:
        """Stop handing intervals over (what is not handed over yet is read again after
        the next start: the history still has the hole)."""
        delivery, self._delivery = self._delivery, None
        if delivery is not None:
            delivery.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await delivery
