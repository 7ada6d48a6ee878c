"""One MQTT ``json`` message of the gateway (one readout) -> rows of the readings table.

The payload is the MQTT output's ``format = "json"`` message::

    {"device": ALIAS, "time": ISO-8601, "status": TEXT,
     "updates": [{"device", "signal", "value", "unit", "time", "quality"[, "raw"]}, ...]}

Each update becomes one :class:`Row`. A number (not a boolean) goes to ``value``;
any other value (text, date, boolean) to ``text`` as JSON would print it. Quality is the
:class:`~obisgate.gateway.quality.Quality` bits.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, NamedTuple

from obisgate.gateway.quality import Quality

__all__ = ["COLUMNS", "BadMessage", "Row", "rows_from_payload"]


class BadMessage(ValueError):
    """A payload that is not a gateway readout message (the reason, without the payload)."""


class Row(NamedTuple):
    """One row of the readings table (see :mod:`obisgate.sink.schema`)."""

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


def _time(text: object) -> dt.datetime:
    if not isinstance(text, str):
        raise BadMessage("time is not a string")
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise BadMessage(f"time {text[:40]!r} is not ISO 8601") from None
    if parsed.tzinfo is None:
        raise BadMessage(f"time {text[:40]!r} has no time zone")
    return parsed


def _row(update: Any) -> Row:
    if not isinstance(update, dict):
        raise BadMessage("an update is not an object")
    device, signal = update.get("device"), update.get("signal")
    if not isinstance(device, str) or not isinstance(signal, str) or not device or not signal:
        raise BadMessage("an update has no device or signal")
    value = update.get("value")
    number: float | None = None
    text: str | None = None
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        text = value
    elif value is not None:
        text = json.dumps(value)
    quality = update.get("quality") or []
    if not isinstance(quality, list) or not all(isinstance(q, str) for q in quality):
        raise BadMessage("quality is not a list of names")
    try:
        bits = Quality.from_json(quality).value
    except (KeyError, ValueError):
        raise BadMessage(f"unknown quality {quality!r}") from None
    unit, raw = update.get("unit"), update.get("raw")
    return Row(
        device=device,
        signal=signal,
        time=_time(update.get("time")),
        value=number,
        text=text,
        unit=unit if isinstance(unit, str) else None,
        quality=bits,
        raw=raw if isinstance(raw, str) else None,
    )


def rows_from_payload(payload: bytes | bytearray | str) -> list[Row]:
    """The rows of one readout message.

    Raises:
        BadMessage: not JSON, not an object with an ``updates`` list, or an update
            without device/signal, with a time that is not ISO 8601 with a zone, or
            with unknown quality names.
    """
    try:
        message = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        raise BadMessage("not JSON") from None
    if not isinstance(message, dict) or not isinstance(message.get("updates"), list):
        raise BadMessage("no updates list")
    return [_row(update) for update in message["updates"]]
