"""A shard loads only its own devices: ``load_config(path, shard=)`` and ``run --shard``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from obisgate.errors import ConfigError
from obisgate.gateway.build import plans_from_config
from obisgate.gateway.config import GatewayConfig, load_config
from obisgate.gateway.config_shard import shard_part
from obisgate.gateway.processing.build import processing_plan
from obisgate.gateway.shard import Shard, select_plans
from obisgate.gateway.shard_parts import PARTS_VARIABLE, read_part, write_parts
from tests.scale.configs import tcp_config

SERIAL = """
[[devices]]
device_alias = "{alias}"
device = "{port}"
serialnumber = "{address}"
enable = {enable}
{extra}
[[signals]]
device_alias = "{alias}"
signal_alias = "power"
tag_job_todo = "16.7.0"
number_type = "FLOAT"
"""


def mixed_config(tmp_path: Path) -> Path:
    """TCP lines of 1-3 meters (some URLs in capitals, the same line), a throttle group,
    serial buses, disabled devices alone on their line and beside enabled ones (some
    naming a throttle group)."""
    text = tcp_config([20000 + i for i in range(30)], [1 + i % 3 for i in range(30)])
    for i in range(0, 30, 7):  # a few lines in one throttle group
        text = text.replace(f'"l{i}m0"\nip', f'"l{i}m0"\ngroup = "cell"\nip', 1)
    text = text.replace('ip = "127.0.0.1"\nport = 20004', 'url = "tcp://LocalHost:20004"', 1)
    text = text.replace('ip = "127.0.0.1"\nport = 20005', 'url = "tcp://localhost:20004"', 1)
    for bus in range(6):
        for k in range(1 + bus % 2):
            text += SERIAL.format(
                alias=f"s{bus}m{k}",
                port=f"/dev/ttyS{bus}",
                address=f"{bus}{k}",
                enable=0 if (bus, k) in ((1, 0), (2, 0), (3, 1), (5, 1)) else 1,
                # a group named only by a disabled device places nothing
                extra='group = "bus"' if k == 1 else "",
            )
    path = tmp_path / "gw.toml"
    path.write_text("[groups.cell]\nmax_sessions = 2\n" + text, encoding="utf-8")
    return path


@pytest.mark.parametrize("count", [2, 3, 5])
def test_each_shard_keeps_exactly_the_devices_it_polls(tmp_path: Path, count: int) -> None:
    path = mixed_config(tmp_path)
    whole = load_config(path)
    plans = plans_from_config(whole)
    kept = []
    for index in range(count):
        shard = Shard(index, count)
        part = load_config(path, shard=shard)
        polled = {p.alias for p in select_plans(plans, shard)}
        # Its configuration holds its lines' devices (the disabled ones too), nothing more.
        aliases = [d.device_alias for d in part.devices]
        assert {a for a in aliases if whole.device(a).enable} == polled
        assert {p.alias for p in select_plans(plans_from_config(part), shard)} == polled
        assert {s.device_alias for s in part.signals} <= set(aliases)
        assert [s.key for s in part.signals] == [
            s.key for s in whole.signals if s.device_alias in aliases
        ]
        kept += aliases
    # Over the shards: the whole configuration, no device twice.
    assert sorted(kept) == sorted(d.device_alias for d in whole.devices)


def test_other_shards_devices_are_never_validated(tmp_path: Path) -> None:
    """A shard loads with a bad row of another shard's device; the owner does not."""
    path = mixed_config(tmp_path)
    plans = plans_from_config(load_config(path))
    owner = next(
        i for i in range(2) if "l1m0" in {p.alias for p in select_plans(plans, Shard(i, 2))}
    )
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace('"l1m0"\n', '"l1m0"\nbaudrate = 12345\n', 1), encoding="utf-8")
    other = load_config(path, shard=Shard(1 - owner, 2))
    assert "l1m0" not in {d.device_alias for d in other.devices}
    with pytest.raises(ConfigError, match="baudrate"):
        load_config(path, shard=Shard(owner, 2))
    with pytest.raises(ConfigError, match="baudrate"):
        load_config(path)


