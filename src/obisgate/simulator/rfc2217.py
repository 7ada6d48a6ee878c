"""A minimal RFC 2217 (Telnet COM-PORT-OPTION) access server in front of the meters.

Enough of RFC 854/2217 for serial clients such as serialx's ``rfc2217://``:

* Option negotiation: BINARY, SUPPRESS-GO-AHEAD and COM-PORT-OPTION are
  accepted in both directions, anything else refused; a request for a state
  already in effect is not answered again (no negotiation loops). The server
  never starts a negotiation itself.
* COM-PORT-OPTION subnegotiations are answered with the command code + 100:
  SET-BAUDRATE (0 queries), SET-DATASIZE / -PARITY / -STOPSIZE (0 queries),
  SET-CONTROL, SET-LINESTATE-MASK, SET-MODEMSTATE-MASK, PURGE-DATA echo the
  value (control queries get the current state); SIGNATURE answers with a name.
* Data: IAC (0xFF) is doubled when sent and undoubled when received.

The baud rate the client sets is the line's rate: after a mode B/C switch the
meter's bytes reach a client at another rate garbled, exactly as on the pty.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Final, cast

from obisgate.simulator.bus import MeterCatalog
from obisgate.simulator.faults import Faults
from obisgate.simulator.line import LineDriver
from obisgate.simulator.profile import MeterProfile
from obisgate.simulator.programming_hook import SessionFactory
from obisgate.simulator.stats import SimulatorStats
from obisgate.simulator.tcp import SimulatorServer

__all__ = ["Rfc2217Line", "TelnetDecoder", "serve_rfc2217"]

_LOGGER = logging.getLogger("obisgate.simulator")

IAC: Final = 255
DONT: Final = 254
DO: Final = 253
WONT: Final = 252
WILL: Final = 251
SB: Final = 250
SE: Final = 240
BINARY: Final = 0
SGA: Final = 3
COM_PORT_OPTION: Final = 44
SERVER_OFFSET: Final = 100

SIGNATURE: Final = 0
SET_BAUDRATE: Final = 1
SET_DATASIZE: Final = 2
SET_PARITY: Final = 3
SET_STOPSIZE: Final = 4
SET_CONTROL: Final = 5
SET_LINESTATE_MASK: Final = 10
SET_MODEMSTATE_MASK: Final = 11
PURGE_DATA: Final = 12

_ACCEPTED: Final = frozenset({BINARY, SGA, COM_PORT_OPTION})
_SIGNATURE: Final = b"obisgate meter simulator"
#: SET-CONTROL queries and the state reported: no flow control, break off,
#: DTR on, RTS on, no inbound flow control.
_CONTROL_QUERIES: Final = {0: 1, 4: 6, 7: 8, 10: 11, 13: 14}

Item = bytes | tuple[int, int] | tuple[int, int, bytes]
"""Decoded telnet stream item: data, ``(WILL|WONT|DO|DONT, option)`` or ``(SB, option, payload)``."""


class TelnetDecoder:
    """Splits a telnet byte stream into data and commands. Sans-IO, incremental."""

    def __init__(self) -> None:
        self._state = 0  # 0 data, 1 after IAC, 2 option byte, 3 SB option, 4 SB data, 5 SB IAC
        self._verb = 0
        self._option = 0
        self._payload = bytearray()

    def feed(self, data: bytes) -> list[Item]:
        """Decode ``data``; returns data chunks and commands in order."""
        items: list[Item] = []
        chunk = bytearray()
        for byte in data:
            state = self._state
            if state == 0:
                if byte == IAC:
                    self._state = 1
                else:
                    chunk.append(byte)
            elif state == 1:
                if byte == IAC:
                    chunk.append(IAC)
                    self._state = 0
                elif byte in (WILL, WONT, DO, DONT):
                    self._verb = byte
                    self._state = 2
                elif byte == SB:
                    self._state = 3
                else:
                    self._state = 0  # NOP, GA, BRK ...: nothing to do
            elif state == 2:
                if chunk:
                    items.append(bytes(chunk))
                    chunk.clear()
                items.append((self._verb, byte))
                self._state = 0
            elif state == 3:
                self._option = byte
                self._payload.clear()
                self._state = 4
            elif state == 4:
                if byte == IAC:
                    self._state = 5
                else:
                    self._payload.append(byte)
            elif byte == IAC:  # state 5
                self._payload.append(IAC)
                self._state = 4
            else:
                if byte == SE:
                    if chunk:
                        items.append(bytes(chunk))
                        chunk.clear()
                    items.append((SB, self._option, bytes(self._payload)))
                self._state = 0
        if chunk:
            items.append(bytes(chunk))
        return items


def escape(data: bytes) -> bytes:
    """Double every IAC byte of ``data``."""
    return data.replace(b"\xff", b"\xff\xff")


def subnegotiation(command: int, value: bytes) -> bytes:
    """``IAC SB COM-PORT-OPTION command value IAC SE`` (value escaped)."""
    return bytes((IAC, SB, COM_PORT_OPTION, command)) + escape(value) + bytes((IAC, SE))


class Rfc2217Line(asyncio.Protocol):
    """One RFC 2217 client connection: a line with all the server's meters.

    Attributes:
        baud: the rate the client set (``None`` until it sets one).
    """

    def __init__(self, server: SimulatorServer) -> None:
        self._server = server
        self._transport: asyncio.Transport | None = None
        self._driver: LineDriver | None = None
        self._decoder = TelnetDecoder()
        self._we_do: set[int] = set()
        self._they_do: set[int] = set()
        self.baud: int | None = None
        self._settings = {SET_DATASIZE: 8, SET_PARITY: 1, SET_STOPSIZE: 1}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports have the methods but are no asyncio.Transport subclass.
        transport = cast(asyncio.Transport, transport)
        self._transport = transport
        self._server.connection_opened(transport)
        self._driver = LineDriver(
            self._server.new_bus(),
            write=self._write_data,
            hangup=transport.close,
            line_baud=lambda: self.baud,
            realtime=self._server.realtime,
        )
        self._driver.start()

    def data_received(self, data: bytes) -> None:
        for item in self._decoder.feed(data):
            if isinstance(item, bytes):
                if self._driver is not None:
                    self._driver.data_received(item)
            elif len(item) == 2:
                self._negotiate(item[0], item[1])
            else:
                self._subnegotiation(item[1], item[2])

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if self._driver is not None:
            self._driver.stop()
        if self._transport is not None:
            self._server.connection_closed(self._transport)

    # -- internals ------------------------------------------------------------

    def _send(self, data: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)

    def _write_data(self, data: bytes) -> None:
        self._send(escape(data))

    def _negotiate(self, verb: int, option: int) -> None:
        if verb == WILL:
            if option in _ACCEPTED:
                if option not in self._they_do:
                    self._they_do.add(option)
                    self._send(bytes((IAC, DO, option)))
            else:
                self._send(bytes((IAC, DONT, option)))
        elif verb == DO:
            if option in _ACCEPTED:
                if option not in self._we_do:
                    self._we_do.add(option)
                    self._send(bytes((IAC, WILL, option)))
            else:
                self._send(bytes((IAC, WONT, option)))
        elif verb == WONT:
            if option in self._they_do:
                self._they_do.discard(option)
                self._send(bytes((IAC, DONT, option)))
        elif option in self._we_do:  # DONT
            self._we_do.discard(option)
            self._send(bytes((IAC, WONT, option)))

    def _subnegotiation(self, option: int, payload: bytes) -> None:
        if option != COM_PORT_OPTION or not payload:
            return
        command, value = payload[0], payload[1:]
        answer: bytes | None
        if command == SIGNATURE:
            answer = _SIGNATURE if not value else None
        elif command == SET_BAUDRATE:
            baud = int.from_bytes(value[:4], "big") if len(value) >= 4 else 0
            if baud:
                if baud != self.baud:
                    _LOGGER.info("rfc2217: client set %d Bd", baud)
                self.baud = baud
            answer = (self.baud or 0).to_bytes(4, "big")
        elif command in self._settings:
            if value and value[0]:
                self._settings[command] = value[0]
            answer = bytes((self._settings[command],))
        elif command == SET_CONTROL:
            request = value[0] if value else 0
            answer = bytes((_CONTROL_QUERIES.get(request, request),))
        elif command in (SET_LINESTATE_MASK, SET_MODEMSTATE_MASK, PURGE_DATA):
            answer = value[:1]
        else:
            answer = None  # notifications and flow control: no answer
        if answer is not None:
            self._send(subnegotiation(command + SERVER_OFFSET, answer))


async def serve_rfc2217(
    profiles: MeterProfile | Iterable[MeterProfile],
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    faults: Faults | None = None,
    realtime: bool = False,
    stats: SimulatorStats | None = None,
    programming_factory: SessionFactory | None = None,
) -> SimulatorServer:
    """Listen for RFC 2217 clients; every connection carries all ``profiles``.

    Args and errors as :func:`~obisgate.simulator.tcp.serve_tcp`; the URL is
    ``rfc2217://host:port``.
    """
    server = SimulatorServer(
        "rfc2217",
        MeterCatalog.of(profiles),
        faults or Faults(),
        realtime=realtime,
        stats=stats if stats is not None else SimulatorStats(),
        programming_factory=programming_factory,
    )
    await server.start(lambda: Rfc2217Line(server), host, port)
    return server
