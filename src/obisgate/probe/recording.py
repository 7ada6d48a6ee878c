"""A transport that records one exchange for the diagnosis, and cuts it short on garbage."""

from __future__ import annotations

from obisgate.errors import ConnectionLostError
from obisgate.probe.diagnosis import looks_garbled
from obisgate.transport.base import Transport

__all__ = ["GarbledLineError", "RecordingTransport"]

#: Garbage received in a row before a try is given up (at 300 Bd about 7 s of it).
_GARBAGE_BYTES = 200


class GarbledLineError(ConnectionLostError):
    """The line delivers only garbage (a rate mismatch): the try is over, not the probe."""


class RecordingTransport(Transport):
    """Passes everything to ``inner`` and keeps ``(">", sent)`` and ``("<", received)``.

    A try whose answer turned to garbage (a meter sending at another rate)
    would otherwise last as long as the meter keeps talking: after
    :data:`_GARBAGE_BYTES` garbled bytes in a row, :meth:`read` raises
    :class:`GarbledLineError` and the reader reports the connection lost.

    Args:
        inner: the open transport.
    """

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.url = inner.url
        self.can_set_baud = inner.can_set_baud
        self.events: list[tuple[str, bytes]] = []
        self._tail = bytearray()

    @property
    def baud(self) -> int:
        """The inner transport's rate."""
        return self.inner.baud

    @baud.setter
    def baud(self, value: int) -> None:
        self.inner.baud = value

    async def write(self, data: bytes) -> None:
        self.events.append((">", data))
        await self.inner.write(data)

    async def drain(self) -> None:
        await self.inner.drain()

    async def read(self) -> bytes:
        """Read from ``inner``.

        Raises:
            GarbledLineError: the answer has been garbage for a while.
            ConnectionLostError: as ``inner``.
        """
        data = await self.inner.read()
        self.events.append(("<", data))
        self._tail += data
        if len(self._tail) >= _GARBAGE_BYTES:
            garbled = looks_garbled(bytes(self._tail[-_GARBAGE_BYTES:]))
            del self._tail[:-_GARBAGE_BYTES]
            if garbled:
                raise GarbledLineError(f"{self.url}: only garbage arrives (a rate mismatch)")
        return data

    async def set_baud(self, baud: int) -> None:
        await self.inner.set_baud(baud)

    async def aclose(self) -> None:
        await self.inner.aclose()
