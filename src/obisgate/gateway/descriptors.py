"""File descriptors: the meter lines come first, network clients get what is left.

Every meter line needs a descriptor while it is polled (a socket, a serial port),
and so do the history and outbox files, logs and the event loop. An HTTP client
that opens connections and never closes them must not take the last descriptors:
with a 128-descriptor limit, 150 idle HTTP connections made every poll fail with
"Too many open files". So:

* at start the soft limit ``RLIMIT_NOFILE`` is raised to the hard limit
  (:func:`raise_open_file_limit`; systemd's soft default is 1024, the hard one far
  higher);
* a server output takes at most :func:`client_budget` connections: the soft limit
  minus :data:`RESERVED` minus :data:`PER_LINE` per meter line; it refuses to
  listen when fewer than :data:`MIN_CLIENTS` are left;
* asyncio's own report of a failed ``accept()`` (one ERROR record with a traceback
  per attempt, once a second per listener, for as long as descriptors are short)
  becomes one line per minute without a traceback (:func:`quiet_accept_errors`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from obisgate.gateway.outputs.peer_errors import PeerErrorLog

resource: Any
try:
    import resource
except ImportError:  # pragma: no cover - not on Windows
    resource = None

__all__ = [
    "MIN_CLIENTS",
    "PER_LINE",
    "RESERVED",
    "client_budget",
    "open_file_limit",
    "quiet_accept_errors",
    "raise_open_file_limit",
]

_LOGGER = logging.getLogger(__name__)

#: Descriptors kept for everything but lines and clients: the interpreter, logs,
#: SQLite files with their journals (history, outboxes), the event loop, threads, pipes.
RESERVED = 64
#: Per meter line: its connection, and a second one while a kept one is replaced.
PER_LINE = 2
#: A server output that would get fewer client connections than this does not listen.
MIN_CLIENTS = 4


def open_file_limit() -> int | None:
    """The soft ``RLIMIT_NOFILE`` now (``None`` where there is none)."""
    if resource is None:  # pragma: no cover
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if soft == resource.RLIM_INFINITY else int(soft)


def raise_open_file_limit() -> int | None:
    """Raise the soft ``RLIMIT_NOFILE`` to the hard limit; the soft limit after that."""
    if resource is None:  # pragma: no cover
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError) as exc:
            _LOGGER.debug("cannot raise the open file limit to %s: %s", hard, exc)
        else:
            _LOGGER.debug("open file limit raised from %s to %s", soft, hard)
    return open_file_limit()


def client_budget(lines: int, limit: int | None = None) -> int | None:
    """Client connections a server output may hold beside ``lines`` meter lines
    (``None``: no limit known); ``limit`` defaults to the soft limit now."""
    if limit is None:
        limit = open_file_limit()
    if limit is None:
        return None
    return max(0, limit - RESERVED - PER_LINE * lines)


def quiet_accept_errors(loop: asyncio.AbstractEventLoop) -> Callable[[], None]:
    """Route asyncio's "socket.accept() out of system resource" reports of ``loop`` to
    one line per minute; every other report goes where it went before.

    Returns:
        A function that restores the previous exception handler.
    """
    previous = loop.get_exception_handler()
    errors = PeerErrorLog(_LOGGER, "cannot accept connections", window_s=60.0)

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if str(context.get("message", "")).startswith("socket.accept() out of system resource"):
            exc = context.get("exception")
            sock = context.get("socket")
            where = "a listener"
            try:
                if sock is not None:
                    host, port = sock.getsockname()[:2]
                    where = f"{host}:{port}"
            except (OSError, ValueError, TypeError):
                pass
            errors.report(where, getattr(exc, "strerror", None) or str(exc))
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handler)
    return lambda: loop.set_exception_handler(previous)
