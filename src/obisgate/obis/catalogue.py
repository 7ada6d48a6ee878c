"""The OBIS catalogue (``catalogue.toml`` in this package) and its lookup.

:func:`describe` answers, for an address as a meter prints it, the register's
stable short name (a valid signal alias), a one-line description, the usual
unit and the Home Assistant device and state classes; ``None`` when the
catalogue does not know the code. Any spelling works: ``1.8.0``,
``1-0:1.8.0*255``, ``1.8.0*24`` (billing period 24: ``energy_import_p24``),
``1.8.0&24``, ``1.8.1`` (tariff 1: ``energy_import_t1``).

Rules, in order:

1. When ``manufacturer`` (the identification's three letters) belongs to a
   family (e.g. Landis+Gyr heat meters, ``LUG``), that family's codes are
   looked up by their exact text first, and electricity codes are not composed
   for it (its ``6.8`` is heat energy, not reactive energy).
2. Single codes (``[[code]]``): general purpose objects, service entries
   (``C.x.y``), error registers (``F.F``), DSMR P1 codes.
3. Electricity (A 1 or not written): value group C (what: import, export,
   reactive, voltage ...; L1-L3 as C + 20/40/60) composed with D (how:
   instantaneous, meter reading, maximum ...), E the tariff.

A name is given only for channel 0 (B 0 or not written): ``1-1:1.8.0`` is
described but has no name, so it is never confused with "the" import register.
When ``unit`` is given and contradicts the register's usual unit (``MWh`` for
a reactive register), the code is unknown rather than misnamed.
"""

from __future__ import annotations

import functools
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from obisgate.obis.address import ObisAddress, parse_address

__all__ = ["ObisInfo", "describe", "description", "label_of", "signal_name"]

_ALIAS = re.compile(r"[A-Za-z0-9_.-]{1,64}")
#: The catalogue, beside this module.
_DATA = Path(__file__).with_name("catalogue.toml")

#: Unit families: a register whose usual unit is in one family is unknown for another.
_UNIT_FAMILIES: dict[str, str] = {
    **dict.fromkeys(("wh", "kwh", "mwh", "gwh", "mj", "gj"), "energy"),
    **dict.fromkeys(("varh", "kvarh", "mvarh"), "reactive_energy"),
    **dict.fromkeys(("vah", "kvah", "mvah"), "apparent_energy"),
    **dict.fromkeys(("w", "kw", "mw"), "power"),
    **dict.fromkeys(("var", "kvar", "mvar"), "reactive_power"),
    **dict.fromkeys(("va", "kva", "mva"), "apparent_power"),
    **dict.fromkeys(("a", "ma", "ka"), "current"),
    **dict.fromkeys(("v", "kv", "mv"), "voltage"),
    "hz": "frequency",
    **dict.fromkeys(("c", "°c", "degc", "k"), "temperature"),
    **dict.fromkeys(("m3", "m³", "l"), "volume"),
    **dict.fromkeys(("m3/h", "m³/h", "m3ph", "l/h"), "flow"),
    **dict.fromkeys(("h", "min", "s", "secs"), "time"),
    **dict.fromkeys(("deg", "°"), "angle"),
}

#: Usual unit and Home Assistant classes per kind of electricity quantity:
#: (power unit, device class), (energy unit, device class).
_KINDS: dict[str, tuple[tuple[str | None, str | None], tuple[str | None, str | None]]] = {
    "active": (("kW", "power"), ("kWh", "energy")),
    "reactive": (("kvar", "reactive_power"), ("kvarh", None)),
    "apparent": (("kVA", "apparent_power"), ("kVAh", None)),
    "current": (("A", "current"), (None, None)),
    "voltage": (("V", "voltage"), (None, None)),
    "power_factor": ((None, "power_factor"), (None, None)),
    "frequency": (("Hz", "frequency"), (None, None)),
    "unitless": ((None, None), (None, None)),
}
_POWER_KINDS = frozenset({"active", "reactive", "apparent", "unitless"})


