"""Turn a loaded configuration into device plans for the poller."""

from __future__ import annotations

from obisgate.gateway.config import DeviceConfig, GatewayConfig, SignalConfig
from obisgate.gateway.plan import DevicePlan

__all__ = ["device_plan", "plans_from_config"]


def device_plan(device: DeviceConfig, signals: tuple[SignalConfig, ...]) -> DevicePlan:
    """The poller's plan for one configured device.

    Devices on the same serial port, or the same TCP / RFC 2217 endpoint, get
    the same ``port_key`` and therefore take turns.
    """
    return DevicePlan(
        alias=device.device_alias,
        url=device.url_or_port,
        port_key=device.port_key,
        line=device.line_settings(),
        options=device.readout_options(),
        scan_rate_s=device.scan_rate_ms / 1000,
        poll_delay_s=device.poll_delay_ms / 1000,
        close_delay_s=device.serial_close_delay / 1000,
        retries=device.retries,
        signals=tuple(s.plan(decimal_comma=device.decimal_comma) for s in signals if s.enable),
    )


def plans_from_config(config: GatewayConfig) -> list[DevicePlan]:
    """Plans for every enabled device, each with its enabled signals."""
    return [
        device_plan(device, config.signals_for(device.device_alias))
        for device in config.enabled_devices
    ]
