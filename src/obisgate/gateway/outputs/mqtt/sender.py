"""The outbox sender: drains the outbox to the broker in order and deletes what was acknowledged.

Within one broker session (:mod:`.connection`) :meth:`OutboxSender.send` reads
the outbox from the first row not yet sent and publishes up to ``in_flight``
QoS messages at once; each publish is a task of one :class:`asyncio.TaskGroup`,
so the first that fails ends the session (and cancels the others). A publish
waits for its acknowledgement without a timer of its own (a timer and a task per
message were most of the sender's CPU); instead the session ends when the oldest
message not yet acknowledged has been that for ``ack_timeout_s`` (a broker that
stopped acknowledging).
:meth:`OutboxSender.delete_acknowledged` deletes the contiguous prefix of
acknowledged rows. A new session resends from the first row not acknowledged:
duplicates after a crash, never gaps.
"""

from __future__ import annotations

import asyncio
import math
import sqlite3
from typing import Any

from obisgate.gateway.outputs.health import HealthRecord
from obisgate.gateway.outputs.mqtt.worker import DiskWorker
from obisgate.gateway.outputs.outbox import AckedPrefix, Outbox, OutboxMessage

__all__ = ["OutboxSender"]

#: Rows read from the outbox at a time.
READ_BATCH = 500

#: How long the oldest unacknowledged message may wait before the session ends.
ACK_TIMEOUT_S = 10.0


class NotAcknowledged(TimeoutError):
    """The broker did not acknowledge a message in time: the session ends."""


class OutboxSender:
    """Sends the outbox's rows in order, at most ``in_flight`` unacknowledged at once.

    Args:
        outbox: the open outbox.
        worker: the thread the outbox is used from.
        record: the output's health (a failed delete becomes its last error).
        in_flight: QoS messages sent but not yet acknowledged, at most.
        ack_timeout_s: see the module docstring.

    Attributes:
        acked: every row up to this sequence number is acknowledged.
        sent: messages acknowledged by the broker since the start.
        drained: set while nothing is waiting to be sent or acknowledged.
    """

    def __init__(
        self,
        outbox: Outbox,
        worker: DiskWorker,
        record: HealthRecord,
        *,
        in_flight: int,
        ack_timeout_s: float = ACK_TIMEOUT_S,
    ) -> None:
        self.outbox = outbox
        self._worker = worker
        self._record = record
        self._in_flight = in_flight
        self._ack_timeout_s = ack_timeout_s
        self.acked = 0
        self.sent = 0
        self.drained = asyncio.Event()
        self._new_rows = asyncio.Event()
        self._ack_seen = asyncio.Event()
        self._moved = asyncio.Event()  # for the watch: sent a row, or the prefix grew

    def wake(self) -> None:
        """New rows are in the outbox: send them (and the outbox is not drained)."""
        self.drained.clear()
        self._new_rows.set()

    async def send(self, client: Any) -> None:
        """Publish the outbox's rows in order until the session ends; never returns.

        Raises:
            Exception: the first publish that failed (``aiomqtt.MqttError`` ...),
                or :class:`NotAcknowledged`, in an ``ExceptionGroup``; the session
                then ends.
        """
        slots = asyncio.Semaphore(self._in_flight)
        window = AckedPrefix()
        sent_through = self.acked
        async with asyncio.TaskGroup() as sends:
            sends.create_task(self._watch(window))
            while True:
                self._new_rows.clear()
                rows = await self._worker.run(self.outbox.read, sent_through, READ_BATCH)
                if not rows:
                    if not window:
                        self.drained.set()
                    await self._new_rows.wait()
                    continue
                for row in rows:
                    await slots.acquire()
                    window.sent(row.seq)
                    self._moved.set()
                    sends.create_task(self._publish(client, row, window, slots))
                    sent_through = row.seq

    async def _publish(
        self, client: Any, row: OutboxMessage, window: AckedPrefix, slots: asyncio.Semaphore
    ) -> None:
        try:
            await client.publish(
                row.topic, row.payload, qos=row.qos, retain=row.retain, timeout=math.inf
            )
        finally:
            slots.release()
        self.sent += 1
        acked = window.ack(row.seq)
        if acked is not None:
            self.acked = acked
            self._ack_seen.set()
            self._moved.set()

    async def _watch(self, window: AckedPrefix) -> None:
        """Raise :class:`NotAcknowledged` when the oldest unacknowledged message stays
        that for ``ack_timeout_s`` (woken when the acknowledged prefix grows, not per
        acknowledgement)."""
        while True:
            oldest = window.oldest
            self._moved.clear()
            if oldest is None:
                await self._moved.wait()
                continue
            try:
                async with asyncio.timeout(self._ack_timeout_s):
                    while window.oldest == oldest:
                        await self._moved.wait()
                        self._moved.clear()
            except TimeoutError:
                raise NotAcknowledged(
                    f"the broker did not acknowledge a message for {self._ack_timeout_s:g} s"
                ) from None

    async def delete_acknowledged(self) -> None:
        """Delete the acknowledged prefix of the outbox as acknowledgements come; never returns.

        A delete that fails leaves the rows (they are sent again after a
        restart: duplicates, never gaps) and is the output's last error.
        """
        deleted = 0
        while True:
            await self._ack_seen.wait()
            self._ack_seen.clear()
            acked = self.acked
            if acked > deleted:
                try:
                    await self._worker.run(self.outbox.delete_through, acked)
                except sqlite3.Error as exc:
                    self._record.last_error = f"outbox: acknowledged rows not removed: {exc}"
                    continue
                deleted = acked
            if self.outbox.depth == 0:
                self.drained.set()
