"""A meter's identity as its readout states it: the serial number (pure).

A meter's request address (the configuration's ``serialnumber``) is what the
gateway sends to select it on a line; it may differ from the serial number the
meter was made with (an E350 answers to ``00188123`` and carries ``C.1.0``
``12314330``), and it is ``0`` for a meter read without one. What identifies the
meter for consumers that keep its history (Home Assistant's entities) is the
serial number in its readout, taken from the first of :data:`SERIAL_REGISTERS`
the readout holds with a usable value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from obisgate import DataSet

__all__ = ["SERIAL_REGISTERS", "meter_serial"]

#: Registers (value groups C.D.E) that carry a serial number, the most specific first:
#: the manufacturer's serial number, the device ids (eHZ server id 96.1.255, DSMR
#: equipment identifier 96.1.1), then the device address the utility set.
SERIAL_REGISTERS = ("C.1.0", "96.1.0", "96.1.255", "96.1.1", "0.0.0")

_ADDRESS = re.compile(r"(?:\d+-\d+:)?(?P<cde>[0-9A-Z]+\.\d+\.\d+)(?:\*(?:255))?")
_USABLE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}")
_BLANKS = " \t\0"
#: How those addresses end: a cheap test before the pattern (every readout passes here).
_ENDINGS = tuple(e for code in SERIAL_REGISTERS for e in (code, f"{code}*255"))
#: Their last five characters: a set lookup rules out most addresses before ``endswith``
#: tries all ten endings (every ending is at least five characters long).
_TAILS = frozenset(e[-5:] for e in _ENDINGS)
_FIRST = SERIAL_REGISTERS[0]


def meter_serial(datasets: Iterable[DataSet]) -> str | None:
    """The serial number a readout carries, or ``None``.

    The value of the first register of :data:`SERIAL_REGISTERS` present (in any
    spelling: ``C.1.0``, ``1-0:0.0.0*255``) whose first value is 1-64 letters,
    digits, blanks, ``.``, ``_`` or ``-`` and not only zeros; NUL and blank
    padding are removed, leading zeros kept (the identity is the text as sent).
    """
    found: dict[str, str] = {}
    for dataset in datasets:
        address = dataset.address
        if address[-5:] not in _TAILS or not address.endswith(_ENDINGS):
            continue
        match = _ADDRESS.fullmatch(address)
        if match is None or match["cde"] not in SERIAL_REGISTERS or not dataset.values:
            continue
        text = dataset.values[0].value.strip(_BLANKS)
        cde = match["cde"]
        if _USABLE.fullmatch(text) and text.strip("0 ") and cde not in found:
            if cde == _FIRST:
                return text  # nothing later can take precedence
            found[cde] = text
    return next((found[code] for code in SERIAL_REGISTERS if code in found), None)
