"""Publish gateway-style readout messages (the MQTT output's ``json`` format, on the history
partitions) and count rows."""

from __future__ import annotations

import datetime as dt
import json
import sys
from typing import Any

import aiomqtt
import asyncpg

from obisgate.gateway.readings.partitions import history_topic
from obisgate.sink.consumer import owned_text

#: The history partitions of the tests' gateways and sinks.
PARTITIONS = 4

EPOCH = dt.datetime(2026, 11, 30, 23, 59, tzinfo=dt.UTC)


def readout(device: str, n: int, *, signals: int = 3) -> dict[str, Any]:
    """Readout number ``n`` of ``device``: ``signals`` numbers plus the status."""
    time = (EPOCH + dt.timedelta(seconds=30 * n)).isoformat(timespec="milliseconds")
    updates = [
        {
            "device": device,
            "signal": f"s{k}",
            "value": n + k / 10,
            "unit": "kWh",
            "time": time,
            "quality": ["valid"],
        }
        for k in range(signals)
    ]
    updates.append(
        {
            "device": device,
            "signal": "_status",
            "value": "ok",
            "unit": None,
            "time": time,
            "quality": ["valid"],
        }
    )
    return {"device": device, "time": time, "status": "ok", "updates": updates}


async def publish_readouts(
    port: int,
    messages: list[dict[str, Any]],
    *,
    prefix: str = "obisgate",
    partitions: int = PARTITIONS,
) -> None:
    """Publish each message with QoS 1 on its history partition, as a gateway with
    ``history_partitions = partitions`` does."""
    async with aiomqtt.Client("127.0.0.1", port, identifier="test-publisher") as client:
        for message in messages:
            topic = history_topic(prefix, message["device"], partitions)
            await client.publish(topic, json.dumps(message), qos=1)


def share(j: int, sinks: int, partitions: int = PARTITIONS) -> str:
    """``--own`` of sink ``j`` of ``sinks``: the partitions ``p`` with ``p % sinks == j``."""
    return owned_text([p for p in range(partitions) if p % sinks == j])


async def count_rows(dsn: str, query: str = "SELECT count(*) FROM readings") -> int:
    connection = await asyncpg.connect(dsn)
    try:
        if not await connection.fetchval("SELECT to_regclass('readings') IS NOT NULL"):
            return 0
        return int(await connection.fetchval(query))
    finally:
        await connection.close()


def sink_command(
    broker_url: str,
    dsn: str,
    client_id: str,
    *options: str,
    partitions: int = PARTITIONS,
    own: str = "all",
) -> list[str]:
    """The command line of ``obisgate sink postgres`` on ``broker_url`` into ``dsn``, as
    ``client_id``, owning ``own`` of ``partitions``, with ``options`` and ``-v`` (its
    "subscribed" line tells it is ready)."""
    return [
        sys.executable,
        "-m",
        "obisgate",
        "sink",
        "postgres",
        "--mqtt",
        broker_url,
        "--dsn",
        dsn,
        "--client-id",
        client_id,
        "--partitions",
        str(partitions),
        "--own",
        own,
        *options,
        "-v",
    ]
