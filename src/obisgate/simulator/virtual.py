"""Run a sans-IO client against simulated meters on a virtual clock.

No real time passes and nothing is random, so a whole exchange (reaction
times, the mode C tt wait, NAK repeats, faults) takes microseconds and gives
the same transcript every time. The line behaves like a serial line by
default: bytes sent at a rate other than the receiver's are garbled
(:func:`~obisgate.simulator.uart.retime`); with ``serial=False`` it behaves
like raw TCP (rates are ignored). When the bus is ``realtime``, messages take
their wire time in both directions: the client receives a transmission when
its last byte is in, and a client's send ends (as after a drain) when its last
byte is out.

Example::

    client = ReadoutClient(ReadoutOptions(address="71234567"))
    line = VirtualLine(MeterBus([get_profile("mt174")]))
    line.run(client)
    assert client.result.baud == 9600
"""

from __future__ import annotations

import bisect
import heapq
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from obisgate.errors import ConnectionLostError, NoAnswerError
from obisgate.protocol.actions import Action, Drain, Send, SetBaud, Sleep
from obisgate.protocol.chars import INITIAL_BAUD, wire_time_s
from obisgate.simulator.bus import MeterBus
from obisgate.simulator.meter import Hangup, Output, Transmit
from obisgate.simulator.uart import retime

__all__ = ["LineEvent", "SansIOClientLike", "VirtualLine"]


class SansIOClientLike(Protocol):
    """The client interface :meth:`VirtualLine.run` drives (e.g. ``ReadoutClient``)."""

    @property
    def done(self) -> bool: ...

    @property
    def read_timeout_s(self) -> float: ...

    def receive_data(self, data: bytes) -> list[Action]: ...

    def timeout(self) -> list[Action]: ...


@dataclass(frozen=True, slots=True)
class LineEvent:
    """One entry of the transcript.

    Attributes:
        at: virtual time in seconds.
        direction: ``">"`` client to meter, ``"<"`` meter to client (as the
            client received it), ``"baud"`` the client switched rate,
            ``"hangup"`` the meter cut the line.
        data: the bytes (empty for ``baud`` and ``hangup``).
        baud: the client's rate after the event.
    """

    at: float
    direction: str
    data: bytes
    baud: int


class VirtualLine:
    """A line between one client and the meters of ``bus``, on a virtual clock.

    Args:
        bus: the meters.
        serial: garble bytes whose sender and receiver rates differ (a serial
            line); ``False`` passes them intact (raw TCP).
        initial_baud: the client's rate at the start.

    Attributes:
        now: the virtual time.
        transcript: every event in order.
    """

    def __init__(self, bus: MeterBus, *, serial: bool = True, initial_baud: int = INITIAL_BAUD):
        self.bus = bus
        self.serial = serial
        self.now = 0.0
        self.transcript: list[LineEvent] = []
        self._baud_times: list[float] = [float("-inf")]
        self._bauds: list[int] = [initial_baud]
        self._inbox: list[tuple[float, int, Output]] = []
        self._seq = itertools.count()
        self._opened = False

    @property
    def client_baud(self) -> int:
        """The client's current rate."""
        return self._bauds[-1]

    def received(self) -> bytes:
        """Everything the client received, concatenated."""
        return b"".join(e.data for e in self.transcript if e.direction == "<")

    def sent(self) -> bytes:
        """Everything the client sent, concatenated."""
        return b"".join(e.data for e in self.transcript if e.direction == ">")

    def run(
        self,
        client: SansIOClientLike,
        first_actions: Sequence[Action] = (),
        *,
        limit_s: float = 3600.0,
    ) -> None:
        """Carry out ``first_actions`` (e.g. ``client.start()``), then run until ``client.done``.

        ``ReadoutClient`` is started automatically when no first actions are
        given and it has a ``start`` method that was not called yet.

        Raises:
            Whatever the client raises (``NoAnswerError`` from ``timeout()``,
            ``ChecksumError`` ...); ``ConnectionLostError`` when the meter cuts
            the line; ``NoAnswerError`` when ``limit_s`` of virtual time pass.
        """
        if not self._opened:
            self._opened = True
            self._queue(self.bus.open(self.now))
        if not first_actions:
            start = getattr(client, "start", None)
            if callable(start):
                try:
                    first_actions = start()
                except RuntimeError:
                    first_actions = ()  # already started
        self._perform(first_actions)
        while not client.done:
            if self.now > limit_s:
                raise NoAnswerError("virtual line time limit", limit_s)
            limit = self.now + client.read_timeout_s
            t_in = self._inbox[0][0] if self._inbox else float("inf")
            deadline = self.bus.deadline
            t_dl = deadline if deadline is not None else float("inf")
            if min(t_in, t_dl) > limit:
                self.now = limit
                self._perform(client.timeout())
                continue
            if t_dl < t_in:
                self.now = max(self.now, t_dl)
                self._queue(self.bus.on_timer(self.now, self.client_baud if self.serial else None))
                continue
            data = self._deliver(t_in)
            if data:
                self._perform(client.receive_data(data))

    # -- internals ------------------------------------------------------------

    def _queue(self, outputs: list[Output]) -> None:
        for item in outputs:
            heapq.heappush(self._inbox, (item.at, next(self._seq), item))

    def _baud_at(self, t: float) -> int:
        return self._bauds[bisect.bisect_right(self._baud_times, t) - 1]

    def _deliver(self, t: float) -> bytes:
        self.now = max(self.now, t)
        _, _, item = heapq.heappop(self._inbox)
        if self.bus.realtime and isinstance(item, Transmit) and item.baud is not None:
            self.now = max(self.now, item.at + wire_time_s(len(item.data), item.baud))
        if isinstance(item, Hangup):
            self._inbox.clear()
            self.bus.reset()
            self.transcript.append(LineEvent(self.now, "hangup", b"", self.client_baud))
            raise ConnectionLostError("the meter cut the line")
        assert isinstance(item, Transmit)
        data = item.data
        if self.serial and item.baud is not None:
            data = retime(data, item.baud, self._baud_at(item.at))
        if data:
            self.transcript.append(LineEvent(self.now, "<", data, self.client_baud))
        return data

    def _perform(self, actions: Sequence[Action]) -> None:
        for action in actions:
            if isinstance(action, Send):
                self.transcript.append(LineEvent(self.now, ">", action.data, self.client_baud))
                if self.bus.realtime:  # the meter has the message once its last bit is in
                    self._advance(self.now + wire_time_s(len(action.data), self.client_baud))
                line_baud = self.client_baud if self.serial else None
                self._queue(self.bus.receive(action.data, self.now, line_baud))
            elif isinstance(action, Sleep):
                self._advance(self.now + action.seconds)
            elif isinstance(action, SetBaud):
                self._baud_times.append(self.now)
                self._bauds.append(action.baud)
                self.transcript.append(LineEvent(self.now, "baud", b"", action.baud))
            else:
                assert isinstance(action, Drain)

    def _advance(self, to: float) -> None:
        """Let time pass (the client sleeps): meter timers fire, bytes queue up."""
        while True:
            deadline = self.bus.deadline
            if deadline is None or deadline > to:
                break
            self.now = max(self.now, deadline)
            self._queue(self.bus.on_timer(self.now, self.client_baud if self.serial else None))
        self.now = max(self.now, to)
