"""The Modbus TCP server against masters not written with it: mbpoll (libmodbus, Debian) and
a raw-socket client that pipelines requests as FUXA does; function codes, quantities,
registers never read, scaled integers, bits, and junk from a peer."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from obisgate.gateway.outputs.modbus.config import ModbusConfig
from obisgate.gateway.outputs.modbus.mapping import RegisterMap, RegisterSlot
from obisgate.gateway.outputs.modbus.output import ModbusOutput
from obisgate.gateway.quality import Quality
from obisgate.gateway.updates import SignalUpdate
from obisgate.simulator import get_profile, serve_tcp
from tests.scada.running import meter, running_gateway, signal, until
from tests.services import find_program

pytestmark = [pytest.mark.integration]

NOW = dt.datetime(2026, 12, 1, 9, 30, tzinfo=dt.UTC)
SLOTS = [
    RegisterSlot(("m", "volts"), 0, "float32", quality_address=100),
    RegisterSlot(("m", "energy"), 2, "int32", quality_address=101, scale=1000.0),
    RegisterSlot(("m", "door"), 4, "uint16", quality_address=102, coil=7),
]


@asynccontextmanager
async def server(slots: list[RegisterSlot] = SLOTS, **fields: Any) -> AsyncIterator[ModbusOutput]:
    output = ModbusOutput(ModbusConfig(listen="127.0.0.1:0", **fields), RegisterMap(slots))
    await output.start()
    try:
        await output.publish(
            [
                SignalUpdate("m", "volts", 230.5, "V", NOW, Quality.VALID),
                SignalUpdate("m", "energy", 1234.5678, "kWh", NOW, Quality.VALID),
                SignalUpdate("m", "door", 1, None, NOW, Quality.VALID),
            ]
        )
        yield output
    finally:
        await output.aclose()


def request(transaction: int, function: int, data: bytes, unit: int = 1) -> bytes:
    return struct.pack(">HHHBB", transaction, 0, len(data) + 2, unit, function) + data


def read(transaction: int, function: int, first: int, count: int) -> bytes:
    return request(transaction, function, struct.pack(">HH", first, count))


async def exchange(port: int, data: bytes, answers: int) -> list[tuple[int, int, bytes]]:
    """Send ``data`` in one write; ``(transaction, unit, pdu)`` of ``answers`` responses."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        found = []
        async with asyncio.timeout(5):
            for _ in range(answers):
                transaction, protocol, length, unit = struct.unpack(
                    ">HHHB", await reader.readexactly(7)
                )
                assert protocol == 0
                found.append((transaction, unit, await reader.readexactly(length - 1)))
        return found
    finally:
        writer.close()


async def test_pipelined_requests_are_all_answered_in_order() -> None:
    async with server() as output:
        assert output.port is not None
        segment = read(1, 3, 0, 2) + read(2, 4, 2, 2) + read(3, 3, 100, 3) + read(4, 3, 900, 1)
        answers = await exchange(output.port, segment, 4)
    assert answers == [
        (1, 1, bytes.fromhex("03 04 43 66 80 00")),
        (2, 1, bytes.fromhex("04 04") + struct.pack(">i", 1234568)),
        (3, 1, bytes.fromhex("03 06 00 00 00 00 00 00")),
        (4, 1, bytes.fromhex("83 02")),
    ]


@pytest.mark.parametrize(
    ("function", "data"),
    [
        (5, b"\x00\x00\xff\x00"),  # write single coil
        (6, b"\x00\x00\x00\x07"),  # write single register
        (7, b""),  # read exception status
        (8, b"\x00\x00\x12\x34"),  # diagnostics: return query data
        (11, b""),  # get comm event counter
        (15, b"\x00\x00\x00\x01\x01\x01"),
        (16, b"\x00\x00\x00\x01\x02\x00\x07"),
        (17, b""),  # report server id
        (20, b"\x07\x06\x00\x04\x00\x01\x00\x02"),  # read file record
        (22, b"\x00\x00\xff\xff\x00\x00"),
        (23, b"\x00\x00\x00\x01\x00\x00\x00\x01\x02\x00\x07"),
        (24, b"\x00\x00"),  # read FIFO queue
        (43, b"\x0e\x01\x00"),  # read device identification
        (0x41, b""),
    ],
)
async def test_every_other_function_is_illegal(function: int, data: bytes) -> None:
    async with server() as output:
        assert output.port is not None
        (answer,) = await exchange(output.port, request(9, function, data), 1)
    assert answer == (9, 1, bytes((function | 0x80, 1)))


