"""Throttle groups: at most N sessions open at once among the devices of one group.

A group (device field ``group``, limit ``[groups.NAME] max_sessions``) stands for
what many lines share and cannot carry all at once: a converter with several
ports, a modem pool, a cellular cell. Each line poller takes a session of its
device's group before it opens the line and gives it back when the poll is over
(retries and the programming session included), so never more than
``max_sessions`` polls of the group run at once, across all its lines. A poll
that finds the group full waits in a FIFO queue (a priority read goes to its
head); such polls are counted, with the time they waited.

No clock is read here: the waiting time is measured by the caller's clock.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

__all__ = ["SessionLimiter"]


class SessionLimiter:
    """At most ``max_sessions`` sessions of one group at once, handed out in order.

    Args:
        name: the group's name (for figures and logs).
        max_sessions: the limit (``None``: no limit, only counted).

    Attributes:
        open: sessions open now.
        waiting: polls waiting for a session now.
        waited_total: polls that had to wait for a session.
        wait_seconds_total: the time they waited (added by :meth:`waited`).
        peak: the most sessions open at once so far.
    """

    __slots__ = (
        "_waiters",
        "max_sessions",
        "name",
        "open",
        "peak",
        "wait_seconds_total",
        "waited_total",
    )

    def __init__(self, name: str, max_sessions: int | None) -> None:
        if max_sessions is not None and max_sessions < 1:
            raise ValueError(f"group {name}: max_sessions must be at least 1")
        self.name = name
        self.max_sessions = max_sessions
        self.open = 0
        self.peak = 0
        self.waited_total = 0
        self.wait_seconds_total = 0.0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        """Polls waiting for a session now."""
        return sum(1 for waiter in self._waiters if not waiter.done())

    def try_acquire(self) -> bool:
        """Take a session at once if one is free and nobody waits; ``False`` otherwise."""
        limit = self.max_sessions
        if (limit is None or self.open < limit) and not self._waiters:
            self._take()
            return True
        return False

    async def acquire(self, *, priority: bool = False) -> None:
        """Take a session, waiting in line when the group is full.

        ``priority`` waits at the head of the line (a priority read). Cancelling
        the wait leaves the line without taking anything.
        """
        if self.try_acquire():
            return
        self.waited_total += 1
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if priority:
            self._waiters.appendleft(waiter)
        else:
            self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed over just as the wait was cancelled: give it on
            raise
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)

    def waited(self, seconds: float) -> None:
        """Add the time one poll waited for its session."""
        self.wait_seconds_total += seconds

    def release(self) -> None:
        """Give a session back: to the first waiter, or free."""
        self.open -= 1
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self._take()
                waiter.set_result(None)
                return

    def _take(self) -> None:
        self.open += 1
        self.peak = max(self.peak, self.open)
