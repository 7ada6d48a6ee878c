"""The OPC UA server as the configuration knows it: ``[opcua]``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from obisgate.gateway.outputs.opcua.config import OpcUaConfig
from obisgate.gateway.outputs.opcua.printed_map import opcua_map
from obisgate.gateway.outputs.spec import Extra, OutputSpec

if TYPE_CHECKING:
    from obisgate.gateway.config_models import GatewayConfig
    from obisgate.gateway.outputs.base import Output
    from obisgate.gateway.outputs.context import OutputContext

__all__ = ["OPCUA"]


def _create(config: GatewayConfig, section: OpcUaConfig, context: OutputContext) -> Output:
    from obisgate.gateway.outputs.opcua.output import create  # noqa: PLC0415 - when turned on

    return create(config, section, context)


def _warnings(section: OpcUaConfig) -> list[str]:
    warning = section.exposure_warning()
    return [] if warning is None else [warning]


OPCUA: OutputSpec[OpcUaConfig] = OutputSpec(
    name="opcua",
    title="OPC UA",
    summary=(
        "Present = an OPC UA server (asyncua, LGPL-3.0) exposes one variable per enabled "
        "signal and each device's `_status`."
    ),
    model=OpcUaConfig,
    create=_create,
    extras=(Extra("asyncua", "opcua"),),
    warnings=_warnings,
    show_map=opcua_map,
)
