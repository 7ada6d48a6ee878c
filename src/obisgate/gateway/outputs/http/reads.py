"""Read-success figures and priority reads as the HTTP API answers them (pure JSON shapes).

The figures come as a :class:`~obisgate.gateway.outputs.context.ReadFigures` copy taken
on the event loop; the functions here (percentiles from each histogram) run on the
output's worker thread, like ``/metrics``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from obisgate.gateway.outputs.context import ReadFigures
from obisgate.gateway.outputs.http.state import update_json
from obisgate.gateway.readstats import ReadStats
from obisgate.gateway.updates import STATUS_SIGNAL, SignalUpdate

__all__ = ["device_reads", "group_json", "read_answer", "reads_answer"]


def read_answer(alias: str, updates: Sequence[SignalUpdate]) -> dict[str, Any]:
    """The answer to a priority read: the device, its status after the read, and the
    signal updates it published (the objects of ``/api/signals``)."""
    status = next((u for u in updates if u.signal == STATUS_SIGNAL), None)
    return {
        "device": alias,
        "status": None if status is None else status.value,
        "time": None if status is None else status.time.isoformat(timespec="milliseconds"),
        "updates": [update_json(u) for u in updates if u.signal != STATUS_SIGNAL],
    }


def device_reads(devices: list[dict[str, Any]], figures: ReadFigures) -> list[dict[str, Any]]:
    """``/api/devices``: each device's object with its line, throttle group and
    read-success figures (``reads``: see :meth:`ReadStats.to_json`) added."""
    for device in devices:
        known = figures.devices.get(device["device"])
        if known is None:
            device.update(line=None, group=None, reads=None)
            continue
        line, group, stats = known
        device.update(line=line, group=group, reads=stats.to_json())
    return devices


def group_json(
    name: str, figures: tuple[ReadStats, int | None, int, int, int, float, int]
) -> dict[str, Any]:
    """One throttle group: its read figures, its limit and what waits for it now."""
    stats, limit, sessions, waiting, waited, wait_s, peak = figures
    return {
        "group": name,
        "max_sessions": limit,
        "sessions": sessions,
        "peak_sessions": peak,
        "waiting": waiting,
        "waiting_polls": waited,
        "wait_seconds": round(wait_s, 3),
        **stats.to_json(),
    }


def reads_answer(figures: ReadFigures, by: str = "group") -> dict[str, Any]:
    """``/api/reads``: this shard's figures (for several: their sum, and each one's in
    ``shards``) and every group's; with ``by=line`` or ``by=device`` also every line's or
    device's."""
    body: dict[str, Any] = {
        "shard": {"shard": figures.shard, **figures.total.to_json()},
        "groups": [group_json(name, group) for name, group in figures.groups.items()],
    }
    if figures.shards:
        body["shards"] = [{"shard": k, **v.to_json()} for k, v in figures.shards.items()]
    if by == "line":
        body["lines"] = [{"line": k, **v.to_json()} for k, v in figures.lines().items()]
    elif by == "device":
        body["devices"] = [
            {"device": alias, "line": line, "group": group, **stats.to_json()}
            for alias, (line, group, stats) in figures.devices.items()
        ]
    return body
