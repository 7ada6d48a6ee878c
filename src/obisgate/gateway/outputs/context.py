"""What outputs may know about the running gateway besides the updates: :class:`OutputContext`."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from obisgate.gateway.outputs.health import OutputHealth

__all__ = ["OutputContext"]


def _no_health() -> Mapping[str, OutputHealth]:
    return {}


def _no_devices(aliases: Collection[str]) -> dict[str, dict[str, float]]:
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
        device_stats_of: the counters of the given devices only (known ones), as
            ``device_stats`` has them; an empty dict before the gateway is built.
        health: output name -> that output's :class:`OutputHealth`, for every
            output of the gateway (:meth:`Fanout.health`); set when the gateway
            is built, nothing before.
        history_path: the SQLite history file, when history is kept (with
            ``--shard`` its name already carries the shard suffix).
        history_files: when set, every history file to read (a supervisor of
            ``--workers`` reads its workers' files), asked at each request; else
            :attr:`history_path` alone.
        shard: ``"shard<I>"`` when the gateway runs as instance I of a sharded
            deployment (``--shard I/N``), else ``None``. Outputs with a per-instance
            identity (the MQTT client id and availability topic) append
            ``-shard<I>`` to their default, unless it is configured explicitly.
        backfill: device alias -> the progress of its backfill (a JSON-ready object,
            see :meth:`Gateway.backfill_progress`), for the devices with a load
            profile; set when the gateway is built, an empty dict before.
    """

    stats: Callable[[], dict[str, Any]] = dict
    device_stats: Callable[[], dict[str, dict[str, float]]] = dict
    device_stats_of: Callable[[Collection[str]], dict[str, dict[str, float]]] = _no_devices
    health: Callable[[], Mapping[str, OutputHealth]] = _no_health
    history_path: Path | None = None
    history_files: Callable[[], Sequence[Path]] | None = None
    shard: str | None = None
    backfill: Callable[[], Mapping[str, Mapping[str, Any]]] = dict
