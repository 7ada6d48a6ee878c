"""Subprocess behaviour a user sees: SIGTERM on ``read`` ends it with a message, and
``run --format table`` into a pipe writes no terminal control codes."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import pytest
from tests.commands import run_until

from obisgate.errors import ConfigError
from obisgate.gateway.history import HistoryStore
from obisgate.simulator import get_profile, serve_tcp

pytestmark = pytest.mark.integration

OBISGATE = Path(sys.executable).parent / "obisgate"


async def test_sigterm_on_read_exits_with_a_message() -> None:
    connected = asyncio.Event()

    async def silent_meter(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connected.set()
        await reader.read()  # never answers; returns when the reader goes away
        writer.close()

    server = await asyncio.start_server(silent_meter, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        process = await asyncio.create_subprocess_exec(
            OBISGATE, "read", f"tcp://127.0.0.1:{port}", "--timeout", "60",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        async with asyncio.timeout(30):
            await connected.wait()
            process.send_signal(signal.SIGTERM)
            out, err = await process.communicate()
    assert process.returncode == 128 + signal.SIGTERM
    assert out == b""
    assert err.decode() == "obisgate: error: terminated (SIGTERM) during the readout\n"


async def test_table_into_a_pipe_has_no_control_codes(tmp_path: Path) -> None:
    profile = get_profile("mt174")
    history = tmp_path / "history.sqlite"

    def stored() -> bool:  # the first readout went through the outputs
        try:
            with HistoryStore(history, create=False) as store:
                return bool(store.query("m", "energy_import"))
        except ConfigError:  # not there yet
            return False

    async with await serve_tcp(profile) as sim:
        config = tmp_path / "site.toml"
        config.write_text(
            f'[storage]\npath = "{history}"\n\n'
            f'[[devices]]\ndevice_alias = "m"\nip = "127.0.0.1"\nport = {sim.port}\n\n'
            '[[signals]]\ndevice_alias = "m"\nsignal_alias = "energy_import"\n'
            'tag_job_todo = "1.8.0"\nnumber_type = "DOUBLE"\nlog = 1\n',
            encoding="utf-8",
        )
        # The table goes into the pipe only at the end: watch the history instead of
        # hoping that a fixed --duration covers the first readout on a slow runner.
        done = await run_until([OBISGATE, "run", config, "--format", "table"], condition=stored)
    assert done.code == 0, done.err
    assert "\033" not in done.out
    lines = done.out.splitlines()
    assert lines[0] == f"obisgate run {config}"
    assert lines[1].startswith("devices: 1 ok, 0 down | readouts: 1 | missed scans: 0")
    assert lines[4].split() == ["m", "(status)", "ok", "valid", lines[4].split()[-1]]
    assert lines[5].split()[:5] == ["m", "energy_import", "148123.456", "kWh", "valid"]
