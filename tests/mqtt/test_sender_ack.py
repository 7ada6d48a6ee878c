"""The outbox sender ends the session when the broker stops acknowledging (no broker: a
client that takes publishes and acknowledges only the first)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from obisgate.gateway.outputs.health import HealthRecord
from obisgate.gateway.outputs.mqtt.sender import NotAcknowledged, OutboxSender
from obisgate.gateway.outputs.mqtt.worker import DiskWorker
from obisgate.gateway.outputs.outbox import Outbox


class SilentBroker:
    """Acknowledges the first ``acknowledged`` publishes at once, never the others."""

    def __init__(self, acknowledged: int) -> None:
        self.acknowledged = acknowledged
        self.topics: list[str] = []
        self.never = asyncio.Event()

    async def publish(self, topic: str, payload: bytes, **_: object) -> None:
        self.topics.append(topic)
        if len(self.topics) > self.acknowledged:
            await self.never.wait()


async def test_a_broker_that_stops_acknowledging_ends_the_session(tmp_path: Path) -> None:
    worker = DiskWorker()
    outbox = await worker.run(lambda: Outbox(tmp_path / "outbox.sqlite", max_rows=100))
    await worker.run(outbox.append, [(f"og/m{n}/state", b"{}", 1, False) for n in range(3)])
    sender = OutboxSender(outbox, worker, HealthRecord(), in_flight=8, ack_timeout_s=0.05)
    broker = SilentBroker(acknowledged=1)
    try:
        async with asyncio.timeout(10):
            with pytest.raises(ExceptionGroup) as info:
                await sender.send(broker)
    finally:
        await worker.run(outbox.close)
        worker.shutdown()
    assert info.group_contains(NotAcknowledged)
    assert broker.topics == ["og/m0/state", "og/m1/state", "og/m2/state"]
    assert (sender.acked, sender.sent) == (1, 1)  # the next session resends from row 2
