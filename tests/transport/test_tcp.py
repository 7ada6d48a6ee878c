"""Raw TCP: what a meter behind a converter can do to a read (silence, a flood, a reset,
a close with bytes still unread), each a typed outcome, against a real local socket."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Awaitable, Callable

import pytest
from tests.services import require_module

from obisgate import ConnectionLostError, Transport, open_transport

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def read_to_the_end(transport: Transport) -> tuple[bytes, ConnectionLostError]:
    """Everything read until the read fails, and how it failed."""
    received = bytearray()
    while True:
        try:
            received += await asyncio.wait_for(transport.read(), 5)
        except ConnectionLostError as exc:
            return bytes(received), exc


Serve = Callable[[Handler], Awaitable[Transport]]
Scenario = Callable[[Serve], Awaitable[None]]
LOOPS = ["asyncio", "uvloop"]


def on_loop(loop: str, scenario: Scenario) -> None:
    """Run ``scenario`` on ``loop`` (the gateway runs on either; their transports differ)
    with ``serve``: start a server running the handler, open a transport to it."""
    factory = None
    if loop == "uvloop":
        factory = require_module("uvloop", "the uvloop extra").new_event_loop

    async def main() -> None:
        servers: list[asyncio.Server] = []

        async def serve(handler: Handler) -> Transport:
            server = await asyncio.start_server(handler, "127.0.0.1", 0)
            servers.append(server)
            return await open_transport(f"tcp://127.0.0.1:{server.sockets[0].getsockname()[1]}")

        try:
            await scenario(serve)
        finally:
            for server in servers:
                server.close()
                await server.wait_closed()

    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(main())


@pytest.mark.parametrize("loop", LOOPS)
def test_a_silent_meter_leaves_the_read_to_the_callers_deadline_and_the_pipe_usable(
    loop: str,
) -> None:
    on_loop(loop, _a_silent_meter_leaves_the_read_to_the_callers_deadline_and_the_pipe_usable)


async def _a_silent_meter_leaves_the_read_to_the_callers_deadline_and_the_pipe_usable(
    serve: Serve,
) -> None:
    asked = asyncio.Event()

    async def answer_late(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readexactly(1)
        asked.set()
        await reader.readexactly(1)  # speaks only when asked a second time
        writer.write(b"late")
        await writer.drain()
        writer.close()

    transport = await serve(answer_late)
    async with transport:
        await transport.write(b"?")
        await asyncio.wait_for(asked.wait(), 5)
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.05):
                await transport.read()
        await transport.write(b"?")
        assert await asyncio.wait_for(transport.read(), 5) == b"late"


@pytest.mark.parametrize("loop", LOOPS)
def test_a_flood_is_read_whole_and_in_order(loop: str) -> None:
    on_loop(loop, _a_flood_is_read_whole_and_in_order)


async def _a_flood_is_read_whole_and_in_order(serve: Serve) -> None:
    sent = bytes(range(256)) * 8192  # 2 MiB: far above what is buffered unread

    async def flood(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(sent)
        await writer.drain()
        writer.close()

    transport = await serve(flood)
    async with transport:
        received, end = await read_to_the_end(transport)
    assert received == sent
    assert "closed by the peer" in str(end)


@pytest.mark.parametrize("loop", LOOPS)
def test_bytes_sent_before_a_close_are_read_before_the_close_is_reported(loop: str) -> None:
    on_loop(loop, _bytes_sent_before_a_close_are_read_before_the_close_is_reported)


async def _bytes_sent_before_a_close_are_read_before_the_close_is_reported(serve: Serve) -> None:
    async def say_and_hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"last words")
        await writer.drain()
        writer.close()

    transport = await serve(say_and_hang_up)
    async with transport:
        received, end = await read_to_the_end(transport)
        assert received == b"last words"
        assert "closed by the peer" in str(end)
        with pytest.raises(ConnectionLostError):
            await transport.drain()
        with pytest.raises(ConnectionLostError, match="closed by the peer"):
            await transport.read()


@pytest.mark.parametrize("loop", LOOPS)
def test_a_reset_connection_is_connection_lost_for_read_and_drain(loop: str) -> None:
    on_loop(loop, _a_reset_connection_is_connection_lost_for_read_and_drain)


async def _a_reset_connection_is_connection_lost_for_read_and_drain(serve: Serve) -> None:
    async def reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readexactly(1)
        sock = writer.get_extra_info("socket")
        # SO_LINGER 0: close() sends RST instead of FIN
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    transport = await serve(reset)
    await transport.write(b"?")
    with pytest.raises(ConnectionLostError) as lost:
        await asyncio.wait_for(transport.read(), 5)
    assert "connection to tcp://127.0.0.1:" in str(lost.value)
    with pytest.raises(ConnectionLostError, match="is closed"):
        await transport.write(b"?")
    with pytest.raises(ConnectionLostError, match="lost"):
        await transport.drain()
    await transport.aclose()
    await transport.aclose()  # twice: nothing happens


@pytest.mark.parametrize("loop", LOOPS)
def test_read_within_gives_up_at_its_deadline_and_leaves_the_pipe_usable(loop: str) -> None:
    on_loop(loop, _read_within_gives_up_at_its_deadline_and_leaves_the_pipe_usable)


async def _read_within_gives_up_at_its_deadline_and_leaves_the_pipe_usable(serve: Serve) -> None:
    prompts: asyncio.Queue[None] = asyncio.Queue()

    async def answer_when_asked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await reader.read(1):
            prompts.put_nowait(None)
            writer.write(b"answer")
            await writer.drain()
        writer.close()

    transport = await serve(answer_when_asked)
    async with transport:
        # A long deadline first (its timer stays armed), then a short one on silence: the
        # short one replaces the timer, so the read ends long before the first deadline.
        await transport.write(b"?")
        assert await transport.read_within(30) == b"answer"
        async with asyncio.timeout(10):  # the test's own guard, far above 0.05 s
            assert await transport.read_within(0.05) is None
        await transport.write(b"?")
        assert await transport.read_within(30) == b"answer"


@pytest.mark.parametrize("loop", LOOPS)
def test_read_within_outlives_an_earlier_reads_timer(loop: str) -> None:
    on_loop(loop, _read_within_outlives_an_earlier_reads_timer)


async def _read_within_outlives_an_earlier_reads_timer(serve: Serve) -> None:
    asked = asyncio.Event()
    go_on = asyncio.Event()

    async def first_at_once_then_when_told(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await reader.readexactly(1)
        writer.write(b"first")
        await writer.drain()
        await reader.readexactly(1)
        asked.set()
        await go_on.wait()
        writer.write(b"second")
        await writer.drain()
        writer.close()

    transport = await serve(first_at_once_then_when_told)
    loop = asyncio.get_running_loop()
    async with transport:
        await transport.write(b"?")
        first_deadline = loop.time() + 0.05
        assert await transport.read_within(0.05) == b"first"  # its timer stays armed
        await transport.write(b"?")
        await asyncio.wait_for(asked.wait(), 5)
        reading = asyncio.ensure_future(transport.read_within(30))
        # Past the first read's deadline: its timer has fired, and must not end this read.
        passed = loop.create_future()
        loop.call_at(first_deadline + 0.05, passed.set_result, None)
        await passed
        assert not reading.done()
        go_on.set()
        assert await asyncio.wait_for(reading, 5) == b"second"


@pytest.mark.parametrize("loop", LOOPS)
def test_read_within_reports_a_hang_up_not_silence(loop: str) -> None:
    on_loop(loop, _read_within_reports_a_hang_up_not_silence)


async def _read_within_reports_a_hang_up_not_silence(serve: Serve) -> None:
    async def hang_up_when_asked(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await reader.readexactly(1)
        writer.close()

    transport = await serve(hang_up_when_asked)
    async with transport:
        await transport.write(b"?")
        with pytest.raises(ConnectionLostError, match="closed by the peer"):
            await transport.read_within(30)
