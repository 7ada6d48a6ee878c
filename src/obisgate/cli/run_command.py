"""``obisgate run CONFIG`` (the gateway), ``obisgate demo`` and ``obisgate init URL``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import sys
from pathlib import Path
from typing import Any

import click

from obisgate.cli.common import fail, run_async, setup_logging
from obisgate.cli.main import main
from obisgate.cli.shard_options import log_format_option, shard_option
from obisgate.errors import ConfigError, ObisgateError
from obisgate.gateway.app import Gateway
from obisgate.gateway.build import plans_from_config
from obisgate.gateway.config import GatewayConfig, load_config
from obisgate.gateway.history import HistoryStore
from obisgate.gateway.outputs import HistoryOutput, JsonLinesOutput, Output, TableOutput
from obisgate.gateway.outputs.factory import OutputContext, network_outputs
from obisgate.gateway.shard import Shard, select_plans, shard_path
from obisgate.gateway.shard_config import shard_config

__all__ = ["build_outputs", "run", "run_gateway"]

_LOGGER = logging.getLogger("obisgate.gateway")


def build_outputs(
    config: GatewayConfig,
    fmt: str | None,
    db: Path | None,
    context: OutputContext | None = None,
) -> list[Output]:
    """Printed output (JSON lines, live table or none), the history store if any signal
    logs, and the network outputs the configuration turns on.

    Raises:
        ConfigError: a network output cannot be built (a missing extra, ...).
    """
    context = context or OutputContext()
    fmt = fmt or config.output.format
    if fmt == "auto":
        fmt = "table" if sys.stdout.isatty() else "jsonl"
    outputs: list[Output] = []
    if fmt == "jsonl":
        outputs.append(JsonLinesOutput())
    elif fmt == "table":
        outputs.append(TableOutput())
    if config.logged_signals:
        path = db or config.storage.path
        outputs.append(HistoryOutput(HistoryStore(path, synchronous=config.storage.synchronous)))
        context.history_path = path
    outputs.extend(network_outputs(config, context))
    return outputs


async def run_gateway(
    config: GatewayConfig,
    outputs: list[Output],
    *,
    duration_s: float | None = None,
    context: OutputContext | None = None,
    shard: Shard | None = None,
) -> Gateway:
    """Poll until SIGINT/SIGTERM (or ``duration_s``), then shut down cleanly.

    With ``shard``, only the devices of the lines that shard owns are polled.
    """
    plans = select_plans(plans_from_config(config), shard)
    if shard is not None:
        lines = len({plan.port_key for plan in plans})
        _LOGGER.info("shard %s: %d lines, %d devices", shard, lines, len(plans))
        if not plans:
            _LOGGER.warning("shard %s owns no line of this configuration: idle", shard)
    gateway = Gateway(plans, outputs)
    if context is not None:
        context.stats = gateway.stats
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    handled: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
            handled.append(sig)
        except (ValueError, RuntimeError, NotImplementedError):
            pass  # not the main thread, or a platform without it: Ctrl-C still cancels
    timer = loop.call_later(duration_s, stop.set) if duration_s else None
    try:
        await gateway.run(stop)
    finally:
        if timer:
            timer.cancel()
        for sig in handled:
            loop.remove_signal_handler(sig)
    _LOGGER.info("stopped: %s", gateway.stats())
    return gateway


def _load(path: str) -> GatewayConfig:
    try:
        config = load_config(path)
    except ConfigError as exc:
        fail(str(exc).replace("\n", "\n  "), 2)
    for warning in config.warnings:
        click.echo(f"obisgate: warning: {warning}", err=True)
    return config


@main.command()
@click.argument("config", type=click.Path(exists=True))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["auto", "jsonl", "table", "none"]),
    default=None,
    help="How updates are printed [from the config; auto: table on a terminal, else JSON lines].",
)
@click.option(
    "--db",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="History database (overrides [storage] path).",
)
@click.option("--duration", type=float, default=None, help="Stop after this many seconds.")
@click.option(
    "--stats",
    "stats_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write polling counters as JSON to FILE on exit.",
)
@shard_option
@click.option(
    "--workers",
    default=None,
    metavar="N|auto",
    help="Run N shard processes (auto: one per CPU) under a supervisor that restarts them.",
)
@log_format_option
@click.option("-v", "--verbose", count=True, help="More log output on stderr.")
def run(
    config: str,
    fmt: str | None,
    db: Path | None,
    duration: float | None,
    stats_path: Path | None,
    shard: Shard | None,
    workers: str | None,
    log_format: str,
    verbose: int,
) -> None:
    """Run the gateway: poll every enabled device of CONFIG on its schedule.

    Prints every signal update (JSON lines, or a live table on a terminal) and
    keeps the history of signals with log > 0. Stops cleanly on Ctrl-C / SIGTERM.

    With --shard I/N only the lines (devices sharing a port or converter endpoint)
    of instance I are polled; its history/outbox file and MQTT client id get the
    suffix "-shardI". With --workers N, N such instances run as child processes.
    """
    setup_logging(verbose, log_format, None if shard is None else str(shard))
    cfg = _load(config)
    if not cfg.enabled_devices:
        fail("no enabled device in the configuration", 2)
    if workers is not None:
        from obisgate.cli.workers import run_workers  # noqa: PLC0415

        if shard is not None:
            fail("--workers and --shard cannot be combined", 2)
        options = {"--format": fmt, "--db": db, "--duration": duration, "--stats": stats_path}
        passed = [
            str(x) for key, value in options.items() if value is not None for x in (key, value)
        ]
        run_workers(config, workers, [*passed, "--log-format", log_format, *["-v"] * verbose])
        return
    if shard is not None:
        cfg = shard_config(cfg, shard, db)
        db = cfg.storage.path
        if stats_path is not None:
            stats_path = shard_path(stats_path, shard)

    async def go() -> Gateway:
        context = OutputContext(shard=None if shard is None else shard.suffix)
        try:
            outputs = build_outputs(cfg, fmt, db, context)
        except ConfigError as exc:
            fail(str(exc), 2)
        return await run_gateway(cfg, outputs, duration_s=duration, context=context, shard=shard)

    gateway = run_async(go)
    if stats_path is not None:
        stats_path.write_text(json.dumps(gateway.stats()), encoding="utf-8")


@main.command()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["auto", "jsonl", "table"]),
    default="auto",
    show_default=True,
)
@click.option(
    "--duration",
    type=float,
    default=30.0,
    show_default=True,
    help="Seconds to run (0 = until Ctrl-C).",
)
@click.option(
    "--db",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="History database [a temporary file].",
)
@click.option("--show-config", is_flag=True, help="Print the demo configuration and exit.")
@click.option("-v", "--verbose", count=True)
def demo(fmt: str, duration: float, db: Path | None, show_config: bool, verbose: int) -> None:
    """Run the gateway on its bundled configuration against built-in simulated meters.

    Two meters share one pseudo-terminal RS-485 bus (different addresses), one
    answers over TCP in mode A and one over TCP in mode C. No hardware needed.
    """
    from obisgate.cli.demo import run_demo  # noqa: PLC0415

    setup_logging(verbose)
    run_async(lambda: run_demo(fmt, duration or None, db, show_config))


@main.command()
@click.argument("url")
@click.option(
    "-o",
    "--output",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("obisgate.toml"),
    show_default=True,
    help="Where to write the configuration.",
)
@click.option(
    "--alias", default="meter1", show_default=True, help="device_alias of the new device."
)
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@click.option("--address", default="", help="Device address (serialnumber).")
@click.option("--timeout", "timeout_s", type=float, default=2.5, show_default=True)
@click.option("--baudrate", type=int, default=300, show_default=True)
@click.option("-v", "--verbose", count=True)
def init(url: str, out: Path, alias: str, force: bool, **params: Any) -> None:
    """Read a meter once and write a starter configuration for it.

    One device, one signal per data set the meter sent, each tag_job_todo
    exactly as sent and a number_type guessed from the value.
    """
    from obisgate.cli.starter import write_starter_config  # noqa: PLC0415

    setup_logging(params.pop("verbose"))
    if out.exists() and not force:
        fail(f"{out} exists; use --force to overwrite it", 2)
    try:
        text, count = run_async(lambda: write_starter_config(url, alias, **params))
        out.write_text(text, encoding="utf-8")
    except (ObisgateError, OSError) as exc:
        fail(str(exc), 1)
    click.echo(f"wrote {out}: 1 device, {count} signals (check: obisgate check {out})")
    with contextlib.suppress(Exception):
        sys.stdout.flush()
