"""The IEC 60870-5-104 outstation (``[iec104]``): every signal with an IOA as an information object.

obisgate's own outstation (no library): the protocol is in the sans-IO modules
of this package, the network in :mod:`~obisgate.gateway.outputs.iec104.server`,
all in the gateway's event loop. :meth:`Iec104Output.publish` hands each batch
to the station, which makes events of the points whose value or quality
changed; they go to every redundancy group's active connection, or wait in the
group's buffer until one starts data transfer. General interrogation answers the
measured values and single points, counter interrogation the integrated totals.
Masters are accepted from the configured client addresses only (loopback only by
default), at most ``max_connections`` at once, and a stale connection gives way to
a new one (see :mod:`~obisgate.gateway.outputs.iec104.server`). What a reading
becomes (value, quality bits, time tag) is decided in
:mod:`obisgate.gateway.outputs.iec104.mapping` and
:mod:`obisgate.gateway.outputs.iec104.station`.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from obisgate.errors import TransportError
from obisgate.gateway.outputs.announce import announce
from obisgate.gateway.outputs.base import Output, publish_each
from obisgate.gateway.outputs.health import HealthRecord, OutputHealth, OutputState
from obisgate.gateway.outputs.iec104.mapping import IoaPoint, points_from_signals
from obisgate.gateway.outputs.iec104.server import Iec104Server
from obisgate.gateway.outputs.iec104.station import Station
from obisgate.gateway.outputs.listen import host_port, split_listen
from obisgate.gateway.updates import SignalUpdate

if TYPE_CHECKING:
    from obisgate.gateway.config_models import GatewayConfig
    from obisgate.gateway.outputs.context import OutputContext
    from obisgate.gateway.outputs.iec104.config import Iec104Config

__all__ = ["Iec104Output", "create"]

_LOGGER = logging.getLogger(__name__)


def create(config: GatewayConfig, section: Iec104Config, context: OutputContext) -> Output:
    """The IEC 104 output of ``section``, serving the configuration's signals."""
    del context
    return Iec104Output(section, points_from_signals(config.served_signals))


class Iec104Output(Output):
    """An IEC 104 outstation serving the mapped signals.

    Args:
        section: the ``[iec104]`` section.
        points: the information objects.
    """

    name = "iec104"

    def __init__(self, section: Iec104Config, points: Sequence[IoaPoint]) -> None:
        self.section = section
        self.points = list(points)
        self.server = Iec104Server(
            section,
            Station(
                self.points,
                section.common_address,
                gi_without_time=section.gi_without_time,
                started=dt.datetime.now(dt.UTC),
            ),
        )
        self._started = False
        self._health = HealthRecord()

    @property
    def port(self) -> int | None:
        """The port listened on, once started (``listen`` may ask for any free one)."""
        return self.server.port

    async def start(self) -> None:
        """Listen on ``section.listen`` and log ``iec104 listening on HOST:PORT`` (``announce``).

        Raises:
            TransportError: the address cannot be bound (in use, not local); one
                line ``iec104 cannot listen on HOST:PORT: REASON``.
        """
        host, port = split_listen(self.section.listen)
        try:
            chosen = await self.server.start(host, port)
        except TransportError as exc:
            self._health.set(OutputState.OFF, str(exc))
            raise
        self._started = True
        self._health.set(OutputState.RUNNING)
        announce(f"iec104 listening on {host_port(host, chosen)}")

    async def publish(self, updates: Sequence[SignalUpdate]) -> None:
        """Hand the batch to the station; changed points go to the masters (or their buffers).

        Also before :meth:`start`: the events then wait in the buffers.
        """
        self.server.publish(updates)

    async def publish_many(self, batches: Sequence[Sequence[SignalUpdate]]) -> None:
        """Each batch in order (see :func:`publish_each`)."""
        await publish_each(self, batches)

    def health(self) -> OutputHealth:
        """Where it listens, points, connections, events sent, buffered and dropped."""
        host, port = split_listen(self.section.listen)
        server = self.server
        counters = server.counters
        values: dict[str, int | float] = {
            "points": len(self.points),
            "connections": server.connections,
            "active_connections": server.active_connections,
            "sent_total": counters.events,
            "events_buffered": server.hub.buffered,
            "events_dropped_total": server.hub.dropped,
            "rejected_clients_total": counters.refused,
            "evicted_total": counters.evicted,
            "protocol_errors_total": counters.protocol_errors,
            "clock_syncs_total": counters.clock_syncs,
        }
        if counters.last_clock_offset_s is not None:
            values["clock_offset_s"] = counters.last_clock_offset_s
        return self._health.health(
            address=host_port(host, self.port if self.port is not None else port),
            counters=values,
        )

    async def aclose(self) -> None:
        """Close every connection and stop listening."""
        await self.server.aclose()
        if self._started:
            self._health.set(OutputState.CLOSED)
