"""Readable signal aliases for the common OBIS codes, used by ``obisgate init``."""

from __future__ import annotations

import re

__all__ = ["signal_alias_for", "unique_alias"]

#: C.D.E value groups (electricity) and their readable names.
_NAMES: dict[str, str] = {
    "1.8.0": "energy_import",
    "2.8.0": "energy_export",
    "3.8.0": "reactive_energy_import",
    "4.8.0": "reactive_energy_export",
    "15.8.0": "energy_absolute",
    "1.7.0": "power",
    "16.7.0": "power",
    "2.7.0": "power_export",
    "21.7.0": "power_l1",
    "41.7.0": "power_l2",
    "61.7.0": "power_l3",
    "32.7.0": "voltage_l1",
    "52.7.0": "voltage_l2",
    "72.7.0": "voltage_l3",
    "31.7.0": "current_l1",
    "51.7.0": "current_l2",
    "71.7.0": "current_l3",
    "91.7.0": "current_neutral",
    "14.7.0": "frequency",
    "13.7.0": "power_factor",
    "1.6.0": "max_demand_import",
    "2.6.0": "max_demand_export",
    "0.9.1": "time",
    "0.9.2": "date",
    "0.0.0": "meter_address",
    "C.1.0": "serial_number",
    "0.2.0": "firmware_version",
    "F.F.0": "error_code",
}
#: Registers per tariff: 1.8.1 -> energy_import_t1 ... 1.8.9 -> energy_import_t9.
_TARIFF_REGISTERS = {
    "1.8": "energy_import",
    "2.8": "energy_export",
    "3.8": "reactive_energy_import",
    "4.8": "reactive_energy_export",
}
_ADDRESS = re.compile(
    r"(?:(?P<medium>\d+)-(?P<channel>\d+):)?"
    r"(?P<c>[0-9A-Z]+)\.(?P<d>[0-9A-Z]+)(?:\.(?P<e>\d+))?"
    r"(?:\*(?P<f>\d+))?"
)
_MAX = 64


def signal_alias_for(address: str) -> str:
    """A readable, valid ``signal_alias`` for a data set address.

    ``1.8.0`` and ``1-0:1.8.0*255`` give ``energy_import``, ``1.8.1`` gives
    ``energy_import_t1``, ``1.8.0*24`` (billing period 24) ``energy_import_p24``;
    an unknown address is made into an alias itself (``C.7.0`` -> ``C.7.0``,
    ``1-0:99.1.0`` -> ``1-0_99.1.0``). Never empty, at most 64 characters of
    letters, digits, ``-``, ``_`` and ``.`` (what the configuration accepts).
    """
    name = _readable(address)
    if name is None:
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", address).strip("_") or "value"
    return name[:_MAX]


def _readable(address: str) -> str | None:
    match = _ADDRESS.fullmatch(address.strip())
    if match is None or match["medium"] not in (None, "1") or match["channel"] not in (None, "0"):
        return None
    c, d, e = match["c"], match["d"], match["e"] or "0"
    name = _NAMES.get(f"{c}.{d}.{e}")
    if name is None and e != "0" and f"{c}.{d}" in _TARIFF_REGISTERS:
        name = f"{_TARIFF_REGISTERS[f'{c}.{d}']}_t{int(e)}"
    if name is None:
        return None
    period = match["f"]
    return name if period in (None, "255") else f"{name}_p{int(period)}"


def unique_alias(alias: str, taken: set[str]) -> str:
    """``alias``, or ``alias_2``, ``alias_3``... when taken; the result is added to ``taken``."""
    candidate, n = alias, 2
    while candidate in taken:
        suffix = f"_{n}"
        candidate, n = alias[: _MAX - len(suffix)] + suffix, n + 1
    taken.add(candidate)
    return candidate
