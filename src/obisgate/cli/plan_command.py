"""``obisgate plan CONFIG [--shard I/N] [--format text|json]``: the lines an instance owns."""

from __future__ import annotations

import json

import click

from obisgate.cli.common import fail
from obisgate.cli.main import main
from obisgate.cli.shard_options import shard_option
from obisgate.errors import ConfigError
from obisgate.gateway.build import plans_from_config
from obisgate.gateway.config import load_config
from obisgate.gateway.shard import Shard, group_lines, line_owner

__all__ = ["plan"]


@main.command()
@click.argument("config", type=click.Path(exists=True))
@shard_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
)
def plan(config: str, shard: Shard | None, fmt: str) -> None:
    """List the lines (port or converter endpoint) and devices that instance I of N polls.

    Without --shard: every line. Exit status 2 for a bad configuration or --shard.
    JSON: {"shard": "I/N", "lines": [{"line": KEY, "devices": [ALIAS, ...]}],
    "total_lines": L, "total_devices": D}.

    \b
    Example:
      obisgate plan site.toml --shard 1/3 --format json
    """
    try:
        plans = plans_from_config(load_config(config))
    except ConfigError as exc:
        fail(str(exc).replace("\n", "\n  "), 2)
    lines = group_lines(plans)
    shard = shard or Shard(0, 1)
    owned = {
        key: [p.alias for p in members]
        for key, members in lines.items()
        if line_owner(key, shard.count) == shard.index
    }
    devices = sum(len(aliases) for aliases in owned.values())
    if fmt == "json":
        item = {
            "shard": str(shard),
            "lines": [{"line": key, "devices": aliases} for key, aliases in owned.items()],
            "total_lines": len(lines),
            "total_devices": len(plans),
        }
        click.echo(json.dumps(item, indent=1))
        return
    click.echo(
        f"shard {shard}: {len(owned)} of {len(lines)} lines, {devices} of {len(plans)} devices"
    )
    for key, aliases in owned.items():
        click.echo(f"{key}  {' '.join(aliases)}")