@dataclass(frozen=True, slots=True)
class ObisInfo:
    """What the catalogue knows about one address.

    Attributes:
        address: the address as given.
        name: a stable short name, a valid signal alias; ``None`` when the
            register has no name of its own (another channel than 0).
        description: one line for people.
        unit: the usual unit (meters may send another scale, e.g. W for kW).
        ha_device_class: Home Assistant device class, or ``None``.
        ha_state_class: Home Assistant state class, or ``None``.
        medium: electricity, abstract, gas, heat or water.
    """

    address: str
    name: str | None
    description: str
    unit: str | None = None
    ha_device_class: str | None = None
    ha_state_class: str | None = None
    medium: str = "electricity"

    @property
    def label(self) -> str | None:
        """The name for people (``energy_import_t1`` -> ``Energy import T1``), e.g. a Home
        Assistant entity name; ``None`` without a name."""
        return None if self.name is None else label_of(self.name)


#: Words of the short names written otherwise in a label.
_LABEL_WORDS = {"id": "ID", "dsmr": "DSMR", "lg": "L+G", "ultraheat": "Ultraheat"}
_LABEL_CODE = re.compile(r"([tlpqiu])(\d+)")
_LABEL_MBUS = re.compile(r"mbus(\d+)")


@functools.lru_cache(maxsize=4096)
def label_of(name: str) -> str:
    """A short name as a label: words apart, the first capitalised, tariffs, phases,
    quadrants, periods and channels in capitals (``voltage_l1`` -> ``Voltage L1``,
    ``mbus1_reading`` -> ``M-Bus 1 reading``)."""
    words = []
    for word in re.split(r"[_-]+", name):
        if not word:
            continue
        if word in _LABEL_WORDS:
            words.append(_LABEL_WORDS[word])
        elif _LABEL_CODE.fullmatch(word):
            words.append(word.upper())
        elif match := _LABEL_MBUS.fullmatch(word):
            words.append(f"M-Bus {match.group(1)}")
        else:
            words.append(word)
    if not words:
        return name
    first = words[0]
    words[0] = first[:1].upper() + first[1:]
    return " ".join(words)


@dataclass(frozen=True, slots=True)
class _Entry:
    """A single code of the catalogue (``[[code]]`` or a family's code)."""

    obis: ObisAddress | None
    literal: str
    channels: tuple[int, ...]
    name: str
    text: str
    unit: str | None
    device_class: str | None
    state_class: str | None
    medium: str

    def info(self, channel: int) -> tuple[str, str]:
        """Name and description, with ``{b}`` replaced by the channel."""
        return self.name.format(b=channel), self.text.format(b=channel)


@dataclass(frozen=True, slots=True)
class _Quantity:
    key: str
    kind: str
    power: str
    energy: str | None
    text: str
    energy_text: str | None
    phase_text: str | None
    net: bool


@dataclass(frozen=True, slots=True)
class _Processing:
    name: str
    other: str | None
    text: str
    reading: str


@dataclass(frozen=True, slots=True)
class _Family:
    name: str
    manufacturers: frozenset[str]
    codes: dict[str, _Entry]


@dataclass(frozen=True, slots=True)
class _Catalogue:
    codes: dict[tuple[int, int, int], list[_Entry]]
    quantities: dict[int, _Quantity]
    processing: dict[int, _Processing]
    families: tuple[_Family, ...]


def _medium(obis: ObisAddress | None, default: str) -> str:
    if obis is None or obis.a is None:
        return default
    return {0: "abstract", 1: "electricity", 6: "heat", 7: "gas", 8: "water", 9: "water"}.get(
        obis.a, default
    )


