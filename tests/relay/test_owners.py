"""Which worker the supervisor sends a priority read to: the very worker whose gateway polls
the device (lines placed by their group, shared lines, disabled devices, push meters)."""

from __future__ import annotations

from pathlib import Path

import pytest

from obisgate import ProtocolMode
from obisgate.gateway.build import plans_from_config
from obisgate.gateway.config import load_config
from obisgate.gateway.relay.owners import device_owners
from obisgate.gateway.shard import Shard, select_plans


def config_text() -> str:
    text = "[groups.cell]\nmax_sessions = 2\n"
    rows = [
        *((f"m{i}", f'url = "tcp://10.0.0.{i}:4001"') for i in range(12)),
        *((f"bus{i}", 'device = "/dev/ttyUSB7"') for i in range(3)),  # one line of three
        *((f"c{i}", f'url = "tcp://10.1.0.{i}:4001"\ngroup = "cell"') for i in range(4)),
        ("off", 'url = "tcp://10.2.0.1:4001"\nenable = 0'),
        ("push", 'device = "/dev/ttyUSB9"\ntype = "D"'),
    ]
    for alias, where in rows:
        text += f'[[devices]]\ndevice_alias = "{alias}"\n{where}\n'
        text += (
            f'[[signals]]\ndevice_alias = "{alias}"\nsignal_alias = "e"\n'
            'tag_job_todo = "1.8.0"\nnumber_type = "FLOAT"\n'
        )
    return text


@pytest.mark.parametrize("count", [1, 2, 3, 5])
def test_every_enabled_device_is_owned_by_the_worker_that_polls_it(
    tmp_path: Path, count: int
) -> None:
    path = tmp_path / "gw.toml"
    path.write_text(config_text(), encoding="utf-8")
    config = load_config(path)
    plans = plans_from_config(config)
    polled = {p.alias: i for i in range(count) for p in select_plans(plans, Shard(i, count))}
    owners = device_owners(config, count)
    assert owners.shards == polled
    assert "off" not in owners.shards  # disabled: unknown, as in the worker
    assert owners.push == {p.alias for p in plans if p.options.mode is ProtocolMode.D}
    assert owners.push == {"push"}
    # A line and a group are never split between workers.
    assert len({owners.shards[f"bus{i}"] for i in range(3)}) == 1
    assert len({owners.shards[f"c{i}"] for i in range(4)}) == 1
