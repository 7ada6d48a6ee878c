"""``obisgate simulate``: listings, argument errors, and real runs in a subprocess."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import termios
import tty
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner

from obisgate.cli import main
from obisgate.protocol.chars import add_even_parity
from obisgate.simulator import FAULTS, builtin_profiles, get_profile

TIMEOUT = 10.0
E350 = get_profile("e350")


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["simulate", *args])
    return result.exit_code, result.output


def test_list_profiles() -> None:
    code, output = run("--list-profiles")
    assert code == 0
    lines = output.splitlines()
    assert [line.split()[0] for line in lines] == list(builtin_profiles())
    assert "/ISk5MT174-0001" in output


def test_list_faults() -> None:
    code, output = run("--list-faults")
    assert code == 0
    assert [line.split()[0] for line in output.splitlines()] == list(FAULTS)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--listen", "udp://127.0.0.1:1"], "use tcp://HOST:PORT"),
        (["--listen", "tcp://127.0.0.1"], "tcp://HOST:PORT"),
        (["--listen", "tcp://127.0.0.1:99999"], "tcp://HOST:PORT"),
        (["--listen", "tcp://127.0.0.1:0", "--pty"], "either --listen or --pty"),
        (["--profile", "nope"], "no such built-in profile"),
        (["--fault", "nope"], "unknown fault 'nope'"),
        (["--count", "0"], "--count 0"),
        (["--count", "x"], "not a valid integer"),
        (["--address", "a!b"], "address 'a!b'"),
        (["--address", "X", "--count", "2"], "must end in digits"),
        (["--pty", "--listener-per-meter"], "--listener-per-meter needs"),
        (["--bogus"], "No such option"),
    ],
)
def test_bad_arguments_give_one_line(args: list[str], message: str) -> None:
    code, output = run(*args)
    assert code == 2
    assert output.count("\n") == 1
    assert output.startswith("obisgate: error: ")
    assert message in output
    assert "Traceback" not in output


@asynccontextmanager
async def simulate(*args: str) -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    """Start ``obisgate simulate`` and yield it with the URL of its first line."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "from obisgate.cli import main; main()",
        "simulate",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        async with asyncio.timeout(TIMEOUT):
            first = (await process.stdout.readline()).decode()
        assert first.startswith("listening on "), first
        yield process, first.removeprefix("listening on ").strip()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def stop(process: asyncio.subprocess.Process, sig: signal.Signals) -> tuple[int, str]:
    process.send_signal(sig)
    async with asyncio.timeout(TIMEOUT):
        _, stderr = await process.communicate()
    assert process.returncode is not None
    return process.returncode, stderr.decode()


async def exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"/?00000010!\r\n\x06000\r\n")
    ident = E350.identification_message()
    data = E350.data_message()
    async with asyncio.timeout(TIMEOUT):
        assert await reader.readexactly(len(ident) + len(data)) == ident + data


async def test_tcp_run_until_sigterm() -> None:
    async with simulate(
        "--listen", "tcp://127.0.0.1:0", "--profile", "e350", "--address", "00000009",
        "--count", "2", "-v",
    ) as (process, url):  # fmt: skip
        host, port = url.removeprefix("tcp://").rsplit(":", 1)
        assert host == "127.0.0.1" and int(port) > 0
        reader, writer = await asyncio.open_connection(host, int(port))
        await exchange(reader, writer)  # the second clone has address 00000010
        writer.close()
        await writer.wait_closed()
        code, stderr = await stop(process, signal.SIGTERM)
    assert code == 0
    assert "readout at 300 Bd" in stderr  # -v logs each exchange
    assert "Traceback" not in stderr


async def test_listener_per_meter() -> None:
    async with simulate(
        "--profile", "e350", "--address", "9", "--count", "2", "--listener-per-meter"
    ) as (process, first_url):
        assert process.stdout is not None
        async with asyncio.timeout(TIMEOUT):
            second_url = (await process.stdout.readline()).decode().split()[-1]
        assert first_url != second_url
        host, port = second_url.removeprefix("tcp://").rsplit(":", 1)
        reader, writer = await asyncio.open_connection(host, int(port))
        await exchange(reader, writer)
        writer.close()
        await writer.wait_closed()
        code, _ = await stop(process, signal.SIGINT)
    assert code == 0


@pytest.mark.pty
async def test_pty_run_until_sigint() -> None:
    async with simulate("--pty", "--address", "10") as (process, path):
        assert path.startswith("/dev/")
        fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
        try:
            tty.setraw(fd)
            attrs = termios.tcgetattr(fd)
            attrs[4] = attrs[5] = termios.B300
            termios.tcsetattr(fd, termios.TCSANOW, attrs)
            reader = asyncio.StreamReader()
            loop = asyncio.get_running_loop()
            transport, _ = await loop.connect_read_pipe(
                lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(os.dup(fd), "rb", 0)
            )
            try:
                os.write(fd, b"/?00000010!\r\n\x06000\r\n")
                expected = E350.identification_message() + E350.data_message()
                async with asyncio.timeout(TIMEOUT):
                    assert await reader.readexactly(len(expected)) == expected
            finally:
                transport.close()
        finally:
            os.close(fd)
        code, _ = await stop(process, signal.SIGINT)
    assert code == 0


async def test_port_in_use_is_one_line_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            "from obisgate.cli import main; main()",
            "simulate",
            "--listen",
            f"tcp://127.0.0.1:{port}",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        async with asyncio.timeout(TIMEOUT):
            stdout, stderr = await process.communicate()
    assert process.returncode == 1
    assert stdout == b""
    lines = stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"obisgate: error: cannot listen on 127.0.0.1:{port}"
    )


async def test_profile_file_and_faults_from_the_command_line(tmp_path: Path) -> None:
    profile = tmp_path / "meter.toml"
    profile.write_text(
        'identification = "/ABC5FILE"\naddress = "77"\nreaction_time_ms = 0\n'
        'lines = ["1.8.0(000001.000*kWh)"]\n',
        encoding="utf-8",
    )
    async with simulate(
        "--profile", str(profile), "--fault", "echo", "--fault", "parity"
    ) as (process, url):  # fmt: skip
        host, port = url.removeprefix("tcp://").rsplit(":", 1)
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(b"/?77!\r\n")
        async with asyncio.timeout(TIMEOUT):
            assert await reader.readexactly(7) == b"/?77!\r\n"  # echo
            ident = await reader.readexactly(11)
        assert ident == add_even_parity(b"/ABC5FILE\r\n")
        writer.close()
        await writer.wait_closed()
        code, _ = await stop(process, signal.SIGTERM)
    assert code == 0
