"""The gateway polling mode E and direct HDLC meters of the simulator: values, qualities, faults.

One association per poll reads every signal of a device; the qualities follow the
D0 rules: a data-access-result is ``invalid``, a failed poll ``not_topical``, a
value that does not fit its number type ``overflow``. A refused LLS password is
sent once, then the device is not polled again until reload.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from tests.gateway_runtime.test_gateway_simulated import Collect
from tests.toml_rows import device, signal_

from obisgate.gateway.app import Gateway
from obisgate.gateway.build import plans_from_config
from obisgate.gateway.config import ConfigFileError, load_config
from obisgate.gateway.quality import Quality
from obisgate.gateway.updates import STATUS_SIGNAL
from obisgate.simulator import Faults, get_profile, serve_pty, serve_tcp

pytestmark = [pytest.mark.integration]


async def run_until(text: str, tmp_path: Path, devices: list[str], polls: int = 2) -> Collect:
    path = tmp_path / "gw.toml"
    path.write_text(text)
    plans = plans_from_config(load_config(path))
    out = Collect(devices, polls=polls)
    gateway = Gateway(plans, [out])
    stop = asyncio.Event()
    run = asyncio.create_task(gateway.run(stop))
    await out.done.wait()
    stop.set()
    await run
    return out


@pytest.mark.pty
async def test_mode_e_over_tcp_and_direct_hdlc_over_a_pty(tmp_path: Path) -> None:
    zmd, am550 = get_profile("zmd"), get_profile("am550")
    async with await serve_tcp(zmd) as tcp, await serve_pty(am550) as pty:
        text = (
            device("zmd", f'ip = "127.0.0.1"\nport = {tcp.port}', zmd.address, "E")
            + device("am", f'device = "{pty.path}"', "0", "HDLC")
            + signal_("zmd", "energy", "1-0:1.8.0*255", extra='multiply = 0.001\nunit = "kWh"')
            + signal_("zmd", "voltage", "32.7.0")
            + signal_("zmd", "demand_time", "1.6.0", "DATETIME", "value_index = 2")
            + signal_("zmd", "serial", "C.1.0", "STRING")
            + signal_("zmd", "clock", "0-0:1.0.0*255", "STRING", "cosem_class = 8")
            + signal_("zmd", "missing", "9.9.9")
            + signal_("zmd", "too_big", "1.8.0", "INT16")
            + signal_("am", "energy", "1.8.0")
            + signal_("am", "current", "1-0:31.7.0*255", extra="cosem_class = 3")
        )
        out = await run_until(text, tmp_path, ["zmd", "am"])
    energy = out.latest("zmd", "energy")
    assert (energy.value, energy.unit, energy.quality) == (
        pytest.approx(48123.456),
        "kWh",
        Quality.VALID,
    )
    voltage = out.latest("zmd", "voltage")
    assert (voltage.value, voltage.unit) == (pytest.approx(230.1), "V")
    assert out.latest("zmd", "demand_time").value.isoformat() == "2024-03-18T09:30:00"
    assert out.latest("zmd", "serial").value == "54459012"
    assert out.latest("zmd", "clock").value == "2024-03-22 10:15:00+01:00"
    missing = out.latest("zmd", "missing")
    assert (missing.quality, missing.value) == (Quality.INVALID, None)
    assert out.latest("zmd", "too_big").quality == Quality.OVERFLOW
    assert out.latest("zmd", STATUS_SIGNAL).value == "ok"
    assert out.latest("zmd", STATUS_SIGNAL).raw == "/LGZ5\\2ZMD4054459.B40"
    assert out.latest("am", "energy").value == pytest.approx(4512345)
    assert out.latest("am", "current").value == pytest.approx(2.21)
    assert out.latest("am", STATUS_SIGNAL).value == "ok"


async def test_failed_polls_are_not_topical_and_a_refused_password_is_sent_once(
    tmp_path: Path,
) -> None:
    zmd = get_profile("zmd")
    async with (
        await serve_tcp(zmd) as good,
        await serve_tcp(zmd, faults=Faults(ignore_mode_e=True)) as ignoring,
    ):
        text = (
            device(
                "locked",
                f'ip = "127.0.0.1"\nport = {good.port}',
                zmd.address,
                "E",
                'dlms_client = 1\npassword_env = "OBISGATE_TEST_WRONG_PW"',
            )
            + device("ignoring", f'ip = "127.0.0.1"\nport = {ignoring.port}', zmd.address, "E")
            + signal_("locked", "energy", "1.8.0")
            + signal_("ignoring", "energy", "1.8.0")
        )
        with pytest.MonkeyPatch.context() as env:
            env.setenv("OBISGATE_TEST_WRONG_PW", "99999999")
            out = await run_until(text, tmp_path, ["locked", "ignoring"], polls=3)
        refused = good.stats.hdlc_sessions
    assert out.latest("locked", STATUS_SIGNAL).value == "access denied"
    assert out.latest("locked", "energy").quality == Quality.NOT_TOPICAL
    assert refused == 1  # polled three times, the password went out once
    assert out.latest("ignoring", STATUS_SIGNAL).value == "unexpected message"
    assert out.latest("ignoring", "energy").quality == Quality.NOT_TOPICAL


def test_configuration_problems_of_dlms_signals(tmp_path: Path) -> None:
    text = (
        device("e", 'ip = "127.0.0.1"\nport = 1', "1", "E")
        + device("c", 'ip = "127.0.0.1"\nport = 2', "2", "C")
        + signal_("e", "bad_code", "C.1.X")
        + signal_("e", "by_command", "1.8.0", extra='read_by = "command"')
        + signal_("c", "class_on_d0", "1.8.0", extra="cosem_class = 3")
    )
    path = tmp_path / "gw.toml"
    path.write_text(text)
    with pytest.raises(ConfigFileError) as caught:
        load_config(path)
    message = str(caught.value)
    assert "read by OBIS code" in message
    assert "has no programming mode" in message
    assert "cosem_class is for mode E / HDLC meters" in message
