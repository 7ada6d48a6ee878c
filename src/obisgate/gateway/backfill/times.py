"""The meter's clock and UTC; the interval boundaries of a load profile (pure).

A load profile's time stamps are the meter's local time, naive. The device's
``profile_timezone`` says which zone that is: ``local`` (this machine's, ``None``
here), ``UTC``, a fixed offset (``+01:00``: a meter that never changes to summer
time) or a zone name (``Europe/Berlin``). In a zone with summer time the hour
that repeats in autumn is told apart by the profile's season flag: ``1`` (summer)
is its first pass, ``0`` its second.

Boundaries: the profile records one interval per period, each stamped at a
whole multiple of the period counted from the meter's local midnight (the
period divides a day).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "boundaries",
    "count_boundaries",
    "divides_a_day",
    "last_boundary",
    "meter_zone",
    "next_boundary",
    "season_flag",
    "to_meter",
    "to_utc",
]

_OFFSET = re.compile(r"([+-])(\d{1,2}):?(\d{2})")
_DAY_S = 86_400


def meter_zone(text: str) -> tzinfo | None:
    """The zone of ``text``: ``None`` for ``local``, else a :class:`tzinfo`.

    Raises:
        ValueError: not ``local``, ``UTC``, ``+HH:MM`` / ``-HH:MM`` (below 24 h) or a
            known zone name; the message says what is allowed.
    """
    name = text.strip()
    if name.lower() == "local":
        return None
    if name.upper() in ("UTC", "Z"):
        return UTC
    match = _OFFSET.fullmatch(name)
    if match is not None:
        sign, hours, minutes = match.groups()
        offset = timedelta(hours=int(hours), minutes=int(minutes))
        if offset >= timedelta(hours=24) or int(minutes) >= 60:
            raise ValueError(f"offset {name!r}: at most +23:59")
        return timezone(-offset if sign == "-" else offset)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r}: local, UTC, an offset such as +01:00, "
            "or a zone name such as Europe/Berlin"
        ) from None


def to_utc(moment: datetime, zone: tzinfo | None, season: str = "") -> datetime:
    """A naive meter time as an aware UTC time.

    In a zone with summer time, ``season`` ``"1"`` takes the first pass of a
    repeated hour and ``"0"`` the second; otherwise the first.
    """
    if zone is None:
        return moment.astimezone(UTC)  # this machine's rules
    fold = 1 if season == "0" and _repeated(moment, zone) else 0
    return moment.replace(tzinfo=zone, fold=fold).astimezone(UTC)


def _repeated(moment: datetime, zone: tzinfo) -> bool:
    first = moment.replace(tzinfo=zone, fold=0).utcoffset()
    second = moment.replace(tzinfo=zone, fold=1).utcoffset()
    return first != second


def to_meter(moment: datetime, zone: tzinfo | None) -> datetime:
    """An aware time as the meter's naive local time."""
    local = moment.astimezone() if zone is None else moment.astimezone(zone)
    return local.replace(tzinfo=None, fold=0)


def season_flag(moment: datetime, zone: tzinfo | None) -> str:
    """The season flag of an aware time in the meter's zone: ``1`` in summer time, else ``0``."""
    local = moment.astimezone() if zone is None else moment.astimezone(zone)
    dst = local.dst()
    return "1" if dst is not None and dst > timedelta(0) else "0"


def next_boundary(after: datetime, period_s: int, zone: tzinfo | None) -> datetime:
    """The first interval stamp later than the aware time ``after`` (UTC)."""
    local = to_meter(after, zone)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    elapsed = (local - midnight).total_seconds()
    steps = int(elapsed // period_s) + 1
    found = to_utc(midnight + timedelta(seconds=steps * period_s), zone)
    while found <= after:  # a clock change moved the local grid
        found += timedelta(seconds=period_s)
    return found


def last_boundary(upto: datetime, period_s: int, zone: tzinfo | None) -> datetime:
    """The last interval stamp at or before the aware time ``upto`` (UTC)."""
    local = to_meter(upto, zone)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    steps = int((local - midnight).total_seconds() // period_s)
    found = to_utc(midnight + timedelta(seconds=steps * period_s), zone)
    while found > upto:
        found -= timedelta(seconds=period_s)
    return found


def boundaries(
    lo: datetime, hi: datetime, period_s: int, zone: tzinfo | None, *, limit: int | None = None
) -> list[datetime]:
    """The interval stamps ``b`` with ``lo < b <= hi`` (UTC, oldest first), at most ``limit``."""
    found: list[datetime] = []
    moment = next_boundary(lo, period_s, zone)
    while moment <= hi and (limit is None or len(found) < limit):
        found.append(moment)
        moment = next_boundary(moment, period_s, zone)
    return found


def count_boundaries(lo: datetime, hi: datetime, period_s: int, zone: tzinfo | None) -> int:
    """How many interval stamps fall in ``(lo, hi]`` (counted, not listed: cheap for long spans)."""
    if hi <= lo:
        return 0
    first = next_boundary(lo, period_s, zone)
    if first > hi:
        return 0
    return int((hi - first).total_seconds() // period_s) + 1


def divides_a_day(period_s: int) -> bool:
    """Whether ``period_s`` is a whole number of minutes that divides a day."""
    return period_s > 0 and period_s % 60 == 0 and _DAY_S % period_s == 0
