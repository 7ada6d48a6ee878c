"""MQTT payloads (json, wcc) and Home Assistant discovery configs, as pure functions."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from obisgate.gateway.numbers import SCALED_TYPES, NumberType, convert
from obisgate.gateway.outputs.mqtt.ha_discovery import (
    DiscoveryDevice,
    DiscoverySignal,
    device_node,
    discovery_messages,
    entity_name,
    infer_classes,
    legacy_node,
    legacy_removals,
    manufacturer_name,
)
from obisgate.gateway.outputs.mqtt.payloads import state_messages, wcc_value
from obisgate.gateway.quality import Quality
from obisgate.gateway.units import known_spellings
from obisgate.gateway.updates import STATUS_SIGNAL, SignalUpdate
from tests.ha_rules import ha_config_problems, ha_state_problem, render

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
        ("kvarh", (), (None, None), ("kvarh", "reactive_energy", "total_increasing")),
        ("kVArh", (), (None, None), ("kvarh", "reactive_energy", "total_increasing")),
        ("kVAh", (), (None, None), ("kVAh", None, "total_increasing")),
        ("m3ph", (), (None, None), ("m³/h", "volume_flow_rate", "measurement")),
        ("m3/h", (), (None, None), ("m³/h", "volume_flow_rate", "measurement")),
        ("h", (), (None, None), ("h", "duration", "measurement")),
        ("degC", (), (None, None), ("°C", "temperature", "measurement")),
        ("bar", (), (None, None), ("bar", "pressure", "measurement")),
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
    serialnumber="00188123",
    identification="/ISk5MT174-0001",
    model=None,
    signals=(
        DiscoverySignal("energy", "Energy import", "kWh"),
        DiscoverySignal("p.total", "Power", "kW", ha_state_class="none"),
    ),
    serial="71234567",
)
NODE = "obisgate_ISK_71234567"


def configs(
    device: DiscoveryDevice, fmt: str, client_id: str = "gw1"
) -> dict[str, dict[str, object]]:
    messages = discovery_messages(
        device,
        discovery_prefix="homeassistant",
        topic_prefix="og",
        client_id=client_id,
        fmt=fmt,  # type: ignore[arg-type]
        qos=1,
    )
    return {topic: json.loads(payload) for topic, payload in messages}


def test_discovery_configs() -> None:
    got = configs(DEVICE, "json")
    assert set(got) == {
        f"homeassistant/sensor/{NODE}/energy/config",
        f"homeassistant/sensor/{NODE}/p_total/config",
        f"homeassistant/sensor/{NODE}/_status/config",
    }
    energy = got[f"homeassistant/sensor/{NODE}/energy/config"]
    assert energy["unique_id"] == f"{NODE}_energy"
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
        "identifiers": [NODE],
        "name": "House meter",
        "manufacturer": "Iskraemeco",
        "model": "MT174-0001",
        "serial_number": "71234567",  # the readout's serial, not the request address
    }
    power = got[f"homeassistant/sensor/{NODE}/p_total/config"]
    assert "state_class" not in power
    status = got[f"homeassistant/sensor/{NODE}/_status/config"]
    assert status["availability"] == [{"topic": "og/gateway/gw1/availability"}]
    assert status["entity_category"] == "diagnostic"
    for config in got.values():
        assert ha_config_problems(config) == []


def unique_ids(device: DiscoveryDevice, client_id: str) -> dict[str, object]:
    return {
        str(c["name"]): (c["unique_id"], c["device"]["identifiers"])  # type: ignore[index]
        for c in configs(device, "json", client_id).values()
    }


def test_unique_ids_survive_another_host_and_a_renamed_alias() -> None:
    """The node is the meter's identity: the host (client id) and aliases play no part."""
    before = unique_ids(DEVICE, "obisgate-host1-1a2b3c4d")
    moved = unique_ids(DEVICE, "obisgate-host2-9f8e7d6c")
    renamed = unique_ids(
        DiscoveryDevice("kitchen", "House meter", "00188123", "/ISk5MT174-0001", None,
                        DEVICE.signals, "71234567"),
        "obisgate-host2-9f8e7d6c",
    )  # fmt: skip
    assert before == moved == renamed
    assert before["Energy import"] == (f"{NODE}_energy", [NODE])


def test_identity_falls_back_to_the_address_then_the_alias() -> None:
    base = DiscoveryDevice("m2", "m2", "0", None, "ZMD310", (DiscoverySignal("e", "e", None),))
    assert device_node(base) == "obisgate_m2"  # nothing known: the alias, never the host
    addressed = DiscoveryDevice("m2", "m2", "12345678", "/LGZ5ZMD310", None, base.signals)
    assert device_node(addressed) == "obisgate_LGZ_12345678"
    from_readout = DiscoveryDevice(
        "m2", "m2", "12345678", "/LGZ5ZMD310", None, base.signals, serial="C-99 01"
    )
    assert device_node(from_readout) == "obisgate_LGZ_C-99_01"
    got = configs(base, "wcc")
    energy = got["homeassistant/sensor/obisgate_m2/e/config"]
    assert energy["unique_id"] == "obisgate_m2_e"
    assert energy["device"] == {"identifiers": ["obisgate_m2"], "name": "m2", "model": "ZMD310"}
    assert "unit_of_measurement" not in energy
    assert energy["state_topic"] == "og/m2/e/out"


