"""The root ``obisgate`` command group; subcommand modules register on it."""

from __future__ import annotations

import click


@click.group()
@click.version_option(package_name="obisgate")
def main() -> None:
    """Read, simulate and poll IEC 62056-21 (D0 / optical port) meters."""
