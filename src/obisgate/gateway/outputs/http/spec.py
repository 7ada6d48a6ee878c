"""The HTTP output (API, metrics, web view) as the configuration knows it: ``[http]``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from obisgate.errors import ConfigError
from obisgate.gateway.outputs.http.config import HttpConfig
from obisgate.gateway.outputs.spec import Extra, OutputSpec

if TYPE_CHECKING:
    from obisgate.gateway.config_models import GatewayConfig
    from obisgate.gateway.outputs.base import Output
    from obisgate.gateway.outputs.context import OutputContext

__all__ = ["HTTP"]


def _create(config: GatewayConfig, section: HttpConfig, context: OutputContext) -> Output:
    from obisgate.gateway.outputs.http.output import create  # noqa: PLC0415 - when turned on

    return create(config, section, context)


def _problems(section: HttpConfig, source: Path | None, workers: int | None) -> list[str]:
    """An unset ``token_env`` variable (the output would refuse to start)."""
    del source, workers
    try:
        section.token()
    except ConfigError as exc:
        return [str(exc)]
    return []


def _describe(section: HttpConfig, source: Path | None) -> str:
    del source
    auth = "bearer token" if section.token_env else "no token"
    return f"{section.listen} (API, /metrics, web view; {auth})"


HTTP: OutputSpec[HttpConfig] = OutputSpec(
    name="http",
    title="HTTP API",
    summary=(
        "Present = the HTTP API, the Prometheus metrics (`/metrics`) and the live web view "
        "are served by the gateway."
    ),
    model=HttpConfig,
    create=_create,
    extras=(Extra("aiohttp", "web"), Extra("prometheus_client", "web")),
    problems=_problems,
    describe=_describe,
    shared=True,  # one server for every worker (run --workers: in the supervisor)
)
