"""The [mqtt] section: defaults, every field, errors located, secrets never shown."""

from __future__ import annotations

import socket
import textwrap
from pathlib import Path

import pytest
from pydantic import ValidationError

from obisgate import ConfigError
from obisgate.gateway.config import ConfigFileError, load_config
from obisgate.gateway.outputs.mqtt.config import MqttConfig, default_client_id
from obisgate.gateway.outputs.mqtt.spec import MQTT

DEVICE = """\
[[devices]]
device_alias = "m1"
device = "/dev/ttyUSB0"

[[signals]]
device_alias = "m1"
signal_alias = "energy"
tag_job_todo = "1.8.0"
number_type = "FLOAT"
"""


def write(tmp_path: Path, mqtt: str, signals: str = "") -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(DEVICE + signals + "\n[mqtt]\n" + textwrap.dedent(mqtt), encoding="utf-8")
    return path


def test_absent_section_leaves_mqtt_off(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(DEVICE, encoding="utf-8")
    assert load_config(path).section(MQTT) is None


def test_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, 'url = "mqtt://broker.local"\n')).section(MQTT)
    assert config is not None
    assert (config.host, config.port, config.tls) == ("broker.local", 1883, False)
    assert config.client_id is None  # the default: unique per host, configuration, shard
    identity = config.client_identity(tmp_path / "gateway.toml")
    assert identity == default_client_id(tmp_path / "gateway.toml")
    assert identity.startswith("obisgate-")
    assert socket.gethostname().split(".")[0][:5] in identity
    assert identity != config.client_identity(tmp_path / "other.toml")
    assert config.client_identity(tmp_path / "gateway.toml", "shard2") == f"{identity}-shard2"
    assert config.retain_state is False
    assert config.topic_prefix == "obisgate"
    assert config.qos == 1
    assert config.format == "json"
    assert config.discovery_prefix == "homeassistant"
    assert config.outbox_max_rows == 1_000_000
    assert config.username is None
    assert config.resolve_password() is None


def test_every_field_and_relative_paths(tmp_path: Path) -> None:
    text = """\
        url = "mqtts://[::1]:8884"
        ca_file = "certs/ca.pem"
        cert_file = "/etc/obisgate/client.pem"
        key_file = "certs/client.key"
        username = "gw"
        password_file = "secret.txt"
        client_id = "gw-7"
        topic_prefix = "site1/meters"
        qos = "2"
        format = "WCC"
        discovery_prefix = "none"
        outbox_max_rows = 5000
    """
    config = load_config(write(tmp_path, text)).section(MQTT)
    assert config is not None
    assert (config.host, config.port, config.tls) == ("::1", 8884, True)
    assert config.ca_file == tmp_path / "certs/ca.pem"
    assert config.cert_file == Path("/etc/obisgate/client.pem")
    assert config.key_file == tmp_path / "certs/client.key"
    assert config.password_file == tmp_path / "secret.txt"
    assert (config.client_id, config.topic_prefix, config.qos) == ("gw-7", "site1/meters", 2)
    assert (config.format, config.discovery_prefix, config.outbox_max_rows) == ("wcc", "", 5000)
    (tmp_path / "secret.txt").write_text("pa55word\n", encoding="utf-8")
    secret = config.resolve_password()
    assert secret is not None
    assert secret.get_secret_value() == "pa55word"
    assert "pa55word" not in repr(config)


def test_password_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    config = MqttConfig(url="mqtt://h", username="u", password_env="OBISGATE_MQTT_PW")
    monkeypatch.delenv("OBISGATE_MQTT_PW", raising=False)
    with pytest.raises(ConfigError) as unset:
        config.resolve_password()
    assert str(unset.value) == (
        "[mqtt] the variable named in password_env (OBISGATE_MQTT_PW) is not set"
    )
    monkeypatch.setenv("OBISGATE_MQTT_PW", "hunter2")
    secret = config.resolve_password()
    assert secret is not None
    assert secret.get_secret_value() == "hunter2"
    missing = MqttConfig(url="mqtt://h", username="u", password_file=Path("/nonexistent/pw"))
    with pytest.raises(ConfigError) as unreadable:
        missing.resolve_password()
    assert str(unreadable.value) == (
        "[mqtt] password_file /nonexistent/pw: cannot read the password file: "
        "No such file or directory"
    )


def test_every_error_is_located(tmp_path: Path) -> None:
    text = """\
        url = "http://broker:1883"
        qos = 3
        format = "xml"
        topic_prefix = "a/+/b"
        discovery_prefix = "/ha"
        client_id = "has space"
        outbox_max_rows = 10
        password_env = "not a name"
    """
    with pytest.raises(ConfigFileError) as info:
        load_config(write(tmp_path, text))
    got = {p.field: (p.line, p.message) for p in info.value.problems}
    assert set(got) == {
        "url",
        "qos",
        "format",
        "topic_prefix",
        "discovery_prefix",
        "client_id",
        "outbox_max_rows",
        "password_env",
    }
    first = DEVICE.count("\n") + 3
    assert got["url"][0] == first
    assert "mqtt://HOST[:PORT]" in got["url"][1]
    assert "allowed: 0, 1, 2" in got["qos"][1]
    assert "json, wcc" in got["format"][1]
    assert got["outbox_max_rows"][1].endswith("allowed: 100 to 100000000")
    assert "not a name" not in str(info.value)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ('url = "mqtt://h"\nca_file = "ca.pem"', "need an mqtts:// url"),
        ('url = "mqtts://h"\nkey_file = "k.pem"', "key_file needs cert_file"),
        ('url = "mqtt://h"\npassword_env = "PW"', "a password needs a username"),
        (
            'url = "mqtt://h"\nusername = "u"\npassword_env = "PW"\npassword_file = "pw"',
            "only one of password_env, password_file",
        ),
        ('url = "mqtt://user:pw@h"', "no user or password in the url"),
        ('url = "mqtt://h:70000"', "mqtt://HOST[:PORT]"),
    ],
)
def test_combinations(tmp_path: Path, fields: str, message: str) -> None:
    with pytest.raises(ConfigFileError) as info:
        load_config(write(tmp_path, fields + "\n"))
    assert message in str(info.value)
    assert "user:pw" not in str(info.value)


