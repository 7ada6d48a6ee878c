"""What the outputs that are servers share (Modbus TCP, IEC 104): listening on the section's
``listen`` address, announcing it, their health's address, closing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Generic, Protocol, TypeVar

from obisgate.errors import TransportError
from obisgate.gateway.outputs.announce import announce
from obisgate.gateway.outputs.base import Output, publish_each
from obisgate.gateway.outputs.health import HealthRecord, OutputHealth, OutputState
from obisgate.gateway.outputs.listen import host_port, split_listen
from obisgate.gateway.updates import SignalUpdate

__all__ = ["ListeningOutput", "Server"]


class Server(Protocol):
    """A server run in the gateway's event loop."""

    port: int | None

    async def start(self, host: str, port: int) -> int:
        """Listen on ``host:port`` (0: any free port); the port chosen.

        Raises:
            TransportError: the address cannot be bound.
        """

    async def aclose(self) -> None:
        """Stop listening and close every connection."""


ServerT = TypeVar("ServerT", bound=Server)


class ListeningOutput(Output, Generic[ServerT]):
    """An output that serves its values from ``server`` on ``listen`` (``HOST:PORT``).

    Subclasses set :attr:`name`, give the server and implement :meth:`publish` and
    :meth:`health` (with :meth:`_health_of` for the address).
    """

    def __init__(self, server: ServerT, listen: str) -> None:
        self.server = server
        self._listen = listen
        self._started = False
        self._health = HealthRecord()

    @property
    def port(self) -> int | None:
        """The port listened on, once started (``listen`` may ask for any free one)."""
        return self.server.port

    async def start(self) -> None:
        """Listen and log ``NAME listening on HOST:PORT`` (``announce``).

        Raises:
            TransportError: the address cannot be bound (in use, not local); one
                line ``NAME cannot listen on HOST:PORT: REASON``.
        """
        host, port = split_listen(self._listen)
        try:
            chosen = await self.server.start(host, port)
        except TransportError as exc:
            self._health.set(OutputState.OFF, str(exc))
            raise
        self._started = True
        self._on_listening()
        self._health.set(OutputState.RUNNING)
        announce(f"{self.name} listening on {host_port(host, chosen)}")

    def _on_listening(self) -> None:
        """Called once listening, before the announcement (a warning to log)."""

    def _health_of(self, counters: dict[str, int | float]) -> OutputHealth:
        """The health with the address listened on (the configured one before start)."""
        host, port = split_listen(self._listen)
        chosen = self.port if self.port is not None else port
        return self._health.health(address=host_port(host, chosen), counters=counters)

    async def publish_many(self, batches: Sequence[Sequence[SignalUpdate]]) -> None:
        """Each batch in order (see :func:`publish_each`)."""
        await publish_each(self, batches)

    async def aclose(self) -> None:
        """Close every connection and stop listening."""
        await self.server.aclose()
        if self._started:
            self._health.set(OutputState.CLOSED)
