"""The worker's side of the relay: :class:`RelayOutput`, an output that streams every batch
and the worker's counters to the supervisor over a Unix socket.

It never makes polling wait: ``publish`` writes the frame into the connection's
buffer and returns; when the supervisor is not connected, or reads so slowly that
:attr:`RelayOutput.buffer_limit` bytes wait unsent, the batch is dropped and
counted (``dropped_total``). The connection is kept by a task of its own: on end
of stream or an error it reconnects with a jittered backoff, then says who it is
(:class:`~obisgate.gateway.relay.codec.Hello`) and sends the latest batch of
every device again (marked ``replay``: a supervisor that already has it skips
it), so a supervisor's view refills at once instead of after each device's next
scan. Every ``stats_interval_s`` it sends the worker's counters, the counters of
the devices read since the last time, and the health of the worker's outputs; and
the read-success figures (total, groups, and the devices read in this interval or
the one before: a poll's figures are counted just after its batch went out). After
a (re)connect the figures of every device go once.

The hub may ask for a priority read (:class:`~obisgate.gateway.relay.codec.ReadAsk`):
it goes to the worker's gateway (``context.request_read``) and its outcome is
answered on the connection it came on (the updates, or the refusal with its reason).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from obisgate.backoff import Backoff
from obisgate.gateway.outputs.base import Output
from obisgate.gateway.outputs.context import OutputContext, ReadFigures
from obisgate.gateway.outputs.health import HealthRecord, OutputHealth, OutputState
from obisgate.gateway.poller import ReadRequestError
from obisgate.gateway.relay.codec import (
    FrameDecoder,
    Hello,
    ReadAnswer,
    ReadAsk,
    RelayProtocolError,
    encode_answer,
    encode_batch,
    encode_figures,
    encode_hello,
    encode_stats,
)
from obisgate.gateway.updates import SignalUpdate

__all__ = ["RELAY_VARIABLE", "RelayOutput"]

_LOGGER = logging.getLogger(__name__)

#: Environment variable through which the supervisor tells a worker its relay socket.
RELAY_VARIABLE = "OBISGATE_RELAY"

#: Most devices' counters in one stats frame.
DEVICES_PER_FRAME = 2000


class RelayOutput(Output):
    """Streams batches and counters to the supervisor's relay hub.

    Args:
        path: the hub's Unix socket.
        shard: this worker's number I.
        count: the number of workers N.
        context: the worker's gateway: its counters and its outputs' health.
        buffer_limit: most bytes waiting unsent before batches are dropped.
        stats_interval_s: how often counters are sent.
        retry_s: ceiling of the first (jittered) reconnect delay; it doubles up to
            ``retry_max_s``.
    """

    name = "relay"

    def __init__(
        self,
        path: str | Path,
        shard: int,
        count: int,
        context: OutputContext,
        *,
        buffer_limit: int = 4 * 1024 * 1024,
        stats_interval_s: float = 1.0,
        retry_s: float = 0.2,
        retry_max_s: float = 5.0,
    ) -> None:
        self.path = str(path)
        self.hello = Hello(shard, count, os.getpid())
        self.context = context
        self.buffer_limit = buffer_limit
        self.stats_interval_s = stats_interval_s
        self._backoff = Backoff(retry_s, retry_max_s)
        self._health = HealthRecord(OutputState.CONNECTING)
        self._writer: asyncio.StreamWriter | None = None
        self._latest: dict[str, tuple[SignalUpdate, ...]] = {}
        self._touched: set[str] = set()
        self._read_before: set[str] = set()
        self._unsent: set[str] = set()
        self._every_figure = True
        self._stop: asyncio.Event | None = None
        self._tasks: list[asyncio.Task[None]] = []
        #: Set whenever the connection was made or lost (for waiting on it).
        self.changed = asyncio.Event()
        self.sent_total = 0
        self.dropped_total = 0
        self.replayed_total = 0
        self.connects_total = 0
        self.asks_total = 0

    @property
    def connected(self) -> bool:
        """Whether a connection to the hub is open."""
        return self._writer is not None and not self._writer.is_closing()

    def health(self) -> OutputHealth:
        """Connected or not, and what was sent, replayed and dropped."""
        writer = self._writer
        buffered = 0 if writer is None else writer.transport.get_write_buffer_size()
        return self._health.health(
            address=self.path,
            counters={
                "sent_total": self.sent_total,
                "dropped_total": self.dropped_total,
                "replayed_total": self.replayed_total,
                "connects_total": self.connects_total,
                "reads_asked_total": self.asks_total,
                "buffered_bytes": buffered,
            },
        )

    # -- Output ---------------------------------------------------------------------

    async def start(self) -> None:
        """Connect (a failure is retried in the background; it never fails the start)."""
        self._stop = asyncio.Event()
        reader = None
        try:
            reader = await self._connect()
        except OSError as exc:
            self._lost(exc)
        self._tasks = [
            asyncio.create_task(self._keep_connected(reader), name="relay-connection"),
            asyncio.create_task(self._send_stats_regularly(), name="relay-stats"),
        ]

    async def publish(self, updates: Sequence[SignalUpdate]) -> None:
        """Write one batch to the hub, or drop it (counted) when it cannot take it now."""
        self._remember(updates)
        if self._write(encode_batch(updates)):
            self.sent_total += 1
        else:
            self.dropped_total += 1

    async def publish_many(self, batches: Sequence[Sequence[SignalUpdate]]) -> None:
        """Each batch in order, as :meth:`publish` (writing never fails: it drops)."""
        for batch in batches:
            await self.publish(batch)

    async def aclose(self) -> None:
        """Send the last counters, give the hub up to 2 s to take what is buffered, close."""
        if self._stop is not None:
            self._stop.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        writer, self._writer = self._writer, None
        if writer is not None:
            self._send_stats(writer)
            with contextlib.suppress(OSError, TimeoutError):
                await asyncio.wait_for(writer.drain(), 2.0)
            writer.close()
            with contextlib.suppress(OSError, TimeoutError):
                await asyncio.wait_for(writer.wait_closed(), 2.0)
        self._health.set(OutputState.CLOSED)

    # -- the connection -------------------------------------------------------------

    async def _connect(self) -> asyncio.StreamReader:
        """Open a connection, say hello, send every device's latest batch again.

        Raises:
            OSError: the hub cannot be reached (or went away during the replay).
        """
        reader, writer = await asyncio.open_unix_connection(self.path)
        writer.write(encode_hello(self.hello))
        self._writer = writer
        self.connects_total += 1
        self._health.set(OutputState.RUNNING)
        self.changed.set()
        for batch in list(self._latest.values()):
            writer.write(encode_batch(batch, replay=True))
            self.replayed_total += 1
            if writer.transport.get_write_buffer_size() > self.buffer_limit // 2:
                await writer.drain()
        self._touched.update(self._latest)
        self._every_figure = True
        self._send_stats(writer)  # the hub knows this worker's counters from the start
        return reader

    async def _keep_connected(self, reader: asyncio.StreamReader | None) -> None:
        assert self._stop is not None
        while not self._stop.is_set():
            if reader is None:
                try:
                    reader = await self._connect()
                except OSError as exc:
                    self._lost(exc)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stop.wait(), self._backoff.next_delay())
                    continue
                self._backoff.reset()
                _LOGGER.info("relay: connected again to the supervisor")
            try:
                await self._take_asks(reader)
                self._lost(None)
            except OSError as exc:
                self._lost(exc)
            except RelayProtocolError as exc:
                _LOGGER.warning("relay: the supervisor sent bytes that are no frame (%s)", exc)
                self._lost(None)
            reader = None

    async def _take_asks(self, reader: asyncio.StreamReader) -> None:
        """Serve the hub's priority reads until the connection ends."""
        writer = self._writer
        decoder = FrameDecoder()
        while data := await reader.read(64 * 1024):
            decoder.feed(data)
            while (message := decoder.next_message()) is not None:
                if not isinstance(message, ReadAsk) or writer is None:
                    raise RelayProtocolError("the supervisor sends only reads to ask")
                self._ask(message, writer)

    def _ask(self, ask: ReadAsk, writer: asyncio.StreamWriter) -> None:
        """Queue the read on this worker's gateway; answer when it is done."""
        self.asks_total += 1
        try:
            future = self.context.request_read(ask.device)
        except ReadRequestError as exc:
            self._write(encode_answer(ReadAnswer(ask.number, error=str(exc), reason=exc.reason)))
            return
        except Exception as exc:  # a bug must not end the connection's task
            _LOGGER.exception("relay: a read of %s asked by the supervisor failed", ask.device)
            self._write(encode_answer(ReadAnswer(ask.number, error=str(exc), reason="failed")))
            return

        def done(future: asyncio.Future[list[SignalUpdate]]) -> None:
            if future.cancelled():
                answer = ReadAnswer(
                    ask.number, error="the worker stopped before the read", reason="stopped"
                )
            elif (exc := future.exception()) is not None:
                reason = exc.reason if isinstance(exc, ReadRequestError) else "failed"
                answer = ReadAnswer(ask.number, error=str(exc), reason=reason)
            else:
                answer = ReadAnswer(ask.number, tuple(future.result()))
            # Only on the connection it was asked on: after a reconnect the hub has
            # given the ask up already.
            self._write(encode_answer(answer), writer)

        future.add_done_callback(done)

    def _lost(self, exc: OSError | None) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
        reason = "the supervisor closed the connection" if exc is None else str(exc)
        was = self._health.state
        self._health.set(OutputState.DISCONNECTED, reason)
        self.changed.set()
        if was is OutputState.RUNNING:
            _LOGGER.warning(
                "relay: lost the supervisor (%s); batches are dropped meanwhile", reason
            )

    async def _send_stats_regularly(self) -> None:
        assert self._stop is not None
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.stats_interval_s)
            if self._writer is not None and not self._stop.is_set():
                self._send_stats(self._writer)

    def _send_stats(self, writer: asyncio.StreamWriter) -> None:
        """The worker's counters and those of the devices read since the last call
        (in frames of at most :data:`DEVICES_PER_FRAME` devices); devices whose frame
        could not be written are sent next time."""
        touched = sorted(self._touched)
        self._touched = set()
        gateway = self.context.stats()
        health = dict(self.context.health())
        chunks = [
            touched[i : i + DEVICES_PER_FRAME] for i in range(0, len(touched), DEVICES_PER_FRAME)
        ]
        for chunk in chunks or [[]]:
            devices = self.context.device_stats_of(chunk) if chunk else {}
            if not self._write(encode_stats(gateway, devices, health), writer):
                self._touched.update(chunk)
        self._send_figures(writer, set(touched))

    def _send_figures(self, writer: asyncio.StreamWriter, read_now: set[str]) -> None:
        """The read-success figures: of every device after a connect, else of those read
        in this interval or the one before, and of those not sent last time (in frames
        of at most :data:`DEVICES_PER_FRAME` devices)."""
        if self._every_figure:
            figures = self.context.read_figures()
        else:
            figures = self.context.read_figures_of(read_now | self._read_before | self._unsent)
        self._every_figure = False
        self._read_before = read_now
        self._unsent = set()
        aliases = list(figures.devices)
        for start in range(0, max(len(aliases), 1), DEVICES_PER_FRAME):
            chunk = aliases[start : start + DEVICES_PER_FRAME]
            part = ReadFigures(
                shard=figures.shard,
                total=figures.total,
                devices={alias: figures.devices[alias] for alias in chunk},
                groups=figures.groups,
            )
            if not self._write(encode_figures(part), writer):
                self._unsent.update(aliases[start:])
                return

    # -- writing --------------------------------------------------------------------

    def _remember(self, updates: Sequence[SignalUpdate]) -> None:
        if not updates:
            return
        device = updates[0].device
        if all(u.device == device for u in updates):
            self._latest[device] = tuple(updates)
            self._touched.add(device)
            return
        by_device: dict[str, list[SignalUpdate]] = {}
        for update in updates:
            by_device.setdefault(update.device, []).append(update)
        for alias, own in by_device.items():
            self._latest[alias] = tuple(own)
            self._touched.add(alias)

    def _write(self, frame: bytes, writer: asyncio.StreamWriter | None = None) -> bool:
        """Put ``frame`` into the connection's buffer; False when there is no connection or
        the buffer is full."""
        writer = writer or self._writer
        if writer is None or writer.is_closing():
            return False
        if writer.transport.get_write_buffer_size() + len(frame) > self.buffer_limit:
            return False
        writer.write(frame)
        return True
