"""A read asked for over MQTT (``<prefix>/<device>/read/set``), against a real mosquitto:
the read happens at once and its updates come back on the state topic."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from obisgate.gateway.config import load_config
from obisgate.simulator import get_profile, serve_tcp
from tests.mqtt.support import (
    Subscriber,
    gateway_config,
    mqtt_section,
    running_gateway,
    wait_until,
)
from tests.services import Mosquitto

pytestmark = pytest.mark.integration

PROFILE = get_profile("mt174")


async def test_a_read_command_reads_the_meter_and_publishes_its_state(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path / "broker")
    broker.start()
    try:
        async with await serve_tcp(PROFILE) as sim, Subscriber(broker.port) as sub:
            # A scan of a day: no scheduled poll comes while the test runs but the first.
            path = gateway_config(
                tmp_path, sim.port, PROFILE.address, mqtt_section(broker.port), scan_ms=86_400_000
            )
            async with running_gateway(load_config(path)) as (gateway, context):
                # The gateway subscribes to the read commands before it publishes its
                # instance record: once that is seen, a command is taken.
                await sub.wait_for(
                    lambda: bool(sub.on("og/gateway/gw1/instance")), "the gateway's record"
                )
                await wait_until(
                    lambda: context.health()["mqtt"].state.value == "running", "connected"
                )
                before = len(sub.on("og/house/state"))
                readouts = sim.stats.readouts
                assert sub.client is not None
                await sub.client.publish("og/house/read/set", b"PRESS", qos=1)
                await sub.wait_for(
                    lambda: len(sub.on("og/house/state")) > before, "the read's state message"
                )
                assert sim.stats.readouts == readouts + 1
                assert gateway.read_figures().devices["house"][2].priority == 1
                await sub.client.publish("og/nobody/read/set", b"", qos=1)
                await wait_until(
                    lambda: context.health()["mqtt"].counters["read_commands_refused_total"] == 1,
                    "the unknown device refused",
                )
                counters = context.health()["mqtt"].counters
    finally:
        broker.stop()
    assert counters["read_commands_total"] == 1
    state = json.loads(sub.on("og/house/state")[-1].payload)
    assert state["status"] == "ok"
    energy = next(u for u in state["updates"] if u["signal"] == "energy")
    assert energy["value"] == 148123.456
