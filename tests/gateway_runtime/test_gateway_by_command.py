"""Signals read by command (programming mode) in the gateway, password from the environment."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from obisgate.gateway.build import plans_from_config
from obisgate.gateway.config import load_config
from obisgate.gateway.poller import DeviceState, LinePoller
from obisgate.gateway.quality import Quality
from obisgate.gateway.updates import STATUS_SIGNAL, SignalUpdate
from obisgate.simulator import get_profile, serve_tcp
from obisgate.simulator.programming_meter import ProgrammingProfile

pytestmark = pytest.mark.integration

PASSWORD = "S3cr3tPw"


def config_text(port: int, address: str, extra: str = "") -> str:
    return f"""
[[devices]]
device_alias = "m"
ip = "127.0.0.1"
port = {port}
serialnumber = "{address}"
poll_delay_ms = 0
serial_close_delay = 0
retries = 0
password_env = "OBISGATE_TEST_PW"
{extra}

[[signals]]
device_alias = "m"
signal_alias = "energy"
tag_job_todo = "1.8.0"
number_type = "FLOAT"

[[signals]]
device_alias = "m"
signal_alias = "secret_register"
tag_job_todo = "C.90.1"
number_type = "UINT32"
read_by = "command"
log = 1

[[signals]]
device_alias = "m"
signal_alias = "energy_by_command"
tag_job_todo = "1.8.0"
number_type = "FLOAT"
read_by = "command"
"""


async def poll_once(tmp_path: Path, text: str) -> list[SignalUpdate]:
    path = tmp_path / "gw.toml"
    path.write_text(text)
    (plan,) = plans_from_config(load_config(path))
    assert plan.command_tags == ("C.90.1", "1.8.0")
    sink: list[SignalUpdate] = []
    poller = LinePoller([DeviceState(plan)], sink.extend)
    await poller.poll(poller.states[0])
    return sink


async def test_signals_by_command_and_from_readout_in_one_poll(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("OBISGATE_TEST_PW", PASSWORD)
    base = get_profile("e350")
    programming = ProgrammingProfile.from_lines(
        (*base.lines, "C.90.1(00004711)"), password=PASSWORD
    )
    async with await serve_tcp(base.replace(programming=programming)) as sim:
        updates = await poll_once(tmp_path, config_text(sim.port, base.address))
    by_signal = {u.signal: u for u in updates}
    assert by_signal[STATUS_SIGNAL].value == "ok"
    assert by_signal["secret_register"].value == 4711
    assert by_signal["secret_register"].quality is Quality.VALID
    assert by_signal["energy_by_command"].value == pytest.approx(1234.12)
    assert by_signal["energy"].value == pytest.approx(1234.12)
    assert PASSWORD not in caplog.text


async def test_wrong_password_marks_the_device_and_never_shows_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("OBISGATE_TEST_PW", "wrong-one")
    base = get_profile("e350")
    programming = ProgrammingProfile.from_lines(base.lines, password=PASSWORD)
    async with await serve_tcp(base.replace(programming=programming)) as sim:
        updates = await poll_once(tmp_path, config_text(sim.port, base.address))
    by_signal = {u.signal: u for u in updates}
    assert by_signal[STATUS_SIGNAL].value == "access denied"
    assert by_signal["secret_register"].quality == Quality.NOT_TOPICAL
    assert "wrong-one" not in caplog.text
    assert PASSWORD not in caplog.text


async def test_missing_password_variable_is_a_configuration_status(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OBISGATE_TEST_PW", raising=False)
    base = get_profile("e350")
    async with await serve_tcp(base) as sim:
        updates = await poll_once(tmp_path, config_text(sim.port, base.address))
    by_signal = {u.signal: u for u in updates}
    assert by_signal[STATUS_SIGNAL].value == "configuration error"
    # A programming-mode failure never throws away the readout of the same poll.
    assert by_signal["energy"].quality is Quality.VALID
    assert by_signal["secret_register"].quality == Quality.NOT_TOPICAL


async def test_refused_password_is_not_sent_again_and_the_readout_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OBISGATE_TEST_PW", "wrong-one")
    base = get_profile("e350")
    programming = ProgrammingProfile.from_lines(base.lines, password=PASSWORD)
    async with await serve_tcp(base.replace(programming=programming)) as sim:
        path = tmp_path / "gw.toml"
        path.write_text(
            config_text(sim.port, base.address, "retries = 2").replace("retries = 0\n", "", 1)
        )
        (plan,) = plans_from_config(load_config(path))
        sink: list[SignalUpdate] = []
        poller = LinePoller([DeviceState(plan)], sink.extend)
        for _ in range(3):
            await poller.poll(poller.states[0])
        sessions = sim.stats.programming_sessions
    assert sessions == 1  # the wrong password went to the meter once, never again
    statuses = [u.value for u in sink if u.signal == STATUS_SIGNAL]
    assert statuses == ["access denied"] * 3
    energy = [u for u in sink if u.signal == "energy"]
    assert [u.quality for u in energy] == [Quality.VALID] * 3
    assert energy[-1].value == pytest.approx(1234.12)
