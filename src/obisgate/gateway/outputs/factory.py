"""Build the network outputs that a configuration turns on.

Each network output is one module of this package (``mqtt``, ``http``,
``modbus``, ``iec104``, ``opcua``) with a function ``create(config, context) -> Output``.
The module is imported only when its section is present; it imports its
optional library through :func:`~obisgate.gateway.outputs.extras.require_extra`,
so a missing extra is a one-line :class:`~obisgate.errors.ConfigError`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from obisgate.errors import ConfigError
from obisgate.gateway.outputs.base import Output
from obisgate.gateway.outputs.extras import missing_extra
from obisgate.gateway.outputs.listen import unauthenticated_warning

if TYPE_CHECKING:
    from obisgate.gateway.config_models import GatewayConfig

__all__ = ["OutputContext", "exposure_warnings", "missing_extras", "network_outputs"]

#: Section name -> module that creates its output.
_MODULES = {
    "mqtt": "obisgate.gateway.outputs.mqtt.output",
    "http": "obisgate.gateway.outputs.http.output",
    "modbus": "obisgate.gateway.outputs.modbus.output",
    "iec104": "obisgate.gateway.outputs.iec104.output",
    "opcua": "obisgate.gateway.outputs.opcua.output",
    "postgres": "obisgate.gateway.outputs.postgres.output",
}


@dataclass
class OutputContext:
    """What outputs may know about the running gateway besides the updates.

    Attributes:
        stats: the gateway's counters (:meth:`Gateway.stats`); set when the
            gateway is built, an empty dict before.
        device_stats: device alias -> that device's counters
            (:meth:`Gateway.device_stats`: polls, failures, missed scans,
            readout durations); set when the gateway is built, an empty dict before.
        health: output name -> a function giving that output's own state
            (connected, backlog, last error ...), for the HTTP API and metrics.
        history_path: the SQLite history file, when history is kept (with
            ``--shard`` its name already carries the shard suffix).
        shard: ``"shard<I>"`` when the gateway runs as instance I of a sharded
            deployment (``--shard I/N``), else ``None``. Outputs with a per-instance
            identity (the MQTT client id and availability topic) append
            ``-shard<I>`` to their default, unless it is configured explicitly.
    """

    stats: Callable[[], dict[str, Any]] = dict
    device_stats: Callable[[], dict[str, dict[str, float]]] = dict
    health: dict[str, Callable[[], dict[str, Any]]] = field(default_factory=dict)
    history_path: Any = None
    shard: str | None = None


def missing_extras(config: GatewayConfig) -> list[str]:
    """One line for every present section whose optional extra is not installed."""
    found = (missing_extra(name) for name in _MODULES if getattr(config, name) is not None)
    return [problem for problem in found if problem is not None]


def exposure_warnings(config: GatewayConfig) -> list[str]:
    """One line for every server without authentication that listens beyond this machine
    (the outputs log the same line when they start)."""
    found = (
        unauthenticated_warning(name, section.listen)
        for name in ("modbus", "opcua")
        if (section := getattr(config, name)) is not None
    )
    return [warning for warning in found if warning is not None]


def network_outputs(config: GatewayConfig, context: OutputContext) -> list[Output]:
    """The outputs of every present section, in section order.

    Raises:
        ConfigError: outputs' optional extras are missing (every one, one line
            each), or a section cannot be used.
    """
    if missing := missing_extras(config):
        raise ConfigError("\n".join(missing))
    outputs: list[Output] = []
    for name, module in _MODULES.items():
        if getattr(config, name) is None:
            continue
        create = importlib.import_module(module).create
        outputs.append(create(config, context))
    return outputs
