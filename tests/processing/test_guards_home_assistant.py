"""A meter that misreads its total once lower and once as a spike, through the gateway to a
real mosquitto: Home Assistant's state topic never carries either as a valid value."""

from __future__ import annotations

import json
import logging
from decimal import Decimal
from pathlib import Path
from typing import Any

import jinja2.sandbox
import pytest

from obisgate.gateway.config import load_config
from obisgate.simulator import Faults, get_profile, serve_tcp
from obisgate.simulator.faults import LOWER_TOTAL_READOUT, SPIKE_FACTOR, SPIKE_READOUT
from tests.mqtt.support import Subscriber, running_gateway
from tests.services import Mosquitto

pytestmark = pytest.mark.integration


def discovered(sub: Subscriber, signal: str) -> list[dict[str, Any]]:
    """The Home Assistant discovery configs of ``signal`` seen so far, under the meter's
    node (keyed on its identity), without the empty ones that remove an older node's."""
    return [
        json.loads(m.payload)
        for m in sub.messages
        if m.topic.startswith("homeassistant/sensor/")
        and m.topic.endswith(f"/{signal}/config")
        and m.payload
    ]


PROFILE = get_profile("mt174")
TRUE_TOTAL = 148123.456  # 1.8.0 of the mt174 profile
LOWER = float(Decimal("148123.456") - 1)
SPIKE = float(Decimal("148123.456") * SPIKE_FACTOR)


def config_text(meter_port: int, broker_port: int, guard: str) -> str:
    return f"""
[storage]
path = "history.sqlite"

[[devices]]
device_alias = "house"
ip = "127.0.0.1"
port = {meter_port}
serialnumber = "{PROFILE.address}"
scan_rate_ms = 200
poll_delay_ms = 0
serial_close_delay = 0
timeout_ms = 800
retries = 0

[[signals]]
device_alias = "house"
signal_alias = "energy"
tag_job_todo = "1.8.0"
number_type = "DOUBLE"
log = 1
{guard}

[[signals]]
device_alias = "house"
signal_alias = "power"
tag_job_todo = "1.6.0"
number_type = "FLOAT"

[mqtt]
url = "mqtt://127.0.0.1:{broker_port}"
client_id = "gw1"
topic_prefix = "og"
"""


def render(template: str, payload: bytes) -> str:
    """A value template rendered as Home Assistant renders it (Jinja, value_json)."""
    env = jinja2.sandbox.ImmutableSandboxedEnvironment()
    return env.from_string(template).render(value=payload.decode(), value_json=json.loads(payload))


async def test_home_assistant_never_gets_the_lower_total_nor_the_spike(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # No guard configured but the 50 kWh/h limit: the lower total is caught by the unit
    # (kWh: a total that only grows), the spike by max_rate.
    broker = Mosquitto(tmp_path / "broker")
    broker.start()
    try:
        async with (
            await serve_tcp(PROFILE, faults=Faults(misread_total=True)) as sim,
            Subscriber(broker.port, ("og/#", "homeassistant/#")) as sub,
        ):
            path = tmp_path / "gw.toml"
            path.write_text(config_text(sim.port, broker.port, "max_rate = 50"), encoding="utf-8")
            with caplog.at_level(logging.INFO, logger="obisgate.gateway.processing"):
                async with running_gateway(load_config(path)) as (gateway, _):
                    await sub.wait_for(
                        lambda: len(sub.on("og/house/state")) >= SPIKE_READOUT + 2,
                        "two readouts after the spike",
                    )
                    await sub.wait_for(
                        lambda: bool(discovered(sub, "energy")),
                        "the discovery config of the energy",
                    )
    finally:
        broker.stop()

    config = discovered(sub, "energy")[-1]
    assert config["state_class"] == "total_increasing"
    states = sub.on(config["state_topic"])
    shown = [render(config["value_template"], m.payload) for m in states]
    # What Home Assistant takes: the true total at every readout but the two misread ones,
    # which render empty (ignored by HA for a numeric sensor).
    expected = [str(TRUE_TOTAL)] * len(shown)
    expected[LOWER_TOTAL_READOUT - 1] = expected[SPIKE_READOUT - 1] = ""
    assert shown == expected
    energy = [
        next(u for u in json.loads(m.payload)["updates"] if u["signal"] == "energy") for m in states
    ]
    assert energy[LOWER_TOTAL_READOUT - 1]["quality"] == ["invalid"]
    assert energy[SPIKE_READOUT - 1]["quality"] == ["invalid"]
    for update in energy:
        assert update["value"] not in (LOWER, SPIKE)
    # polling went on: every readout's power is valid
    for message in states:
        power = next(u for u in json.loads(message.payload)["updates"] if u["signal"] == "power")
        assert power["quality"] == ["valid"]
    # each episode is logged once, and its end once
    lines = [
        r.getMessage() for r in caplog.records if r.name.startswith("obisgate.gateway.processing")
    ]
    assert lines == [
        f"house/energy: {LOWER!r} is lower than the last accepted total {TRUE_TOTAL!r}: invalid "
        "(accepted if it holds for 3 readings)",
        "house/energy: valid again after 1 rejected reading",
        f"house/energy: {SPIKE!r} moved from {TRUE_TOTAL!r} faster than max_rate 50.0 per hour: "
        "invalid (accepted if it holds for 3 readings)",
        "house/energy: valid again after 1 rejected reading",
    ]
    assert gateway.stats()["processing"]["rejected"] == 2


async def test_without_max_rate_the_unit_still_stops_the_lower_total(tmp_path: Path) -> None:
    # The spike is a plausible consumption without a rate limit; the lower total is not.
    broker = Mosquitto(tmp_path / "broker")
    broker.start()
    try:
        async with (
            await serve_tcp(PROFILE, faults=Faults(misread_total=True)) as sim,
            Subscriber(broker.port, ("og/house/state",)) as sub,
        ):
            path = tmp_path / "gw.toml"
            path.write_text(config_text(sim.port, broker.port, ""), encoding="utf-8")
            async with running_gateway(load_config(path)):
                await sub.wait_for(
                    lambda: len(sub.on("og/house/state")) >= LOWER_TOTAL_READOUT + 1,
                    "a readout after the lower total",
                )
    finally:
        broker.stop()
    energy = [
        next(u for u in json.loads(m.payload)["updates"] if u["signal"] == "energy")
        for m in sub.on("og/house/state")
    ]
    assert [u["quality"] for u in energy[:3]] == [["valid"], ["invalid"], ["valid"]]
    assert energy[LOWER_TOTAL_READOUT - 1]["value"] is None
