"""The IEC 104 outstation on the network: accepts masters and drives their links.

Runs in the gateway's event loop; every decision is in the sans-IO modules
(:mod:`~obisgate.gateway.outputs.iec104.link` for the APCI,
:mod:`~obisgate.gateway.outputs.iec104.station` for the application,
:mod:`~obisgate.gateway.outputs.iec104.hub` for groups, buffers and eviction).
Nothing here blocks: writes go to the transport (the send window ``k`` bounds
what one connection has in flight, and a peer that does not read what we send
is not read from until it does), timers are ``loop.call_at`` handles.

Admission: a connection from an address that is not allowed is closed at once
(one rate-limited line). A connection that finds all ``max_connections`` slots
taken closes the connection :func:`~obisgate.gateway.outputs.iec104.hub.choose_victim`
names (one rate-limited line). When every open connection is a started master
that spoke within t3, the new connection is let in over the limit and each
started master is sent a TESTFR act; ``min(t1, 5 s)`` later those that did not
answer give way, and if all did, the newest connections are closed until the
limit holds ("raise max_connections"). At most 16 connections wait like this
at once; beyond that a new one is refused.

A peer that breaks the protocol (see :mod:`~obisgate.gateway.outputs.iec104.link`)
is one rate-limited line (peer address and what was wrong) and its connection is
closed; a wrong ASDU (unknown type, cause, address) is answered negatively and
logged the same way.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import cast

from obisgate.errors import TransportError
from obisgate.gateway.outputs.iec104.apdu import FrameError
from obisgate.gateway.outputs.iec104.config import Iec104Config
from obisgate.gateway.outputs.iec104.hub import DEFAULT_GROUP, Hub, Member, choose_victim
from obisgate.gateway.outputs.iec104.link import Link, LinkChange, LinkParameters
from obisgate.gateway.outputs.iec104.outgoing import Outgoing
from obisgate.gateway.outputs.iec104.station import Station
from obisgate.gateway.outputs.listen import host_port
from obisgate.gateway.outputs.peer_errors import PeerErrorLog
from obisgate.gateway.updates import SignalUpdate

__all__ = ["Iec104Server", "parameters_of"]

_LOGGER = logging.getLogger("obisgate.gateway.outputs.iec104")
#: Longest wait for a probed master's TESTFR con before it gives way to a new connection.
_PROBE_S = 5.0
#: Connections let in above ``max_connections`` while the masters are tested.
_WAITING_MAX = 16
#: An offset from the master's clock this large is logged as a warning.
_CLOCK_WARNING_S = 1.0


def parameters_of(section: Iec104Config) -> LinkParameters:
    """The link parameters of ``section`` (the standard's defaults where not set)."""
    defaults = LinkParameters()
    return LinkParameters(
        t1=float(section.t1 or defaults.t1),
        t2=float(section.t2 or defaults.t2),
        t3=float(section.t3 or defaults.t3),
        k=section.k or defaults.k,
        w=section.w or defaults.w,
    )


@dataclass
class Counters:
    """What the outstation did, for its health."""

    events: int = 0
    refused: int = 0
    evicted: int = 0
    protocol_errors: int = 0
    clock_syncs: int = 0
    last_clock_offset_s: float | None = None


class _Connection(asyncio.Protocol):
    """One TCP connection; hands everything to the server."""

    def __init__(self, server: Iec104Server) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.key = 0
        self.peer = "?"
        self.address = ""
        self.timer: asyncio.TimerHandle | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports have the methods but are no asyncio.Transport subclass.
        transport = cast(asyncio.Transport, transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple) and len(peer) >= 2:
            self.address = str(peer[0])
            self.peer = host_port(self.address, int(peer[1]))
        self.server.accepted(self)

    def data_received(self, data: bytes) -> None:
        self.server.received(self, data)

    def pause_writing(self) -> None:
        # A peer that sends without reading what we answer: stop reading from it, so
        # neither our answers nor its requests pile up in memory.
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.lost(self)


class Iec104Server:
    """An IEC 104 outstation serving one station.

    Args:
        section: the ``[iec104]`` section.
        station: the points and their state.
        utc_now: the current time in UTC (injected by tests).
    """

    def __init__(
        self,
        section: Iec104Config,
        station: Station,
        *,
        utc_now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.section = section
        self.station = station
        self.parameters = parameters_of(section)
        self.hub = Hub(section.redundancy_groups, section.common_address, section.event_buffer)
        self.counters = Counters()
        self.port: int | None = None
        self._utc_now = utc_now
        self._server: asyncio.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connections: dict[int, _Connection] = {}
        self._next_key = 1
        self._trim_timer: asyncio.TimerHandle | None = None
        self._cyclic: asyncio.TimerHandle | None = None
        self._refusals = PeerErrorLog(_LOGGER, "iec104: connection refused")
        self._evictions = PeerErrorLog(_LOGGER, "iec104: connection closed for a new one")
        self._errors = PeerErrorLog(_LOGGER, "iec104: protocol error")
        self._closures = PeerErrorLog(_LOGGER, "iec104: connection closed")
        self.hub.publish([station.end_of_initialization()])

    async def start(self, host: str, port: int) -> int:
        """Listen on ``host``:``port``; the port listened on.

        Raises:
            TransportError: the address cannot be bound; one line
                ``iec104 cannot listen on HOST:PORT: REASON``.
        """
        self._loop = asyncio.get_running_loop()
        try:
            self._server = await self._loop.create_server(
                lambda: _Connection(self), host, port, reuse_address=True
            )
        except OSError as exc:
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            raise TransportError(
                f"iec104 cannot listen on {host_port(host, port)}: {reason}"
            ) from None
        self.port = int(self._server.sockets[0].getsockname()[1])
        if self.section.cyclic_s:
            self._cyclic = self._loop.call_at(
                self._loop.time() + self.section.cyclic_s, self._cyclic_tick
            )
        return self.port

    async def aclose(self) -> None:
        """Stop listening and close every connection."""
        if self._cyclic is not None:
            self._cyclic.cancel()
            self._cyclic = None
        server, self._server = self._server, None
        if server is not None:
            server.close()
        if self._trim_timer is not None:
            self._trim_timer.cancel()
            self._trim_timer = None
        for connection in list(self._connections.values()):
            self._close(connection, abort=True)
        if server is not None:
            await server.wait_closed()

    @property
    def connections(self) -> int:
        """Connections open now."""
        return len(self.hub.members)

    @property
    def active_connections(self) -> int:
        """Connections receiving data now."""
        return len(self.hub.active())

    def publish(self, updates: Sequence[SignalUpdate]) -> None:
        """The batch's changed points become events for every group."""
        events = self.station.update(updates)
        if events:
            self.counters.events += len(events)
            self._flush(self.hub.publish(events))

    # -- connections ---------------------------------------------------------

    def accepted(self, connection: _Connection) -> None:
        if not self.section.allows(connection.address):
            self.counters.refused += 1
            self._refusals.report(connection.peer, "not in allowed_clients")
            self._drop(connection)
            return
        now = self._now()
        connection.key = self._next_key
        self._next_key += 1
        if len(self.hub.members) >= self.section.max_connections and not self._make_room(
            connection, now
        ):
            return
        self._connections[connection.key] = connection
        group = self.hub.group_of(connection.address)
        self.hub.add(Member(connection.key, connection.peer, group, Link(self.parameters, now)))
        self._schedule(connection)

    @property
    def _probe_s(self) -> float:
        return min(self.parameters.t1, _PROBE_S)

    def _make_room(self, connection: _Connection, now: float) -> bool:
        """Close a stale connection for ``connection``, or let it wait while the masters are
        tested; ``False`` when it was refused."""
        victim = choose_victim(self.hub.members.values(), now, self.parameters.t3, self._probe_s)
        if victim is not None:
            self._evict(victim.key, f"it {victim.reason}; new one from {connection.peer}")
            return True
        if len(self.hub.members) >= self.section.max_connections + _WAITING_MAX:
            self.counters.refused += 1
            self._refusals.report(connection.peer, "every connection is busy and others wait")
            self._drop(connection)
            return False
        self._probe_masters(now)
        return True

    def _probe_masters(self, now: float) -> bool:
        """Send a TESTFR act to every started connection that has not been tested since its
        last frame, and run :meth:`_trim` when the first of them is due to have answered.

        Returns:
            Whether answers are awaited.
        """
        for member in self.hub.members.values():
            probed = member.probed_at
            if member.link.started and (probed is None or member.link.last_received >= probed):
                member.link.probe(now)
                member.probed_at = now
                self._flush([member.key])
        waiting = [
            m.probed_at + self._probe_s
            for m in self.hub.members.values()
            if m.probed_at is not None
            and m.link.last_received < m.probed_at
            and m.probed_at + self._probe_s > now
        ]
        if waiting and self._trim_timer is None:
            assert self._loop is not None
            self._trim_timer = self._loop.call_at(min(waiting), self._trim)
        return bool(waiting)

    def _trim(self) -> None:
        """The test frames' time is up: close connections until at most ``max_connections``
        are open, those whose master did not answer first, then the newest."""
        self._trim_timer = None
        now = self._now()
        while len(self.hub.members) > self.section.max_connections:
            victim = choose_victim(
                self.hub.members.values(), now, self.parameters.t3, self._probe_s
            )
            if victim is not None:
                self._evict(victim.key, f"it {victim.reason}")
                continue
            if self._probe_masters(now):
                return  # answers still awaited
            newest = max(self.hub.members.values(), key=lambda m: m.link.opened_at)
            self.counters.refused += 1
            self._refusals.report(
                newest.peer,
                f"all {self.section.max_connections} connections are live masters: "
                "raise max_connections",
            )
            self._close(self._connections[newest.key], abort=True)

    def _evict(self, key: int, why: str) -> None:
        connection = self._connections[key]
        self.counters.evicted += 1
        self._evictions.report(connection.peer, why)
        self._close(connection, abort=True)

    def received(self, connection: _Connection, data: bytes) -> None:
        member = self.hub.members.get(connection.key)
        if member is None or connection.closed:
            return
        now = self._now()
        try:
            asdus, changes = member.link.receive(data, now)
        except FrameError as exc:
            self.counters.protocol_errors += 1
            self._errors.report(connection.peer, str(exc))
            self._close(connection, abort=True)
            return
        touched = [connection.key]
        for change in changes:
            if change is LinkChange.STARTED:
                touched += self.hub.started(connection.key)
                _LOGGER.info("iec104: %s started data transfer", connection.peer)
            else:
                touched += self.hub.stopped(connection.key)
                _LOGGER.info("iec104: %s stopped data transfer", connection.peer)
        for asdu in asdus:
            reply = self.station.handle(asdu, clock_sync=self.section.clock_sync)
            if reply.problem is not None:
                self.counters.protocol_errors += 1
                self._errors.report(connection.peer, reply.problem)
            if reply.clock is not None:
                self._clock_synchronised(connection.peer, reply.clock)
            member.link.enqueue(Outgoing(a) for a in reply.asdus)
        self._flush(touched)

    def _clock_synchronised(self, peer: str, master_time: dt.datetime) -> None:
        offset = (master_time - self._utc_now()).total_seconds()
        self.counters.clock_syncs += 1
        self.counters.last_clock_offset_s = offset
        refused = self.section.clock_sync == "refuse"
        level = logging.WARNING if abs(offset) >= _CLOCK_WARNING_S else logging.INFO
        _LOGGER.log(
            level,
            "iec104: clock synchronisation from %s: master time %s, %+.3f s from ours (%s; "
            "the host clock is not changed)",
            peer,
            master_time.isoformat(timespec="milliseconds"),
            offset,
            "refused" if refused else "confirmed",
        )

    def lost(self, connection: _Connection) -> None:
        if connection.timer is not None:
            connection.timer.cancel()
            connection.timer = None
        if connection.closed:
            return
        connection.closed = True
        self._forget(connection)

    def _forget(self, connection: _Connection) -> None:
        self._connections.pop(connection.key, None)
        self._flush(self.hub.remove(connection.key))
        if self._trim_timer is not None and len(self.hub.members) <= self.section.max_connections:
            self._trim_timer.cancel()
            self._trim_timer = None

    def _close(self, connection: _Connection, *, abort: bool = False) -> None:
        """Close ``connection`` now; its events go back to its group."""
        if connection.closed:
            return
        connection.closed = True
        if connection.timer is not None:
            connection.timer.cancel()
            connection.timer = None
        if connection.transport is not None:
            if abort:
                connection.transport.abort()
            else:
                connection.transport.close()
        self._forget(connection)

    @staticmethod
    def _drop(connection: _Connection) -> None:
        """Close a connection that was never let in (an orderly close: nothing was sent)."""
        connection.closed = True
        if connection.transport is not None:
            connection.transport.close()

    # -- sending and timers --------------------------------------------------

    def _flush(self, keys: Iterable[int]) -> None:
        """Write what the links of ``keys`` have to send, and re-arm their timers."""
        unique = list(dict.fromkeys(keys))
        if not unique or self._loop is None:
            return
        now = self._now()
        for key in unique:
            connection = self._connections.get(key)
            member = self.hub.members.get(key)
            if connection is None or member is None or connection.closed:
                continue
            data = member.link.output(now)
            if data and connection.transport is not None:
                connection.transport.write(data)
            self._schedule(connection)

    def _schedule(self, connection: _Connection) -> None:
        member = self.hub.members.get(connection.key)
        if member is None or self._loop is None:
            return
        if connection.timer is not None:
            connection.timer.cancel()
        connection.timer = self._loop.call_at(
            member.link.next_deadline(), self._timer_fired, connection
        )

    def _timer_fired(self, connection: _Connection) -> None:
        connection.timer = None
        member = self.hub.members.get(connection.key)
        if member is None or connection.closed:
            return
        reason = member.link.tick(self._now())
        if reason is not None:
            self._closures.report(connection.peer, reason)
            self._close(connection, abort=True)
            return
        self._flush([connection.key])

    def _cyclic_tick(self) -> None:
        """The measured values (cause 1) to every active connection; again in ``cyclic_s``."""
        assert self._loop is not None
        period = self.section.cyclic_s
        self._cyclic = self._loop.call_at(self._loop.time() + period, self._cyclic_tick)
        asdus = self.station.cyclic()
        active = self.hub.active()
        for member in active:
            member.link.enqueue(Outgoing(a) for a in asdus)
        self._flush(m.key for m in active)

    def _now(self) -> float:
        assert self._loop is not None
        return self._loop.time()

    def group_counters(self) -> dict[str, tuple[int, int]]:
        """Group name -> (events buffered, events dropped), the default group as ``""``."""
        names = [DEFAULT_GROUP, *(name for name, _ in self.section.redundancy_groups)]
        return {n: (self.hub.buffered_in(n), self.hub.dropped_in(n)) for n in names}
