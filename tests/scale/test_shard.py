"""Sharding: every line to exactly one instance, stable under a change of N."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from obisgate.cli import main
from obisgate.gateway.build import plans_from_config
from obisgate.gateway.config import load_config
from obisgate.gateway.outputs.context import OutputContext
from obisgate.gateway.outputs.mqtt.output import create
from obisgate.gateway.outputs.mqtt.spec import MQTT
from obisgate.gateway.shard import (
    Shard,
    ShardError,
    group_lines,
    line_owner,
    select_plans,
    shard_path,
)
from obisgate.gateway.shard_config import shard_config
from tests.scale.configs import tcp_config

KEYS = [f"tcp://10.{i // 250}.{i % 250}.7:{4000 + i % 17}" for i in range(3000)]


def test_every_line_belongs_to_exactly_one_shard() -> None:
    for count in (1, 2, 3, 5):
        owned = [{k for k in KEYS if Shard(i, count).owns(k)} for i in range(count)]
        assert set().union(*owned) == set(KEYS)
        assert sum(len(o) for o in owned) == len(KEYS)  # pairwise disjoint
        for part in owned:  # balanced within 15 % of the mean
            assert abs(len(part) - len(KEYS) / count) < 0.15 * len(KEYS) / count


@pytest.mark.parametrize("count", [2, 3, 4, 7])
def test_adding_a_shard_moves_about_one_in_n_plus_one(count: int) -> None:
    moved = [k for k in KEYS if line_owner(k, count) != line_owner(k, count + 1)]
    assert all(line_owner(k, count + 1) == count for k in moved)  # only to the new one
    share = len(moved) / len(KEYS)
    assert abs(share - 1 / (count + 1)) < 0.05


def test_assignment_does_not_depend_on_the_process() -> None:
    """Python's hash() is salted per process; the assignment must not be."""
    here = [line_owner(k, 5) for k in KEYS[:50]]
    code = (
        "from obisgate.gateway.shard import line_owner; import json, sys;"
        "print(json.dumps([line_owner(k, 5) for k in json.loads(sys.argv[1])]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, json.dumps(KEYS[:50])],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "12345", "PATH": ""},
    )
    assert json.loads(out.stdout) == here


@pytest.mark.parametrize("text", ["3/3", "x", "1", "-1/3", "1/0", "a/b", "2/"])
def test_bad_shard_text(text: str) -> None:
    with pytest.raises(ShardError, match="expected I/N"):
        Shard.parse(text)


def test_shard_text_and_suffix() -> None:
    shard = Shard.parse(" 2 / 5 ")
    assert (shard.index, shard.count, str(shard), shard.suffix) == (2, 5, "2/5", "shard2")
    assert shard_path(Path("/x/history.db"), shard) == Path("/x/history-shard2.db")
    assert shard_path(Path("/x/history.db"), None) == Path("/x/history.db")


@pytest.fixture
def shared_config(tmp_path: Path) -> Path:
    path = tmp_path / "gw.toml"
    counts = [1 + i % 3 for i in range(40)]  # some lines shared by 2 or 3 meters
    path.write_text(tcp_config([20000 + i for i in range(40)], counts), encoding="utf-8")
    return path


def test_shared_lines_stay_together(shared_config: Path) -> None:
    plans = plans_from_config(load_config(shared_config))
    parts = [select_plans(plans, Shard(i, 3)) for i in range(3)]
    assert sorted(p.alias for part in parts for p in part) == sorted(p.alias for p in plans)
    for i, part in enumerate(parts):
        for key, members in group_lines(part).items():
            assert len(members) == len(group_lines(plans)[key])
            assert all(line_owner(key, 3) == i for _ in members)


def test_plan_command_lists_what_each_shard_owns(shared_config: Path) -> None:
    runner = CliRunner()
    seen: list[str] = []
    for i in range(3):
        result = runner.invoke(
            main, ["plan", str(shared_config), "--shard", f"{i}/3", "--format", "json"]
        )
        assert result.exit_code == 0, result.output
        item = json.loads(result.output)
        assert item["shard"] == f"{i}/3"
        assert item["total_lines"] == 40
        seen.extend(line["line"] for line in item["lines"])
    assert len(seen) == len(set(seen)) == 40
    text = runner.invoke(main, ["plan", str(shared_config)], env={"OBISGATE_SHARD": "1/3"})
    assert text.exit_code == 0
    assert text.output.startswith("shard 1/3: ")


