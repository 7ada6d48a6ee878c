"""The energy view's arithmetic: which signals are energy registers, where a day, week or
month begins in a time zone, and how much a cumulative register counted in each.

Pure: no I/O and no clock (the history's :class:`~obisgate.gateway.history.Reading` is
only a type here). The time ``now`` and the zone come from the caller (the
``/api/energy`` handler takes the browser's zone), the readings from a
:class:`RegisterSource` (the history files).

A period's consumption is the difference of the register between the period's start
and its end (or ``now`` for the running period): the last valid value stored at or
before each instant. When nothing was stored before the start (the history began
within the period) the first value inside it is the base and the bar is ``partial``.
When no value was stored within the period at all, its consumption is unknown
(``None``). A register that went backwards within a period (a replaced meter) counts
only its rises (:meth:`RegisterSource.increase`).
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Protocol

from obisgate.gateway.history import Reading
from obisgate.obis import describe

__all__ = [
    "DEFAULT_COUNT",
    "MAX_COUNT",
    "Bar",
    "Period",
    "RegisterSource",
    "Role",
    "bars",
    "boundaries",
    "role_of",
]


class Period(enum.StrEnum):
    """A calendar period of the energy view."""

    DAY = "day"
    WEEK = "week"
    MONTH = "month"


#: Bars of each period when the request does not say: a week of days, about two months
#: of weeks, a year of months.
DEFAULT_COUNT = {Period.DAY: 7, Period.WEEK: 8, Period.MONTH: 12}

#: The most bars one request may ask for.
MAX_COUNT = 400


class Role(enum.StrEnum):
    """What a signal is to the energy view."""

    #: A cumulative register of what was taken: energy import (OBIS 1.8.0), or a heat,
    #: gas or water meter's total.
    IMPORT = "import"
    #: A cumulative register of what was given back: energy export (OBIS 2.8.0).
    EXPORT = "export"
    #: The current power taken (OBIS 1.7.0, 15.7.0 or 16.7.0, or a power unit).
    POWER = "power"
    #: The current power given back (OBIS 2.7.0).
    POWER_EXPORT = "power_export"


#: Catalogue names (:func:`obisgate.obis.describe`) of the registers the view shows.
_ROLES_BY_NAME = {
    "energy_import": Role.IMPORT,
    "energy_export": Role.EXPORT,
    "power": Role.POWER,
    "power_export": Role.POWER_EXPORT,
}
#: Other media whose totals are what was taken (heat energy, gas and water volume).
_OTHER_MEDIA = frozenset({"heat", "gas", "water"})
_HISTORICAL = re.compile(r"[*&](\d+)$")
_ENERGY_UNITS = frozenset({"wh", "kwh", "mwh", "gwh", "kj", "mj", "gj", "m3", "m³", "ft3"})
_POWER_UNITS = frozenset({"w", "kw", "mw"})


def role_of(
    tag: str, unit: str | None, alias: str = "", manufacturer: str | None = None
) -> Role | None:
    """The role of a signal reading ``tag`` (``tag_job_todo``) in ``unit``.

    The OBIS catalogue decides when it knows the address (with the meter's
    ``manufacturer``: a Landis+Gyr heat meter's ``6.8`` is heat energy): total import
    (``1.8.0``) and export (``2.8.0``), power (``1.7.0``, ``16.7.0``) and power export
    (``2.7.0``), and the totals of heat, gas and water meters. A tariff (``1.8.1``), a
    historical value (``1.8.0*24``, a stored billing period) or any other register is
    none. An address the catalogue does not know goes by the unit: an energy or volume
    unit (kWh, GJ, m³ ...) is a register of what was taken (``export`` in the alias:
    given back), a power unit (W, kW) the power.
    """
    tag = tag.strip()
    historical = _HISTORICAL.search(tag)
    if historical is not None and int(historical[1]) != 255:
        return None
    info = describe(tag, manufacturer=manufacturer, unit=unit) if tag else None
    if info is not None:
        role = _ROLES_BY_NAME.get(info.name or "")
        if role is not None:
            return role
        if info.medium in _OTHER_MEDIA and info.ha_state_class == "total_increasing":
            return Role.IMPORT
        return None
    unit_key = (unit or "").strip().lower()
    export = "export" in alias.lower()
    if unit_key in _ENERGY_UNITS:
        return Role.EXPORT if export else Role.IMPORT
    if unit_key in _POWER_UNITS:
        return Role.POWER_EXPORT if export else Role.POWER
    return None


def _midnight(day: dt.date, zone: dt.tzinfo) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(dt.UTC)


def _month_start(year: int, month: int, back: int) -> dt.date:
    index = year * 12 + (month - 1) - back
    return dt.date(index // 12, index % 12 + 1, 1)


def boundaries(
    now: dt.datetime, zone: dt.tzinfo, period: Period, count: int, week_start: int = 1
) -> list[dt.datetime]:
    """``count + 1`` instants (UTC): the starts of the last ``count`` periods of ``zone``'s
    calendar, the running one last, and the end of the running one.

    A day begins at local midnight (23 or 25 hours long across a change of daylight
    saving time), a week on ``week_start`` (ISO: 1 Monday ... 7 Sunday), a month on
    its first day.

    Raises:
        ValueError: ``count`` below 1, ``week_start`` not 1-7, or a naive ``now``.
    """
    if count < 1:
        raise ValueError("count must be at least 1")
    if not 1 <= week_start <= 7:
        raise ValueError("week_start is 1 (Monday) to 7 (Sunday)")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    today = now.astimezone(zone).date()
    if period is Period.DAY:
        days = [today - dt.timedelta(days=back) for back in range(count - 1, -2, -1)]
        return [_midnight(day, zone) for day in days]
    if period is Period.WEEK:
        first = today - dt.timedelta(days=(today.isoweekday() - week_start) % 7)
        weeks = [first - dt.timedelta(weeks=back) for back in range(count - 1, -2, -1)]
        return [_midnight(day, zone) for day in weeks]
    months = [_month_start(today.year, today.month, back) for back in range(count - 1, -2, -1)]
    return [_midnight(day, zone) for day in months]


class RegisterSource(Protocol):
    """The stored values of one cumulative register."""

    def reading_at(self, at: dt.datetime, *, after: bool = False) -> Reading | None:
        """The last valid value at or before ``at`` (``after``: the first at or after it)."""

    def increase(self, start: dt.datetime, end: dt.datetime) -> float:
        """The sum of the register's rises from ``start`` to ``end``."""


@dataclass(frozen=True, slots=True)
class Bar:
    """One period's consumption.

    Attributes:
        start: the period's start (UTC).
        end: its end (UTC); in the future for the running period.
        value: what the register counted, in its unit; ``None`` when unknown (no value
            stored within the period).
        partial: the history begins within the period, so ``value`` misses its start.
        running: the period holds ``now``: ``value`` counts up to the latest value.
    """

    start: dt.datetime
    end: dt.datetime
    value: float | None
    partial: bool
    running: bool


def bars(source: RegisterSource, edges: Sequence[dt.datetime], now: dt.datetime) -> list[Bar]:
    """The consumption in each period between consecutive ``edges`` (see the module)."""
    found = []
    for start, end in pairwise(edges):
        upto = min(end, now)
        value: float | None = None
        partial = False
        top = source.reading_at(upto) if start <= now else None
        if top is not None and top.time >= start:
            base = source.reading_at(start)
            if base is None:
                base = source.reading_at(start, after=True)
                partial = True
            if base is not None and base.time <= upto:
                value = top.value - base.value
                if value < 0:  # the register went back (a replaced meter): count its rises
                    value = source.increase(start, upto)
        found.append(Bar(start, end, value, partial, start <= now < end))
    return found
