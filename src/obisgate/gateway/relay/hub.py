"""The supervisor's side of the relay: :class:`RelayHub`, a Unix socket server that takes
every worker's batches and counters and makes one gateway of them for the servers.

Each connection starts with the worker's :class:`~obisgate.gateway.relay.codec.Hello`;
then every :class:`~obisgate.gateway.relay.codec.Batch` goes to ``publish`` (the
supervisor's fan-out, which never blocks) and every
:class:`~obisgate.gateway.relay.codec.Stats` replaces what the hub knows of that
worker. A replayed batch (sent again after a reconnect) is published only when it is
newer than what the hub saw of that device. A connection that sends bytes that are no
frame is closed (one log line); its worker reconnects. A worker that connects again
replaces its old connection.

:meth:`RelayHub.inform` gives the supervisor's outputs the same
:class:`~obisgate.gateway.outputs.context.OutputContext` a gateway gives them: the
counters of all workers added up, every device's counters, and the health of the
supervisor's own outputs, of the hub itself (``workers``) and of every worker's
outputs (``NAME/shardI``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from obisgate.gateway.outputs.base import Fanout
from obisgate.gateway.outputs.context import OutputContext
from obisgate.gateway.outputs.health import HealthRecord, OutputHealth, OutputState, utc_now
from obisgate.gateway.relay.codec import (
    Batch,
    FrameDecoder,
    Hello,
    Message,
    RelayProtocolError,
    Stats,
)
from obisgate.gateway.updates import SignalUpdate

__all__ = ["RelayHub", "WorkerLink"]

_LOGGER = logging.getLogger(__name__)

#: Counters of ``Gateway.stats()`` that are added up over the workers.
_SUMMED = (
    "devices",
    "lines",
    "polls",
    "failures",
    "missed_scans",
    "scheduled_reads",
    "succeeded_reads",
    "priority_reads",
    "waiting_polls",
)


@dataclass
class WorkerLink:
    """What the hub knows of one worker.

    Attributes:
        shard: the worker's number.
        pid: its process id, once it said hello.
        connected: whether its connection is open.
        since: when ``connected`` last changed (``None``: never connected).
        gateway: its last ``Gateway.stats()``.
        devices: its devices' counters.
        health: its outputs' health.
        batches_total: batches it sent.
    """

    shard: int
    pid: int | None = None
    connected: bool = False
    since: dt.datetime | None = None
    gateway: dict[str, Any] = field(default_factory=dict)
    devices: dict[str, dict[str, float]] = field(default_factory=dict)
    health: dict[str, OutputHealth] = field(default_factory=dict)
    batches_total: int = 0
    writer: asyncio.StreamWriter | None = None


class RelayHub:
    """Serves the relay socket at ``path`` for ``count`` workers.

    Args:
        path: the Unix socket to create (its folder should be private to this user).
        count: the number of workers.
        publish: where each batch goes (must not block: the supervisor's
            :meth:`Fanout.publish`).
        restarts: how many times workers were restarted (the supervisor's count).
        clock: the current time (UTC), for ``since``.
    """

    name = "workers"

    def __init__(
        self,
        path: str | Path,
        count: int,
        publish: Callable[[Sequence[SignalUpdate]], None],
        *,
        restarts: Callable[[], int] = lambda: 0,
        clock: Callable[[], dt.datetime] = utc_now,
    ) -> None:
        self.path = Path(path)
        self.count = count
        self.publish = publish
        self.restarts = restarts
        self._clock = clock
        self.links = [WorkerLink(i) for i in range(count)]
        self._seen: dict[str, dt.datetime] = {}
        self._server: asyncio.AbstractServer | None = None
        self._connections: dict[asyncio.Task[None], asyncio.StreamWriter] = {}
        self._health = HealthRecord(OutputState.CONNECTING, clock=clock)
        #: Set whenever a message was taken or a worker (dis)connected (for waiting on it).
        self.changed = asyncio.Event()
        self.batches_total = 0
        self.replays_skipped_total = 0
        self.bad_frames_total = 0
        self.connections_total = 0

    async def start(self) -> None:
        """Listen on :attr:`path` (readable and writable by this user only).

        Raises:
            OSError: the socket cannot be created.
        """
        self._server = await asyncio.start_unix_server(self._serve, path=str(self.path))
        os.chmod(self.path, 0o600)

    async def aclose(self) -> None:
        """Stop listening and close every worker's connection."""
        if self._server is not None:
            self._server.close()
        # Closing a connection ends its reader with end of stream (cancelling the task
        # instead would make asyncio's stream callback log the cancellation as an error).
        for writer in self._connections.values():
            writer.close()
        if self._connections:
            await asyncio.wait(list(self._connections), timeout=5.0)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        with contextlib.suppress(OSError):
            self.path.unlink()
        self._health.set(OutputState.CLOSED)

    # -- connections ----------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections[task] = writer
        self.connections_total += 1
        decoder = FrameDecoder()
        link: WorkerLink | None = None
        try:
            while data := await reader.read(256 * 1024):
                decoder.feed(data)
                while (message := decoder.next_message()) is not None:
                    link = self._take(message, link, writer)
                    self.changed.set()
        except RelayProtocolError as exc:
            self.bad_frames_total += 1
            self.changed.set()
            who = "a client" if link is None else f"worker {link.shard}"
            _LOGGER.warning(
                "relay: %s sent bytes that are no frame (%s); connection closed", who, exc
            )
        except OSError:
            pass  # the worker went away
        finally:
            self._connections.pop(task, None)
            if link is not None and link.writer is writer:
                link.writer = None
                link.connected = False
                link.since = self._clock()
                self._update_health()
                self.changed.set()
            writer.close()

    def _take(
        self, message: Message, link: WorkerLink | None, writer: asyncio.StreamWriter
    ) -> WorkerLink:
        """Handle one message of a connection; returns the connection's worker.

        Raises:
            RelayProtocolError: the first message is no hello for this hub, or a later one is.
        """
        if link is None:
            if not isinstance(message, Hello):
                raise RelayProtocolError("the first frame is not a hello")
            if message.count != self.count:
                raise RelayProtocolError(
                    f"a worker of {message.count} says hello to a hub of {self.count}"
                )
            return self._connect(message, writer)
        if isinstance(message, Hello):
            raise RelayProtocolError("a second hello")
        if isinstance(message, Batch):
            self._batch(message, link)
        elif isinstance(message, Stats):
            link.gateway = message.gateway
            link.devices.update(message.devices)
            link.health = message.health
        return link

    def _connect(self, hello: Hello, writer: asyncio.StreamWriter) -> WorkerLink:
        link = self.links[hello.shard]
        if link.writer is not None:  # the worker restarted before its old end was noticed
            link.writer.close()
        link.writer = writer
        link.pid = hello.pid
        link.connected = True
        link.since = self._clock()
        _LOGGER.info("relay: worker %d (pid %d) connected", hello.shard, hello.pid)
        self._update_health()
        return link

    def _batch(self, batch: Batch, link: WorkerLink) -> None:
        if not batch.updates:
            return
        newest: dict[str, dt.datetime] = {}
        for update in batch.updates:
            known = newest.get(update.device)
            if known is None or update.time > known:
                newest[update.device] = update.time
        if batch.replay and all(
            (seen := self._seen.get(device)) is not None and seen >= time
            for device, time in newest.items()
        ):
            self.replays_skipped_total += 1
            return
        self._seen.update(newest)
        link.batches_total += 1
        self.batches_total += 1
        self.publish(batch.updates)

    def _update_health(self) -> None:
        down = [link for link in self.links if not link.connected]
        if not down:
            self._health.set(OutputState.RUNNING)
        elif all(link.since is None for link in down):  # still starting
            self._health.set(OutputState.CONNECTING)
        else:
            names = ", ".join(str(link.shard) for link in down)
            self._health.set(OutputState.DISCONNECTED, f"worker {names} not connected")

    # -- the view for the supervisor's outputs --------------------------------------

    def health(self) -> OutputHealth:
        """The hub's own health: running while every worker is connected."""
        return self._health.health(
            address=str(self.path),
            counters={
                "workers": self.count,
                "workers_connected": sum(link.connected for link in self.links),
                "worker_restarts_total": self.restarts(),
                "batches_total": self.batches_total,
                "replays_skipped_total": self.replays_skipped_total,
                "bad_frames_total": self.bad_frames_total,
                "connections_total": self.connections_total,
            },
        )

    def stats(self, fanout: Fanout | None = None) -> dict[str, Any]:
        """The workers' ``Gateway.stats()`` added up, with the losses of the supervisor's
        own outputs (``fanout``) and of every worker's outputs (``NAME/shardI``)."""
        total: dict[str, Any] = dict.fromkeys(_SUMMED, 0)
        dropped: dict[str, int] = {}
        failed: dict[str, str] = {}
        if fanout is not None:
            dropped.update(fanout.dropped)
            failed.update(fanout.failed)
        for link in self.links:
            for key in _SUMMED:
                value = link.gateway.get(key, 0)
                if isinstance(value, int | float):
                    total[key] += value
            for name, count in dict(link.gateway.get("dropped_batches", {})).items():
                dropped[f"{name}/shard{link.shard}"] = count
            for name, reason in dict(link.gateway.get("failed_outputs", {})).items():
                failed[f"{name}/shard{link.shard}"] = reason
        total["dropped_batches"] = dropped
        total["failed_outputs"] = failed
        total["workers"] = self.count
        total["workers_connected"] = sum(link.connected for link in self.links)
        return total

    def device_stats(self) -> dict[str, dict[str, float]]:
        """Every device's counters, as its worker last sent them."""
        found: dict[str, dict[str, float]] = {}
        for link in self.links:
            found.update(link.devices)
        return found

    def device_stats_of(self, aliases: Collection[str]) -> dict[str, dict[str, float]]:
        """:meth:`device_stats` of the given devices only."""
        found: dict[str, dict[str, float]] = {}
        for link in self.links:
            found.update((a, link.devices[a]) for a in aliases if a in link.devices)
        return found

    def worker_health(self) -> dict[str, OutputHealth]:
        """Every worker's outputs as ``NAME/shardI``; those of a worker that is not
        connected are ``unknown``."""
        found: dict[str, OutputHealth] = {}
        for link in self.links:
            for name, health in link.health.items():
                found[f"{name}/shard{link.shard}"] = (
                    health
                    if link.connected
                    else OutputHealth(
                        state=OutputState.UNKNOWN,
                        since=link.since or health.since,
                        last_error=f"worker {link.shard} is not connected",
                        address=health.address,
                        counters=health.counters,
                    )
                )
        return found

    def inform(self, context: OutputContext, fanout: Fanout) -> None:
        """Let the supervisor's outputs (``fanout``, with ``context``) see every worker."""

        def health() -> Mapping[str, OutputHealth]:
            return {**fanout.health(), self.name: self.health(), **self.worker_health()}

        context.stats = lambda: self.stats(fanout)
        context.device_stats = self.device_stats
        context.device_stats_of = self.device_stats_of
        context.health = health
