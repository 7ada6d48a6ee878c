"""The capture loader serves exactly the meter's data sets, whatever the logger recorded."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.helpers import frame

from obisgate.errors import ConfigError
from obisgate.protocol.readout import parse_readout
from obisgate.simulator import load_profile

IDENT = b"/QRS4Unit 7  \r\n"  # trailing blanks belong to the identification
BODY = b"0.0.0(55501234)\r\n1.8.1(004711.25*kWh)\r\n1.8.2(000815.50*kWh)\r\n"
EXPECTED = parse_readout(IDENT + BODY + b"!\r\n").datasets


def load(tmp_path: Path, data: bytes, name: str = "capture.log") -> object:
    path = tmp_path / name
    path.write_bytes(data)
    return load_profile(path)


def served(profile: object) -> tuple[object, ...]:
    message = profile.data_message(corrupt_bcc=False)  # type: ignore[attr-defined]
    return parse_readout(message).datasets


@pytest.mark.parametrize(
    "capture",
    [
        pytest.param(b"/?!\r\n" + IDENT + frame(BODY + b"!\r\n"), id="request-echo"),
        pytest.param(b"/?55501234!\r\n" + IDENT + BODY + b"!\r\n", id="addressed-echo"),
        pytest.param(b"\x00\x00\x7f\r\n" + IDENT + BODY + b"!\r\n", id="nuls-and-junk"),
        pytest.param(IDENT + b"\x06040\r\n" + frame(BODY + b"!\r\n"), id="ack-echo"),
        pytest.param(IDENT + b"\x06040\r\n\x06\r\n" + frame(BODY + b"!\r\n"), id="meter-ack"),
        pytest.param(IDENT + frame(BODY + b"!\r\n") + b"\r\n", id="old-bcc-after-etx"),
        pytest.param(IDENT + b"\r\n" + BODY + b"!6796\r\n", id="dsmr-crc-trailer"),
        pytest.param(IDENT + BODY + b"!\r\n" + IDENT + b"9.9.9(1)\r\n!\r\n", id="two-telegrams"),
        pytest.param(IDENT + BODY[:-2] + b"!\r\n", id="bang-glued-to-bracket"),
        pytest.param(IDENT + b"\x02" + BODY + b"!\r\n", id="cut-frame"),
    ],
)
def test_capture_serves_exactly_the_data_sets(tmp_path: Path, capture: bytes) -> None:
    profile = load(tmp_path, capture)
    assert profile.identification_message() == IDENT  # type: ignore[attr-defined]
    assert served(profile) == EXPECTED


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(IDENT + b"\r\n!\r\n", id="no-data-set"),
        pytest.param(bytes(range(256)) * 4, id="binary"),
        pytest.param(b"\x89PNG\r\n\x1a\n/abc\x00\x01\x02\r\n\xff\xfe", id="binary-with-slash"),
        pytest.param(b"/?!\r\n", id="only-a-request"),
    ],
)
def test_file_without_a_data_set_is_refused_in_one_line(tmp_path: Path, data: bytes) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, data, "bad.bin")
    message = str(info.value)
    assert "\n" not in message
    assert "bad.bin" in message
