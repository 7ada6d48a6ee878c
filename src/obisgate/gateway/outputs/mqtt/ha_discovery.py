"""Home Assistant MQTT discovery: one retained sensor config per signal (pure functions).

Each signal becomes ``<discovery_prefix>/sensor/<node>/<object>/config`` where
``<node>`` is ``obisgate_<device key>`` and ``<object>`` the signal alias; the
device key is the meter's ``serialnumber`` (its address, normally the serial
number printed on it), or ``<client_id>_<device_alias>`` for a meter read
without an address. ``unique_id`` is ``<node>_<signal>``, so it stays the same
across restarts and configuration reorderings.

Names: a signal's ``signal_name`` when it has its own, else the OBIS catalogue's
label for its address (``1.8.1`` -> ``Energy import T1``, looked up with the
meter's manufacturer and the unit: :func:`entity_name`), else the alias.

Classes: ``ha_device_class`` / ``ha_state_class`` of the signal win (``none``:
no class); otherwise they are inferred from the unit (:func:`infer_classes`).
A volume (m³ ...) is ``gas`` or ``water`` when the signal's alias or name says
so (``gas``; ``water``, ``wasser``, ``eau``), else the generic ``volume``.

Only valid values reach Home Assistant: the value template renders an empty
text when the signal's value in a message is not valid (or absent), and Home
Assistant ignores an empty state of a numeric sensor, so a ``total_increasing``
entity never sees a misread lower value nor a reset.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Literal

from obisgate import Identification
from obisgate.errors import FramingError
from obisgate.gateway.outputs.mqtt.payloads import (
    device_availability_topic,
    gateway_availability_topic,
    state_topic,
)
from obisgate.gateway.updates import STATUS_SIGNAL
from obisgate.obis import describe

__all__ = [
    "DiscoveryDevice",
    "DiscoverySignal",
    "discovery_messages",
    "entity_name",
    "infer_classes",
    "manufacturer_name",
]

#: Canonical unit, device class, state class, by lower-case unit as meters write it.
_UNITS: dict[str, tuple[str, str | None, str]] = {
    **{u.lower(): (u, "energy", "total_increasing") for u in ("Wh", "kWh", "MWh", "GWh")},
    **{u.lower(): (u, "energy", "total_increasing") for u in ("MJ", "GJ")},
    **{u.lower(): (u, None, "total_increasing") for u in ("varh", "kvarh", "VAh", "kVAh")},
    **{u.lower(): (u, "power", "measurement") for u in ("W", "kW", "MW")},
    **{u.lower(): (u, "reactive_power", "measurement") for u in ("var", "kvar")},
    **{u.lower(): (u, "apparent_power", "measurement") for u in ("VA", "kVA")},
    **{u.lower(): (u, "voltage", "measurement") for u in ("V", "kV", "mV")},
    **{u.lower(): (u, "current", "measurement") for u in ("A", "mA")},
    "hz": ("Hz", "frequency", "measurement"),
    "°c": ("°C", "temperature", "measurement"),
    "c": ("°C", "temperature", "measurement"),
    "degc": ("°C", "temperature", "measurement"),
    "k": ("K", "temperature", "measurement"),
    "m3": ("m³", "volume", "total_increasing"),
    "m³": ("m³", "volume", "total_increasing"),
    "l": ("L", "volume", "total_increasing"),
    "m3/h": ("m³/h", "volume_flow_rate", "measurement"),
    "m³/h": ("m³/h", "volume_flow_rate", "measurement"),
    "l/h": ("L/h", "volume_flow_rate", "measurement"),
}

_WATER = re.compile(r"water|wasser|eau|h2o", re.IGNORECASE)
_GAS = re.compile(r"gas", re.IGNORECASE)

#: FLAG manufacturer IDs of common D0 meters (upper case) -> name.
_MANUFACTURERS = {
    "ABB": "ABB",
    "EBZ": "eBZ",
    "ELS": "Elster",
    "EMH": "EMH metering",
    "ESY": "EasyMeter",
    "HAG": "Hager",
    "ISK": "Iskraemeco",
    "KAM": "Kamstrup",
    "LGZ": "Landis+Gyr",
    "LUG": "Landis+Gyr",
}


def manufacturer_name(flag_id: str) -> str:
    """The maker's name for a three-letter FLAG ID, or the ID itself when unknown."""
    return _MANUFACTURERS.get(flag_id.upper(), flag_id)


def infer_classes(
    unit: str | None,
    *,
    names: Sequence[str] = (),
    device_class: str | None = None,
    state_class: str | None = None,
) -> tuple[str | None, str | None, str | None]:
    """``(unit_of_measurement, device_class, state_class)`` for Home Assistant.

    Args:
        unit: the signal's unit as configured or as the meter sends it.
        names: the signal's alias and name (hints for gas or water volumes).
        device_class, state_class: the signal's ``ha_device_class`` /
            ``ha_state_class``: ``None`` infers, ``"none"`` means no class.

    A known unit is written as Home Assistant spells it (``KWH`` -> ``kWh``,
    ``m3`` -> ``m³``); an unknown unit is kept and gets no inferred class.
    """
    known = _UNITS.get((unit or "").strip().lower())
    shown = known[0] if known else (unit or None)
    inferred_device = known[1] if known else None
    inferred_state = known[2] if known else None
    if inferred_device == "volume":
        text = " ".join(names)
        if _WATER.search(text):
            inferred_device = "water"
        elif _GAS.search(text) and shown == "m³":
            inferred_device = "gas"
    chosen_device = inferred_device if device_class is None else device_class
    chosen_state = inferred_state if state_class is None else state_class
    return (
        shown,
        None if chosen_device == "none" else chosen_device,
        None if chosen_state == "none" else chosen_state,
    )


