"""A live table of the latest value of every signal, for a terminal."""

from __future__ import annotations

import logging
import re
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from obisgate.gateway.outputs.base import Output, publish_each
from obisgate.gateway.outputs.health import HealthRecord, OutputHealth, OutputState
from obisgate.gateway.updates import STATUS_SIGNAL, SignalUpdate

__all__ = ["TableLogHandler", "TableOutput", "natural_key"]

_CLEAR = "\033[H\033[J"
_DIGITS = re.compile(r"(\d+)")


def natural_key(text: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key that orders digit runs by value: ``1.6.0`` < ``1.8.0`` < ``14.7.0``."""
    return tuple(
        (0, int(part)) if part.isdigit() else (1, part)
        for part in _DIGITS.split(text)
        if part != ""
    )


class TableOutput(Output):
    """The latest value of every signal, under a status line.

    On a terminal the table is redrawn in place (at most every
    ``min_interval_s``), and log messages given to :meth:`note` are shown in a
    few lines below it, so nothing else writes over the table. Into a file or
    pipe no terminal control codes are written: the table is printed once, when
    the output closes.

    Args:
        stream: where to draw [stdout].
        min_interval_s: redraw at most this often.
        clock: monotonic seconds.
        stats: the gateway's counters (``polls``, ``missed_scans``), read at
            each redraw.
        title: a first line, e.g. what is running.
        live: redraw in place [whether ``stream`` is a terminal].
        notes: how many log messages to keep below the table.
    """

    name = "table"

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        min_interval_s: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
        stats: Callable[[], dict[str, Any]] = dict,
        title: str = "",
        live: bool | None = None,
        notes: int = 5,
    ) -> None:
        self._stream = stream or sys.stdout
        self._latest: dict[tuple[str, str], SignalUpdate] = {}
        self._interval = min_interval_s
        self._clock = clock
        self._stats = stats
        self.title = title
        self._drawn_at = float("-inf")
        self._notes: deque[str] = deque(maxlen=notes)
        self.live = self._stream.isatty() if live is None else live
        self._closed = False
        self._health = HealthRecord()

    async def start(self) -> None:
        """Show the (empty) table and status line at once."""
        if self.live:
            self._draw()
        self._health.set(OutputState.RUNNING)

    async def publish(self, updates: Sequence[SignalUpdate]) -> None:
        """Keep the batch's values; redraw when the last drawing is old enough."""
        for u in updates:
            self._latest[(u.device, u.signal)] = u
        if self.live and self._clock() - self._drawn_at >= self._interval:
            self._draw()

    async def publish_many(self, batches: Sequence[Sequence[SignalUpdate]]) -> None:
        """Each batch in order (see :func:`publish_each`)."""
        await publish_each(self, batches)

    def health(self) -> OutputHealth:
        """Running from start to close; counts the signals shown."""
        return self._health.health(counters={"signals": len(self._latest)})

    def note(self, message: str) -> None:
        """Keep a log message for the lines below the table (shown at the next redraw)."""
        self._notes.append(message)

    def status_line(self) -> str:
        """``devices: 3 ok, 1 down | readouts: 12 | missed scans: 0 | Ctrl-C to stop``.

        Devices are counted from their ``_status`` updates; the counters come
        from ``stats``; "Ctrl-C to stop" on a live terminal, "stopped" once closed.
        While a load profile fills a gap: ``backfill: 1 device, 96 intervals left``
        (and ``backfill refused: 1``, see ``/api/devices``).
        """
        states = [u.value for (_, signal), u in self._latest.items() if signal == STATUS_SIGNAL]
        ok = sum(1 for value in states if value == "ok")
        stats = self._stats()
        devices = f"devices: {ok} ok, {len(states) - ok} down"
        if stats.get("devices", 0) > len(states):
            devices += f", {stats['devices'] - len(states)} not read yet"
        parts = [devices]
        if "polls" in stats:
            parts.append(f"readouts: {stats['polls']}")
        if "missed_scans" in stats:
            parts.append(f"missed scans: {stats['missed_scans']}")
        backfill = stats.get("backfill") or {}
        if backfill.get("filling"):
            count = backfill["filling"]
            parts.append(
                f"backfill: {count} device{'s' if count != 1 else ''}, "
                f"{backfill.get('pending_intervals', 0)} intervals left"
            )
        if backfill.get("refused"):
            parts.append(f"backfill refused: {backfill['refused']}")
        if self._closed:
            parts.append("stopped")
        elif self.live:
            parts.append("Ctrl-C to stop")
        return " | ".join(parts)

    def render(self) -> str:
        """The title, status line and table as text (no control codes)."""
        rows = [("device", "signal", "value", "unit", "quality", "time")]
        ordered = sorted(
            self._latest.items(),
            key=lambda item: (
                natural_key(item[0][0]),
                item[0][1] != STATUS_SIGNAL,
                natural_key(item[0][1]),
            ),
        )
        for (device, signal), u in ordered:
            shown = "(status)" if signal == STATUS_SIGNAL else signal
            value = "" if u.value is None else str(u.value)
            quality = ",".join(u.quality.to_json())
            stamp = u.time.strftime("%H:%M:%S")
            rows.append((device, shown, value, u.unit or "", quality, stamp))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = [self.title] if self.title else []
        lines.append(self.status_line())
        lines.append("")
        lines.extend(
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
            for row in rows
        )
        if self._notes:
            lines.append("")
            lines.extend(self._notes)
        return "\n".join(lines)

    def _draw(self) -> None:
        self._drawn_at = self._clock()
        self._stream.write((_CLEAR if self.live else "") + self.render() + "\n")
        self._stream.flush()

    async def aclose(self) -> None:
        """Draw the final table (status "stopped"); into a pipe this is the only drawing."""
        self._closed = True
        self._draw()
        self._health.set(OutputState.CLOSED)


class TableLogHandler(logging.Handler):
    """Sends log records to a live :class:`TableOutput` instead of the terminal."""

    def __init__(self, table: TableOutput, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        self._table = table

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._table.note(self.format(record))
        except Exception:  # logging must never raise
            self.handleError(record)
