"""The pty server: a client opens the slave like a serial port; the rate is enforced."""

from __future__ import annotations

import asyncio
import os
import termios
import tty
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from obisgate.simulator import Faults, PtySimulator, get_profile, retime, serve_pty

pytestmark = pytest.mark.pty

TIMEOUT = 5.0
MT174 = get_profile("mt174").replace(reaction_time_s=0.0)
IDENT = MT174.identification_message()
DATA = MT174.data_message()


class PtyClient:
    """A minimal serial client on the slave: raw, a settable rate, async reads."""

    def __init__(self, path: str, baud: int = 300) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(self.fd)
        self.set_baud(baud)
        self._buf = bytearray()
        self._more = asyncio.Event()
        asyncio.get_running_loop().add_reader(self.fd, self._readable)

    def set_baud(self, baud: int) -> None:
        attrs = termios.tcgetattr(self.fd)
        attrs[4] = attrs[5] = getattr(termios, f"B{baud}")
        termios.tcsetattr(self.fd, termios.TCSANOW, attrs)

    def _readable(self) -> None:
        try:
            self._buf += os.read(self.fd, 65536)
        except BlockingIOError:
            return
        self._more.set()

    def write(self, data: bytes) -> None:
        os.write(self.fd, data)

    async def read(self, n: int) -> bytes:
        async with asyncio.timeout(TIMEOUT):
            while len(self._buf) < n:
                self._more.clear()
                await self._more.wait()
        data = bytes(self._buf[:n])
        del self._buf[:n]
        return data

    def close(self) -> None:
        asyncio.get_running_loop().remove_reader(self.fd)
        os.close(self.fd)


@asynccontextmanager
async def opened(sim: PtySimulator, baud: int = 300) -> AsyncIterator[PtyClient]:
    client = PtyClient(sim.path, baud)
    try:
        async with asyncio.timeout(TIMEOUT):
            await sim.wait_for_client()
        yield client
    finally:
        client.close()
    async with asyncio.timeout(TIMEOUT):
        await sim.wait_for_client(connected=False)


async def test_mode_c_with_a_client_that_switches() -> None:
    async with await serve_pty(MT174) as sim, opened(sim) as client:
        assert sim.path.startswith("/dev/") and sim.url == sim.path
        client.write(b"/?71234567!\r\n")
        assert await client.read(len(IDENT)) == IDENT
        client.write(b"\x06050\r\n")
        client.set_baud(9600)
        assert await client.read(len(DATA)) == DATA
    assert sim.stats.readout_bauds == {9600: 1}


async def test_a_client_that_does_not_switch_receives_garbage() -> None:
    async with await serve_pty(MT174) as sim, opened(sim) as client:
        client.write(b"/?!\r\n")
        assert await client.read(len(IDENT)) == IDENT
        client.write(b"\x06050\r\n")  # stays at 300 Bd
        garbage = retime(DATA, 9600, 300)
        assert garbage and garbage != DATA
        assert await client.read(len(garbage)) == garbage


async def test_a_meter_that_does_not_switch_is_garbled_too() -> None:
    faults = Faults(wrong_baud=True)
    async with await serve_pty(MT174, faults=faults) as sim, opened(sim) as client:
        client.write(b"/?!\r\n")
        assert await client.read(len(IDENT)) == IDENT
        client.write(b"\x06050\r\n")
        client.set_baud(9600)
        garbage = retime(DATA, 300, 9600)
        assert await client.read(len(garbage)) == garbage


async def test_a_request_at_the_wrong_rate_is_not_understood() -> None:
    # The echo fault shows when the simulator has read each write (a pty cannot
    # tell when the client changed its rate, so it accepts the rate seen at the
    # previous read too: the first echo makes that 9600 as well).
    async with await serve_pty(MT174, faults=Faults(echo=True)) as sim, opened(sim) as client:
        client.set_baud(9600)
        client.write(b"\x00")
        assert await client.read(1) == b"\x00"
        client.write(b"/?!\r\n")  # the meter listens at 300: noise, no answer
        assert await client.read(5) == b"/?!\r\n"
        client.set_baud(300)
        client.write(b"/?71234567!\r\n")
        assert await client.read(13) == b"/?71234567!\r\n"
        assert await client.read(len(IDENT)) == IDENT
    assert sim.stats.requests == 1


async def test_slave_closed_and_reopened_between_sessions() -> None:
    async with await serve_pty(MT174) as sim:
        async with opened(sim) as client:
            client.write(b"/?!\r\n")
            assert await client.read(len(IDENT)) == IDENT
            # closed while the meter waits for the option select
        assert sim.connected is False
        async with opened(sim) as client:
            client.write(b"/?!\r\n\x06000\r\n")
            assert await client.read(len(IDENT) + len(DATA)) == IDENT + DATA
    assert sim.stats.connections == 2


async def test_several_meters_share_the_pty_bus() -> None:
    meters = [MT174.replace(address="1"), get_profile("e350").replace(address="2")]
    async with await serve_pty(meters) as sim, opened(sim) as client:
        client.write(b"/?2!\r\n")
        e350_ident = meters[1].identification_message()
        assert await client.read(len(e350_ident)) == e350_ident
        client.write(b"/?9!\r\n/?001!\r\n")
        assert await client.read(len(IDENT)) == IDENT


async def test_fault_drop_goes_silent_mid_readout() -> None:
    async with await serve_pty(MT174, faults=Faults(drop=True)) as sim, opened(sim) as client:
        client.write(b"/?!\r\n\x06000\r\n")
        half = DATA[: len(DATA) // 2]
        assert await client.read(len(IDENT) + len(half)) == IDENT + half
        client.write(b"/?!\r\n")  # the line still works: the next answer follows directly
        assert await client.read(len(IDENT)) == IDENT


async def test_close_while_a_client_has_the_slave_open() -> None:
    sim = await serve_pty(MT174)
    async with opened(sim) as client:
        client.write(b"/?!\r\n")
        assert await client.read(len(IDENT)) == IDENT
        sim.close()
        sim.close()  # idempotent
        assert sim.connected is False


async def test_a_readout_larger_than_the_pty_buffer() -> None:
    lines = tuple(f"1.8.0*{i:04d}({i:012d}.000*kWh)" for i in range(3000))
    big = MT174.replace(lines=lines)
    data = big.data_message()
    assert len(data) > 64 * 1024  # more than a pty takes at once: written as it drains
    async with await serve_pty(big) as sim, opened(sim) as client:
        client.write(b"/?!\r\n")
        assert await client.read(len(IDENT)) == IDENT
        client.write(b"\x06050\r\n")
        client.set_baud(9600)
        assert await client.read(len(data)) == data