@dataclass(frozen=True, slots=True)
class DiscoverySignal:
    """What discovery needs of one signal (``tag``: the address it reads)."""

    alias: str
    name: str
    unit: str | None
    ha_device_class: str | None = None
    ha_state_class: str | None = None
    tag: str = ""


def entity_name(signal: DiscoverySignal, manufacturer: str | None = None) -> str:
    """The entity's name: the signal's own ``signal_name`` when one was given (other than
    the alias), else the OBIS catalogue's label for its address (``1.8.1`` -> ``Energy
    import T1``; ``manufacturer`` and the unit select and check the entry), else the alias."""
    if signal.name and signal.name != signal.alias:
        return signal.name
    if signal.tag:
        found = describe(signal.tag, manufacturer=manufacturer, unit=signal.unit)
        if found is not None and found.label is not None:
            return found.label
    return signal.alias


@dataclass(frozen=True, slots=True)
class DiscoveryDevice:
    """What discovery needs of one device.

    Attributes:
        alias, name: the device's alias and display name.
        serialnumber: its address (``"0"``: none).
        identification: the identification line it sent (``/ISK5MT174-0001``),
            ``None`` while unknown.
        model: the configured ``meter_model``, preferred over the identification.
        signals: its enabled signals.
    """

    alias: str
    name: str
    serialnumber: str
    identification: str | None
    model: str | None
    signals: tuple[DiscoverySignal, ...]


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", text)


def _version() -> str:
    try:
        return metadata.version("obisgate")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


def _identification(device: DiscoveryDevice) -> Identification | None:
    if not device.identification:
        return None
    try:
        return Identification.parse(device.identification.strip())
    except FramingError:
        return None


def _device_block(
    device: DiscoveryDevice, node: str, ident: Identification | None
) -> dict[str, Any]:
    block: dict[str, Any] = {"identifiers": [node], "name": device.name}
    model = device.model
    if ident is not None:
        block["manufacturer"] = manufacturer_name(ident.manufacturer)
        model = model or ident.identification or None
    if model:
        block["model"] = model
    if device.serialnumber != "0":
        block["serial_number"] = device.serialnumber
    return block


def _value_template(fmt: Literal["json", "wcc"], signal: str) -> str:
    if fmt == "json":
        return (
            f"{{% for u in value_json.updates if u.signal == '{signal}' "
            "and u.quality == ['valid'] %}{{ u.value }}{% endfor %}"
        )
    return "{% set f = value.rsplit(',', 2) %}{% if f[2] == '1' %}{{ f[0] }}{% endif %}"


def discovery_messages(
    device: DiscoveryDevice,
    *,
    discovery_prefix: str,
    topic_prefix: str,
    client_id: str,
    fmt: Literal["json", "wcc"],
    qos: int,
) -> list[tuple[str, bytes]]:
    """``(topic, payload)`` of every retained config of one device.

    One sensor per signal, plus a diagnostic ``Status`` sensor (the readout
    status text, available while the gateway is).
    """
    key = device.serialnumber if device.serialnumber != "0" else f"{client_id}_{device.alias}"
    node = _safe(f"obisgate_{key}")
    gateway = gateway_availability_topic(topic_prefix, client_id)
    own = device_availability_topic(topic_prefix, device.alias)
    ident = _identification(device)
    block = _device_block(device, node, ident)
    manufacturer = ident.manufacturer if ident is not None else None
    origin = {"name": "obisgate", "sw_version": _version()}
    messages: list[tuple[str, bytes]] = []
    for signal in device.signals:
        unit, device_class, state_class = infer_classes(
            signal.unit,
            names=(signal.alias, signal.name),
            device_class=signal.ha_device_class,
            state_class=signal.ha_state_class,
        )
        config: dict[str, Any] = {
            "name": entity_name(signal, manufacturer),
            "unique_id": f"{node}_{_safe(signal.alias)}",
            "state_topic": state_topic(topic_prefix, device.alias, fmt, signal.alias),
            "value_template": _value_template(fmt, signal.alias),
            "availability": [{"topic": gateway}, {"topic": own}],
            "availability_mode": "all",
            "qos": qos,
            "device": block,
            "origin": origin,
        }
        if unit:
            config["unit_of_measurement"] = unit
        if device_class:
            config["device_class"] = device_class
        if state_class:
            config["state_class"] = state_class
        topic = f"{discovery_prefix}/sensor/{node}/{_safe(signal.alias)}/config"
        messages.append((topic, json.dumps(config, ensure_ascii=False).encode()))
    status_template = (
        "{{ value_json.status }}" if fmt == "json" else "{{ value.rsplit(',', 2)[0] }}"
    )
    status = {
        "name": "Status",
        "unique_id": f"{node}__status",
        "state_topic": state_topic(topic_prefix, device.alias, fmt, STATUS_SIGNAL),
        "value_template": status_template,
        "availability": [{"topic": gateway}],
        "entity_category": "diagnostic",
        "qos": qos,
        "device": block,
        "origin": origin,
    }
    topic = f"{discovery_prefix}/sensor/{node}/_status/config"
    messages.append((topic, json.dumps(status, ensure_ascii=False).encode()))
    return messages
