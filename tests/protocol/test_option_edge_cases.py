"""Edge cases of reader options and parsing found in review."""

from __future__ import annotations

import pytest

from obisgate import ConfigError, ReadoutOptions, parse_readout
from obisgate.protocol.actions import Drain, Send, Sleep
from obisgate.protocol.client import ReadoutClient
from obisgate.protocol.identification import ProtocolMode


def test_non_standard_initial_rate_without_switch_answers_rate_zero() -> None:
    client = ReadoutClient(ReadoutOptions(initial_baud=115200, switch_baud=False))
    client.start()
    actions = client.receive_data(b"/LGZ5ZMF100AC\r\n")
    assert actions == [Sleep(0.2), Send(b"\x06000\r\n"), Drain()]
    assert client.baud == 115200


@pytest.mark.parametrize(
    "kwargs",
    [
        {"request_start": "/\u00e9"},
        {"option": "\u00e9"},
        {"bcc_method": "crc"},
        {"initial_baud": 0},
    ],
)
def test_bad_options_are_config_errors(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        ReadoutOptions(**kwargs)  # type: ignore[arg-type]


def test_bcc_method_given_as_text_is_used() -> None:
    assert ReadoutOptions(bcc_method="sum7").bcc_method.value == "sum7"  # type: ignore[arg-type]


def test_forced_mode_d_does_not_wait_for_option_select_time() -> None:
    client = ReadoutClient(ReadoutOptions(mode=ProtocolMode.D, response_timeout_s=2.0))
    client.start()
    client.receive_data(b"/HAG3eHZ\r\n")
    assert client.read_timeout_s == 2.0


def test_blank_between_value_groups_keeps_one_data_set() -> None:
    readout = parse_readout(b"1.6.0(02.468*kW) (2511180930)\r\n!\r\n")
    assert [(ds.address, [v.raw for v in ds.values]) for ds in readout.datasets] == [
        ("1.6.0", ["02.468*kW", "2511180930"])
    ]


def test_whole_session_capture_with_option_select_parses() -> None:
    block = b"1.8.0(1*kWh)\r\n!\r\n\x03"
    bcc = 0
    for b in block:
        bcc ^= b
    capture = b"/ISk5MT174\r\n\x06050\r\n\x02" + block + bytes([bcc])
    readout = parse_readout(capture)
    assert readout.identification is not None
    assert (readout.identification.manufacturer, readout.identification.identification) == (
        "ISk",
        "MT174",
    )
    assert readout.datasets[0].address == "1.8.0"
