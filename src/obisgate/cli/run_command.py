"""``obisgate run CONFIG`` (the gateway), ``obisgate demo`` and ``obisgate init URL``."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import click

from obisgate.cli.common import fail, run_async, setup_logging
from obisgate.cli.dlms_read import dlms_options
from obisgate.cli.gateway_run import build_outputs, relay_of_supervisor, run_gateway
from obisgate.cli.load_messages import refuse, show_warnings
from obisgate.cli.main import main
from obisgate.cli.params import Bounded, device_alias, history_folder, meter_url
from obisgate.cli.probe_command import budget_option, run_probe
from obisgate.cli.read_command import (
    dlms_read_settings,
    line_options,
    mode_options,
    read_settings,
    readout_options,
)
from obisgate.cli.recipe_options import recipe_options, recipe_setup
from obisgate.cli.shard_options import log_format_option, shard_option
from obisgate.errors import ConfigError
from obisgate.gateway.app import Gateway
from obisgate.gateway.config import GatewayConfig, load_config
from obisgate.gateway.outputs.context import OutputContext
from obisgate.gateway.outputs.listen import split_listen
from obisgate.gateway.preflight import readiness
from obisgate.gateway.readsizes import sizes_path
from obisgate.gateway.shard import Shard, shard_path
from obisgate.gateway.shard_config import shard_config
from obisgate.gateway.shard_parts import read_part

__all__ = ["run"]


def refuse_unready(
    config: GatewayConfig,
    *,
    db: Path | None,
    workers: str | None,
    force: bool = False,
    shard: Shard | None = None,
) -> None:
    """Exit 2 with every problem :func:`~obisgate.gateway.preflight.readiness` finds (the
    lines ``check`` prints), after its warnings."""
    count = None
    if workers is not None:
        from obisgate.cli.workers import worker_count  # noqa: PLC0415

        with contextlib.suppress(ValueError):  # refused with its own message further on
            count = worker_count(workers, force=force)
    refuse(readiness(config, db=db, workers=count, shard=shard))


def _load(path: str, shard: Shard | None = None) -> GatewayConfig:
    """The configuration, or a shard's part: handed over by the supervisor of
    ``--workers`` (its warnings shown there), else loaded from ``path``."""
    try:
        part = read_part(shard)
    except OSError as exc:
        fail(f"cannot read this worker's configuration part: {exc}", 1)
    if part is not None:
        return part
    try:
        config = load_config(path, shard=shard)
    except ConfigError as exc:
        fail(str(exc).replace("\n", "\n  "), 2)
    show_warnings(config.warnings)
    return config


@main.command()
@click.argument("config", type=click.Path(exists=True))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["auto", "jsonl", "table", "none"]),
    default=None,
    help="How updates are printed [[output] format of CONFIG, else auto: a live table on a terminal, JSON lines otherwise].",
)
@click.option(
    "--db",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    callback=history_folder,
    help="History database (overrides [storage] path); its folder must exist.",
)
@click.option(
    "--duration",
    type=Bounded(0, unit="s", integer=False, above_low=True),
    default=None,
    help="Stop after this many seconds of polling (after the outputs started) [until Ctrl-C].",
)
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
    help="Run N shard processes (auto: one per CPU; at most twice the CPUs) under a "
    "supervisor that restarts them and runs the servers (web view, SCADA) for all of them.",
)
@click.option("--force", is_flag=True, help="Allow --workers above twice the number of CPUs.")
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
    force: bool,
    log_format: str,
    verbose: int,
) -> None:
    """Run the gateway: poll every enabled device of CONFIG on its schedule.

    CONFIG is a TOML file, an Excel workbook or a CSV pair (see `obisgate
    check --help`). On a terminal a live table shows the latest value of every
    signal under a status line (devices ok / down, readouts, missed scans);
    log messages appear below it. Into a pipe or file it prints one JSON object
    per update instead (--format jsonl); --format table there prints the final
    table once, without terminal control codes. Signals with log > 0 are kept
    in the history database ([storage] path, or --db; read them with
    `obisgate history`). Stops cleanly on Ctrl-C / SIGTERM, or after --duration.

    With --shard I/N only the lines (devices sharing a port or converter endpoint)
    of instance I are polled; its history/outbox file and MQTT client id get the
    suffix "-shardI". With --workers N, N such instances run as child processes,
    and this process serves the web view, the HTTP API, /metrics, Modbus, IEC 104
    and OPC UA for every meter of every worker on one address each.

    \b
    Example:
      obisgate run site.toml --duration 60 --format jsonl > updates.jsonl
    """
    setup_logging(verbose, log_format, None if shard is None else str(shard))
    if workers is not None and shard is None:
        # The supervisor checks every device; each worker then gets its part.
        from obisgate.cli.workers import run_workers  # noqa: PLC0415

        options = {"--format": fmt, "--db": db, "--duration": duration, "--stats": stats_path}
        passed = [
            str(x) for key, value in options.items() if value is not None for x in (key, value)
        ]
        run_workers(
            config,
            workers,
            [*passed, "--log-format", log_format, *["-v"] * verbose],
            force=force,
            db=db,
        )
        return
    # A shard keeps only its own devices.
    cfg = _load(config, shard)
    refuse_unready(cfg, db=db, workers=workers, force=force, shard=shard)
    if force and workers is None:
        fail("--force goes with --workers", 2)
    if workers is not None:
        fail("--workers and --shard cannot be combined", 2)
    relay = relay_of_supervisor(shard)
    if shard is not None:
        cfg = shard_config(cfg, shard, db)
        db = cfg.storage.path
        if stats_path is not None:
            stats_path = shard_path(stats_path, shard)

    # Only the coroutine below holds the configuration, and gives it to run_gateway,
    # which lets it go once the plans are built (at 50 000 meters: ~200 MB of models).
    loaded = [cfg]
    del cfg

    async def go() -> Gateway:
        context = OutputContext(shard=None if shard is None else shard.suffix)
        cfg = loaded.pop()
        try:
            outputs = build_outputs(
                cfg, fmt, db, context, title=f"obisgate run {config}", relay=relay
            )
        except ConfigError as exc:
            fail(str(exc).replace("\n", "\n  "), 2)  # e.g. every missing extra, one a line
        running = run_gateway(
            cfg,
            outputs,
            duration_s=duration,
            context=context,
            shard=shard,
            sizes_path=sizes_path(db or cfg.storage.path),
        )
        del cfg
        return await running

    gateway = run_async(go)
    if stats_path is not None:
        stats_path.write_text(json.dumps(gateway.stats()), encoding="utf-8")


def _web_listen(ctx: click.Context, param: click.Parameter, value: str) -> str | None:
    if value.strip().lower() == "off":
        return None
    try:
        split_listen(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    return value.strip()


@main.command()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["auto", "jsonl", "table"]),
    default="auto",
    show_default=True,
    help="auto: a live table on a terminal, else JSON lines.",
)
@click.option(
    "--duration",
    type=Bounded(0, unit="s", integer=False),
    default=30.0,
    show_default=True,
    help="Seconds to run (0 = until Ctrl-C).",
)
@click.option(
    "--db",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    callback=history_folder,
    help="History database, kept after the demo (its folder must exist) [a temporary file].",
)
@click.option("--show-config", is_flag=True, help="Print the demo configuration and exit.")
@click.option(
    "--web",
    default="127.0.0.1:0",
    show_default=True,
    metavar="HOST:PORT|off",
    help="Where the web view listens (port 0: a free one; needs the web extra); off: none.",
    callback=_web_listen,
)
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def demo(
    fmt: str, duration: float, db: Path | None, show_config: bool, web: str | None, verbose: int
) -> None:
    """Run the gateway on its bundled configuration against built-in simulated meters.

    Two meters share one pseudo-terminal RS-485 bus (different addresses), one
    answers over TCP in mode A and one over TCP in mode C. No hardware needed.
    The web view (live values, history plots) is served on loopback; its
    address is printed at start.
    The history goes to a temporary file removed at exit, unless --db names one.

    \b
    Example:
      obisgate demo --duration 0 --db demo-history.sqlite    # until Ctrl-C, keep the history
    """
    from obisgate.cli.demo import run_demo  # noqa: PLC0415

    setup_logging(verbose)
    run_async(lambda: run_demo(fmt, duration or None, db, show_config, web))


@main.command()
@click.argument("url", callback=meter_url)
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
    "--alias",
    default="meter1",
    show_default=True,
    callback=device_alias,
    help="device_alias of the new device (1-64 letters, digits, '-', '_').",
)
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@click.option(
    "--probe",
    "use_probe",
    is_flag=True,
    help="Find the reading settings first, as obisgate probe does (the table is printed).",
)
@budget_option
@mode_options
@line_options
@dlms_options
@recipe_options
@click.pass_context
def init(
    ctx: click.Context,
    /,
    url: str,
    out: Path,
    alias: str,
    force: bool,
    use_probe: bool,
    budget: float,
    **params: Any,
) -> None:
    """Read a meter once and write a starter configuration for it.

    URL is the meter's connection, as for `obisgate read`, and takes the same
    reading options; the options you give are written into the device. One
    signal per data set the meter sent, named readably for common OBIS codes
    (1.8.0 energy_import, 1.8.1 energy_import_t1, 2.8.0 energy_export, 1.7.0
    and 16.7.0 power, 32.7.0 voltage_l1, 31.7.0 current_l1, ...; the address
    itself otherwise), tag_job_todo exactly as the meter sent it, a
    number_type guessed from the value and log = 1 for numbers (history kept).
    A meter family whose recipe has settings that act before the request (a
    wake-up, a longer deadline...) is named in meter_model. With --probe the
    reading settings are found first (see obisgate probe, its exit status
    too) and written into the device.

    \b
    Example:
      obisgate init tcp://10.0.0.5:4001 --address 12345678 -o site.toml
      obisgate run site.toml --duration 60
      obisgate history meter1 energy_import --config site.toml
    """
    from obisgate.cli.starter import (  # noqa: PLC0415
        check_starter_config,
        device_fields,
        write_starter_config,
    )

    if use_probe:
        run_probe(ctx, url, params, out=out, alias=alias, force=force, budget_s=budget)
        return
    if ctx.get_parameter_source("budget") is not click.core.ParameterSource.DEFAULT:
        fail("--budget is an option of --probe", 2)
    setup_logging(params["verbose"])
    if out.exists() and not force:
        fail(f"{out} exists; use --force to overwrite it", 2)
    if not out.parent.is_dir():
        fail(f"--output {out}: the folder {out.parent} does not exist", 2)
    dlms = None
    objects = None
    try:
        if params["mode"].upper() in ("E", "HDLC"):
            dlms, options_e, line, objects = dlms_read_settings(params)
            options = options_e or readout_options({**params, "mode": "HDLC"})[0]
        else:
            options, line = read_settings(params)
        recipes = recipe_setup(ctx, params, options, line)
    except ConfigError as exc:
        fail(str(exc), 2)
    given = {
        name: value
        for name, value in params.items()
        if ctx.get_parameter_source(name) is not click.core.ParameterSource.DEFAULT
    }
    text, count = run_async(
        lambda: write_starter_config(
            url,
            alias,
            recipes.options,
            recipes.line,
            fields=device_fields(given),
            trace=params["trace_path"],
            dlms=dlms,
            objects=objects,
            rules=recipes.rules,
            book=recipes.book,
            meter_model=params["meter_model"],
        )
    )
    check_starter_config(text, out)
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {out}: {exc.strerror or exc}", 1)
    click.echo(f"wrote {out}: 1 device, {count} signals (check: obisgate check {out})")
