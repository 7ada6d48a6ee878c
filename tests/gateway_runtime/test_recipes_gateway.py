"""Recipes in the gateway: applied after the identification unless a field is set,
forced by ``meter_model``, turned off by ``meter_model = "none"``."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from obisgate.gateway.build import plans_from_config
from obisgate.gateway.config import ConfigFileError, load_config
from obisgate.gateway.plan import DevicePlan
from obisgate.gateway.poller import DeviceState, LinePoller
from obisgate.gateway.updates import STATUS_SIGNAL, SignalUpdate
from obisgate.simulator import get_profile, serve_tcp

#: A Landis+Gyr ZMD120 (pwitab/iec62056-21#33): the recipe keeps the rate at 300 Bd.
ZMD120 = get_profile("e350").replace(enhanced="\\2", identification="ZMD120APt.G03")


def config(tmp_path: Path, device_extra: str, port: int = 4001) -> Path:
    path = tmp_path / "gw.toml"
    path.write_text(
        f"""
[[devices]]
device_alias = "m"
ip = "127.0.0.1"
port = {port}
serialnumber = "{ZMD120.address}"
poll_delay_ms = 0
serial_close_delay = 0
retries = 0
{device_extra}

[[signals]]
device_alias = "m"
signal_alias = "energy"
tag_job_todo = "1.8.0"
number_type = "FLOAT"
""",
        encoding="utf-8",
    )
    return path


def plan_of(path: Path) -> DevicePlan:
    (plan,) = plans_from_config(load_config(path))
    return plan


def test_meter_model_fills_the_fields_the_device_does_not_set(tmp_path: Path) -> None:
    forced = plan_of(config(tmp_path, 'meter_model = "lug-uh50"'))
    assert (forced.options.wakeup_nuls, forced.options.wakeup_delay_s) == (40, 0.0)
    given = plan_of(config(tmp_path, 'meter_model = "LUG-UH50"\nwakeup = 66'))
    assert (given.options.wakeup_nuls, given.options.wakeup_delay_s) == (66, 0.0)
    device = load_config(config(tmp_path, 'meter_model = "elster-a1500"')).devices[0]
    assert device.total_timeout_s == 240.0


def test_meter_model_none_turns_recipes_off(tmp_path: Path) -> None:
    plan = plan_of(config(tmp_path, 'meter_model = "none"'))
    assert plan.recipes is not None and plan.recipes.recipes == ()
    plan = plan_of(config(tmp_path, ""))
    assert plan.recipes is not None and plan.recipes.recipes  # obisgate's table
    assert plan.recipes.keep == frozenset()
    plan = plan_of(config(tmp_path, "t2 = 300\nswitch_baud = 1"))
    assert plan.recipes is not None
    assert plan.recipes.keep == {"reaction_time_s", "switch_baud"}


def test_meter_model_that_is_no_recipe(tmp_path: Path) -> None:
    typo = load_config(config(tmp_path, 'meter_model = "lgz-zmd12"'))
    (warning,) = [w for w in typo.warnings if w.field == "meter_model"]
    assert "did you mean 'lgz-zmd120'?" in warning.message
    model = load_config(config(tmp_path, 'meter_model = "MT174"'))  # a model's name: kept
    assert not [w for w in model.warnings if w.field == "meter_model"]
    assert model.devices[0].meter_model == "MT174"


def test_a_bad_recipes_file_in_the_environment_is_a_configuration_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tmp_path / "recipes.toml"
    bad.write_text("[[recipe]]\n", encoding="utf-8")
    monkeypatch.setenv("OBISGATE_RECIPES", str(bad))
    with pytest.raises(ConfigFileError, match=r"OBISGATE_RECIPES: .*recipe name None"):
        load_config(config(tmp_path, ""))


async def poll(path: Path) -> list[SignalUpdate]:
    (plan,) = plans_from_config(load_config(path))
    sink: list[SignalUpdate] = []
    poller = LinePoller([DeviceState(plan)], sink.extend)
    await poller.poll(poller.states[0])
    return sink


@pytest.mark.integration
@pytest.mark.parametrize(
    ("extra", "baud"),
    [
        ("", 300),  # the recipe: no baud switch
        ("switch_baud = 1", 4800),  # given explicitly: the recipe never overrides it
        ('meter_model = "none"', 4800),  # recipes off
        ('meter_model = "lgz-zmd120"\nswitch_baud = 1', 4800),  # forced, the field still wins
    ],
)
async def test_the_gateway_applies_the_recipe_unless_the_field_is_set(
    tmp_path: Path, extra: str, baud: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "obisgate.gateway.poller")
    async with await serve_tcp(ZMD120) as sim:
        updates = await poll(config(tmp_path, extra, sim.port))
        bauds = dict(sim.stats.readout_bauds)
    status = next(u for u in updates if u.signal == STATUS_SIGNAL)
    assert status.value == "ok"
    assert bauds == {baud: 1}
    applied = "m: recipe lgz-zmd120 applied" in caplog.text
    assert applied is (extra != 'meter_model = "none"')
