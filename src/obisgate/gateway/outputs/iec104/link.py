"""One IEC 104 connection as the controlled station sees it: the APCI state machine.

Sans-IO: bytes in, bytes out, and the time as an argument (monotonic seconds);
no socket, no clock, no sleeping. The driver feeds received bytes to
:meth:`Link.receive`, writes what :meth:`Link.output` returns, calls
:meth:`Link.tick` at :meth:`Link.next_deadline` and closes the connection when
either of them says so.

What it does (IEC 60870-5-104 §5):

* STARTDT / STOPDT act are confirmed and switch data transfer on and off;
  TESTFR act is confirmed.
* I-frames are numbered modulo 32768; at most ``k`` of ours wait for an
  acknowledgement; received I-frames are acknowledged after ``w`` of them, or
  ``t2`` after the first unacknowledged one when no I-frame of ours carries the
  acknowledgement.
* Nothing received for ``t3``: a TESTFR act is sent. No acknowledgement of an
  I-frame, or no TESTFR con, within ``t1``: the connection is to be closed.
* A frame out of order (a wrong send sequence number, an acknowledgement of
  frames never sent, an I-frame before STARTDT, a STARTDT/STOPDT con) raises
  :class:`~obisgate.gateway.outputs.iec104.apdu.FrameError`.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from obisgate.gateway.outputs.iec104.apdu import (
    MODULO,
    ApduReader,
    FrameError,
    IFrame,
    SFrame,
    UFunction,
    encode_i,
    encode_s,
    encode_u,
)
from obisgate.gateway.outputs.iec104.outgoing import Outgoing

__all__ = ["Link", "LinkChange", "LinkParameters"]


@dataclass(frozen=True, slots=True)
class LinkParameters:
    """Timers (seconds) and windows of a connection; the standard's defaults."""

    t1: float = 15.0
    t2: float = 10.0
    t3: float = 20.0
    k: int = 12
    w: int = 8


class LinkChange(enum.Enum):
    """A change of the data transfer state reported by :meth:`Link.receive`."""

    STARTED = "started"
    STOPPED = "stopped"


