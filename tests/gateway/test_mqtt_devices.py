"""What the MQTT output learns from readouts: availability, units, identification."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from obisgate.gateway.config import load_config
from obisgate.gateway.outputs.mqtt.devices import DeviceTracker
from obisgate.gateway.outputs.mqtt.ha_discovery import discovery_messages
from obisgate.gateway.quality import Quality
from obisgate.gateway.updates import STATUS_SIGNAL, SignalUpdate

T = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


def tracker(tmp_path: Path, *, discovery: bool = True) -> DeviceTracker:
    path = tmp_path / "gw.toml"
    path.write_text(
        '[[devices]]\ndevice_alias = "m1"\nip = "127.0.0.1"\nport = 1\nserialnumber = "42"\n'
        '[[signals]]\ndevice_alias = "m1"\nsignal_alias = "energy"\ntag_job_todo = "1.8.0"\n'
        'number_type = "FLOAT"\n',
        encoding="utf-8",
    )
    return DeviceTracker(load_config(path), discovery=discovery)


def batch(
    status: str, unit: str | None = "kWh", raw: str | None = "/LGZ5ZMD310"
) -> list[SignalUpdate]:
    quality = Quality.VALID if status == "ok" else Quality.NOT_TOPICAL
    return [
        SignalUpdate("m1", "energy", 1.0, unit, T, quality),
        SignalUpdate(
            "m1", STATUS_SIGNAL, status, None, T, Quality.VALID, raw if status == "ok" else None
        ),
    ]


def test_first_good_readout_makes_discovery_due(tmp_path: Path) -> None:
    devices = tracker(tmp_path)
    assert devices.learn(batch("no answer")) is True
    assert devices.availability == {"m1": b"offline"}
    assert devices.to_announce == set()  # nothing known about it yet
    devices.dirty_availability.clear()
    assert devices.learn(batch("ok")) is True
    assert (devices.availability["m1"], devices.to_announce) == (b"online", {"m1"})
    described = devices.discovery("m1")
    assert described.identification == "/LGZ5ZMD310"
    assert described.signals[0].unit == "kWh"
    devices.to_announce.clear()
    devices.dirty_availability.clear()
    assert devices.learn(batch("ok")) is False  # nothing new
    assert devices.learn(batch("ok", unit="Wh")) is True  # the meter's unit changed
    assert devices.discovery("m1").signals[0].unit == "Wh"


def test_announce_all_and_discovery_off(tmp_path: Path) -> None:
    devices = tracker(tmp_path, discovery=False)
    devices.learn(batch("ok"))
    assert devices.to_announce == set()
    devices.dirty_availability.clear()
    devices.announce_all()
    assert (devices.dirty_availability, devices.to_announce) == ({"m1"}, set())


def test_signals_that_may_go_down_are_no_total_increasing(tmp_path: Path) -> None:
    path = tmp_path / "gw.toml"
    rows = [
        ("import", 'tag_job_todo = "1.8.0"\nunit = "kWh"'),
        ("power", 'tag_job_todo = "16.7.0"\nunit = "W"'),
        ("net_register", 'tag_job_todo = "16.8.0"\nunit = "kWh"\nmonotonic = 0'),
        ("net", 'source = "import - net_register"'),  # its unit comes with the readings
        ("import_copy", 'source = "import"\nmonotonic = 1'),
        ("net_told", 'source = "import - net_register"\nha_state_class = "total_increasing"'),
        ("signed_power", 'source = "power * -1"'),
    ]
    path.write_text(
        '[[devices]]\ndevice_alias = "m1"\nip = "127.0.0.1"\nport = 1\nserialnumber = "42"\n'
        + "".join(
            f'[[signals]]\ndevice_alias = "m1"\nsignal_alias = "{alias}"\n'
            f'number_type = "DOUBLE"\n{columns}\n'
            for alias, columns in rows
        ),
        encoding="utf-8",
    )
    devices = DeviceTracker(load_config(path), discovery=True)
    units = {"net": "kWh", "import_copy": "kWh", "net_told": "kWh", "signed_power": "W"}
    devices.learn(
        [SignalUpdate("m1", alias, 1.0, unit, T, Quality.VALID) for alias, unit in units.items()]
        + [SignalUpdate("m1", STATUS_SIGNAL, "ok", None, T, Quality.VALID, "/LGZ5ZMD310")]
    )
    classes = {s.alias: s.ha_state_class for s in devices.discovery("m1").signals}
    assert classes == {
        "import": None,  # inferred from kWh: total_increasing
        "power": None,
        "net_register": "total",
        "net": "total",
        "import_copy": None,
        "net_told": "total_increasing",
        "signed_power": None,
    }
    messages = discovery_messages(
        devices.discovery("m1"),
        discovery_prefix="homeassistant",
        topic_prefix="obisgate",
        client_id="gw",
        fmt="json",
        qos=1,
    )
    announced = {
        config["unique_id"].rsplit("_", 1)[-1]: (
            config.get("device_class"),
            config.get("state_class"),
        )
        for _, payload in messages
        if "state_class" in (config := json.loads(payload))
    }
    assert announced["net"] == ("energy", "total")
    assert announced["import"] == ("energy", "total_increasing")


def test_the_serial_in_the_readout_keys_the_device(tmp_path: Path) -> None:
    devices = tracker(tmp_path)
    ok = batch("ok")
    ok[-1] = SignalUpdate(
        "m1", STATUS_SIGNAL, "ok", None, T, Quality.VALID, "/LGZ5ZMD310", serial="4711"
    )
    assert devices.learn(ok) is True
    described = devices.discovery("m1")
    assert (described.serialnumber, described.serial, described.identity) == (
        "42",
        "4711",
        "LGZ_4711",
    )
    devices.to_announce.clear()
    assert devices.learn(ok) is False
    ok[-1] = SignalUpdate(
        "m1", STATUS_SIGNAL, "ok", None, T, Quality.VALID, "/LGZ5ZMD310", serial="4712"
    )
    assert devices.learn(ok) is True  # another meter on that line: announced anew
    assert devices.discovery("m1").identity == "LGZ_4712"
    assert devices.discovery("m1").signals[0].numeric is True


def two_devices(tmp_path: Path, *, discovery: bool) -> DeviceTracker:
    path = tmp_path / "two.toml"
    path.write_text(
        "".join(
            f'[[devices]]\ndevice_alias = "{alias}"\nip = "127.0.0.1"\nport = {port}\n'
            f'[[signals]]\ndevice_alias = "{alias}"\nsignal_alias = "energy"\n'
            'tag_job_todo = "1.8.0"\nnumber_type = "FLOAT"\n'
            for alias, port in (("a", 1), ("b", 2))
        ),
        encoding="utf-8",
    )
    return DeviceTracker(load_config(path), discovery=discovery)


def test_devices_configured_alike_share_their_discovery_signals(tmp_path: Path) -> None:
    # Memory at 50 000 devices: one tuple of signals for all, not one per device.
    devices = two_devices(tmp_path, discovery=True)
    a, b = devices._devices["a"], devices._devices["b"]
    assert a.static.signals is b.static.signals
    assert a.decreasing is b.decreasing
    assert (a.static.alias, b.static.alias) == ("a", "b")
    described = devices.discovery("b")
    assert (described.alias, [s.alias for s in described.signals]) == ("b", ["energy"])


def test_without_discovery_nothing_is_kept_per_device_but_availability(tmp_path: Path) -> None:
    devices = two_devices(tmp_path, discovery=False)
    assert devices._devices == {}
    ok = [
        SignalUpdate("a", "energy", 1.0, "kWh", T, Quality.VALID),
        SignalUpdate("a", STATUS_SIGNAL, "ok", None, T, Quality.VALID, "/LGZ5ZMD310"),
    ]
    assert devices.learn(ok) is True
    assert (devices.availability, devices.dirty_availability) == ({"a": b"online"}, {"a"})
    assert devices.learn(ok) is False
    devices.announce_all()
    assert devices.to_announce == set()
