"""The MQTT output against a real mosquitto: discovery, payloads, availability, outages."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import signal
import sqlite3
import sys
from pathlib import Path

import pytest

from obisgate.gateway.config import load_config
from obisgate.gateway.history import HistoryStore
from obisgate.gateway.outputs.health import OutputState
from obisgate.gateway.outputs.outbox import outbox_path
from obisgate.gateway.readings.partitions import history_topic, partition_of
from obisgate.simulator import get_profile, serve_tcp
from tests.ha_rules import ha_config_problems
from tests.mqtt.support import (
    Collect,
    Subscriber,
    gateway_config,
    mqtt_section,
    running_gateway,
    wait_until,
)
from tests.services import Mosquitto, free_port

pytestmark = pytest.mark.integration

PROFILE = get_profile("mt174")
#: The meter's identity: its manufacturer (/ISk5...) and the serial number in its readout.
NODE = "obisgate_ISK_71234567"
#: The node of the discovery configs before meters were keyed on their identity.
OLD_NODE = f"obisgate_{PROFILE.address}"


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
                    lambda: len([m for m in sub.messages if m.topic.endswith("/config")]) >= 10,
                    "discovery configs (and the removal of the old ones)",
                )
                health = context.health()["mqtt"]
                assert health.up is True
                assert health.state is OutputState.RUNNING
                await wait_until(
                    lambda: context.health()["mqtt"].counters["sent_total"] >= 2, "acks counted"
                )
            await sub.wait_for(
                lambda: sub.on("og/gateway/gw1/availability")[-1].payload == b"offline",
                "the gateway says offline on close",
            )
        # The broker kept the configs and availability (retained): a new subscriber gets them.
        async with Subscriber(
            broker.port, ("homeassistant/#", "og/+/availability", "og/gateway/#"), client_id="late"
        ) as late:
            await late.wait_for(lambda: len(late.messages) >= 8, "the retained messages")
    finally:
        broker.stop()

    # The old configs were removed first (empty retained payloads), then the new ones came.
    old = [m for m in sub.messages if m.topic.startswith(f"homeassistant/sensor/{OLD_NODE}/")]
    assert {m.payload for m in old} == {b""}
    assert len(old) == 5
    first_new = next(i for i, m in enumerate(sub.messages) if NODE in m.topic)
    assert all(sub.messages.index(m) < first_new for m in old)
    instance = json.loads(next(m for m in late.messages if m.topic.endswith("/instance")).payload)
    assert set(instance) == {"token", "host", "pid", "config", "started"}

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


async def test_history_partitions_carry_every_readout_and_announce_the_count(
    tmp_path: Path,
) -> None:
    broker = Mosquitto(tmp_path / "broker")
    broker.start()
    try:
        async with await serve_tcp(PROFILE) as sim, Subscriber(broker.port, ("og/#",)) as sub:
            section = mqtt_section(
                broker.port, 'format = "wcc"', 'discovery_prefix = "none"', "history_partitions = 4"
            )
            path = gateway_config(tmp_path, sim.port, PROFILE.address, section)
            async with running_gateway(load_config(path)):
                topic = history_topic("og", "house", 4)
                await sub.wait_for(lambda: len(sub.on(topic)) >= 2, "two history messages")
    finally:
        broker.stop()
    assert topic == f"og/history/{partition_of('house', 4)}/house"
    (count,) = sub.on("og/history/partitions")
    assert (count.payload, count.retain) == (b"4", False)  # live delivery; kept retained
    history = [json.loads(m.payload) for m in sub.on(topic)]
    statuses = sub.on("og/house/_status/out")  # the live feed keeps its format
    assert len(statuses) >= len(history) - 1
    assert [u["signal"] for u in history[0]["updates"]][-1] == "_status"
    assert {u["signal"] for u in history[0]["updates"]} >= {"energy", "power", "_status"}


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

                def configs() -> int:  # the old node's removals are empty: not counted
                    return len(
                        [m for m in sub.messages if m.topic.endswith("/config") and m.payload]
                    )

                await sub.wait_for(lambda: configs() == 5, "the discovery configs")
                assert sub.client is not None
                await sub.client.publish("homeassistant/status", b"online", qos=1)
                await sub.wait_for(lambda: configs() >= 10, "the configs again")
    finally:
        broker.stop()


async def test_outage_loses_no_reading(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="obisgate.gateway.outputs.mqtt.output")
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
                health = context.health()["mqtt"]
                assert health.up is False
                assert health.counters["outbox_depth"] >= 4
                broker.start()
                await wait_until(lambda: context.health()["mqtt"].up, "reconnected")
                # The session that failed left no cancellation request on the task that
                # reconnects (Python 3.11 task groups can leave one on their parent).
                (connection,) = [
                    t for t in asyncio.all_tasks() if t.get_name() == "mqtt-connection"
                ]
                assert connection.cancelling() == 0
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
    lost = [r.getMessage() for r in caplog.records if "lost" in r.getMessage()]
    assert len(lost) == 1
    assert lost[0].startswith(f"mqtt: connection to mqtt://127.0.0.1:{broker.port} lost (")
    assert lost[0].endswith("); readouts wait in the outbox")
    again = [r for r in caplog.records if "connected again" in r.getMessage()]
    assert [(r.levelno, r.getMessage().split(" (")[0]) for r in again] == [
        (logging.WARNING, f"mqtt: connected again to mqtt://127.0.0.1:{broker.port}")
    ]
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
            health = context.health()["mqtt"]
            assert health.up is False
            assert health.counters["outbox_depth"] >= 3
            await wait_until(lambda: context.health()["mqtt"].last_error is not None, "an error")
            assert "refused" in str(context.health()["mqtt"].last_error).lower()
    lines = [r.getMessage() for r in caplog.records if "cannot connect" in r.getMessage()]
    assert len(lines) == 1
    assert lines[0].startswith(f"mqtt: cannot connect to mqtt://127.0.0.1:{nobody}:")


def outbox_rows(path: Path) -> list[tuple[int, str, bytes]]:
    """The outbox's rows, read by a connection of the test's own (read-only)."""
    if not path.exists():
        return []
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT seq, topic, payload FROM outbox ORDER BY seq").fetchall()
    except sqlite3.OperationalError:  # the table is not created yet
        return []
    finally:
        conn.close()


async def start_gateway(config: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "obisgate", "run", str(config), "--format", "none",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def test_backlog_survives_kill_9_of_the_gateway(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path / "broker")  # not started yet: the broker is down
    async with await serve_tcp(PROFILE) as sim:
        path = gateway_config(tmp_path, sim.port, PROFILE.address, mqtt_section(broker.port))
        outbox = outbox_path(tmp_path / "history.sqlite", "mqtt")
        gateway = await start_gateway(path)
        try:
            await wait_until(lambda: len(outbox_rows(outbox)) >= 5, "a backlog in the outbox")
        finally:
            gateway.send_signal(signal.SIGKILL)
            await gateway.wait()
        backlog = outbox_rows(outbox)
        assert len(backlog) >= 5
        broker.start()
        try:
            async with Subscriber(broker.port, ("og/+/state",)) as sub:
                gateway = await start_gateway(path)
                try:
                    await sub.wait_for(
                        lambda: {p for _, _, p in backlog} <= {m.payload for m in sub.messages},
                        "the whole backlog arrived",
                    )
                finally:
                    gateway.send_signal(signal.SIGTERM)
                    _, err = await gateway.communicate()
        finally:
            broker.stop()
    assert gateway.returncode == 0, err.decode()
    assert b"Traceback" not in err
    order = [m.payload for m in sub.messages]
    positions = [order.index(p) for _, _, p in backlog]
    assert positions == sorted(positions)  # in the order they were read


async def announced(
    tmp_path: Path, broker: Mosquitto, *, alias: str, client_id: str
) -> dict[str, dict[str, object]]:
    """The discovery configs a gateway announces for the simulated E350 (address 00188123,
    serial number 12314330 in its readout) as device ``alias``, connecting as ``client_id``."""
    profile = get_profile("e350")
    folder = tmp_path / f"{alias}-{client_id}"
    folder.mkdir()
    async with (
        await serve_tcp(profile) as sim,
        Subscriber(broker.port, ("homeassistant/#",), client_id=f"watch-{alias}") as sub,
    ):
        section = mqtt_section(broker.port).replace(
            'client_id = "gw1"', f'client_id = "{client_id}"'
        )
        text = gateway_config(folder, sim.port, profile.address, section).read_text("utf-8")
        path = folder / "gw.toml"
        path.write_text(text.replace('"house"', f'"{alias}"'), encoding="utf-8")

        def configs() -> dict[str, dict[str, object]]:
            return {m.topic: json.loads(m.payload) for m in sub.messages if m.payload}

        async with running_gateway(load_config(path)):
            await sub.wait_for(
                lambda: len([c for c in configs().values() if alias in str(c["state_topic"])]) >= 5,
                "the discovery configs of this run",
            )
        return configs()


async def test_entities_survive_another_host_and_a_renamed_device(tmp_path: Path) -> None:
    """Moving the gateway (another host: another client id) and renaming the device alias
    keep every unique id: the meter is keyed on its maker and the serial in its readout."""
    broker = Mosquitto(tmp_path / "broker")
    broker.start()
    try:
        before = await announced(tmp_path, broker, alias="house", client_id="obisgate-host1")
        after = await announced(tmp_path, broker, alias="kitchen", client_id="obisgate-host2")
    finally:
        broker.stop()
    ids = sorted(str(c["unique_id"]) for c in before.values())
    assert ids == sorted(str(c["unique_id"]) for c in after.values())
    assert "obisgate_LGZ_12314330_energy" in ids
    assert all("host" not in i and "house" not in i for i in ids)
    device = next(iter(after.values()))["device"]
    assert device == {
        "identifiers": ["obisgate_LGZ_12314330"],
        "name": "House meter",
        "manufacturer": "Landis+Gyr",
        "model": "ZMF100AC.M23",
        "serial_number": "12314330",
    }
    # The state topics follow the alias; the entities stay.
    assert {c["state_topic"] for c in after.values()} == {"og/kitchen/state"}
    for config in after.values():
        assert ha_config_problems(config) == []
