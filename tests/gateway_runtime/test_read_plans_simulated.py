"""The read plan's choice against the simulator's readout, list and register commands,
over TCP and over a pty (where the rate switch is real), and through ``obisgate run`` /
``obisgate plan``."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
from tests.commands import run_until

from obisgate.gateway.build import plans_from_config
from obisgate.gateway.config import load_config
from obisgate.gateway.poller import DeviceState, LinePoller
from obisgate.gateway.readplan import ReadKind
from obisgate.gateway.readsizes import load_sizes, sizes_path
from obisgate.gateway.updates import STATUS_SIGNAL, SignalUpdate
from obisgate.simulator import get_profile, serve_pty, serve_tcp

pytestmark = pytest.mark.integration

LARGE = get_profile("large")
MT174 = get_profile("mt174")


def config(where: str, address: str, tags: Sequence[str], extra: str = "") -> str:
    text = f"""
[[devices]]
device_alias = "m"
{where}
serialnumber = "{address}"
poll_delay_ms = 0
serial_close_delay = 0
retries = 0
scan_align = 1
{extra}
"""
    for i, tag in enumerate(tags):
        text += f"""
[[signals]]
device_alias = "m"
signal_alias = "s{i}"
tag_job_todo = "{tag}"
number_type = "FLOAT"
"""
    return text


def values(updates: Sequence[SignalUpdate]) -> dict[str, tuple[object, str | None, str]]:
    return {
        u.signal: (u.value, u.unit, str(u.quality)) for u in updates if u.signal != STATUS_SIGNAL
    }


async def two_polls(
    tmp_path: Path, text: str
) -> tuple[DeviceState, list[list[SignalUpdate]], list[ReadKind]]:
    """Poll the configured device twice, each time with the read plan's choice."""
    path = tmp_path / "gw.toml"
    path.write_text(text, encoding="utf-8")
    (plan,) = plans_from_config(load_config(path))
    state = DeviceState(plan)
    published: list[list[SignalUpdate]] = []
    poller = LinePoller([state], lambda u: published.append(list(u)))
    kinds = []
    for _ in range(2):
        chosen, kind = state.read_for(None)
        kinds.append(kind)
        await poller.poll(state, chosen, kind)
    return state, published, kinds


TAGS = ("1.8.0*01", "2.8.0*01", "5.8.0*01")


async def test_three_registers_of_a_long_readout_are_read_one_by_one_over_tcp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OBISGATE_TEST_PW", "00000000")
    async with await serve_tcp(LARGE) as sim:
        text = config(
            f'ip = "127.0.0.1"\nport = {sim.port}',
            LARGE.address,
            TAGS,
            'register_reads = 1\npassword_env = "OBISGATE_TEST_PW"',
        )
        state, published, kinds = await two_polls(tmp_path, text)
        stats = sim.stats
    # Without a size the readout comes first; its size makes register reads the choice.
    assert kinds == [ReadKind.READOUT, ReadKind.REGISTERS]
    assert (stats.readouts, stats.programming_sessions) == (1, 1)
    assert state.size is not None
    assert (state.size.data_bytes, state.size.datasets) == (len(LARGE.data_message()), 323)
    first, second = (values(u) for u in published)
    assert first == second  # the same values, units and qualities both ways
    assert first["s0"][:2] == (99906.3, "kWh")
    assert state.status == "ok"


async def test_a_list_holding_the_due_signals_is_asked_for_instead_of_the_readout(
    tmp_path: Path,
) -> None:
    async with await serve_tcp(MT174) as sim:
        text = config(
            f'ip = "127.0.0.1"\nport = {sim.port}',
            MT174.address,
            ("1.8.0", "2.8.0"),
            'list_requests = "/2: 0.9.1 0.9.2 1.8.0 2.8.0 1.6.0"',
        )
        state, published, kinds = await two_polls(tmp_path, text)
        stats = sim.stats
    assert kinds == [ReadKind.READOUT, ReadKind.LIST]
    assert stats.readouts == 2
    assert stats.list_readouts == {"/2": 1}
    first, second = (values(u) for u in published)
    assert first == second
    assert first["s0"][:2] == (148123.456, "kWh")
    assert state.size is not None
    assert state.size.list_bytes("/2") == len(MT174.data_message(request_start="/2"))


@pytest.mark.pty
async def test_register_reads_over_a_pty_after_the_real_rate_switch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OBISGATE_TEST_PW", "00000000")
    async with await serve_pty([LARGE]) as sim:
        text = config(
            f'device = "{sim.path}"',
            LARGE.address,
            TAGS,
            'register_reads = 1\npassword_env = "OBISGATE_TEST_PW"',
        )
        state, published, kinds = await two_polls(tmp_path, text)
        stats = sim.stats
    assert kinds == [ReadKind.READOUT, ReadKind.REGISTERS]
    assert stats.readout_bauds == {9600: 1}
    assert stats.programming_sessions == 1
    assert values(published[0]) == values(published[1])
    assert state.status == "ok"


async def test_a_refused_password_falls_back_to_the_readout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OBISGATE_TEST_PW", "wrong")
    async with await serve_tcp(LARGE) as sim:
        text = config(
            f'ip = "127.0.0.1"\nport = {sim.port}',
            LARGE.address,
            TAGS,
            'register_reads = 1\npassword_env = "OBISGATE_TEST_PW"',
        )
        state, published, kinds = await two_polls(tmp_path, text)
        assert kinds == [ReadKind.READOUT, ReadKind.REGISTERS]
        assert state.access_denied
        assert published[-1][-1].value == "access denied"
        chosen, kind = state.read_for(None)
        assert kind is ReadKind.READOUT  # never sent again until reload
        await LinePoller([state], lambda u: None).poll(state, chosen, kind)
        assert sim.stats.readouts == 2
    assert state.status == "access denied"  # the readout's values, the refusal remembered


async def test_run_records_the_readout_size_and_plan_shows_the_choice(tmp_path: Path) -> None:
    async with await serve_tcp(LARGE) as sim:
        path = tmp_path / "gw.toml"
        path.write_text(
            config(
                f'ip = "127.0.0.1"\nport = {sim.port}',
                LARGE.address,
                TAGS,
                'register_reads = 1\npassword_env = "OBISGATE_TEST_PW"\nscan_rate_ms = 60000',
            ),
            encoding="utf-8",
        )
        env = {**os.environ, "OBISGATE_TEST_PW": "00000000"}
        finished = await run_until(
            [sys.executable, "-m", "obisgate", "run", path, "--format", "jsonl"],
            line=lambda text: '"_status"' in text,
            env=env,
        )
    assert finished.code == 0, finished.err
    sizes = load_sizes(sizes_path(tmp_path / "obisgate-history.sqlite"))
    assert sizes["m"].data_bytes == len(LARGE.data_message())
    shown = await run_until(
        [sys.executable, "-m", "obisgate", "plan", path, "--device", "m", "--format", "json"],
        line=lambda text: text == "}",
    )
    plan = json.loads(shown.out)
    assert plan["last_readout"]["bytes"] == len(LARGE.data_message())
    (poll,) = plan["polls"]
    chosen = [a for a in poll["alternatives"] if a["chosen"]]
    assert [a["kind"] for a in chosen] == ["registers"]
    readout, registers = poll["alternatives"]
    assert readout["seconds"] / registers["seconds"] > 2
