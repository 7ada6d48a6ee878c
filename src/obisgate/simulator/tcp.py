"""Raw TCP listeners: every accepted connection is a line carrying the simulator's meters.

Raw TCP carries bytes only, so a baud switch is invisible: after a mode B/C
switch the meter simply goes on sending. With ``converter_baud`` the listener
models a transparent converter whose serial side is fixed at that rate: what a
meter sends at another rate arrives garbled, and a meter listening at another
rate hears garbage (the client cannot switch a raw TCP converter). One listener may carry many meters
(the request's address selects the meter), or :func:`serve_tcp_each` starts one
listener per meter; either way an idle meter costs no task and no timer.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import cast

from obisgate.errors import ConfigError
from obisgate.simulator.bus import MeterBus, MeterCatalog
from obisgate.simulator.faults import Faults
from obisgate.simulator.line import LineDriver
from obisgate.simulator.profile import MeterProfile
from obisgate.simulator.programming_hook import SessionFactory
from obisgate.simulator.stats import SimulatorStats

__all__ = ["MeterFarm", "SimulatorServer", "serve_tcp", "serve_tcp_each"]

_LOGGER = logging.getLogger("obisgate.simulator")


class SimulatorServer:
    """A listening simulator. Use as an async context manager, or call :meth:`aclose`.

    Attributes:
        url: where to connect, with the real port (``tcp://127.0.0.1:40123``).
        host: the bound host.
        port: the bound port.
        catalog: the meters every connection carries.
        stats: counters over all connections.
    """

    def __init__(
        self,
        scheme: str,
        catalog: MeterCatalog,
        faults: Faults,
        *,
        realtime: bool,
        stats: SimulatorStats,
        programming_factory: SessionFactory | None,
        converter_baud: int | None = None,
    ) -> None:
        self.scheme = scheme
        self.converter_baud = converter_baud
        self.catalog = catalog
        self.faults = faults
        self.realtime = realtime
        self.stats = stats
        self.programming_factory = programming_factory
        self.host = ""
        self.port = 0
        self._server: asyncio.Server | None = None
        self._transports: dict[asyncio.BaseTransport, asyncio.Future[None]] = {}

    @property
    def url(self) -> str:
        """``scheme://host:port`` with the real port (IPv6 hosts in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    def new_bus(self) -> MeterBus:
        """A fresh line with every meter of this server."""
        return MeterBus(
            self.catalog,
            self.faults,
            realtime=self.realtime,
            stats=self.stats,
            programming_factory=self.programming_factory,
        )

    async def start(
        self,
        protocol_factory: Callable[[], asyncio.Protocol],
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        sock: socket.socket | None = None,
    ) -> None:
        """Bind ``host``:``port`` (or take the bound, listening ``sock``) and listen.

        Raises:
            OSError: the address cannot be bound (in use, unknown host).
        """
        loop = asyncio.get_running_loop()
        if sock is not None:
            self._server = await loop.create_server(protocol_factory, sock=sock)
        else:
            self._server = await loop.create_server(protocol_factory, host, port)
        sockname = self._server.sockets[0].getsockname()
        self.host, self.port = str(sockname[0]), int(sockname[1])

    def connection_opened(self, transport: asyncio.BaseTransport) -> None:
        """Track a connection, so :meth:`close` can close it."""
        self._transports[transport] = asyncio.get_running_loop().create_future()
        peer = transport.get_extra_info("peername")
        _LOGGER.info("%s: connection from %s", self.url, peer)

    def connection_closed(self, transport: asyncio.BaseTransport) -> None:
        """Forget a closed connection."""
        done = self._transports.pop(transport, None)
        if done is not None and not done.done():
            done.set_result(None)

    @property
    def connections(self) -> int:
        """How many connections are open now."""
        return len(self._transports)

    def close(self) -> None:
        """Stop listening and cut every connection (idempotent)."""
        if self._server is not None:
            self._server.close()
        for transport in list(self._transports):
            abort = getattr(transport, "abort", None)  # a stream transport (asyncio or uvloop)
            if abort is not None:
                abort()
            else:
                transport.close()

    async def aclose(self) -> None:
        """Close, and wait until the listener and every connection are gone."""
        pending = list(self._transports.values())
        self.close()
        if pending:
            await asyncio.wait(pending)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> SimulatorServer:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class TcpLine(asyncio.Protocol):
    """One accepted raw TCP connection: a line with all the server's meters."""

    def __init__(self, server: SimulatorServer) -> None:
        self._server = server
        self._transport: asyncio.Transport | None = None
        self._driver: LineDriver | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports have the methods but are no asyncio.Transport subclass.
        transport = cast(asyncio.Transport, transport)
        self._transport = transport
        self._server.connection_opened(transport)
        fixed = self._server.converter_baud
        self._driver = LineDriver(
            self._server.new_bus(),
            write=transport.write,
            hangup=transport.close,
            line_baud=lambda: fixed,
            realtime=self._server.realtime,
        )
        self._driver.start()

    def data_received(self, data: bytes) -> None:
        if self._driver is not None:
            self._driver.data_received(data)

    def eof_received(self) -> bool:
        return False  # the client closed its side: close ours

    def connection_lost(self, exc: Exception | None) -> None:
        if self._driver is not None:
            self._driver.stop()
        if self._transport is not None:
            self._server.connection_closed(self._transport)


async def serve_tcp(
    profiles: MeterProfile | Iterable[MeterProfile],
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    faults: Faults | None = None,
    realtime: bool = False,
    stats: SimulatorStats | None = None,
    programming_factory: SessionFactory | None = None,
    converter_baud: int | None = None,
) -> SimulatorServer:
    """Listen on raw TCP; every connection carries all ``profiles`` (a shared line).

    Args:
        profiles: one meter or several (the request's address selects one).
        host: address to bind.
        port: port to bind; 0 picks a free one (read :attr:`SimulatorServer.port`).
        faults: faults every meter injects.
        realtime: pace bytes at their wire time.
        stats: counters to update (a new set by default).
        programming_factory: see :class:`~obisgate.simulator.meter.SimulatedMeter`.
        converter_baud: the rate of a converter's serial side (``None``: rates
            are invisible, as when the converter followed every switch).

    Returns:
        The running server; close it with ``aclose()`` or ``async with``.

    Raises:
        ConfigError: no profiles.
        OSError: the address cannot be bound.
    """
    server = SimulatorServer(
        "tcp",
        MeterCatalog.of(profiles),
        faults or Faults(),
        realtime=realtime,
        stats=stats if stats is not None else SimulatorStats(),
        programming_factory=programming_factory,
        converter_baud=converter_baud,
    )
    await server.start(lambda: TcpLine(server), host, port)
    return server


class MeterFarm:
    """One TCP listener per meter (:func:`serve_tcp_each`).

    Attributes:
        servers: the listeners, in the order of the profiles.
        urls: each meter's ``tcp://host:port``, in the same order.
        stats: counters shared by all listeners.
    """

    def __init__(self, servers: list[SimulatorServer], stats: SimulatorStats) -> None:
        self.servers = servers
        self.stats = stats
        self.urls: tuple[str, ...] = tuple(s.url for s in servers)
        """Each meter's ``tcp://host:port``, in the order of the profiles."""

    def close(self) -> None:
        """Stop every listener and close every connection."""
        for server in self.servers:
            server.close()

    async def aclose(self) -> None:
        """Close and wait until everything is closed."""
        self.close()
        for server in self.servers:
            await server.aclose()

    async def __aenter__(self) -> MeterFarm:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


async def serve_tcp_each(
    profiles: Iterable[MeterProfile],
    *,
    host: str = "127.0.0.1",
    faults: Faults | None = None,
    realtime: bool = False,
    backlog: int = 16,
    programming_factory: SessionFactory | None = None,
) -> MeterFarm:
    """Start one raw TCP listener (free port) per meter, e.g. for a gateway benchmark.

    Each listener costs one socket; there is no task or timer per idle meter.
    10 000 meters need a file descriptor limit above 10 000 (``ulimit -n``).

    Raises:
        ConfigError: no profiles.
        OSError: a socket cannot be bound (on failure the ones already bound are closed).
    """
    stats = SimulatorStats()
    faults = faults or Faults()
    servers: list[SimulatorServer] = []
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        for profile in profiles:
            server = SimulatorServer(
                "tcp",
                MeterCatalog([profile]),
                faults,
                realtime=realtime,
                stats=stats,
                programming_factory=programming_factory,
            )
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                sock.bind((host, 0))
                sock.listen(backlog)
                sock.setblocking(False)
                await server.start(_factory(server), sock=sock)
            except BaseException:
                sock.close()
                raise
            servers.append(server)
    except BaseException:
        for server in servers:
            await server.aclose()
        raise
    if not servers:
        raise ConfigError("serve_tcp_each needs at least one meter profile")
    return MeterFarm(servers, stats)


def _factory(server: SimulatorServer) -> Callable[[], asyncio.Protocol]:
    return lambda: TcpLine(server)
