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
outputs (``NAME/shardI``); the read-success figures of all workers (every device,
line and group, each worker's total: :meth:`RelayHub.read_figures`); and priority
reads (:meth:`RelayHub.request_read`): the hub asks the worker that polls the
device over its connection and the answer completes the future; a worker that is
not connected, or whose connection ends before it answers, fails it at once
(``ReadRequestError``, reason ``stopped``).
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
from obisgate.gateway.outputs.context import OutputContext, ReadFigures
from obisgate.gateway.outputs.health import HealthRecord, OutputHealth, OutputState, utc_now
from obisgate.gateway.poller import ReadRequestError
from obisgate.gateway.readstats import ReadStats
from obisgate.gateway.relay.codec import (
    Batch,
    Figures,
    FrameDecoder,
    Hello,
    Message,
    ReadAnswer,
    ReadAsk,
    RelayProtocolError,
    Stats,
    encode_ask,
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
        figures: its last read-success figures, every device's as last sent.
        asked: the priority reads asked of it and not answered yet, by number.
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
    figures: ReadFigures | None = None
    reads: dict[str, tuple[str, str | None, ReadStats]] = field(default_factory=dict)
    asked: dict[int, asyncio.Future[list[SignalUpdate]]] = field(default_factory=dict)


class RelayHub:
    """Serves the relay socket at ``path`` for ``count`` workers.

    Args:
        path: the Unix socket to create (its folder should be private to this user).
        count: the number of workers.
        publish: where each batch goes (must not block: the supervisor's
            :meth:`Fanout.publish`).
        restarts: how many times workers were restarted (the supervisor's count).
        clock: the current time (UTC), for ``since``.
        owners: device alias -> the worker that polls it (every enabled device).
        push: the aliases of the push meters (never asked for a read).
        ask_timeout_s: how long a priority read asked of a worker may stay unanswered
            before it fails (``stopped``); an HTTP request waits at most 3600 s anyway.
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
        owners: Mapping[str, int] | None = None,
        push: Collection[str] = (),
        ask_timeout_s: float = 3660.0,
    ) -> None:
        self.path = Path(path)
        self.owners = dict(owners or {})
        self.push = frozenset(push)
        self.ask_timeout_s = ask_timeout_s
        self._asks = 0
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
        self.asked_total = 0
        self.answered_total = 0
        self.unanswered_total = 0

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
                self._fail_asks(link, f"worker {link.shard} ended before it answered")
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
        elif isinstance(message, Figures):
            link.figures = message.figures
            link.reads.update(message.figures.devices)
        elif isinstance(message, ReadAnswer):
            self._answer(message, link)
        else:
            raise RelayProtocolError("a worker asks for a read")
        return link

    def _connect(self, hello: Hello, writer: asyncio.StreamWriter) -> WorkerLink:
        link = self.links[hello.shard]
        if link.writer is not None:  # the worker restarted before its old end was noticed
            link.writer.close()
            self._fail_asks(link, f"worker {link.shard} started again before it answered")
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

    # -- priority reads -------------------------------------------------------------

    def request_read(self, alias: str) -> asyncio.Future[list[SignalUpdate]]:
        """Ask the worker that polls ``alias`` for a priority read (``Gateway.request_read``
        in that worker); call on the hub's event loop.

        Returns:
            A future with the read's updates (they also reach the outputs as a batch); it
            fails with ``ReadRequestError`` as the worker refused it, or (``stopped``)
            when the worker's connection ends first or it does not answer within
            :attr:`ask_timeout_s`.

        Raises:
            ReadRequestError: no such device (``unknown``), a push meter (``push``), or
                its worker is not connected now (``stopped``).
        """
        shard = self.owners.get(alias)
        if shard is None:
            raise ReadRequestError(f"no device {alias!r} here", "unknown")
        if alias in self.push:
            raise ReadRequestError(
                f"{alias} is a push meter (type D): it sends by itself, it cannot be asked",
                "push",
            )
        link = self.links[shard]
        writer = link.writer
        if writer is None or writer.is_closing():
            raise ReadRequestError(
                f"worker {shard}, which polls {alias}, is not connected (starting or "
                "restarting): ask again in a moment",
                "stopped",
            )
        self._asks += 1
        number = self._asks
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[SignalUpdate]] = loop.create_future()
        link.asked[number] = future
        timer = loop.call_later(self.ask_timeout_s, self._expire, link, number)
        future.add_done_callback(lambda done: _taken(done, timer))
        writer.write(encode_ask(ReadAsk(number, alias)))
        self.asked_total += 1
        return future

    def _answer(self, answer: ReadAnswer, link: WorkerLink) -> None:
        future = link.asked.pop(answer.number, None)
        if future is None or future.done():
            return  # expired meanwhile
        self.answered_total += 1
        if answer.error is not None:
            future.set_exception(ReadRequestError(answer.error, answer.reason or "failed"))
        else:
            future.set_result(list(answer.updates))

    def _expire(self, link: WorkerLink, number: int) -> None:
        future = link.asked.pop(number, None)
        if future is not None and not future.done():
            self.unanswered_total += 1
            future.set_exception(
                ReadRequestError(
                    f"worker {link.shard} did not answer within {self.ask_timeout_s:g} s",
                    "stopped",
                )
            )

    def _fail_asks(self, link: WorkerLink, why: str) -> None:
        asked, link.asked = link.asked, {}
        for future in asked.values():
            if not future.done():
                self.unanswered_total += 1
                future.set_exception(ReadRequestError(f"{why}: ask again in a moment", "stopped"))

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
                "reads_asked_total": self.asked_total,
                "reads_answered_total": self.answered_total,
                "reads_unanswered_total": self.unanswered_total,
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

    def read_figures(self) -> ReadFigures:
        """The read-success figures of every worker's devices and groups, as they last sent
        them, with each worker's total (``shards``) and their sum (shard ``all``)."""
        devices: dict[str, tuple[str, str | None, ReadStats]] = {}
        groups: dict[str, tuple[ReadStats, int | None, int, int, int, float, int]] = {}
        shards: dict[str, ReadStats] = {}
        for link in self.links:
            devices.update(link.reads)
            if link.figures is not None:
                groups.update(link.figures.groups)
                shards[link.figures.shard] = link.figures.total
        return ReadFigures(
            shard="all",
            total=ReadStats.total(shards.values()),
            devices=devices,
            groups=groups,
            shards=shards,
        )

    def inform(self, context: OutputContext, fanout: Fanout) -> None:
        """Let the supervisor's outputs (``fanout``, with ``context``) see every worker and
        ask them for priority reads."""

        def health() -> Mapping[str, OutputHealth]:
            return {**fanout.health(), self.name: self.health(), **self.worker_health()}

        context.stats = lambda: self.stats(fanout)
        context.device_stats = self.device_stats
        context.device_stats_of = self.device_stats_of
        context.health = health
        context.read_figures = self.read_figures
        context.request_read = self.request_read


def _taken(future: asyncio.Future[list[SignalUpdate]], timer: asyncio.TimerHandle) -> None:
    """Stop the ask's deadline; its failure counts as seen (an HTTP request that answered
    202 no longer waits for it, and asyncio would log it as never retrieved)."""
    timer.cancel()
    if not future.cancelled():
        future.exception()
