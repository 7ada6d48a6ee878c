"""What outputs may know about the running gateway besides the updates: :class:`OutputContext`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from obisgate.gateway.outputs.health import OutputHealth
from obisgate.gateway.poller import ReadRequestError
from obisgate.gateway.readstats import ReadFigures
from obisgate.gateway.updates import SignalUpdate

__all__ = ["OutputContext", "ReadFigures"]


def _no_health() -> Mapping[str, OutputHealth]:
    return {}


def _no_figures() -> ReadFigures:
    return ReadFigures()


def _no_figures_of(aliases: Collection[str]) -> ReadFigures:
    return ReadFigures()


def _no_reads(alias: str) -> asyncio.Future[list[SignalUpdate]]:
    raise ReadRequestError("the gateway is not polling", "stopped")


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
        read_figures: the read-success figures (:class:`ReadFigures`), per device,
            line, group and shard; set when the gateway is built, empty before.
        read_figures_of: :attr:`read_figures` with only the given devices (known ones)
            in ``devices``, the total and every group as always (cheap for a few devices
            of many); empty before the gateway is built.
        request_read: queues a priority read of a device (:meth:`Gateway.request_read`:
            a future with the read's updates; raises ``ReadRequestError``); set when the
            gateway is built, refusing before.
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
    read_figures: Callable[[], ReadFigures] = _no_figures
    read_figures_of: Callable[[Collection[str]], ReadFigures] = _no_figures_of
    request_read: Callable[[str], asyncio.Future[list[SignalUpdate]]] = _no_reads
    backfill: Callable[[], Mapping[str, Mapping[str, Any]]] = dict
