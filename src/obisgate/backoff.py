"""Exponential backoff with full jitter, for every reconnect and restart loop.

Without jitter, every gateway shard and sink that lost the same broker or database
retries at the same instants (1, 2, 4 ... s after the outage) and they reconnect in
lockstep. With *full jitter* each wait is drawn uniformly from ``[0, ceiling]``,
where the ceiling doubles after each failure up to a cap; a success resets it.
"""

from __future__ import annotations

import random

__all__ = ["Backoff"]


class Backoff:
    """The waits between attempts: ``uniform(0, min(cap_s, first_s * 2**n))`` after failure n.

    Args:
        first_s: the ceiling of the first wait (seconds, > 0).
        cap_s: the largest ceiling (seconds, >= ``first_s``).
        rng: the random source (a seeded :class:`random.Random` in tests).

    Raises:
        ValueError: ``first_s`` is not positive or ``cap_s`` is below it.
    """

    def __init__(self, first_s: float, cap_s: float, *, rng: random.Random | None = None) -> None:
        if first_s <= 0 or cap_s < first_s:
            raise ValueError(f"backoff needs 0 < first_s <= cap_s, got {first_s}, {cap_s}")
        self.first_s = first_s
        self.cap_s = cap_s
        self._rng = rng if rng is not None else random.Random()  # noqa: S311 - not for secrets
        self._ceiling = first_s

    @property
    def ceiling_s(self) -> float:
        """The ceiling of the next wait."""
        return self._ceiling

    def next_delay(self) -> float:
        """The wait before the next attempt; the ceiling then doubles (up to the cap)."""
        delay = self._rng.uniform(0.0, self._ceiling)
        self._ceiling = min(self._ceiling * 2, self.cap_s)
        return delay

    def reset(self) -> None:
        """After a success: the next wait is drawn below ``first_s`` again."""
        self._ceiling = self.first_s
