"""``obisgate demo`` serves the web view on loopback and prints its address; without the
``web`` extra (or with ``--web off``) it runs without one."""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from obisgate.gateway.config import load_config
from obisgate.gateway.demo_config import render_demo_config
from obisgate.gateway.outputs.http.spec import HTTP
from tests.commands import Finished, run_until

pytestmark = [pytest.mark.integration, pytest.mark.pty]

PORTS = {"tcp-kamstrup": 40001, "tcp-aux": 40002}
ADDRESS = re.compile(r"^web view on (http://127\.0\.0\.1:(\d+)/)$", re.M)


def test_the_demo_config_has_the_web_view_on_loopback_unless_left_out(tmp_path: Path) -> None:
    path = tmp_path / "demo.toml"
    path.write_text(render_demo_config("/dev/pts/1", PORTS), encoding="utf-8")
    section = load_config(path).section(HTTP)
    assert section is not None
    assert (section.host, section.port) == ("127.0.0.1", 0)
    path.write_text(render_demo_config("/dev/pts/1", PORTS, web_listen=None), encoding="utf-8")
    assert load_config(path).section(HTTP) is None
    path.write_text(
        render_demo_config("/dev/pts/1", PORTS, web_listen="127.0.0.1:18080"), encoding="utf-8"
    )
    assert load_config(path).section(HTTP) is not None


async def test_the_demo_serves_the_web_view_and_prints_its_address() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "obisgate", "demo", "--format", "jsonl", "--duration", "0",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stderr is not None
    try:
        seen = ""
        while (match := ADDRESS.search(seen)) is None:
            line = await asyncio.wait_for(proc.stderr.readline(), 60)
            assert line, f"the demo ended without a web view: {seen}"
            seen += line.decode()
        url = match.group(1)
        async with aiohttp.ClientSession() as client:
            async with client.get(url) as response:
                assert response.status == 200
                assert "bus-mt174" in await response.text()
            deadline = asyncio.get_running_loop().time() + 60
            up: dict[str, bool | None] = {}
            while not (up and all(up.values())):
                assert asyncio.get_running_loop().time() < deadline, up
                async with client.get(url + "api/devices") as response:
                    up = {d["device"]: d["up"] for d in await response.json()}
                await asyncio.sleep(0.2)  # polling a condition under a deadline
        assert set(up) == {"bus-mt174", "bus-e350", "tcp-kamstrup", "tcp-aux"}
    finally:
        proc.send_signal(signal.SIGINT)
        rest = await asyncio.wait_for(proc.stderr.read(), 60)
        assert await proc.wait() == 0, rest.decode()
    assert b"Traceback" not in rest


async def run_demo(*args: str, code: str = "") -> Finished:
    """``obisgate demo --format jsonl ARGS`` until a first status was printed, then Ctrl-C."""
    program = code + "from obisgate.cli import main; main()"
    return await run_until(
        [sys.executable, "-c", program, "demo", "--format", "jsonl", *args],
        line=lambda line: '"_status"' in line,
        stop=signal.SIGINT,
    )


async def test_without_the_web_extra_the_demo_runs_with_a_one_line_note() -> None:
    proc = await run_demo(code="import sys; sys.modules['aiohttp'] = None\n")
    assert proc.code == 0, proc.err
    notes = [line for line in proc.err.splitlines() if "no web view" in line]
    assert notes == [
        "obisgate demo: no web view: [http] needs the optional extra web "
        "(aiohttp is not installed): pip install '.[web]' in obisgate's source folder"
    ]
    assert ADDRESS.search(proc.err) is None
    assert '"_status"' in proc.out


async def test_web_off() -> None:
    proc = await run_demo("--web", "off")
    assert proc.code == 0, proc.err
    assert "web view" not in proc.err


def test_a_bad_web_address_is_a_usage_error() -> None:
    bad = subprocess.run(
        [sys.executable, "-m", "obisgate", "demo", "--web", "everywhere"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 2
    assert "Invalid value for '--web'" in bad.stderr
