"""The OPC UA variables as ``obisgate check --show-map`` prints them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from obisgate.gateway.outputs.listen import split_listen
from obisgate.gateway.outputs.map_text import table_lines
from obisgate.gateway.outputs.opcua.mapping import ENDPOINT_PATH, NAMESPACE, variant_kind
from obisgate.gateway.updates import STATUS_SIGNAL

if TYPE_CHECKING:
    from obisgate.gateway.config_models import GatewayConfig
    from obisgate.gateway.outputs.opcua.config import OpcUaConfig

__all__ = ["opcua_map"]


def opcua_map(config: GatewayConfig, section: OpcUaConfig | None) -> list[str]:
    """Every served signal and each enabled device's ``_status`` (no per-signal
    columns: every served signal is a variable); nothing without the section."""
    if section is None:
        return []
    host, port = split_listen(section.listen)
    shown = f"[{host}]" if ":" in host else host
    lines = [
        f"OPC UA opc.tcp://{shown}:{port}{ENDPOINT_PATH}, namespace {NAMESPACE}: node id "
        f"ns=<index of {NAMESPACE}>;s=DEVICE.SIGNAL, read-only; {section.security_summary()}"
    ]
    rows: list[tuple[str, ...]] = []
    for device in config.enabled_devices:
        alias = device.device_alias
        rows += [
            (f"{alias}.{s.signal_alias}", variant_kind(s.number_type), alias, s.signal_alias,
             s.unit or "")
            for s in config.signals_for(alias)
        ]  # fmt: skip
        rows.append((f"{alias}.{STATUS_SIGNAL}", "String", alias, STATUS_SIGNAL, ""))
    header = ("identifier", "type", "device", "signal", "unit")
    return lines + (table_lines(header, rows) if rows else ["(no enabled device)"])
