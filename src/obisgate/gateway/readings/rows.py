"""One readout message -> rows of the readings table, cleaned; the rest refused (pure).

The message is the one :mod:`obisgate.gateway.readings.message` writes::

    {"device": ALIAS, "time": ISO-8601, "status": TEXT,
     "updates": [{"device", "signal", "value", "unit", "time", "quality"[, "raw"]}, ...]}

Each update becomes one :class:`Row`. A number (not a boolean) goes to ``value``;
any other value (text, date, boolean) to ``text`` as JSON would print it. Quality
is the :class:`~obisgate.gateway.quality.Quality` bits. Every text is cleaned and
every number fitted by :mod:`obisgate.gateway.readings.clean`.

:func:`parse_message` never raises: an update that cannot be stored (no device or
signal, a time that is not ISO 8601 with a zone or out of range, unknown quality
names) becomes a :class:`Refused` with the reason, and so does the whole message
when it is not a readout message at all; the other updates are still stored.
Refused readings go to the dead-letter table (:mod:`obisgate.gateway.readings.schema`),
so a poison message never stops the stream and never disappears unseen.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any, NamedTuple

from obisgate.gateway.quality import Quality
from obisgate.gateway.readings.clean import MAX_NAME, clean_text, fit_number, time_problem

__all__ = ["COLUMNS", "MAX_DATA", "BadMessage", "Parsed", "Refused", "Row", "parse_message"]

#: Longest ``data`` kept with a refused reading (characters).
MAX_DATA = 4000

_CONTROL = re.compile("[\x00-\x1f\x7f]")


class BadMessage(ValueError):
    """A payload or update that cannot be stored (the reason, without the payload)."""


class Row(NamedTuple):
    """One row of the readings table (see :mod:`obisgate.gateway.readings.schema`)."""

    device: str
    signal: str
    time: dt.datetime
    value: float | None
    text: str | None
    unit: str | None
    quality: int
    raw: str | None


#: Column order of :class:`Row` (the COPY column list).
COLUMNS = Row._fields


class Refused(NamedTuple):
    """A reading (or a whole message) kept out of the readings table: a dead letter.

    Attributes:
        device, signal, time: as far as they could be read (cleaned), else ``None``.
        reason: why, one line.
        data: the update or message as ASCII text (control characters and
            non-ASCII escaped), at most :data:`MAX_DATA` characters.
    """

    device: str | None
    signal: str | None
    time: str | None
    reason: str
    data: str


class Parsed(NamedTuple):
    """What one message gives: rows to store and readings refused."""

    rows: list[Row]
    refused: list[Refused]


def ascii_text(data: object) -> str:
    """``data`` (a string, bytes, or anything JSON can write) as storable ASCII text:
    control characters as ``\\xNN``, other non-ASCII escaped as Python does."""
    if isinstance(data, bytes | bytearray):
        text = bytes(data).decode("utf-8", "backslashreplace")
    elif isinstance(data, str):
        text = data
    else:
        try:
            text = json.dumps(data, ensure_ascii=True, default=str)
        except ValueError:  # e.g. an integer of more digits than str() allows
            text = repr(type(data))
    text = text.encode("ascii", "backslashreplace").decode("ascii")
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)[:MAX_DATA]


def _time(text: object) -> dt.datetime:
    if not isinstance(text, str):
        raise BadMessage("time is not a string")
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise BadMessage(f"time {ascii_text(text[:40])!r} is not ISO 8601") from None
    if parsed.tzinfo is None:
        raise BadMessage(f"time {ascii_text(text[:40])!r} has no time zone")
    problem = time_problem(parsed)
    if problem is not None:
        raise BadMessage(problem)
    return parsed


def _name(value: object, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise BadMessage(f"an update has no {what}")
    cleaned = clean_text(value)
    if len(cleaned) > MAX_NAME:
        raise BadMessage(f"{what} is longer than {MAX_NAME} characters")
    return cleaned


def _row(update: Any) -> Row:
    if not isinstance(update, dict):
        raise BadMessage("an update is not an object")
    device = _name(update.get("device"), "device")
    signal = _name(update.get("signal"), "signal")
    value = update.get("value")
    number: float | None = None
    text: str | None = None
    overflow = False
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, int | float):
        number, text = fit_number(value)
        overflow = text is not None
    elif isinstance(value, str):
        text = clean_text(value)
    elif value is not None:
        text = ascii_text(value)
    quality = update.get("quality") or []
    if not isinstance(quality, list) or not all(isinstance(q, str) for q in quality):
        raise BadMessage("quality is not a list of names")
    try:
        bits = Quality.from_json(quality)
    except (KeyError, ValueError):
        raise BadMessage(f"unknown quality {ascii_text(quality)[:80]}") from None
    if overflow:
        bits |= Quality.OVERFLOW
    unit, raw = update.get("unit"), update.get("raw")
    return Row(
        device=device,
        signal=signal,
        time=_time(update.get("time")),
        value=number,
        text=text,
        unit=clean_text(unit) if isinstance(unit, str) else None,
        quality=bits.value,
        raw=clean_text(raw) if isinstance(raw, str) else None,
    )


def _refused(update: Any, reason: str) -> Refused:
    def field(name: str) -> str | None:
        value = update.get(name) if isinstance(update, dict) else None
        return ascii_text(value)[:MAX_NAME] if isinstance(value, str) else None

    return Refused(field("device"), field("signal"), field("time"), reason, ascii_text(update))


def parse_message(payload: bytes | bytearray | str) -> Parsed:
    """The rows of one readout message, and what was refused (never raises)."""
    try:
        message = json.loads(payload)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return Parsed([], [Refused(None, None, None, "not JSON", ascii_text(payload))])
    if not isinstance(message, dict) or not isinstance(message.get("updates"), list):
        return Parsed([], [Refused(None, None, None, "no updates list", ascii_text(payload))])
    rows: list[Row] = []
    refused: list[Refused] = []
    for update in message["updates"]:
        try:
            rows.append(_row(update))
        except BadMessage as exc:
            refused.append(_refused(update, str(exc)))
    return Parsed(rows, refused)