def test_rows_that_cannot_be_placed_are_loaded_by_every_shard(tmp_path: Path) -> None:
    """A device alias given twice (on two lines) or a bad connection fails every shard's
    load, as it fails the whole configuration's."""
    path = tmp_path / "gw.toml"
    base = tcp_config([20000 + i for i in range(20)], [1] * 20)
    for bad in (base.replace('"l7m0"', '"l3m0"'), base.replace("port = 20009", "port = 0")):
        path.write_text(bad, encoding="utf-8")
        for index in range(3):
            with pytest.raises(ConfigError):
                load_config(path, shard=Shard(index, 3))


DERIVED = """
[[signals]]
device_alias = "{alias}"
signal_alias = "{name}"
source = "{source}"
"""


def test_a_derived_signal_using_another_shards_device(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Its source's line (and the lines its own derived signals use) come along, are not
    polled, and the signal is warned about as not topical, as with the whole file."""
    text = tcp_config([20000 + i for i in range(40)], [1] * 40)
    whole_plans = plans_from_config(load_config_text(tmp_path, text))
    owner = {p.alias: i for i in range(2) for p in select_plans(whole_plans, Shard(i, 2))}
    mine = [a for a, i in owner.items() if i == 0]
    theirs = [a for a, i in owner.items() if i == 1]
    # mine[0].total uses theirs[0] (and a dotted name of its own); theirs[0].both uses theirs[1]
    text += DERIVED.format(alias=mine[0], name="total", source=f"energy + {theirs[0]}.both")
    text += DERIVED.format(alias=theirs[0], name="both", source=f"energy + {theirs[1]}.energy")
    path = tmp_path / "gw.toml"
    path.write_text(text, encoding="utf-8")
    part = load_config(path, shard=Shard(0, 2))
    aliases = {d.device_alias for d in part.devices}
    assert aliases == {*mine, theirs[0], theirs[1]}
    plans = select_plans(plans_from_config(part), Shard(0, 2))
    assert {p.alias for p in plans} == set(mine)
    with caplog.at_level("WARNING"):
        plan = processing_plan(part, devices={p.alias for p in plans})
    assert [spec.key for spec in plan.derived] == [(mine[0], "total")]
    assert f"{mine[0]}/total uses {theirs[0]}.both, polled by another shard" in caplog.text
    other = load_config(path, shard=Shard(1, 2))
    assert {d.device_alias for d in other.devices} == set(theirs)


def load_config_text(tmp_path: Path, text: str) -> GatewayConfig:
    path = tmp_path / "whole.toml"
    path.write_text(text, encoding="utf-8")
    return load_config(path)


def same_part(one: GatewayConfig, other: GatewayConfig) -> None:
    assert [d.device_alias for d in one.devices] == [d.device_alias for d in other.devices]
    assert one.devices == other.devices
    assert [s.key for s in one.signals] == [s.key for s in other.signals]
    assert (one.groups, one.storage, one.sections) == (other.groups, other.storage, other.sections)


def test_the_supervisor_hands_each_worker_what_it_would_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``write_parts`` (the supervisor, from the whole configuration) gives each worker the
    part ``load_config(path, shard=)`` gives; over the workers: every device once."""
    path = mixed_config(tmp_path)
    whole = load_config(path)
    folder = tmp_path / "parts"
    folder.mkdir()
    write_parts(whole, 3, folder)  # forked children, two at a time on two CPUs
    kept = []
    for index in range(3):
        shard = Shard(index, 3)
        monkeypatch.setenv(PARTS_VARIABLE, str(folder))
        part = read_part(shard)
        assert part is not None
        assert PARTS_VARIABLE not in os.environ
        same_part(part, load_config(path, shard=shard))
        assert part.warnings == ()
        assert plans_from_config(part) == select_plans(plans_from_config(whole), shard)
        kept += [d.device_alias for d in part.devices]
    assert sorted(kept) == sorted(d.device_alias for d in whole.devices)
    assert read_part(Shard(0, 3)) is None  # no supervisor: the worker loads the file


@pytest.mark.parametrize("at_once", [1, 2, 3])
def test_parts_written_in_children_or_in_process_are_the_same(tmp_path: Path, at_once: int) -> None:
    whole = load_config(mixed_config(tmp_path))
    written = {}
    for way in (1, at_once):
        folder = tmp_path / f"parts-{way}"
        folder.mkdir(exist_ok=True)
        write_parts(whole, 3, folder, at_once=way)
        written[way] = {path.name: path.read_bytes() for path in folder.iterdir()}
    assert sorted(written[at_once]) == [f"part-{i}-of-3.pickle" for i in range(3)]
    assert written[at_once] == written[1]


@pytest.mark.parametrize("at_once", [1, 2])
def test_a_part_that_cannot_be_written_is_an_os_error(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], at_once: int
) -> None:
    whole = load_config(mixed_config(tmp_path))
    with pytest.raises(OSError, match="shard 0/2, 1/2" if at_once > 1 else "No such file"):
        write_parts(whole, 2, tmp_path / "gone", at_once=at_once)
    if at_once > 1:  # each child says why
        assert capfd.readouterr().err.count("No such file or directory") == 2


