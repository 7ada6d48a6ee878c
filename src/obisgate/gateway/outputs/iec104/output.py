"""The IEC 60870-5-104 outstation (``[iec104]``): every signal with an IOA as an information object.

The protocol stack is c104 (GPL-3.0, the optional extra ``obisgate[iec104]``),
which runs its own threads: :meth:`Iec104Output.publish` sets each point's
information and transmits it with cause 3 (spontaneous), both thread-safe
calls into c104. General interrogation answers the measured points and single
points, counter interrogation the integrated totals; c104 answers both from
the points' current information. Masters are accepted from the configured
client addresses only (loopback only by default), at most
``max_connections`` at once. What a reading becomes (value, quality bits,
time tag) is decided in :mod:`obisgate.gateway.outputs.iec104.mapping`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

from obisgate.errors import TransportError
from obisgate.gateway.outputs.announce import announce
from obisgate.gateway.outputs.base import Output, publish_each
from obisgate.gateway.outputs.extras import require_extra
from obisgate.gateway.outputs.health import HealthRecord, OutputHealth, OutputState
from obisgate.gateway.outputs.iec104.mapping import (
    COUNTER_TYPES,
    IoaPoint,
    counter,
    measured,
    points_from_signals,
    single,
)
from obisgate.gateway.outputs.listen import bind_failure, host_port, split_listen
from obisgate.gateway.updates import SignalUpdate

if TYPE_CHECKING:
    from obisgate.gateway.config_models import GatewayConfig
    from obisgate.gateway.outputs.context import OutputContext
    from obisgate.gateway.outputs.iec104.config import Iec104Config

__all__ = ["Iec104Output", "create"]

_LOGGER = logging.getLogger(__name__)
#: Attempts to find a free port for ``listen = "HOST:0"`` (c104 does not report the port it got).
_PORT_ATTEMPTS = 5
#: c104 sends queued batches once per tick of its server thread (default 100 ms, minimum 50).
_TICK_MS = 50
#: Points per spontaneous batch: 16 time-tagged short floats fill one ASDU.
_BATCH = 16
#: Objects a general interrogation reached a master with, measured with c104 2.2.1.
_GI_LIMIT = 2260


def _c104() -> ModuleType:
    return require_extra("c104", "iec104", "iec104")


def create(config: GatewayConfig, section: Iec104Config, context: OutputContext) -> Output:
    """The IEC 104 output of ``section``, serving the configuration's signals.

    Raises:
        ConfigError: the extra ``obisgate[iec104]`` (c104) is not installed.
    """
    del context
    _c104()
    return Iec104Output(section, points_from_signals(config.served_signals))


class _Entry:
    """A point of the map with its c104 point and the last value sent."""

    __slots__ = ("last", "point", "spec")

    def __init__(self, spec: IoaPoint, point: Any) -> None:
        self.spec = spec
        self.point = point
        self.last: float | bool | int = False if spec.kind == "M_SP_TB_1" else 0


class Iec104Output(Output):
    """An IEC 104 outstation serving the mapped signals.

    Args:
        section: the ``[iec104]`` section.
        points: the information objects.
    """

    name = "iec104"

    def __init__(self, section: Iec104Config, points: Sequence[IoaPoint]) -> None:
        self.section = section
        self.points = list(points)
        #: The port listened on, once started (``listen`` may ask for any free one).
        self.port: int | None = None
        self.sent = 0
        self.rejected_clients = 0
        self._server: Any = None
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._health = HealthRecord()

    async def start(self) -> None:
        """Listen on ``section.listen`` and log ``iec104 listening on HOST:PORT`` (``announce``).

        c104's blocking ``start``/``stop`` run in a worker thread; the server of
        a failed attempt is stopped.

        Raises:
            TransportError: the address cannot be bound (in use, not local); one
                line ``iec104 cannot listen on HOST:PORT: REASON``.
        """
        c104 = _c104()
        host, port = split_listen(self.section.listen)
        attempts = _PORT_ATTEMPTS if port == 0 else 1
        for attempt in range(attempts):
            chosen = port or _free_port(host)
            server = self._build(c104, host, chosen)
            try:
                await asyncio.to_thread(server.start)
            except RuntimeError as exc:
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(server.stop)
                if attempt + 1 == attempts:
                    reason = bind_failure(host, chosen, str(exc))
                    message = f"iec104 cannot listen on {host}:{chosen}: {reason}"
                    self._health.set(OutputState.OFF, message)
                    raise TransportError(message) from None
                continue
            break
        self._server = server
        self.port = chosen
        self._health.set(OutputState.RUNNING)
        answered = len([p for p in self.points if p.kind not in COUNTER_TYPES])
        if answered > _GI_LIMIT:
            _LOGGER.warning(
                "iec104: %d points answer general interrogation; c104 2.2.1 sends at most "
                "about %d of them: split the station",
                answered,
                _GI_LIMIT,
            )
        shown = f"[{host}]" if ":" in host else host
        announce(f"iec104 listening on {shown}:{chosen}")

    def _build(self, c104: ModuleType, host: str, port: int) -> Any:
        section = self.section
        server = c104.Server(
            ip=host, port=port, tick_rate_ms=_TICK_MS, max_connections=section.max_connections
        )
        parameters = server.protocol_parameters
        for name, attribute in (
            ("t1", "message_timeout"),
            ("t2", "confirm_interval"),
            ("t3", "keep_alive_interval"),
            ("k", "send_window_size"),
            ("w", "receive_window_size"),
        ):
            value = getattr(section, name)
            if value is not None:
                setattr(parameters, attribute, value)

        def on_connect(server: Any, ip: str) -> bool:
            del server
            allowed = section.allows(ip)
            if not allowed:
                self.rejected_clients += 1
                _LOGGER.warning("iec104: connection from %s refused (not in allowed_clients)", ip)
            return allowed

        # c104 compares the annotations with real classes, not strings.
        on_connect.__annotations__ = {"server": c104.Server, "ip": str, "return": bool}
        server.on_connect(callable=on_connect)
        station = server.add_station(common_address=section.common_address)
        self._entries = {}
        for spec in self.points:
            point = station.add_point(io_address=spec.ioa, type=getattr(c104.Type, spec.kind))
            entry = _Entry(spec, point)
            point.info = self._unread_info(c104, spec)
            self._entries[spec.key] = entry
        return server

    @staticmethod
    def _unread_info(c104: ModuleType, spec: IoaPoint) -> Any:
        """Before the first reading: invalid (and not topical where the type has NT)."""
        if spec.kind == "M_IT_TB_1":
            return c104.BinaryCounterInfo(
                counter=0, sequence=c104.UInt5(0), quality=c104.BinaryCounterQuality.Invalid
            )
        quality = c104.Quality.Invalid | c104.Quality.NonTopical
        if spec.kind == "M_SP_TB_1":
            return c104.SingleInfo(on=False, quality=quality)
        return c104.ShortInfo(actual=0.0, quality=quality)

    async def publish(self, updates: Sequence[SignalUpdate]) -> None:
        """Update every mapped point of the batch and send it spontaneously (cause 3) to
        connected masters: one c104 batch per type, so a readout takes few messages."""
        if self._server is None:
            return
        c104 = _c104()
        by_type: dict[str, list[Any]] = {}
        for update in updates:
            entry = self._entries.get((update.device, update.signal))
            if entry is None:
                continue
            entry.point.info = self._info(c104, entry, update)
            by_type.setdefault(entry.spec.kind, []).append(entry.point)
        # Batches of one type, small enough for one ASDU each, instead of one
        # message per point.
        for points in by_type.values():
            for first in range(0, len(points), _BATCH):
                chunk = points[first : first + _BATCH]
                self._server.transmit_batch(c104.Batch(cause=c104.Cot.SPONTANEOUS, points=chunk))
            self.sent += len(points)

    @staticmethod
    def _info(c104: ModuleType, entry: _Entry, update: SignalUpdate) -> Any:
        spec = entry.spec
        if spec.kind == "M_IT_TB_1":
            total = counter(update, spec.scale, int(entry.last))
            entry.last = total.counter
            bits = c104.BinaryCounterQuality()
            if total.invalid:
                bits |= c104.BinaryCounterQuality.Invalid
            if total.carry:
                bits |= c104.BinaryCounterQuality.Carry
            return c104.BinaryCounterInfo(
                counter=total.counter,
                sequence=c104.UInt5(0),
                quality=bits,
                recorded_at=total.time,
            )
        if spec.kind == "M_SP_TB_1":
            value = single(update, bool(entry.last))
        else:
            value = measured(update, spec.scale, float(entry.last))
        entry.last = value.value
        quality = c104.Quality()
        if value.invalid:
            quality |= c104.Quality.Invalid
        if value.not_topical:
            quality |= c104.Quality.NonTopical
        if value.overflow:
            quality |= c104.Quality.Overflow
        if spec.kind == "M_SP_TB_1":
            return c104.SingleInfo(on=bool(value.value), quality=quality, recorded_at=value.time)
        stamp = value.time if spec.kind == "M_ME_TF_1" else None
        return c104.ShortInfo(actual=float(value.value), quality=quality, recorded_at=stamp)

    async def publish_many(self, batches: Sequence[Sequence[SignalUpdate]]) -> None:
        """Each batch in order (see :func:`publish_each`)."""
        await publish_each(self, batches)

    def health(self) -> OutputHealth:
        """Where it listens, points served, connected masters, updates sent, refused clients."""
        server = self._server
        host, port = split_listen(self.section.listen)
        return self._health.health(
            address=host_port(host, self.port if self.port is not None else port),
            counters={
                "points": len(self.points),
                "connections": 0 if server is None else server.open_connection_count,
                "sent_total": self.sent,
                "rejected_clients_total": self.rejected_clients,
            },
        )

    async def aclose(self) -> None:
        """Close every connection and stop listening."""
        server, self._server = self._server, None
        if server is not None:
            await asyncio.to_thread(server.stop)
            self._health.set(OutputState.CLOSED)


def _free_port(host: str) -> int:
    """A port that was free on ``host`` a moment ago."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
    return port