def test_old_discovery_configs_are_removed_once_the_node_changes() -> None:
    # Before: keyed on the address (serialnumber) ...
    assert legacy_node(DEVICE, "obisgate-host") == "obisgate_00188123"
    removals = legacy_removals(
        DEVICE, discovery_prefix="homeassistant", legacy_client_id="obisgate-host"
    )
    assert removals == [
        ("homeassistant/sensor/obisgate_00188123/energy/config", b""),
        ("homeassistant/sensor/obisgate_00188123/p_total/config", b""),
        ("homeassistant/sensor/obisgate_00188123/_status/config", b""),
    ]
    # ... or, without an address, on the client id (the host) and the alias.
    bare = DiscoveryDevice("m3", "m3", "0", "/ISk5MT174", None, DEVICE.signals, "4711")
    assert legacy_node(bare, "obisgate-host") == "obisgate_obisgate-host_m3"
    assert len(legacy_removals(bare, discovery_prefix="ha", legacy_client_id="x")) == 3
    # A meter whose node did not change keeps its configs.
    same = DiscoveryDevice("m4", "m4", "4711", None, None, DEVICE.signals)
    assert device_node(same) == legacy_node(same, "any") == "obisgate_4711"
    assert legacy_removals(same, discovery_prefix="ha", legacy_client_id="any") == []


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


TEXT_TYPES = ["STRING", "HEX", "DIGITAL", "DATE", "TIME", "DATETIME"]


def test_text_signals_get_no_unit_or_class() -> None:
    """Home Assistant refuses every text state of a numeric sensor: a STRING, HEX or DATE
    signal is announced without unit, device class and state class, whatever its unit."""
    device = DiscoveryDevice(
        "m1",
        "m1",
        "0",
        "/ISk5MT174-0001",
        None,
        (
            DiscoverySignal("reading", "Reading", "kWh", numeric=False),
            DiscoverySignal("error_code", "Error", None, numeric=False),
            DiscoverySignal("stamp", "Stamp", None, ha_device_class="timestamp", numeric=False),
            DiscoverySignal("forced", "Forced", "kWh", "energy", "total", numeric=False),
        ),
        serial="71234567",
    )
    got = {str(c["name"]): c for c in configs(device, "json").values()}
    for name in ("Reading", "Error", "Forced"):
        assert {"unit_of_measurement", "device_class", "state_class"}.isdisjoint(got[name])
    assert got["Stamp"]["device_class"] == "timestamp"
    assert "unit_of_measurement" not in got["Stamp"]
    for config in got.values():
        assert ha_config_problems(config) == []


def every_unit_signal() -> list[tuple[str, str, str | None]]:
    meter_units = [*known_spellings(), "furlongs", ""]
    return [(f"s{i}", unit, None) for i, unit in enumerate(meter_units)]


@pytest.mark.parametrize("fmt", ["json", "wcc"])
@pytest.mark.parametrize("number_type", ["FLOAT", "INT32", *TEXT_TYPES])
def test_every_config_passes_home_assistants_rules(fmt: str, number_type: str) -> None:
    """Every unit a meter may send, for numbers and text: the configs pass Home
    Assistant's schema and unit rules, and the states of a readout render as Home
    Assistant accepts them (a number or nothing for numeric sensors)."""
    numeric = NumberType(number_type) in SCALED_TYPES
    names = every_unit_signal()
    device = DiscoveryDevice(
        "m1",
        "m1",
        "0",
        "/ISk5MT174-0001",
        None,
        tuple(
            DiscoverySignal(alias, alias, unit or None, numeric=numeric) for alias, unit, _ in names
        ),
        serial="71234567",
    )
    got = configs(device, fmt)
    assert len(got) == len(names) + 1
    for config in got.values():
        assert ha_config_problems(config) == [], config
    raw = {"FLOAT": "000123.4", "INT32": "42", "STRING": "000007,4", "HEX": "1F"}
    raw |= {"DIGITAL": "1", "DATE": "261201", "TIME": "101500", "DATETIME": "2612011015"}
    updates = []
    for alias, unit, _ in names:
        converted = convert(raw[number_type], number_type, unit=unit or None)
        updates.append(
            SignalUpdate("m1", alias, converted.value, converted.unit, T, converted.quality)
        )
    updates.append(SignalUpdate("m1", STATUS_SIGNAL, "ok", None, T, Quality.VALID))
    messages = state_messages(updates, prefix="og", fmt=fmt, qos=1)  # type: ignore[arg-type]
    payloads = {t: p for t, p, _, _ in messages}
    for config in got.values():
        payload = payloads[str(config["state_topic"])]
        assert ha_state_problem(config, payload) is None
        if numeric and config.get("entity_category") is None:
            assert render(str(config["value_template"]), payload) in ("123.4", "42")


def test_retained_state_messages() -> None:
    for fmt in ("json", "wcc"):
        messages = state_messages(readout(), prefix="og", fmt=fmt, qos=1, retain=True)
        assert all(retain for *_, retain in messages)
    both = state_messages(readout(), prefix="og", fmt="json", qos=1, partitions=4, retain=True)
    assert [retain for *_, retain in both] == [True, False]  # history messages never
