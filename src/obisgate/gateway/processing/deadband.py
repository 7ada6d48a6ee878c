"""Publish on change: a deadband with a heartbeat, for one signal (pure).

With ``publish = "change"`` a reading is published only when it differs from the
last published one:

* its quality or unit changed;
* a number moved by more than the deadband: ``deadband`` in the signal's unit
  (0: any change), or ``deadband_percent`` of the last published value's magnitude;
* any other value (text, a date) is not equal;
* or the last published one is ``max_silence_s`` old or older (by the readings'
  own times): a heartbeat, so a consumer can tell a steady value from a dead gateway.

Every other reading is *held back*: the caller still hands it to the outputs
that keep every reading (the SQLite history), not to the others.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from obisgate.gateway.quality import Quality
from obisgate.gateway.updates import SignalUpdate

__all__ = ["ChangeFilter", "PublishRules"]


@dataclass(frozen=True, slots=True, kw_only=True)
class PublishRules:
    """When a signal's readings are published.

    Attributes:
        deadband: the smallest change published, in the signal's unit.
        percent: ``deadband`` is a percentage of the last published value's magnitude.
        max_silence_s: a reading is published at least this often, changed or not.
    """

    deadband: float = 0.0
    percent: bool = False
    max_silence_s: float = 300.0


class ChangeFilter:
    """Decides, reading by reading, whether a signal's update is published.

    Args:
        rules: the deadband and heartbeat.
    """

    __slots__ = ("_last", "_silence", "rules")

    def __init__(self, rules: PublishRules) -> None:
        self.rules = rules
        self._silence = dt.timedelta(seconds=rules.max_silence_s)
        self._last: tuple[object, Quality, str | None, dt.datetime] | None = None

    def publish(self, update: SignalUpdate) -> bool:
        """Whether ``update`` is published (then it becomes the one compared with)."""
        last = self._last
        if last is None or self._changed(last, update) or update.time - last[3] >= self._silence:
            self._last = (update.value, update.quality, update.unit, update.time)
            return True
        return False

    def _changed(
        self, last: tuple[object, Quality, str | None, dt.datetime], update: SignalUpdate
    ) -> bool:
        value, quality, unit, _ = last
        if update.quality != quality or update.unit != unit:
            return True
        new = update.value
        if _number(new) and _number(value):
            assert isinstance(new, int | float)  # _number
            assert isinstance(value, int | float)
            band = self.rules.deadband
            if self.rules.percent:
                band = abs(value) * band / 100
            try:
                return bool(abs(new - value) > band)
            except OverflowError:
                return True
        return bool(new != value)


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
