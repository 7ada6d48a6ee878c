"""The MQTT output as the configuration knows it: ``[mqtt]`` and the Home Assistant columns."""

from __future__ import annotations

from typing import TYPE_CHECKING

from obisgate.gateway.outputs.mqtt.config import MqttColumns, MqttConfig, mqtt_signal_problems
from obisgate.gateway.outputs.spec import Extra, OutputSpec, SignalColumns
from obisgate.password_config import password_file_is_private

if TYPE_CHECKING:
    from obisgate.gateway.config_models import GatewayConfig
    from obisgate.gateway.outputs.base import Output
    from obisgate.gateway.outputs.context import OutputContext

__all__ = ["MQTT"]


def _create(config: GatewayConfig, section: MqttConfig, context: OutputContext) -> Output:
    from obisgate.gateway.outputs.mqtt.output import create  # noqa: PLC0415 - when turned on

    return create(config, section, context)


def _load_warnings(section: MqttConfig) -> list[tuple[str, str]]:
    file = section.password_file
    if file is not None and not password_file_is_private(file):
        return [("password_file", "password_file is readable by group or others; chmod 600 it")]
    return []


MQTT: OutputSpec[MqttConfig] = OutputSpec(
    name="mqtt",
    title="MQTT",
    summary=(
        "Present = every readout is published to an MQTT broker, through a durable "
        "outbox (a SQLite file beside the history) that keeps messages while the broker "
        "is unreachable, with Home Assistant discovery."
    ),
    model=MqttConfig,
    create=_create,
    extras=(Extra("aiomqtt", "mqtt"),),
    columns=SignalColumns(
        model=MqttColumns, check=mqtt_signal_problems, title="Home Assistant discovery"
    ),
    with_base_dir=MqttConfig.with_base_dir,
    load_warnings=_load_warnings,
    problems=MqttConfig.start_problems,
    describe=MqttConfig.describe,
    beside_history=True,
)
