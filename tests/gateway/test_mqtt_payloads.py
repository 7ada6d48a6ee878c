"""MQTT payloads (json, wcc) and Home Assistant discovery configs, as pure functions."""

from __future__ import annotations

import datetime as dt
import json

import jinja2.sandbox
import pytest

from obisgate.gateway.outputs.mqtt.ha_discovery import (
    DiscoveryDevice,
    DiscoverySignal,
    discovery_messages,
    entity_name,
    infer_classes,
    manufacturer_name,
)
from obisgate.gateway.outputs.mqtt.payloads import state_messages, wcc_value
from obisgate.gateway.quality import Quality
from obisgate.gateway.updates import STATUS_SIGNAL, SignalUpdate

T = dt.datetime(2026, 12, 1, 10, 0, 0, 123000, tzinfo=dt.UTC)
MS = 1796119200123


def readout(quality: Quality = Quality.VALID, value: object = 1234.5) -> list[SignalUpdate]:
    return [
        SignalUpdate("m1", "energy", value, "kWh", T, quality, "0001234.5", True),
        SignalUpdate("m1", "serial", "71234567", None, T, Quality.VALID),
        SignalUpdate("m1", STATUS_SIGNAL, "ok", None, T, Quality.VALID, "/ISk5MT174-0001"),
    ]


def test_json_is_one_message_holding_the_jsonl_objects() -> None:
    updates = readout()
    ((topic, payload, qos, retain),) = state_messages(updates, prefix="og", fmt="json", qos=1)
    assert (topic, qos, retain) == ("og/m1/state", 1, False)
    document = json.loads(payload)
    assert document == {
        "device": "m1",
        "time": "2026-12-01T10:00:00.123+00:00",
        "status": "ok",
        "updates": [u.to_json() for u in updates],
    }
    assert document["updates"][-1] == {
        "device": "m1",
        "signal": "_status",
        "value": "ok",
        "unit": None,
        "time": "2026-12-01T10:00:00.123+00:00",
        "quality": ["valid"],
    }


def test_wcc_is_one_message_per_signal() -> None:
    updates = readout(Quality.NOT_TOPICAL | Quality.OVERFLOW, None)
    got = state_messages(updates, prefix="a/b", fmt="wcc", qos=0)
    assert got == [
        ("a/b/m1/energy/out", f",{MS},0".encode(), 0, False),
        ("a/b/m1/serial/out", f"71234567,{MS},1".encode(), 0, False),
        ("a/b/m1/_status/out", f"ok,{MS},1".encode(), 0, False),
    ]
    assert state_messages([], prefix="p", fmt="wcc", qos=1) == []


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, ""),
        (True, "1"),
        (False, "0"),
        (0.1, "0.1"),
        (12, "12"),
        (dt.date(2026, 12, 1), "2026-12-01"),
        ("text", "text"),
    ],
)
def test_wcc_values(value: object, text: str) -> None:
    assert wcc_value(value) == text