async def test_bits_are_read_only_when_digital_signals_are_mapped_to_them() -> None:
    async with server() as output:
        assert output.port is not None
        coils, inputs, unmapped = await exchange(
            output.port, read(1, 1, 7, 1) + read(2, 2, 0, 8) + read(3, 1, 7, 2000), 3
        )
        assert coils == (1, 1, bytes.fromhex("01 01 01"))
        assert inputs == (2, 1, bytes.fromhex("82 02"))  # bits 0-6 are not mapped
        assert unmapped == (3, 1, bytes.fromhex("81 02"))
    without = [RegisterSlot(("m", "volts"), 0, "float32")]
    async with server(without) as output:
        assert output.port is not None
        (answer,) = await exchange(output.port, read(1, 1, 0, 1), 1)
        assert answer == (1, 1, bytes.fromhex("81 01"))


@pytest.mark.parametrize(
    ("function", "count"), [(3, 0), (3, 126), (4, 0), (4, 126), (1, 0), (2, 2001)]
)
async def test_a_quantity_out_of_range_is_exception_3(function: int, count: int) -> None:
    async with server() as output:
        assert output.port is not None
        (answer,) = await exchange(output.port, read(5, function, 0, count), 1)
    assert answer == (5, 1, bytes((function | 0x80, 3)))


async def test_another_unit_and_a_read_past_the_last_register() -> None:
    async with server() as output:
        assert output.port is not None
        other = request(1, 3, struct.pack(">HH", 0, 2), unit=9)
        past = read(2, 3, 65535, 2)
        answers = await exchange(output.port, other + past, 2)
    assert answers == [(1, 9, bytes.fromhex("83 0b")), (2, 1, bytes.fromhex("83 02"))]


async def test_junk_is_one_line_and_other_masters_go_on(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with server() as output:
        assert output.port is not None
        good_reader, good_writer = await asyncio.open_connection("127.0.0.1", output.port)
        try:
            for _ in range(10):
                reader, writer = await asyncio.open_connection("127.0.0.1", output.port)
                writer.write(b"GET / HTTP/1.1\r\n\r\n")
                assert await asyncio.wait_for(reader.read(), 5) == b""  # closed by the server
                writer.close()
            good_writer.write(read(1, 3, 0, 2))
            assert await asyncio.wait_for(good_reader.readexactly(13), 5) == bytes.fromhex(
                "00 01 00 00 00 07 01 03 04 43 66 80 00"
            )
            assert output.health().counters["malformed_total"] == 10
        finally:
            good_writer.close()
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("obisgate.gateway")]
    assert len(lines) == 1
    assert lines[0].startswith("modbus: malformed request from 127.0.0.1:")
    assert lines[0].endswith("protocol id 21536, expected 0 (Modbus)")  # "T " of "GET / "
    assert all(r.exc_info is None for r in caplog.records)


