"""Two meters answering at once on a shared pty bus: the garbage is never read as valid data."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest

from obisgate import ReadoutOptions, read_meter
from obisgate.errors import ProtocolError
from obisgate.simulator import get_profile, serve_pty

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
