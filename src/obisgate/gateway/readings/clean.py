"""Make a reading storable before it reaches PostgreSQL (pure functions).

PostgreSQL refuses what a meter or a publisher may well send: text with NUL bytes
(``invalid byte sequence for encoding "UTF8": 0x00``; meters pad registers with
NULs), lone UTF-16 surrogates (they cannot be encoded as UTF-8 at all), numbers
beyond a double (a 400-digit integer in a JSON message), times outside what the
table can partition. One refused row makes a whole batch fail, so every row is
cleaned here, at the edge, by the one rule below, whichever path it came by (the
gateway's ``[postgres]`` output or ``obisgate sink postgres``):

* text (values, units, device and signal names): NUL is removed; every other
  control character (C0, DEL, C1) is written as ``\\xNN``; a lone surrogate becomes
  U+FFFD. Text without such characters is returned unchanged (the same object).
* a number that is not a finite double once converted (an integer beyond ±1.8e308)
  is stored as its decimal text, with the quality flag OVERFLOW.
* a time before :data:`EARLIEST` or from :data:`LATEST` on, or a device or signal
  name longer than :data:`MAX_NAME` characters, is refused: the reading goes to the
  dead-letter table with the reason instead of the readings table.
"""

from __future__ import annotations

import datetime as dt
import math
import re

__all__ = ["EARLIEST", "LATEST", "MAX_NAME", "clean_text", "fit_number", "time_problem"]

#: Readings before this instant are refused (no meter reading predates it).
EARLIEST = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
#: Readings from this instant on are refused (a clock or a message gone wrong).
LATEST = dt.datetime(2200, 1, 1, tzinfo=dt.UTC)
#: Longest device or signal name stored (the primary key's index has a size limit).
MAX_NAME = 200

_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def _replace(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if code == 0:
        return ""
    if code >= 0xD800:
        return "\ufffd"
    return f"\\x{code:02x}"


def clean_text(text: str) -> str:
    """``text`` without NUL, with other control characters as ``\\xNN`` and lone
    surrogates as U+FFFD (see the module docstring); idempotent."""
    if _UNSAFE.search(text) is None:
        return text
    return _UNSAFE.sub(_replace, text)


def fit_number(value: int | float) -> tuple[float | None, str | None]:
    """``(number, None)`` when ``value`` is stored as a double, else ``(None, text)``:
    an integer too large for a double, to be stored as text with OVERFLOW.

    ``NaN`` and the infinities (which JSON cannot carry, but Python's parser
    accepts) are doubles PostgreSQL stores as such.
    """
    if isinstance(value, float):
        return value, None
    try:
        number = float(value)
    except OverflowError:
        return None, str(value)
    if math.isinf(number):  # pragma: no cover - float(int) raises instead
        return None, str(value)
    return number, None


def time_problem(time: dt.datetime) -> str | None:
    """Why ``time`` (zone-aware) is refused, or ``None`` when it is in range."""
    try:
        inside = EARLIEST <= time < LATEST
    except OverflowError:  # e.g. 9999-12-31T23:00-05:00 has no UTC equivalent
        inside = False
    if not inside:
        return (
            f"time {time.isoformat()} is out of range "
            f"({EARLIEST.year}-01-01 to {LATEST.year}-01-01 UTC)"
        )
    return None
