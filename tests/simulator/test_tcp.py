"""Raw TCP listeners: byte-exact exchanges over real sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from obisgate.protocol.chars import wire_time_s
from obisgate.simulator import Faults, MeterProfile, get_profile, serve_tcp, serve_tcp_each

TIMEOUT = 5.0
E350 = get_profile("e350").replace(reaction_time_s=0.0)
IDENT = E350.identification_message()
DATA = E350.data_message()


@asynccontextmanager
async def connect(url: str) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    host, port = url.removeprefix("tcp://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        yield reader, writer
    finally:
        writer.close()
        await writer.wait_closed()


async def read(reader: asyncio.StreamReader, n: int) -> bytes:
    async with asyncio.timeout(TIMEOUT):
        return await reader.readexactly(n)


async def test_mode_c_readout_byte_for_byte() -> None:
    async with await serve_tcp(E350) as sim, connect(sim.url) as (reader, writer):
        assert sim.url == f"tcp://127.0.0.1:{sim.port}" and sim.port > 0
        writer.write(b"/?00188123!\r\n")
        assert await read(reader, len(IDENT)) == IDENT
        writer.write(b"\x06040\r\n")
        assert await read(reader, len(DATA)) == DATA
        writer.write(b"\x15")  # repeat request
        assert await read(reader, len(DATA)) == DATA
    assert sim.stats.readout_bauds == {4800: 2}
    assert sim.stats.repeats == 1


async def test_silent_to_other_addresses() -> None:
    async with await serve_tcp(E350) as sim, connect(sim.url) as (reader, writer):
        writer.write(b"/?12345!\r\n")  # not this meter: no answer ...
        writer.write(b"/?188123!\r\n")  # ... so the first bytes are the answer to this
        assert await read(reader, len(IDENT)) == IDENT
    assert sim.stats.requests == 1


async def test_many_meters_behind_one_listener() -> None:
    meters = E350.clones(1000, "00000001")
    async with await serve_tcp(meters) as sim:
        async with connect(sim.url) as (r1, w1), connect(sim.url) as (r2, w2):
            w1.write(b"/?577!\r\n")
            w2.write(b"/?00000999!\r\n")
            assert await read(r1, len(IDENT)) == IDENT
            assert await read(r2, len(IDENT)) == IDENT
            w1.write(b"\x06000\r\n")
            assert await read(r1, len(DATA)) == DATA
        assert sim.stats.requests == 2
        assert sim.stats.connections == 2


async def test_one_listener_per_meter_without_tasks() -> None:
    meters = E350.clones(200, "00000001")
    tasks_before = len(asyncio.all_tasks())
    async with await serve_tcp_each(meters) as farm:
        assert len(asyncio.all_tasks()) == tasks_before  # an idle meter costs no task
        assert len(set(farm.urls)) == 200
        for i in (0, 117, 199):
            async with connect(farm.urls[i]) as (reader, writer):
                writer.write(f"/?{i + 2}!\r\n".encode())  # the neighbour: not on this port
                writer.write(f"/?{i + 1}!\r\n".encode())
                assert await read(reader, len(IDENT)) == IDENT
        assert farm.stats.requests == 3


async def test_each_connection_is_its_own_line() -> None:
    async with (
        await serve_tcp(E350) as sim,
        connect(sim.url) as (r1, w1),
        connect(sim.url) as (r2, w2),
    ):
        w1.write(b"/?!\r\n")
        assert await read(r1, len(IDENT)) == IDENT
        w2.write(b"\x06040\r\n")  # an option select on another line means nothing
        w2.write(b"/?!\r\n")
        assert await read(r2, len(IDENT)) == IDENT
        w1.write(b"\x06040\r\n")
        assert await read(r1, len(DATA)) == DATA


async def test_mode_d_pushes_on_connection() -> None:
    push = get_profile("ehz-push")
    async with await serve_tcp(push) as sim, connect(sim.url) as (reader, _):
        message = push.push_message()
        assert await read(reader, len(message)) == message


async def test_fault_drop_closes_mid_readout() -> None:
    async with await serve_tcp(E350, faults=Faults(drop=True)) as sim:
        async with connect(sim.url) as (reader, writer):
            writer.write(b"/?!\r\n\x06040\r\n")
            async with asyncio.timeout(TIMEOUT):
                received = await reader.read()  # until the meter closes
        assert received == IDENT + DATA[: len(DATA) // 2]


async def test_fault_echo_and_parity_over_tcp() -> None:
    faults = Faults(echo=True, parity=True)
    async with await serve_tcp(E350, faults=faults) as sim, connect(sim.url) as (reader, writer):
        writer.write(b"/?!\r\n")
        assert await read(reader, 5) == b"/?!\r\n"  # the echo comes back as sent
        ident = await read(reader, len(IDENT))
        assert ident[0] == 0xAF and bytes(b & 0x7F for b in ident) == IDENT


async def test_closing_with_connections_open_and_a_timer_pending() -> None:
    sim = await serve_tcp(E350)
    async with connect(sim.url) as (reader, writer):
        writer.write(b"/?!\r\n")
        assert await read(reader, len(IDENT)) == IDENT  # the tt timer is now armed
        assert sim.connections == 1
        await sim.aclose()
        assert sim.connections == 0
        async with asyncio.timeout(TIMEOUT):
            assert await reader.read() == b""  # the simulator closed the line


async def test_client_hangs_up_mid_session() -> None:
    async with await serve_tcp(E350) as sim:
        async with connect(sim.url) as (reader, writer):
            writer.write(b"/?!\r\n")
            assert await read(reader, len(IDENT)) == IDENT
        async with connect(sim.url) as (reader, writer):  # the next line starts afresh
            writer.write(b"\x06040\r\n/?!\r\n")
            assert await read(reader, len(IDENT)) == IDENT


async def test_realtime_paces_bytes_at_their_wire_time() -> None:
    tiny = MeterProfile(
        name="tiny",
        manufacturer="ABC",
        baud_char="5",
        identification="X",
        reaction_time_s=0.0,
        lines=("1(2)",),
    )
    ident = tiny.identification_message()
    async with await serve_tcp(tiny, realtime=True) as sim, connect(sim.url) as (reader, writer):
        start = time.monotonic()
        writer.write(b"/?!\r\n")
        chunks: list[bytes] = []
        async with asyncio.timeout(TIMEOUT):
            while sum(map(len, chunks)) < len(ident):
                chunks.append(await reader.read(100))
        elapsed = time.monotonic() - start
    assert b"".join(chunks) == ident
    # the last character cannot leave before 7 character times at 300 Bd
    assert elapsed >= wire_time_s(len(ident) - 1, 300)
    assert len(chunks) > 1


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_port_zero_reports_the_real_port(host: str) -> None:
    async with await serve_tcp(E350, host=host) as sim:
        assert sim.port != 0
        assert sim.url.endswith(f":{sim.port}")
