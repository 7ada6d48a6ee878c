"""Raw TCP to a serial converter (``tcp://host:port``): bytes only, no baud switching."""

from __future__ import annotations

import asyncio
from typing import cast

from obisgate.errors import ConnectError, ConnectionLostError, UnsupportedOperation
from obisgate.protocol.chars import add_even_parity
from obisgate.transport.base import LineSettings, Transport

__all__ = ["TcpTransport"]

#: Bytes held unread before the socket stops being read (a meter flooding the line).
_HIGH_WATER = 256 * 1024


class _Pipe(asyncio.Protocol):
    """The connection's receive buffer and its one waiting reader.

    A plain protocol instead of asyncio's streams: a readout costs a few chunks, and the
    stream reader's and writer's bookkeeping was a measurable part of its CPU.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.chunks: list[bytes] = []
        self.buffered = 0
        self.paused = False
        self.eof = False
        #: Why the connection ended (``None`` while open, or after a clean close).
        self.error: Exception | None = None
        self.lost = False
        #: The waiting read: its result is ``True`` when its deadline passed.
        self.waiter: asyncio.Future[bool] | None = None
        #: The waiting read's deadline (loop time), ``None``: no read waits on one.
        self.deadline: float | None = None
        #: The one timer of the connection, armed at ``timer_at`` (see :meth:`arm`).
        self.timer: asyncio.TimerHandle | None = None
        self.timer_at = 0.0
        self.drained: asyncio.Future[None] | None = None
        self.closed: asyncio.Future[None] = loop.create_future()
        self.writing_paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports have the methods but are no asyncio.Transport subclass.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)
        self.buffered += len(data)
        if self.buffered > _HIGH_WATER and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.error = exc
        self.disarm()
        self._wake()
        for future in (self.drained, self.closed):
            if future is not None and not future.done():
                future.set_result(None)

    def pause_writing(self) -> None:
        self.writing_paused = True

    def resume_writing(self) -> None:
        self.writing_paused = False
        if self.drained is not None and not self.drained.done():
            self.drained.set_result(None)

    def take(self) -> bytes:
        """Everything buffered (``b""``: nothing); reading resumes if it was paused."""
        chunks = self.chunks
        if not chunks:
            return b""
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        self.chunks = []
        self.buffered = 0
        if self.paused and self.transport is not None and not self.lost:
            self.paused = False
            self.transport.resume_reading()
        return data

    def arm(self, deadline: float) -> None:
        """Wake the waiting read with ``True`` at ``deadline`` (loop time) if nothing else
        wakes it first.

        One timer serves the connection's successive reads: a later deadline (the usual
        case, each read's coming after the last one's) leaves it as it is and it moves
        itself on when it fires early; only an earlier one replaces it.
        """
        self.deadline = deadline
        timer = self.timer
        if timer is None or deadline < self.timer_at:
            if timer is not None:
                timer.cancel()
            self.timer = self.loop.call_at(deadline, self._on_timer)
            self.timer_at = deadline

    def disarm(self) -> None:
        """No timer left on the loop (the connection is done)."""
        self.deadline = None
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _on_timer(self) -> None:
        self.timer = None
        deadline = self.deadline
        if deadline is None:
            return
        if deadline > self.timer_at:  # the read waiting now has a later deadline
            self.timer = self.loop.call_at(deadline, self._on_timer)
            self.timer_at = deadline
            return
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(True)

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(False)


class TcpTransport(Transport):
    """A TCP connection to a transparent serial converter.

    The converter's serial side runs at whatever rate it is configured for, so
    :attr:`can_set_baud` is ``False`` and :meth:`set_baud` raises
    :class:`~obisgate.errors.UnsupportedOperation`. Bytes arriving with bit 7 set
    (7E1 over 8N1) are handled by the protocol core, which masks bit 7.
    """

    can_set_baud = False

    def __init__(
        self, transport: asyncio.Transport, pipe: _Pipe, url: str, settings: LineSettings
    ) -> None:
        self._transport = transport
        self._pipe = pipe
        self.url = url
        self.baud = settings.baudrate
        self._software_parity = settings.software_parity

    @classmethod
    async def connect(
        cls, host: str, port: int, url: str, settings: LineSettings, timeout_s: float
    ) -> TcpTransport:
        """Connect to ``host:port``.

        Raises:
            ConnectError: refused, unreachable, or no connection within ``timeout_s``.
        """
        loop = asyncio.get_running_loop()
        pipe = _Pipe(loop)
        try:
            async with asyncio.timeout(timeout_s):
                transport, _ = await loop.create_connection(lambda: pipe, host, port)
        except (OSError, TimeoutError) as exc:
            reason = "timed out" if isinstance(exc, TimeoutError) else exc.strerror or exc
            raise ConnectError(f"cannot connect to {url}: {reason}") from exc
        return cls(transport, pipe, url, settings)

    async def write(self, data: bytes) -> None:
        if self._transport.is_closing():
            raise ConnectionLostError(f"connection to {self.url} is closed")
        self._transport.write(add_even_parity(data) if self._software_parity else data)

    async def drain(self) -> None:
        pipe = self._pipe
        self._raise_if_lost()
        if not pipe.writing_paused:
            return
        pipe.drained = pipe.loop.create_future()
        try:
            await pipe.drained
        finally:
            pipe.drained = None
        self._raise_if_lost()

    def _raise_if_lost(self) -> None:
        if self._pipe.lost:
            reason = self._pipe.error or "Connection lost"
            raise ConnectionLostError(f"connection to {self.url} lost: {reason}")

    async def read(self) -> bytes:
        return await self._next(None)

    async def read_within(self, timeout_s: float) -> bytes | None:
        """:meth:`read` with the connection's one reusable timer as the deadline, instead
        of an ``asyncio.timeout`` (its own timer, and a cancellation) per read."""
        return await self._next(timeout_s) or None

    async def _next(self, timeout_s: float | None) -> bytes:
        """The bytes received next; ``b""`` when ``timeout_s`` (``None``: no deadline)
        passed first.

        Raises:
            ConnectionLostError: end of stream or a lost connection.
        """
        pipe = self._pipe
        data = pipe.take()
        deadline: float | None = None
        while not data:
            self._raise_if_ended()
            waiter: asyncio.Future[bool] = pipe.loop.create_future()
            pipe.waiter = waiter
            if timeout_s is not None:
                if deadline is None:  # from the first wait on: data already there costs none
                    deadline = pipe.loop.time() + timeout_s
                pipe.arm(deadline)
            try:
                timed_out = await waiter
            finally:
                pipe.waiter = None
                pipe.deadline = None
            data = pipe.take()
            if timed_out:
                return data
        return data

    def _raise_if_ended(self) -> None:
        pipe = self._pipe
        if pipe.error is not None:
            error = pipe.error
            raise ConnectionLostError(f"connection to {self.url} lost: {error}") from error
        if pipe.eof or pipe.lost:
            raise ConnectionLostError(f"connection to {self.url} closed by the peer")

    async def set_baud(self, baud: int) -> None:
        raise UnsupportedOperation(
            f"cannot switch to {baud} Bd over raw TCP ({self.url}); "
            "use rfc2217:// for a converter that can"
        )

    async def set_framing(self, bytesize: int, parity: str) -> None:
        """The converter sets the line's character format; here only the software
        parity bit stops (8N1 bytes pass as they are)."""
        if bytesize == 8:
            self._software_parity = False

    @property
    def framing_is_remote(self) -> bool:
        """Raw TCP: the converter's serial side has its own rate and format."""
        return True

    async def aclose(self) -> None:
        self._pipe.disarm()
        if not self._transport.is_closing():
            self._transport.close()
        closed = self._pipe.closed
        if not closed.done():  # a cancelled wait leaves it cancelled: done
            await closed
