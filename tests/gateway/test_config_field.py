"""Configuration of the field-proof features: total_timeout_ms, type = "D", password_file rules."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from obisgate import ProtocolMode
from obisgate.gateway.build import plans_from_config
from obisgate.gateway.config import ConfigFileError, load_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gw.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


SIGNAL = """
    [[signals]]
    device_alias = "{alias}"
    signal_alias = "e"
    tag_job_todo = "1.8.0"
    number_type = "FLOAT"
    {extra}
"""


def device(alias: str, where: str, extra: str = "") -> str:
    return f'\n[[devices]]\ndevice_alias = "{alias}"\n{where}\n{extra}\n'


def signal(alias: str, extra: str = "") -> str:
    return textwrap.dedent(SIGNAL.format(alias=alias, extra=extra))


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("", 10.0),  # the scan rate, at least 10 s
        ("scan_rate_ms = 60000", 60.0),
        ("scan_rate_ms = 500", 10.0),
        ("total_timeout_ms = 1500", 1.5),
    ],
)
def test_total_timeout_default_and_override(tmp_path: Path, extra: str, expected: float) -> None:
    path = write(tmp_path, device("m", 'url = "tcp://127.0.0.1:1"', extra) + signal("m"))
    (plan,) = plans_from_config(load_config(path))
    assert plan.total_timeout_s == pytest.approx(expected)


@pytest.mark.parametrize("value", ["inf", "nan", "0", "-1", '"soon"'])
def test_total_timeout_rejects_bad_values_naming_field_and_unit(tmp_path: Path, value: str) -> None:
    text = device("m", 'url = "tcp://127.0.0.1:1"', f"total_timeout_ms = {value}") + signal("m")
    with pytest.raises(ConfigFileError) as info:
        load_config(write(tmp_path, text))
    (problem,) = info.value.problems
    assert problem.field == "total_timeout_ms"
    assert "ms" in problem.message


def test_push_meter_type_d(tmp_path: Path) -> None:
    text = device("p", 'device = "/dev/ttyUSB1"', 'type = "D"\nbaudrate = 9600') + signal("p")
    (plan,) = plans_from_config(load_config(write(tmp_path, text)))
    assert plan.options.mode is ProtocolMode.D
    assert plan.options.start_baud == 9600


def test_push_meter_needs_its_own_line_and_no_commands(tmp_path: Path) -> None:
    text = (
        device("p", 'device = "/dev/ttyUSB1"', 'type = "D"')
        + device("q", 'device = "/dev/ttyUSB1"', 'serialnumber = "42"')
        + signal("p", 'read_by = "command"')
        + signal("q")
    )
    with pytest.raises(ConfigFileError) as info:
        load_config(write(tmp_path, text))
    messages = [(p.field, p.message) for p in info.value.problems]
    assert ("type", messages[0][1]) in messages
    assert any("line of its own" in m for _, m in messages)
    assert any(f == "read_by" and "by command" in m for f, m in messages)


def test_password_file_first_line_and_permission_warning(tmp_path: Path) -> None:
    secret = tmp_path / "pw.txt"
    secret.write_text("first-line\r\nsecond line\n")
    secret.chmod(0o640)
    text = device("m", 'url = "tcp://127.0.0.1:1"', f'password_file = "{secret}"') + signal("m")
    config = load_config(write(tmp_path, text))
    assert any("readable by group or others" in str(w) for w in config.warnings)
    resolved = config.devices[0].resolve_password()
    assert resolved is not None
    assert resolved.get_secret_value() == "first-line"
    secret.chmod(0o600)
    assert not load_config(write(tmp_path, text)).warnings
