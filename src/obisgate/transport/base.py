"""The byte-pipe interface every transport implements, and line settings."""

from __future__ import annotations

import abc
import asyncio
from dataclasses import dataclass
from typing import Self

from obisgate.errors import ConfigError, UnsupportedOperation

__all__ = ["LineSettings", "Transport"]

_PARITIES = {"N": "N", "NONE": "N", "E": "E", "EVEN": "E", "O": "O", "ODD": "O"}
_FLOW = ("none", "rtscts", "xonxoff", "dsrdtr")


@dataclass(frozen=True, slots=True, kw_only=True)
class LineSettings:
    """Serial line settings. Defaults are the standard's: 300 Bd, 7 data bits, even, 1 stop.

    Attributes:
        baudrate: initial rate.
        bytesize: data bits (7 or 8).
        parity: ``"N"``, ``"E"`` or ``"O"`` (``"NONE"``, ``"EVEN"``, ``"ODD"`` accepted).
        stopbits: 1, 1.5 or 2.
        flowcontrol: ``"none"``, ``"rtscts"``, ``"xonxoff"`` or ``"dsrdtr"``.
        software_parity: send 7E1 characters over an 8N1 link by setting bit 7
            as the even-parity bit (TCP converters, modems, pseudo-terminals).
            Received bytes always have bit 7 cleared.
    """

    baudrate: int = 300
    bytesize: int = 7
    parity: str = "E"
    stopbits: float = 1
    flowcontrol: str = "none"
    software_parity: bool = False

    def __post_init__(self) -> None:
        parity = _PARITIES.get(str(self.parity).upper())
        if parity is None:
            raise ConfigError(f"parity {self.parity!r}: allowed N, E, O (NONE, EVEN, ODD)")
        object.__setattr__(self, "parity", parity)
        flow = str(self.flowcontrol).lower()
        if flow not in _FLOW:
            raise ConfigError(f"flow control {self.flowcontrol!r}: allowed {', '.join(_FLOW)}")
        object.__setattr__(self, "flowcontrol", flow)
        if self.bytesize not in (5, 6, 7, 8):
            raise ConfigError(f"data bits {self.bytesize}: allowed 7 or 8")
        if self.stopbits not in (1, 1.5, 2):
            raise ConfigError(f"stop bits {self.stopbits}: allowed 1, 1.5, 2")
        if self.baudrate <= 0:
            raise ConfigError(f"baud rate {self.baudrate}: must be positive")


class Transport(abc.ABC):
    """An open, asynchronous byte pipe to one meter or bus.

    Attributes:
        url: where it is connected (for messages; never holds secrets).
        can_set_baud: whether :meth:`set_baud` really changes the line rate.
        baud: the current line rate as far as this side knows.
    """

    url: str
    can_set_baud: bool
    baud: int

    @abc.abstractmethod
    async def write(self, data: bytes) -> None:
        """Queue ``data`` for sending.

        Raises:
            ConnectionLostError: the connection is gone.
        """

    @abc.abstractmethod
    async def drain(self) -> None:
        """Wait until everything written has left this side (the UART, for serial)."""

    @abc.abstractmethod
    async def read(self) -> bytes:
        """Wait for at least one byte and return what is available (never ``b""``).

        Cancel it (e.g. with ``asyncio.timeout``) to stop waiting.

        Raises:
            ConnectionLostError: end of stream or a failed port.
        """

    async def read_within(self, timeout_s: float) -> bytes | None:
        """:meth:`read`, or ``None`` when nothing arrives within ``timeout_s`` seconds.

        A deadline of the caller's that passes meanwhile still cancels the wait
        (``CancelledError``, or its own ``TimeoutError``), as for :meth:`read`.
        Transports may override it with a cheaper deadline than ``asyncio.timeout``.

        Raises:
            ConnectionLostError: end of stream or a failed port.
        """
        try:
            async with asyncio.timeout(timeout_s):
                return await self.read()
        except TimeoutError:
            return None

    @abc.abstractmethod
    async def set_baud(self, baud: int) -> None:
        """Switch the line rate.

        Raises:
            UnsupportedOperation: the transport cannot switch (see :attr:`can_set_baud`).
        """

    async def set_framing(self, bytesize: int, parity: str) -> None:
        """Switch the character format (data bits and parity), e.g. to 8N1 for HDLC.

        The base implementation only stops adding a software parity bit;
        transports with a real UART change it.

        Raises:
            UnsupportedOperation: the transport cannot change it.
        """
        raise UnsupportedOperation(f"{self.url}: cannot switch to {bytesize}{parity}1")

    @property
    def framing_is_remote(self) -> bool:
        """True when the character format is set by a converter, not by this side."""
        return False

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Close the connection; safe to call twice."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
