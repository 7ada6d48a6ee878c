"""Virtual time for tests of scheduling code: nothing waits for the real clock.

:class:`VirtualClock` is a monotonic clock and a ``sleep`` to inject together
(``LinePoller(clock=vc, sleep=vc.sleep)``). A sleeper waits until the test moves the
clock past its end: :meth:`VirtualClock.run_until` lets every task run until all of
them wait for the clock, then jumps to the earliest timer, again and again, until a
condition holds (or a virtual deadline passes). Timers fire in time order; ties in the
order they were set.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable

__all__ = ["VirtualClock"]

#: Loop turns that let every ready task run before the clock moves.
_SETTLE_TURNS = 50


class VirtualClock:
    """A virtual monotonic clock (seconds from 0) with a matching ``sleep``."""

    def __init__(self) -> None:
        self.now = 0.0
        self._timers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        """Wait until the clock reaches now + ``seconds``."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._timers, (self.now + max(0.0, seconds), next(self._order), future))
        await future

    async def settle(self) -> None:
        """Let every task that can run, run (the clock does not move)."""
        for _ in range(_SETTLE_TURNS):
            await asyncio.sleep(0)

    async def run_until(self, condition: Callable[[], bool], *, limit_s: float = 1e6) -> None:
        """Move the clock timer by timer until ``condition()`` holds.

        Raises:
            AssertionError: no timer is left, or the clock would pass ``limit_s``,
                before the condition holds.
        """
        while True:
            await self.settle()
            if condition():
                return
            self._fire_next(limit_s)

    async def advance(self, seconds: float) -> None:
        """Move the clock ``seconds`` on, firing every timer due meanwhile, in order."""
        end = self.now + seconds
        while True:
            await self.settle()
            self._drop_cancelled()
            if not self._timers or self._timers[0][0] > end:
                break
            self._fire_next(end)
        self.now = end
        await self.settle()

    async def drive(self, task: asyncio.Task[None]) -> None:
        """Run ``task`` to its end, moving the clock to the next timer whenever every
        task waits (and letting the loop turn while none is set)."""
        while not task.done():
            await self.settle()
            self._drop_cancelled()
            if not self._timers:
                continue
            at, _, future = heapq.heappop(self._timers)
            self.now = max(self.now, at)
            future.set_result(None)
        await task

    def _drop_cancelled(self) -> None:
        while self._timers and self._timers[0][2].done():
            heapq.heappop(self._timers)

    def _fire_next(self, limit_s: float) -> None:
        self._drop_cancelled()
        if not self._timers:
            raise AssertionError(f"no timer left at t={self.now:g} and the condition is false")
        at, _, future = heapq.heappop(self._timers)
        if at > limit_s:
            raise AssertionError(f"the next timer is at t={at:g}, past the limit {limit_s:g}")
        self.now = max(self.now, at)
        future.set_result(None)
