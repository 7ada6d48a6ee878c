"""OBIS addresses as D0 meters print them, split into value groups.

A readout address is text (``1.8.0``, ``1-0:1.8.0*255``, ``1.8.0&01``,
``C.1.0``, ``F.F``, ``32.7``); :func:`parse_address` splits it into the value
groups A to F without judging what they mean. The D0 letters of value groups C
and D stand for numbers (``C`` 96, ``F`` 97, ``L`` 98, ``P`` 99: the VDEW
convention, docs/iec62056-21.md section 9.1); ``&`` before F is read like ``*``;
F 255 means the current value and is dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["ObisAddress", "parse_address"]

_LETTERS = {"C": 96, "F": 97, "L": 98, "P": 99}
_ADDRESS = re.compile(
    r"(?:(?P<a>\d{1,3})-(?P<b>\d{1,3}):)?"
    r"(?P<c>\d{1,3}|[CFLP])\.(?P<d>\d{1,3}|[CFLP])(?:\.(?P<e>\d{1,3}))?"
    r"(?:[*&](?P<f>\d{1,3}))?"
)


@dataclass(frozen=True, slots=True)
class ObisAddress:
    """The value groups of one address (``None``: not written).

    Attributes:
        a: medium (1 electricity, 0 abstract, 6 heat, 7 gas, 8/9 water).
        b: channel.
        c, d, e: quantity, processing, tariff (or other use of E).
        f: billing period (``None`` for the current value).
    """

    a: int | None
    b: int | None
    c: int
    d: int
    e: int | None
    f: int | None

    @property
    def reduced(self) -> str:
        """``C.D.E`` with numbers (``96.1.0`` for ``C.1.0``), E 0 when not written."""
        return f"{self.c}.{self.d}.{self.e or 0}"


def _group(text: str) -> int:
    return _LETTERS[text] if text in _LETTERS else int(text)


def parse_address(address: str) -> ObisAddress | None:
    """The value groups of ``address``, or ``None`` when it is no OBIS code.

    Values above 255 (``1.999.0``) and other texts (``SNUMB``, ``P.01`` rows
    without a dot pair) give ``None``; the caller treats them as unknown.
    """
    match = _ADDRESS.fullmatch(address.strip())
    if match is None:
        return None
    a, b, e, f = (match[g] for g in "abef")
    values = [None if v is None else int(v) for v in (a, b, e, f)]
    c, d = _group(match["c"]), _group(match["d"])
    if any(v is not None and v > 255 for v in (*values, c, d)):
        return None
    a_val, b_val, e_val, f_val = values
    return ObisAddress(
        a=a_val,
        b=b_val,
        c=c,
        d=d,
        e=e_val,
        f=None if f_val == 255 else f_val,
    )
