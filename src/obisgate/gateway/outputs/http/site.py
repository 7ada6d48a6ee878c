"""The HTTP output's listener: at most ``max_connections`` clients, accept errors in one line.

aiohttp's own ``TCPSite`` accepts every connection it is offered and keeps idle ones
(its keep-alive timeout is an hour); asyncio logs each failed ``accept()`` with a
traceback, once per attempt, when the process is out of descriptors. This site
accepts connections itself, one at a time, and hands each to the aiohttp server
(``loop.connect_accepted_socket``) only while fewer than ``max_connections`` are
open; beyond that the connection is closed at once (the client sees it closed)
and counted, with one log line per window naming the peer. An ``accept()`` that
fails for want of resources (``EMFILE``, ``ENFILE``, ``ENOBUFS``, ``ENOMEM``) pauses
accepting for a second and is logged once per window, never with a traceback.

:class:`ServerLog` is the aiohttp request handler's logger: aiohttp logs a
malformed request with its traceback at ERROR level; here it is one rate-limited
line naming the peer and the reason, and counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
from typing import Any

from aiohttp import web

from obisgate.gateway.outputs.peer_errors import PeerErrorLog

__all__ = ["CappedSite", "ServerLog"]

_LOGGER = logging.getLogger("obisgate.gateway.outputs.http")

#: ``accept()`` errors that mean "out of resources now": pause, then try again.
_EXHAUSTED = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}
#: Seconds accepting pauses after such an error.
_PAUSE_S = 1.0
#: Connections accepted per readiness event at most (then other work runs).
_BURST = 64


def _peer(address: Any) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = address[0], address[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(address)


class _Listener(asyncio.AbstractServer):
    """Accepts on ``sock`` and feeds ``server`` while it holds fewer than ``cap`` connections."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        server: web.Server,
        site: CappedSite,
    ) -> None:
        self._loop = loop
        self._sock = sock
        self._server = server
        self._site = site
        self._pending: set[asyncio.Task[Any]] = set()
        self._resume: asyncio.TimerHandle | None = None
        self._serving = True
        loop.add_reader(sock.fileno(), self._accept)

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        return (self._sock,) if self._serving else ()

    def _accept(self) -> None:
        site = self._site
        for _ in range(_BURST):
            try:
                conn, address = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                site.accept_errors.report(site.where, exc.strerror or str(exc))
                if exc.errno in _EXHAUSTED:
                    self._loop.remove_reader(self._sock.fileno())
                    self._resume = self._loop.call_later(_PAUSE_S, self._resume_accepting)
                return
            if len(self._server.connections) + len(self._pending) >= site.max_connections:
                conn.close()
                site.refused_total += 1
                site.refused.report(
                    _peer(address), f"connection closed: {site.max_connections} clients connected"
                )
                continue
            conn.setblocking(False)
            task = self._loop.create_task(self._serve(conn))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def _serve(self, conn: socket.socket) -> None:
        try:
            await self._loop.connect_accepted_socket(self._server, conn)
        except OSError:
            conn.close()

    def _resume_accepting(self) -> None:
        self._resume = None
        if self._serving:
            self._loop.add_reader(self._sock.fileno(), self._accept)

    def close(self) -> None:
        if not self._serving:
            return
        self._serving = False
        if self._resume is not None:
            self._resume.cancel()
        with contextlib.suppress(ValueError, OSError):
            self._loop.remove_reader(self._sock.fileno())
        self._sock.close()
        for task in self._pending:
            task.cancel()

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def is_serving(self) -> bool:
        return self._serving

    async def start_serving(self) -> None:
        return None  # serving from the start

    async def serve_forever(self) -> None:
        raise NotImplementedError("the gateway's event loop serves it")

    async def wait_closed(self) -> None:
        return None


class CappedSite(web.BaseSite):
    """A TCP site of ``runner`` on ``host``:``port`` holding at most ``max_connections``.

    Attributes:
        refused_total: connections closed at once because the cap was reached.
        accept_errors: failed ``accept()`` calls (``.total``), logged once per window.
        refused: the log of refused connections (one line per window).
    """

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        *,
        max_connections: int,
        backlog: int = 128,
    ) -> None:
        super().__init__(runner, backlog=backlog)
        self._host = host
        self._port = port
        self.max_connections = max_connections
        self.where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self.refused_total = 0
        self.refused = PeerErrorLog(_LOGGER, "http: too many connections", window_s=60.0)
        self.accept_errors = PeerErrorLog(_LOGGER, "http: cannot accept connections", window_s=60.0)

    @property
    def name(self) -> str:
        return f"http://{self.where}"

    async def start(self) -> None:
        """Bind, listen and start accepting.

        Raises:
            OSError: the address cannot be bound.
        """
        await super().start()
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(
            self._host, self._port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
        family, kind, proto, _, address = infos[0]
        sock = socket.socket(family, kind, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(self._backlog)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        port = sock.getsockname()[1]
        self.where = f"[{self._host}]:{port}" if ":" in self._host else f"{self._host}:{port}"
        server = self._runner.server
        assert server is not None
        self._server = _Listener(loop, sock, server, self)


class ServerLog(logging.Logger):
    """The logger aiohttp's request handlers get: their errors (a malformed request, a
    client gone mid-request) become one rate-limited line with the peer, without the
    traceback; everything else goes to the debug log.

    Args:
        bad_requests: where malformed requests are counted and logged.
    """

    def __init__(self, bad_requests: PeerErrorLog) -> None:
        super().__init__("obisgate.gateway.outputs.http.requests")
        self.bad_requests = bad_requests

    def _report(self, msg: object, args: tuple[Any, ...], exc_info: Any) -> None:
        text = str(msg)
        peer = str(args[0]) if args and "%s" in text else "a client"
        exc = exc_info if isinstance(exc_info, BaseException) else None
        reason = _format(text, args) if exc is None else f"{type(exc).__name__}: {exc}"
        self.bad_requests.report(peer, " ".join(reason.split())[:200])

    def exception(self, msg: object, *args: Any, exc_info: Any = True, **kwargs: Any) -> None:
        self._report(msg, args, exc_info)

    def error(self, msg: object, *args: Any, **kwargs: Any) -> None:
        self._report(msg, args, kwargs.get("exc_info"))

    def debug(self, msg: object, *args: Any, **kwargs: Any) -> None:
        if str(msg).startswith("Error handling request"):  # junk on the port: malformed too
            self._report(msg, args, kwargs.get("exc_info"))
        elif _LOGGER.isEnabledFor(logging.DEBUG):
            _LOGGER.debug("aiohttp: %s", _format(str(msg), args))


def _format(text: str, args: tuple[Any, ...]) -> str:
    try:
        return text % args if args else text
    except (TypeError, ValueError):
        return f"{text} {args!r}"
