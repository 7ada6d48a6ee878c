"""The gateway as the commands run it: the outputs a configuration asks for, then polling.

:func:`build_outputs` composes the printed output, the history and the network
outputs (:func:`~obisgate.gateway.outputs.factory.network_outputs`);
:func:`run_gateway` polls until SIGINT/SIGTERM or a duration, with the log shown
below a live table. Used by ``obisgate run`` and ``obisgate demo``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from obisgate.cli.log_format import CliFormatter
from obisgate.gateway.app import Gateway
from obisgate.gateway.build import plans_from_config
from obisgate.gateway.config import GatewayConfig
from obisgate.gateway.descriptors import quiet_accept_errors, raise_open_file_limit
from obisgate.gateway.history import HistoryStore
from obisgate.gateway.outputs import HistoryOutput, JsonLinesOutput, Output, TableOutput
from obisgate.gateway.outputs.context import OutputContext
from obisgate.gateway.outputs.factory import network_outputs
from obisgate.gateway.outputs.table import TableLogHandler
from obisgate.gateway.processing.build import processing_plan
from obisgate.gateway.processing.store import state_path
from obisgate.gateway.relay.sender import RELAY_VARIABLE, RelayOutput
from obisgate.gateway.shard import Shard, select_plans
from obisgate.gcpause import paused_gc
from obisgate.supervisor import watch_parent

__all__ = ["Relay", "build_outputs", "relay_of_supervisor", "run_gateway"]

_LOGGER = logging.getLogger("obisgate.gateway")


@dataclass(frozen=True)
class Relay:
    """Where a worker of ``run --workers`` sends its updates: the supervisor's socket."""

    path: str
    shard: Shard


def relay_of_supervisor(shard: Shard | None) -> Relay | None:
    """The relay the supervisor named in :data:`RELAY_VARIABLE` (removed from the
    environment), for a worker of ``run --workers``; ``None`` otherwise."""
    path = os.environ.pop(RELAY_VARIABLE, "").strip()
    if not path or shard is None:
        return None
    return Relay(path, shard)


def build_outputs(
    config: GatewayConfig,
    fmt: str | None,
    db: Path | None,
    context: OutputContext | None = None,
    *,
    title: str = "",
    relay: Relay | None = None,
) -> list[Output]:
    """Printed output (JSON lines, live table or none), the history store if any signal
    logs, and the network outputs the configuration turns on.

    ``auto`` is the table on a terminal, else JSON lines. The table's status line
    reads the counters of ``context`` and shows ``title`` above them.

    With ``relay`` (a worker of ``run --workers``) the shared servers (HTTP, Modbus,
    IEC 104, OPC UA) are left to the supervisor, and a
    :class:`~obisgate.gateway.relay.sender.RelayOutput` streams every batch to it.

    Raises:
        ConfigError: the history store or a network output cannot be built (a
            missing extra, ...); the history store, if it was opened, is closed
            again (the other outputs hold nothing before they start).
    """
    context = context or OutputContext()
    own = context
    if fmt is None:
        # [output] format when the configuration sets it, else what suits stdout.
        fmt = config.output.format if "format" in config.output.model_fields_set else "auto"
    if fmt == "auto":
        fmt = "table" if sys.stdout.isatty() else "jsonl"
    outputs: list[Output] = []
    if fmt == "jsonl":
        outputs.append(JsonLinesOutput())
    elif fmt == "table":
        # context.stats is replaced once the gateway exists: look it up at each redraw.
        table = TableOutput(stats=lambda: own.stats(), title=title)  # noqa: PLW0108
        for warning in config.warnings:
            table.note(f"obisgate: warning: {warning}")
        outputs.append(table)
    store: HistoryStore | None = None
    if config.logged_signals:
        path = db or config.storage.path
        store = HistoryStore(path, synchronous=config.storage.synchronous)
        outputs.append(HistoryOutput(store))
        context.history_path = path
    try:
        outputs.extend(network_outputs(config, context, shared=None if relay is None else False))
    except BaseException:
        if store is not None:
            store.close()
        raise
    if relay is not None:
        outputs.append(RelayOutput(relay.path, relay.shard.index, relay.shard.count, context))
    return outputs


