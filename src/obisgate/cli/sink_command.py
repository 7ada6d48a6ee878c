"""``obisgate sink postgres``: store the gateways' MQTT history partitions in PostgreSQL."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import signal
from pathlib import Path

import click
from pydantic import SecretStr

from obisgate.cli.common import fail, run_async, setup_logging
from obisgate.cli.main import main
from obisgate.cli.params import Bounded
from obisgate.cli.shard_options import log_format_option
from obisgate.errors import ConfigError
from obisgate.gateway.readings.partitions import MAX_PARTITIONS, parse_owned
from obisgate.password_config import password_file_is_private, read_password_file

__all__ = ["postgres", "sink"]

_LOGGER = logging.getLogger("obisgate.sink")


@main.group()
def sink() -> None:
    """Consumers that store the gateways' MQTT readings elsewhere (needs the extra postgres).

    For billing, prefer the gateway's own [postgres] output: it writes from its
    durable outbox straight into PostgreSQL, with no broker on the way. A sink is
    for readings that must go through MQTT anyway.

    \b
    Example:
      obisgate sink postgres --mqtt mqtt://sink@127.0.0.1:1883 --mqtt-password-env MQTT_PW \\
          --partitions 16 --own 0-7 --dsn postgresql://obisgate@127.0.0.1/meters
    """


def _password(env: str | None, file: Path | None) -> SecretStr | None:
    """The broker password from ``--mqtt-password-env`` or ``--mqtt-password-file``.

    A bad value is one line on stderr and exit status 2.
    """
    if env is not None and file is not None:
        fail("give only one of --mqtt-password-env, --mqtt-password-file", 2)
    if env is not None:
        value = os.environ.get(env)
        if value is None:
            fail(f"--mqtt-password-env: the variable {env} is not set", 2)
        return SecretStr(value)
    if file is not None:
        try:
            value = read_password_file(file)
        except ConfigError as exc:
            fail(f"--mqtt-password-file: {exc}", 2)
        if not password_file_is_private(file):
            _LOGGER.warning("the MQTT password file is readable by group or others; chmod 600 it")
        return SecretStr(value)
    return None


@sink.command()
@click.option(
    "--mqtt",
    "mqtt_url",
    required=True,
    help="Broker: mqtt://[USER@]host[:port] or mqtts://… (TLS), the gateway's URL grammar "
    "(the password goes in --mqtt-password-env or --mqtt-password-file, not in the URL: it "
    "would show in ps).",
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
    "--mqtt-password-env",
    metavar="NAME",
    default=None,
    help="Read the broker password from this environment variable.",
)
@click.option(
    "--mqtt-password-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Read the broker password from the first line of this file (chmod 600).",
)
@click.option(
    "--dsn",
    envvar="OBISGATE_DSN",
    required=True,
    help="PostgreSQL: postgresql://user@host[:port]/db [env OBISGATE_DSN]; the password "
    "in PGPASSWORD or ~/.pgpass (in the DSN it would show in ps).",
)
@click.option(
    "--partitions",
    type=click.IntRange(1, MAX_PARTITIONS),
    required=True,
    help="The gateways' MQTT history_partitions (the same number for every sink).",
)
@click.option(
    "--own",
    default="all",
    show_default=True,
    metavar="LIST",
    help="The partitions this sink stores, e.g. 0-7 or 0-3,8; every partition must be "
    "owned by one running sink.",
)
@click.option(
    "--topic-prefix", default="obisgate", show_default=True, help="The gateways' topic prefix."
)
@click.option(
    "--client-id",
    default=None,
    help="MQTT client id, fixed per partition set [obisgate-sink-PREFIX-pLISTofN].",
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
    mqtt_password_env: str | None,
    mqtt_password_file: Path | None,
    dsn: str,
    partitions: int,
    own: str,
    topic_prefix: str,
    client_id: str | None,
    batch_rows: int,
    max_delay: float,
    duration: float | None,
    stats_path: Path | None,
    log_format: str,
    verbose: int,
) -> None:
    """Subscribe to the owned history partitions and store every reading in PostgreSQL.

    The gateways publish each readout also on PREFIX/history/P/DEVICE when their
    [mqtt] section sets history_partitions = N; this sink subscribes to
    PREFIX/history/P/+ for each partition P it owns (--own), in a persistent
    session under a fixed client id, which every broker restores after a restart.
    Rows are batched, copied into a staging table and moved with INSERT … ON
    CONFLICT (device, signal, time) DO NOTHING; what PostgreSQL refuses goes to
    the readings_rejected table with the reason; a message is acknowledged only
    after its rows are committed.

    The broker keeps a stopped sink's messages only within its queue limits
    (mosquitto: max_queued_messages, 1000 per session by default, then it drops
    them) and across its own crash only what it had saved (persistence true,
    autosave_interval): set them for the longest sink outage you plan for
    (README, "History in PostgreSQL"). The sink retries the broker and the
    database at most 5 s apart, and warns when mosquitto reports dropped messages
    ($SYS/broker/publish/messages/dropped). The gateway's [postgres] output has no
    such limit and is the billing path.

    Exit status: 1 when the database cannot be reached at start-up, the broker
    refuses the login or the gateways announce another partition count; 2 for a
    bad option or a missing extra.

    \b
    Example:
      obisgate sink postgres --mqtt mqtt://sink@127.0.0.1:1883 --mqtt-password-env MQTT_PW \\
          --partitions 16 --own 0-7 --dsn postgresql://obisgate@127.0.0.1/meters
    """
    setup_logging(verbose, log_format)
    try:
        owned = parse_owned(own, partitions)
    except ValueError as exc:
        fail(f"--own {exc}", 2)
    password = _password(mqtt_password_env, mqtt_password_file)
    try:
        from obisgate.gateway.readings.writer import PostgresWriter  # noqa: PLC0415
        from obisgate.sink.consumer import (  # noqa: PLC0415
            SinkSettings,
            SinkStats,
            consume,
            default_client_id,
            url_has_password,
        )
    except ConfigError as exc:  # pragma: no cover - the extra is part of `all`
        fail(str(exc), 2)
    if url_has_password(mqtt_url):
        _LOGGER.warning(
            "the MQTT password in --mqtt shows in the process list; "
            "use --mqtt-password-env or --mqtt-password-file"
        )
    if url_has_password(dsn):
        _LOGGER.warning(
            "the database password in --dsn shows in the process list; use PGPASSWORD or ~/.pgpass"
        )
    settings = SinkSettings(
        mqtt_url=mqtt_url,
        partitions=partitions,
        owned=owned,
        topic_prefix=topic_prefix,
        mqtt_password=password,
        ca_file=ca_file,
        cert_file=cert_file,
        key_file=key_file,
        batch_rows=batch_rows,
        max_delay_s=max_delay,
        client_id=client_id or default_client_id(topic_prefix, owned, partitions),
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

        await consume(settings, connect, stop, stats)
        _LOGGER.info("stopped: %s", dataclasses.asdict(stats))

    try:
        run_async(go)
    finally:
        if stats_path is not None:
            counters = {**dataclasses.asdict(stats), "duplicates": stats.duplicates}
            stats_path.write_text(json.dumps(counters), encoding="utf-8")
