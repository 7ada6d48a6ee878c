"""``/metrics`` as the Prometheus naming guide asks: one unit per quantity, named in the
metric; registers that only grow as counters; counters typed with ``_total`` and real
HELP texts; ``obisgate_build_info``. Read back with prometheus_client's own parser."""

from __future__ import annotations

import datetime as dt
import platform

import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from obisgate.gateway.outputs.health import OutputHealth, OutputState
from obisgate.gateway.outputs.http.metrics import MetricsSnapshot, render_metrics
from obisgate.gateway.quality import Quality
from obisgate.gateway.updates import SignalUpdate

NOW = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)


def update(device: str, signal: str, value: object, unit: str | None) -> SignalUpdate:
    return SignalUpdate(device, signal, value, unit, NOW, Quality.VALID)


LATEST = [
    update("a", "energy", 1234.5, "kWh"),
    update("b", "energy", 900.0, "Wh"),
    update("a", "energy_big", 2.0, "MWh"),
    update("a", "power", 1.5, "kW"),
    update("b", "power", 230.0, "W"),
    update("a", "reactive", 3.0, "kvarh"),
    update("a", "voltage", 230.1, "V"),
    update("a", "current", 1500.0, "mA"),
    update("a", "frequency", 50.0, "Hz"),
    update("w", "volume", 1500.0, "L"),
    update("w", "flow", 1.25, "m³/h"),
    update("w", "temperature", 21.5, "°C"),
    update("w", "hours", 2.0, "h"),
    update("w", "delta", 5.0, "K"),  # a temperature difference: no temperature metric
    update("a", "serial", "71234567", None),  # text: in no metric
    update("a", "counter", 17, None),  # a number without unit: only obisgate_signal_value
]


Found = dict[str, tuple[str, str, list[Sample]]]


def scrape(snapshot: MetricsSnapshot) -> Found:
    body, content_type = render_metrics(snapshot)
    assert content_type.startswith("text/plain")
    return {
        family.name: (family.type, family.documentation, family.samples)
        for family in text_string_to_metric_families(body.decode())
    }


def values(family: tuple[str, str, list[Sample]]) -> dict[tuple[str, str], float]:
    return {(s.labels["device"], s.labels["signal"]): s.value for s in family[2]}


@pytest.fixture
def found() -> Found:
    health = {
        "mqtt": OutputHealth(
            state=OutputState.RUNNING,
            since=NOW,
            counters={"sent_total": 12, "outbox_depth": 3, "odd_things_total": 1},
        )
    }
    snapshot = MetricsSnapshot(
        latest=LATEST,
        devices={"a": (True, 3, 0), "b": (True, 3, 0), "w": (True, 1, 0)},
        stats={"devices": 3, "lines": 3, "missed_scans": 0, "dropped_batches": {"mqtt": 0}},
        device_stats={},
        health=health,
        backfill={},
    )
    return scrape(snapshot)


def test_one_unit_per_quantity_named_in_the_metric(found: Found) -> None:
    assert values(found["obisgate_power_watts"]) == {("a", "power"): 1500.0, ("b", "power"): 230.0}
    assert values(found["obisgate_voltage_volts"]) == {("a", "voltage"): 230.1}
    assert values(found["obisgate_current_amperes"]) == {("a", "current"): 1.5}
    assert values(found["obisgate_frequency_hertz"]) == {("a", "frequency"): 50.0}
    assert values(found["obisgate_temperature_celsius"]) == {("w", "temperature"): 21.5}
    assert values(found["obisgate_volume_flow_cubic_meters_per_hour"]) == {("w", "flow"): 1.25}
    assert values(found["obisgate_duration_seconds"]) == {("w", "hours"): 7200.0}
    for name in ("obisgate_power_watts", "obisgate_voltage_volts"):
        assert found[name][0] == "gauge"
    # Only obisgate_signal_value (in the meter's unit) has a number without a known
    # quantity: a count, or kelvin (a temperature difference); text is in no metric.
    raw = values(found["obisgate_signal_value"])
    assert raw[("a", "counter")] == 17 and raw[("w", "delta")] == 5
    assert ("a", "serial") not in raw
    in_quantities = [
        key
        for name, family in found.items()
        if not name.startswith("obisgate_signal_") and family[2] and "signal" in family[2][0].labels
        for key in values(family)
    ]
    assert sorted(in_quantities) == sorted(
        k for k in raw if k not in {("a", "counter"), ("w", "delta")}
    )


def test_registers_that_only_grow_are_counters(found: Found) -> None:
    kind, help_text, samples = found["obisgate_energy_watt_hours"]
    assert (kind, help_text) == ("counter", "Active energy register, in Wh.")
    assert {(s.name, s.labels["device"], s.labels["signal"], s.value) for s in samples} == {
        ("obisgate_energy_watt_hours_total", "a", "energy", 1234500.0),
        ("obisgate_energy_watt_hours_total", "b", "energy", 900.0),
        ("obisgate_energy_watt_hours_total", "a", "energy_big", 2000000.0),
    }
    assert found["obisgate_reactive_energy_var_hours"][0] == "counter"
    assert values(found["obisgate_reactive_energy_var_hours"]) == {("a", "reactive"): 3000.0}
    assert found["obisgate_volume_cubic_meters"][0] == "counter"
    assert values(found["obisgate_volume_cubic_meters"]) == {("w", "volume"): 1.5}


def test_a_register_that_may_go_down_is_no_counter() -> None:
    net = update("a", "net", -12.5, "kWh")  # a derived net energy (import - export)
    snapshot = MetricsSnapshot(
        latest=[*LATEST, net],
        devices={"a": (True, 3, 0)},
        stats={"devices": 1, "lines": 1, "missed_scans": 0, "dropped_batches": {}},
        device_stats={},
        health={},
        backfill={},
        decreasing=frozenset({("a", "net"), ("b", "power")}),
    )
    found = scrape(snapshot)
    assert ("a", "net") not in values(found["obisgate_energy_watt_hours"])
    assert values(found["obisgate_signal_value"])[("a", "net")] == -12.5
    assert ("b", "power") in values(found["obisgate_power_watts"])  # a gauge may go down


def test_counters_have_total_and_real_help(found: Found) -> None:
    kind, help_text, samples = found["obisgate_mqtt_sent"]
    assert (kind, help_text) == ("counter", "Messages the mqtt output handed to its peer.")
    assert [s.name for s in samples] == ["obisgate_mqtt_sent_total"]
    kind, help_text, _ = found["obisgate_mqtt_outbox_depth"]
    assert (kind, help_text) == ("gauge", "Readings waiting in the mqtt output's outbox.")
    assert found["obisgate_mqtt_odd_things"][1] == "Count of odd things of the mqtt output."
    for name, (kind, help_text, samples) in found.items():
        assert help_text and not help_text.startswith(("sent_total", "outbox_depth")), name
        if kind == "counter":
            assert all(s.name.endswith(("_total", "_created")) for s in samples), name


def test_build_info(found: Found) -> None:
    kind, _, (sample,) = found["obisgate_build_info"]
    assert kind == "gauge"
    assert sample.value == 1
    assert sample.labels["python"] == platform.python_version()
    assert sample.labels["version"] not in ("", "unknown")
