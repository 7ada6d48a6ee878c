"""The outstation's connections: redundancy groups, event buffers and who gives way to a new master.

Pure (the time is passed in). :class:`Hub` knows every open connection (its
:class:`~obisgate.gateway.outputs.iec104.link.Link`), the redundancy group it
belongs to, and which connections receive events:

* A configured redundancy group (several connections of one control centre)
  has at most one *active* connection: the one that started data transfer
  last. Starting another connection of the group moves the events not yet
  acknowledged (or not yet sent) on the previous one to it at once, and stops
  sending on the previous.
* Connections from addresses outside every configured group form the default
  group, whose connections are independent masters: each started one gets
  every event.
* A group without an active connection keeps its events in a bounded buffer
  (oldest dropped and counted) and hands them to the next connection of the
  group that starts data transfer. (When redundancy groups are configured, the
  default group starts keeping events only when a connection outside them
  comes.) Events a closed or stopped connection had
  not got acknowledged go to the group's active connections that became
  active after they were published (and so missed them), or back to the
  buffer's front when none is active. Events may thus arrive twice; none is
  lost while the buffer holds them. (Independent masters share the default
  group's buffer: give each control centre a group of its own to keep what
  happens while only it is away.)

:func:`choose_victim` decides which connection gives way when a new one finds
every slot taken.
"""

from __future__ import annotations

import ipaddress
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from obisgate.gateway.outputs.iec104.link import Link
from obisgate.gateway.outputs.iec104.outgoing import Event, Outgoing, pack