def test_missing_url_and_unknown_password_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError) as info:
        load_config(write(tmp_path, 'password = "letmein"\n'))
    text = str(info.value)
    assert "url: required field is missing" in text
    assert "unknown field 'password'" in text
    assert "letmein" not in text


def test_home_assistant_class_against_the_unit(tmp_path: Path) -> None:
    signals = """
[[signals]]
device_alias = "m1"
signal_alias = "gas"
tag_job_todo = "7.8.0"
number_type = "FLOAT"
unit = "kWh"
ha_device_class = "gas"

[[signals]]
device_alias = "m1"
signal_alias = "import"
tag_job_todo = "1.8.1"
number_type = "FLOAT"
unit = "kWh"
ha_device_class = "energy"
ha_state_class = "measurement"

[[signals]]
device_alias = "m1"
signal_alias = "water"
tag_job_todo = "8.8.0"
number_type = "FLOAT"
unit = "m3"
ha_device_class = "water"

[[signals]]
device_alias = "m1"
signal_alias = "p"
tag_job_todo = "1.7.0"
number_type = "FLOAT"
unit = "kWh"
ha_device_class = "power"

[[signals]]
device_alias = "m1"
signal_alias = "u"
tag_job_todo = "32.7.0"
number_type = "FLOAT"
unit = "A"
ha_device_class = "voltage"

[[signals]]
device_alias = "m1"
signal_alias = "counter"
tag_job_todo = "1.8.2"
number_type = "FLOAT"
unit = "kWh"
ha_state_class = "measurement"

[[signals]]
device_alias = "m1"
signal_alias = "text"
tag_job_todo = "C.1.0"
number_type = "STRING"
ha_device_class = "energy"

[[signals]]
device_alias = "m1"
signal_alias = "stamp"
tag_job_todo = "1.8.3"
number_type = "FLOAT"
ha_device_class = "timestamp"

[[signals]]
device_alias = "m1"
signal_alias = "flow"
tag_job_todo = "9.7.0"
number_type = "FLOAT"
unit = "m3ph"
ha_device_class = "volume_flow_rate"
"""
    with pytest.raises(ConfigFileError) as info:
        load_config(write(tmp_path, 'url = "mqtt://h"\n', signals))
    got = [(p.line, p.field, p.message) for p in info.value.problems]
    ha_device_class_line = DEVICE.count("\n") + 8
    assert got[0][:2] == (ha_device_class_line, "ha_device_class")
    assert got[0][2] == "gas needs CCF, L, MCF, ft³, m³; the signal's unit is 'kWh'"
    assert got[1][1:] == (
        "ha_state_class",
        "energy needs total or total_increasing (Home Assistant refuses measurement)",
    )
    # Every class against the unit, not only energy and volumes (water with m3 is right:
    # the unit is written m³, as Home Assistant spells it).
    assert [m for _, f, m in got[2:]] == [
        "power needs GW, MW, TW, W, kW, mW; the signal's unit is 'kWh'",
        "voltage needs MV, V, kV, mV, µV; the signal's unit is 'A'",
        "energy needs total or total_increasing (Home Assistant refuses measurement)",
        "energy needs a number; this signal's value is text",
        "timestamp is for text values (DATE, DATETIME, STRING)",
    ]
    # Without discovery the classes are not used, so not checked.
    config = load_config(write(tmp_path, 'url = "mqtt://h"\ndiscovery_prefix = "None"\n', signals))
    assert config.section(MQTT) is not None


def test_model_is_frozen() -> None:
    config = MqttConfig(url="mqtt://h")
    with pytest.raises(ValidationError):
        config.qos = 0


def test_password_file_first_line_and_permission_warning(tmp_path: Path) -> None:
    secret_file = tmp_path / "pw"
    secret_file.write_text("s3cret\nsecond line\n", encoding="utf-8")
    secret_file.chmod(0o644)
    text = 'url = "mqtt://h"\nusername = "u"\npassword_file = "pw"\n'
    loaded = load_config(write(tmp_path, text))
    mqtt = loaded.section(MQTT)
    assert mqtt is not None
    secret = mqtt.resolve_password()
    assert secret is not None
    assert secret.get_secret_value() == "s3cret"  # the meters' rule: the first line
    warnings = [str(w) for w in loaded.warnings]
    assert any("password_file is readable by group or others" in w for w in warnings)
    assert all("s3cret" not in w for w in warnings)
    secret_file.chmod(0o600)
    assert not load_config(write(tmp_path, text)).warnings
