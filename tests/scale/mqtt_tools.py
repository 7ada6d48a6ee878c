"""Publish gateway-style readout messages (the MQTT output's ``json`` format) and count rows."""

from __future__ import annotations

import datetime as dt
import json
import sys
from typing import Any

import aiomqtt
import asyncpg

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
    port: int, messages: list[dict[str, Any]], *, prefix: str = "obisgate"
) -> None:
    """Publish each message with QoS 1 on ``<prefix>/<device>/state``."""
    async with aiomqtt.Client("127.0.0.1", port, identifier="test-publisher") as client:
        for message in messages:
            await client.publish(f"{prefix}/{message['device']}/state", json.dumps(message), qos=1)


async def count_rows(dsn: str, query: str = "SELECT count(*) FROM readings") -> int:
    connection = await asyncpg.connect(dsn)
    try:
        if not await connection.fetchval("SELECT to_regclass('readings') IS NOT NULL"):
            return 0
        return int(await connection.fetchval(query))
    finally:
        await connection.close()


def sink_command(broker_url: str, dsn: str, client_id: str, *options: str) -> list[str]:
    """The command line of ``obisgate sink postgres`` on ``broker_url`` into ``dsn``, as
    ``client_id``, with ``options`` and ``-v`` (its "subscribed" line tells it is ready)."""
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
        *options,
        "-v",
    ]
