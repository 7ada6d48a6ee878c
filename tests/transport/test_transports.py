"""Transports: URL dispatch, TCP and serial (pty) behaviour, every error path typed."""

from __future__ import annotations

import asyncio
import os
import socket
import termios
from collections.abc import AsyncIterator
from typing import Any

import pytest
from tests.helpers import to_7e1

from obisgate import (
    ConfigError,
    ConnectError,
    ConnectionLostError,
    LineSettings,
    UnsupportedOperation,
    open_transport,
)


@pytest.fixture
async def echo_server() -> AsyncIterator[tuple[int, list[bytes]]]:
    received: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        data = await reader.read(100)
        received.append(data)
        writer.write(b"answer")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    async with server:
        yield server.sockets[0].getsockname()[1], received


@pytest.mark.parametrize(
    "url",
    ["foo://x:1", "tcp://127.0.0.1", "tcp://:5", "rfc2217://host", "tcp://host:notaport"],
)
async def test_bad_urls_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError, match=r"HOST:PORT|scheme"):
        await open_transport(url)


@pytest.mark.parametrize(
    "kwargs",
    [{"parity": "X"}, {"bytesize": 9}, {"stopbits": 3}, {"flowcontrol": "magic"}, {"baudrate": 0}],
)
def test_bad_line_settings(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        LineSettings(**kwargs)


def test_line_settings_normalise_names() -> None:
    line = LineSettings(parity="even", flowcontrol="NONE")
    assert (line.parity, line.flowcontrol) == ("E", "none")


async def test_tcp_roundtrip_eof_and_no_baud_switch(echo_server: tuple[int, list[bytes]]) -> None:
    port, received = echo_server
    transport = await open_transport(f"tcp://127.0.0.1:{port}", LineSettings(software_parity=True))
    async with transport:
        assert transport.can_set_baud is False
        await transport.write(b"/?!\r\n")
        await transport.drain()
        assert await transport.read() == b"answer"
        with pytest.raises(ConnectionLostError, match="closed by the peer"):
            await transport.read()
        with pytest.raises(UnsupportedOperation, match="rfc2217"):
            await transport.set_baud(9600)
    # software parity: '/' (0x2F, five 1-bits) goes out with bit 7 set, '?' (six) without
    assert received == [bytes([0xAF, 0x3F, 0x21, 0x8D, 0x0A])]


async def test_tcp_connection_refused_is_connect_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ConnectError, match="cannot connect"):
        await open_transport(f"tcp://127.0.0.1:{port}")


async def test_missing_serial_port_is_connect_error() -> None:
    with pytest.raises(ConnectError, match="cannot open /dev/does-not-exist"):
        await open_transport("/dev/does-not-exist")


@pytest.mark.pty
async def test_serial_pty_roundtrip_and_baud_switch_seen_by_the_other_side() -> None:
    master, slave = os.openpty()
    path = os.ttyname(slave)
    try:
        transport = await open_transport(path, LineSettings())
        async with transport:
            assert transport.can_set_baud is True
            await transport.write(b"/?!\r\n")
            await transport.drain()
            # A pty that keeps 7E1 passes the 7 bits; one that silently keeps 8N1 (most
            # Linux kernels) gets the frames of 7E1, the parity bit computed in software.
            cflag = termios.tcgetattr(master)[2]
            kept = cflag & termios.PARENB and cflag & termios.CSIZE == termios.CS7
            assert os.read(master, 100) == (b"/?!\r\n" if kept else to_7e1(b"/?!\r\n"))
            await transport.set_baud(9600)
            assert termios.tcgetattr(master)[4] == termios.B9600
            assert transport.baud == 9600
            os.write(master, b"\x02data")
            assert await transport.read() == b"\x02data"
    finally:
        os.close(master)
        os.close(slave)
