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

from obisgate.gateway.outputs.base import Output
from obisgate.gateway.outputs.health import OutputHealth
from obisgate.gateway.outputs.listening import ListeningOutput
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


class ModbusOutput(ListeningOutput[ModbusServer]):
    """A Modbus TCP server answering from a register map.

    Args:
        section: the ``[modbus]`` section (listen address, unit id).
        register_map: the mapped signals.
    """

    name = "modbus"

    def __init__(self, section: ModbusConfig, register_map: RegisterMap) -> None:
        self.section = section
        self.map = register_map
        server = ModbusServer(section, register_map)
        super().__init__(server, section.listen)

    def _on_listening(self) -> None:
        if warning := self.section.exposure_warning():
            _LOGGER.warning(warning)

    async def publish(self, updates: Sequence[SignalUpdate]) -> None:
        """Store the batch's values: readable by the next request."""
        for update in updates:
            self.map.update(update)

    def health(self) -> OutputHealth:
        """Where it listens, the signals served, connections, requests answered and refused."""
        server = self.server
        return self._health_of(
            {
                "signals": len(self.map.slots),
                "connections": len(server.connections),
                "reads_total": server.reads,
                "refused_total": server.refused,
                "malformed_total": server.errors,
            }
        )
