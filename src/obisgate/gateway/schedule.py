"""When each device is due: rate groups, jitter, and the slots a poll serves. Pure.

A device's signals may have scan rates of their own (``scan_rate_ms`` on a signal:
power every 10 s, totals every 15 minutes). Signals with the same rate form a *rate
group*; :class:`DeviceSchedule` keeps each group's next slot and tells the poller, for
one poll, which groups it serves: those due at its slot and those that would fall due
within half the device's shortest period after it (they are read a little early rather
than costing a session of their own). A poll that ends after a group's next slot has
passed skips the slots in between (missed scans, never queued).

Each device's slots are offset within its scan period: :func:`phase_of` is a stable
hash of the alias (blake2b, never Python's salted ``hash()``), so the same device is
read at the same second of every period, across restarts and on every gateway, and
50 000 meters do not all start at :00. :func:`first_slots` places the first slot of each
group after the start, from the wall clock; ``scan_align = 1`` keeps the older spread
(the first polls of all devices evenly over their scans, in configuration order).

Nothing here reads a clock or sleeps: times are arguments (the poller's monotonic
seconds, and the wall clock's Unix seconds where the phase is concerned).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

__all__ = ["DeviceSchedule", "first_slots", "phase_of"]

#: A group is served early by a poll at most this share of the shortest period before its slot.
MERGE_SHARE = 0.5


def phase_of(alias: str, period_s: float) -> float:
    """The device's offset within ``period_s``: ``[0, period_s)``, from a stable hash of
    ``alias`` (the same on every run and machine)."""
    if period_s <= 0:
        return 0.0
    digest = hashlib.blake2b(alias.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64 * period_s


def first_slots(
    periods: Sequence[float],
    *,
    phase_s: float | None,
    wall_now_s: float,
    spread_offset_s: float = 0.0,
) -> list[float]:
    """Seconds from now until each rate group's first slot.

    Args:
        periods: each group's period (seconds).
        phase_s: the device's phase (:func:`phase_of` over its scan period): group
            ``g``'s slots are the wall-clock times ``t`` with ``(t - phase) mod
            period_g == 0``. ``None``: ``scan_align = 1``, every group starts at
            ``spread_offset_s``.
        wall_now_s: the wall clock now (Unix seconds).
        spread_offset_s: the first poll with ``scan_align = 1`` (the older spread).
    """
    if phase_s is None:
        return [spread_offset_s for _ in periods]
    return [(phase_s - wall_now_s) % period if period > 0 else 0.0 for period in periods]


class DeviceSchedule:
    """The next slot of each rate group of one device, on the poller's clock.

    Args:
        periods: each group's period in seconds (one group: the device's scan).
        first: each group's first slot (poller clock).

    Groups are identified by bit masks: group ``g`` is ``1 << g``.
    """

    __slots__ = ("_due", "_periods", "_window")

    def __init__(self, periods: Sequence[float], first: Sequence[float]) -> None:
        if len(periods) != len(first) or not periods:
            raise ValueError("one first slot per period, at least one")
        self._periods = tuple(periods)
        self._due = list(first)
        positive = [p for p in periods if p > 0]
        self._window = MERGE_SHARE * min(positive) if len(periods) > 1 and positive else 0.0

    @property
    def next_due(self) -> float:
        """The earliest slot of any group."""
        due = self._due
        return due[0] if len(due) == 1 else min(due)

    @property
    def all_groups(self) -> int:
        """The mask of every group."""
        return (1 << len(self._periods)) - 1

    def due_groups(self, slot: float) -> int:
        """The groups a poll at ``slot`` serves: due by then, or within the merge window."""
        due = self._due
        if len(due) == 1:
            return 1
        limit = slot + self._window
        mask = 0
        for group, when in enumerate(due):
            if when <= limit:
                mask |= 1 << group
        return mask

    def advance(self, groups: int, now: float) -> int:
        """The poll of ``groups`` ended at ``now``: move each to its next slot in the future.

        Returns:
            The slots skipped (missed scans): the most of any served group.
        """
        missed = 0
        due = self._due
        for group, period in enumerate(self._periods):
            if not groups >> group & 1:
                continue
            following = due[group] + period
            if period > 0 and now > following:
                skipped = int((now - following) // period) + 1
                following += skipped * period
                missed = max(missed, skipped)
            elif period <= 0:
                following = max(following, now)
            due[group] = following
        return missed