@pytest.mark.parametrize(
    ("unit", "names", "classes", "expected"),
    [
        ("kWh", (), (None, None), ("kWh", "energy", "total_increasing")),
        ("KWH", (), (None, None), ("kWh", "energy", "total_increasing")),
        ("GJ", (), (None, None), ("GJ", "energy", "total_increasing")),
        ("kvarh", (), (None, None), ("kvarh", None, "total_increasing")),
        ("kW", (), (None, None), ("kW", "power", "measurement")),
        ("W", (), (None, None), ("W", "power", "measurement")),
        ("V", (), (None, None), ("V", "voltage", "measurement")),
        ("A", (), (None, None), ("A", "current", "measurement")),
        ("Hz", (), (None, None), ("Hz", "frequency", "measurement")),
        ("C", (), (None, None), ("°C", "temperature", "measurement")),
        ("kvar", (), (None, None), ("kvar", "reactive_power", "measurement")),
        ("kVA", (), (None, None), ("kVA", "apparent_power", "measurement")),
        ("m3", ("gas_total", "Gas"), (None, None), ("m³", "gas", "total_increasing")),
        ("m3", ("w1", "Kaltwasser"), (None, None), ("m³", "water", "total_increasing")),
        ("m3", ("v1", "Volume"), (None, None), ("m³", "volume", "total_increasing")),
        ("m3", ("v1", ""), ("water", None), ("m³", "water", "total_increasing")),
        ("kWh", (), ("none", "total"), ("kWh", None, "total")),
        ("kWh", (), (None, "none"), ("kWh", "energy", None)),
        ("furlongs", (), (None, None), ("furlongs", None, None)),
        (None, (), (None, None), (None, None, None)),
    ],
)
def test_classes_inferred_from_the_unit_and_overridden(
    unit: str | None,
    names: tuple[str, ...],
    classes: tuple[str | None, str | None],
    expected: tuple[str | None, str | None, str | None],
) -> None:
    got = infer_classes(unit, names=names, device_class=classes[0], state_class=classes[1])
    assert got == expected


def test_manufacturer_names() -> None:
    assert manufacturer_name("ISk") == "Iskraemeco"
    assert manufacturer_name("XYZ") == "XYZ"


DEVICE = DiscoveryDevice(
    alias="m1",
    name="House meter",
    serialnumber="71234567",
    identification="/ISk5MT174-0001",
    model=None,
    signals=(
        DiscoverySignal("energy", "Energy import", "kWh"),
        DiscoverySignal("p.total", "Power", "kW", ha_state_class="none"),
    ),
)


def configs(device: DiscoveryDevice, fmt: str) -> dict[str, dict[str, object]]:
    messages = discovery_messages(
        device,
        discovery_prefix="homeassistant",
        topic_prefix="og",
        client_id="gw1",
        fmt=fmt,  # type: ignore[arg-type]
        qos=1,
    )
    return {topic: json.loads(payload) for topic, payload in messages}


def test_discovery_configs() -> None:
    got = configs(DEVICE, "json")
    assert set(got) == {
        "homeassistant/sensor/obisgate_71234567/energy/config",
        "homeassistant/sensor/obisgate_71234567/p_total/config",
        "homeassistant/sensor/obisgate_71234567/_status/config",
    }
    energy = got["homeassistant/sensor/obisgate_71234567/energy/config"]
    assert energy["unique_id"] == "obisgate_71234567_energy"
    assert energy["name"] == "Energy import"
    assert energy["state_topic"] == "og/m1/state"
    assert (energy["unit_of_measurement"], energy["device_class"], energy["state_class"]) == (
        "kWh",
        "energy",
        "total_increasing",
    )
    assert energy["availability"] == [
        {"topic": "og/gateway/gw1/availability"},
        {"topic": "og/m1/availability"},
    ]
    assert energy["availability_mode"] == "all"
    assert energy["device"] == {
        "identifiers": ["obisgate_71234567"],
        "name": "House meter",
        "manufacturer": "Iskraemeco",
        "model": "MT174-0001",
        "serial_number": "71234567",
    }
    power = got["homeassistant/sensor/obisgate_71234567/p_total/config"]
    assert "state_class" not in power
    status = got["homeassistant/sensor/obisgate_71234567/_status/config"]
    assert status["availability"] == [{"topic": "og/gateway/gw1/availability"}]
    assert status["entity_category"] == "diagnostic"


def test_device_without_address_or_identification() -> None:
    device = DiscoveryDevice("m2", "m2", "0", None, "ZMD310", (DiscoverySignal("e", "e", None),))
    got = configs(device, "wcc")
    energy = got["homeassistant/sensor/obisgate_gw1_m2/e/config"]
    assert energy["unique_id"] == "obisgate_gw1_m2_e"
    assert energy["device"] == {
        "identifiers": ["obisgate_gw1_m2"],
        "name": "m2",
        "model": "ZMD310",
    }
    assert "unit_of_measurement" not in energy
    assert energy["state_topic"] == "og/m2/e/out"


