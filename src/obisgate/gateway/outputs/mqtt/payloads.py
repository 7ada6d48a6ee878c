"""MQTT topics and payloads of the gateway's readouts (pure functions).

Two formats:

* ``json``: one message per readout (also a failed one) on
  ``<prefix>/<device>/state``: ``{"device", "time", "status", "updates"}``, where
  ``updates`` holds exactly the objects ``obisgate run --format jsonl`` prints
  for that readout, the ``_status`` update included (its ``value`` is the
  status text, its quality always ``["valid"]``). ``time`` is the readout's
  time and ``status`` its status text.
* ``wcc``: one message per update on ``<prefix>/<device>/<signal>/out`` with
  the payload ``value,timestamp_ms,quality``: quality ``1`` when valid, ``0``
  when any of invalid / not topical / overflow is set; an absent value is
  empty (``,1733011200000,0``). The ``_status`` update is one of them
  (``ok,1733011200000,1``).

Backfilled intervals (a meter's load profile, read after a gap) never go to
those topics, whose consumers take every message as the current value: each
interval is one message on ``<prefix>/<device>/backfill`` (either format), QoS 1,
not retained, the readout message of :mod:`obisgate.gateway.readings.message`
without a ``_status``: ``{"device", "time", "status": null, "updates"}``, ``time``
the interval's stamp and every update's quality ``["backfilled"]`` (with
``invalid`` / ``overflow`` when its value did not convert).

With ``history_partitions`` set, each readout also goes (``json``, QoS 1) to
``<prefix>/history/<p>/<device>`` (:mod:`obisgate.gateway.readings.partitions`), and the
partition count is published retained on ``<prefix>/history/partitions``.

Availability (retained): ``<prefix>/<device>/availability`` is ``online``
after a successful readout and ``offline`` after a failed one;
``<prefix>/gateway/<client_id>/availability`` is the gateway's own (its last
will is ``offline``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Literal

from obisgate.gateway.readings.message import readout_payload, readout_status
from obisgate.gateway.readings.partitions import history_topic
from obisgate.gateway.updates import SignalUpdate

__all__ = [
    "Message",
    "backfill_messages",
    "backfill_topic",
    "device_availability_topic",
    "gateway_availability_topic",
    "readout_status",
    "state_messages",
    "state_topic",
    "wcc_value",
]

Message = tuple[str, bytes, int, bool]
"""``(topic, payload, qos, retain)``."""

ONLINE = b"online"
OFFLINE = b"offline"

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def state_topic(prefix: str, device: str, fmt: Literal["json", "wcc"], signal: str = "") -> str:
    """Where a device's readouts (``json``) or one signal (``wcc``) are published."""
    if fmt == "json":
        return f"{prefix}/{device}/state"
    return f"{prefix}/{device}/{signal}/out"


def backfill_topic(prefix: str, device: str) -> str:
    """Where a device's backfilled intervals are published."""
    return f"{prefix}/{device}/backfill"


def device_availability_topic(prefix: str, device: str) -> str:
    """The retained ``online`` / ``offline`` of one device."""
    return f"{prefix}/{device}/availability"


def gateway_availability_topic(prefix: str, client_id: str) -> str:
    """The retained ``online`` / ``offline`` of the gateway (its last will)."""
    return f"{prefix}/gateway/{client_id}/availability"


def wcc_value(value: object) -> str:
    """A value as the ``wcc`` payload writes it (``1``/``0`` for switches, ISO dates)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return repr(value)
    isoformat = getattr(value, "isoformat", None)
    if isoformat is not None:
        return str(isoformat())
    return str(value)


def _millis(time: dt.datetime) -> int:
    return (time - _EPOCH) // dt.timedelta(milliseconds=1)


def state_messages(
    updates: Sequence[SignalUpdate],
    *,
    prefix: str,
    fmt: Literal["json", "wcc"],
    qos: int,
    partitions: int = 0,
    retain: bool = False,
) -> list[Message]:
    """The state messages of one readout (retained with ``retain``); with ``partitions``
    > 0 also its history message (``json``, QoS 1, never retained) on
    ``<prefix>/history/<p>/<device>``."""
    if not updates:
        return []
    if partitions:
        history = (
            history_topic(prefix, updates[0].device, partitions),
            readout_payload(updates),
            1,
            False,
        )
        state = state_messages(updates, prefix=prefix, fmt=fmt, qos=qos, retain=retain)
        return [*state, history]
    if fmt == "wcc":
        return [
            (
                state_topic(prefix, u.device, "wcc", u.signal),
                f"{wcc_value(u.value)},{_millis(u.time)},{1 if u.quality.is_valid else 0}".encode(),
                qos,
                retain,
            )
            for u in updates
        ]
    payload = readout_payload(updates)
    return [(state_topic(prefix, updates[0].device, "json"), payload, qos, retain)]


def backfill_messages(
    updates: Sequence[SignalUpdate], *, prefix: str, partitions: int = 0
) -> list[Message]:
    """The message of one backfilled interval (QoS 1, not retained); with ``partitions``
    > 0 also its history message on ``<prefix>/history/<p>/<device>`` (the sink stores
    it like a readout)."""
    if not updates:
        return []
    device = updates[0].device
    payload = readout_payload(updates)
    messages: list[Message] = [(backfill_topic(prefix, device), payload, 1, False)]
    if partitions:
        messages.append((history_topic(prefix, device, partitions), payload, 1, False))
    return messages
