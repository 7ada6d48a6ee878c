"""The Modbus TCP server (``[modbus]``): every mapped signal as holding and input registers.

obisgate's own server (:mod:`~obisgate.gateway.outputs.modbus.server`, no
library), run inside the gateway's event loop. Its registers are read at
request time from a :class:`~obisgate.gateway.outputs.modbus.mapping.RegisterMap`
that :meth:`ModbusOutput.publish` keeps up to date, so a value is readable as
soon as its readout has been published. Functions 3 and 4 read registers (1 and
2 read bits, when DIGITAL signals are mapped to coils); an unmapped register
answers exception 2, a quantity of 0 or above 125 exception 3, every other
function code exception 1 ("illegal function": SCADA never writes to meters
through obisgate). A request for another unit id answers exception 11
("gateway target device failed to respond"; ``unit_id = 0`` answers every unit
id). Requests pipelined in one TCP segment are all answered, in order.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from obisgate.errors import TransportError
from obisgate.gateway.outputs.announce import announce
from obisgate.gateway.outputs.base import Output, publish_each
from obisgate.gateway.outputs.health import HealthRecord, OutputHealth, OutputState
from obisgate.gateway.outputs.listen import host_port, split_listen
from obisgate.gateway.outputs.modbus.mapping import RegisterMap, slots_from_signals
from obisgate.gateway.outputs.modbus.server import ModbusServer
from obisgate.gateway.updates import SignalUpdate

if TYPE_CHECKING:
    from obisgate.gateway.config_models import GatewayConfig
    from obisgate.gateway.outputs.context import OutputContext
    from obisgate.gateway.outputs.modbus.config import ModbusConfig

__all__ = ["ModbusOutput", "create"]

_LOGGER = logging.getLogger(__name__)


def create(config: GatewayConfig, section: ModbusConfig, context: OutputContext) -> Output:
    """The Modbus output of ``section``, serving the configuration's signals."""
    del context
    register_map = RegisterMap(
        slots_from_signals(config.served_signals),
        word_order=section.word_order,
        byte_order=section.byte_order,
    )
    return ModbusOutput(section, register_map)


class ModbusOutput(Output):
    """A Modbus TCP server answering from a register map.

    Args:
        section: the ``[modbus]`` section (listen address, unit id).
        register_map: the mapped signals.
    """

    name = "modbus"

    def __init__(self, section: ModbusConfig, register_map: RegisterMap) -> None:
        self.section = section
        self.map = register_map
        self.server = ModbusServer(section, register_map)
        self._started = False
        self._health = HealthRecord()

    @property
    def port(self) -> int | None:
        """The port listened on, once started (``listen`` may ask for any free one)."""
        return self.server.port

    async def start(self) -> None:
        """Listen on ``section.listen`` and log ``modbus listening on HOST:PORT`` (``announce``).

        Raises:
            TransportError: the address cannot be bound (in use, not local); one
                line ``modbus cannot listen on HOST:PORT: REASON``.
        """
        host, port = split_listen(self.section.listen)
        try:
            chosen = await self.server.start(host, port)
        except TransportError as exc:
            self._health.set(OutputState.OFF, str(exc))
            raise
        self._started = True
        if warning := self.section.exposure_warning():
            _LOGGER.warning(warning)
        self._health.set(OutputState.RUNNING)
        announce(f"modbus listening on {host_port(host, chosen)}")

    async def publish(self, updates: Sequence[SignalUpdate]) -> None:
        """Store the batch's values: readable by the next request."""
        for update in updates:
            self.map.update(update)

    async def publish_many(self, batches: Sequence[Sequence[SignalUpdate]]) -> None:
        """Each batch in order (see :func:`publish_each`)."""
        await publish_each(self, batches)

    def health(self) -> OutputHealth:
        """Where it listens, the signals served, connections, requests answered and refused."""
        host, port = split_listen(self.section.listen)
        server = self.server
        return self._health.health(
            address=host_port(host, self.port if self.port is not None else port),
            counters={
                "signals": len(self.map.slots),
                "connections": len(server.connections),
                "reads_total": server.reads,
                "refused_total": server.refused,
                "malformed_total": server.errors,
            },
        )

    async def aclose(self) -> None:
        """Stop listening and drop the connections."""
        await self.server.aclose()
        if self._started:
            self._health.set(OutputState.CLOSED)
