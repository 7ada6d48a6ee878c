"""Signal updates: what the gateway publishes after every readout."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from obisgate.gateway.quality import Quality

__all__ = ["STATUS_SIGNAL", "SignalUpdate", "signal_update"]

#: Alias of the per-device status signal ("ok", "no answer", "checksum error", ...).
#: After a successful readout its ``raw`` is the meter's identification line
#: (``/ISk5MT174-0001``) when the meter sent one, and its ``serial`` the serial
#: number the readout carries (:func:`obisgate.gateway.identity.meter_serial`).
STATUS_SIGNAL = "_status"


@dataclass(frozen=True, slots=True)
class SignalUpdate:
    """One signal's value at one moment.

    Attributes:
        device: device alias.
        signal: signal alias (:data:`STATUS_SIGNAL` for the device status).
        value: the converted value (number, text, date/time) or ``None``.
        unit: unit text or ``None``.
        time: when the value was read (UTC); for a not-topical value, when it
            was last read successfully.
        quality: quality flags.
        raw: the text the meter sent, when there was one.
        log: whether the history store keeps this update.
        serial: only in a ``_status`` update after a successful readout: the
            serial number the readout carries (``C.1.0``, ``96.1.0``, ``0.0.0`` ...),
            if any; what identifies the meter to Home Assistant.
    """

    device: str
    signal: str
    value: Any
    unit: str | None
    time: datetime
    quality: Quality
    raw: str | None = None
    log: bool = False
    serial: str | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (dates and times in ISO 8601)."""
        value = self.value
        if hasattr(value, "isoformat"):
            value = value.isoformat()
        return {
            "device": self.device,
            "signal": self.signal,
            "value": value,
            "unit": self.unit,
            "time": self.time.isoformat(timespec="milliseconds"),
            "quality": self.quality.to_json(),
        }


_new_object = object.__new__
_set_fields = tuple(
    getattr(SignalUpdate, name).__set__
    for name in ("device", "signal", "value", "unit", "time", "quality", "raw", "log", "serial")
)


def signal_update(
    device: str,
    signal: str,
    value: Any,
    unit: str | None,
    time: datetime,
    quality: Quality,
    raw: str | None = None,
    log: bool = False,
    serial: str | None = None,
) -> SignalUpdate:
    """``SignalUpdate(...)``, the same object, built through its slots: the frozen
    dataclass's ``__init__`` (a ``object.__setattr__`` per field) cost a few
    microseconds per signal of every readout."""
    update: SignalUpdate = _new_object(SignalUpdate)
    s_device, s_signal, s_value, s_unit, s_time, s_quality, s_raw, s_log, s_serial = _set_fields
    s_device(update, device)
    s_signal(update, signal)
    s_value(update, value)
    s_unit(update, unit)
    s_time(update, time)
    s_quality(update, quality)
    s_raw(update, raw)
    s_log(update, log)
    s_serial(update, serial)
    return update