def test_a_part_with_derived_signals_across_shards_is_the_loaded_one(tmp_path: Path) -> None:
    text = tcp_config([20000 + i for i in range(12)], [1] * 12)
    for i in range(0, 12, 2):
        source = f"energy + l{i + 1}m0.energy" if i < 10 else "energy * 2"
        text += DERIVED.format(alias=f"l{i}m0", name="sum", source=source)
    text += DERIVED.format(alias="l3m0", name="both", source="`l5m0:energy` + l7m0.energy")
    path = tmp_path / "gw.toml"
    path.write_text(text, encoding="utf-8")
    whole = load_config(path)
    for count in (2, 3):
        for index in range(count):
            same_part(
                shard_part(whole, Shard(index, count)), load_config(path, shard=Shard(index, count))
            )


@pytest.mark.integration
def test_run_shard_polls_its_part_and_skips_other_shards_rows(tmp_path: Path) -> None:
    """``run --shard`` validates and polls only its own devices; ``run --workers`` (whose
    supervisor checks the whole configuration) refuses the bad row of either shard, and
    once it is mended each worker polls the devices of its part."""
    path = mixed_config(tmp_path)
    whole = load_config(path)
    plans = plans_from_config(whole)
    owned = [{p.alias for p in select_plans(plans, Shard(i, 2))} for i in range(2)]
    bad = next(iter(sorted(owned[1])))
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace(f'"{bad}"\n', f'"{bad}"\nbaudrate = 12345\n', 1), encoding="utf-8")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "obisgate", "run", str(path), "--format", "none"]
        return subprocess.run(
            [*command, *args, "--duration", "0.5"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    done = run("--shard", "0/2", "--stats", str(tmp_path / "stats.json"))
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "stats-shard0.json").read_text())["devices"] == len(owned[0])
    assert bad not in done.stderr
    for args in (["--shard", "1/2"], ["--workers", "2"]):
        refused = run(*args)
        assert refused.returncode == 2
        assert "baudrate" in refused.stderr
    path.write_text(text, encoding="utf-8")
    workers = run("--workers", "2", "--stats", str(tmp_path / "w.json"))
    assert workers.returncode == 0, workers.stderr
    for index in range(2):
        counted = json.loads((tmp_path / f"w-shard{index}.json").read_text())["devices"]
        assert counted == len(owned[index])
