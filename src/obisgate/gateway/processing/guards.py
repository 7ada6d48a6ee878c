"""Guards of one signal against readings that break dashboards (pure).

A :class:`Guard` checks each valid reading of its signal against the last reading
it accepted and turns a bad one into ``invalid`` (no value):

* ``min_value`` / ``max_value``: a reading outside the range;
* ``max_rate``: a reading that moved away from the last accepted one faster
  than this many units per hour (a spike, a misread digit);
* total-increasing (``monotonic``; by default when the unit is a total's:
  energy, volume, :data:`TOTAL_UNITS`): a reading lower than the last accepted one.

A lower total or a rate jump is not always an error: a meter exchanged for a new
one starts again near zero, a counter is preset. When ``reset_confirm``
readings in a row agree with each other (each not lower than the one before it
for a total, each within ``max_rate`` of the one before it) but not with the
last accepted reading, the last of them is accepted as the new starting point:
a *reset* for a total, a *jump* otherwise. A single misread, or fewer than
``reset_confirm`` of them, never gets through; a reading that agrees with the
last accepted one again ends the episode.

Readings that are not valid pass unchanged, except that a value they carry
(a not-topical update repeats the last value read) is replaced by the last
accepted one, so a rejected reading never reappears. Rates are computed on the
readings' own times (never a clock); two readings less than a second apart
count as a second apart.

The guard reports what an operator should know as a :class:`GuardEvent`: the
first rejection of an episode (then nothing until it ends), the end of an
episode, a reset or a jump. The caller logs them.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, replace
from typing import Final

from obisgate.gateway.processing.evaluation import Real
from obisgate.gateway.quality import Quality
from obisgate.gateway.updates import SignalUpdate

__all__ = [
    "TOTAL_UNITS",
    "Accepted",
    "Guard",
    "GuardEvent",
    "GuardRules",
    "Verdict",
    "is_total_unit",
]

#: Units of totals that only grow (lower case): energy, reactive and apparent
#: energy, volume. Home Assistant discovery gives these ``total_increasing``.
TOTAL_UNITS: Final = frozenset(
    {"wh", "kwh", "mwh", "gwh", "mj", "gj", "varh", "kvarh", "vah", "kvah", "m3", "m³", "l"}
)
_MIN_SECONDS: Final = 1.0


def is_total_unit(unit: str | None) -> bool:
    """Whether ``unit`` is one of :data:`TOTAL_UNITS` (any case, blanks ignored)."""
    return unit is not None and unit.strip().lower() in TOTAL_UNITS


Accepted = tuple[Real, dt.datetime]
"""The last accepted reading: value and time."""


@dataclass(frozen=True, slots=True, kw_only=True)
class GuardRules:
    """What a signal's readings are checked against.

    Attributes:
        monotonic: ``True``: a total that never decreases; ``False``: not; ``None``:
            when the reading's unit is one of :data:`TOTAL_UNITS`.
        reset_confirm: readings in a row that confirm a reset or a jump (1: the
            first one is accepted, reported).
        min_value, max_value: the range of a valid reading (``None``: open).
        max_rate: the largest change per hour from the last accepted reading.
    """

    monotonic: bool | None = None
    reset_confirm: int = 3
    min_value: float | None = None
    max_value: float | None = None
    max_rate: float | None = None

    def total(self, unit: str | None) -> bool:
        """Whether a reading with ``unit`` is checked as a total."""
        return is_total_unit(unit) if self.monotonic is None else self.monotonic

    @property
    def stateful(self) -> bool:
        """Whether the last accepted reading matters (and is kept across restarts):
        a total (possibly, by its unit) or a rate limit."""
        return self.monotonic is not False or self.max_rate is not None


class Verdict(enum.Enum):
    """What a :class:`GuardEvent` reports."""

    REJECTED = "rejected"
    """The first reading of an episode was turned invalid (``reason`` says why)."""
    VALID_AGAIN = "valid again"
    """A reading agrees with the last accepted one again after ``count`` rejected."""
    RESET = "reset"
    """A lower total held for ``reset_confirm`` readings: accepted as a meter reset."""
    JUMP = "jump"
    """A change beyond ``max_rate`` held for ``reset_confirm`` readings: accepted."""


@dataclass(frozen=True, slots=True)
class GuardEvent:
    """Something about a signal's readings worth one log line.

    Attributes:
        verdict: what happened.
        message: it in words (no signal name: the caller adds it).
        count: readings rejected in the episode so far.
    """

    verdict: Verdict
    message: str
    count: int = 0


class Guard:
    """The guard of one signal (see the module docstring).

    Args:
        rules: what is checked.
        last: the last reading accepted by an earlier run, if known.

    Attributes:
        last: the last accepted reading.
        changed: ``last`` changed since the caller last cleared this (to store it).
        rejected: readings rejected in the current episode.
    """

    __slots__ = ("_run", "changed", "last", "rejected", "rules")

    def __init__(self, rules: GuardRules, last: Accepted | None = None) -> None:
        self.rules = rules
        self.last = last
        self.changed = False
        self.rejected = 0
        self._run: list[Accepted] = []

    def check(self, update: SignalUpdate) -> tuple[SignalUpdate, GuardEvent | None]:
        """The update as published, and what to report (if anything).

        Never raises; a valid reading that is not a number (text, a date) passes.
        """
        value = update.value
        if not update.quality.is_valid:
            if value is None:
                return update, None
            shown = None if self.last is None else self.last[0]
            return replace(update, value=shown), None
        if isinstance(value, bool) or not isinstance(value, int | float):
            return update, None
        reason = self._out_of_range(value)
        if reason is not None:
            return self._reject(update, reason, confirmable=False)
        last = self.last
        if last is None:
            return self._accept(update, value)
        total = self.rules.total(update.unit)
        lower = total and value < last[0]
        too_fast = self._rate_exceeded(last, value, update.time)
        if not lower and not too_fast:
            return self._accept(update, value)
        run = self._run
        if run and self._agree(run[-1], value, update.time, total):
            run.append((value, update.time))
        else:
            run[:] = [(value, update.time)]
        if len(run) >= self.rules.reset_confirm:
            held = len(run)
            if lower:
                event = GuardEvent(
                    Verdict.RESET,
                    f"total fell from {last[0]!r} to {value!r} and held for {held} reading"
                    f"{'s' if held != 1 else ''}: accepted as a meter reset",
                    self.rejected,
                )
            else:
                event = GuardEvent(
                    Verdict.JUMP,
                    f"changed from {last[0]!r} to {value!r}, faster than max_rate "
                    f"{self.rules.max_rate!r} per hour, and held for {held} reading"
                    f"{'s' if held != 1 else ''}: accepted",
                    self.rejected,
                )
            accepted, _ = self._accept(update, value)
            return accepted, event
        if lower:
            return self._reject(
                update,
                f"{value!r} is lower than the last accepted total {last[0]!r}",
                confirmable=True,
            )
        return self._reject(
            update,
            f"{value!r} moved from {last[0]!r} faster than max_rate {self.rules.max_rate!r} "
            "per hour",
            confirmable=True,
        )

    def _out_of_range(self, value: Real) -> str | None:
        low, high = self.rules.min_value, self.rules.max_value
        if low is not None and value < low:
            return f"{value!r} is below min_value {low!r}"
        if high is not None and value > high:
            return f"{value!r} is above max_value {high!r}"
        return None

    def _rate_exceeded(self, since: Accepted, value: Real, time: dt.datetime) -> bool:
        limit = self.rules.max_rate
        if limit is None:
            return False
        seconds = max((time - since[1]).total_seconds(), _MIN_SECONDS)
        try:
            return bool(abs(value - since[0]) / seconds * 3600 > limit)
        except OverflowError:
            return True

    def _agree(self, before: Accepted, value: Real, time: dt.datetime, total: bool) -> bool:
        """Whether a reading continues a run of candidates (for a reset or a jump)."""
        if total and value < before[0]:
            return False
        return not self._rate_exceeded(before, value, time)

    def _accept(self, update: SignalUpdate, value: Real) -> tuple[SignalUpdate, GuardEvent | None]:
        self.last = (value, update.time)
        self.changed = True
        self._run.clear()
        if not self.rejected:
            return update, None
        count, self.rejected = self.rejected, 0
        return update, GuardEvent(
            Verdict.VALID_AGAIN,
            f"valid again after {count} rejected reading{'s' if count != 1 else ''}",
            count,
        )

    def _reject(
        self, update: SignalUpdate, reason: str, *, confirmable: bool
    ) -> tuple[SignalUpdate, GuardEvent | None]:
        self.rejected += 1
        rejected = replace(update, value=None, quality=Quality.INVALID)
        if self.rejected > 1:
            return rejected, None
        confirm = self.rules.reset_confirm
        hint = f" (accepted if it holds for {confirm} readings)" if confirmable else ""
        return rejected, GuardEvent(Verdict.REJECTED, f"{reason}: invalid{hint}", 1)
