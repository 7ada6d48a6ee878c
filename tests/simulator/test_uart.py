"""The UART model: what a receiver at the wrong rate makes of the bytes."""

from __future__ import annotations

import pytest

from obisgate.simulator import get_profile, retime

RATES = (300, 600, 1200, 2400, 4800, 9600, 19200)


def test_same_rate_passes_bytes_intact() -> None:
    data = bytes(range(256))
    assert retime(data, 9600, 9600) is data
    assert retime(b"", 300, 9600) == b""


@pytest.mark.parametrize(
    ("data", "tx", "rx", "expected"),
    [
        # 0x00 sent at 300, read at 600: start + 8 zero bits seen, stop bit low -> NUL
        (b"\x00", 300, 600, b"\x00"),
        # 0xFF at 300 read at 600: the start bit fills the low half of the byte
        (b"\xff", 300, 600, b"\xfe"),
        # alternating bits at twice the rate look like glitches: nothing is read
        (b"\x55", 600, 300, b""),
        # a slow '/' read 32 times faster: one NUL per low stretch (framing errors)
        (b"/", 300, 9600, b"\x00\x00\x00"),
    ],
)
def test_known_vectors(data: bytes, tx: int, rx: int, expected: bytes) -> None:
    assert retime(data, tx, rx) == expected


@pytest.mark.parametrize("rx", RATES)
@pytest.mark.parametrize("tx", RATES)
def test_a_readout_never_survives_a_rate_mismatch(tx: int, rx: int) -> None:
    message = get_profile("e350").data_message()
    received = retime(message, tx, rx)
    if tx == rx:
        assert received == message
    else:
        assert received != message
        assert b"1.8.0" not in received
        assert retime(message, tx, rx) == received  # deterministic
