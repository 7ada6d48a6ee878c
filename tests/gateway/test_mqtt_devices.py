"""What the MQTT output learns from readouts: availability, units, identification."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from obisgate.gateway.config import load_config
from obisgate.gateway.outputs.mqtt.devices import DeviceTracker
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