@pytest.mark.parametrize("command", ["plan", "run"])
@pytest.mark.parametrize("value", ["3/3", "x"])
def test_bad_shard_is_one_line_and_exit_2(shared_config: Path, command: str, value: str) -> None:
    result = CliRunner().invoke(main, [command, str(shared_config), "--shard", value])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("obisgate: error: --shard")


def test_bad_shard_from_the_environment(shared_config: Path) -> None:
    result = CliRunner().invoke(main, ["plan", str(shared_config)], env={"OBISGATE_SHARD": "5/2"})
    assert result.exit_code == 2
    assert "OBISGATE_SHARD" in result.output


def test_shard_config_names_the_files_per_instance(shared_config: Path, tmp_path: Path) -> None:

    config = load_config(shared_config)
    assert shard_config(config, None) is config
    one = shard_config(config, Shard(1, 3))
    assert one.storage.path.name == f"{config.storage.path.stem}-shard1{config.storage.path.suffix}"
    two = shard_config(config, Shard(2, 3), tmp_path / "h.sqlite")
    assert two.storage.path == tmp_path / "h-shard2.sqlite"


def test_default_mqtt_client_id_is_unique_per_configuration_and_shard(tmp_path: Path) -> None:
    """The output's client id: a configured one as written; the default one names the host,
    a hash of the configuration's path and the shard, the same at every start."""
    base = tcp_config([20001], [1])
    default = tmp_path / "a.toml"
    default.write_text('[mqtt]\nurl = "mqtt://127.0.0.1"\n' + base, encoding="utf-8")
    other = tmp_path / "other" / "a.toml"
    other.parent.mkdir()
    other.write_text(default.read_text("utf-8"), "utf-8")
    fixed = tmp_path / "b.toml"
    fixed.write_text('[mqtt]\nurl = "mqtt://127.0.0.1"\nclient_id = "gw-x"\n' + base, "utf-8")

    def client_id(path: Path, shard: Shard | None) -> str:
        config = shard_config(load_config(path), shard)
        section = config.section(MQTT)
        assert section is not None
        context = OutputContext(shard=None if shard is None else shard.suffix)
        return create(config, section, context).client_id

    first = client_id(default, None)
    assert first.startswith("obisgate-")
    assert first == client_id(default, None)  # stable across restarts
    assert client_id(default, Shard(1, 2)) == f"{first}-shard1"
    assert client_id(default, Shard(0, 2)) == f"{first}-shard0"
    assert client_id(other, None) not in (first, "obisgate-" + first.split("-")[1])
    assert client_id(fixed, None) == client_id(fixed, Shard(1, 2)) == "gw-x"


def test_the_lines_of_a_throttle_group_go_to_one_shard(tmp_path: Path) -> None:
    """Its max_sessions then holds across the workers too."""
    text = tcp_config([21000 + i for i in range(30)], [1] * 30)
    # Lines 0-9 in group "cell", the others on their own.
    for i in range(10):
        text = text.replace(
            f'device_alias = "l{i}m0"\n', f'device_alias = "l{i}m0"\ngroup = "cell"\n', 1
        )
    path = tmp_path / "gw.toml"
    path.write_text("[groups.cell]\nmax_sessions = 2\n" + text, encoding="utf-8")
    plans = plans_from_config(load_config(path))
    grouped = {p.port_key for p in plans if p.group == "cell"}
    assert len(grouped) == 10
    for count in (2, 3, 5):
        owners = {i for i in range(count) for p in select_plans(plans, Shard(i, count)) if p.group}
        assert len(owners) == 1  # every line of the group in one shard
        taken = [p.alias for i in range(count) for p in select_plans(plans, Shard(i, count))]
        assert sorted(taken) == sorted(p.alias for p in plans)  # each device exactly once
    listed = CliRunner().invoke(main, ["plan", str(path), "--shard", "0/3", "--format", "json"])
    others = CliRunner().invoke(main, ["plan", str(path), "--shard", "1/3", "--format", "json"])
    third = CliRunner().invoke(main, ["plan", str(path), "--shard", "2/3", "--format", "json"])
    shown = [json.loads(r.output)["lines"] for r in (listed, others, third)]
    holding = [sum(1 for line in lines if line["line"] in grouped) for lines in shown]
    assert sorted(holding) == [0, 0, 10]
