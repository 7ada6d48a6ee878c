"""Home Assistant MQTT discovery: one retained sensor config per signal (pure functions).

Each signal becomes ``<discovery_prefix>/sensor/<node>/<object>/config`` where
``<object>`` is the signal alias and ``<node>`` the meter's identity,
``obisgate_<MANUFACTURER>_<serial>`` (:func:`device_node`): the manufacturer's
FLAG ID from the identification line and the serial number the readout
carries (:func:`obisgate.gateway.identity.meter_serial`), else the request
address (``serialnumber``), else the device alias. Never the host or the
client id: a meter keeps its entities when the gateway moves to another host
and when its device alias is renamed. ``unique_id`` is ``<node>_<signal>``.

Names: a signal's ``signal_name`` when it has its own, else the OBIS catalogue's
label for its address (``1.8.1`` -> ``Energy import T1``, looked up with the
meter's manufacturer and the unit: :func:`entity_name`), else the alias.

Before this scheme the node was ``obisgate_<serialnumber>``, or
``obisgate_<client_id>_<device alias>`` for a meter read without an address
(:func:`legacy_node`); :func:`legacy_removals` gives the empty retained configs
that remove those entities, so Home Assistant does not show a meter twice
(the new entities take the same entity ids, which Home Assistant makes from
the device and signal names, so dashboards and energy statistics carry on).

Classes: a signal whose value is text (STRING, HEX, DIGITAL, dates and times)
gets no unit, device class or state class (a numeric sensor refuses every text
state); a number's classes come from ``ha_device_class`` / ``ha_state_class``
(``none``: no class), else from its unit (:func:`infer_classes`), following
Home Assistant's rules (:mod:`.ha_classes`). A volume (m³ ...) is ``gas`` or
``water`` when the signal's alias or name says so (``gas``; ``water``,
``wasser``, ``eau``), else the generic ``volume``.

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
from obisgate.gateway.outputs.mqtt.ha_classes import (
    DEVICE_CLASS_STATE_CLASSES,
    NON_NUMERIC_DEVICE_CLASSES,
)
from obisgate.gateway.outputs.mqtt.payloads import (
    device_availability_topic,
    gateway_availability_topic,
    state_topic,
)
from obisgate.gateway.units import normalise_unit, unit_info
from obisgate.gateway.updates import STATUS_SIGNAL
from obisgate.obis import describe

__all__ = [
    "DiscoveryDevice",
    "DiscoverySignal",
    "device_node",
    "discovery_messages",
    "entity_name",
    "infer_classes",
    "legacy_node",
    "legacy_removals",
    "manufacturer_name",
]

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
    numeric: bool = True,
) -> tuple[str | None, str | None, str | None]:
    """``(unit_of_measurement, device_class, state_class)`` for Home Assistant.

    Args:
        unit: the signal's unit as configured or as the meter sends it.
        names: the signal's alias and name (hints for gas or water volumes).
        device_class, state_class: the signal's ``ha_device_class`` /
            ``ha_state_class``: ``None`` infers, ``"none"`` means no class.
        numeric: whether the signal's value is a number; a text value gets
            no unit and no state class, and a device class only when it is
            one for text (``timestamp``, ``date``).

    A known unit is written as Home Assistant spells it (``KWH`` -> ``kWh``,
    ``m3`` -> ``m³``, ``m3ph`` -> ``m³/h``); an unknown unit is kept and gets
    no inferred class.
    """
    if not numeric:
        chosen = device_class if device_class in NON_NUMERIC_DEVICE_CLASSES else None
        return (None, chosen, None)
    info = unit_info(unit)
    shown = info.symbol if info is not None else (normalise_unit(unit) or None)
    inferred_device = info.device_class if info is not None else None
    inferred_state = info.state_class if info is not None else None
    if inferred_device == "volume":
        text = " ".join(names)
        if _WATER.search(text):
            inferred_device = "water"
        elif _GAS.search(text) and shown == "m³":
            inferred_device = "gas"
    chosen_device = inferred_device if device_class is None else device_class
    chosen_state = inferred_state if state_class is None else state_class
    allowed = DEVICE_CLASS_STATE_CLASSES.get(chosen_device or "")
    if state_class is None and allowed is not None and chosen_state not in allowed:
        # A configured device class picks its own default state class.
        chosen_state = next((c for c in ("total_increasing", "measurement") if c in allowed), None)
    return (
        shown,
        None if chosen_device == "none" else chosen_device,
        None if chosen_state == "none" else chosen_state,
    )


@dataclass(frozen=True, slots=True)
class DiscoverySignal:
    """What discovery needs of one signal.

    Attributes:
        numeric: its value is a number (FLOAT, DOUBLE or an integer type).
        tag: the address it reads.
    """

    alias: str
    name: str
    unit: str | None
    ha_device_class: str | None = None
    ha_state_class: str | None = None
    numeric: bool = True
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
        serialnumber: its request address (``"0"``: none).
        identification: the identification line it sent (``/ISK5MT174-0001``),
            ``None`` while unknown.
        model: the configured ``meter_model``, preferred over the identification.
        signals: its enabled signals.
        serial: the serial number its readout carries, ``None`` while unknown or
            when it carries none.
    """

    alias: str
    name: str
    serialnumber: str
    identification: str | None
    model: str | None
    signals: tuple[DiscoverySignal, ...]
    serial: str | None = None

    @property
    def parsed_identification(self) -> Identification | None:
        """The identification line parsed, ``None`` when unknown or unreadable."""
        if not self.identification:
            return None
        try:
            return Identification.parse(self.identification.strip())
        except FramingError:
            return None

    @property
    def identity(self) -> str | None:
        """``<MANUFACTURER>_<serial>`` (``ISK_71234567``): the readout's serial, else the
        request address; ``None`` when neither is known."""
        serial = self.serial or (self.serialnumber if self.serialnumber != "0" else None)
        if serial is None:
            return None
        ident = self.parsed_identification
        return f"{ident.manufacturer.upper()}_{serial}" if ident is not None else serial


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", text)


