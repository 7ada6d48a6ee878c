"""Read-success figures: scheduled reads, how many succeeded, how late they started.

A *scheduled read* is one slot of a device's schedule: either a poll made for it
(successful or failed) or a slot that passed while an earlier poll overran (a
missed scan). Lateness is how long after its slot a poll began, the wait for its
line and its throttle group included. Priority reads are counted apart: they are
not scheduled.

:class:`ReadStats` keeps the counters and a histogram of lateness with fixed
buckets (:data:`LATENESS_BUCKETS_S`), so percentiles come from the histogram and
figures of a line, a group or a whole shard are sums of their devices'.
:class:`ReadFigures` is a gateway's copy of all of them. Pure.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["LATENESS_BUCKETS_S", "QUANTILES", "ReadFigures", "ReadStats"]

#: Upper bounds (seconds) of the lateness histogram's buckets; the last one is open.
LATENESS_BUCKETS_S = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
#: The percentiles reported.
QUANTILES = (0.5, 0.95, 0.99)


class ReadStats:
    """Scheduled reads of one device (or the sum of several), and their lateness.

    Attributes:
        scheduled: slots that came due (polls made for them, and missed scans).
        succeeded: scheduled polls that succeeded (status ``ok``).
        missed: slots skipped because an earlier poll overran.
        priority: priority reads made (not scheduled).
        lateness_sum_s: the lateness of every scheduled poll, added.
    """

    __slots__ = ("_late", "lateness_sum_s", "missed", "priority", "scheduled", "succeeded")

    def __init__(self) -> None:
        self.scheduled = 0
        self.succeeded = 0
        self.missed = 0
        self.priority = 0
        self.lateness_sum_s = 0.0
        self._late: array[int] | None = None  # made with the first poll

    def record(self, ok: bool, lateness_s: float) -> None:
        """One scheduled poll: whether it succeeded, and how late it began."""
        self.scheduled += 1
        if ok:
            self.succeeded += 1
        lateness_s = max(lateness_s, 0.0)
        self.lateness_sum_s += lateness_s
        late = self._late
        if late is None:
            late = self._late = array("I", bytes(4 * (len(LATENESS_BUCKETS_S) + 1)))
        late[bisect_left(LATENESS_BUCKETS_S, lateness_s)] += 1

    def record_missed(self, slots: int) -> None:
        """``slots`` scheduled reads that never happened (missed scans)."""
        self.scheduled += slots
        self.missed += slots

    @property
    def polls(self) -> int:
        """Scheduled polls made (successful or not)."""
        return self.scheduled - self.missed

    @property
    def success_share(self) -> float | None:
        """Succeeded / scheduled (``None`` before any slot came due)."""
        return self.succeeded / self.scheduled if self.scheduled else None

    def histogram(self) -> tuple[int, ...]:
        """Polls per lateness bucket (the last: above the largest bound)."""
        if self._late is None:
            return (0,) * (len(LATENESS_BUCKETS_S) + 1)
        return tuple(self._late)

    def percentile(self, q: float) -> float | None:
        """The lateness below which a share ``q`` of the polls began (seconds), interpolated
        within its bucket; ``None`` without polls. Beyond the last bound: that bound."""
        return _percentiles(self.histogram(), (q,))[0]

    def percentiles(self) -> dict[str, float | None]:
        """``{"p50": ..., "p95": ..., "p99": ...}`` of the lateness (seconds)."""
        values = _percentiles(self.histogram(), QUANTILES)
        return {f"p{round(q * 100)}": v for q, v in zip(QUANTILES, values, strict=True)}

    def add(self, other: ReadStats) -> None:
        """Add ``other``'s figures to these (a line, group or shard total)."""
        self.scheduled += other.scheduled
        self.succeeded += other.succeeded
        self.missed += other.missed
        self.priority += other.priority
        self.lateness_sum_s += other.lateness_sum_s
        if other._late is not None:
            if self._late is None:
                self._late = array("I", other._late)
            else:
                mine = self._late
                for index, count in enumerate(other._late):
                    mine[index] += count

    def copy(self) -> ReadStats:
        """An independent copy (a snapshot taken on the event loop)."""
        copy = ReadStats()
        copy.add(self)
        return copy

    @classmethod
    def restored(
        cls,
        scheduled: int,
        succeeded: int,
        missed: int,
        priority: int,
        lateness_sum_s: float,
        histogram: Iterable[int] | None,
    ) -> ReadStats:
        """Figures sent elsewhere as their counters and :meth:`histogram` (``None``: no
        poll yet), e.g. a worker's figures on the relay of ``run --workers``.

        Raises:
            ValueError: a histogram of another length, or a negative count.
        """
        stats = cls()
        stats.scheduled, stats.succeeded, stats.missed = scheduled, succeeded, missed
        stats.priority, stats.lateness_sum_s = priority, lateness_sum_s
        if histogram is not None:
            late = array("I", histogram)
            if len(late) != len(LATENESS_BUCKETS_S) + 1:
                raise ValueError(f"a lateness histogram of {len(late)} buckets")
            stats._late = late
        if min(scheduled, succeeded, missed, priority) < 0:
            raise ValueError("a negative count of reads")
        return stats

    @classmethod
    def total(cls, parts: Iterable[ReadStats]) -> ReadStats:
        """The sum of ``parts``."""
        total = cls()
        for part in parts:
            total.add(part)
        return total

    def to_json(self) -> dict[str, Any]:
        """The figures as ``/api/devices`` and ``/api/reads`` show them."""
        share = self.success_share
        return {
            "scheduled_reads": self.scheduled,
            "succeeded_reads": self.succeeded,
            "read_success": None if share is None else round(share, 6),
            "missed_scans": self.missed,
            "priority_reads": self.priority,
            "lateness_s": {
                k: None if v is None else round(v, 4) for k, v in self.percentiles().items()
            },
        }


