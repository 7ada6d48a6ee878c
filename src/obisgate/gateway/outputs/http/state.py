"""What the HTTP output knows: the latest update of every signal, each device's status,
and the live subscribers of ``/api/events``.

Everything here runs on the event loop and never awaits: :meth:`LiveState.apply`
takes one batch (one readout of one device), updates the picture and hands the
batch, encoded once, to every subscriber's bounded queue. A subscriber that
falls a whole queue behind is cut off (its stream ends; an ``EventSource``
reconnects by itself and starts again from a fresh snapshot), so a slow client
never stalls publishing nor makes the server hold an unbounded backlog.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

from obisgate import Identification
from obisgate.errors import FramingError
from obisgate.gateway.outputs.http.energy import Role, role_of
from obisgate.gateway.updates import STATUS_SIGNAL, SignalUpdate

__all__ = [
    "DeviceView",
    "LiveState",
    "SignalInfo",
    "Subscriber",
    "json_ready",
    "manufacturer_of",
    "update_json",
]

#: Status value of a device whose last readout succeeded.
STATUS_OK = "ok"


def json_ready(value: Any) -> Any:
    """``value`` as strict JSON accepts it: non-finite floats become ``None``."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def update_json(update: SignalUpdate) -> dict[str, Any]:
    """The JSON-lines object of ``update`` (what ``obisgate run --format jsonl`` prints)."""
    obj = update.to_json()
    obj["value"] = json_ready(obj["value"])
    return obj


@lru_cache(maxsize=1024)
def manufacturer_of(identification: str | None) -> str | None:
    """The three letters of a meter's identification line (``/LUGCUH50`` -> ``LUG``), if any."""
    if not identification:
        return None
    try:
        return Identification.parse(identification.strip()).manufacturer
    except FramingError:
        return None


def _iso(time: datetime | None) -> str | None:
    return None if time is None else time.isoformat(timespec="milliseconds")


@dataclass(frozen=True, slots=True)
class SignalInfo:
    """A configured signal: what the page lists before any value arrived.

    Attributes:
        device: device alias.
        signal: signal alias.
        name: the configured name (else the alias).
        unit: the configured unit, if any (else the meter's, as updates bring it).
        logged: whether its history is kept.
        tag: the address the signal reads (``tag_job_todo``); its OBIS code also says
            what the signal is to the energy view.
        description: the configured description (``""``: the OBIS catalogue's, if any).
        may_decrease: its values may go down (``SignalConfig.may_decrease``: a net
            energy): never an energy register of the energy view.
    """

    device: str
    signal: str
    name: str
    unit: str | None
    logged: bool
    tag: str = ""
    description: str = ""
    may_decrease: bool = False


@dataclass(slots=True)
class DeviceView:
    """One device as the status updates (``_status``) of its batches describe it.

    Attributes:
        alias: device alias.
        name: the configured name.
        status: the last status text (``ok``, ``no answer``, ...; ``not polled
            yet`` before the first readout).
        since: when the device entered its current state (up or down).
        last_success: when a readout last succeeded.
        last_error: the status text of the last failed readout.
        last_error_time: when that was.
        readouts: readouts seen (successful and failed).
        failures: failed readouts seen.
        identification: the identification line of the last good readout.
    """

    alias: str
    name: str
    status: str = "not polled yet"
    since: datetime | None = None
    last_success: datetime | None = None
    last_error: str | None = None
    last_error_time: datetime | None = None
    readouts: int = 0
    failures: int = 0
    identification: str | None = None

    @property
    def up(self) -> bool | None:
        """True after a good readout, False after a failed one, None before any."""
        return None if self.since is None else self.status == STATUS_OK

    def record(self, status: str, time: datetime, identification: str | None = None) -> None:
        """Take the status of one readout (and, after a good one, the identification)."""
        was_up = self.up
        ok = status == STATUS_OK
        self.status = status
        self.readouts += 1
        if ok:
            self.last_success = time
            if identification:
                self.identification = identification
        else:
            self.failures += 1
            self.last_error = status
            self.last_error_time = time
        if was_up is None or was_up != ok:
            self.since = time

    def to_json(self) -> dict[str, Any]:
        """The ``/api/devices`` object."""
        return {
            "device": self.alias,
            "name": self.name,
            "status": self.status,
            "up": self.up,
            "since": _iso(self.since),
            "last_success": _iso(self.last_success),
            "last_error": self.last_error,
            "last_error_time": _iso(self.last_error_time),
            "readouts": self.readouts,
            "failures": self.failures,
        }


