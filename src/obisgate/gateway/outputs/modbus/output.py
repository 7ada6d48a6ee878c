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

from obisgate.errors import TransportError
from obisgate.gateway.outputs.announce import announce
from obisgate.gateway.outputs.base import Output, publish_each
from obisgate.gateway.outputs.extras import require_extra
from obisgate.gateway.outputs.health import HealthRecord, OutputHealth, OutputState
from obisgate.gateway.outputs.library_logs import quiet_library
from obisgate.gateway.outputs.listen import bind_failure, host_port, split_listen
from obisgate.gateway.outputs.modbus.mapping import RegisterMap, slots_from_signals
from obisgate.gateway.updates import SignalUpdate

if TYPE_CHECKING:
    from obisgate.gateway.config_models import GatewayConfig
    from obisgate.gateway.outputs.context import OutputContext
    from obisgate.gateway.outputs.modbus.config import ModbusConfig

__all__ = ["ModbusOutput", "create"]

_LOGGER = logging.getLogger(__name__)
_READS = frozenset({3, 4})


def create(config: GatewayConfig, section: ModbusConfig, context: OutputContext) -> Output:
    """The Modbus output of ``section``, serving the configuration's signals.

    Raises:
        ConfigError: the extra ``obisgate[modbus]`` (pymodbus) is not installed.
    """
    del context
    require_extra("pymodbus", "modbus", "modbus")
    signals = config.served_signals
    register_map = RegisterMap(
        slots_from_signals(signals),
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
        #: The port listened on, once started (``listen`` may ask for any free one).
        self.port: int | None = None
        self.reads = 0
        self.refused = 0
        self._server: Any = None
        self._health = HealthRecord()

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
            message = f"modbus cannot listen on {host}:{port}: {reason}"
            self._health.set(OutputState.OFF, message)
            raise TransportError(message) from None
        self._server = server
        if warning := self.section.exposure_warning():
            _LOGGER.warning(warning)
        listener: Any = server.transport
        self.port = int(listener.sockets[0].getsockname()[1])
        self._health.set(OutputState.RUNNING)
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

    async def publish_many(self, batches: Sequence[Sequence[SignalUpdate]]) -> None:
        """Each batch in order (see :func:`publish_each`)."""
        await publish_each(self, batches)

    def health(self) -> OutputHealth:
        """Where it listens, the signals served, requests answered and refused."""
        host, port = split_listen(self.section.listen)
        return self._health.health(
            address=host_port(host, self.port if self.port is not None else port),
            counters={
                "signals": len(self.map.slots),
                "reads_total": self.reads,
                "refused_total": self.refused,
            },
        )

    async def aclose(self) -> None:
        """Stop listening and drop the connections."""
        server, self._server = self._server, None
        if server is not None:
            await server.shutdown()
            self._health.set(OutputState.CLOSED)


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
