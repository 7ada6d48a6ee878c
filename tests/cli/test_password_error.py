"""A meter that answers the password with an error message (``ER01``) is reported as a
refused password: one line naming the password, exit 7."""

from __future__ import annotations

import asyncio
from functools import reduce

from click.testing import CliRunner, Result

from obisgate.cli import main

SOH, STX, ETX = b"\x01", b"\x02", b"\x03"


def framed(start: bytes, body: bytes) -> bytes:
    """``start`` + ``body`` + ETX + the XOR block check over everything after ``start``."""
    block = body + ETX
    return start + block + bytes([reduce(lambda a, b: a ^ b, block, 0)])


async def meter_refusing_with_er01(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    await reader.readuntil(b"!\r\n")
    writer.write(b"/ABC5TEST\r\n")
    await reader.readuntil(b"\r\n")  # ACK 0 5 1: programming mode
    writer.write(framed(SOH, b"P0" + STX + b"(12345678)"))
    await reader.readuntil(ETX)
    await reader.readexactly(1)  # the BCC of our P1 message
    writer.write(framed(STX, b"(ER01)"))
    await writer.drain()
    await reader.read()
    writer.close()


async def invoke(*args: str) -> Result:
    return await asyncio.to_thread(
        CliRunner(env={"METER_PW": "00000000"}).invoke, main, list(args), prog_name="obisgate"
    )


async def test_er_answer_to_the_password_names_the_password() -> None:
    server = await asyncio.start_server(meter_refusing_with_er01, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        result = await invoke(
            "get", f"tcp://127.0.0.1:{port}", "1.8.0", "--password-env", "METER_PW"
        )
    assert result.exit_code == 7, result.output
    lines = result.stderr.splitlines()
    errors = [line for line in lines if line.startswith("obisgate: error:")]
    assert errors == ["obisgate: error: meter refused the password with error (ER01)"]
    assert "00000000" not in result.output
