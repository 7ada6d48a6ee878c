"""One MQTT URL grammar: the gateway's [mqtt] url and the sink's --mqtt accept the same URLs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from obisgate.errors import ConfigError
from obisgate.gateway.outputs.mqtt.config import MqttConfig
from obisgate.mqtt_url import MqttUrl, parse_mqtt_url, tls_problems
from obisgate.sink.consumer import SinkSettings, client_options


def sink_settings(**fields: Any) -> SinkSettings:
    """The settings of a sink owning the one partition, with ``fields``."""
    return SinkSettings(partitions=1, owned=(0,), client_id="test-sink", **fields)


@pytest.mark.parametrize(
    ("text", "tls", "host", "port"),
    [
        ("mqtt://broker", False, "broker", 1883),
        ("mqtts://broker", True, "broker", 8883),
        ("MQTTS://Broker.Example:8884/", True, "Broker.Example", 8884),
        ("mqtt://10.0.0.5:1", False, "10.0.0.5", 1),
        ("mqtt://[::1]:65535", False, "::1", 65535),
        ("mqtts://[fd00::5]", True, "fd00::5", 8883),
        ("mqtt://mosquitto_1", False, "mosquitto_1", 1883),
        ("  mqtt://broker  ", False, "broker", 1883),
    ],
)
def test_the_grammar(text: str, tls: bool, host: str, port: int) -> None:
    assert parse_mqtt_url(text) == MqttUrl(tls=tls, host=host, port=port)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "broker:1883",
        "http://broker",
        "tcp://broker:1883",
        "mqtt://",
        "mqtt://broker:0",
        "mqtt://broker:70000",
        "mqtt://broker:port",
        "mqtt://broker/topic",
        "mqtt://broker?x=1",
        "mqtt://[::1",
        "mqtt://[not:v6:at:all:x]",
        "mqtt://::1",
        "mqtt://bro ker",
    ],
)
def test_what_is_refused_by_both(text: str) -> None:
    with pytest.raises(ValueError, match=r"allowed: mqtt://HOST\[:PORT\] or mqtts://"):
        parse_mqtt_url(text)
    with pytest.raises(ValidationError, match="mqtt://HOST"):
        MqttConfig(url=text)
    with pytest.raises(ConfigError, match=r"^--mqtt: allowed: mqtt://HOST"):
        client_options(sink_settings(mqtt_url=text))


def test_credentials_are_decoded_and_never_shown() -> None:
    url = parse_mqtt_url("mqtt://gw%40site:p%3Ass%40w0rd@broker:1884")
    assert (url.username, url.password, url.has_credentials) == ("gw@site", "p:ss@w0rd", True)
    assert "w0rd" not in repr(url)
    assert str(url) == "mqtt://broker:1884"
    assert str(parse_mqtt_url("mqtts://u@[::1]")) == "mqtts://[::1]:8883"
    options = client_options(sink_settings(mqtt_url="mqtt://gw:secret@broker"))
    assert options == {"hostname": "broker", "port": 1883, "username": "gw", "password": "secret"}
    given = client_options(
        sink_settings(mqtt_url="mqtt://gw:old@broker", mqtt_password=SecretStr("new"))
    )
    assert given["password"] == "new"  # --mqtt-password-* wins over the URL's
    with pytest.raises(ConfigError, match="a password needs a user name"):
        client_options(sink_settings(mqtt_url="mqtt://broker", mqtt_password=SecretStr("pw")))
    with pytest.raises(ValueError, match="allowed") as info:
        parse_mqtt_url("mqtt://gw:secret@broker:99999")
    assert "secret" not in str(info.value)


def test_the_gateway_wants_credentials_in_their_own_fields() -> None:
    with pytest.raises(ValidationError) as info:
        MqttConfig(url="mqtt://gw:secret@broker")
    assert "no user or password in the url" in str(info.value)
    assert "secret" not in str(info.value)


def test_tls_files_follow_one_rule(tmp_path: Path) -> None:
    plain, tls = parse_mqtt_url("mqtt://b"), parse_mqtt_url("mqtts://b")
    ca, cert, key = tmp_path / "ca.pem", tmp_path / "c.pem", tmp_path / "k.pem"
    assert tls_problems(tls, ca, cert, key) == []
    assert tls_problems(plain, None, None, None) == []
    assert tls_problems(plain, ca, None, None) == [
        "ca_file, cert_file and key_file need an mqtts:// url"
    ]
    assert tls_problems(tls, None, None, key) == ["key_file needs cert_file"]
    with pytest.raises(ConfigError, match="ca-file, cert-file and key-file need an mqtts:// url"):
        client_options(sink_settings(mqtt_url="mqtt://b", ca_file=ca))
    with pytest.raises(ConfigError, match=r"^--mqtt: the TLS files cannot be used"):
        client_options(sink_settings(mqtt_url="mqtts://b", ca_file=ca))  # no such file
