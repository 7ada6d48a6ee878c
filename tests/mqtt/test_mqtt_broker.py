"""The MQTT output against a real mosquitto: discovery, payloads, availability, outages."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from obisgate.gateway.app import Gateway
from obisgate.gateway.build import plans_from_config
from obisgate.gateway.config import GatewayConfig, load_config
from obisgate.gateway.history import HistoryStore
from obisgate.gateway.outputs import Output
from obisgate.gateway.outputs.factory import OutputContext
from obisgate.gateway.outputs.outbox import outbox_path
from obisgate.simulator import get_profile, serve_tcp
from tests.mqtt.support import Collect, Subscriber, gateway_config, wait_until
from tests.services import Mosquitto, free_port

pytestmark = pytest.mark.integration

PROFILE = get_profile("mt174")
NODE = f"obisgate_{PROFILE.address}"


@asynccontextmanager
async def running_gateway(
    config: GatewayConfig, extra: Sequence[Output] = ()
) -> AsyncIterator[tuple[Gateway, OutputContext]]:
    """The gateway with its configured outputs (no printing) plus ``extra``, stopped at the end."""
    from obisgate.cli.run_command import build_outputs  # noqa: PLC0415

    context = OutputContext()
    outputs = [*build_outputs(config, "none", None, context), *extra]
    gateway = Gateway(plans_from_config(config), outputs)
    context.stats = gateway.stats
    stop = asyncio.Event()
    task = asyncio.create_task(gateway.run(stop))
    try:
        yield gateway, context
    finally:
        stop.set()
        await task


def mqtt_section(broker_port: int, *lines: str) -> str:
    return "\n".join(
        (
            f'url = "mqtt://127.0.0.1:{broker_port}"',
            'client_id = "gw1"',
            'topic_prefix = "og"',
            *lines,
        )
    )


async def test_discovery_json_payloads_and_availability(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path / "broker")
    broker.start()
    try:
        async with await serve_tcp(PROFILE) as sim, Subscriber(broker.port) as sub:
            path = gateway_config(tmp_path, sim.port, PROFILE.address, mqtt_section(broker.port))
            collect = Collect()
            async with running_gateway(load_config(path), [collect]) as (_, context):
                await sub.wait_for(lambda: len(sub.on("og/house/state")) >= 2, "two readouts")
                await sub.wait_for(
                    lambda: len([m for m in sub.messages if m.topic.endswith("/config")]) >= 5,
                    "discovery configs",
                )
                health = context.health["mqtt"]()
                assert health["connected"] is True
                assert health["status"] == "connected"
                await wait_until(lambda: context.health["mqtt"]()["sent"] >= 2, "acks counted")
            await sub.wait_for(
                lambda: sub.on("og/gateway/gw1/availability")[-1].payload == b"offline",
                "the gateway says offline on close",
            )
        # The broker kept the configs and availability (retained): a new subscriber gets them.
        async with Subscriber(
            broker.port, ("homeassistant/#", "og/+/availability", "og/gateway/#"), client_id="late"
        ) as late:
            await late.wait_for(lambda: len(late.messages) >= 7, "the retained messages")
    finally:
        broker.stop()

    retained = {m.topic: m for m in late.messages}
    assert all(m.retain for m in late.messages)
    assert retained["og/house/availability"].payload == b"online"
    assert retained["og/gateway/gw1/availability"].payload == b"offline"
    configs = {
        t: json.loads(m.payload) for t, m in retained.items() if t.startswith("homeassistant/")
    }
    assert set(configs) == {
        f"homeassistant/sensor/{NODE}/{obj}/config"
        for obj in ("energy", "power", "voltage_l1", "missing", "_status")
    }
    energy = configs[f"homeassistant/sensor/{NODE}/energy/config"]
    assert energy["unique_id"] == f"{NODE}_energy"
    assert energy["name"] == "Energy import"
    assert energy["state_topic"] == "og/house/state"
    assert energy["unit_of_measurement"] == "kWh"
    assert (energy["device_class"], energy["state_class"]) == ("energy", "total_increasing")
    assert energy["device"]["manufacturer"] == "Iskraemeco"
    assert energy["device"]["model"] == "MT174-0001"
    assert energy["device"]["identifiers"] == [NODE]
    assert energy["availability"] == [
        {"topic": "og/gateway/gw1/availability"},
        {"topic": "og/house/availability"},
    ]
    power = configs[f"homeassistant/sensor/{NODE}/power/config"]
    assert (power["unit_of_measurement"], power["device_class"]) == ("kW", "power")
    voltage = configs[f"homeassistant/sensor/{NODE}/voltage_l1/config"]
    assert voltage["device_class"] == "voltage"
    missing = configs[f"homeassistant/sensor/{NODE}/missing/config"]
    assert "unit_of_measurement" not in missing

    state = json.loads(sub.on("og/house/state")[0].payload)
    assert set(state) == {"device", "time", "status", "updates"}
    assert (state["device"], state["status"]) == ("house", "ok")
    by_signal = {u["signal"]: u for u in state["updates"]}
    assert by_signal["energy"] == {
        "device": "house",
        "signal": "energy",
        "value": 148123.456,
        "unit": "kWh",
        "time": state["time"],
        "quality": ["valid"],
    }
    assert by_signal["missing"]["quality"] == ["not_topical"]
    assert by_signal["_status"]["value"] == "ok"
    # Exactly what the JSON lines output prints for that readout.
    first = [
        u.to_json()
        for u in collect.updates
        if u.time.isoformat(timespec="milliseconds") == state["time"]
    ]
    assert state["updates"] == first


async def test_wcc_payloads(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path / "broker")
    broker.start()
    try:
        async with await serve_tcp(PROFILE) as sim, Subscriber(broker.port, ("og/#",)) as sub:
            section = mqtt_section(broker.port, 'format = "wcc"', 'discovery_prefix = "none"')
            path = gateway_config(tmp_path, sim.port, PROFILE.address, section)
            async with running_gateway(load_config(path)):
                await sub.wait_for(lambda: len(sub.on("og/house/_status/out")) >= 2, "two readouts")
    finally:
        broker.stop()
    value, stamp, quality = sub.on("og/house/energy/out")[0].payload.decode().split(",")
    assert (value, quality) == ("148123.456", "1")
    when = dt.datetime.fromtimestamp(int(stamp) / 1000, dt.UTC)
    assert abs(when - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=5)
    value, _, quality = sub.on("og/house/missing/out")[0].payload.decode().split(",")
    assert (value, quality) == ("", "0")
    assert sub.on("og/house/_status/out")[0].payload.decode().startswith("ok,")
    assert sub.on("og/house/state") == []
    assert not [m for m in sub.messages if "homeassistant" in m.topic]


async def test_home_assistant_birth_republishes_discovery(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path / "broker")
    broker.start()
    try:
        async with (
            await serve_tcp(PROFILE) as sim,
            Subscriber(broker.port, ("homeassistant/#",)) as sub,
        ):
            path = gateway_config(tmp_path, sim.port, PROFILE.address, mqtt_section(broker.port))
            async with running_gateway(load_config(path)):

                def configs() -> int:
                    return len([m for m in sub.messages if m.topic.endswith("/config")])

                await sub.wait_for(lambda: configs() == 5, "the discovery configs")
                assert sub.client is not None
                await sub.client.publish("homeassistant/status", b"online", qos=1)
                await sub.wait_for(lambda: configs() >= 10, "the configs again")
    finally:
        broker.stop()


async def test_outage_loses_no_reading(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path / "broker")
    broker.start()
    try:
        async with await serve_tcp(PROFILE) as sim, Subscriber(broker.port, ("og/+/state",)) as sub:
            path = gateway_config(tmp_path, sim.port, PROFILE.address, mqtt_section(broker.port))
            config = load_config(path)
            collect = Collect()
            async with running_gateway(config, [collect]) as (_, context):
                await sub.wait_for(lambda: len(sub.messages) >= 2, "readouts before the outage")
                broker.stop()
                before = collect.polls
                await wait_until(
                    lambda: collect.polls >= before + 5, "five scans during the outage"
                )
                health = context.health["mqtt"]()
                assert health["connected"] is False
                assert health["outbox_depth"] >= 4
                broker.start()
                await wait_until(lambda: context.health["mqtt"]()["connected"], "reconnected")
                await wait_until(lambda: collect.polls >= before + 8, "scans after the outage")
            with HistoryStore(config.storage.path, create=False) as store:
                rows = store.query("house", "energy")
            logged = {r.time.isoformat(timespec="milliseconds") for r in rows}
            assert len(logged) >= 10

            def received() -> set[str]:
                return {json.loads(m.payload)["time"] for m in sub.messages}

            await sub.wait_for(lambda: logged <= received(), "every logged reading arrived")
    finally:
        broker.stop()
    times = [json.loads(m.payload)["time"] for m in sub.messages]
    firsts = list(dict.fromkeys(times))
    assert firsts == sorted(firsts)  # the backlog arrived in order
    assert outbox_path(config.storage.path, "mqtt").exists()


async def test_unreachable_broker_never_delays_polling(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="obisgate")
    nobody = free_port()
    async with await serve_tcp(PROFILE) as sim:
        path = gateway_config(tmp_path, sim.port, PROFILE.address, mqtt_section(nobody))
        collect = Collect()
        async with running_gateway(load_config(path), [collect]) as (_, context):
            await wait_until(lambda: collect.polls >= 4, "four readouts")
            health = context.health["mqtt"]()
            assert health["connected"] is False
            assert health["outbox_depth"] >= 3
            await wait_until(lambda: context.health["mqtt"]()["last_error"] is not None, "an error")
            assert "refused" in context.health["mqtt"]()["last_error"].lower()
    lines = [r.getMessage() for r in caplog.records if "cannot connect" in r.getMessage()]
    assert len(lines) == 1
    assert lines[0].startswith(f"mqtt: cannot connect to mqtt://127.0.0.1:{nobody}:")
