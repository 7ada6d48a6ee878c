"""Option and argument checks shared by the commands: each refuses a value with a
usage error (exit 2) that names the option, the value and what is allowed, in
the unit the help text uses."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import click
from pydantic import TypeAdapter, ValidationError

from obisgate.gateway.config_cells import BAUDS, DeviceAlias

__all__ = ["BAUD_RATE", "Bounded", "device_alias", "history_folder", "meter_url"]


class Bounded(click.ParamType[float]):
    """A number within ``[low, high]`` (``high`` None: no upper bound), with its unit.

    ``--t2 5000`` is refused as ``--t2 5000: allowed 200-1500 ms``.
    """

    def __init__(
        self,
        low: float,
        high: float | None = None,
        unit: str = "",
        *,
        integer: bool = True,
        above_low: bool = False,
    ) -> None:
        self.low, self.high, self.unit = low, high, unit
        self.integer, self.above_low = integer, above_low
        self.name = "integer" if integer else "number"

    def _allowed(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        if self.high is not None:
            return f"{self.low:g}-{self.high:g}{unit}"
        return f"{'more than' if self.above_low else 'at least'} {self.low:g}{unit}"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            number: float = value
        else:
            try:
                number = int(value) if self.integer else float(value)
            except ValueError:
                kind = "a whole number" if self.integer else "a number"
                self.fail(f"{value!r}: expected {kind}, {self._allowed()}", param, ctx)
        too_low = number <= self.low if self.above_low else number < self.low
        too_high = self.high is not None and number > self.high
        if not math.isfinite(number) or too_low or too_high:
            self.fail(f"{value}: allowed {self._allowed()}", param, ctx)
        return number


class _BaudRate(click.ParamType[int]):
    """One of the rates of IEC 62056-21 (300-19200 Bd)."""

    name = "rate"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            rate = int(value)
        except (TypeError, ValueError):
            rate = -1
        if rate not in BAUDS:
            self.fail(f"{value}: allowed {', '.join(map(str, BAUDS))} Bd", param, ctx)
        return rate


BAUD_RATE = _BaudRate()


def meter_url(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """Refuse an empty URL argument (a usage error, exit 2)."""
    del ctx
    if not value.strip():
        raise click.BadParameter(
            "empty URL: give a serial device (/dev/ttyUSB0), tcp://HOST:PORT or rfc2217://HOST:PORT",
            param=param,
        )
    return value


def history_folder(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    """Refuse a history database path whose folder does not exist (nothing is created)."""
    del ctx
    if value is not None and not value.expanduser().parent.is_dir():
        raise click.BadParameter(
            f"{value}: the folder {value.expanduser().parent} does not exist", param=param
        )
    return value


def device_alias(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """The ``--alias`` value, refused exactly as the configuration would refuse it."""
    del ctx
    try:
        return str(TypeAdapter(DeviceAlias).validate_python(value))
    except ValidationError as exc:
        message = exc.errors()[0]["msg"].removeprefix("Value error, ")
        raise click.BadParameter(f"{value!r}: {message}", param=param) from None
