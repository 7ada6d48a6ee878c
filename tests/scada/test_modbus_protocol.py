"""Modbus TCP frames without a socket: requests cut from any split of the stream, answers
byte by byte."""

from __future__ import annotations

import pytest

from obisgate.gateway.outputs.modbus.protocol import (
    MalformedFrame,
    Request,
    RequestReader,
    answer,
)

READ_TWO = bytes.fromhex("00 2a 00 00 00 06 01 03 00 0a 00 02")


def test_requests_across_and_within_chunks() -> None:
    stream = READ_TWO + bytes.fromhex("00 2b 00 00 00 02 01 07")
    reader = RequestReader()
    requests = [r for byte in stream for r in reader.feed(bytes((byte,)))]
    assert requests == [
        Request(42, 1, 3, bytes.fromhex("00 0a 00 02")),
        Request(43, 1, 7, b""),
    ]
    assert RequestReader().feed(stream) == requests


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (bytes.fromhex("00 01 00 01 00 06 01 03 00 00 00 01"), "protocol id 1"),
        (bytes.fromhex("00 01 00 00 00 01 01"), "length field 1, allowed 2-254"),
        (bytes.fromhex("00 01 00 00 01 00 01"), "length field 256"),
    ],
)
def test_malformed_frames(data: bytes, message: str) -> None:
    with pytest.raises(MalformedFrame, match=message):
        RequestReader().feed(data)


def registers(first: int, count: int) -> list[int] | None:
    return list(range(first, first + count)) if first + count <= 20 else None


def test_answers() -> None:
    (request,) = RequestReader().feed(READ_TWO)
    assert answer(request, unit_id=1, read_registers=registers, read_bits=None) == bytes.fromhex(
        "00 2a 00 00 00 07 01 03 04 00 0a 00 0b"
    )
    assert answer(request, unit_id=0, read_registers=registers, read_bits=None)[7:9] == b"\x03\x04"
    assert answer(request, unit_id=2, read_registers=registers, read_bits=None) == bytes.fromhex(
        "00 2a 00 00 00 03 01 83 0b"
    )
    short = Request(1, 1, 4, b"\x00")
    assert answer(short, unit_id=1, read_registers=registers, read_bits=None)[7:] == b"\x84\x03"
    bits = Request(1, 1, 2, bytes.fromhex("00 00 00 0a"))
    packed = answer(
        bits, unit_id=1, read_registers=registers, read_bits=lambda a, n: [True, False] * (n // 2)
    )
    assert packed[7:] == bytes.fromhex("02 02 55 01")
