"""Units as every consumer of the gateway sees them: one spelling, one quantity (pure).

Meters write units their own way (``KWH``, ``m3``, ``m3ph``, ``kVArh``,
``degC``); :func:`normalise_unit` gives each known unit one spelling, the one
Home Assistant uses (``kWh``, ``m³``, ``m³/h``, ``kvarh``, ``°C``), once, where a
value is converted (:func:`obisgate.gateway.numbers.convert`), so JSON lines,
MQTT, the history, the API and the metrics agree. An unknown unit is kept as
sent (without surrounding blanks).

:func:`unit_info` tells what a (normalised) unit measures: its
:class:`Quantity` (the Prometheus metric it is converted into, in one base
unit per quantity) and the Home Assistant device class and default state class
(``None`` where Home Assistant has no class for it, e.g. apparent energy).

Case: an exact spelling wins (``mW`` is milliwatt, ``MW`` megawatt); otherwise
the unit is matched without case, and where that is ambiguous the larger
prefix is taken (``MWH``, ``mwh`` -> ``MWh``: no meter counts milliwatt-hours).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

__all__ = [
    "QUANTITIES",
    "Quantity",
    "UnitInfo",
    "known_spellings",
    "normalise_unit",
    "unit_info",
]


@dataclass(frozen=True, slots=True)
class Quantity:
    """A physical quantity and the one unit it is exposed in as a Prometheus metric.

    Attributes:
        name: ``energy``, ``power`` ...
        base: the unit every value of this quantity is converted to (``Wh``).
        metric: the Prometheus metric name, unit included (``obisgate_energy_watt_hours``;
            a counter gets ``_total`` from the exposition).
        counter: a meter register that only grows (energy, volume): exposed as
            a Prometheus counter.
        help: the metric's HELP text.
    """

    name: str
    base: str
    metric: str
    counter: bool
    help: str


@dataclass(frozen=True, slots=True)
class UnitInfo:
    """What a unit measures.

    Attributes:
        symbol: the unit's one spelling (``m³/h``).
        quantity: its quantity, ``None`` when it is not converted (kelvin: heat
            meters give temperature differences in K, which are no temperatures).
        factor: ``value * factor`` is the value in the quantity's base unit.
        device_class: the Home Assistant sensor device class, or ``None``.
        state_class: the Home Assistant state class a register in this unit has
            by default (``total_increasing`` for counters, ``measurement`` otherwise).
    """

    symbol: str
    quantity: Quantity | None
    factor: float
    device_class: str | None
    state_class: str


def _q(name: str, base: str, metric: str, help_text: str, *, counter: bool = False) -> Quantity:
    return Quantity(name, base, f"obisgate_{metric}", counter, help_text)


#: Every quantity obisgate converts, by name.
QUANTITIES: dict[str, Quantity] = {
    q.name: q
    for q in (
        _q("energy", "Wh", "energy_watt_hours", "Active energy register, in Wh.", counter=True),
        _q(
            "reactive_energy",
            "varh",
            "reactive_energy_var_hours",
            "Reactive energy register, in varh.",
            counter=True,
        ),
        _q(
            "apparent_energy",
            "VAh",
            "apparent_energy_volt_ampere_hours",
            "Apparent energy register, in VAh.",
            counter=True,
        ),
        _q("power", "W", "power_watts", "Active power, in W."),
        _q("reactive_power", "var", "reactive_power_vars", "Reactive power, in var."),
        _q("apparent_power", "VA", "apparent_power_volt_amperes", "Apparent power, in VA."),
        _q("voltage", "V", "voltage_volts", "Voltage, in V."),
        _q("current", "A", "current_amperes", "Current, in A."),
        _q("frequency", "Hz", "frequency_hertz", "Frequency, in Hz."),
        _q("temperature", "°C", "temperature_celsius", "Temperature, in °C."),
        _q(
            "volume",
            "m³",
            "volume_cubic_meters",
            "Volume register (gas, water, heat), in m³.",
            counter=True,
        ),
        _q(
            "volume_flow_rate",
            "m³/h",
            "volume_flow_cubic_meters_per_hour",
            "Volume flow rate, in m³/h.",
        ),
        _q("duration", "s", "duration_seconds", "Duration (operating time ...), in seconds."),
        _q("pressure", "Pa", "pressure_pascals", "Pressure, in Pa."),
    )
}

# (symbol, quantity, factor to the base unit, Home Assistant device class, spellings)
_TABLE: tuple[tuple[str, str | None, float, str | None, tuple[str, ...]], ...] = (
    ("mWh", "energy", 1e-3, "energy", ()),
    ("Wh", "energy", 1.0, "energy", ()),
    ("kWh", "energy", 1e3, "energy", ()),
    ("MWh", "energy", 1e6, "energy", ()),
    ("GWh", "energy", 1e9, "energy", ()),
    ("J", "energy", 1 / 3600, "energy", ()),
    ("kJ", "energy", 1e3 / 3600, "energy", ()),
    ("MJ", "energy", 1e6 / 3600, "energy", ()),
    ("GJ", "energy", 1e9 / 3600, "energy", ()),
    ("varh", "reactive_energy", 1.0, "reactive_energy", ()),
    ("kvarh", "reactive_energy", 1e3, "reactive_energy", ()),
    ("Mvarh", "reactive_energy", 1e6, None, ()),
    ("VAh", "apparent_energy", 1.0, None, ()),
    ("kVAh", "apparent_energy", 1e3, None, ()),
    ("MVAh", "apparent_energy", 1e6, None, ()),
    ("mW", "power", 1e-3, "power", ()),
    ("W", "power", 1.0, "power", ()),
    ("kW", "power", 1e3, "power", ()),
    ("MW", "power", 1e6, "power", ()),
    ("GW", "power", 1e9, "power", ()),
    ("mvar", "reactive_power", 1e-3, "reactive_power", ()),
    ("var", "reactive_power", 1.0, "reactive_power", ()),
    ("kvar", "reactive_power", 1e3, "reactive_power", ()),
    ("Mvar", "reactive_power", 1e6, None, ()),
    ("mVA", "apparent_power", 1e-3, "apparent_power", ()),
    ("VA", "apparent_power", 1.0, "apparent_power", ()),
    ("kVA", "apparent_power", 1e3, "apparent_power", ()),
    ("MVA", "apparent_power", 1e6, None, ()),
    ("mV", "voltage", 1e-3, "voltage", ()),
    ("V", "voltage", 1.0, "voltage", ()),
    ("kV", "voltage", 1e3, "voltage", ()),
    ("mA", "current", 1e-3, "current", ()),
    ("A", "current", 1.0, "current", ()),
    ("Hz", "frequency", 1.0, "frequency", ()),
    ("kHz", "frequency", 1e3, "frequency", ()),
    ("°C", "temperature", 1.0, "temperature", ("C", "degC", "deg C", "grdC", "°C")),
    ("K", None, 1.0, "temperature", ()),
    ("L", "volume", 1e-3, "volume", ("l", "dm3", "dm³", "ltr")),
    ("m³", "volume", 1.0, "volume", ("m3", "cbm")),
    ("m³/h", "volume_flow_rate", 1.0, "volume_flow_rate", ("m3/h", "m3ph", "m³ph", "m3h")),
    ("L/h", "volume_flow_rate", 1e-3, "volume_flow_rate", ("l/h", "lph")),
    ("L/min", "volume_flow_rate", 60e-3, "volume_flow_rate", ("l/min",)),
    ("s", "duration", 1.0, "duration", ("sec",)),
    ("min", "duration", 60.0, "duration", ()),
    ("h", "duration", 3600.0, "duration", ("hr", "hrs", "hours", "Std")),
    ("d", "duration", 86400.0, "duration", ("days",)),
    ("Pa", "pressure", 1.0, "pressure", ()),
    ("hPa", "pressure", 100.0, "pressure", ()),
    ("kPa", "pressure", 1e3, "pressure", ()),
    ("bar", "pressure", 1e5, "pressure", ()),
    ("mbar", "pressure", 100.0, "pressure", ()),
)
_INFO: dict[str, UnitInfo] = {}
_EXACT: dict[str, str] = {}
_FOLDED: dict[str, str] = {}
for _symbol, _quantity, _factor, _device_class, _spellings in _TABLE:
    _kind = None if _quantity is None else QUANTITIES[_quantity]
    _INFO[_symbol] = UnitInfo(
        _symbol,
        _kind,
        _factor,
        _device_class,
        "total_increasing" if _kind is not None and _kind.counter else "measurement",
    )
    for _text in (_symbol, *_spellings):
        _EXACT[_text] = _symbol
        folded = _text.casefold()
        known = _FOLDED.get(folded)
        # mW / MW: the larger factor wins a match without case.
        if known is None or _INFO[known].factor < _factor:
            _FOLDED[folded] = _symbol
# Written in capitals by some meters; "MA" would be mega-ampere, never on a meter.
_FOLDED["ma"] = "mA"
# Common plurals and variants spelled out.
for _text, _symbol in (("kVArh", "kvarh"), ("kVAr", "kvar"), ("VArh", "varh"), ("VAr", "var")):
    _EXACT[_text] = _symbol


@functools.lru_cache(maxsize=1024)
def normalise_unit(unit: str | None) -> str | None:
    """The one spelling of ``unit`` (``KWH`` -> ``kWh``, ``m3ph`` -> ``m³/h``); an
    unknown unit as sent without surrounding blanks (a blank one: ``""``); ``None``
    for none."""
    if unit is None:
        return None
    text = unit.strip()
    return _EXACT.get(text) or _FOLDED.get(text.casefold()) or text


def unit_info(unit: str | None) -> UnitInfo | None:
    """What ``unit`` (in any spelling :func:`normalise_unit` knows) measures, or
    ``None`` for an unknown unit or none."""
    symbol = normalise_unit(unit)
    return None if not symbol else _INFO.get(symbol)


def known_spellings() -> list[str]:
    """Every spelling :func:`normalise_unit` recognises exactly (for tests and docs)."""
    return sorted(_EXACT)
