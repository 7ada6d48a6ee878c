"""``obisgate check CONFIG`` and ``obisgate history DEVICE SIGNAL``.

Exit status: ``check`` 0 when the configuration is valid (warnings may be
printed), 1 when it has errors (every problem on stderr, one per line).
``history`` 0 on success (also when no row is in the range), 1 when the
database holds no such signal, 2 for a bad option, configuration or database.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

import click

from obisgate.cli.main import main
from obisgate.cli.workers import worker_count
from obisgate.errors import ConfigError
from obisgate.gateway.config import ConfigFileError, GatewayConfig, load_config
from obisgate.gateway.history import HistoryRow, HistoryStore, history_files
from obisgate.gateway.outputs.factory import config_warnings, show_maps
from obisgate.gateway.outputs.registry import OUTPUT_SPECS
from obisgate.gateway.preflight import readiness

__all__ = ["check", "history", "main"]


def _print_problems(error: ConfigFileError) -> None:
    for problem in error.problems:
        click.echo(str(problem), err=True)


def _print_warnings(config: GatewayConfig) -> None:
    for warning in [*config.warnings, *config_warnings(config)]:
        click.echo(f"obisgate: warning: {warning}", err=True)


_MAPPED = [spec.title for spec in OUTPUT_SPECS if spec.show_map is not None]
#: "A, B or C": the outputs that serve signals at addresses of their own.
_MAPPED_NAMES = " or ".join([", ".join(_MAPPED[:-1]), _MAPPED[-1]] if len(_MAPPED) > 1 else _MAPPED)


@main.command()
@click.argument("config", type=click.Path(path_type=Path))
@click.option(
    "--show-map",
    is_flag=True,
    help=f"Also print where each signal is served: {_MAPPED_NAMES} (registers, addresses, nodes).",
)
@click.option(
    "--workers",
    default=None,
    metavar="N|auto",
    help="Check it as `run --workers N` would run it (a configured MQTT client_id is refused).",
)
def check(config: Path, show_map: bool, workers: str | None) -> None:
    """Validate the gateway configuration CONFIG without polling anything.

    CONFIG is a TOML file, an Excel workbook (.xlsx), one file of a
    *devices*.csv / *signals*.csv pair, or a directory holding devices.csv and
    signals.csv. Prints the warnings, "ok: N devices, M signals" and the
    outputs the configuration turns on, or every problem, one per line, on
    stderr (exit status 1). Whatever `obisgate run` would refuse is a problem
    here, with the same message: an optional extra that is not installed, a
    password or token variable that is not set, a password, CA or certificate
    file that cannot be read, a history path in a missing folder or naming a
    folder. With --show-map, the SCADA maps follow on stdout (a table to copy
    into the master).

    \b
    Example:
      obisgate check site.toml
      obisgate check site.toml --workers 4   # as run --workers 4 would run it
      obisgate check site.toml --show-map    # Modbus registers, IEC 104 IOAs, OPC UA nodes
    """
    try:
        loaded = load_config(config)
    except ConfigFileError as exc:
        _print_problems(exc)
        count = len(exc.problems)
        click.echo(
            f"obisgate: error: {count} problem{'s' if count != 1 else ''} in {config}", err=True
        )
        sys.exit(1)
    count_of_workers = None
    if workers is not None:
        try:
            count_of_workers = worker_count(workers, force=True)  # any machine
        except ValueError as exc:
            raise click.BadParameter(f"{workers!r}: {exc}", param_hint="'--workers'") from None
    ready = readiness(loaded, workers=count_of_workers)
    _print_warnings(loaded)
    for warning in ready.warnings:
        click.echo(f"obisgate: warning: {warning}", err=True)
    if ready.problems:
        for problem in ready.problems:
            click.echo(f"{config}: {problem}", err=True)
        count = len(ready.problems)
        click.echo(
            f"obisgate: error: {count} problem{'s' if count != 1 else ''} in {config}", err=True
        )
        sys.exit(1)
    click.echo(f"ok: {len(loaded.devices)} devices, {len(loaded.signals)} signals")
    if ready.outputs:
        width = max(len(name) for name, _ in ready.outputs)
        click.echo("outputs besides the printed updates:")
        for name, where in ready.outputs:
            click.echo(f"  {name.ljust(width)}  {where}".rstrip())
    else:
        click.echo("outputs: only the printed updates (no history, no network output)")
    if show_map:
        blocks = show_maps(loaded)
        text = "\n\n".join("\n".join(block) for block in blocks)
        click.echo(f"\n{text}" if text else f"no signal is mapped to {_MAPPED_NAMES}")


def _parse_time(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> dt.datetime | None:
    """ISO 8601 date or date-time; without a time zone it is UTC."""
    del ctx
    if value is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise click.BadParameter(
            f"{value!r}: expected ISO 8601, e.g. 2025-11-18 or 2025-11-18T09:30:00+01:00",
            param=param,
        ) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.UTC)


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


def _json_value(value: object) -> Any:
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return value


def _write_table(rows: list[HistoryRow]) -> None:
    header = ("time (UTC)", "value", "unit", "quality")
    cells = [
        (
            row.time.isoformat(sep=" ", timespec="milliseconds").removesuffix("+00:00"),
            _text(row.value),
            row.unit or "",
            ",".join(row.quality.to_json()),
        )
        for row in rows
    ]
    widths = [max([len(h), *(len(c[i]) for c in cells)]) for i, h in enumerate(header)]
    for line in (header, *cells):
        click.echo("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())


def _write_csv(rows: list[HistoryRow]) -> None:
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(("time", "value", "unit", "quality"))
    for row in rows:
        writer.writerow(
            (
                row.time.isoformat(),
                _text(row.value),
                row.unit or "",
                "|".join(row.quality.to_json()),
            )
        )


def _write_json(rows: list[HistoryRow]) -> None:
    items = [
        {
            "time": row.time.isoformat(),
            "value": _json_value(row.value),
            "unit": row.unit,
            "quality": row.quality.to_json(),
        }
        for row in rows
    ]
    click.echo(json.dumps(items, indent=1, ensure_ascii=False))


_WRITERS = {"table": _write_table, "csv": _write_csv, "json": _write_json}


@main.command()
@click.argument("device")
@click.argument("signal")
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    help="Gateway configuration; its [storage] path is the database.",
)
@click.option("--db", "db_path", type=click.Path(path_type=Path), help="History database file.")
@click.option(
    "--dsn",
    envvar="OBISGATE_DSN",
    help="Read the PostgreSQL readings table of `obisgate sink postgres` instead "
    "(postgresql://user@host/db) [env OBISGATE_DSN].",
)
@click.option(
    "--from",
    "start",
    callback=_parse_time,
    help="First time included (ISO 8601; UTC unless a zone is given).",
)
@click.option(
    "--to",
    "end",
    callback=_parse_time,
    help="First time excluded (ISO 8601; UTC unless a zone is given).",
)
@click.option(
    "--limit",
    type=click.IntRange(min=0),
    default=None,
    help="Show only the newest N rows of the range (still oldest first).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(sorted(_WRITERS)),
    default="table",
    show_default=True,
)
def history(
    *,
    device: str,
    signal: str,
    config_path: Path | None,
    db_path: Path | None,
    dsn: str | None,
    start: dt.datetime | None,
    end: dt.datetime | None,
    limit: int | None,
    fmt: str,
) -> None:
    """Print the stored values of SIGNAL of DEVICE (aliases), oldest first.

    The database is given by --db, or by the [storage] path of --config (with
    the files of the shards beside it, as `run --workers` or --shard leave them:
    history-shard0.sqlite ...; their rows are merged). Times are printed in UTC. An empty selection prints only the header (and
    says so on stderr); --from after --to is refused. With --dsn, the PostgreSQL
    table written by `obisgate sink postgres` (numbers come back as floats).

    \b
    Example:
      obisgate history meter1 energy_import --config site.toml --from 2026-11-01 --format csv
    """
    if start is not None and end is not None and start > end:
        raise click.BadParameter(
            f"{start.isoformat()} is after --to {end.isoformat()}", param_hint="'--from'"
        )
    if dsn is not None and config_path is None and db_path is None:
        from obisgate.cli.history_postgres import print_postgres_history  # noqa: PLC0415

        print_postgres_history(dsn, device, signal, start, end, limit, _WRITERS[fmt])
        return
    if (config_path is None) == (db_path is None):
        raise click.UsageError("give either --config or --db (or --dsn)")
    hint = ""
    if config_path is not None:
        try:
            config = load_config(config_path)
        except ConfigFileError as exc:
            for problem in exc.problems:
                click.echo(f"obisgate: error: {problem}", err=True)
            sys.exit(2)
        db_path = config.storage.path
        known = {s.key: s for s in config.signals}
        signal_config = known.get((device, signal))
        if signal_config is None:
            hint = f" ({config_path} has no signal {signal!r} on device {device!r})"
        elif not signal_config.logged:
            hint = f" (its log is 0 in {config_path})"
    assert db_path is not None
    paths = (history_files(db_path) if config_path is not None else []) or [db_path]
    stores: list[HistoryStore] = []
    try:
        for path in paths:
            stores.append(HistoryStore(path, create=False))
    except ConfigError as exc:
        for store in stores:
            store.close()
        click.echo(f"obisgate: error: {exc}", err=True)
        sys.exit(2)
    try:
        holding = [store for store in stores if store.has_series(device, signal)]
        if not holding:
            click.echo(
                f"obisgate: error: no history for {device}/{signal} in {db_path}{hint}", err=True
            )
            sys.exit(1)
        found = [
            store.query(device, signal, start, end, limit, newest_first=limit is not None)
            for store in holding
        ]
    finally:
        for store in stores:
            store.close()
    rows = sorted((row for part in found for row in part), key=lambda row: row.time)
    if limit is not None:
        rows = rows[len(rows) - limit :] if limit else []
    _WRITERS[fmt](rows)
    if not rows and fmt == "table":
        click.echo(f"obisgate: no values of {device}/{signal} in this selection", err=True)
