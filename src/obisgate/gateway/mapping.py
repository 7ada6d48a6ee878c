"""Turn one readout into signal updates: find each signal's data set, convert its value."""

from __future__ import annotations

from datetime import datetime

from obisgate import DataSet, Readout, Value, data_access_error
from obisgate.gateway.numbers import Converted, convert
from obisgate.gateway.plan import DevicePlan, SignalPlan
from obisgate.gateway.quality import Quality
from obisgate.gateway.updates import SignalUpdate, signal_update

__all__ = ["extract_value", "map_readout"]


def extract_value(signal: SignalPlan, dataset: DataSet | None) -> Converted:
    """Convert ``signal``'s value from the data set with its address.

    Args:
        signal: which value group / sub-value, converted how.
        dataset: the data set whose address is the signal's tag, or ``None``
            when the readout did not contain it.

    Returns:
        NOT_TOPICAL (value ``None``) when ``dataset`` is ``None``; INVALID when
        the value group or sub-value does not exist; otherwise as
        :func:`~obisgate.gateway.numbers.convert` (INVALID / OVERFLOW never
        carry a value).
    """
    if dataset is None:
        return Converted(None, Quality.NOT_TOPICAL, signal.unit, "", f"{signal.tag} not in readout")
    value = dataset.values[signal.value_index] if signal.value_index < len(dataset.values) else None
    if value is not None and signal.subvalue is not None:
        parts = value.subvalues
        value = parts[signal.subvalue] if signal.subvalue < len(parts) else None
    refused = None if value is None else data_access_error(value)
    if refused is not None:  # a DLMS meter could not give this object
        return Converted(None, Quality.INVALID, signal.unit, refused, f"{signal.tag}: {refused}")
    if value is None:
        where = f"value group {signal.value_index + 1}"
        if signal.subvalue is not None:
            where += f" sub-value {signal.subvalue + 1}"
        return Converted(None, Quality.INVALID, signal.unit, "", f"{signal.tag} has no {where}")
    return _convert(signal, value)


def _convert(signal: SignalPlan, value: Value) -> Converted:
    """``value`` converted as ``signal`` says (:func:`~obisgate.gateway.numbers.convert`)."""
    return convert(
        value,
        signal.number_type,
        multiply=signal.multiply,
        add=signal.add,
        decimal_comma=signal.decimal_comma,
        unit=signal.unit,
    )


def map_readout(plan: DevicePlan, readout: Readout, now: datetime) -> list[SignalUpdate]:
    """One update per signal of ``plan``, from ``readout`` (see :func:`extract_value`).

    A signal is matched to the data set whose address is exactly its tag; a
    missing address is flagged not topical with no value, never kept silently
    from an earlier readout.
    """
    device = plan.alias
    get = readout.get
    updates: list[SignalUpdate] = []
    for signal in plan.signals:
        dataset = get(signal.tag)
        if (
            dataset is not None
            and signal.subvalue is None
            and signal.value_index < len(dataset.values)
            and (value := dataset.values[signal.value_index]).value
        ):
            # The usual case, as extract_value takes it: a value with text (so no
            # DLMS data-access result) and no sub-value to pick.
            converted = _convert(signal, value)
        else:
            converted = extract_value(signal, dataset)
        updates.append(
            signal_update(
                device,
                signal.alias,
                converted.value,
                converted.unit,
                now,
                converted.quality,
                converted.raw or None,
                signal.log,
            )
        )
    return updates
