"""asyncua's records of what remote peers do wrong, as obisgate's one rate-limited line each.

asyncua logs a malformed message from a client with a traceback and without the
client's address, and a refused login as a "service fault" line without it
either. :class:`PeerRecords`, a filter on the two asyncua loggers that write
them, turns each such record into a report to a
:class:`~obisgate.gateway.outputs.peer_errors.PeerErrorLog` (peer address and
what was wrong, at most one line per minute) and drops the record. The peer is
found on the call stack: those records are logged synchronously by asyncua's
connection object (``OPCUAProtocol.peer_name``) or its message processor
(``UaProcessor.name``), whose frame is one of the callers of the filter.
"""

from __future__ import annotations

import inspect
import logging
from types import FrameType

from obisgate.gateway.outputs.listen import host_port
from obisgate.gateway.outputs.peer_errors import PeerErrorLog

__all__ = ["PEER_LOGGERS", "PeerRecords"]

#: asyncua logger -> message fragments of records caused by a peer.
PEER_LOGGERS: dict[str, tuple[str, ...]] = {
    "asyncua.server.binary_server_asyncio": (
        "Exception raised while parsing message from client",
        "Exception raised while processing message from client",
        "Got malformed header",
        "Inbound queue full",
    ),
    "asyncua.server.uaprocessor": (
        "sending service fault response",
        "Error while processing message",
    ),
}


class PeerRecords(logging.Filter):
    """Reports asyncua's peer records to ``log`` and drops them; lets every other record pass.

    Args:
        log: where the one-line reports go.
    """

    def __init__(self, log: PeerErrorLog) -> None:
        super().__init__()
        self.log = log

    def filter(self, record: logging.LogRecord) -> bool:
        fragments = PEER_LOGGERS.get(record.name, ())
        message = str(record.msg)
        if not any(fragment in message for fragment in fragments):
            return True
        try:
            reason = record.getMessage()
        except (TypeError, ValueError):
            reason = message
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None:
            reason = f"{reason}: {type(exc).__name__}: {exc}"
        self.log.report(_peer(inspect.currentframe()), reason.replace("\n", " "))
        return False

    def install(self) -> None:
        """Put the filter on asyncua's peer loggers (once)."""
        for name in PEER_LOGGERS:
            logger = logging.getLogger(name)
            if self not in logger.filters:
                logger.addFilter(self)

    def remove(self) -> None:
        """Take the filter off again."""
        for name in PEER_LOGGERS:
            logging.getLogger(name).removeFilter(self)


def _peer(frame: FrameType | None) -> str:
    """``HOST:PORT`` of the asyncua connection whose code is on the stack above ``frame``."""
    while frame is not None:
        owner = frame.f_locals.get("self")
        address = getattr(owner, "peer_name", None)
        if address is None and type(owner).__name__ == "UaProcessor":
            address = getattr(owner, "name", None)
        if isinstance(address, tuple) and len(address) >= 2:
            return host_port(str(address[0]), int(address[1]))
        frame = frame.f_back
    return "an unknown peer"
