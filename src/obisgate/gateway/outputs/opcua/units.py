"""Engineering units of OPC UA variables: a signal's unit text as EUInformation fields.

Pure. OPC UA Part 8 §5.6.3 maps units to the UNECE Recommendation 20 common
codes: the namespace ``http://www.opcfoundation.org/UA/units/un/cefact``, and
``UnitId`` = the code's characters as one integer (each character one octet,
the first the most significant). Units meters print that are known below get
their code; any other unit text keeps ``UnitId`` -1 ("no unit id") with the
text as display name, as Part 8 allows.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["UNECE_NAMESPACE", "Unit", "unit_id", "unit_of"]

UNECE_NAMESPACE = "http://www.opcfoundation.org/UA/units/un/cefact"

#: Unit text as meters and configurations write it -> (UNECE common code, description).
#: Case matters (mW is not MW); the upper-case spellings some meters use are listed.
_CODES: dict[str, tuple[str, str]] = {
    "Wh": ("WHR", "watt hour"),
    "kWh": ("KWH", "kilowatt hour"),
    "KWH": ("KWH", "kilowatt hour"),
    "MWh": ("MWH", "megawatt hour"),
    "GWh": ("GWH", "gigawatt hour"),
    "W": ("WTT", "watt"),
    "kW": ("KWT", "kilowatt"),
    "KW": ("KWT", "kilowatt"),
    "MW": ("MAW", "megawatt"),
    "kvar": ("KVR", "kilovar"),
    "kVAr": ("KVR", "kilovar"),
    "kVA": ("KVA", "kilovolt - ampere"),
    "V": ("VLT", "volt"),
    "kV": ("KVT", "kilovolt"),
    "A": ("AMP", "ampere"),
    "Hz": ("HTZ", "hertz"),
    "°C": ("CEL", "degree Celsius"),
    "K": ("KEL", "kelvin"),
    "m3": ("MTQ", "cubic metre"),
    "m³": ("MTQ", "cubic metre"),
    "m3/h": ("MQH", "cubic metre per hour"),
    "m³/h": ("MQH", "cubic metre per hour"),
    "l": ("LTR", "litre"),
    "L": ("LTR", "litre"),
    "J": ("JOU", "joule"),
    "bar": ("BAR", "bar"),
    "%": ("P1", "percent"),
    "s": ("SEC", "second"),
    "h": ("HUR", "hour"),
}


class Unit(NamedTuple):
    """The fields of an EUInformation.

    Attributes:
        unit_id: the UNECE code as an integer, or -1.
        display_name: the unit as the meter writes it.
        description: the UNECE name, or the unit text.
    """

    unit_id: int
    display_name: str
    description: str


def unit_id(code: str) -> int:
    """``"KWH"`` -> 0x4B5748: the characters of a UNECE common code as one integer."""
    value = 0
    for character in code:
        value = (value << 8) | ord(character)
    return value


def unit_of(text: str | None) -> Unit | None:
    """The EUInformation fields of a unit text; ``None`` for no unit (or an empty one)."""
    if text is None or not text.strip():
        return None
    shown = text.strip()
    known = _CODES.get(shown)
    if known is None:
        return Unit(-1, shown, shown)
    code, description = known
    return Unit(unit_id(code), shown, description)
