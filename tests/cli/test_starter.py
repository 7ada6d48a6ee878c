"""``obisgate init`` guesses number types that convert the meter's own values."""

from __future__ import annotations

from pathlib import Path

import pytest

from obisgate import parse_readout
from obisgate.cli.starter import (
    PUSH_SILENCE_MS,
    guess_number_type,
    starter_config,
    uses_decimal_comma,
)
from obisgate.gateway.config import load_config
from obisgate.protocol.identification import ProtocolMode


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("0.9.1(131519)", "TIME"),
        ("0.9.1(1315)", "STRING"),  # not a time the converter accepts: text, not INVALID
        ("0.9.2(241115)", "DATE"),
        ("0.9.2(24112)", "STRING"),
        ("F.F(00)", "HEX"),
        ("F.F(0000001C)", "HEX"),
        ("1.8.0(001234.120*kWh)", "FLOAT"),
        ("1.8.0(0147238412.123456*kWh)", "DOUBLE"),
        ("32.7(229*V)", "FLOAT"),
        ("C.1.0(71234567)", "STRING"),
        ("0.2.0(V1.07)", "STRING"),
        ("C.1.1(        )", "STRING"),
        ("1.8.0(000007,4*kWh)", "FLOAT"),  # a decimal comma: decimal_comma = 1
        ("0.1.0(000007,4)", "FLOAT"),
        ("1.8.0(0147238412,123456*kWh)", "DOUBLE"),
        ("0.2.0(1,2,3)", "STRING"),
    ],
)
def test_guess(line: str, expected: str) -> None:
    (dataset,) = parse_readout(line.encode() + b"\r\n!\r\n").datasets
    assert guess_number_type(dataset) == expected


def test_decimal_comma() -> None:
    readout = parse_readout(b"1.8.0(000007,4*kWh)\r\n1.8.1(3.5*kWh)\r\n0.2.0(1,2,3)\r\n!\r\n")
    assert [uses_decimal_comma(ds) for ds in readout.datasets] == [True, False, False]


def test_starter_config_with_a_decimal_comma_reads_the_number(tmp_path: Path) -> None:
    """``000007,4`` becomes FLOAT on a device with ``decimal_comma = 1``, and converts."""
    readout = parse_readout(b"1.8.0(000007,4*kWh)\r\n1.8.1(3.5*kWh)\r\n!\r\n")
    text, count = starter_config("tcp://127.0.0.1:9", "m", "", ProtocolMode.C, readout.datasets)
    path = tmp_path / "site.toml"
    path.write_text(text, encoding="utf-8")
    config = load_config(path)
    (device,) = config.devices
    assert (count, device.decimal_comma) == (2, True)
    energy, t1 = config.signals
    assert (energy.number_type.value, energy.log) == ("FLOAT", 1)
    converted = energy.extract(readout.datasets[0], decimal_comma=device.decimal_comma)
    assert (converted.value, converted.quality.is_valid) == (7.4, True)
    assert t1.extract(readout.datasets[1], decimal_comma=True).value == 3.5


def test_starter_config_without_a_comma_leaves_the_default() -> None:
    readout = parse_readout(b"1.8.0(000007.4*kWh)\r\n!\r\n")
    text, _ = starter_config("tcp://127.0.0.1:9", "m", "", ProtocolMode.C, readout.datasets)
    assert "decimal_comma" not in text


def test_starter_config_of_a_push_meter(tmp_path: Path) -> None:
    """Mode D: type D, no request address, a silence long enough for its pushes."""
    readout = parse_readout(b"1-0:1.8.0*255(00000123.4567*kWh)\r\n!\r\n")
    text, _ = starter_config("tcp://127.0.0.1:9", "m", "", ProtocolMode.D, readout.datasets)
    path = tmp_path / "site.toml"
    path.write_text(text, encoding="utf-8")
    (device,) = load_config(path).devices
    assert (device.type, device.timeout_ms) == ("D", PUSH_SILENCE_MS)
    assert "serialnumber" not in text
