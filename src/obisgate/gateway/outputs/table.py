"""A live table of the latest value of every signal, for a terminal."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from typing import TextIO

from obisgate.gateway.updates import STATUS_SIGNAL, SignalUpdate

__all__ = ["TableOutput"]


class TableOutput:
    """A live table of the latest value of every signal, redrawn on a terminal.

    Args:
        stream: the terminal.
        min_interval_s: redraw at most this often.
        clock: monotonic seconds.
    """

    name = "table"

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        min_interval_s: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stream = stream or sys.stdout
        self._latest: dict[tuple[str, str], SignalUpdate] = {}
        self._interval = min_interval_s
        self._clock = clock
        self._drawn_at = float("-inf")
        #: A line shown above the table (e.g. where the web view is), empty for none.
        self.title = ""

    async def publish(self, updates: Sequence[SignalUpdate]) -> None:
        for u in updates:
            self._latest[(u.device, u.signal)] = u
        if self._clock() - self._drawn_at >= self._interval:
            self._draw()

    def render(self) -> str:
        """The table as text, under :attr:`title` when one is set."""
        rows = [("device", "signal", "value", "unit", "quality", "time")]
        for (device, signal), u in sorted(self._latest.items()):
            shown = "(status)" if signal == STATUS_SIGNAL else signal
            value = "" if u.value is None else str(u.value)
            quality = ",".join(u.quality.to_json())
            stamp = u.time.strftime("%H:%M:%S")
            rows.append((device, shown, value, u.unit or "", quality, stamp))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        table = "\n".join(
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
            for row in rows
        )
        return f"{self.title}\n\n{table}" if self.title else table

    def _draw(self) -> None:
        self._drawn_at = self._clock()
        self._stream.write("\033[H\033[J" + self.render() + "\n")
        self._stream.flush()

    async def aclose(self) -> None:
        self._draw()
