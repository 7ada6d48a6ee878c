"""The HTTP output inside a gateway polling simulated meters: live values, a meter going
down, history and the gateway's own counters in /metrics."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from obisgate.gateway.config import load_config
from obisgate.gateway.outputs.history.output import HistoryOutput
from obisgate.gateway.updates import SignalUpdate
from obisgate.simulator import get_profile, serve_tcp
from tests.gateway_http.support import meter_config, running_gateway, set_energy

pytestmark = [pytest.mark.integration]


async def next_batch(stream: aiohttp.StreamReader, device: str) -> dict[str, Any]:
    """The next ``batch`` event of ``device``."""
    while True:
        block = (await stream.readuntil(b"\n\n")).decode()
        if block.startswith("event: batch\n"):
            data: dict[str, Any] = json.loads(block.split("data: ", 1)[1])
            if data["devices"][0]["device"] == device:
                return data


def stored_event(history: HistoryOutput, value: float) -> asyncio.Event:
    """Set once the history output has stored a run holding ``value`` (it lingers
    for more readouts before it writes, so the live view shows a value first)."""
    stored = asyncio.Event()
    publish_many = history.publish_many

    async def publish_and_tell(batches: Sequence[Sequence[SignalUpdate]]) -> None:
        await publish_many(batches)
        if any(u.value == value for updates in batches for u in updates):
            stored.set()

    history.publish_many = publish_and_tell  # type: ignore[method-assign]
    return stored


async def test_live_values_a_meter_going_down_history_and_metrics(tmp_path: Path) -> None:
    profile = get_profile("mt174")
    meter_a = await serve_tcp(profile)
    meter_b = await serve_tcp(profile)
    try:
        ports = {"a": meter_a.port, "b": meter_b.port}
        (tmp_path / "gw.toml").write_text(meter_config(ports, tmp_path / "h.sqlite"))
        config = load_config(tmp_path / "gw.toml")
        async with running_gateway(config) as gw, aiohttp.ClientSession() as client:
            (history,) = [o for o in gw.gateway.fanout.outputs if isinstance(o, HistoryOutput)]
            stored = stored_event(history, 148200.5)
            async with client.get(gw.url + "api/events") as events:
                batch = await asyncio.wait_for(next_batch(events.content, "a"), 30)
                assert batch["updates"][0]["value"] == 148123.456
                set_energy(meter_a, "0148200.5")
                while batch["updates"][0]["value"] != 148200.5:
                    batch = await asyncio.wait_for(next_batch(events.content, "a"), 30)
                await meter_b.aclose()
                batch = await asyncio.wait_for(next_batch(events.content, "b"), 30)
                while batch["devices"][0]["up"]:
                    batch = await asyncio.wait_for(next_batch(events.content, "b"), 30)
                assert batch["devices"][0]["status"] == "connection error"
                assert all("not_topical" in u["quality"] for u in batch["updates"])

            async with client.get(gw.url + "api/devices") as response:
                devices = {d["device"]: d for d in await response.json()}
            assert devices["a"]["up"] is True
            assert devices["b"]["up"] is False
            assert devices["b"]["last_error"] == "connection error"
            assert devices["b"]["last_success"] is not None

            await asyncio.wait_for(stored.wait(), 30)
            async with client.get(gw.url + "api/history?device=a&signal=energy") as response:
                history = await response.json()
            values = [r["value"] for r in history["rows"]]
            assert 148123.456 in values
            assert values[-1] == 148200.5

            async with client.get(gw.url + "metrics") as response:
                text = await response.text()
            found = {
                (s.name, tuple(sorted(s.labels.items()))): s.value
                for family in text_string_to_metric_families(text)
                for s in family.samples
            }
            a, b = (("device", "a"),), (("device", "b"),)
            assert found[("obisgate_device_up", a)] == 1
            assert found[("obisgate_device_up", b)] == 0
            assert found[("obisgate_device_readouts_total", (*b, ("result", "failed")))] >= 1
            assert found[("obisgate_device_readout_duration_seconds_count", a)] >= 2
            assert found[("obisgate_device_readout_duration_seconds_sum", a)] > 0
            assert found[("obisgate_device_last_readout_duration_seconds", a)] > 0
            assert found[("obisgate_devices", ())] == 2
            assert found[("obisgate_dropped_batches_total", (("output", "http"),))] == 0
            assert found[("obisgate_output_up", (("output", "http"),))] == 1
            # kWh on the meter, Wh in the counter named for it (one unit per quantity)
            energy_a = (("device", "a"), ("signal", "energy"))
            assert found[("obisgate_energy_watt_hours_total", energy_a)] == 148200500.0
    finally:
        await meter_a.aclose()
        await meter_b.aclose()
