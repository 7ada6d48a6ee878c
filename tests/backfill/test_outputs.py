"""Backfilled batches reach only the outputs that keep a history, never dropped; MQTT puts
them on their own topic."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import json
from pathlib import Path

from obisgate.gateway.config import load_config
from obisgate.gateway.outputs.base import Fanout
from obisgate.gateway.outputs.context import OutputContext
from obisgate.gateway.outputs.factory import network_outputs
from obisgate.gateway.outputs.mqtt.output import MqttOutput
from obisgate.gateway.outputs.mqtt.payloads import backfill_messages
from obisgate.gateway.outputs.table import TableOutput
from obisgate.gateway.quality import Quality
from obisgate.gateway.readings.rows import parse_message
from obisgate.gateway.updates import STATUS_SIGNAL, SignalUpdate
from tests.backfill.gateway_support import LiveOnly, Recorder
from tests.mqtt.support import gateway_config, mqtt_section
from tests.services import free_port

T0 = dt.datetime(2026, 12, 1, 10, 15, tzinfo=dt.UTC)


def interval(n: int) -> list[SignalUpdate]:
    moment = T0 + dt.timedelta(minutes=15 * n)
    return [
        SignalUpdate("house", "energy", 1000.0 + n, "kWh", moment, Quality.BACKFILLED, None, True),
        SignalUpdate("house", "power", None, "kW", moment, Quality.INVALID | Quality.BACKFILLED,
                     "x", True),
    ]  # fmt: skip


def live(n: int) -> list[SignalUpdate]:
    now = T0 + dt.timedelta(hours=5, seconds=n)
    return [
        SignalUpdate("house", "energy", 2000.0 + n, "kWh", now, Quality.VALID, None, True),
        SignalUpdate("house", STATUS_SIGNAL, "ok", None, now, Quality.VALID),
    ]


async def test_backfill_goes_only_to_takers_waiting_for_room_never_dropped() -> None:
    taker, live_only = Recorder(), LiveOnly()
    gate = asyncio.Event()
    slow_publish = taker.publish

    async def slow(updates: object) -> None:
        await gate.wait()
        await slow_publish(updates)  # type: ignore[arg-type]

    taker.publish = slow  # type: ignore[method-assign]
    fanout = Fanout([taker, live_only], queue_size=2)
    await fanout.start()
    handing = asyncio.create_task(fanout.publish_backfill([interval(n) for n in range(6)]))
    for _ in range(20):
        await asyncio.sleep(0)  # let it fill the queue (not a wait for time)
    assert not handing.done()  # a full queue: it waits instead of dropping
    fanout.publish(live(0))  # a live batch meanwhile: the queue is full, this one is dropped
    gate.set()
    await handing
    await fanout.aclose()
    assert [b[0].time for b in taker.batches if b[0].quality.backfilled] == [
        T0 + dt.timedelta(minutes=15 * n) for n in range(6)
    ]
    assert fanout.dropped == {"recorder": 1, "live": 0}
    assert live_only.batches == [live(0)]


def test_the_backfill_message_is_the_readout_message_on_its_own_topic() -> None:
    (message,) = backfill_messages(interval(0), prefix="og")
    topic, payload, qos, retain = message
    assert (topic, qos, retain) == ("og/house/backfill", 1, False)
    document = json.loads(payload)
    assert document["device"] == "house"
    assert document["time"] == "2026-12-01T10:15:00.000+00:00"
    assert document["status"] is None
    assert [(u["signal"], u["value"], u["quality"]) for u in document["updates"]] == [
        ("energy", 1000.0, ["backfilled"]),
        ("power", None, ["invalid", "backfilled"]),
    ]
    with_history = backfill_messages(interval(0), prefix="og", partitions=4)
    assert with_history[0][0] == "og/house/backfill"
    assert with_history[1][0].startswith("og/history/")
    assert with_history[1][1] == payload


async def test_mqtt_never_puts_an_interval_on_a_state_topic(tmp_path: Path) -> None:
    for fmt in ("json", "wcc"):
        folder = tmp_path / fmt
        folder.mkdir()
        path = gateway_config(folder, 4059, "1", mqtt_section(free_port(), f'format = "{fmt}"'))
        (output,) = network_outputs(load_config(path), OutputContext())
        assert isinstance(output, MqttOutput)
        await output.start()
        try:
            await output.publish_many([live(0), interval(0), interval(1), live(1)])
            assert output.outbox is not None
            topics = [m.topic for m in output.outbox.read(0, 100)]
        finally:
            await output.aclose()
        # In order: the live readout's messages, the two intervals, the next readout's.
        backfill = [i for i, t in enumerate(topics) if t == "og/house/backfill"]
        per_readout = (len(topics) - 2) // 2
        assert backfill == [per_readout, per_readout + 1], topics
        state = [t for i, t in enumerate(topics) if i not in backfill]
        assert all(t == "og/house/state" or t.endswith("/out") for t in state), state


def test_the_tables_status_line_shows_a_running_backfill_and_a_refusal() -> None:
    stats: dict[str, object] = {"devices": 2, "polls": 5, "missed_scans": 0}
    table = TableOutput(io.StringIO(), live=False, stats=lambda: stats)
    assert "backfill" not in table.status_line()
    stats["backfill"] = {"devices": 2, "filling": 1, "pending_intervals": 96, "refused": 0}
    assert table.status_line() == (
        "devices: 0 ok, 0 down, 2 not read yet | readouts: 5 | missed scans: 0 | "
        "backfill: 1 device, 96 intervals left"
    )
    stats["backfill"] = {"devices": 2, "filling": 0, "pending_intervals": 4, "refused": 1}
    assert table.status_line().endswith("missed scans: 0 | backfill refused: 1")


def test_the_sink_stores_a_backfill_message_like_a_readout() -> None:
    # `obisgate sink postgres` takes the history partition's copy of a backfill message.
    (_, history) = backfill_messages(interval(2), prefix="og", partitions=2)
    parsed = parse_message(history[1])
    assert parsed.refused == []
    assert [(r.signal, r.time, r.value, r.quality) for r in parsed.rows] == [
        ("energy", T0 + dt.timedelta(minutes=30), 1002.0, Quality.BACKFILLED.value),
        (
            "power",
            T0 + dt.timedelta(minutes=30),
            None,
            (Quality.INVALID | Quality.BACKFILLED).value,
        ),
    ]
