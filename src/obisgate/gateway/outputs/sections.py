"""Configuration of the network outputs: one optional section each, plus cross-signal checks.

A section that is absent from the configuration leaves its output off
(``GatewayConfig.mqtt`` is ``None``, ...); it is a TOML table, an Excel sheet
or a CSV file named after it (see :mod:`obisgate.gateway.config_files`). Each section model lives in the
module of its output's configuration (``mqtt.config``, ``http.config``,
``modbus.config``, ``iec104.config``); none of them imports the output's
optional library, so a configuration loads without the extras installed.

Checks that span signals (overlapping Modbus registers, duplicate IOAs) are
functions ``(section, signals) -> [SignalProblem]`` listed in
:data:`SIGNAL_CHECKS`; :func:`obisgate.gateway.config.load_config` reports
their problems with the signal's file and row, together with every other
problem.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BaseModel

from obisgate.gateway.outputs.config_problem import SignalProblem
from obisgate.gateway.outputs.http.config import HttpConfig
from obisgate.gateway.outputs.iec104.config import Iec104Config, iec104_signal_problems
from obisgate.gateway.outputs.modbus.config import ModbusConfig, modbus_signal_problems
from obisgate.gateway.outputs.mqtt.config import MqttConfig, mqtt_signal_problems
from obisgate.gateway.outputs.opcua.config import OpcUaConfig
from obisgate.gateway.outputs.postgres.config import PostgresConfig

__all__ = ["COLUMNS_CHECKED_WITHOUT_SECTION", "OUTPUT_SECTIONS", "SIGNAL_CHECKS", "SignalProblem"]


#: Section name -> its model; the order is the order of the fields of ``GatewayConfig``.
OUTPUT_SECTIONS: dict[str, type[BaseModel]] = {
    "mqtt": MqttConfig,
    "http": HttpConfig,
    "modbus": ModbusConfig,
    "iec104": Iec104Config,
    "opcua": OpcUaConfig,
    "postgres": PostgresConfig,
}

#: Section name -> check of every signal (``signals`` holds SignalConfig objects).
SIGNAL_CHECKS: dict[str, Callable[[Any, Sequence[Any]], list[SignalProblem]]] = {
    "mqtt": mqtt_signal_problems,
    "modbus": modbus_signal_problems,
    "iec104": iec104_signal_problems,
}

#: Section name -> signal columns whose check also runs (with the section's
#: defaults) when the section is absent but a signal fills one of them: the map
#: is wrong whether or not the output is on.
COLUMNS_CHECKED_WITHOUT_SECTION: dict[str, tuple[str, ...]] = {
    "modbus": ("modbus_address", "modbus_type", "modbus_quality_address"),
    "iec104": ("ioa", "iec104_type"),
}
