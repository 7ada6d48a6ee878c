"""The readout message: one readout as one JSON document (pure).

The one format a readout travels in on its way to PostgreSQL, whichever way it
goes: the MQTT output's ``format = "json"`` payload (``<prefix>/<device>/state``
and the history partitions ``<prefix>/history/<p>/<device>``) and a row of the
``[postgres]`` output's outbox. :mod:`obisgate.gateway.readings.rows` reads it back::

    {"device": ALIAS, "time": ISO-8601, "status": TEXT,
     "updates": [{"device", "signal", "value", "unit", "time", "quality"}, ...]}

``updates`` are exactly the objects ``obisgate run --format jsonl`` prints for
that readout, the ``_status`` update included.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from json.encoder import c_encode_basestring, py_encode_basestring  # type: ignore[attr-defined]
from math import isfinite as _isfinite

from obisgate.gateway.quality import Quality
from obisgate.gateway.updates import STATUS_SIGNAL, SignalUpdate

__all__ = ["readout_payload", "readout_status"]


def readout_status(updates: Sequence[SignalUpdate]) -> SignalUpdate | None:
    """The ``_status`` update of a readout's batch, if it has one."""
    for update in reversed(updates):
        if update.signal == STATUS_SIGNAL:
            return update
    return None


def readout_payload(updates: Sequence[SignalUpdate]) -> bytes:
    """The message of one readout's batch (not empty), UTF-8 JSON.

    The bytes ``json.dumps(document, ensure_ascii=False, separators=(",", ":"))``
    gives for the document above, ``updates`` being ``[u.to_json() for u in
    updates]`` (property-tested); written one update at a time instead: a readout's
    device, time and "valid" quality are encoded once, and no dict is built per update.
    """
    status = readout_status(updates)
    first = status or updates[0]
    device = first.device
    quoted_device = _quote(device)
    last_time: object = None
    quoted_time = ""
    parts: list[str] = []
    add = parts.append
    for update in updates:
        time = update.time
        if time is not last_time:  # a readout's updates share one time
            quoted_time = _quote(time.isoformat(timespec="milliseconds"))
            last_time = time
        quality = update.quality
        unit = update.unit
        add(
            f'{{"device":{quoted_device if update.device is device else _quote(update.device)},'
            f'"signal":{_quote(update.signal)},"value":{_value(update.value)},'
            f'"unit":{"null" if unit is None else _quote(unit)},"time":{quoted_time},'
            f'"quality":{_VALID_JSON if quality is _VALID else _encode(quality.to_json())}}}'
        )
    status_value = "null" if status is None else _json(status.value)
    head = _quote(first.time.isoformat(timespec="milliseconds"))
    return (
        f'{{"device":{quoted_device},"time":{head},"status":{status_value},'
        f'"updates":[{",".join(parts)}]}}'
    ).encode()


def _value(value: object) -> str:
    """``value`` as :meth:`SignalUpdate.to_json` and ``json.dumps`` write it."""
    kind = type(value)
    if kind is float:
        return _float_repr(value) if _isfinite(value) else _encode(value)  # type: ignore[arg-type]
    if kind is str:
        return _quote(value)  # type: ignore[arg-type]
    if value is None:
        return "null"
    if kind is int:
        return _int_repr(value)
    if hasattr(value, "isoformat"):
        return _json(value.isoformat())
    return _encode(value)


def _json(value: object) -> str:
    """``value`` as ``json.dumps`` writes it (quickly for text)."""
    return _quote(value) if type(value) is str else _encode(value)


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
_encode = _ENCODER.encode
_quote = py_encode_basestring if c_encode_basestring is None else c_encode_basestring
_float_repr = float.__repr__
_int_repr = int.__repr__
_VALID = Quality.VALID
_VALID_JSON = _encode(Quality.VALID.to_json())