@dataclass(eq=False, slots=True)
class Subscriber:
    """One live client: encoded events to send, ``None`` = end the stream.

    Attributes:
        queue: the bounded queue of encoded events.
        cut: set when the client fell behind and was cut off.
    """

    queue: asyncio.Queue[bytes | None]
    cut: bool = False


@dataclass
class LiveState:
    """The latest picture of every device and signal, and the live subscribers.

    Args:
        devices: ``(alias, name)`` of every enabled device, in configuration order.
        signals: every enabled signal of those devices, in configuration order.
        queue_size: events a subscriber may lag behind before it is cut off.
    """

    devices: dict[str, DeviceView]
    signals: dict[tuple[str, str], SignalInfo]
    queue_size: int = 256
    latest: dict[tuple[str, str], SignalUpdate] = field(default_factory=dict)
    subscribers: set[Subscriber] = field(default_factory=set)
    cut_total: int = 0
    batches: int = 0
    # /api/signals bodies, kept between updates: each signal's JSON text (dropped when
    # it changes), the whole body and each device's (dropped when one of theirs changes).
    _encoded: dict[tuple[str, str], str] = field(default_factory=dict, repr=False)
    _keys_of: dict[str, list[tuple[str, str]]] = field(default_factory=dict, repr=False)
    _bodies: dict[str | None, bytes] = field(default_factory=dict, repr=False)
    _by_device: dict[str, list[SignalInfo]] | None = None
    _decreasing: frozenset[tuple[str, str]] | None = None

    @classmethod
    def of(
        cls,
        devices: Iterable[tuple[str, str]],
        signals: Iterable[SignalInfo],
        *,
        queue_size: int = 256,
    ) -> LiveState:
        """A state with no values yet."""
        return cls(
            devices={alias: DeviceView(alias, name) for alias, name in devices},
            signals={(s.device, s.signal): s for s in signals},
            queue_size=queue_size,
        )

    def apply(self, batch: Sequence[SignalUpdate]) -> None:
        """Take one batch and queue it for every subscriber (never blocks)."""
        touched: dict[str, DeviceView] = {}
        for update in batch:
            if update.signal == STATUS_SIGNAL:
                view = self.devices.get(update.device)
                if view is None:
                    view = self.devices[update.device] = DeviceView(update.device, update.device)
                view.record(str(update.value), update.time, update.raw)
                touched[update.device] = view
            else:
                key = (update.device, update.signal)
                if key not in self.latest:
                    self._keys_of.setdefault(update.device, []).append(key)
                self.latest[key] = update
                self._encoded.pop(key, None)
                bodies = self._bodies
                if bodies:
                    bodies.pop(update.device, None)
                    bodies.pop(None, None)
        self.batches += 1
        if self.subscribers:
            self.broadcast(
                self.event(
                    "batch",
                    {
                        "devices": [v.to_json() for v in touched.values()],
                        "updates": [update_json(u) for u in batch if u.signal != STATUS_SIGNAL],
                    },
                )
            )

    def broadcast(self, event: bytes) -> None:
        """Queue an encoded event for every subscriber; cut off those that are full."""
        for sub in list(self.subscribers):
            try:
                sub.queue.put_nowait(event)
            except asyncio.QueueFull:
                self.cut_total += 1
                sub.cut = True
                self._end(sub)

    @staticmethod
    def event(name: str, data: Any) -> bytes:
        """One server-sent event (``event:`` + one ``data:`` line of JSON)."""
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        return f"event: {name}\ndata: {text}\n\n".encode()

    def snapshot(self) -> dict[str, Any]:
        """Every device and the latest update of every signal."""
        return {"devices": self.device_list(), "updates": self.signal_list()}

    def device_list(self) -> list[dict[str, Any]]:
        """``/api/devices``."""
        return [view.to_json() for view in self.devices.values()]

    def signal_list(self, device: str | None = None) -> list[dict[str, Any]]:
        """``/api/signals``: the latest update of every signal (of one device)."""
        return [
            update_json(u)
            for (alias, _), u in self.latest.items()
            if device is None or alias == device
        ]

    def signals_body(self, device: str | None = None) -> bytes:
        """:meth:`signal_list` as the JSON body of ``/api/signals``, encoded once per change.

        The same bytes as ``json.dumps(signal_list(device), ensure_ascii=False,
        default=str)``: each signal's text is kept until it is updated, and the
        whole answer (and each device's) until one of its signals is.
        """
        body = self._bodies.get(device)
        if body is None:
            keys = self.latest if device is None else self._keys_of.get(device, ())
            body = ("[" + ", ".join(map(self._encoded_signal, keys)) + "]").encode()
            self._bodies[device] = body
        return body

    def _encoded_signal(self, key: tuple[str, str]) -> str:
        text = self._encoded.get(key)
        if text is None:
            text = json.dumps(update_json(self.latest[key]), ensure_ascii=False, default=str)
            self._encoded[key] = text
        return text

    def decreasing(self) -> frozenset[tuple[str, str]]:
        """``(device, signal)`` of the configured signals that may go down
        (:attr:`SignalInfo.may_decrease`)."""
        if self._decreasing is None:
            self._decreasing = frozenset(k for k, i in self.signals.items() if i.may_decrease)
        return self._decreasing

    def signals_of(self, device: str) -> list[SignalInfo]:
        """The configured signals of ``device``, in configuration order."""
        if self._by_device is None:
            index: dict[str, list[SignalInfo]] = {}
            for info in self.signals.values():
                index.setdefault(info.device, []).append(info)
            self._by_device = index
        return self._by_device.get(device, [])

    def energy_roles(self, device: str) -> list[tuple[SignalInfo, Role]]:
        """The signals of ``device`` that the energy view shows, with their role
        (:func:`~obisgate.gateway.outputs.http.energy.role_of`; the unit is the
        configured one, else the one the meter sent last); registers only when logged
        and never going down (a net energy counts no consumption)."""
        found = []
        for info in self.signals_of(device):
            unit = info.unit
            if unit is None and (latest := self.latest.get((device, info.signal))) is not None:
                unit = latest.unit
            view = self.devices.get(device)
            maker = manufacturer_of(view.identification if view is not None else None)
            role = role_of(info.tag, unit, info.signal, maker)
            if role is None or (
                role in (Role.IMPORT, Role.EXPORT) and (not info.logged or info.may_decrease)
            ):
                continue
            found.append((info, role))
        return found

    def subscribe(self) -> tuple[Subscriber, bytes]:
        """A new subscriber and the snapshot event to send it first.

        Both are made in one step on the loop, so no batch falls between them.
        """
        sub = Subscriber(asyncio.Queue(self.queue_size))
        self.subscribers.add(sub)
        return sub, self.event("snapshot", self.snapshot())

    def unsubscribe(self, sub: Subscriber) -> None:
        """Forget a subscriber (its stream ended)."""
        self.subscribers.discard(sub)

    def close(self) -> None:
        """End every subscriber's stream (shutdown)."""
        for sub in list(self.subscribers):
            self._end(sub)

    def _end(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)
        while not sub.queue.empty():
            sub.queue.get_nowait()
        sub.queue.put_nowait(None)
