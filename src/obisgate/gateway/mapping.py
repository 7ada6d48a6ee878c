"""Turn one readout into signal updates: find each signal's data set, convert its value."""

from __future__ import annotations

from datetime import datetime

from obisgate.gateway.numbers import convert
from obisgate.gateway.plan import DevicePlan
from obisgate.gateway.quality import Quality
from obisgate.gateway.updates import SignalUpdate
from obisgate.protocol.readout import Readout

__all__ = ["MISSING", "map_readout"]

#: Quality of a signal whose address is not in an otherwise successful readout.
MISSING = Quality.INVALID | Quality.NOT_TOPICAL


def map_readout(plan: DevicePlan, readout: Readout, now: datetime) -> list[SignalUpdate]:
    """One update per signal of ``plan``, from ``readout``.

    A signal is matched to the data set whose address is exactly its tag. When
    the address is missing, or the value group / sub-value it names does not
    exist, the update has no value and quality :data:`MISSING` (never a value
    kept silently from an earlier readout).
    """
    updates: list[SignalUpdate] = []
    device = plan.alias
    for signal in plan.signals:
        dataset = readout.get(signal.tag)
        value = None
        if dataset is not None and signal.value_index < len(dataset.values):
            value = dataset.values[signal.value_index]
            if signal.subvalue is not None:
                parts = value.subvalues
                value = parts[signal.subvalue] if signal.subvalue < len(parts) else None
        if value is None:
            updates.append(
                SignalUpdate(
                    device, signal.alias, None, signal.unit, now, MISSING, None, signal.log
                )
            )
            continue
        converted = convert(
            value,
            signal.number_type,
            multiply=signal.multiply,
            add=signal.add,
            decimal_comma=signal.decimal_comma,
            unit=signal.unit,
        )
        updates.append(
            SignalUpdate(
                device,
                signal.alias,
                converted.value,
                converted.unit,
                now,
                converted.quality,
                value.raw,
                signal.log,
            )
        )
    return updates
