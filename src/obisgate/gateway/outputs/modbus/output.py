"""The Modbus TCP server (``[modbus]``): every mapped signal as holding and input registers.

The server is pymodbus's, run inside the gateway's event loop. Its registers
are filled at read time from a :class:`~obisgate.gateway.outputs.modbus.mapping.RegisterMap`
that :meth:`ModbusOutput.publish` keeps up to date, so a value is readable as
soon as its readout has been published. Reads (function codes 3 and 4) of a
register that is not mapped answer exception 2 "illegal data address"; every
write and bit access (1, 2, 5, 6, 15, 16, 22, 23) answers exception 1
"illegal function": SCADA never writes to meters through obisgate. A request
for another unit id answers exception 11 "gateway target device failed to
respond" (``unit_id = 0`` answers every unit id).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from obisgate.errors import ConfigError, TransportError
from obisgate.gateway.outputs.announce import announce
from obisgate.gateway.outputs.base import Output
from obisgate.gateway.outputs.extras import require_extra
from obisgate.gateway.outputs.library_logs import quiet_library
from obisgate.gateway.outputs.listen import bind_failure, split_listen, unauthenticated_warning
from obisgate.gateway.outputs.modbus.mapping import RegisterMap, slots_from_signals
from obisgate.gateway.updates import SignalUpdate

if TYPE_CHECKING:
    from obisgate.gateway.config_models import GatewayConfig
    from obisgate.gateway.outputs.factory import OutputContext
    from obisgate.gateway.outputs.modbus.config import ModbusConfig

__all__ = ["ModbusOutput", "create"]

_LOGGER = logging.getLogger(__name__)
_READS = frozenset({3, 4})


def create(config: GatewayConfig, context: OutputContext) -> Output:
    """The Modbus output of a configuration with a ``[modbus]`` section.

    Raises:
        ConfigError: the extra ``obisgate[modbus]`` (pymodbus) is not installed.
    """
    require_extra("pymodbus", "modbus", "modbus")
    section = config.modbus
    if section is None:
        raise ConfigError("[modbus] is missing")
    signals = config.served_signals
    register_map = RegisterMap(
        slots_from_signals(signals),
        word_order=section.word_order,
        byte_order=section.byte_order,
    )
    output = ModbusOutput(section, register_map)
    context.health[output.name] = output.health
    return output


class ModbusOutput:
    """A Modbus TCP server answering from a register map.

    Args:
        section: the ``[modbus]`` section (listen address, unit id).
        register_map: the mapped signals.
    """

    name = "modbus"

    def __init__(self, section: ModbusConfig, register_map: RegisterMap) -> None:
        self.section = section
        self.map = register_map
        self.port: int | None = None
        self.reads = 0
        self.refused = 0
        self._server: Any = None

    async def start(self) -> None:
        """Listen on ``section.listen`` and log ``modbus listening on HOST:PORT`` (``announce``).

        Raises:
            TransportError: the address cannot be bound (in use, not local); one
                line ``modbus cannot listen on HOST:PORT: REASON``.
        """
        require_extra("pymodbus", "modbus", "modbus")
        # pymodbus warns "Failed to start server ..." before raising; the one
        # line below says it (unless -vv).
        quiet_library(
            "pymodbus", logging.WARNING, {"pymodbus.logging": ("Failed to start server",)}
        )
        from pymodbus.pdu.bit_message import (  # noqa: PLC0415 - optional extra
            ReadCoilsRequest,
            ReadDiscreteInputsRequest,
            WriteMultipleCoilsRequest,
            WriteSingleCoilRequest,
        )
        from pymodbus.pdu.register_message import (  # noqa: PLC0415 - optional extra
            MaskWriteRegisterRequest,
            ReadWriteMultipleRegistersRequest,
            WriteMultipleRegistersRequest,
            WriteSingleRegisterRequest,
        )
        from pymodbus.server import ModbusTcpServer  # noqa: PLC0415 - optional extra
        from pymodbus.simulator import DataType, SimData, SimDevice  # noqa: PLC0415

        host, port = split_listen(self.section.listen)
        ranges = self.map.ranges()
        # pymodbus needs at least one block; a map without signals serves one
        # register that the action refuses like any unmapped one.
        blocks = [
            SimData(first, count=count, datatype=DataType.REGISTERS) for first, count in ranges
        ] or [SimData(0, count=1, datatype=DataType.REGISTERS)]
        devices = [SimDevice(id=self.section.unit_id, simdata=blocks, action=self._action)]
        if self.section.unit_id != 0:
            # Unit id 0 stands for every other unit id: answer them like a TCP
            # gateway whose target does not exist (exception 11).
            every = SimData(0, count=65536, datatype=DataType.REGISTERS)
            devices.append(SimDevice(id=0, simdata=[every], action=_no_such_unit))
        refused = [
            _refusing(cls)
            for cls in (
                ReadCoilsRequest,
                ReadDiscreteInputsRequest,
                WriteSingleCoilRequest,
                WriteMultipleCoilsRequest,
                WriteSingleRegisterRequest,
                WriteMultipleRegistersRequest,
                MaskWriteRegisterRequest,
                ReadWriteMultipleRegistersRequest,
            )
        ]
        server = ModbusTcpServer(devices, address=(host, port), custom_pdu=refused)
        try:
            await server.serve_forever(background=True)
        except RuntimeError:
            with contextlib.suppress(Exception):
                await server.shutdown()  # type: ignore[no-untyped-call]
            reason = bind_failure(host, port, "cannot bind")
            raise TransportError(f"modbus cannot listen on {host}:{port}: {reason}") from None
        self._server = server
        if warning := unauthenticated_warning("modbus", self.section.listen):
            _LOGGER.warning(warning)
        listener: Any = server.transport
        self.port = int(listener.sockets[0].getsockname()[1])
        shown = f"[{host}]" if ":" in host else host
        announce(f"modbus listening on {shown}:{self.port}")

    async def _action(
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        current_registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> Any:
        from pymodbus.constants import ExcCodes  # noqa: PLC0415 - optional extra

        if function_code not in _READS or set_values is not None:
            self.refused += 1
            return ExcCodes.ILLEGAL_FUNCTION
        if not self.map.is_mapped(address, count):
            self.refused += 1
            return ExcCodes.ILLEGAL_ADDRESS
        offset = address - start_address
        current_registers[offset : offset + count] = self.map.read(address, count)
        self.reads += 1
        return None

    async def publish(self, updates: Sequence[SignalUpdate]) -> None:
        """Store the batch's values: readable by the next request."""
        for update in updates:
            self.map.update(update)

    def health(self) -> dict[str, Any]:
        """Listening port, requests answered and refused."""
        return {
            "listening": self._server is not None,
            "port": self.port,
            "signals": len(self.map.slots),
            "reads": self.reads,
            "refused": self.refused,
        }

    async def aclose(self) -> None:
        """Stop listening and drop the connections."""
        server, self._server = self._server, None
        if server is not None:
            await server.shutdown()


async def _no_such_unit(
    function_code: int,
    start_address: int,
    address: int,
    count: int,
    current_registers: list[int],
    set_values: list[int] | list[bool] | None,
) -> Any:
    from pymodbus.constants import ExcCodes  # noqa: PLC0415 - optional extra

    del function_code, start_address, address, count, current_registers, set_values
    return ExcCodes.GATEWAY_NO_RESPONSE


def _refusing(request: type[Any]) -> type[Any]:
    """A request class like ``request`` that answers exception 1 "illegal function"."""
    from pymodbus.constants import ExcCodes  # noqa: PLC0415 - optional extra
    from pymodbus.pdu import ExceptionResponse  # noqa: PLC0415 - optional extra

    async def datastore_update(self: Any, context: Any, device_id: int) -> Any:
        del context, device_id
        return ExceptionResponse(self.function_code, ExcCodes.ILLEGAL_FUNCTION)

    return type(f"Refused{request.__name__}", (request,), {"datastore_update": datastore_update})
