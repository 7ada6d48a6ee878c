"""The Modbus TCP server as the configuration knows it: ``[modbus]`` and its signal columns."""

from __future__ import annotations

from typing import TYPE_CHECKING

from obisgate.gateway.outputs.modbus.config import (
    ModbusColumns,
    ModbusConfig,
    modbus_signal_problems,
)
from obisgate.gateway.outputs.modbus.printed_map import modbus_map
from obisgate.gateway.outputs.spec import OutputSpec, SignalColumns

if TYPE_CHECKING:
    from obisgate.gateway.config_models import GatewayConfig
    from obisgate.gateway.outputs.base import Output
    from obisgate.gateway.outputs.context import OutputContext

__all__ = ["MODBUS"]


def _create(config: GatewayConfig, section: ModbusConfig, context: OutputContext) -> Output:
    from obisgate.gateway.outputs.modbus.output import create  # noqa: PLC0415 - when turned on

    return create(config, section, context)


def _warnings(section: ModbusConfig) -> list[str]:
    warning = section.exposure_warning()
    return [] if warning is None else [warning]


MODBUS: OutputSpec[ModbusConfig] = OutputSpec(
    name="modbus",
    title="Modbus TCP",
    summary=(
        "Present = a read-only Modbus TCP server answers from the latest values: every "
        "signal with a `modbus_address` as holding (and input) registers, DIGITAL signals "
        "with a `modbus_coil` as coils (and discrete inputs)."
    ),
    model=ModbusConfig,
    create=_create,
    columns=SignalColumns(
        model=ModbusColumns,
        check=modbus_signal_problems,
        checked_without_section=(
            "modbus_address",
            "modbus_type",
            "modbus_scale",
            "modbus_quality_address",
            "modbus_coil",
        ),
        title="the register map",
    ),
    warnings=_warnings,
    show_map=modbus_map,
    shared=True,  # one server for every worker (run --workers: in the supervisor)
)
