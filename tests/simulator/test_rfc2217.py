"""The RFC 2217 server: telnet decoding, negotiation bytes, and serialx as a client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import serialx

from obisgate.protocol.chars import add_even_parity
from obisgate.simulator import Faults, get_profile, retime, serve_rfc2217
from obisgate.simulator.faults import JUNK_BYTES
from obisgate.simulator.rfc2217 import TelnetDecoder

TIMEOUT = 5.0
IAC, SB, SE, WILL, WONT, DO, DONT = 255, 250, 240, 251, 252, 253, 254
MT174 = get_profile("mt174").replace(reaction_time_s=0.0)
IDENT = MT174.identification_message()
DATA = MT174.data_message()


def joined(items: list[object]) -> list[object]:
    """Merge consecutive data chunks (chunking depends on how bytes were fed)."""
    out: list[object] = []
    for item in items:
        if isinstance(item, bytes) and out and isinstance(out[-1], bytes):
            out[-1] += item
        else:
            out.append(item)
    return out


STREAM = (
    b"ab\xff\xffc"  # data with an escaped IAC
    + bytes((IAC, WILL, 0))
    + b"d"
    + bytes((IAC, SB, 44, 1, 0, 0, 0xFF, 0xFF, 0x80, IAC, SE))  # escaped IAC in SB
    + bytes((IAC, 241))  # NOP
    + b"e"
)
DECODED = [b"ab\xffc", (WILL, 0), b"d", (SB, 44, b"\x01\x00\x00\xff\x80"), b"e"]


def test_telnet_decoder_whole() -> None:
    assert joined(list(TelnetDecoder().feed(STREAM))) == DECODED


def test_telnet_decoder_byte_by_byte() -> None:
    decoder = TelnetDecoder()
    items: list[object] = []
    for byte in STREAM:
        items += decoder.feed(bytes((byte,)))
    assert joined(items) == DECODED


@asynccontextmanager
async def raw(url: str) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    host, port = url.removeprefix("rfc2217://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        yield reader, writer
    finally:
        writer.close()
        await writer.wait_closed()


async def read(reader: asyncio.StreamReader, n: int) -> bytes:
    async with asyncio.timeout(TIMEOUT):
        return await reader.readexactly(n)


def sb(command: int, value: bytes) -> bytes:
    return bytes((IAC, SB, 44, command)) + value + bytes((IAC, SE))


async def test_negotiation_bytes() -> None:
    async with await serve_rfc2217(MT174) as sim, raw(sim.url) as (reader, writer):
        assert sim.url.startswith("rfc2217://127.0.0.1:")
        writer.write(bytes((IAC, WILL, 0)))
        assert await read(reader, 3) == bytes((IAC, DO, 0))
        # Asked again: already agreed, no answer; the next bytes answer the query.
        writer.write(bytes((IAC, WILL, 0)) + sb(1, b"\x00\x00\x00\x00"))
        assert await read(reader, 10) == sb(101, b"\x00\x00\x00\x00")
        writer.write(bytes((IAC, DO, 1)))  # ECHO: refused
        assert await read(reader, 3) == bytes((IAC, WONT, 1))
        writer.write(bytes((IAC, WILL, 44)))
        assert await read(reader, 3) == bytes((IAC, DO, 44))
        writer.write(sb(1, (300).to_bytes(4, "big")))
        assert await read(reader, 10) == sb(101, (300).to_bytes(4, "big"))
        writer.write(sb(2, b"\x07") + sb(3, b"\x03") + sb(5, b"\x07") + sb(11, b"\xff\xff"))
        assert await read(reader, 7 * 3 + 8) == (
            sb(102, b"\x07") + sb(103, b"\x03") + sb(105, b"\x08") + sb(111, b"\xff\xff")
        )
        writer.write(sb(0, b""))
        assert await read(reader, 30) == sb(100, b"obisgate meter simulator")
        writer.write(b"/?!\r\n")  # data at the rate set (300): the meter answers
        assert await read(reader, len(IDENT)) == IDENT


async def serialx_port(url: str, baud: int = 300) -> serialx.AsyncSerial:
    port = serialx.async_serial_for_url(url, baudrate=baud)
    async with asyncio.timeout(TIMEOUT):
        await port.open()
    return port


async def serial_read(port: serialx.AsyncSerial, n: int) -> bytes:
    async with asyncio.timeout(TIMEOUT):
        return await port.readexactly(n)


async def test_serialx_client_switching_baud_reads_the_readout() -> None:
    # The meter answers tr after the option select; the client must have
    # switched by then (two round trips on 127.0.0.1, well inside 0.3 s).
    async with await serve_rfc2217(MT174.replace(reaction_time_s=0.3)) as sim:
        port = await serialx_port(sim.url)
        try:
            await port.write(b"/?71234567!\r\n")
            assert await serial_read(port, len(IDENT)) == IDENT
            await port.write(b"\x06050\r\n")
            await port.flush()
            await port.reconfigure_port(baudrate=9600)
            assert await serial_read(port, len(DATA)) == DATA
        finally:
            await port.close()
    assert sim.stats.readout_bauds == {9600: 1}


async def test_serialx_client_that_does_not_switch_receives_garbage() -> None:
    async with await serve_rfc2217(MT174) as sim:
        port = await serialx_port(sim.url)
        try:
            await port.write(b"/?!\r\n")
            assert await serial_read(port, len(IDENT)) == IDENT
            await port.write(b"\x06050\r\n")
            garbage = retime(DATA, 9600, 300)
            assert await serial_read(port, len(garbage)) == garbage
        finally:
            await port.close()


async def test_a_request_sent_at_the_wrong_rate_is_not_understood() -> None:
    async with await serve_rfc2217(MT174) as sim:
        port = await serialx_port(sim.url, baud=9600)
        try:
            await port.write(b"/?!\r\n")  # garbled at the meter's 300 Bd receiver
            await port.flush()  # a round trip: the server has handled the bytes
            await port.reconfigure_port(baudrate=300)
            await port.write(b"/?71234567!\r\n")
            assert await serial_read(port, len(IDENT)) == IDENT
        finally:
            await port.close()
    assert sim.stats.requests == 1


async def test_iac_bytes_in_data_are_doubled() -> None:
    faults = Faults(junk=True, parity=True)  # DEL with its parity bit is 0xFF = IAC
    async with await serve_rfc2217(MT174, faults=faults) as sim:
        async with raw(sim.url) as (reader, writer):
            writer.write(b"/?!\r\n")
            expected = add_even_parity(JUNK_BYTES + IDENT)
            assert expected.count(b"\xff") == 2
            wire = expected.replace(b"\xff", b"\xff\xff")
            assert await read(reader, len(wire)) == wire
        port = await serialx_port(sim.url)
        try:
            await port.write(b"/?!\r\n")
            assert await serial_read(port, len(expected)) == expected
        finally:
            await port.close()
