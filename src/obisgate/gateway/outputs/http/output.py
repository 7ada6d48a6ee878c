"""The ``[http]`` output: HTTP API, Prometheus metrics and a live web view.

``create`` checks that the ``web`` extra (aiohttp, prometheus_client) is
installed before anything imports it; the server itself lives in
:mod:`~obisgate.gateway.outputs.http.server`, the metrics in
:mod:`~obisgate.gateway.outputs.http.metrics`, the page in
:mod:`~obisgate.gateway.outputs.http.page`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from obisgate.gateway.outputs.extras import require_extra
from obisgate.gateway.outputs.http.state import LiveState, SignalInfo

if TYPE_CHECKING:
    from obisgate.gateway.config_models import GatewayConfig
    from obisgate.gateway.outputs.base import Output
    from obisgate.gateway.outputs.context import OutputContext
    from obisgate.gateway.outputs.http.config import HttpConfig

__all__ = ["create", "live_state"]


def live_state(config: GatewayConfig) -> LiveState:
    """An empty live state listing every enabled device and its enabled signals."""
    devices = [(d.device_alias, d.name or d.device_alias) for d in config.enabled_devices]
    signals = [
        SignalInfo(
            s.device_alias,
            s.signal_alias,
            s.signal_name or s.signal_alias,
            s.unit,
            s.logged,
            s.tag_job_todo or "",  # a derived signal has none
            s.description,
            s.may_decrease,
        )
        for alias, _ in devices
        for s in config.signals_for(alias)
    ]
    return LiveState.of(devices, signals)


def create(config: GatewayConfig, section: HttpConfig, context: OutputContext) -> Output:
    """The HTTP output of ``section``; it binds when the gateway starts it.

    Raises:
        ConfigError: the ``web`` extra is missing, or ``token_env`` names a
            variable that is not set (one line; the token is never shown).
    """
    require_extra("aiohttp", "web", "http")
    require_extra("prometheus_client", "web", "http")
    from obisgate.gateway.outputs.http.server import HttpOutput  # noqa: PLC0415

    return HttpOutput(
        section.host,
        section.port,
        live_state(config),
        context,
        token=section.token(),
        history_limit=section.history_limit,
        max_clients=section.max_clients,
        max_connections=section.max_connections,
        idle_timeout_s=section.idle_timeout,
    )
