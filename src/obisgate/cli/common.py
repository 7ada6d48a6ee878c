"""Helpers shared by the subcommands: error reporting, exit codes, line options."""

from __future__ import annotations

import asyncio
import logging
import math
import os
import sys
from collections.abc import Callable, Coroutine
from typing import Any, NoReturn, TypeVar

import click

from obisgate.cli.log_format import CliFormatter
from obisgate.errors import (
    ChecksumError,
    ConfigError,
    FramingError,
    MeterError,
    NoAnswerError,
    ObisgateError,
    ProtocolError,
    TransportError,
)
from obisgate.gateway.outputs.announce import LISTENING_LOGGER

__all__ = ["EXIT_CODES", "SECONDS", "Seconds", "fail", "run_async", "setup_logging"]

T = TypeVar("T")

#: Exit status per failure class (documented in the README).
EXIT_CODES: tuple[tuple[type[BaseException], int], ...] = (
    (ConfigError, 2),
    (NoAnswerError, 3),
    (ChecksumError, 4),
    (FramingError, 5),
    (ProtocolError, 5),
    (TransportError, 6),
    (MeterError, 7),
)


class Seconds(click.ParamType[float, Any]):
    """A finite, positive number of seconds; ``inf``, ``nan``, 0 and negatives are refused.

    Click reports a refusal as a usage error (exit 2) naming the option and the unit.
    """

    name = "seconds"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        if not math.isfinite(number) or number <= 0:
            self.fail(f"{value!r}: a finite number of seconds above 0", param, ctx)
        return number


SECONDS = Seconds()


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``obisgate: error: message`` on stderr and exit with ``code``."""
    click.echo(f"obisgate: error: {message}", err=True)
    sys.exit(code)


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The event loop the commands run on, by ``OBISGATE_EVENT_LOOP``.

    Unset or ``auto``: uvloop's when it is installed (the ``uvloop`` extra, part of
    ``all``), else asyncio's. ``asyncio``: asyncio's. ``uvloop``: uvloop's, and when it
    is missing one warning and asyncio's. Anything else: a warning and the default.
    """
    choice = os.environ.get("OBISGATE_EVENT_LOOP", "").strip().lower() or "auto"
    if choice == "asyncio":
        return None
    if choice not in ("auto", "uvloop"):
        logging.getLogger("obisgate").warning(
            "OBISGATE_EVENT_LOOP=%s: expected auto, uvloop or asyncio; using auto", choice
        )
    try:
        import uvloop  # noqa: PLC0415
    except ImportError:
        if choice == "uvloop":
            logging.getLogger("obisgate").warning(
                "OBISGATE_EVENT_LOOP=uvloop but uvloop is not installed "
                "(pip install '.[uvloop]' in obisgate's source folder); using asyncio's loop"
            )
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def run_async(coro_fn: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine; turn library errors into one line on stderr and an exit code.

    Ctrl-C exits 130 without a traceback. It runs on uvloop when that is installed,
    unless ``OBISGATE_EVENT_LOOP=asyncio`` (see :func:`_loop_factory`).
    """
    try:
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            return runner.run(coro_fn())
    except ObisgateError as exc:
        code = next((c for cls, c in EXIT_CODES if isinstance(exc, cls)), 1)
        fail(str(exc), code)
    except KeyboardInterrupt:
        click.echo("obisgate: interrupted", err=True)
        sys.exit(130)
    except Exception as exc:  # a bug: still one line, and a non-zero exit
        logging.getLogger("obisgate").debug("internal error", exc_info=True)
        fail(f"internal error: {exc} (run with -vv for details)", 1)


def setup_logging(verbose: int, log_format: str = "text", shard: str | None = None) -> None:
    """Log to stderr: warnings by default, info with -v, debug with -vv (with the
    logger's name).

    Text lines read ``obisgate: warning: ...`` (``obisgate[I/N]: ...`` in a shard);
    ``log_format="json"`` writes one JSON object per record (see
    :mod:`obisgate.cli.log_format`), with ``shard`` (``"I/N"``) in every record.
    Where a server listens is shown at every level (the ``obisgate.listening`` logger).
    """
    from obisgate.cli.log_format import JsonFormatter, ShardFilter  # noqa: PLC0415

    level = logging.WARNING - 10 * min(verbose, 2)
    handler = logging.StreamHandler()
    handler.addFilter(ShardFilter(shard))
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(CliFormatter(with_names=level <= logging.DEBUG, shard=shard))
    logging.basicConfig(level=level, handlers=[handler])
    logging.getLogger(LISTENING_LOGGER).setLevel(min(level, logging.INFO))
