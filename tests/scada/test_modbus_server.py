"""A real Modbus master (pymodbus's client) reads the gateway's registers while it polls a simulated meter."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import pytest

from obisgate.simulator import get_profile, serve_tcp
from tests.scada.running import Latest, meter, running_gateway, signal, until
from tests.services import require_module

pytestmark = [pytest.mark.integration]

pymodbus_client = require_module(
    "pymodbus.client", "the test group: its client is a master not written here"
)
AsyncModbusTcpClient = pymodbus_client.AsyncModbusTcpClient

#: (signal, OBIS, number_type, extra columns, modbus_type, address)
SIGNALS: list[tuple[str, str, str, dict[str, Any], str, int]] = [
    ("volts", "32.7.0", "FLOAT", {}, "float32", 0),
    ("energy", "1.8.0", "DOUBLE", {"modbus_type": "float64"}, "float64", 2),
    ("code", "C.7.0", "INT16", {"add": -10}, "int16", 6),
    ("ucode", "C.7.0", "UINT16", {}, "uint16", 7),
    ("wh", "1.8.0", "INT32", {"multiply": 1000}, "int32", 8),
    ("uwh", "1.8.0", "UINT32", {"multiply": 1000}, "uint32", 10),
    ("wh64", "1.8.0", "INT64", {"multiply": 1000, "add": -200000000}, "int64", 12),
    ("uwh64", "1.8.0", "UINT64", {"multiply": 1000}, "uint64", 16),
]
QUALITY = 1000


def config(port: int, address: str, word_order: str, byte_order: str) -> str:
    text = (
        f'[output]\nformat = "none"\n[modbus]\nlisten = "127.0.0.1:0"\n'
        f'word_order = "{word_order}"\nbyte_order = "{byte_order}"\n' + meter("m", port, address)
    )
    for index, (alias, tag, ntype, extra, _kind, register) in enumerate(SIGNALS):
        text += signal(
            "m", alias, tag, ntype, modbus_address=register,
            modbus_quality_address=QUALITY + index, **extra,
        )  # fmt: skip
    return text


def decode(client: Any, registers: list[int], kind: str, word_order: str, byte_order: str) -> Any:
    if byte_order == "little":
        registers = [((r & 0xFF) << 8) | (r >> 8) for r in registers]
    datatype = getattr(client.DATATYPE, kind.upper())
    return client.convert_from_registers(registers, datatype, word_order=word_order)


@pytest.mark.parametrize(
    ("word_order", "byte_order"), [("big", "big"), ("little", "big"), ("little", "little")]
)
async def test_master_reads_every_type_as_printed(
    tmp_path: Path, word_order: str, byte_order: str
) -> None:
    profile = get_profile("mt174")
    async with (
        await serve_tcp(profile) as sim,
        running_gateway(tmp_path, config(sim.port, profile.address, word_order, byte_order)) as (
            outputs,
            latest,
        ),
    ):
        (modbus,) = outputs
        client = AsyncModbusTcpClient("127.0.0.1", port=modbus.port)
        await client.connect()
        try:
            await _check_values(client, latest, word_order, byte_order)
            await _check_refusals(client)
        finally:
            client.close()


async def _check_values(client: Any, latest: Latest, word_order: str, byte_order: str) -> None:
    async def all_valid() -> bool:
        answer = await client.read_input_registers(QUALITY, count=len(SIGNALS), device_id=1)
        return not answer.isError() and answer.registers == [0] * len(SIGNALS)

    await until(all_valid, latest)
    answer = await client.read_holding_registers(0, count=20, device_id=1)
    assert not answer.isError()
    for alias, _tag, _ntype, _extra, kind, register in SIGNALS:
        count = {"int16": 1, "uint16": 1, "float64": 4, "int64": 4, "uint64": 4}.get(kind, 2)
        got = decode(
            client, answer.registers[register : register + count], kind, word_order, byte_order
        )
        printed = latest.json("m", alias)
        if kind == "float32":
            printed = struct.unpack(">f", struct.pack(">f", printed))[0]
        assert (alias, got) == (alias, printed)
    assert latest.json("m", "wh64") == -51876544
    assert latest.json("m", "code") == -3
    inputs = await client.read_input_registers(8, count=2, device_id=1)
    assert inputs.registers == answer.registers[8:10]


async def _check_refusals(client: Any) -> None:
    unmapped = await client.read_holding_registers(500, count=1, device_id=1)
    assert (unmapped.isError(), unmapped.exception_code) == (True, 2)
    across_a_gap = await client.read_input_registers(16, count=5, device_id=1)
    assert (across_a_gap.isError(), across_a_gap.exception_code) == (True, 2)
    for write in (
        client.write_register(0, 1, device_id=1),
        client.write_registers(500, [1, 2], device_id=1),
        client.write_coil(0, True, device_id=1),
    ):
        refused = await write
        assert (refused.isError(), refused.exception_code) == (True, 1)
    other_unit = await client.read_holding_registers(0, count=2, device_id=9)
    assert (other_unit.isError(), other_unit.exception_code) == (True, 11)
