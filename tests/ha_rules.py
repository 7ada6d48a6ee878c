"""Home Assistant's rules for an MQTT sensor discovery config, as a test oracle.

Written down from Home Assistant's sensor constants (``DEVICE_CLASS_UNITS``,
``DEVICE_CLASS_STATE_CLASSES``, the non-numeric classes) and the MQTT sensor's
discovery schema, independently of obisgate's own tables, so that a test can
tell whether a config obisgate publishes would be refused (or would refuse its
states). Value templates are rendered with jinja2 the way Home Assistant renders
them (``value`` and ``value_json``).
"""

from __future__ import annotations

import functools
import json
from typing import Any

import jinja2.sandbox

__all__ = ["ha_config_problems", "ha_state_problem", "render"]

_MEASUREMENT = {"measurement"}
_TOTALS = {"total", "total_increasing"}

#: Sensor device class -> the units Home Assistant accepts (None: no unit).
UNITS: dict[str, set[str | None]] = {
    "apparent_power": {"mVA", "VA", "kVA"},
    "current": {"A", "mA"},
    "duration": {"d", "h", "min", "s", "ms", "µs"},
    "energy": {
        "J",
        "kJ",
        "MJ",
        "GJ",
        "mWh",
        "Wh",
        "kWh",
        "MWh",
        "GWh",
        "TWh",
        "cal",
        "kcal",
        "Mcal",
        "Gcal",
    },
    "frequency": {"Hz", "kHz", "MHz", "GHz"},
    "gas": {"CCF", "ft³", "m³", "L", "MCF"},
    "power": {"mW", "W", "kW", "MW", "GW", "TW"},
    "power_factor": {"%", None},
    "pressure": {"mbar", "cbar", "bar", "mPa", "Pa", "hPa", "kPa", "inHg", "psi", "mmHg", "inH₂O"},
    "reactive_energy": {"varh", "kvarh"},
    "reactive_power": {"mvar", "var", "kvar"},
    "temperature": {"°C", "°F", "K"},
    "voltage": {"µV", "mV", "V", "kV", "MV"},
    "volume": {"mL", "L", "m³", "ft³", "CCF", "MCF", "fl. oz.", "gal"},
    "volume_flow_rate": {
        "m³/h",
        "m³/min",
        "m³/s",
        "L/h",
        "L/min",
        "L/s",
        "mL/s",
        "ft³/min",
        "gal/min",
    },
    "water": {"CCF", "ft³", "m³", "gal", "L", "MCF"},
}

#: Sensor device class -> the state classes Home Assistant accepts.
STATE_CLASSES: dict[str, set[str]] = {
    "apparent_power": _MEASUREMENT,
    "current": _MEASUREMENT,
    "date": set(),
    "duration": {"measurement", "total", "total_increasing"},
    "energy": _TOTALS,
    "enum": set(),
    "frequency": _MEASUREMENT,
    "gas": _TOTALS,
    "power": _MEASUREMENT,
    "power_factor": _MEASUREMENT,
    "pressure": _MEASUREMENT,
    "reactive_energy": _TOTALS,
    "reactive_power": _MEASUREMENT,
    "temperature": _MEASUREMENT,
    "timestamp": set(),
    "voltage": _MEASUREMENT,
    "volume": _TOTALS,
    "volume_flow_rate": _MEASUREMENT,
    "water": _TOTALS,
}
NON_NUMERIC = {"date", "enum", "timestamp"}
VALID_DEVICE_CLASSES = set(UNITS) | set(STATE_CLASSES)
VALID_STATE_CLASSES = {"measurement", "total", "total_increasing"}


def ha_config_problems(config: dict[str, Any]) -> list[str]:
    """What Home Assistant would refuse (or warn about and later refuse) in a sensor config."""
    problems: list[str] = []
    for key in ("state_topic", "unique_id", "device"):
        if key not in config:
            problems.append(f"no {key}")
    if not config.get("device", {}).get("identifiers"):
        problems.append("a device needs identifiers")
    device_class = config.get("device_class")
    state_class = config.get("state_class")
    unit = config.get("unit_of_measurement")
    if device_class is not None and device_class not in VALID_DEVICE_CLASSES:
        problems.append(f"unknown device class {device_class}")
    if state_class is not None and state_class not in VALID_STATE_CLASSES:
        problems.append(f"unknown state class {state_class}")
    if device_class in NON_NUMERIC and (unit is not None or state_class is not None):
        problems.append(f"{device_class} takes neither a unit nor a state class")
    if device_class in UNITS and unit not in UNITS[device_class]:
        problems.append(f"unit {unit!r} is not one of {device_class}")
    if (
        device_class in STATE_CLASSES
        and state_class is not None
        and state_class not in STATE_CLASSES[device_class]
    ):
        problems.append(f"state class {state_class} is not one of {device_class}")
    return problems


def numeric(config: dict[str, Any]) -> bool:
    """Whether Home Assistant treats the sensor as numeric (then every state must be a number)."""
    device_class = config.get("device_class")
    return (
        config.get("unit_of_measurement") is not None
        or config.get("state_class") is not None
        or (device_class is not None and device_class not in NON_NUMERIC)
    )


def render(template: str, payload: bytes) -> str:
    """Render a value template the way Home Assistant does (Jinja, value + value_json)."""
    text = payload.decode()
    try:
        value_json = json.loads(text)
    except ValueError:
        value_json = None
    return _compiled(template).render(value=text, value_json=value_json)


@functools.lru_cache(maxsize=1024)
def _compiled(template: str) -> jinja2.Template:
    return jinja2.sandbox.ImmutableSandboxedEnvironment().from_string(template)


def ha_state_problem(config: dict[str, Any], payload: bytes) -> str | None:
    """What Home Assistant says of the state ``payload`` gives this sensor (``None``: fine).

    A numeric sensor takes a number, or an empty state (ignored); any text is an error.
    """
    state = render(str(config["value_template"]), payload).strip()
    if not numeric(config) or state == "":
        return None
    try:
        float(state)
    except ValueError:
        return f"{config['unique_id']}: numeric sensor got the state {state!r}"
    return None
