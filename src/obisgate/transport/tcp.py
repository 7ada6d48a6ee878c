"""Raw TCP to a serial converter (``tcp://host:port``): bytes only, no baud switching."""

from __future__ import annotations

import asyncio
import contextlib

from obisgate.errors import ConnectError, ConnectionLostError, UnsupportedOperation
from obisgate.protocol.chars import add_even_parity
from obisgate.transport.base import LineSettings, Transport

__all__ = ["TcpTransport"]

_READ_CHUNK = 65536


class TcpTransport(Transport):
    """A TCP connection to a transparent serial converter.

    The converter's serial side runs at whatever rate it is configured for, so
    :attr:`can_set_baud` is ``False`` and :meth:`set_baud` raises
    :class:`~obisgate.errors.UnsupportedOperation`. Bytes arriving with bit 7 set
    (7E1 over 8N1) are handled by the protocol core, which masks bit 7.
    """

    can_set_baud = False

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        url: str,
        settings: LineSettings,
    ) -> None:
        self._reader = reader
        self._writer = writer
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
        try:
            async with asyncio.timeout(timeout_s):
                reader, writer = await asyncio.open_connection(host, port)
        except (OSError, TimeoutError) as exc:
            reason = "timed out" if isinstance(exc, TimeoutError) else exc.strerror or exc
            raise ConnectError(f"cannot connect to {url}: {reason}") from exc
        return cls(reader, writer, url, settings)

    async def write(self, data: bytes) -> None:
        if self._writer.is_closing():
            raise ConnectionLostError(f"connection to {self.url} is closed")
        self._writer.write(add_even_parity(data) if self._software_parity else data)

    async def drain(self) -> None:
        try:
            await self._writer.drain()
        except OSError as exc:
            raise ConnectionLostError(f"connection to {self.url} lost: {exc}") from exc

    async def read(self) -> bytes:
        try:
            data = await self._reader.read(_READ_CHUNK)
        except OSError as exc:
            raise ConnectionLostError(f"connection to {self.url} lost: {exc}") from exc
        if not data:
            raise ConnectionLostError(f"connection to {self.url} closed by the peer")
        return data

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
        if not self._writer.is_closing():
            self._writer.close()
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()
