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

from obisgate.gateway.outputs.base import Output
from obisgate.gateway.outputs.health import OutputHealth
from obisgate.gateway.outputs.iec104.mapping import IoaPoint, points_from_signals
from obisgate.gateway.outputs.iec104.server import Iec104Server
from obisgate.gateway.outputs.iec104.station import Station
from obisgate.gateway.outputs.listening import ListeningOutput
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


class Iec104Output(ListeningOutput[Iec104Server]):
    """An IEC 104 outstation serving the mapped signals.

    Args:
        section: the ``[iec104]`` section.
        points: the information objects.
    """

    name = "iec104"

    def __init__(self, section: Iec104Config, points: Sequence[IoaPoint]) -> None:
        self.section = section
        self.points = list(points)
        server = Iec104Server(
            section,
            Station(
                self.points,
                section.common_address,
                gi_without_time=section.gi_without_time,
                started=dt.datetime.now(dt.UTC),
            ),
        )
        super().__init__(server, section.listen)

    async def publish(self, updates: Sequence[SignalUpdate]) -> None:
        """Hand the batch to the station; changed points go to the masters (or their buffers).

        Also before :meth:`start`: the events then wait in the buffers.
        """
        self.server.publish(updates)

    def health(self) -> OutputHealth:
        """Where it listens, points, connections, events sent, buffered and dropped."""
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
        return self._health_of(values)