def _entry(raw: dict[str, Any], default_medium: str) -> _Entry:
    address = str(raw["address"])
    obis = parse_address(address)
    channels = tuple(int(b) for b in raw.get("channels", ()))
    if not channels:
        channels = (obis.b if obis is not None and obis.b is not None else 0,)
    medium = _medium(obis, default_medium)
    if obis is not None and obis.a is None and (obis.c == 0 or obis.c >= 96):
        medium = "abstract"
    return _Entry(
        obis=obis,
        literal=address,
        channels=channels,
        name=str(raw["name"]),
        text=str(raw["text"]),
        unit=raw.get("unit"),
        device_class=raw.get("ha_device_class"),
        state_class=raw.get("ha_state_class"),
        medium=medium,
    )


@functools.cache
def _catalogue() -> _Catalogue:
    """The packaged catalogue, read once."""
    text = _DATA.read_text(encoding="utf-8")
    data = tomllib.loads(text)
    codes: dict[tuple[int, int, int], list[_Entry]] = {}
    for raw in data.get("code", ()):
        entry = _entry(raw, "electricity")
        assert entry.obis is not None, entry.literal
        key = (entry.obis.c, entry.obis.d, entry.obis.e or 0)
        codes.setdefault(key, []).append(entry)
    electricity = data["electricity"]
    quantities = {
        int(c): _Quantity(
            key=q["key"],
            kind=q["kind"],
            power=q["power"],
            energy=q.get("energy"),
            text=q["text"],
            energy_text=q.get("energy_text"),
            phase_text=q.get("phase_text"),
            net=bool(q.get("net", False)),
        )
        for c, q in electricity["quantity"].items()
    }
    processing = {
        int(d): _Processing(
            name=p["name"], other=p.get("other"), text=p["text"], reading=p["reading"]
        )
        for d, p in electricity["processing"].items()
    }
    families = tuple(
        _Family(
            name=f["name"],
            manufacturers=frozenset(m.upper() for m in f["manufacturers"]),
            codes={c["address"]: _entry(c, f.get("medium", "electricity")) for c in f["code"]},
        )
        for f in data.get("family", ())
    )
    return _Catalogue(codes, quantities, processing, families)


def _unit_fits(usual: str | None, given: str | None) -> bool:
    if not usual or not given or not given.strip():
        return True
    usual_family = _UNIT_FAMILIES.get(usual.lower())
    given_family = _UNIT_FAMILIES.get(given.strip().lower())
    return usual_family is None or given_family is None or usual_family == given_family


def _suffixes(obis: ObisAddress | None, name: str | None, text: str) -> tuple[str | None, str]:
    """Add the billing period (F) and the channel (B) to a name and a description."""
    if obis is not None and obis.f is not None:
        text += f", billing period {obis.f}"
        if name is not None:
            name = f"{name}_p{obis.f}"
    if name is not None and not _ALIAS.fullmatch(name):
        name = None
    return name, text


def _family_info(
    catalogue: _Catalogue, address: str, manufacturer: str | None
) -> tuple[_Family | None, ObisInfo | None]:
    if not manufacturer:
        return None, None
    family = next((f for f in catalogue.families if manufacturer.upper() in f.manufacturers), None)
    if family is None:
        return None, None
    base = re.split(r"[*&]", address.strip(), maxsplit=1)[0]
    entry = family.codes.get(base)
    if entry is None:
        return family, None
    period = re.search(r"[*&](\d{1,3})$", address.strip())
    name, text = entry.name, entry.text
    if period is not None and int(period[1]) != 255:
        name, text = f"{name}_p{int(period[1])}", f"{text}, billing period {int(period[1])}"
    info = ObisInfo(
        address, name, text, entry.unit, entry.device_class, entry.state_class, entry.medium
    )
    return family, info


def _single(catalogue: _Catalogue, address: str, obis: ObisAddress) -> ObisInfo | None:
    for entry in catalogue.codes.get((obis.c, obis.d, obis.e or 0), ()):
        want = entry.obis
        assert want is not None
        if want.a is None:
            if obis.a not in (None, 0, 1) or (obis.b or 0) not in entry.channels:
                continue
        elif obis.a != want.a or obis.b is None or obis.b not in entry.channels:
            continue
        base_name, base_text = entry.info(obis.b or 0)
        name, text = _suffixes(obis, base_name, base_text)
        return ObisInfo(
            address, name, text, entry.unit, entry.device_class, entry.state_class, entry.medium
        )
    return None


