"""``/api/history`` and ``/api/energy``: stored values, read from the SQLite history off the loop.

The parameters are checked first (:func:`history_request`, :func:`energy_request`); a
bad one is a :class:`HistoryRequestError` whose ``status`` is the HTTP status to
answer with (400 for a malformed request, 404 for an unknown signal or no history at
all) and whose message says what is allowed. :class:`HistoryReader` opens the
history files read-only on first use, on its own worker thread, so the event loop
never waits for the disk. It reads every file it is given (a supervisor of
``run --workers`` reads each worker's file): a signal's rows are merged from all.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import heapq
import sqlite3
import zoneinfo
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any, TypeVar

from obisgate.errors import ConfigError, ObisgateError
from obisgate.gateway.history import Bucket, HistoryRow, HistoryStore, Reading
from obisgate.gateway.outputs.http.energy import (
    DEFAULT_COUNT,
    MAX_COUNT,
    Bar,
    Period,
    bars,
    boundaries,
)
from obisgate.gateway.outputs.http.state import json_ready

__all__ = [
    "MAX_POINTS",
    "EnergyRequest",
    "HistoryReader",
    "HistoryRequest",
    "HistoryRequestError",
    "energy_request",
    "history_request",
]

T = TypeVar("T")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

#: The most points one aggregated ``/api/history`` answer may ask for.
MAX_POINTS = 10_000


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
    """A checked ``/api/history`` request: ``start`` included, ``end`` excluded; with
    ``points``, at most that many values (averaged in equal time buckets when more are
    stored)."""

    device: str
    signal: str
    start: datetime | None
    end: datetime | None
    limit: int
    points: int | None = None


@dataclass(frozen=True, slots=True)
class EnergyRequest:
    """A checked ``/api/energy`` request."""

    device: str
    period: Period
    count: int
    zone: zoneinfo.ZoneInfo | dt.timezone
    week_start: int


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


def _count(name: str, text: str, most: int, least: int = 1) -> int:
    """``text`` as a whole number ``least``..``most``: ASCII digits only (``int`` would take
    "²" or "٣")."""
    digits = text.strip()
    if not (digits.isascii() and digits.isdigit() and len(digits) <= 18):
        raise HistoryRequestError(f"{name}={text!r}: allowed {least} to {most} (digits 0-9)")
    number = int(digits)
    if not least <= number <= most:
        raise HistoryRequestError(f"{name}={text!r}: allowed {least} to {most}")
    return number


def history_request(query: Mapping[str, str], max_rows: int) -> HistoryRequest:
    """Check the query parameters ``device``, ``signal``, ``from``, ``to``, ``limit``, ``points``.

    Raises:
        HistoryRequestError: (400) a missing device or signal, a time that is not
            ISO 8601, ``from`` not before ``to``, a limit that is not 1..``max_rows``
            or points not 2..:data:`MAX_POINTS` written in ASCII digits, points
            without both ``from`` and ``to``.
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
    points = None
    if (text := query.get("points")) is not None:
        points = _count("points", text, MAX_POINTS, 2)
        if start is None or end is None:
            raise HistoryRequestError("points needs a range: give from and to")
    return HistoryRequest(device, signal, start, end, limit, points)


def energy_request(query: Mapping[str, str]) -> EnergyRequest:
    """Check the query parameters ``device``, ``period``, ``count``, ``tz``, ``week_start``.

    Raises:
        HistoryRequestError: (400) no device, a period that is not day, week or month,
            a count not 1..:data:`~obisgate.gateway.outputs.http.energy.MAX_COUNT`, a
            time zone that is no IANA name (``Europe/Berlin``), a week start not 1-7.
    """
    device = query.get("device", "").strip()
    if not device:
        raise HistoryRequestError("device is required: ?device=ALIAS&period=day|week|month")
    try:
        period = Period(query.get("period", "day").strip().lower())
    except ValueError:
        raise HistoryRequestError(
            f"period={query.get('period')!r}: allowed day, week, month"
        ) from None
    count = DEFAULT_COUNT[period]
    if (text := query.get("count")) is not None:
        count = _count("count", text, MAX_COUNT)
    name = query.get("tz", "UTC").strip() or "UTC"
    zone: zoneinfo.ZoneInfo | dt.timezone
    if name.upper() == "UTC":
        zone = UTC
    else:
        try:
            zone = zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            raise HistoryRequestError(
                f"tz={name!r}: expected a time zone name such as Europe/Berlin or UTC"
            ) from None
    week_start = 1
    if (text := query.get("week_start")) is not None:
        week_start = _count("week_start", text, 7)
    return EnergyRequest(device, period, count, zone, week_start)


