"""The root ``obisgate`` command group; subcommand modules register on it.

Every error, whether click finds it (a bad option: exit 2) or a command does,
is one line on stderr starting ``obisgate: error:``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import click

__all__ = ["main"]


def _report(exc: click.ClickException) -> NoReturn:
    """Print ``exc`` as one ``obisgate: error:`` line and exit with its code."""
    message = exc.format_message()
    ctx = getattr(exc, "ctx", None)
    if isinstance(exc, click.UsageError) and ctx is not None:
        message += f" (see '{ctx.command_path} --help')"
    click.echo(f"obisgate: error: {message}", err=True)
    sys.exit(exc.exit_code)


class _Group(click.Group):
    """A group that reports click's errors in the commands' own one-line style."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, False, **extra)
        except click.ClickException as exc:
            _report(exc)
        except click.Abort:
            click.echo("obisgate: interrupted", err=True)
            sys.exit(130)
        sys.exit(code if isinstance(code, int) else 0)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="obisgate", prog_name="obisgate")
def main() -> None:
    """Read, simulate and poll IEC 62056-21 (D0 / optical port) meters.

    \b
    Start here:
      obisgate read /dev/ttyUSB0                 # one readout, as a table
      obisgate probe /dev/ttyUSB0                # no answer? find the settings that work
      obisgate init tcp://10.0.0.5:4001 -o site.toml
      obisgate run site.toml                     # poll; history of log = 1 signals
      obisgate history meter1 energy_import --config site.toml

    Every command has --help with an example. Errors are one line on stderr
    starting "obisgate: error:"; the exit status tells the cause (README).
    """
