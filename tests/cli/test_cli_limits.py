"""CLI limits: every readout and programming session bounded, bad numbers and URLs are usage errors."""

from __future__ import annotations

import asyncio

import pytest
from click.testing import CliRunner, Result

from obisgate.cli import main
from obisgate.simulator import Faults, get_profile, serve_tcp


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


@pytest.mark.parametrize("option", ["--timeout", "--total-timeout"])
@pytest.mark.parametrize("value", ["inf", "nan", "0", "-1", "-inf", "soon"])
def test_read_rejects_non_finite_zero_and_negative_seconds(option: str, value: str) -> None:
    result = run("read", "tcp://127.0.0.1:1", option, value)
    assert result.exit_code == 2
    assert option in result.output
    assert "seconds" in result.output


@pytest.mark.parametrize("command", [["get", "tcp://127.0.0.1:1", "1.8.0"]])
@pytest.mark.parametrize("value", ["inf", "0"])
def test_programming_commands_reject_bad_total_timeout(command: list[str], value: str) -> None:
    result = run(*command, "--total-timeout", value)
    assert result.exit_code == 2
    assert "--total-timeout" in result.output


@pytest.mark.parametrize("url", ["tcp://[::1", "", "   ", "tcp://host", "ftp://x:1"])
def test_malformed_url_is_a_usage_error_naming_it(url: str) -> None:
    result = run("read", url)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert (url.strip() and url in result.output) or "empty URL" in result.output


@pytest.mark.integration
async def test_total_timeout_bounds_a_trickling_meter() -> None:
    faults = Faults(trickle=True)
    async with await serve_tcp(get_profile("mt174"), faults=faults) as sim:
        result = await asyncio.to_thread(run, "read", sim.url, "--total-timeout", "1")
    assert result.exit_code == 3
    assert "whole readout took longer than 1 s" in result.output
