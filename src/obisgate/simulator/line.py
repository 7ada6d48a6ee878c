"""Asyncio driver of one line: runs a :class:`MeterBus` on the event loop.

It feeds received bytes to the bus, keeps the bus's one timer armed, and sends
each :class:`Transmit` at its time. With ``realtime`` every byte is paced at
its wire time (10 bits per character at the transmission's baud rate) from a
schedule against the loop clock: one timer handle wakes up when the next byte
is due and writes every byte due by then, so a late wake-up sends a burst
rather than drifting. Without ``realtime`` a transmission goes out whole at
its time.

When the client's rate is known (pty, RFC 2217) and differs from the rate a
transmission is sent at, the bytes pass through :func:`~obisgate.simulator.uart.retime`
first, as a real UART at the wrong rate would garble them.

No task is created: an idle line holds no timer at all.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from obisgate.protocol.chars import BITS_PER_CHAR
from obisgate.simulator.bus import MeterBus
from obisgate.simulator.meter import Hangup, Output
from obisgate.simulator.shown import Shown
from obisgate.simulator.uart import retime

__all__ = ["LineDriver"]

_SEQ = itertools.count()
_LOGGER = logging.getLogger("obisgate.simulator")


@dataclass(slots=True)
class _Stream:
    """A transmission being paced byte by byte."""

    start: float
    data: bytes
    baud: int
    char_time: float
    pos: int = 0

    def due(self, now: float) -> int:
        # A byte is delivered when its stop bit has left the line.
        return min(len(self.data), int((now - self.start) / self.char_time + 1e-9))

    @property
    def next_at(self) -> float:
        return self.start + (self.pos + 1) * self.char_time


class LineDriver:
    """Runs ``bus`` on the running loop, writing with ``write``.

    Args:
        bus: the meters of this line.
        write: sends bytes to the client; must not block (buffer instead).
        hangup: cuts the line (the ``drop`` fault).
        line_baud: returns the client's current rate, or ``None`` if unknown;
            what the meters send is garbled when it differs.
        sender_bauds: returns the rates the client may have sent the bytes
            just received at (default: ``line_baud``); see :meth:`MeterBus.receive`.
        realtime: pace every byte at its wire time.
    """

    def __init__(
        self,
        bus: MeterBus,
        *,
        write: Callable[[bytes], None],
        hangup: Callable[[], None],
        line_baud: Callable[[], int | None] = lambda: None,
        sender_bauds: Callable[[], int | Sequence[int] | None] | None = None,
        realtime: bool = False,
    ) -> None:
        self.bus = bus
        self._write = write
        self._hangup = hangup
        self._line_baud = line_baud
        self._sender_bauds = sender_bauds or line_baud
        self.realtime = realtime
        self._loop = asyncio.get_running_loop()
        self._queue: list[tuple[float, int, Output]] = []
        self._streams: list[_Stream] = []
        self._pump_handle: asyncio.TimerHandle | None = None
        self._timer_handle: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._stopped = False
        self._rx_end = 0.0
        self._deliveries: set[asyncio.TimerHandle] = set()

    def start(self) -> None:
        """The line opened: let mode D meters push."""
        self._stopped = False
        self._handle(self.bus.open(self._loop.time()))

    def data_received(self, data: bytes) -> None:
        """Bytes arrived from the client."""
        if self._stopped:
            return
        now = self._loop.time()
        bauds = self._sender_bauds()
        baud = self._line_baud()
        if not self.realtime or baud is None:
            self._handle(self.bus.receive(data, now, bauds))
            return
        # In real time the client's bytes take their wire time too: the meter
        # hears them when the last stop bit has arrived (a pty delivers at once).
        # Of the rates they may have been sent at, the one a meter listens at
        # (the benefit of the doubt the decoding gives too), else the slowest.
        if isinstance(bauds, Sequence) and bauds:
            listening = self.bus.listen_bauds(now)
            matching = [b for b in bauds if b in listening]
            baud = min(matching or bauds)
        elif isinstance(bauds, int):
            baud = bauds
        end = max(now, self._rx_end) + BITS_PER_CHAR * len(data) / baud
        self._rx_end = end
        handle = self._loop.call_at(end, self._deliver, data, end, bauds)
        self._deliveries.add(handle)

    def _deliver(self, data: bytes, at: float, bauds: int | Sequence[int] | None) -> None:
        self._deliveries = {h for h in self._deliveries if not h.cancelled() and h.when() > at}
        if not self._stopped:
            self._handle(self.bus.receive(data, at, bauds))

    def stop(self) -> None:
        """The line closed: drop pending output, timers and every conversation."""
        self._stopped = True
        self._cancel()
        self.bus.reset()

    def _cancel(self) -> None:
        if self._pump_handle is not None:
            self._pump_handle.cancel()
            self._pump_handle = None
        if self._timer_handle is not None:
            self._timer_handle.cancel()
            self._timer_handle = None
            self._timer_at = None
        for handle in self._deliveries:
            handle.cancel()
        self._deliveries.clear()
        self._rx_end = 0.0
        self._queue.clear()
        self._streams.clear()

    # -- scheduling -----------------------------------------------------------

    def _handle(self, outputs: list[Output]) -> None:
        for item in outputs:
            heapq.heappush(self._queue, (item.at, next(_SEQ), item))
        if outputs:
            if self._pump_handle is not None:
                self._pump_handle.cancel()
            self._pump()
        self._arm_timer()

    def _arm_timer(self) -> None:
        if self._stopped:
            return
        deadline = self.bus.deadline
        if deadline == self._timer_at:
            return
        if self._timer_handle is not None:
            self._timer_handle.cancel()
            self._timer_handle = None
        self._timer_at = deadline
        if deadline is not None:
            self._timer_handle = self._loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer_handle = None
        self._timer_at = None
        if self._stopped:
            return
        self._handle(self.bus.on_timer(self._loop.time(), self._line_baud()))

    def _pump(self) -> None:
        self._pump_handle = None
        if self._stopped:
            return
        now = self._loop.time()
        queue = self._queue
        while queue and queue[0][0] <= now:
            _, _, item = heapq.heappop(queue)
            if isinstance(item, Hangup):
                self._drop()
                return
            if item.baud is not None and _LOGGER.isEnabledFor(logging.DEBUG):
                _LOGGER.debug("send %s at %d Bd: %s", item.what, item.baud, Shown(item.data))
            if item.baud is None or not self.realtime:
                self._send(item.data, item.baud)
            else:
                char_time = BITS_PER_CHAR / item.baud
                self._streams.append(_Stream(item.at, item.data, item.baud, char_time))
        if self._streams:
            for stream in self._streams:
                due = stream.due(now)
                if due > stream.pos:
                    self._send(stream.data[stream.pos : due], stream.baud)
                    stream.pos = due
            self._streams = [s for s in self._streams if s.pos < len(s.data)]
        wake = [s.next_at for s in self._streams]
        if queue:
            wake.append(queue[0][0])
        if wake:
            self._pump_handle = self._loop.call_at(min(wake), self._pump)

    def _send(self, data: bytes, baud: int | None) -> None:
        if baud is not None:
            client = self._line_baud()
            if client is not None and client != baud:
                data = retime(data, baud, client)
        if data:
            self._write(data)

    def _drop(self) -> None:
        self._cancel()
        self.bus.reset()
        self._hangup()