def _row_json(row: HistoryRow) -> dict[str, Any]:
    value: Any = row.value
    if isinstance(value, date | time):
        value = value.isoformat()
    return {
        "time": row.time.isoformat(timespec="milliseconds"),
        "value": json_ready(value),
        "quality": row.quality.to_json(),
    }


class _Register:
    """One register in every history file: the energy arithmetic's
    :class:`~obisgate.gateway.outputs.http.energy.RegisterSource`."""

    def __init__(self, stores: Sequence[HistoryStore], device: str, signal: str) -> None:
        self.stores = stores
        self.device = device
        self.signal = signal

    def reading_at(self, at: datetime, *, after: bool = False) -> Reading | None:
        found = [s.reading_at(self.device, self.signal, at, after=after) for s in self.stores]
        readings = [r for r in found if r is not None]
        if not readings:
            return None
        return min(readings) if after else max(readings)

    def increase(self, start: datetime, end: datetime) -> float:
        return sum(s.increase(self.device, self.signal, start, end) for s in self.stores)


def _bar_json(bar: Bar, zone: dt.tzinfo) -> dict[str, Any]:
    return {
        "start": bar.start.astimezone(zone).isoformat(),
        "end": bar.end.astimezone(zone).isoformat(),
        "value": json_ready(bar.value),
        "partial": bar.partial,
        "running": bar.running,
    }


