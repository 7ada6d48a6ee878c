"""``obisgate init`` guesses number types that convert the meter's own values."""

from __future__ import annotations

import pytest

from obisgate import parse_readout
from obisgate.cli.starter import guess_number_type


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
    ],
)
def test_guess(line: str, expected: str) -> None:
    (dataset,) = parse_readout(line.encode() + b"\r\n!\r\n").datasets
    assert guess_number_type(dataset) == expected
