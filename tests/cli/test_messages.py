"""Messages that say what to do, against the simulator: a load profile refused for want
of the password, and the TCP converter's rate warning once per line, not per read."""

from __future__ import annotations

import asyncio
import json
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from tests.commands import run_until

from obisgate.cli import main
from obisgate.protocol.chars import MODE_C_BAUD
from obisgate.simulator import get_profile, serve_tcp

pytestmark = pytest.mark.integration

OBISGATE = Path(sys.executable).parent / "obisgate"
PROFILE_RANGE = ("--from", "2024-03-15T00:00", "--to", "2024-03-15T01:00", "--timeout", "3")
NEEDS_PASSWORD = "(--password-env VAR or --password-file FILE)"


async def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    """The CLI in a worker thread (it runs its own event loop) while the simulator serves."""
    return await asyncio.to_thread(CliRunner().invoke, main, list(args), env=env)


async def test_profile_without_the_password_says_it_needs_it() -> None:
    profile = get_profile("mt174")  # programming mode, password 00000000
    async with await serve_tcp(profile) as sim:
        refused = await invoke("profile", sim.url, *PROFILE_RANGE)
        assert refused.exit_code == 7
        assert refused.stdout == ""
        assert refused.stderr.splitlines()[-1] == (
            f"obisgate: error: the meter refused R5 (ER01): the load profile needs the "
            f"password {NEEDS_PASSWORD}"
        )
        got = await invoke("get", sim.url, "1.8.0", "--timeout", "3")
        assert got.exit_code == 7
        assert got.stderr.splitlines()[-1] == (
            f"obisgate: error: the meter refused R1 (ER01): reading 1.8.0 needs the password "
            f"{NEEDS_PASSWORD}"
        )
        env = {"METER_PW": "00000000"}
        read = await invoke(
            "profile", sim.url, *PROFILE_RANGE, "--password-env", "METER_PW", env=env
        )
    assert read.exit_code == 0, read.stderr
    assert read.stdout.splitlines()[-1] == "5 rows"


async def test_a_wrong_password_is_not_taken_for_a_missing_one() -> None:
    profile = get_profile("mt174")
    async with await serve_tcp(profile) as sim:
        wrong = await invoke(
            "profile", sim.url, *PROFILE_RANGE, "--password-env", "PW", env={"PW": "12345678"}
        )
    assert wrong.exit_code == 7
    assert "needs the password" not in wrong.stderr


async def test_the_rate_warning_is_shown_once_per_line(tmp_path: Path) -> None:
    """Two mode C meters behind raw TCP converters, polled again and again: the warning
    that the converter cannot switch to 9600 Bd comes once for each, not once per read."""
    mt174, e350 = get_profile("mt174"), get_profile("e350")
    async with await serve_tcp(mt174) as one, await serve_tcp(e350) as two:
        config = tmp_path / "site.toml"
        config.write_text(
            textwrap.dedent(
                f"""\
                [[devices]]
                device_alias = "one"
                url = "{one.url}"
                serialnumber = "{mt174.address}"
                scan_rate_ms = 100

                [[devices]]
                device_alias = "two"
                url = "{two.url}"
                serialnumber = "{e350.address}"
                scan_rate_ms = 100

                [[signals]]
                device_alias = "one"
                signal_alias = "energy"
                tag_job_todo = "1.8.0"
                number_type = "FLOAT"

                [[signals]]
                device_alias = "two"
                signal_alias = "energy"
                tag_job_todo = "1.8.0"
                number_type = "FLOAT"
                """
            ),
            encoding="utf-8",
        )
        seen = {"one": 0, "two": 0}

        def four_readouts_each(line: str) -> bool:
            update = json.loads(line)
            seen[update["device"]] += 1
            return min(seen.values()) >= 4

        done = await run_until(
            [OBISGATE, "run", str(config), "--format", "jsonl"], line=four_readouts_each
        )
    assert done.code == 0, done.err
    warnings = [line for line in done.err.splitlines() if "cannot switch" in line]
    assert sorted(warnings) == sorted(
        f"obisgate: warning: {url}: meter switches to {baud} Bd; this transport cannot switch, "
        "so the converter's own rate must match"
        for url, baud in (
            (one.url, MODE_C_BAUD[mt174.baud_char]),
            (two.url, MODE_C_BAUD[e350.baud_char]),
        )
    )