@dataclass(frozen=True, slots=True)
class ReadFigures:
    """A copy of the gateway's read-success figures (:meth:`Gateway.read_figures`).

    Attributes:
        shard: this instance's shard, ``"I/N"`` (``"0/1"`` when not sharded).
        total: every scheduled poll of this instance.
        devices: device alias -> (line, throttle group or ``None``, its figures); push
            meters are not polled and not listed.
        groups: group -> (its figures, max_sessions or ``None``, sessions open now, polls
            waiting now, polls that waited, seconds they waited, most sessions at once).
        shards: shard ``"I/N"`` -> its total, when these figures are the union of several
            instances (the supervisor of ``run --workers``; ``total`` is then their sum);
            empty for one instance, whose total is ``total``.
    """

    shard: str = "0/1"
    total: ReadStats = field(default_factory=ReadStats)
    devices: Mapping[str, tuple[str, str | None, ReadStats]] = field(default_factory=dict)
    groups: Mapping[str, tuple[ReadStats, int | None, int, int, int, float, int]] = field(
        default_factory=dict
    )
    shards: Mapping[str, ReadStats] = field(default_factory=dict)

    def shard_totals(self) -> dict[str, ReadStats]:
        """Each instance's total: :attr:`shards`, or this one's alone."""
        return dict(self.shards) if self.shards else {self.shard: self.total}

    def lines(self) -> dict[str, ReadStats]:
        """Each line's figures: the sum of its devices'."""
        lines: dict[str, ReadStats] = {}
        for line, _group, stats in self.devices.values():
            total = lines.get(line)
            if total is None:
                lines[line] = stats.copy()
            else:
                total.add(stats)
        return lines


def _percentiles(counts: tuple[int, ...], quantiles: Iterable[float]) -> list[float | None]:
    total = sum(counts)
    if not total:
        return [None for _ in quantiles]
    bounds = (0.0, *LATENESS_BUCKETS_S)
    out: list[float | None] = []
    for q in quantiles:
        rank = q * total
        seen = 0
        value = LATENESS_BUCKETS_S[-1]
        for index, count in enumerate(counts):
            if count and seen + count >= rank:
                if index >= len(LATENESS_BUCKETS_S):
                    value = LATENESS_BUCKETS_S[-1]
                else:
                    low, high = bounds[index], LATENESS_BUCKETS_S[index]
                    value = low + (high - low) * max(0.0, rank - seen) / count
                break
            seen += count
        out.append(value)
    return out