class Link:
    """The APCI of one connection.

    Args:
        parameters: timers and windows.
        now: the time the connection was opened.

    Attributes:
        opened_at: when the connection was opened.
        last_received: when the last frame arrived (``opened_at`` before one did).
        frames_received: frames received so far.
        started: whether data transfer is on (STARTDT without STOPDT since).
        ever_started: whether data transfer was ever on.
    """

    def __init__(self, parameters: LinkParameters, now: float) -> None:
        self.parameters = parameters
        self.opened_at = now
        self.last_received = now
        self.frames_received = 0
        self.started = False
        self.ever_started = False
        self._reader = ApduReader()
        self._send_seq = 0
        self._recv_seq = 0
        self._acked = 0
        self._unacked: deque[tuple[float, Outgoing]] = deque()
        self._queue: deque[Outgoing] = deque()
        self._queued_events = 0
        self._control = bytearray()
        self._received_unacked = 0
        self._first_unacked_at = 0.0
        self._test_sent_at: float | None = None

    @property
    def queued(self) -> int:
        """ASDUs waiting for the send window."""
        return len(self._queue)

    @property
    def queued_events(self) -> int:
        """Events in the ASDUs waiting for the send window."""
        return self._queued_events

    @property
    def unacknowledged(self) -> int:
        """I-frames sent and not acknowledged yet."""
        return len(self._unacked)

    def receive(self, data: bytes, now: float) -> tuple[list[bytes], list[LinkChange]]:
        """Handle received bytes.

        Returns:
            The ASDUs of the complete I-frames, and the changes of data transfer,
            each in order. Answers to U-frames and acknowledgements are in the
            next :meth:`output`.

        Raises:
            FrameError: the peer broke the protocol (see the module docstring);
                close the connection.
        """
        asdus: list[bytes] = []
        changes: list[LinkChange] = []
        for frame in self._reader.feed(data):
            self.last_received = now
            self.frames_received += 1
            if isinstance(frame, IFrame):
                if not self.started:
                    raise FrameError("I-frame before STARTDT")
                if frame.send_seq != self._recv_seq:
                    raise FrameError(
                        f"I-frame with send sequence number {frame.send_seq}, "
                        f"expected {self._recv_seq}"
                    )
                self._recv_seq = (self._recv_seq + 1) % MODULO
                self._acknowledge(frame.recv_seq)
                if self._received_unacked == 0:
                    self._first_unacked_at = now
                self._received_unacked += 1
                if self._received_unacked >= self.parameters.w:
                    self._send_ack()
                asdus.append(frame.asdu)
            elif isinstance(frame, SFrame):
                self._acknowledge(frame.recv_seq)
            else:
                change = self._control_frame(frame.function)
                if change is not None:
                    changes.append(change)
        return asdus, changes

    def _control_frame(self, function: UFunction) -> LinkChange | None:
        if function is UFunction.STARTDT_ACT:
            self._control += encode_u(UFunction.STARTDT_CON)
            if not self.started:
                self.started = self.ever_started = True
                return LinkChange.STARTED
        elif function is UFunction.STOPDT_ACT:
            if self._received_unacked:
                self._send_ack()
            self._control += encode_u(UFunction.STOPDT_CON)
            if self.started:
                self.started = False
                return LinkChange.STOPPED
        elif function is UFunction.TESTFR_ACT:
            self._control += encode_u(UFunction.TESTFR_CON)
        elif function is UFunction.TESTFR_CON:
            self._test_sent_at = None
        else:
            raise FrameError(f"{function.name.replace('_', ' ')} from a controlling station")
        return None

    def _acknowledge(self, recv_seq: int) -> None:
        """The peer acknowledged every I-frame of ours before ``recv_seq``."""
        count = (recv_seq - self._acked) % MODULO
        if count > len(self._unacked):
            raise FrameError(
                f"acknowledgement of frame {recv_seq}, but only up to {self._send_seq} was sent"
            )
        for _ in range(count):
            self._unacked.popleft()
        self._acked = recv_seq

    def _send_ack(self) -> None:
        self._control += encode_s(self._recv_seq)
        self._received_unacked = 0

    def enqueue(self, items: Iterable[Outgoing]) -> None:
        """Queue ASDUs; they go out in order, within the send window, while data transfer is on."""
        for item in items:
            self._queue.append(item)
            self._queued_events += len(item.events)

    def drop_oldest_queued(self, events: int) -> int:
        """Drop the oldest queued event ASDUs (never an answer to a command) until ``events``
        events are gone.

        Returns:
            The events dropped (whole ASDUs: maybe a few more than asked).
        """
        dropped = 0
        kept: deque[Outgoing] = deque()
        for item in self._queue:
            if dropped < events and item.events:
                dropped += len(item.events)
            else:
                kept.append(item)
        self._queue = kept
        self._queued_events -= dropped
        return dropped

    def output(self, now: float) -> bytes:
        """Everything to write now: control frames, then queued I-frames the window allows."""
        data = bytes(self._control)
        self._control.clear()
        if not self.started:
            return data
        frames = [data]
        while self._queue and len(self._unacked) < self.parameters.k:
            item = self._queue.popleft()
            self._queued_events -= len(item.events)
            frames.append(encode_i(self._send_seq, self._recv_seq, item.asdu))
            self._unacked.append((now, item))
            self._send_seq = (self._send_seq + 1) % MODULO
            self._received_unacked = 0  # an I-frame carries the acknowledgement
        return b"".join(frames)

    def tick(self, now: float) -> str | None:
        """Run the timers.

        Returns:
            Why the connection must be closed (t1 passed without an
            acknowledgement or a TESTFR con), else ``None``; an S-frame or a
            TESTFR act that fell due is in the next :meth:`output`.
        """
        t1 = self.parameters.t1
        if self._unacked and now - self._unacked[0][0] >= t1:
            return f"no acknowledgement of an I-frame within t1 ({t1:g} s)"
        if self._test_sent_at is not None and now - self._test_sent_at >= t1:
            return f"no TESTFR con within t1 ({t1:g} s)"
        if self._received_unacked and now - self._first_unacked_at >= self.parameters.t2:
            self._send_ack()
        if self._test_sent_at is None and now - self.last_received >= self.parameters.t3:
            self._control += encode_u(UFunction.TESTFR_ACT)
            self._test_sent_at = now
        return None

    def next_deadline(self) -> float:
        """When :meth:`tick` must run next (monotonic seconds)."""
        parameters = self.parameters
        deadlines = []
        if self._unacked:
            deadlines.append(self._unacked[0][0] + parameters.t1)
        if self._test_sent_at is not None:
            deadlines.append(self._test_sent_at + parameters.t1)
        else:
            deadlines.append(self.last_received + parameters.t3)
        if self._received_unacked:
            deadlines.append(self._first_unacked_at + parameters.t2)
        return min(deadlines)

    def probe(self, now: float) -> None:
        """Send a TESTFR act now (unless one is waiting for its con): a live peer answers
        within t1."""
        if self._test_sent_at is None:
            self._control += encode_u(UFunction.TESTFR_ACT)
            self._test_sent_at = now

    @property
    def probing(self) -> bool:
        """A TESTFR act waits for its con."""
        return self._test_sent_at is not None

    def take_queued(self) -> list[Outgoing]:
        """Remove and return the ASDUs not sent yet."""
        items = list(self._queue)
        self._queue.clear()
        self._queued_events = 0
        return items

    def hand_over(self) -> list[Outgoing]:
        """The ASDUs whose events another connection now sends: those sent and not yet
        acknowledged (kept here without their events, for the sequence numbers), then
        those queued (removed)."""
        sent = [item for _at, item in self._unacked if item.events]
        self._unacked = deque(
            (at, Outgoing(item.asdu, (), item.serial)) for at, item in self._unacked
        )
        return sent + self.take_queued()

    def take_all(self) -> list[Outgoing]:
        """Remove and return every ASDU not acknowledged: those sent, then those queued."""
        items = [item for _sent, item in self._unacked]
        self._unacked.clear()
        return items + self.take_queued()
