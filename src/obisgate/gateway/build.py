"""Turn a loaded configuration into device plans for the poller."""

from __future__ import annotations

from obisgate.gateway.config import DeviceConfig, GatewayConfig, SignalConfig
from obisgate.gateway.plan import DevicePlan, SignalPlan
from obisgate.transport.base import LineSettings

__all__ = ["device_plan", "plans_from_config"]


def _signal_plan(signal: SignalConfig, device: DeviceConfig) -> SignalPlan:
    return SignalPlan(
        alias=signal.signal_alias,
        name=signal.signal_name,
        tag=signal.tag_job_todo,
        value_index=signal.value_index - 1,
        subvalue=None if signal.subvalue is None else signal.subvalue - 1,
        number_type=signal.number_type,
        multiply=signal.multiply,
        add=signal.add,
        unit=signal.unit,
        log=signal.logged,
        decimal_comma=device.decimal_comma,
    )


def device_plan(device: DeviceConfig, signals: tuple[SignalConfig, ...]) -> DevicePlan:
    """The poller's plan for one configured device.

    Devices on the same serial port, or the same TCP / RFC 2217 endpoint, get
    the same ``port_key`` and therefore take turns.
    """
    serial = device.serial_settings
    if serial is None:
        line = LineSettings(baudrate=device.baudrate)
    else:
        line = LineSettings(
            baudrate=serial.baudrate,
            bytesize=serial.databits,
            parity=serial.parity,
            stopbits=serial.stopbits,
            flowcontrol=serial.flowcontrol,
        )
    url = device.url_or_port
    return DevicePlan(
        alias=device.device_alias,
        url=url,
        port_key=url,
        line=line,
        options=device.readout_options(),
        scan_rate_s=device.scan_rate_ms / 1000,
        poll_delay_s=device.poll_delay_ms / 1000,
        close_delay_s=device.serial_close_delay / 1000,
        retries=device.retries,
        signals=tuple(_signal_plan(s, device) for s in signals if s.enable),
    )


def plans_from_config(config: GatewayConfig) -> list[DevicePlan]:
    """Plans for every enabled device, each with its enabled signals."""
    return [
        device_plan(device, config.signals_for(device.device_alias))
        for device in config.enabled_devices
    ]
