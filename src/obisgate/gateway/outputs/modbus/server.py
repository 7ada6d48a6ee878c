"""The Modbus TCP server on the network: every request answered, in order, from the map.

Runs in the gateway's event loop (an :class:`asyncio.Protocol` per connection);
the protocol is in :mod:`~obisgate.gateway.outputs.modbus.protocol`. Each chunk
of received bytes is cut into requests and all of them are answered at once, in
the order they came (masters that pipeline several requests in one segment get
every answer), from the register map as it is at that moment. Reading never
awaits anything, so a request is answered within the same turn of the loop.

A peer that is not speaking Modbus TCP (a wrong protocol id or length field)
is one rate-limited line with its address and what was wrong, and its
connection is closed; other connections go on. A connection beyond
``max_connections`` is closed at once (one rate-limited line). A peer that
sends requests without reading the answers is not read from while the
answers waiting for it exceed the transport's high-water mark, and the
requests it already sent wait unanswered meanwhile: memory stays bounded.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections import deque
from typing import cast

from obisgate.errors import TransportError
from obisgate.gateway.outputs.listen import host_port
from obisgate.gateway.outputs.modbus.config import ModbusConfig
from obisgate.gateway.outputs.modbus.mapping import RegisterMap
from obisgate.gateway.outputs.modbus.protocol import (
    MalformedFrame,
    Request,
    RequestReader,
    answer,
)
from obisgate.gateway.outputs.peer_errors import PeerErrorLog

__all__ = ["ModbusServer"]

_LOGGER = logging.getLogger("obisgate.gateway.outputs.modbus")


class _Connection(asyncio.Protocol):
    def __init__(self, server: ModbusServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.peer = "?"
        self.reader = RequestReader()
        self.pending: deque[Request] = deque()
        self.paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports have the methods but are no asyncio.Transport subclass.
        transport = cast(asyncio.Transport, transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple) and len(peer) >= 2:
            self.peer = host_port(str(peer[0]), int(peer[1]))
        self.server.accepted(self)

    def data_received(self, data: bytes) -> None:
        self.server.received(self, data)

    def pause_writing(self) -> None:
        # A peer that sends without reading what we answer: stop reading from it and
        # answering it, so neither our answers nor its requests pile up in memory.
        self.paused = True
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.paused = False
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()
            self.server.answer_pending(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.connections.discard(self)


class ModbusServer:
    """A read-only Modbus TCP server answering from ``register_map``.

    Args:
        section: the ``[modbus]`` section (unit id, connection limit).
        register_map: the mapped signals.

    Attributes:
        reads: requests answered with data.
        refused: requests answered with an exception.
        errors: connections closed for bytes that are not Modbus TCP.
    """

    def __init__(self, section: ModbusConfig, register_map: RegisterMap) -> None:
        self.section = section
        self.map = register_map
        self.connections: set[_Connection] = set()
        self.reads = 0
        self.refused = 0
        self.errors = 0
        self.port: int | None = None
        self._server: asyncio.Server | None = None
        self._malformed = PeerErrorLog(_LOGGER, "modbus: malformed request")
        self._too_many = PeerErrorLog(_LOGGER, "modbus: connection refused")

    async def start(self, host: str, port: int) -> int:
        """Listen on ``host``:``port``; the port listened on.

        Raises:
            TransportError: the address cannot be bound; one line
                ``modbus cannot listen on HOST:PORT: REASON``.
        """
        loop = asyncio.get_running_loop()
        try:
            self._server = await loop.create_server(
                lambda: _Connection(self), host, port, reuse_address=True
            )
        except OSError as exc:
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            raise TransportError(
                f"modbus cannot listen on {host_port(host, port)}: {reason}"
            ) from None
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def aclose(self) -> None:
        """Stop listening and close every connection."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for connection in list(self.connections):
            if connection.transport is not None:
                connection.transport.abort()
        await server.wait_closed()

    def accepted(self, connection: _Connection) -> None:
        if len(self.connections) >= self.section.max_connections:
            self._too_many.report(
                connection.peer, f"{self.section.max_connections} connections are open"
            )
            assert connection.transport is not None
            connection.transport.abort()
            return
        self.connections.add(connection)

    def received(self, connection: _Connection, data: bytes) -> None:
        transport = connection.transport
        if transport is None or connection not in self.connections:
            return
        try:
            requests = connection.reader.feed(data)
        except MalformedFrame as exc:
            self.errors += 1
            self._malformed.report(connection.peer, str(exc))
            self.connections.discard(connection)
            transport.abort()
            return
        connection.pending.extend(requests)
        self.answer_pending(connection)

    def answer_pending(self, connection: _Connection) -> None:
        """Answer the connection's waiting requests in order, until its transport asks us
        to stop writing (:meth:`_Connection.pause_writing`)."""
        transport = connection.transport
        if transport is None or transport.is_closing():
            return
        read_bits = self.map.read_bits if self.map.has_bits else None
        pending = connection.pending
        while pending and not connection.paused:
            answers = []
            for _ in range(min(len(pending), 64)):
                response = answer(
                    pending.popleft(),
                    unit_id=self.section.unit_id,
                    read_registers=self.map.read_registers,
                    read_bits=read_bits,
                )
                if response[7] & 0x80:
                    self.refused += 1
                else:
                    self.reads += 1
                answers.append(response)
            transport.write(b"".join(answers))