__all__ = ["DEFAULT_GROUP", "Hub", "Member", "Victim", "choose_victim"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

#: The name of the group of connections outside every configured group.
DEFAULT_GROUP = ""


@dataclass(eq=False)
class Member:
    """One open connection.

    Attributes:
        key: the driver's identifier of the connection.
        peer: the peer's ``HOST:PORT``.
        group: its redundancy group's name (:data:`DEFAULT_GROUP` for none).
        link: its protocol state.
        active: whether it receives events now.
        active_since: the last batch published before it became active (it got
            the later ones itself).
        probed_at: when it was last sent a TESTFR act to see whether its
            master is still there (see :func:`choose_victim`).
    """

    key: int
    peer: str
    group: str
    link: Link
    active: bool = False
    active_since: int = 0
    probed_at: float | None = None


#: An event with the number of the batch it was published in.
Numbered = tuple[int, Event]


@dataclass(eq=False)
class _Group:
    name: str
    exclusive: bool
    networks: tuple[Network, ...] = ()
    buffer: deque[Numbered] = field(default_factory=deque)
    dropped: int = 0
    #: Whether the group keeps events while none of its connections is active.
    buffering: bool = True


class Hub:
    """Open connections, their groups, and where each event goes.

    Args:
        groups: ``(name, networks)`` of each configured redundancy group.
        common_address: the station's common address (events are packed into
            ASDUs of it).
        buffer_size: most events a group keeps while none of its connections is
            active, and most events waiting on one connection.
    """

    def __init__(
        self,
        groups: Sequence[tuple[str, Sequence[Network]]],
        common_address: int,
        buffer_size: int,
    ) -> None:
        self.common_address = common_address
        self.buffer_size = buffer_size
        self.members: dict[int, Member] = {}
        self._serial = 0
        self._groups = {name: _Group(name, True, tuple(nets)) for name, nets in groups}
        # With redundancy groups configured, the default group keeps events only once a
        # connection outside them has come: its buffer would otherwise fill (and count
        # drops) for masters that do not exist.
        self._groups[DEFAULT_GROUP] = _Group(DEFAULT_GROUP, False, buffering=not groups)

    def group_of(self, address: str) -> str:
        """The redundancy group of a connection from ``address`` (an IP address)."""
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return DEFAULT_GROUP
        for group in self._groups.values():
            if any(ip in network for network in group.networks):
                return group.name
        return DEFAULT_GROUP

    @property
    def dropped(self) -> int:
        """Events dropped so far because a buffer or a connection's queue was full."""
        return sum(group.dropped for group in self._groups.values())

    @property
    def buffered(self) -> int:
        """Events waiting in the groups' buffers."""
        return sum(len(group.buffer) for group in self._groups.values())

    def buffered_in(self, name: str) -> int:
        """Events waiting in group ``name``'s buffer."""
        return len(self._groups[name].buffer)

    def dropped_in(self, name: str) -> int:
        """Events group ``name`` dropped so far."""
        return self._groups[name].dropped

    def add(self, member: Member) -> None:
        """A connection was accepted."""
        self.members[member.key] = member
        self._groups[member.group].buffering = True

    def remove(self, key: int) -> list[int]:
        """A connection closed: the events it had not got acknowledged go to its group's
        active connections that missed them, or back to the group's buffer.

        Returns:
            The connections that got events to send.
        """
        member = self.members.pop(key, None)
        if member is None:
            return []
        member.active = False
        return self._return(member, member.link.take_all())

    def started(self, key: int) -> list[int]:
        """A connection started data transfer: it becomes its group's (or, in the default
        group, one more) active connection and gets the buffered events; in a configured
        group the previous active connection hands over what it had not delivered.

        Returns:
            The connections that got events to send.
        """
        member = self.members[key]
        group = self._groups[member.group]
        if group.exclusive:
            for other in self._members_of(group.name):
                if other.active and other is not member:
                    other.active = False
                    self._enqueue(member, _numbered(other.link.hand_over()))
        member.active = True
        member.active_since = self._serial
        waiting = list(group.buffer)
        group.buffer.clear()
        self._enqueue(member, waiting)
        return [key]

    def stopped(self, key: int) -> list[int]:
        """A connection stopped data transfer (STOPDT): its unsent events go back to its group.

        Returns:
            The connections that got events to send.
        """
        member = self.members[key]
        member.active = False
        return self._return(member, member.link.take_queued())

    def publish(self, events: Sequence[Event]) -> list[int]:
        """Hand new events (one batch) to every group: to its active connections, or to its
        buffer.

        Returns:
            The connections that got events to send.
        """
        if not events:
            return []
        self._serial += 1
        numbered = [(self._serial, event) for event in events]
        touched: list[int] = []
        for group in self._groups.values():
            active = [m for m in self._members_of(group.name) if m.active]
            if not active:
                if group.buffering:
                    group.buffer.extend(numbered)
                    self._trim(group)
                continue
            for member in active:
                self._enqueue(member, numbered)
                touched.append(member.key)
        return touched

    def active(self) -> list[Member]:
        """The connections receiving events now."""
        return [m for m in self.members.values() if m.active]

    def _members_of(self, name: str) -> Iterable[Member]:
        return (m for m in self.members.values() if m.group == name)

    def _return(self, member: Member, items: list[Outgoing]) -> list[int]:
        """Events ``member`` did not deliver: to each active connection of its group that
        became active after they were published, or to the front of the group's buffer
        when none is active."""
        events = _numbered(items)
        if not events:
            return []
        group = self._groups[member.group]
        active = [m for m in self._members_of(group.name) if m.active]
        if not active:
            group.buffer.extendleft(reversed(events))
            self._trim(group)
            return []
        touched: list[int] = []
        for other in active:
            missed = [(serial, e) for serial, e in events if serial <= other.active_since]
            if missed:
                self._enqueue(other, missed)
                touched.append(other.key)
        return touched

    def _trim(self, group: _Group) -> None:
        excess = len(group.buffer) - self.buffer_size
        if excess > 0:
            for _ in range(excess):
                group.buffer.popleft()
            group.dropped += excess

    def _enqueue(self, member: Member, events: Sequence[Numbered]) -> None:
        if not events:
            return
        start = 0
        for index in range(1, len(events) + 1):
            if index == len(events) or events[index][0] != events[start][0]:
                run = [event for _serial, event in events[start:index]]
                member.link.enqueue(pack(run, self.common_address, events[start][0]))
                start = index
        excess = member.link.queued_events - self.buffer_size
        if excess > 0:
            dropped = member.link.drop_oldest_queued(excess)
            self._groups[member.group].dropped += dropped


def _numbered(items: Iterable[Outgoing]) -> list[Numbered]:
    return [(item.serial, event) for item in items for event in item.events]


@dataclass(frozen=True, slots=True)
class Victim:
    """The connection to close for a new one, and why (for the log)."""

    key: int
    reason: str


def choose_victim(
    members: Iterable[Member], now: float, t3: float, probe_s: float
) -> Victim | None:
    """Which open connection gives way to a new one when every slot is taken.

    In this order:

    1. a connection that has not started data transfer and is silent (it never
       sent a frame, or nothing for ``t3``: nobody even tests it), the most
       silent first;
    2. a started connection whose master is gone: silent for more than ``t3``
       (a live master answers the test frames sent after ``t3``), or sent a
       test frame ``probe_s`` ago and silent since, the most silent first;
    3. a connection that is not started (a redundancy group's stand-by), the
       oldest first.

    ``None`` when every connection is a started, live master: the driver then
    probes them (a TESTFR act, :attr:`Member.probed_at`) and asks again.
    """
    candidates = list(members)

    def silence(member: Member) -> float:
        return now - member.link.last_received

    quiet = [
        m
        for m in candidates
        if not m.link.started and (m.link.frames_received == 0 or silence(m) > t3)
    ]
    if quiet:
        member = max(quiet, key=silence)
        return Victim(
            member.key,
            f"had not started data transfer and was silent for {silence(member):.1f} s",
        )

    def unanswered(member: Member) -> bool:
        probed = member.probed_at
        return probed is not None and member.link.last_received < probed and now - probed >= probe_s

    gone = [m for m in candidates if m.link.started and (silence(m) > t3 or unanswered(m))]
    if gone:
        member = max(gone, key=silence)
        why = "did not answer a test frame" if unanswered(member) else "was silent"
        return Victim(member.key, f"{why} ({silence(member):.1f} s without a frame)")
    idle = [m for m in candidates if not m.link.started]
    if idle:
        member = min(idle, key=lambda m: m.link.opened_at)
        return Victim(member.key, "had not started data transfer")
    return None
