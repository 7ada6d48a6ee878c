"""A transport in memory that answers from a script: for tests and examples, no meter needed.

Like ``httpx.MockTransport``: hand it to anything that takes a
:class:`~obisgate.transport.base.Transport` (``read_meter_on``,
``ProgrammingSession``, the gateway's readers) and check what was sent::

    def meter(request: bytes) -> bytes | None:
        if request == b"/?!\\r\\n":
            return b"/XYZ5Meter\\r\\n"                     # identification: mode C, 9600 Bd
        if request == b"\\x06050\\r\\n":
            return b"\\x021.8.0(42.5*kWh)\\r\\n!\\r\\n\\x03y"  # data message and its BCC
        return None

    transport = ScriptedTransport(meter)
    result = await read_meter_on(transport, ReadoutOptions())
    assert transport.written == [b"/?!\\r\\n", b"\\x06050\\r\\n"]
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable, Iterator

from obisgate.errors import ConnectionLostError, UnsupportedOperation
from obisgate.transport.base import Transport

__all__ = ["Handler", "ScriptedTransport"]

Handler = Callable[[bytes], "bytes | Iterable[bytes] | None"]
"""Takes what was written; returns the answer (one chunk, several chunks, or none)."""


class ScriptedTransport(Transport):
    """An in-memory byte pipe whose far end is a script or a function.

    A read returns one chunk, as a real port delivers one segment: first whatever is
    queued (answers of ``handler``, chunks given to :meth:`feed`), else the next item
    of ``replies``, taken only when a read needs it (a generator can move a fake clock
    between chunks). With nothing to return a read waits, like a silent meter: the
    caller's deadline (``asyncio.timeout``) ends the wait. Once the far end has hung up
    (:meth:`hang_up`, or ``eof`` after the last reply) the chunks still queued are read,
    then a read raises :class:`~obisgate.errors.ConnectionLostError` (end of stream).

    Args:
        handler: called with every chunk written; what it returns is queued for
            reading. It may raise (e.g. ``AssertionError`` for a request the script
            does not expect): the exception comes out of :meth:`write`.
        replies: chunks the far end sends without being asked, in order.
        eof: the far end hangs up once ``replies`` are exhausted, instead of falling
            silent.
        can_set_baud: a serial port (:meth:`set_baud` switches and is recorded) or a
            TCP converter (:meth:`set_baud` raises
            :class:`~obisgate.errors.UnsupportedOperation`).
        baud: the line rate at the start.
        url: how the transport is named in messages and traces.

    Attributes:
        written: every chunk written, in order.
        bauds: every rate :meth:`set_baud` switched to, in order.
        drains: how often :meth:`drain` was awaited.
        closed: whether :meth:`aclose` was called.
    """

    def __init__(
        self,
        handler: Handler | None = None,
        *,
        replies: Iterable[bytes] = (),
        eof: bool = False,
        can_set_baud: bool = False,
        baud: int = 300,
        url: str = "scripted://meter",
    ) -> None:
        self.url = url
        self.can_set_baud = can_set_baud
        self.baud = baud
        self.written: list[bytes] = []
        self.bauds: list[int] = []
        self.drains = 0
        self.closed = False
        self._handler = handler
        self._queue: deque[bytes] = deque()
        self._replies: Iterator[bytes] | None = iter(replies)
        self._eof = eof
        self._hung_up = False
        self._arrived = asyncio.Event()

    @property
    def sent(self) -> bytes:
        """Everything written, joined."""
        return b"".join(self.written)

    def feed(self, *chunks: bytes) -> None:
        """Queue ``chunks`` for reading now (a meter that pushes), waking a waiting read.

        Raises:
            ConnectionLostError: the far end has hung up.
        """
        if self._hung_up:
            raise ConnectionLostError(f"{self.url}: the far end has hung up")
        self._queue.extend(bytes(chunk) for chunk in chunks if chunk)
        self._arrived.set()

    def hang_up(self) -> None:
        """The far end closes the connection: what is queued can still be read, then reads
        and writes raise :class:`~obisgate.errors.ConnectionLostError`."""
        self._hung_up = True
        self._arrived.set()

    async def write(self, data: bytes) -> None:
        """Record ``data`` and queue what the handler answers.

        Raises:
            ConnectionLostError: closed, or the far end has hung up.
        """
        self._check_open()
        if self._hung_up:
            raise ConnectionLostError(f"{self.url}: closed by the peer")
        chunk = bytes(data)
        self.written.append(chunk)
        if self._handler is None:
            return
        answer = self._handler(chunk)
        if isinstance(answer, bytes | bytearray):
            self.feed(bytes(answer))
        elif answer is not None:
            self.feed(*answer)

    async def drain(self) -> None:
        """Everything written is sent at once; counted in :attr:`drains`.

        Raises:
            ConnectionLostError: closed.
        """
        self._check_open()
        self.drains += 1

    async def read(self) -> bytes:
        """The next chunk; waits while the far end is silent.

        Raises:
            ConnectionLostError: closed (also while waiting), or the far end hung up
                and nothing is left to read.
        """
        while True:
            self._check_open()
            if self._queue:
                return self._queue.popleft()
            if self._replies is not None:
                chunk = next(self._replies, None)
                if chunk is not None:
                    if chunk:
                        return bytes(chunk)
                    continue  # a real port never returns b"": skip it
                self._replies = None
                if self._eof:
                    self._hung_up = True
            if self._hung_up:
                raise ConnectionLostError(f"{self.url}: closed by the peer")
            self._arrived.clear()
            await self._arrived.wait()

    async def set_baud(self, baud: int) -> None:
        """Switch to ``baud`` and record it.

        Raises:
            UnsupportedOperation: built with ``can_set_baud=False``.
            ConnectionLostError: closed.
        """
        self._check_open()
        if not self.can_set_baud:
            raise UnsupportedOperation(f"cannot switch to {baud} Bd on {self.url}")
        self.bauds.append(baud)
        self.baud = baud

    async def aclose(self) -> None:
        """Close; a waiting read raises :class:`~obisgate.errors.ConnectionLostError`.
        Safe to call twice."""
        self.closed = True
        self._arrived.set()

    def _check_open(self) -> None:
        if self.closed:
            raise ConnectionLostError(f"{self.url}: closed")
