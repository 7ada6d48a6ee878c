"""ScriptedTransport: answers from a handler or a script, silence, end of stream, close,
rate switches, and whole readouts through the real session driver, byte-exact."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from tests.helpers import frame

from obisgate import (
    ConnectionLostError,
    NoAnswerError,
    ReadoutOptions,
    ScriptedTransport,
    UnsupportedOperation,
    read_meter_on,
)

IDENT_C = b"/XYZ5Meter\r\n"  # mode C, 9600 Bd proposed
DATA = b"\x021.8.0(42.5*kWh)\r\n!\r\n\x03y"  # the module docstring's data message


def meter(request: bytes) -> bytes | None:
    """The module docstring's example meter."""
    if request == b"/?!\r\n":
        return IDENT_C
    if request == b"\x06050\r\n":
        return DATA
    return None


async def test_the_documented_example_reads_a_meter_byte_exactly() -> None:
    assert frame(b"1.8.0(42.5*kWh)\r\n!\r\n") == DATA  # the BCC in the docstring is right
    transport = ScriptedTransport(meter)
    result = await read_meter_on(transport, ReadoutOptions(reaction_time_s=0.0))
    assert transport.written == [b"/?!\r\n", b"\x06050\r\n"]
    assert transport.sent == b"/?!\r\n\x06050\r\n"
    assert transport.drains >= 1
    assert [(d.address, [v.raw for v in d.values]) for d in result.readout.datasets] == [
        ("1.8.0", ["42.5*kWh"])
    ]
    assert result.baud == 9600
    assert transport.bauds == []  # a converter: the meter's rate is the converter's business


async def test_a_serial_port_switches_to_the_agreed_rate() -> None:
    transport = ScriptedTransport(meter, can_set_baud=True)
    result = await read_meter_on(transport, ReadoutOptions(reaction_time_s=0.0))
    assert transport.bauds == [9600]
    assert (transport.baud, result.baud) == (9600, 9600)


async def test_a_handler_may_answer_in_several_chunks_each_one_read() -> None:
    transport = ScriptedTransport(lambda _request: [b"ab", b"", b"c"])
    await transport.write(b"x")
    assert [await transport.read(), await transport.read()] == [b"ab", b"c"]


async def test_replies_are_taken_one_at_a_time_when_a_read_needs_one() -> None:
    taken: list[int] = []

    def script() -> Iterator[bytes]:
        for n in range(3):
            taken.append(n)
            yield str(n).encode()

    transport = ScriptedTransport(replies=script(), eof=True)
    assert taken == []
    assert await transport.read() == b"0"
    assert taken == [0]
    assert [await transport.read(), await transport.read()] == [b"1", b"2"]
    with pytest.raises(ConnectionLostError, match="closed by the peer"):
        await transport.read()


async def test_answers_come_before_the_script_and_feed_wakes_a_waiting_read() -> None:
    transport = ScriptedTransport(lambda _r: b"answer", replies=[b"later"])
    await transport.write(b"q")
    assert await transport.read() == b"answer"
    assert await transport.read() == b"later"
    # The read finds nothing and waits; the callback runs only while it waits.
    asyncio.get_running_loop().call_soon(transport.feed, b"pushed")
    assert await transport.read() == b"pushed"


async def test_silence_is_waited_out_by_the_callers_deadline() -> None:
    transport = ScriptedTransport()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.01):
            await transport.read()
    with pytest.raises(NoAnswerError):
        await read_meter_on(transport, ReadoutOptions(response_timeout_s=0.05))
    assert transport.written == [b"/?!\r\n"]


async def test_hang_up_delivers_what_is_queued_then_ends_the_stream() -> None:
    transport = ScriptedTransport()
    transport.feed(b"last words")
    transport.hang_up()
    assert await transport.read() == b"last words"
    with pytest.raises(ConnectionLostError, match="closed by the peer"):
        await transport.read()
    with pytest.raises(ConnectionLostError):
        await transport.write(b"anyone?")
    with pytest.raises(ConnectionLostError):
        transport.feed(b"too late")
    assert transport.written == []


async def test_a_meter_that_hangs_up_mid_readout_is_a_lost_connection() -> None:
    cut = ScriptedTransport(replies=[IDENT_C, DATA[:5]], eof=True)
    with pytest.raises(ConnectionLostError):
        await read_meter_on(cut, ReadoutOptions(reaction_time_s=0.0))
    assert cut.written == [b"/?!\r\n", b"\x06050\r\n"]


async def test_close_ends_a_waiting_read_and_every_later_call() -> None:
    transport = ScriptedTransport()
    # The read finds nothing and waits; the close runs only while it waits.
    closing = asyncio.get_running_loop().create_task(transport.aclose())
    with pytest.raises(ConnectionLostError, match="closed"):
        await transport.read()
    await closing
    await transport.aclose()  # twice is fine
    for call in (transport.write(b"x"), transport.drain(), transport.set_baud(9600)):
        with pytest.raises(ConnectionLostError):
            await call
    assert transport.closed


async def test_a_converter_cannot_switch_rates() -> None:
    transport = ScriptedTransport(url="scripted://converter")
    with pytest.raises(UnsupportedOperation, match=r"9600 Bd on scripted://converter"):
        await transport.set_baud(9600)
    assert (transport.baud, transport.bauds) == (300, [])


async def test_a_handler_that_refuses_a_request_fails_the_write() -> None:
    def strict(request: bytes) -> bytes:
        raise AssertionError(f"unexpected {request!r}")

    transport = ScriptedTransport(strict)
    with pytest.raises(AssertionError, match="unexpected b'/\\?!"):
        await read_meter_on(transport, ReadoutOptions())
    assert transport.written == [b"/?!\r\n"]  # recorded before the handler saw it


async def test_usable_as_an_async_context_manager() -> None:
    async with ScriptedTransport() as transport:
        assert not transport.closed
    assert transport.closed


async def test_read_within_is_none_on_silence_and_the_chunk_when_one_comes() -> None:
    transport = ScriptedTransport(replies=[b"first"])
    assert await transport.read_within(5) == b"first"
    assert await transport.read_within(0.01) is None
    asyncio.get_running_loop().call_soon(transport.feed, b"pushed")
    assert await transport.read_within(5) == b"pushed"
    transport.hang_up()
    with pytest.raises(ConnectionLostError, match="closed by the peer"):
        await transport.read_within(5)
