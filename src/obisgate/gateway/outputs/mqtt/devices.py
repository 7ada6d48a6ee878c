"""What the MQTT output learns about devices from their readouts: availability and discovery data.

A device is ``online`` after a successful readout and ``offline`` after a
failed one. Its Home Assistant discovery configs are due after its first
successful readout in this process (then the units the meter sends, its
identification and the serial number its readout carries are known), and
again whenever a unit, the identification or the serial number changes.

A signal that may go down (a derived one without ``monotonic = 1``, e.g. a net
energy, or any with ``monotonic = 0``) that would be ``total_increasing`` is
announced as ``total`` unless ``ha_state_class`` says otherwise: Home Assistant
takes a lower ``total_increasing`` value for a meter reset and books the whole
reading again in its energy statistics.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from obisgate.gateway.interning import shared_equal
from obisgate.gateway.numbers import SCALED_TYPES
from obisgate.gateway.outputs.mqtt.config import MqttColumns
from obisgate.gateway.outputs.mqtt.ha_discovery import (
    DiscoveryDevice,
    DiscoverySignal,
    infer_classes,
)
from obisgate.gateway.outputs.mqtt.payloads import OFFLINE, ONLINE, readout_status
from obisgate.gateway.updates import STATUS_SIGNAL, SignalUpdate

if TYPE_CHECKING:
    from obisgate.gateway.config_models import GatewayConfig

__all__ = ["DeviceTracker"]


@dataclass(slots=True)
class _Device:
    static: DiscoveryDevice
    #: Aliases of the signals that may go down (announced as ``total``, not
    #: ``total_increasing``).
    decreasing: frozenset[str] = frozenset()
    units: dict[str, str] = field(default_factory=dict)
    identification: str | None = None
    serial: str | None = None
    read_ok: bool = False


class DeviceTracker:
    """Availability and discovery data of every enabled device of a configuration.

    Memory: without discovery nothing is kept per device but its availability once
    read; with it, devices whose signals are configured alike share one tuple of
    :class:`DiscoverySignal` (and one set of decreasing aliases), so what is kept per
    device is its own :class:`DiscoveryDevice` and what its readouts taught.

    Attributes:
        availability: device alias -> ``online`` / ``offline`` (only devices read).
        dirty_availability: devices whose availability is to be published.
        to_announce: devices whose discovery configs are to be published.
    """

    def __init__(self, config: GatewayConfig, *, discovery: bool) -> None:
        self._discovery = discovery
        # Only discovery reads what is kept per device (learn() skips unknown devices
        # but for their availability): 0.8 KB per device (3 signals) not kept without it.
        self._devices: dict[str, _Device] = {}
        if discovery:
            self._learn_devices(config)
        self.availability: dict[str, bytes] = {}
        self.dirty_availability: set[str] = set()
        self.to_announce: set[str] = set()

    def _learn_devices(self, config: GatewayConfig) -> None:
        """The static discovery data of every enabled device; equal parts shared."""
        shared: dict[object, Any] = {}
        for device in config.enabled_devices:
            configured = config.signals_for(device.device_alias)
            signals = tuple(
                shared_equal(
                    DiscoverySignal(
                        s.signal_alias,
                        s.signal_name,
                        s.unit,
                        (columns := s.columns(MqttColumns)).ha_device_class,
                        columns.ha_state_class,
                        s.number_type in SCALED_TYPES,
                        s.tag_job_todo or "",  # a derived signal has none
                    ),
                    shared,
                )
                for s in configured
            )
            static = DiscoveryDevice(
                device.device_alias,
                device.name or device.device_alias,
                device.serialnumber,
                None,
                device.meter_model,
                shared_equal(signals, shared),
            )
            decreasing = frozenset(s.signal_alias for s in configured if s.may_decrease)
            self._devices[device.device_alias] = _Device(static, shared_equal(decreasing, shared))

    def learn(self, updates: Sequence[SignalUpdate]) -> bool:
        """Take in one readout's batch; ``True`` when something is now due to be published."""
        status = readout_status(updates)
        if status is None:
            return False
        alias = status.device
        due = False
        availability = ONLINE if status.value == "ok" else OFFLINE
        if self.availability.get(alias) != availability:
            self.availability[alias] = availability
            self.dirty_availability.add(alias)
            due = True
        device = self._devices.get(alias)
        if device is None or status.value != "ok":
            return due
        changed = not device.read_ok
        device.read_ok = True
        if status.raw is not None and status.raw != device.identification:
            device.identification = status.raw
            changed = True
        if status.serial is not None and status.serial != device.serial:
            device.serial = status.serial
            changed = True
        for update in updates:
            unit = update.unit
            if (
                update.signal != STATUS_SIGNAL
                and unit
                and update.quality.is_valid
                and device.units.get(update.signal) != unit
            ):
                device.units[update.signal] = unit
                changed = True
        if changed and self._discovery:
            self.to_announce.add(alias)
            due = True
        return due

    def announce_all(self) -> None:
        """Mark every known availability and every read device's discovery as due (a new
        connection, or Home Assistant came online)."""
        self.dirty_availability.update(self.availability)
        if self._discovery:
            self.to_announce.update(a for a, d in self._devices.items() if d.read_ok)

    def discovery(self, alias: str) -> DiscoveryDevice:
        """The device as discovery describes it now: configured units first, then seen ones."""
        device = self._devices[alias]
        static = device.static
        signals = tuple(
            DiscoverySignal(
                s.alias,
                s.name,
                unit := s.unit or device.units.get(s.alias),
                s.ha_device_class,
                _state_class(s, unit, s.alias in device.decreasing),
                s.numeric,
                s.tag,
            )
            for s in static.signals
        )
        return DiscoveryDevice(
            static.alias,
            static.name,
            static.serialnumber,
            device.identification,
            static.model,
            signals,
            device.serial,
        )


def _state_class(signal: DiscoverySignal, unit: str | None, decreasing: bool) -> str | None:
    """The signal's ``ha_state_class``; unset on a signal that may go down, ``total``
    where its unit would make it ``total_increasing``."""
    if signal.ha_state_class is not None or not decreasing:
        return signal.ha_state_class
    inferred = infer_classes(unit, device_class=signal.ha_device_class, numeric=signal.numeric)[2]
    if inferred == "total_increasing":
        return "total"
    return None
