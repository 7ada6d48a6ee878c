"""What ``run`` says about a configuration before it starts: load warnings, readiness."""

from __future__ import annotations

import sys
from collections.abc import Iterable

import click

from obisgate.gateway.preflight import Readiness

__all__ = ["refuse", "show_warnings"]


def show_warnings(warnings: Iterable[object]) -> None:
    """The load warnings, one line each on stderr."""
    for warning in warnings:
        click.echo(f"obisgate: warning: {warning}", err=True)


def refuse(ready: Readiness) -> None:
    """Show the warnings of ``ready``, then exit 2 with its problems, if any (the lines
    ``check`` prints)."""
    show_warnings(ready.warnings)
    if ready.problems:
        for problem in ready.problems:
            click.echo(f"obisgate: error: {problem}", err=True)
        sys.exit(2)
