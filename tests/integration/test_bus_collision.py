"""Over a pty: line noise before STX and two meters answering at once are never read as valid data."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest

from obisgate import ReadoutOptions, parse_readout, read_meter
from obisgate.errors import ChecksumError, ProtocolError
from obisgate.protocol.readout import BccStatus
from obisgate.simulator import Faults, get_profile, serve_pty

pytestmark = [pytest.mark.integration, pytest.mark.pty]


async def test_collision_is_a_protocol_error_in_the_library() -> None:
    meters = [get_profile("mt174"), get_profile("e350")]
    async with await serve_pty(meters, realtime=True) as sim:
        with pytest.raises(ProtocolError):
            await read_meter(sim.path, ReadoutOptions())  # no address: both answer


async def test_collision_is_a_non_zero_exit_in_the_cli() -> None:
    meters = [get_profile("mt174"), get_profile("e350")]
    async with await serve_pty(meters, realtime=True) as sim:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "obisgate",
            "read",
            sim.path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        out, err = await proc.communicate()
    assert proc.returncode not in (0, None), out.decode("latin-1")
    assert b"BCC absent" not in out
    assert err.decode().count("\n") == 1  # one line, no traceback


@pytest.mark.parametrize("name", ["mt174", "e350"])
async def test_noise_before_stx_after_the_rate_switch_is_skipped_and_the_bcc_checked(
    name: str,
) -> None:
    profile = get_profile(name)
    async with await serve_pty([profile], faults=Faults(noise=True)) as sim:
        result = await read_meter(sim.path, ReadoutOptions(address=profile.address))
    assert result.readout.bcc is BccStatus.VALID
    assert result.readout.datasets == parse_readout(profile.data_message()).datasets


async def test_noise_before_stx_and_a_wrong_bcc_is_a_checksum_error() -> None:
    profile = get_profile("mt174")
    async with await serve_pty([profile], faults=Faults(noise=True, bad_bcc=True)) as sim:
        with pytest.raises(ChecksumError):
            await read_meter(sim.path, ReadoutOptions(address=profile.address))
