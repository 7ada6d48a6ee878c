"""``/api/history``: one signal's stored values, read from the SQLite history off the loop.

The parameters are checked first (:func:`history_request`); a bad one is a
:class:`HistoryRequestError` whose ``status`` is the HTTP status to answer with
(400 for a malformed request, 404 for an unknown signal or no history at all)
and whose message says what is allowed. :class:`HistoryReader` opens the
database read-only on first use, on its own worker thread, so the event loop
never waits for the disk.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

from obisgate.errors import ConfigError, ObisgateError
from obisgate.gateway.history import HistoryRow, HistoryStore
from obisgate.gateway.outputs.http.state import json_ready

__all__ = ["HistoryReader", "HistoryRequest", "HistoryRequestError", "history_request"]


class HistoryRequestError(ObisgateError):
    """A history request that cannot be answered.

    Attributes:
        status: the HTTP status for it (400 or 404).
    """

    kind = "bad request"

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class HistoryRequest:
    """A checked ``/api/history`` request: ``start`` included, ``end`` excluded."""

    device: str
    signal: str
    start: datetime | None
    end: datetime | None
    limit: int


def _time(name: str, text: str | None) -> datetime | None:
    if text is None or not text.strip():
        return None
    text = text.strip()
    if " " in text and "T" in text:
        head, _, zone = text.rpartition(" ")  # an unencoded "+01:00" arrives as " 01:00"
        text = f"{head}+{zone}"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise HistoryRequestError(
            f"{name}={text!r}: expected an ISO 8601 time, e.g. 2026-12-01T10:00:00Z "
            "(no time zone = UTC)"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _count(name: str, text: str, most: int) -> int:
    """``text`` as a whole number 1..``most``: ASCII digits only (``int`` would take "²" or "٣")."""
    digits = text.strip()
    if not (digits.isascii() and digits.isdigit() and len(digits) <= 18):
        raise HistoryRequestError(f"{name}={text!r}: allowed 1 to {most} (digits 0-9)")
    number = int(digits)
    if not 1 <= number <= most:
        raise HistoryRequestError(f"{name}={text!r}: allowed 1 to {most}")
    return number


def history_request(query: Mapping[str, str], max_rows: int) -> HistoryRequest:
    """Check the query parameters ``device``, ``signal``, ``from``, ``to``, ``limit``.

    Raises:
        HistoryRequestError: (400) a missing device or signal, a time that is not
            ISO 8601, ``from`` not before ``to``, a limit that is not 1..``max_rows``
            written in ASCII digits.
    """
    device, signal = query.get("device", "").strip(), query.get("signal", "").strip()
    if not device or not signal:
        raise HistoryRequestError("device and signal are required: ?device=ALIAS&signal=ALIAS")
    start, end = _time("from", query.get("from")), _time("to", query.get("to"))
    if start is not None and end is not None and start >= end:
        raise HistoryRequestError("from must be before to")
    limit = max_rows
    if (text := query.get("limit")) is not None:
        limit = _count("limit", text, max_rows)
    return HistoryRequest(device, signal, start, end, limit)


def _row_json(row: HistoryRow) -> dict[str, Any]:
    value: Any = row.value
    if isinstance(value, date | time):
        value = value.isoformat()
    return {
        "time": row.time.isoformat(timespec="milliseconds"),
        "value": json_ready(value),
        "quality": row.quality.to_json(),
    }


class HistoryReader:
    """Answers history requests from the history database at ``path`` (or says there is none).

    Args:
        path: the SQLite file the history output writes, or ``None`` when no
            signal is logged.
    """

    def __init__(self, path: str | Path | None) -> None:
        self.path = None if path is None else Path(path)
        self._store: HistoryStore | None = None
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="obisgate-http-history")

    async def answer(self, request: HistoryRequest) -> dict[str, Any]:
        """The ``/api/history`` JSON object: the newest ``limit`` rows of the range, oldest first.

        Raises:
            HistoryRequestError: (404) no history is kept, or nothing was ever
                stored for this device and signal; (503) the database cannot be read.
        """
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._answer, request)

    def _answer(self, request: HistoryRequest) -> dict[str, Any]:
        if self.path is None:
            raise HistoryRequestError("no history is kept: no signal has log > 0", 404)
        try:
            if self._store is None:
                self._store = HistoryStore(self.path, create=False)
            store = self._store
            if not store.has_series(request.device, request.signal):
                raise HistoryRequestError(
                    f"no history of {request.device}/{request.signal} "
                    "(not logged, or nothing stored yet)",
                    404,
                )
            rows = store.query(
                request.device,
                request.signal,
                request.start,
                request.end,
                request.limit + 1,
                newest_first=True,
            )
        except (ConfigError, sqlite3.Error) as exc:
            raise HistoryRequestError(f"the history cannot be read: {exc}", 503) from None
        truncated = len(rows) > request.limit
        rows = rows[: request.limit][::-1]
        unit = next((r.unit for r in reversed(rows) if r.unit), None)
        return {
            "device": request.device,
            "signal": request.signal,
            "unit": unit,
            "from": None if request.start is None else request.start.isoformat(),
            "to": None if request.end is None else request.end.isoformat(),
            "truncated": truncated,
            "rows": [_row_json(r) for r in rows],
        }

    async def aclose(self) -> None:
        """Close the database and the worker thread."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._close)
        self._executor.shutdown(wait=True)

    def _close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
