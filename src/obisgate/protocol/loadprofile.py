"""VDEW / EDL load profiles ``P.01`` (and logs ``P.98``): rows, headers, ranges.

Answer layout (docs/iec62056-21.md §9.4)::

    P.01(ts)(status)(interval)(n)(code1)(unit1)...(code_n)(unit_n) CR LF
    (v1)(v2)...(v_n) CR LF            one line per interval, the first at ``ts``
    ...
    P.01(ts)(status)...               a new header whenever the status changes

Time stamps: ``ZYYMMDDhhmmss`` (13), ``YYMMDDhhmmss`` (12), ``ZYYMMDDhhmm``
(11) or ``YYMMDDhhmm`` (10) digits, ``Z`` being the season flag. Times are naive
(the meter's local time); the season flag is kept as sent. Pure functions only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from obisgate.errors import ConfigError, FramingError
from obisgate.protocol.dataset import Value, parse_data_block

__all__ = [
    "Channel",
    "LoadProfile",
    "ProfileRow",
    "format_load_profile",
    "format_profile_timestamp",
    "parse_load_profile",
    "parse_profile_time",
    "split_range",
]


@dataclass(frozen=True, slots=True)
class Channel:
    """One column of a load profile: its OBIS code and unit, as sent."""

    code: str
    unit: str


@dataclass(frozen=True, slots=True)
class ProfileRow:
    """One interval of a load profile.

    Attributes:
        timestamp: the interval's time stamp (naive, meter local time).
        season: the season / time-zone flag of the header (``""`` if absent).
        status: the status word of the header, as sent (often hex).
        interval_min: the interval length in minutes.
        values: one value group per channel, as sent.
        channels: the channels these values belong to.
    """

    timestamp: datetime
    season: str
    status: str
    interval_min: int
    values: tuple[Value, ...]
    channels: tuple[Channel, ...]


@dataclass(frozen=True, slots=True)
class LoadProfile:
    """A parsed load-profile answer.

    Attributes:
        profile: the profile address, e.g. ``"P.01"``.
        channels: every channel, in order of first appearance.
        rows: the intervals, in the order sent.
        unparsed: text that was neither header nor row (normally empty).
    """

    profile: str
    channels: tuple[Channel, ...]
    rows: tuple[ProfileRow, ...]
    unparsed: tuple[str, ...] = ()


#: Longest interval accepted in a profile header (a day, in minutes).
_MAX_INTERVAL_MIN = 1440


def parse_profile_time(text: str) -> tuple[datetime, str]:
    """Parse a load-profile time stamp; returns (time, season flag).

    Raises:
        FramingError: not 10-13 digits forming a valid date and time.
    """
    digits = text.strip()
    if not digits.isdigit() or len(digits) not in (10, 11, 12, 13):
        raise FramingError(f"load-profile time stamp {text!r}: expected 10-13 digits")
    season = ""
    if len(digits) in (11, 13):
        season, digits = digits[0], digits[1:]
    fmt = "%y%m%d%H%M%S" if len(digits) == 12 else "%y%m%d%H%M"
    try:
        return datetime.strptime(digits, fmt), season
    except ValueError:
        raise FramingError(f"load-profile time stamp {text!r} is not a valid time") from None


def format_profile_timestamp(moment: datetime, season: str = "0") -> str:
    """Encode a header time stamp ``ZYYMMDDhhmmss`` (13 characters)."""
    return f"{season}{moment:%y%m%d%H%M%S}"


def parse_load_profile(text: str, profile: str = "P.01") -> LoadProfile:
    """Parse the data block of a load-profile answer.

    Row ``k`` after a header gets the header's time plus ``k`` intervals.
    Rows without a header before them are kept in ``unparsed``. If the meter
    omits the line break after a header, the extra value groups are split into
    rows of ``n`` values.

    Raises:
        FramingError: a header whose time, interval or channel count is invalid.
    """
    datasets, unparsed_text = parse_data_block(text)
    unparsed = list(unparsed_text)
    rows: list[ProfileRow] = []
    channels: dict[Channel, None] = {}
    header: tuple[datetime, str, str, int, tuple[Channel, ...]] | None = None
    index = 0
    for ds in datasets:
        pending: Sequence[Value] = ds.values
        if ds.address:
            if ds.address != profile:
                unparsed.append(ds.to_text())
                continue
            header, pending = _parse_header(ds.values)
            index = 0
            for ch in header[4]:
                channels.setdefault(ch, None)
        elif header is None:
            unparsed.append(ds.to_text())
            continue
        start, season, status, interval, chans = header
        width = len(chans)
        if not width:
            continue
        for i in range(0, len(pending), width):
            group = tuple(pending[i : i + width])
            if len(group) != width:
                unparsed.append("".join(v.to_text() for v in group))
                break
            rows.append(
                ProfileRow(
                    start + timedelta(minutes=interval * index),
                    season,
                    status,
                    interval,
                    group,
                    chans,
                )
            )
            index += 1
    return LoadProfile(profile, tuple(channels), tuple(rows), tuple(unparsed))


def _parse_header(
    values: Sequence[Value],
) -> tuple[tuple[datetime, str, str, int, tuple[Channel, ...]], Sequence[Value]]:
    if len(values) < 4:
        raise FramingError("load-profile header needs (time)(status)(interval)(channels)")
    start, season = parse_profile_time(values[0].raw)
    status = values[1].raw
    try:
        interval = int(values[2].raw)
        count = int(values[3].raw)
    except ValueError:
        raise FramingError(
            f"load-profile header: interval {values[2].raw!r} and channel count "
            f"{values[3].raw!r} must be integers"
        ) from None
    if not 0 < interval <= _MAX_INTERVAL_MIN or count < 0 or len(values) < 4 + 2 * count:
        raise FramingError(
            f"load-profile header: interval {interval} min, {count} channels, "
            f"but {len(values) - 4} code/unit groups"
        )
    chans = tuple(Channel(values[4 + 2 * i].raw, values[5 + 2 * i].raw) for i in range(count))
    return (start, season, status, interval, chans), values[4 + 2 * count :]


def format_load_profile(
    profile: str,
    channels: Sequence[Channel],
    interval_min: int,
    rows: Iterable[tuple[datetime, str, Sequence[str]]],
    *,
    season: str = "0",
) -> str:
    """Encode rows as a meter sends them (the simulator's side).

    A header starts the block and is repeated whenever the status changes or
    a row does not follow its predecessor by exactly one interval.

    Args:
        profile: ``"P.01"``.
        channels: the columns.
        interval_min: interval length.
        rows: (time stamp, status, value texts) in time order.
        season: the season flag written in headers.

    Returns:
        The data block (lines joined by CR LF, ending with CR LF), or ``""``.
    """
    lines: list[str] = []
    expected: datetime | None = None
    last_status: str | None = None
    step = timedelta(minutes=interval_min)
    head_tail = f"({interval_min})({len(channels)})" + "".join(
        f"({c.code})({c.unit})" for c in channels
    )
    for moment, status, values in rows:
        if status != last_status or moment != expected:
            ts = format_profile_timestamp(moment, season)
            lines.append(f"{profile}({ts})({status}){head_tail}")
            last_status = status
        lines.append("".join(f"({v})" for v in values))
        expected = moment + step
    return "".join(line + "\r\n" for line in lines)


def split_range(
    start: datetime, end: datetime, max_span: timedelta
) -> list[tuple[datetime, datetime]]:
    """Cut ``[start, end]`` into consecutive pieces no longer than ``max_span``.

    Each piece ends where the next begins (bounds are shared; the caller
    removes the duplicate rows a meter returns for a shared bound).

    Raises:
        ConfigError: ``end`` before ``start`` or a non-positive ``max_span``.
    """
    if end < start:
        raise ConfigError("the end of the range is before its start")
    if max_span <= timedelta(0):
        raise ConfigError("the largest span per request must be positive")
    pieces = []
    lo = start
    while True:
        hi = min(lo + max_span, end)
        pieces.append((lo, hi))
        if hi >= end:
            return pieces
        lo = hi
