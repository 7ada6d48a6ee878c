"""Home Assistant's rules for sensor classes, for the classes obisgate may announce (pure).

Home Assistant refuses a discovery config (or every state of it) when its unit
does not belong to its device class, when its state class does not fit the
device class, and when a numeric sensor (one with a unit, a state class or a
numeric device class) gets a state that is not a number. Both the
configuration check (:func:`~obisgate.gateway.outputs.mqtt.config.mqtt_signal_problems`)
and discovery (:mod:`.ha_discovery`) follow these tables; units are spelled as
:func:`obisgate.gateway.units.normalise_unit` writes them, which is Home
Assistant's spelling.
"""

from __future__ import annotations

__all__ = [
    "DEVICE_CLASS_STATE_CLASSES",
    "DEVICE_CLASS_UNITS",
    "HA_DEVICE_CLASSES",
    "HA_STATE_CLASSES",
    "NON_NUMERIC_DEVICE_CLASSES",
    "class_problems",
]

_TOTALS = frozenset({"total", "total_increasing"})
_MEASUREMENT = frozenset({"measurement"})
_VOLUMES = frozenset({"mL", "L", "m³", "ft³", "CCF", "MCF", "gal"})

#: The units Home Assistant accepts for each device class obisgate may announce
#: (``None``: no unit); a class not listed takes any unit.
DEVICE_CLASS_UNITS: dict[str, frozenset[str | None]] = {
    "energy": frozenset(
        {"J", "kJ", "MJ", "GJ", "mWh", "Wh", "kWh", "MWh", "GWh", "TWh", "cal", "kcal", "Mcal"}
        | {"Gcal"}
    ),
    "reactive_energy": frozenset({"varh", "kvarh"}),
    "power": frozenset({"mW", "W", "kW", "MW", "GW", "TW"}),
    "reactive_power": frozenset({"mvar", "var", "kvar"}),
    "apparent_power": frozenset({"mVA", "VA", "kVA"}),
    "voltage": frozenset({"µV", "mV", "V", "kV", "MV"}),
    "current": frozenset({"mA", "A"}),
    "frequency": frozenset({"Hz", "kHz", "MHz", "GHz"}),
    "temperature": frozenset({"°C", "°F", "K"}),
    "gas": frozenset({"m³", "L", "ft³", "CCF", "MCF"}),
    "water": frozenset({"m³", "L", "ft³", "CCF", "MCF", "gal"}),
    "volume": _VOLUMES,
    "volume_flow_rate": frozenset(
        {"m³/h", "m³/min", "m³/s", "L/h", "L/min", "L/s", "mL/s", "ft³/min", "gal/min"}
    ),
    "duration": frozenset({"d", "h", "min", "s", "ms", "µs"}),
    "pressure": frozenset(
        {"mbar", "cbar", "bar", "mPa", "Pa", "hPa", "kPa", "inHg", "psi", "mmHg", "inH₂O"}
    ),
    "power_factor": frozenset({"%", None}),
    "timestamp": frozenset({None}),
    "date": frozenset({None}),
}

#: The state classes Home Assistant accepts for each device class (empty: none).
DEVICE_CLASS_STATE_CLASSES: dict[str, frozenset[str]] = {
    "energy": _TOTALS,
    "reactive_energy": _TOTALS,
    "gas": _TOTALS,
    "water": _TOTALS,
    "volume": _TOTALS,
    "duration": frozenset({"measurement", "total", "total_increasing"}),
    "timestamp": frozenset(),
    "date": frozenset(),
    **dict.fromkeys(
        (
            "power",
            "reactive_power",
            "apparent_power",
            "voltage",
            "current",
            "frequency",
            "temperature",
            "volume_flow_rate",
            "pressure",
            "power_factor",
        ),
        _MEASUREMENT,
    ),
}

#: Device classes whose state is text (a date, a time stamp), never a number.
NON_NUMERIC_DEVICE_CLASSES = frozenset({"timestamp", "date"})

#: Sensor device classes obisgate may announce (``none``: no class).
HA_DEVICE_CLASSES = (*DEVICE_CLASS_UNITS, "none")
#: Sensor state classes (``none``: no class).
HA_STATE_CLASSES = ("measurement", "total", "total_increasing", "none")


def _listed(units: frozenset[str | None]) -> str:
    names = sorted(u for u in units if u is not None)
    text = ", ".join(names)
    return f"{text} or no unit" if None in units else text


def class_problems(
    device_class: str | None, state_class: str | None, unit: str | None, *, numeric: bool
) -> list[tuple[str, str]]:
    """``(field, message)`` for each rule of Home Assistant a sensor would break.

    Args:
        device_class, state_class: the classes it would be announced with
            (``None``: none).
        unit: its unit as normalised (``None``: none, or not known before run time:
            then the unit is not checked).
        numeric: whether its value is a number (FLOAT, DOUBLE, the integer types).
    """
    problems: list[tuple[str, str]] = []
    if not numeric:
        if device_class is not None and device_class not in NON_NUMERIC_DEVICE_CLASSES:
            problems.append(
                ("ha_device_class", f"{device_class} needs a number; this signal's value is text")
            )
        if state_class is not None:
            problems.append(
                ("ha_state_class", f"{state_class} needs a number; this signal's value is text")
            )
        return problems
    if device_class is None:
        return problems
    if device_class in NON_NUMERIC_DEVICE_CLASSES:
        problems.append(
            ("ha_device_class", f"{device_class} is for text values (DATE, DATETIME, STRING)")
        )
        return problems
    allowed = DEVICE_CLASS_UNITS.get(device_class)
    if unit is not None and allowed is not None and unit not in allowed:
        problems.append(
            (
                "ha_device_class",
                f"{device_class} needs {_listed(allowed)}; the signal's unit is {unit!r}",
            )
        )
    states = DEVICE_CLASS_STATE_CLASSES.get(device_class)
    if state_class is not None and states is not None and state_class not in states:
        wanted = " or ".join(sorted(states)) or "no state class"
        problems.append(
            (
                "ha_state_class",
                f"{device_class} needs {wanted} (Home Assistant refuses {state_class})",
            )
        )
    return problems