class HistoryReader:
    """Answers history requests from the history files ``files()`` names (or says there
    is none).

    Args:
        files: the SQLite files the history outputs write, asked at each request;
            ``None`` when no signal is logged.
    """

    def __init__(self, files: Callable[[], Sequence[Path]] | None) -> None:
        self.files = files
        self._stores: dict[Path, HistoryStore] = {}
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="obisgate-http-history")

    @classmethod
    def at(cls, path: str | Path | None) -> HistoryReader:
        """A reader of the one file at ``path`` (``None``: no history is kept)."""
        if path is None:
            return cls(None)
        file = Path(path)
        return cls(lambda: [file])

    async def answer(self, request: HistoryRequest) -> dict[str, Any]:
        """The ``/api/history`` JSON object: the newest ``limit`` rows of the range, oldest
        first; with ``points`` and more values than that in the range, the valid numbers
        averaged over ``points`` equal buckets (``step`` seconds each: ``time`` the mean time,
        ``value`` the mean, ``min``, ``max``, ``count``).

        Raises:
            HistoryRequestError: (404) no history is kept, or nothing was ever
                stored for this device and signal; (503) the database cannot be read.
        """
        return await self._run(lambda stores: self._answer(stores, request))

    async def energy(
        self, request: EnergyRequest, registers: Sequence[tuple[str, str]], now: datetime
    ) -> list[dict[str, Any]]:
        """For each ``(signal, direction)`` register of the device: its unit, when its history
        begins (``since``), the bars of the requested periods and the running day, week and
        month (see :mod:`~obisgate.gateway.outputs.http.energy`).

        Raises:
            HistoryRequestError: (404) no history is kept; (503) the database cannot be read.
        """
        return await self._run(lambda stores: self._energy(stores, request, registers, now))

    async def aclose(self) -> None:
        """Close the databases and the worker thread."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._close)
        self._executor.shutdown(wait=True)

    # -- on the worker thread -------------------------------------------------------

    async def _run(self, work: Callable[[list[HistoryStore]], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._with_stores, work)

    def _with_stores(self, work: Callable[[list[HistoryStore]], T]) -> T:
        if self.files is None:
            raise HistoryRequestError("no history is kept: no signal has log > 0", 404)
        paths = list(self.files())
        problems: list[str] = []
        for path in paths:
            if path not in self._stores:
                try:
                    self._stores[path] = HistoryStore(path, create=False)
                except ConfigError as exc:
                    problems.append(str(exc))
        stores = [self._stores[path] for path in paths if path in self._stores]
        if not stores and problems:
            raise HistoryRequestError(f"the history cannot be read: {problems[0]}", 503)
        try:
            return work(stores)
        except sqlite3.Error as exc:
            raise HistoryRequestError(f"the history cannot be read: {exc}", 503) from None

    def _answer(self, stores: list[HistoryStore], request: HistoryRequest) -> dict[str, Any]:
        device, signal = request.device, request.signal
        holding = [store for store in stores if store.has_series(device, signal)]
        if not holding:
            raise HistoryRequestError(
                f"no history of {device}/{signal} (not logged, or nothing stored yet)", 404
            )
        start, end = request.start, request.end
        newest = self._newest(holding, request, 1)
        unit = newest[0].unit if newest else None
        head: dict[str, Any] = {
            "device": device,
            "signal": signal,
            "unit": unit,
            "from": None if start is None else start.isoformat(),
            "to": None if end is None else end.isoformat(),
        }
        if request.points is not None and start is not None and end is not None:
            stored = sum(s.count_between(device, signal, start, end) for s in holding)
            if stored > request.points:
                step = (end - start) / request.points
                buckets = _merged_buckets(
                    [s.buckets(device, signal, start, end, step) for s in holding]
                )
                return {
                    **head,
                    "unit": unit,
                    "truncated": False,
                    "step": step.total_seconds(),
                    "rows": [_bucket_json(b) for b in buckets],
                }
        rows = self._newest(holding, request, request.limit + 1)
        truncated = len(rows) > request.limit
        rows = rows[: request.limit][::-1]
        unit = next((r.unit for r in reversed(rows) if r.unit), unit)
        return {**head, "unit": unit, "truncated": truncated, "rows": [_row_json(r) for r in rows]}

    @staticmethod
    def _newest(
        stores: list[HistoryStore], request: HistoryRequest, limit: int
    ) -> list[HistoryRow]:
        """The newest ``limit`` rows of the range over every file, newest first."""
        found = [
            s.query(
                request.device, request.signal, request.start, request.end, limit, newest_first=True
            )
            for s in stores
        ]
        if len(found) == 1:
            return found[0]
        merged = heapq.merge(*found, key=lambda row: row.time, reverse=True)
        return [row for _, row in zip(range(limit), merged, strict=False)]

    def _energy(
        self,
        stores: list[HistoryStore],
        request: EnergyRequest,
        registers: Sequence[tuple[str, str]],
        now: datetime,
    ) -> list[dict[str, Any]]:
        answer = []
        for signal, direction in registers:
            holding = [s for s in stores if s.has_series(request.device, signal)]
            register = _Register(holding, request.device, signal)
            edges = boundaries(now, request.zone, request.period, request.count, request.week_start)
            current = {}
            for period in Period:
                (bar,) = bars(
                    register, boundaries(now, request.zone, period, 1, request.week_start), now
                )
                current[period.value] = _bar_json(bar, request.zone)
            latest = [s.query(request.device, signal, limit=1, newest_first=True) for s in holding]
            rows = sorted((r for found in latest for r in found), key=lambda r: r.time)
            first = register.reading_at(_EPOCH, after=True)
            answer.append(
                {
                    "signal": signal,
                    "direction": direction,
                    "unit": rows[-1].unit if rows else None,
                    "since": None
                    if first is None
                    else first.time.astimezone(request.zone).isoformat(),
                    "current": current,
                    "bars": [_bar_json(bar, request.zone) for bar in bars(register, edges, now)],
                }
            )
        return answer

    def _close(self) -> None:
        for store in self._stores.values():
            store.close()
        self._stores.clear()


def _merged_buckets(per_file: list[list[Bucket]]) -> list[Bucket]:
    """The buckets of several files as one series (a device's rows may be in more than one)."""
    if len(per_file) == 1:
        return per_file[0]
    joined: dict[int, Bucket] = {}
    for buckets in per_file:
        for b in buckets:
            known = joined.get(b.number)
            if known is None:
                joined[b.number] = b
                continue
            size = known.size + b.size
            mean_time = (known.time.timestamp() * known.size + b.time.timestamp() * b.size) / size
            joined[b.number] = Bucket(
                b.number,
                datetime.fromtimestamp(mean_time, UTC),
                (known.mean * known.size + b.mean * b.size) / size,
                min(known.low, b.low),
                max(known.high, b.high),
                size,
            )
    return [joined[index] for index in sorted(joined)]


def _bucket_json(bucket: Bucket) -> dict[str, Any]:
    return {
        "time": bucket.time.isoformat(timespec="milliseconds"),
        "value": json_ready(bucket.mean),
        "min": json_ready(bucket.low),
        "max": json_ready(bucket.high),
        "count": bucket.size,
    }