@pytest.mark.parametrize(
    ("signal", "manufacturer", "name"),
    [
        # a name of its own wins
        (DiscoverySignal("bezug", "Bezug Haus", "kWh", tag="1.8.0"), None, "Bezug Haus"),
        # no name of its own (signal_name is the alias): the catalogue's label
        (DiscoverySignal("bezug", "bezug", "kWh", tag="1.8.0"), None, "Energy import"),
        (DiscoverySignal("e1", "e1", None, tag="1-0:1.8.1*255"), None, "Energy import T1"),
        (DiscoverySignal("u1", "u1", "V", tag="32.7.0"), None, "Voltage L1"),
        (DiscoverySignal("gas", "gas", "m3", tag="0-1:24.2.1"), None, "M-Bus 1 reading"),
        # the meter's maker selects its own codes: a Landis+Gyr heat meter's 6.8
        (DiscoverySignal("q", "q", "MWh", tag="6.8"), "LUG", "Heat energy"),
        (DiscoverySignal("q", "q", None, tag="6.8"), None, "Reactive energy Q2"),
        # a unit that contradicts the code, another channel, an unknown code: the alias
        (DiscoverySignal("q", "q", "MWh", tag="6.8"), None, "q"),
        (DiscoverySignal("e", "e", "kWh", tag="1-1:1.8.0"), None, "e"),
        (DiscoverySignal("x", "x", None, tag="96.99.99"), None, "x"),
        (DiscoverySignal("x", "x", None), None, "x"),
    ],
)
def test_entity_names_from_the_catalogue(
    signal: DiscoverySignal, manufacturer: str | None, name: str
) -> None:
    assert entity_name(signal, manufacturer) == name


def test_discovery_names_entities_with_the_meters_manufacturer() -> None:
    device = DiscoveryDevice(
        "heat",
        "Heat meter",
        "66012345",
        "/LUGCUH50",
        None,
        (
            DiscoverySignal("q", "q", "MWh", tag="6.8"),
            DiscoverySignal("volume", "volume", "m3", tag="6.26"),
        ),
    )
    got = configs(device, "json")
    names = {t.split("/")[-2]: c["name"] for t, c in got.items()}
    assert names["q"] == "Heat energy"
    assert names["volume"] == "Volume"  # the UH50's 6.26, from its family's codes
    assert names["_status"] == "Status"


def render(template: str, payload: bytes) -> str:
    """Render a value template the way Home Assistant does (Jinja, value + value_json)."""
    text = payload.decode()
    try:
        value_json = json.loads(text)
    except ValueError:
        value_json = None
    env = jinja2.sandbox.ImmutableSandboxedEnvironment()
    return env.from_string(template).render(value=text, value_json=value_json)


@pytest.mark.parametrize("fmt", ["json", "wcc"])
def test_templates_pass_only_valid_values(fmt: str) -> None:
    energy = next(c for t, c in configs(DEVICE, fmt).items() if t.endswith("/energy/config"))
    template = str(energy["value_template"])
    topic = str(energy["state_topic"])
    for quality, value, shown in [
        (Quality.VALID, 1234.5, "1234.5"),
        (Quality.INVALID, None, ""),
        (Quality.NOT_TOPICAL, 1230.0, ""),
    ]:
        messages = state_messages(readout(quality, value), prefix="og", fmt=fmt, qos=1)  # type: ignore[arg-type]
        (payload,) = [p for t, p, _, _ in messages if t == topic]
        assert render(template, payload) == shown
    status = next(c for t, c in configs(DEVICE, fmt).items() if t.endswith("/_status/config"))
    messages = state_messages(readout(), prefix="og", fmt=fmt, qos=1)  # type: ignore[arg-type]
    (payload,) = [p for t, p, _, _ in messages if t == status["state_topic"]]
    assert render(str(status["value_template"]), payload) == "ok"
