"""The HTTP output (API, metrics, web view) as the configuration knows it: ``[http]``."""

from __future__ import annotations

from typing import TYPE_CHECKING

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
    shared=True,  # one server for every worker (run --workers: in the supervisor)
)
