"""Local serial ports and RFC 2217 network ports, through serialx."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import sys
from collections.abc import Iterator
from typing import Any

import serialx

from obisgate.errors import ConnectError, ConnectionLostError, TransportError
from obisgate.protocol.chars import add_even_parity
from obisgate.transport.base import LineSettings, Transport

__all__ = ["SerialTransport"]

if sys.platform != "win32":
    import termios

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

    Both can switch baud rate. Where the port refuses 7 data bits with parity,
    or accepts them but keeps 8N1 (pseudo-terminals on most Linux kernels), it
    runs as 8N1 and the parity bit is computed in software instead: the frames
    on the line are the same.
    """

    can_set_baud = True

    def __init__(self, port: serialx.AsyncSerial, url: str, software_parity: bool) -> None:
        # A local port that accepted 7E1 but does not keep it (pseudo-terminals on
        # some kernels drop CS7 and PARENB without an error): parity in software.
        if not software_parity and not _keeps_seven_even(port, url):
            software_parity = True
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
            ConnectError: the port does not exist, is busy, refuses the settings,
                or (RFC 2217) the server does not answer or refuses the options.
        """
        software_parity = settings.software_parity
        kwargs = _port_kwargs(settings)
        with _mapped(ConnectError, f"cannot open {url}"):
            try:
                port = await cls._open(url, kwargs, timeout_s)
            except (serialx.UnsupportedSetting, OSError) as exc:
                if settings.bytesize != 7 or not _is_setting_refused(exc):
                    raise
                # A port that refuses 7 data bits with parity (some ptys): 8N1
                # with the parity bit computed here instead.
                kwargs.update(byte_size=8, parity="N")
                software_parity = settings.parity == "E"
                port = await cls._open(url, kwargs, timeout_s)
        return cls(port, url, software_parity)

    @staticmethod
    async def _open(url: str, kwargs: dict[str, Any], timeout_s: float) -> serialx.AsyncSerial:
        port = serialx.async_serial_for_url(url, **kwargs)
        async with asyncio.timeout(timeout_s):
            await port.open()
        return port

    async def write(self, data: bytes) -> None:
        with _mapped(ConnectionLostError, f"{self.url}: write failed"):
            await self._port.write(add_even_parity(data) if self._software_parity else data)

    async def drain(self) -> None:
        with _mapped(ConnectionLostError, f"{self.url}: drain failed"):
            await self._port.flush()

    async def read(self) -> bytes:
        with _mapped(ConnectionLostError, f"{self.url}: read failed"):
            data = await self._port.read(_READ_CHUNK)
        if not data:
            raise ConnectionLostError(f"{self.url}: port closed")
        return data

    async def set_baud(self, baud: int) -> None:
        with _mapped(ConnectionLostError, f"{self.url}: cannot switch to {baud} Bd"):
            if self._network or not _set_speed(self._port, baud):
                await self._reconfigure_baud(baud)
        self.baud = baud

    async def set_framing(self, bytesize: int, parity: str) -> None:
        """Switch data bits and parity (after output drained); software parity stops for 8 bits."""
        with _mapped(ConnectionLostError, f"{self.url}: cannot switch to {bytesize}{parity}1"):
            if self._network or not _set_framing(self._port, bytesize, parity):
                await self._port.reconfigure_port(byte_size=bytesize, parity=parity)
        if bytesize == 8:
            self._software_parity = False

    async def _reconfigure_baud(self, baud: int) -> None:
        # serialx flushes both directions on every reconfiguration; on a local
        # port a read callback scheduled for bytes that arrived just before would
        # then read 0 bytes and report a disconnect, so reading pauses meanwhile.
        # (Not over RFC 2217: the switch is a request whose answer must be read.)
        transport = self._port.transport
        pause = not self._network
        if pause:
            transport.pause_reading()
        try:
            await self._port.reconfigure_port(baudrate=baud)
        finally:
            if pause:
                transport.resume_reading()

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(OSError):
            await self._port.close()


def _keeps_seven_even(port: serialx.AsyncSerial, url: str) -> bool:
    """False when a local POSIX port was asked for 7E1 and its termios says otherwise."""
    if sys.platform == "win32" or url.lower().startswith("rfc2217:"):
        return True
    parity = str(getattr(port.parity, "value", port.parity)).upper()
    if port.byte_size != 7 or parity not in ("E", "EVEN"):
        return True
    fileno = getattr(port.transport.get_extra_info("serial"), "fileno", None)
    if fileno is None:
        return True
    try:
        cflag = termios.tcgetattr(fileno())[2]
    except (termios.error, OSError, ValueError):
        return True
    return bool(cflag & termios.PARENB) and cflag & termios.CSIZE == termios.CS7


def _is_setting_refused(exc: BaseException) -> bool:
    return isinstance(exc, serialx.UnsupportedSetting) or (
        isinstance(exc, OSError) and exc.errno == errno.EINVAL
    )


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


#: What serialx and termios raise for a failed port (not all are OSError).
_PORT_ERRORS: tuple[type[Exception], ...] = (
    OSError,
    RuntimeError,
    serialx.SerialException,
    serialx.UnsupportedSetting,
)
if sys.platform != "win32":
    _PORT_ERRORS += (termios.error,)


@contextlib.contextmanager
def _mapped(error: type[TransportError], context: str) -> Iterator[None]:
    """Turn any port failure into ``error`` (timeouts first: they are OSErrors too)."""
    try:
        yield
    except _PORT_ERRORS as exc:
        raise error(f"{context}: {_reason(exc)}") from exc


def _set_speed(port: serialx.AsyncSerial, baud: int) -> bool:
    """Switch a local POSIX port's rate with ``tcsetattr(TCSADRAIN)`` only.

    serialx's own reconfiguration ends with a flush of both directions, which
    can discard the end of the acknowledgement we just wrote (seen on ptys, and
    possible on USB adapters that report "drained" early) and anything the
    meter already sent. Setting only the speed, after the output has drained,
    loses nothing.

    Returns:
        False where this is not possible (no termios, no file descriptor, or a
        rate without a termios constant); the caller then uses serialx.
    """
    if sys.platform == "win32":
        return False
    speed = getattr(termios, f"B{baud}", None)
    fileno = getattr(port.transport.get_extra_info("serial"), "fileno", None)
    if speed is None or fileno is None:
        return False
    fd = fileno()
    attrs = termios.tcgetattr(fd)
    attrs[4] = attrs[5] = speed
    termios.tcsetattr(fd, termios.TCSADRAIN, attrs)
    return True


def _set_framing(port: serialx.AsyncSerial, bytesize: int, parity: str) -> bool:
    """Set data bits and parity of a local POSIX port with ``tcsetattr(TCSADRAIN)``.

    Returns:
        False where this is not possible; the caller then uses serialx.
    """
    if sys.platform == "win32":
        return False
    fileno = getattr(port.transport.get_extra_info("serial"), "fileno", None)
    if fileno is None:
        return False
    fd = fileno()
    attrs = termios.tcgetattr(fd)
    cflag = attrs[2] & ~(termios.CSIZE | termios.PARENB | termios.PARODD)
    cflag |= termios.CS8 if bytesize == 8 else termios.CS7
    if parity == "E":
        cflag |= termios.PARENB
    elif parity == "O":
        cflag |= termios.PARENB | termios.PARODD
    attrs[2] = cflag
    termios.tcsetattr(fd, termios.TCSADRAIN, attrs)
    return True