async def run_gateway(
    config: GatewayConfig,
    outputs: list[Output],
    *,
    duration_s: float | None = None,
    context: OutputContext | None = None,
    shard: Shard | None = None,
    sizes_path: Path | None = None,
    wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Gateway:
    """Poll until SIGINT/SIGTERM (or ``duration_s``), then shut down cleanly.

    ``duration_s`` counts from when polling starts, after the outputs have started.
    ``wall_clock`` stamps the readouts and finds the gaps to backfill (a test's own
    clock; the history found by ``context`` is where earlier gaps are looked for).

    With ``shard``, only the devices of the lines that shard owns are polled.
    ``sizes_path``: the readout sizes file (read at start, kept up to date).

    ``config`` is not kept once the plans are built: when the caller holds no
    other reference, its models are freed before polling starts.

    The processing stage (guards, derived signals, deadbands) keeps its state beside
    the history file (``context.history_path``, else ``[storage] path``).
    """
    plans = select_plans(plans_from_config(config), shard)
    beside = (context.history_path if context is not None else None) or config.storage.path
    processing = processing_plan(
        config,
        devices=None if shard is None else {plan.alias for plan in plans},
        state_file=state_path(beside),
    )
    del config
    if shard is not None:
        lines = len({plan.port_key for plan in plans})
        _LOGGER.info("shard %s: %d lines, %d devices", shard, lines, len(plans))
        if not plans:
            _LOGGER.warning("shard %s owns no line of this configuration: idle", shard)
    history = None if context is None else context.history_path
    with paused_gc():
        gateway = Gateway(
            plans,
            outputs,
            shard=None if shard is None else str(shard),
            sizes_path=sizes_path,
            history=history,
            wall_clock=wall_clock,
            processing=processing,
        )
    # The plans (and what else is loaded by now) live as long as the gateway: keep them out of the
    # collector's passes (at 50 000 meters each full pass would walk all of them).
    gc.freeze()
    if context is not None:
        gateway.inform(context)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    handled: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
            handled.append(sig)
        except (ValueError, RuntimeError, NotImplementedError):
            pass  # not the main thread, or a platform without it: Ctrl-C still cancels
    unwatch = watch_parent(loop, stop.set)  # a --workers child ends with its supervisor
    raise_open_file_limit()  # meter lines first: see obisgate.gateway.descriptors
    restore_handler = quiet_accept_errors(loop)
    timers: list[asyncio.TimerHandle] = []

    def start_timer() -> None:
        if duration_s:
            timers.append(loop.call_later(duration_s, stop.set))

    try:
        with _logs_into_live_table(outputs):
            await gateway.run(stop, polling=start_timer)
    finally:
        for timer in timers:
            timer.cancel()
        for sig in handled:
            loop.remove_signal_handler(sig)
        unwatch()
        restore_handler()
        gc.unfreeze()  # a caller that goes on (tests, an embedding service) collects as usual
    _LOGGER.info("stopped: %s", gateway.stats())
    return gateway


@contextlib.contextmanager
def _logs_into_live_table(outputs: list[Output]) -> Iterator[None]:
    """While a live table is drawn, log records go below it instead of over it."""
    table = next((o for o in outputs if isinstance(o, TableOutput) and o.live), None)
    if table is None:
        yield
        return
    root = logging.getLogger()
    saved = root.handlers[:]
    handler = TableLogHandler(table)
    handler.setFormatter(saved[0].formatter if saved else CliFormatter())
    root.handlers[:] = [handler]
    try:
        yield
    finally:
        root.handlers[:] = saved
