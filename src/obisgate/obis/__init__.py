"""The OBIS catalogue: names, descriptions, units and classes of common registers.

Data in ``catalogue.toml``; lookup in :mod:`obisgate.obis.catalogue`; address
parsing in :mod:`obisgate.obis.address`. Pure: no I/O but reading the packaged
data once.
"""

from __future__ import annotations

from obisgate.obis.address import ObisAddress, parse_address
from obisgate.obis.catalogue import ObisInfo, describe, description, label_of, signal_name

__all__ = [
    "ObisAddress",
    "ObisInfo",
    "describe",
    "description",
    "label_of",
    "parse_address",
    "signal_name",
]
