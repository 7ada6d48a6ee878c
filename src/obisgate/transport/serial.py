"""Local serial ports and RFC 2217 network ports, through serialx."""

from __future__ import annotations

import asyncio
import contextlib
import errno
from typing import Any

import serialx

from obisgate.errors import ConnectError, ConnectionLostError
from obisgate.protocol.chars import add_even_parity
from obisgate.transport.base import LineSettings, Transport

__all__ = ["SerialTransport"]

_READ_CHUNK = 65536


def _port_kwargs(settings: LineSettings) -> dict[str, Any]:
    return {
        "baudrate": settings.baudrate,
        "byte_size": settings.bytesize,
        "parity": settings.parity,
        "stopbits": settings.stopbits,
        "xonxoff": settings.flowcontrol == "xonxoff",
        "rtscts": settings.flowcontrol == "rtscts",
        "dsrdtr": settings.flowcontrol == "dsrdtr",
    }


class SerialTransport(Transport):
    """A serial port (``/dev/ttyUSB0``, ``COM3``) or an ``rfc2217://host:port`` port.

    Both can switch baud rate. Where the port refuses 7 data bits with parity
    (pseudo-terminals on some kernels), it is opened as 8N1 and the parity bit
    is computed in software instead.
    """

    can_set_baud = True

    def __init__(self, port: serialx.AsyncSerial, url: str, software_parity: bool) -> None:
        self._port = port
        self.url = url
        self.baud = port.baudrate
        self._software_parity = software_parity
        self._network = url.lower().startswith("rfc2217:")
        self._closed = False

    @classmethod
    async def open(cls, url: str, settings: LineSettings, timeout_s: float) -> SerialTransport:
        """Open the port and apply ``settings``.

        Raises:
            ConnectError: the port does not exist, is busy, or refuses the settings.
        """
        software_parity = settings.software_parity
        kwargs = _port_kwargs(settings)
        try:
            port = await cls._open(url, kwargs, timeout_s)
        except (serialx.UnsupportedSetting, OSError) as exc:
            if settings.bytesize != 7 or not _is_setting_refused(exc):
                raise ConnectError(f"cannot open {url}: {_reason(exc)}") from exc
            kwargs.update(byte_size=8, parity="N")
            software_parity = settings.parity == "E"
            try:
                port = await cls._open(url, kwargs, timeout_s)
            except (serialx.UnsupportedSetting, OSError) as exc2:
                raise ConnectError(f"cannot open {url}: {_reason(exc2)}") from exc2
        except TimeoutError as exc:
            raise ConnectError(f"cannot open {url}: timed out") from exc
        return cls(port, url, software_parity)

    @staticmethod
    async def _open(url: str, kwargs: dict[str, Any], timeout_s: float) -> serialx.AsyncSerial:
        port = serialx.async_serial_for_url(url, **kwargs)
        async with asyncio.timeout(timeout_s):
            await port.open()
        return port

    async def write(self, data: bytes) -> None:
        try:
            await self._port.write(add_even_parity(data) if self._software_parity else data)
        except (OSError, RuntimeError) as exc:
            raise ConnectionLostError(f"{self.url}: write failed: {_reason(exc)}") from exc

    async def drain(self) -> None:
        try:
            await self._port.flush()
        except (OSError, RuntimeError) as exc:
            raise ConnectionLostError(f"{self.url}: {_reason(exc)}") from exc

    async def read(self) -> bytes:
        try:
            data = await self._port.read(_READ_CHUNK)
        except (OSError, RuntimeError) as exc:
            raise ConnectionLostError(f"{self.url}: read failed: {_reason(exc)}") from exc
        if not data:
            raise ConnectionLostError(f"{self.url}: port closed")
        return data

    async def set_baud(self, baud: int) -> None:
        # A local port: serialx flushes input on every reconfiguration, and a read
        # callback already scheduled for bytes that arrived just before (an echoed
        # ACK) would then read 0 bytes and report the port as disconnected, so
        # reading pauses while the line is reconfigured. (Not over RFC 2217: the
        # switch is a request whose answer must be read.)
        transport = self._port.transport
        pause = not self._network
        if pause:
            transport.pause_reading()
        try:
            await self._port.reconfigure_port(baudrate=baud)
        except (OSError, serialx.UnsupportedSetting) as exc:
            raise ConnectionLostError(
                f"{self.url}: cannot switch to {baud} Bd: {_reason(exc)}"
            ) from exc
        finally:
            if pause:
                transport.resume_reading()
        self.baud = baud

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(OSError):
            await self._port.close()


def _is_setting_refused(exc: BaseException) -> bool:
    return isinstance(exc, serialx.UnsupportedSetting) or (
        isinstance(exc, OSError) and exc.errno == errno.EINVAL
    )


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
