"""The serial number a readout carries: what keys a meter in Home Assistant."""

from __future__ import annotations

import pytest

from obisgate import parse_readout
from obisgate.gateway.identity import meter_serial
from obisgate.simulator import get_profile


def serial_of(block: str) -> str | None:
    return meter_serial(
        parse_readout(
            ("/ISk5MT174\r\n\x02" + block + "!\r\n\x03").encode("latin-1") + b"\0", verify_bcc=False
        ).datasets
    )


@pytest.mark.parametrize(
    ("profile", "serial"),
    [
        ("mt174", "71234567"),
        ("e350", "12314330"),  # its address is 00188123: the readout says otherwise
        ("mode-b", "00000021043387"),  # leading zeros kept: the text as sent
        ("ehz-push", "1HAG0012345678"),  # eHZ server id 0-0:96.1.255*255
        ("zmd", "54459012"),
        ("am550", "93452781"),  # no address at all (direct HDLC)
        ("kamstrup", None),  # nothing that names it
        ("poison", "71234666"),  # C.1.0 wins over a NUL-padded 0.0.0
    ],
)
def test_serials_of_the_simulated_meters(profile: str, serial: str | None) -> None:
    assert meter_serial(get_profile(profile).datasets) == serial


@pytest.mark.parametrize(
    ("block", "serial"),
    [
        ("0.0.0(12345678)\r\nC.1.0(87654321)\r\n", "87654321"),  # the maker's number first
        ("1-0:0.0.0*255(4711)\r\n", "4711"),
        ("0-0:96.1.1(4530303435303033)\r\n0.0.0(1)\r\n", "4530303435303033"),
        ("C.1.0(00000000)\r\n0.0.0(4711)\r\n", "4711"),  # only zeros: no serial
        ("C.1.0(        )\r\n", None),  # blank
        ("C.1.0(AB\x01CD)\r\n", None),  # a control character
        ("1.8.0(0001234.5*kWh)\r\n", None),
        ("C.1.0*24(4711)\r\n", None),  # a billing period: not the meter's number
    ],
)
def test_serial_registers(block: str, serial: str | None) -> None:
    assert serial_of(block) == serial