async def test_connections_beyond_the_limit_are_closed(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    async with server(max_connections=1) as output:
        assert output.port is not None
        _first_reader, first = await asyncio.open_connection("127.0.0.1", output.port)
        try:
            second_reader, second = await asyncio.open_connection("127.0.0.1", output.port)
            assert await asyncio.wait_for(second_reader.read(), 5) == b""
            second.close()
        finally:
            first.close()
    assert any("1 connections are open" in r.getMessage() for r in caplog.records)


async def mbpoll(port: int, *arguments: str) -> tuple[int, str, str]:
    """Run mbpoll once; its exit code, the value lines it printed, and its errors."""
    program = find_program("mbpoll", "mbpoll")
    process = await asyncio.create_subprocess_exec(
        program, "-m", "tcp", "-a", "1", "-0", "-1", "-p", str(port), *arguments,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode is not None
    values = [line for line in out.decode().splitlines() if line.startswith("[")]
    return process.returncode, "\n".join(values), err.decode()


async def test_mbpoll_reads_and_is_refused_writes() -> None:
    async with server() as output:
        assert output.port is not None
        code, out, _ = await mbpoll(output.port, "-t", "4:float", "-B", "-r", "0", "127.0.0.1")
        assert (code, out) == (0, "[0]: \t230.5")
        code, out, _ = await mbpoll(output.port, "-t", "3:int", "-B", "-r", "2", "127.0.0.1")
        assert (code, out) == (0, "[2]: \t1234568")
        code, out, _ = await mbpoll(output.port, "-t", "1", "-r", "7", "127.0.0.1")
        assert (code, out) == (0, "[7]: \t1")
        code, _, err = await mbpoll(output.port, "-t", "4", "-r", "0", "127.0.0.1", "--", "7")
        assert (code, err.strip()) == (
            1,
            "Write output (holding) register failed: Illegal function",
        )
        code, _, err = await mbpoll(output.port, "-t", "3", "-r", "500", "127.0.0.1")
        assert (code, err.strip()) == (1, "Read input register failed: Illegal data address")


async def test_registers_never_read_say_invalid_and_not_topical(tmp_path: Path) -> None:
    """A signal whose address the meter never sends: after a good readout its integer
    register is 0 and its quality register says IV + NT (3), not NT alone; a scaled
    integer register holds Wh of a kWh reading, and mbpoll reads both as printed."""
    profile = get_profile("mt174")
    async with await serve_tcp(profile) as sim:
        text = (
            '[output]\nformat = "none"\n[modbus]\nlisten = "127.0.0.1:0"\n'
            + meter("m", sim.port, profile.address)
            + signal("m", "missing", "99.99.9", "INT32", modbus_address=0,
                     modbus_quality_address=10)
            + signal("m", "energy", "1.8.0", "FLOAT", modbus_address=2, modbus_type="int32",
                     modbus_scale=1000, modbus_quality_address=11)
        )  # fmt: skip
        async with running_gateway(tmp_path, text) as (outputs, latest):
            (modbus,) = outputs

            async def polled_twice() -> bool:
                return latest.polls >= 2

            await until(polled_twice, latest)
            energy = latest.json("m", "energy")
            assert latest.updates[("m", "missing")].quality == Quality.NOT_TOPICAL
            wh = round(energy * 1000)
            assert wh == 148123456
            assert modbus.map.read(0, 4) == [0, 0, *divmod(wh, 65536)]
            assert modbus.map.read(10, 2) == [3, 0]
            code, out, _ = await mbpoll(modbus.port, "-t", "4:int", "-B", "-r", "2", "127.0.0.1")
            assert (code, out) == (0, f"[2]: \t{wh}")


async def test_a_master_that_does_not_read_its_answers_costs_bounded_memory() -> None:
    """100 000 pipelined requests for 125 registers (26 MB of answers) from a master that
    reads nothing: the server stops reading and answering it while the answers wait, then
    answers every request, in order, once the master reads."""
    slots = [RegisterSlot(("m", f"s{i}"), 2 * i, "float32") for i in range(63)]
    async with server(slots) as output:
        assert output.port is not None
        reader, writer = await asyncio.open_connection("127.0.0.1", output.port)
        try:
            count = 100_000
            writer.write(read(0, 3, 0, 125))
            assert (await reader.readexactly(7 + 252))[:2] == b"\x00\x00"
            (connection,) = output.server.connections
            transport = connection.transport
            assert transport is not None
            stalled = asyncio.Event()
            pause = connection.pause_writing

            def pause_and_tell() -> None:
                pause()
                stalled.set()

            connection.pause_writing = pause_and_tell  # type: ignore[method-assign]
            writer.write(b"".join(read(i % 65536, 3, 0, 125) for i in range(1, count)))
            await asyncio.wait_for(stalled.wait(), 10)
            assert transport.get_write_buffer_size() < 200_000
            assert connection.pending  # requests wait unanswered meanwhile
            got = 1
            async with asyncio.timeout(60):
                while got < count:
                    transaction, _protocol, length, _unit = struct.unpack(
                        ">HHHB", await reader.readexactly(7)
                    )
                    assert transaction == got % 65536
                    assert length == 253
                    await reader.readexactly(length - 1)
                    got += 1
            assert output.server.reads == count
        finally:
            writer.close()
