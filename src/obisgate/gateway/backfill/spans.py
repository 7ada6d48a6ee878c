"""The time ranges a backfill still has to fill (pure).

A :class:`Span` ``(lo, hi]`` holds the interval stamps later than ``lo`` (the last
time a value was stored or read) up to and including ``hi`` (the next one). Spans
are kept sorted and disjoint: :func:`add_span` merges one in.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import NamedTuple

__all__ = ["Span", "add_span", "holes"]


class Span(NamedTuple):
    """The aware times ``lo < t <= hi`` (UTC)."""

    lo: datetime
    hi: datetime

    def clipped(self, since: datetime) -> Span | None:
        """The part at or after ``since`` (``lo`` raised to it), ``None`` when nothing is left."""
        lo = max(self.lo, since)
        return Span(lo, self.hi) if lo < self.hi else None


def add_span(spans: Sequence[Span], new: Span) -> list[Span]:
    """``spans`` with ``new`` merged in (overlapping or touching spans become one)."""
    if new.hi <= new.lo:
        return list(spans)
    merged: list[Span] = []
    for span in sorted([*spans, new]):
        if merged and span.lo <= merged[-1].hi:
            last = merged[-1]
            merged[-1] = Span(last.lo, max(last.hi, span.hi))
        else:
            merged.append(span)
    return merged


def holes(
    found: Iterable[tuple[datetime, datetime]], since: datetime, *, longer_than: timedelta
) -> list[Span]:
    """The spans of ``found`` (consecutive stored times) longer than ``longer_than``, each
    clipped to start no earlier than ``since``; merged, oldest first."""
    spans: list[Span] = []
    for lo, hi in found:
        if hi - lo <= longer_than:
            continue
        span = Span(lo, hi).clipped(since)
        if span is not None:
            spans = add_span(spans, span)
    return spans
