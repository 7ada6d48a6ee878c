"""A virtual clock for tests of code that sleeps on an injected ``sleep``: no real waiting."""

from __future__ import annotations

import asyncio
import heapq
import itertools


class VirtualClock:
    """Sleepers wake in time order; time jumps when every task is waiting."""

    def __init__(self) -> None:
        self.now = 0.0
        self._heap: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._heap, (self.now + seconds, next(self._seq), future))
        await future

    async def drive(self, task: asyncio.Task[None]) -> None:
        """Run ``task`` to its end, moving time to the next sleeper whenever all wait."""
        while not task.done():
            for _ in range(20):
                await asyncio.sleep(0)
            while self._heap and self._heap[0][2].done():
                heapq.heappop(self._heap)
            if not self._heap:
                continue
            at, _, future = heapq.heappop(self._heap)
            self.now = max(self.now, at)
            future.set_result(None)
        await task
