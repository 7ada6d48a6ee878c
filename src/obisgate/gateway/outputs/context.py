"""What outputs may know about the running gateway besides the updates: :class:`OutputContext`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from obisgate.gateway.outputs.health import OutputHealth

__all__ = ["OutputContext"]


def _no_health() -> Mapping[str, OutputHealth]:
    return {}


@dataclass
class OutputContext:
    """What the gateway tells its outputs; filled in as the gateway is put together.

    Attributes:
        stats: the gateway's counters (:meth:`Gateway.stats`); set when the
            gateway is built, an empty dict before.
        device_stats: device alias -> that device's counters
            (:meth:`Gateway.device_stats`: polls, failures, missed scans,
            readout durations); set when the gateway is built, an empty dict before.
        health: output name -> that output's :class:`OutputHealth`, for every
            output of the gateway (:meth:`Fanout.health`); set when the gateway
            is built, nothing before.
        history_path: the SQLite history file, when history is kept (with
            ``--shard`` its name already carries the shard suffix).
        shard: ``"shard<I>"`` when the gateway runs as instance I of a sharded
            deployment (``--shard I/N``), else ``None``. Outputs with a per-instance
            identity (the MQTT client id and availability topic) append
            ``-shard<I>`` to their default, unless it is configured explicitly.
    """

    stats: Callable[[], dict[str, Any]] = dict
    device_stats: Callable[[], dict[str, dict[str, float]]] = dict
    health: Callable[[], Mapping[str, OutputHealth]] = _no_health
    history_path: Path | None = None
    shard: str | None = None
