"""The bundled demo configuration: placeholders, validity, and that it fits the simulator."""

from __future__ import annotations

from pathlib import Path

import pytest

from obisgate import ConfigError, parse_data_block
from obisgate.gateway.config import ConfigFileError, load_config
from obisgate.gateway.demo_config import (
    DEMO_PROFILES,
    DEMO_SERIAL_DEVICES,
    DEMO_TCP_DEVICES,
    demo_template,
    render_demo_config,
)
from obisgate.gateway.numbers import NumberType
from obisgate.gateway.quality import Quality
from obisgate.simulator.builtin import get_profile

PORTS = {"tcp-kamstrup": 40001, "tcp-aux": 40002}


def rendered(tmp_path: Path, **kwargs: str) -> Path:
    path = tmp_path / "demo.toml"
    path.write_text(render_demo_config("/dev/pts/42", PORTS, **kwargs), encoding="utf-8")
    return path


def test_rendered_demo_loads_without_warnings(tmp_path: Path) -> None:
    config = load_config(rendered(tmp_path))
    assert config.warnings == ()
    assert [d.device_alias for d in config.devices] == [*DEMO_SERIAL_DEVICES, *DEMO_TCP_DEVICES]
    assert set(DEMO_PROFILES) == {d.device_alias for d in config.devices}
    bus = [config.device(alias) for alias in DEMO_SERIAL_DEVICES]
    assert {d.url_or_port for d in bus} == {"/dev/pts/42"}
    assert len({d.address for d in bus}) == 2 and "" not in {d.address for d in bus}
    kamstrup, aux = (config.device(alias) for alias in DEMO_TCP_DEVICES)
    assert (kamstrup.url_or_port, kamstrup.type) == ("tcp://127.0.0.1:40001", "A")
    assert (aux.url_or_port, aux.type) == ("tcp://127.0.0.1:40002", "C")
    assert config.storage.path == tmp_path / "obisgate-demo-history.sqlite"
    assert config.output.format == "table"
    types = {s.number_type for s in config.signals}
    assert {
        NumberType.FLOAT,
        NumberType.INT16,
        NumberType.STRING,
        NumberType.DATETIME,
        NumberType.HEX,
        NumberType.TIME,
    } <= types
    tags = {s.tag_job_todo for s in config.signals}
    assert {"1.8.0", "1.8.0*24", "1.6.0", "0.9.1", "F.F", "C.1.0"} <= tags
    assert any(s.tag_job_todo == "1.6.0" and s.value_index == 2 for s in config.signals)
    assert len(config.logged_signals) >= 3


def test_history_path_override(tmp_path: Path) -> None:
    config = load_config(rendered(tmp_path, history_path="/var/tmp/demo.sqlite"))
    assert config.storage.path == Path("/var/tmp/demo.sqlite")


def test_every_demo_signal_is_valid_on_its_simulated_meter(tmp_path: Path) -> None:
    config = load_config(rendered(tmp_path))
    for device in config.devices:
        profile = get_profile(DEMO_PROFILES[device.device_alias])
        assert device.address.lstrip("0") == profile.address.lstrip("0")
        datasets, _ = parse_data_block("\r\n".join(profile.lines) + "\r\n")
        by_address = {d.address: d for d in datasets}
        for signal in config.signals_for(device.device_alias):
            assert signal.tag_job_todo is not None  # the demo reads every signal
            result = signal.extract(
                by_address.get(signal.tag_job_todo), decimal_comma=device.decimal_comma
            )
            assert result.quality is Quality.VALID, (device.device_alias, signal.signal_alias)


def test_template_needs_rendering(tmp_path: Path) -> None:
    assert '"{pty}"' in demo_template()
    raw = tmp_path / "raw.toml"
    raw.write_text(demo_template(), encoding="utf-8")
    with pytest.raises(ConfigFileError) as info:
        load_config(raw)
    assert {p.field for p in info.value.problems} == {"port"}


def test_render_checks_the_ports() -> None:
    with pytest.raises(ConfigError, match="demo device tcp-aux: no TCP port"):
        render_demo_config("/dev/pts/1", {"tcp-kamstrup": 1})
    with pytest.raises(ConfigError, match="no TCP device tcp-x"):
        render_demo_config("/dev/pts/1", {**PORTS, "tcp-x": 3})
