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

from obisgate.gateway.updates import STATUS_SIGNAL, SignalUpdate

__all__ = ["readout_payload", "readout_status"]


def readout_status(updates: Sequence[SignalUpdate]) -> SignalUpdate | None:
    """The ``_status`` update of a readout's batch, if it has one."""
    for update in reversed(updates):
        if update.signal == STATUS_SIGNAL:
            return update
    return None


def readout_payload(updates: Sequence[SignalUpdate]) -> bytes:
    """The message of one readout's batch (not empty), UTF-8 JSON."""
    status = readout_status(updates)
    first = status or updates[0]
    document = {
        "device": first.device,
        "time": first.time.isoformat(timespec="milliseconds"),
        "status": None if status is None else status.value,
        "updates": [u.to_json() for u in updates],
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
