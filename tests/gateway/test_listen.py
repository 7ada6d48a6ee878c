"""``listen = "HOST:PORT"``: one parser for every server output, the same answers for each."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from obisgate.gateway.outputs import listen
from obisgate.gateway.outputs.http import config as http_config
from obisgate.gateway.outputs.http.config import HttpConfig
from obisgate.gateway.outputs.iec104.config import Iec104Config
from obisgate.gateway.outputs.modbus.config import ModbusConfig
from obisgate.gateway.outputs.opcua.config import OpcUaConfig

SECTIONS = [HttpConfig, ModbusConfig, Iec104Config, OpcUaConfig]


def test_there_is_one_parser() -> None:
    assert vars(http_config)["split_listen"] is listen.split_listen


@pytest.mark.parametrize("section", SECTIONS)
@pytest.mark.parametrize(
    ("text", "normal"),
    [
        (" 127.0.0.1:502 ", "127.0.0.1:502"),
        ("[::1]:0", "[::1]:0"),
        ("localhost:8080", "localhost:8080"),
    ],
)
def test_good_addresses(section: type[ModbusConfig], text: str, normal: str) -> None:
    assert section(listen=text).listen == normal


@pytest.mark.parametrize("section", SECTIONS)
@pytest.mark.parametrize(
    "text",
    ["8080", ":80", "127.0.0.1:70000", "[abc]:80", "[1.2.3.4]:80", "127.0.0.1:\u0663", "::1:80"],
)
def test_bad_addresses_get_the_same_message(section: type[ModbusConfig], text: str) -> None:
    with pytest.raises(ValidationError) as caught:
        section(listen=text)
    assert "allowed: HOST:PORT, port 0-65535 (0: any free port)" in str(caught.value)
