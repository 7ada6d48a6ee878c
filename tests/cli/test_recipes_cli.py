"""Recipes on the command line: ``obisgate recipes``, and ``read``/``init`` applying them."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from obisgate.cli import main
from obisgate.gateway.config import load_config
from obisgate.simulator import get_profile, serve_tcp
from obisgate.simulator.profile import MeterProfile

#: A Landis+Gyr ZMD120 (pwitab/iec62056-21#33): the recipe keeps the rate at 300 Bd.
ZMD120 = get_profile("e350").replace(enhanced="\\2", identification="ZMD120APt.G03")


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), prog_name="obisgate")


async def invoke(*args: str) -> Result:
    """The CLI in a worker thread (it runs its own event loop) while the simulator serves."""
    return await asyncio.to_thread(run, *args)


def test_recipes_lists_every_recipe_with_its_source() -> None:
    result = run("recipes")
    assert result.exit_code == 0, result.output
    assert "lgz-zmd120  (LGZ / ZMD120)" in result.stdout
    assert "  after the identification: switch_baud = false" in result.stdout
    assert "  source: https://github.com/pwitab/iec62056-21/issues/33" in result.stdout
    assert "lug-uh50" in result.stdout and "with meter_model only:    wakeup = 40" in result.stdout


def test_recipes_match_an_identification() -> None:
    result = run("recipes", "--match", "/EMH5LZQJ-XC", "--format", "json")
    assert result.exit_code == 0, result.output
    assert [r["name"] for r in json.loads(result.stdout)] == ["emh-r5", "emh-lzqj"]
    assert run("recipes", "--match", "/ABC5X").stdout == "no recipe matches\n"


def test_recipes_show_the_users_own(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(
        '[[recipe]]\nname = "mine"\nmanufacturer = "ABC"\nsource = "us"\n'
        "settings = { baud_change_delay_ms = 400 }\n",
        encoding="utf-8",
    )
    result = run("recipes", "--recipes", str(path), "--match", "/ABC5X")
    assert result.exit_code == 0, result.output
    assert f"  from: {path}" in result.stdout


def test_a_bad_recipes_file_is_a_one_line_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[[recipe]]\nname = "x"\n', encoding="utf-8")
    for args in (("recipes",), ("read", "tcp://127.0.0.1:1")):
        result = run(*args, "--recipes", str(path))
        assert result.exit_code == 2
        assert result.stderr.startswith("obisgate: error: ")
        assert result.stderr.count("\n") == 1
    result = run("read", "tcp://127.0.0.1:1", "--meter-model", "zmd")
    assert result.exit_code == 2
    assert "no recipe 'zmd'; known: " in result.stderr


async def read_json(profile: MeterProfile, *args: str, trace: Path) -> dict[str, object]:
    async with await serve_tcp(profile) as sim:
        result = await invoke(
            "read", sim.url, "--address", profile.address, "--format", "json",
            "--trace", str(trace), *args,
        )  # fmt: skip
    assert result.exit_code == 0, result.output
    data: dict[str, object] = json.loads(result.stdout)
    return data


@pytest.mark.integration
async def test_read_applies_the_recipe_after_the_identification(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    trace = tmp_path / "trace.txt"
    data = await read_json(ZMD120, "-v", trace=trace)
    assert data["baud"] == 300  # ACK 0 0 0: the meter stays at 300 Bd
    text = trace.read_text(encoding="utf-8")
    assert "recipe lgz-zmd120: switch_baud=False" in text
    assert "06 30 30 30 0D 0A" in text  # the acknowledgement asked for no switch
    assert "recipe lgz-zmd120 applied: Landis+Gyr ZMD120" in caplog.text


@pytest.mark.integration
async def test_read_without_recipes_or_with_another_forced(tmp_path: Path) -> None:
    trace = tmp_path / "trace.txt"
    assert (await read_json(ZMD120, "--meter-model", "none", trace=trace))["baud"] == 4800
    assert "recipe" not in trace.read_text(encoding="utf-8")
    plain = get_profile("e350")  # no recipe matches it; forcing one applies it all the same
    assert (await read_json(plain, "--meter-model", "lgz-zmd120", trace=trace))["baud"] == 300


@pytest.mark.integration
async def test_an_explicit_option_wins_over_the_recipe(tmp_path: Path) -> None:
    trace = tmp_path / "trace.txt"
    data = await read_json(get_profile("mt174"), "--t2", "500", trace=trace)
    assert data["baud"] == 9600
    text = trace.read_text(encoding="utf-8")
    assert "recipe lower-case-third-letter: reaction_time_s kept as given" in text
    data = await read_json(ZMD120, "--baud-change-delay", "100", trace=trace)
    assert data["baud"] == 300  # the recipe's switch_baud still applies: not given


@pytest.mark.integration
async def test_init_writes_meter_model_when_a_recipe_needs_forcing(tmp_path: Path) -> None:
    kamstrup = get_profile("kamstrup")  # /KAM 685-382: decimal comma, only when forced
    out = tmp_path / "site.toml"
    async with await serve_tcp(kamstrup) as sim:
        result = await invoke("init", sim.url, "--address", kamstrup.address, "-o", str(out))
    assert result.exit_code == 0, result.output
    (device,) = load_config(out).devices
    assert device.meter_model == "kamstrup-685"
    assert device.decimal_comma is True  # the recipe's setting, through meter_model
    zmd = tmp_path / "zmd.toml"
    async with await serve_tcp(ZMD120) as sim:
        result = await invoke("init", sim.url, "--address", ZMD120.address, "-o", str(zmd))
    assert result.exit_code == 0, result.output
    (device,) = load_config(zmd).devices
    assert device.meter_model is None  # its recipe applies by itself after the identification
