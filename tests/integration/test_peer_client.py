"""A client not written here (PyPI ``iec62056-21``) reads our simulator over TCP in mode C."""

from __future__ import annotations

import asyncio

import pytest
from iec62056_21.client import Iec6205621Client

from obisgate.simulator import get_profile, serve_tcp

pytestmark = pytest.mark.integration


def peer_readout(port: int, address: str) -> object:
    client = Iec6205621Client.with_tcp_transport(("127.0.0.1", port), device_address=address)
    client.connect()
    try:
        return client.standard_readout()
    finally:
        client.disconnect()


@pytest.mark.parametrize("name", ["mt174", "e350"])
async def test_peer_client_reads_simulator_in_mode_c(name: str) -> None:
    profile = get_profile(name)
    async with await serve_tcp(profile) as sim:
        readout = await asyncio.to_thread(peer_readout, sim.port, profile.address)
    data_sets = readout.data_block.data_lines  # type: ignore[attr-defined]
    first_of_each_line = [
        (ds.address, ds.value) for line in data_sets for ds in line.data_sets if ds.address
    ]
    expected = [
        (ds.address, ds.values[0].raw.partition("*")[0]) for ds in profile.datasets if ds.address
    ]
    assert first_of_each_line == expected
