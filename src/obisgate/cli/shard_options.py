"""``--shard I/N`` (also ``OBISGATE_SHARD``) and ``--log-format``, shared by ``run`` and ``plan``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from obisgate.cli.common import fail
from obisgate.gateway.shard import Shard, ShardError

__all__ = ["log_format_option", "shard_option"]

F = TypeVar("F", bound=Callable[..., Any])


def _parse_shard(ctx: click.Context, param: click.Parameter, value: str | None) -> Shard | None:
    """``I/N`` -> :class:`Shard`; a bad value is one line on stderr and exit status 2."""
    del ctx, param
    if value is None or not value.strip():
        return None
    try:
        return Shard.parse(value)
    except ShardError as exc:
        fail(f"--shard / OBISGATE_SHARD: {exc}", 2)


def shard_option(function: F) -> F:
    """Adds ``--shard I/N`` (environment ``OBISGATE_SHARD``), passed as a :class:`Shard` or None."""
    return click.option(
        "--shard",
        envvar="OBISGATE_SHARD",
        callback=_parse_shard,
        metavar="I/N",
        help="Poll only the lines of instance I of N (0 <= I < N) [env OBISGATE_SHARD].",
    )(function)


def log_format_option(function: F) -> F:
    """Adds ``--log-format text|json``."""
    return click.option(
        "--log-format",
        type=click.Choice(["text", "json"]),
        default="text",
        show_default=True,
        help="Log lines on stderr: text, or one JSON object per line (with the shard).",
    )(function)
