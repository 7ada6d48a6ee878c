"""The gateway: configured devices and signals, polled on schedule.

Configuration (:mod:`~obisgate.gateway.config`: loading, with the outputs'
sections; models in :mod:`~obisgate.gateway.config_models`, cell validators in
:mod:`~obisgate.gateway.config_cells`, readers in
:mod:`~obisgate.gateway.config_files`, the reference ``docs/configuration.md``),
number types and conversion
(:mod:`~obisgate.gateway.numbers`), quality flags
(:mod:`~obisgate.gateway.quality`), the SQLite history
(:mod:`~obisgate.gateway.history`) and the demo configuration
(:mod:`~obisgate.gateway.demo_config`).
"""

from __future__ import annotations

from obisgate.gateway.config import (
    ConfigFileError,
    ConfigProblem,
    DeviceConfig,
    GatewayConfig,
    OutputConfig,
    SignalConfig,
    StorageConfig,
    load_config,
)
from obisgate.gateway.demo_config import render_demo_config
from obisgate.gateway.history import HistoryRecord, HistoryRow, HistoryStore
from obisgate.gateway.numbers import Converted, NumberType, convert, parse_number_type
from obisgate.gateway.quality import Quality

__all__ = [
    "ConfigFileError",
    "ConfigProblem",
    "Converted",
    "DeviceConfig",
    "GatewayConfig",
    "HistoryRecord",
    "HistoryRow",
    "HistoryStore",
    "NumberType",
    "OutputConfig",
    "Quality",
    "SignalConfig",
    "StorageConfig",
    "convert",
    "load_config",
    "parse_number_type",
    "render_demo_config",
]