def _composed(catalogue: _Catalogue, address: str, obis: ObisAddress) -> ObisInfo | None:
    if obis.a not in (None, 1):
        return None
    c, phase = obis.c, 0
    if 21 <= c <= 80:
        phase, c = (c - 1) // 20, (c - 1) % 20 + 1
    quantity = catalogue.quantities.get(c)
    processing = catalogue.processing.get(obis.d)
    if quantity is None or processing is None:
        return None
    tariff = 0 if obis.e in (None, 255) else obis.e
    if obis.d == 7 and tariff:
        return None  # an instantaneous value's E is not a tariff: not in the catalogue
    energy = processing.reading == "energy"
    if energy and quantity.energy is None:
        return None
    power_like = quantity.kind in _POWER_KINDS
    template = processing.name if power_like or processing.other is None else processing.other
    name = template.format(key=quantity.key, power=quantity.power, energy=quantity.energy)
    base_text = (quantity.energy_text if energy else quantity.text) or quantity.text
    if phase:
        name += f"_l{phase}"
        base_text = quantity.phase_text if quantity.phase_text and not energy else base_text
        base_text = f"L{phase} {base_text[0].lower()}{base_text[1:]}"
    if energy:
        text = base_text if obis.d == 8 else f"{base_text}, {processing.text}"
    else:
        text = f"{base_text}, {processing.text}"
    if obis.d != 7:
        text += f", tariff {tariff}" if tariff else ", total"
        if tariff:
            name += f"_t{tariff}"
    (power_unit, power_class), (energy_unit, energy_class) = _KINDS[quantity.kind]
    unit, device_class = (energy_unit, energy_class) if energy else (power_unit, power_class)
    if energy:
        state_class = "total" if quantity.net or obis.d == 9 else "total_increasing"
    else:
        state_class = "measurement"
    if (obis.b or 0) != 0:
        text += f", channel {obis.b}"
        return ObisInfo(
            address, None, _suffixes(obis, None, text)[1], unit, device_class, state_class
        )
    final_name, text = _suffixes(obis, name, text)
    return ObisInfo(address, final_name, text, unit, device_class, state_class)


@functools.lru_cache(maxsize=8192)
def describe(
    address: str, *, manufacturer: str | None = None, unit: str | None = None
) -> ObisInfo | None:
    """What the catalogue knows about ``address`` (see the module docstring).

    Args:
        address: the address exactly as the meter prints it.
        manufacturer: the identification's three letters, if known (selects a
            manufacturer's family of codes).
        unit: the unit the meter sent, if any (a contradicting unit makes the
            code unknown).

    Returns:
        The entry, or ``None`` for a code the catalogue does not know.
    """
    catalogue = _catalogue()
    family, info = _family_info(catalogue, address, manufacturer)
    if info is None:
        obis = parse_address(address)
        if obis is None:
            return None
        info = _single(catalogue, address, obis)
        if info is None and family is None:
            info = _composed(catalogue, address, obis)
    if info is None or not _unit_fits(info.unit, unit):
        return None
    return info


def description(address: str, manufacturer: str | None, unit: str | None) -> str | None:
    """The catalogue's description of ``address``, or ``None`` (see :func:`describe`)."""
    info = describe(address, manufacturer=manufacturer, unit=unit)
    return None if info is None else info.description


def signal_name(
    address: str, *, manufacturer: str | None = None, unit: str | None = None
) -> str | None:
    """The catalogue's short name for ``address``, or ``None`` (see :func:`describe`)."""
    info = describe(address, manufacturer=manufacturer, unit=unit)
    return None if info is None else info.name
