"""``obisgate sink postgres``: store the gateways' MQTT readings in PostgreSQL."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import signal
from pathlib import Path

import click

from obisgate.cli.common import fail, run_async, setup_logging
from obisgate.cli.main import main
from obisgate.cli.params import Bounded
from obisgate.cli.shard_options import log_format_option
from obisgate.errors import ConfigError

__all__ = ["postgres", "sink"]

_LOGGER = logging.getLogger("obisgate.sink")


@main.group()
def sink() -> None:
    """Consumers that store the gateways' MQTT readings elsewhere (needs obisgate[postgres]).

    \b
    Example:
      obisgate sink postgres --mqtt mqtt://127.0.0.1:1883 --dsn postgresql://obisgate@127.0.0.1/meters
    """


@sink.command()
@click.option(
    "--mqtt",
    "mqtt_url",
    required=True,
    help="Broker: mqtt://[user[:password]@]host[:port] or mqtts://… (TLS); the gateway's URL grammar.",
)
@click.option(
    "--ca-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="mqtts://: the CA certificates to trust [the system's].",
)
@click.option(
    "--cert-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="mqtts://: a client certificate (with its key, unless --key-file).",
)
@click.option(
    "--key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="mqtts://: the client certificate's key.",
)
@click.option(
    "--dsn",
    envvar="OBISGATE_DSN",
    required=True,
    help="PostgreSQL: postgresql://user[:password]@host[:port]/db [env OBISGATE_DSN; "
    "better: the password in PGPASSWORD or ~/.pgpass].",
)
@click.option(
    "--group", default="obisgate-history", show_default=True, help="Shared-subscription group."
)
@click.option(
    "--topic-prefix", default="obisgate", show_default=True, help="The gateways' topic prefix."
)
@click.option(
    "--client-id", default=None, help="MQTT client id, unique per sink [obisgate-sink-HOSTNAME]."
)
@click.option("--batch-rows", type=click.IntRange(min=1), default=5000, show_default=True)
@click.option(
    "--max-delay",
    type=click.FloatRange(min=0.01),
    default=1.0,
    show_default=True,
    help="Seconds a batch may wait.",
)
@click.option(
    "--duration",
    type=Bounded(0, unit="s", integer=False, above_low=True),
    default=None,
    help="Stop after this many seconds [until Ctrl-C].",
)
@click.option(
    "--stats",
    "stats_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write counters as JSON to FILE on exit.",
)
@log_format_option
@click.option("-v", "--verbose", count=True)
def postgres(
    mqtt_url: str,
    ca_file: Path | None,
    cert_file: Path | None,
    key_file: Path | None,
    dsn: str,
    group: str,
    topic_prefix: str,
    client_id: str | None,
    batch_rows: int,
    max_delay: float,
    duration: float | None,
    stats_path: Path | None,
    log_format: str,
    verbose: int,
) -> None:
    """Subscribe to $share/GROUP/PREFIX/+/state and store every reading in PostgreSQL.

    Rows are batched, copied into a staging table and moved with INSERT … ON
    CONFLICT (device, signal, time) DO NOTHING; a message is acknowledged only
    after its rows are committed. Several sinks (different --client-id, same
    --group) share the load. Stops cleanly on Ctrl-C / SIGTERM. Exit status 1 when
    the database cannot be reached at start-up, 2 for a bad option or a missing extra.

    \b
    Example:
      obisgate sink postgres --mqtt mqtt://127.0.0.1:1883 --dsn postgresql://obisgate@127.0.0.1/meters
    """
    setup_logging(verbose, log_format)
    try:
        from obisgate.sink.consumer import (  # noqa: PLC0415
            SinkSettings,
            SinkStats,
            consume,
            default_client_id,
        )
        from obisgate.sink.postgres import PostgresWriter  # noqa: PLC0415
    except ConfigError as exc:  # pragma: no cover - the extra is part of `all`
        fail(str(exc), 2)
    settings = SinkSettings(
        mqtt_url=mqtt_url,
        ca_file=ca_file,
        cert_file=cert_file,
        key_file=key_file,
        group=group,
        topic_prefix=topic_prefix,
        batch_rows=batch_rows,
        max_delay_s=max_delay,
        client_id=client_id or default_client_id(),
    )
    stats = SinkStats()

    async def go() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        if duration:
            loop.call_later(duration, stop.set)

        async def connect() -> PostgresWriter:
            return await PostgresWriter.connect(dsn)

        try:
            await consume(settings, connect, stop, stats)
        except ConfigError as exc:
            fail(str(exc), 2)
        _LOGGER.info("stopped: %s", dataclasses.asdict(stats))

    run_async(go)
    if stats_path is not None:
        counters = {**dataclasses.asdict(stats), "duplicates": stats.duplicates}
        stats_path.write_text(json.dumps(counters), encoding="utf-8")