def _version() -> str:
    try:
        return metadata.version("obisgate")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


def device_node(device: DiscoveryDevice) -> str:
    """The device's node id and the prefix of its unique ids: ``obisgate_<identity>``,
    or ``obisgate_<device alias>`` for a meter with neither a serial number in its
    readout nor an address."""
    return _safe(f"obisgate_{device.identity or device.alias}")


def legacy_node(device: DiscoveryDevice, client_id: str) -> str:
    """The node id discovery used before meters were keyed on their identity:
    ``obisgate_<serialnumber>``, or ``obisgate_<client_id>_<alias>`` without an address."""
    key = device.serialnumber if device.serialnumber != "0" else f"{client_id}_{device.alias}"
    return _safe(f"obisgate_{key}")


def _device_block(device: DiscoveryDevice, node: str) -> dict[str, Any]:
    block: dict[str, Any] = {"identifiers": [node], "name": device.name}
    model = device.model
    ident = device.parsed_identification
    if ident is not None:
        block["manufacturer"] = manufacturer_name(ident.manufacturer)
        model = model or ident.identification or None
    if model:
        block["model"] = model
    serial = device.serial or (device.serialnumber if device.serialnumber != "0" else None)
    if serial is not None:
        block["serial_number"] = serial
    return block


def _config_topic(discovery_prefix: str, node: str, signal: str) -> str:
    return f"{discovery_prefix}/sensor/{node}/{_safe(signal)}/config"


def legacy_removals(
    device: DiscoveryDevice, *, discovery_prefix: str, legacy_client_id: str
) -> list[tuple[str, bytes]]:
    """Empty retained configs on the topics of :func:`legacy_node` (which remove those
    entities from Home Assistant); none when the legacy node is the node itself."""
    old = legacy_node(device, legacy_client_id)
    if old == device_node(device):
        return []
    objects = [*(s.alias for s in device.signals), STATUS_SIGNAL]
    return [(_config_topic(discovery_prefix, old, name), b"") for name in objects]


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
    node = device_node(device)
    gateway = gateway_availability_topic(topic_prefix, client_id)
    own = device_availability_topic(topic_prefix, device.alias)
    block = _device_block(device, node)
    ident = device.parsed_identification
    manufacturer = ident.manufacturer if ident is not None else None
    origin = {"name": "obisgate", "sw_version": _version()}
    messages: list[tuple[str, bytes]] = []
    for signal in device.signals:
        unit, device_class, state_class = infer_classes(
            signal.unit,
            names=(signal.alias, signal.name),
            device_class=signal.ha_device_class,
            state_class=signal.ha_state_class,
            numeric=signal.numeric,
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
        topic = _config_topic(discovery_prefix, node, signal.alias)
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
    topic = _config_topic(discovery_prefix, node, STATUS_SIGNAL)
    messages.append((topic, json.dumps(status, ensure_ascii=False).encode()))
    return messages
