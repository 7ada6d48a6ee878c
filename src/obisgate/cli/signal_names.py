"""Readable signal aliases for the registers a meter sends, used by ``init`` and ``probe``.

The names come from the OBIS catalogue (:mod:`obisgate.obis`); an address the
catalogue does not know becomes an alias itself.
"""

from __future__ import annotations

import re

from obisgate.obis import signal_name

__all__ = ["signal_alias_for", "unique_alias"]

_MAX = 64


def signal_alias_for(
    address: str, *, manufacturer: str | None = None, unit: str | None = None
) -> str:
    """A readable, valid ``signal_alias`` for a data set address.

    ``1.8.0`` and ``1-0:1.8.0*255`` give ``energy_import``, ``1.8.1`` gives
    ``energy_import_t1``, ``1.8.0*24`` (billing period 24) ``energy_import_p24``;
    an address the catalogue does not know is made into an alias itself
    (``1-0:99.1.0`` -> ``1-0_99.1.0``). ``manufacturer`` (the identification's
    three letters) and ``unit`` (as sent) let the catalogue pick a
    manufacturer's own codes and refuse a code whose unit contradicts it. Never
    empty, at most 64 characters of letters, digits, ``-``, ``_`` and ``.``
    (what the configuration accepts).
    """
    name = signal_name(address, manufacturer=manufacturer, unit=unit)
    if name is None:
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", address).strip("_") or "value"
    return name[:_MAX]


def unique_alias(alias: str, taken: set[str]) -> str:
    """``alias``, or ``alias_2``, ``alias_3``... when taken; the result is added to ``taken``."""
    candidate, n = alias, 2
    while candidate in taken:
        suffix = f"_{n}"
        candidate, n = alias[: _MAX - len(suffix)] + suffix, n + 1
    taken.add(candidate)
    return candidate
