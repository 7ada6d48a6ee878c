"""The backfill's configuration: device fields, profile channels, every problem located."""

from __future__ import annotations

import textwrap
from datetime import UTC
from pathlib import Path

import pytest

from obisgate.gateway.build import plans_from_config
from obisgate.gateway.config import ConfigFileError, load_config
from obisgate.gateway.plan import DevicePlan


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gw.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems(path: Path) -> list[tuple[str | None, str]]:
    with pytest.raises(ConfigFileError) as info:
        load_config(path)
    return [(p.field, p.message) for p in info.value.problems]


DEVICE = """\
    [[devices]]
    device_alias = "m1"
    ip = "127.0.0.1"
    port = 4059
    password_env = "METER_PW"
    profile = "P.01"
    {extra}

    [[signals]]
    device_alias = "m1"
    signal_alias = "energy"
    tag_job_todo = "1.8.0"
    number_type = "FLOAT"
    log = 1
    profile_channel = "1.8.0"
"""


def plan_of(tmp_path: Path, text: str) -> DevicePlan:
    (plan,) = plans_from_config(load_config(write(tmp_path, text)))
    return plan


def test_a_profile_device_gets_its_backfill_plan(tmp_path: Path) -> None:
    plan = plan_of(
        tmp_path,
        DEVICE.format(
            extra='profile_timezone = "UTC"\nprofile_period_s = 1800\nbackfill_chunk = 12'
        )
        + """
    [[signals]]
    device_alias = "m1"
    signal_alias = "power"
    tag_job_todo = "1.7.0"
    number_type = "FLOAT"
    """,
    )
    profile = plan.profile
    assert profile is not None
    assert (profile.address, profile.period_s, profile.command) == ("P.01", 1800, "R5")
    assert (profile.zone, profile.max_days, profile.chunk) == (UTC, 7, 12)
    assert [(code, signal.alias) for code, signal in profile.channels] == [("1.8.0", "energy")]
    assert profile.programming.options.sign_on.option == "1"
    assert plan.programming is None  # no signal is read by command: polls stay readouts
    assert plan.needs_readout


def test_defaults(tmp_path: Path) -> None:
    profile = plan_of(tmp_path, DEVICE.format(extra="")).profile
    assert profile is not None
    assert (profile.period_s, profile.zone, profile.max_days, profile.chunk) == (900, None, 7, 96)


def test_a_device_without_profile_has_no_backfill(tmp_path: Path) -> None:
    text = DEVICE.format(extra="").replace('profile = "P.01"\n', "")
    text = text.replace('profile_channel = "1.8.0"\n', "")
    assert plan_of(tmp_path, text).profile is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            DEVICE.format(extra="").replace('profile = "P.01"\n', ""),
            [
                (
                    "profile_channel",
                    'device m1 has no profile (e.g. profile = "P.01") to fill this signal from',
                )
            ],
        ),
        (
            DEVICE.format(extra="").replace("log = 1\n", ""),
            [
                (
                    "log",
                    "a signal filled from the load profile needs log = 1: the history is "
                    "where its gaps are found",
                )
            ],
        ),
        (
            DEVICE.format(extra="").replace('profile_channel = "1.8.0"\n', ""),
            [("profile", "no enabled signal of this device names a profile_channel to fill")],
        ),
        (
            DEVICE.format(extra='type = "A"'),
            [
                (
                    "profile",
                    "the load profile is read in programming mode, which type A meters do "
                    "not offer: mode C only",
                )
            ],
        ),
        (
            DEVICE.format(extra='profile_period_s = 700\nprofile_timezone = "Mars/Base"'),
            [
                (
                    "profile_period_s",
                    "got 700; whole minutes that divide a day (60, 300, 600, 900, 1800, "
                    "3600 ... 86400)",
                ),
                (
                    "profile_timezone",
                    "got 'Mars/Base'; unknown time zone 'Mars/Base': local, UTC, an offset "
                    "such as +01:00, or a zone name such as Europe/Berlin",
                ),
            ],
        ),
        (
            DEVICE.format(extra='profile_command = "W5"\nbackfill_max_days = 0'),
            [
                ("profile_command", "got 'W5'; allowed: R5, R6, R1, R2"),
                ("backfill_max_days", "got 0; allowed: 1 to 366 days"),
            ],
        ),
    ],
)
def test_problems_are_named_with_their_field(
    tmp_path: Path, text: str, expected: list[tuple[str, str]]
) -> None:
    assert problems(write(tmp_path, text)) == expected
