"""Interoperability: the Gurux DLMS client (not written here) reads obisgate's simulator.

Over TCP in direct HDLC (the AM550 personality) and in mode E (the opening by
hand, then HDLC), including the segmented fault (32-byte frames, 64-byte GET
blocks). Values must equal the simulator's D0 data sets: value x 10^scaler in
the DLMS unit.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest

from obisgate.dlms.cosem import parse_obis
from obisgate.simulator import Faults, MeterProfile, get_profile, serve_tcp
from obisgate.simulator.cosem_model import register_parts
from tests.interop.gurux_client import read_registers

pytestmark = pytest.mark.integration


def expected(profile: MeterProfile) -> dict[str, tuple[Decimal | str, int | None]]:
    out: dict[str, tuple[Decimal | str, int | None]] = {}
    for ds in profile.datasets:
        obis = parse_obis(ds.address)
        name = ".".join(str(g) for g in obis)
        parts = register_parts(ds.value)
        if parts is None:
            out[name] = (ds.value.raw.strip(), None)
        elif len(ds.values) == 1:
            digits, scaler, unit = parts
            out[name] = (Decimal(f"{Decimal(digits).scaleb(scaler):.9g}"), unit)
    return out


def normalise(values: dict[str, Any]) -> dict[str, tuple[Decimal | str, int | None]]:
    out: dict[str, tuple[Decimal | str, int | None]] = {}
    for name, pair in values.items():
        value, unit = pair
        if unit is None:
            out[name] = (value.decode() if isinstance(value, bytes) else str(value), None)
        else:
            # Gurux scales with floats (231.20000000000002): round to 9 significant places.
            out[name] = (Decimal(f"{float(value):.9g}"), int(unit))
    return out


@pytest.mark.parametrize("faults", [[], ["segmented"]])
async def test_gurux_reads_direct_hdlc(faults: list[str]) -> None:
    profile = get_profile("am550")
    async with await serve_tcp(profile, faults=Faults.from_names(faults)) as sim:
        got = await asyncio.to_thread(read_registers, sim.host, sim.port)
    mine = normalise(got)
    for name, value in expected(profile).items():
        assert mine[name] == value, name


async def test_gurux_reads_mode_e_after_the_opening() -> None:
    profile = get_profile("zmd")
    request = f"/?{profile.address}!\r\n".encode()
    async with await serve_tcp(profile, faults=Faults(echo=False)) as sim:
        got = await asyncio.to_thread(read_registers, sim.host, sim.port, opening=request)
    mine = normalise(got)
    want = expected(profile)
    assert len(want) > 25
    for name, value in want.items():
        assert mine[name] == value, name
