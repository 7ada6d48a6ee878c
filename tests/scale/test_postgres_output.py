"""The ``[postgres]`` output against a real PostgreSQL: every readout stored exactly once,
through outages, a ``kill -9`` of the gateway and poison values."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from obisgate.errors import ConfigError
from obisgate.gateway.config import load_config
from obisgate.gateway.outputs.context import OutputContext
from obisgate.gateway.outputs.factory import network_outputs
from obisgate.gateway.outputs.health import OutputHealth, OutputState
from obisgate.gateway.outputs.outbox import outbox_path
from obisgate.gateway.outputs.postgres.config import PostgresConfig
from obisgate.gateway.outputs.postgres.output import PostgresOutput
from obisgate.gateway.quality import Quality
from obisgate.gateway.readings.clean import clean_text
from obisgate.gateway.updates import STATUS_SIGNAL, SignalUpdate
from obisgate.simulator import get_profile, serve_tcp
from tests.mqtt.support import Collect, running_gateway
from tests.services import Postgres

pytestmark = pytest.mark.integration

POISON = get_profile("poison")
MT174 = get_profile("mt174")


@pytest.fixture(autouse=True)
def _password(monkeypatch: pytest.MonkeyPatch) -> None:
    """The database password, as the configurations below name it (password_env)."""
    monkeypatch.setenv("OBISGATE_TEST_PG_PW", Postgres.password)


def config_file(folder: Path, ports: dict[str, int], dsn: str, *lines: str) -> Path:
    """Simulated meters (alias -> port; the alias ``poison`` is the poison profile) read
    every 300 ms, with ``[postgres]`` on ``dsn`` (its password moved to password_env)."""
    text = f'[storage]\npath = "{folder / "history.sqlite"}"\n'
    bare = dsn.replace(f":{Postgres.password}@", "@")
    settings = (f'dsn = "{bare}"', 'password_env = "OBISGATE_TEST_PG_PW"', *lines)
    text += "[postgres]\n" + "\n".join(settings) + "\n"
    for alias, port in ports.items():
        profile = POISON if alias == "poison" else MT174
        text += (
            f'[[devices]]\ndevice_alias = "{alias}"\nip = "127.0.0.1"\nport = {port}\n'
            f'serialnumber = "{profile.address}"\nscan_rate_ms = 300\npoll_delay_ms = 0\n'
            "serial_close_delay = 0\ntimeout_ms = 800\nretries = 0\n"
        )
        for signal_, code, kind in (
            ("energy", "1.8.0", "FLOAT"),
            ("huge", "1.8.1", "FLOAT"),
            ("huge_text", "1.8.1", "STRING"),
            ("id", "0.0.0", "STRING"),
            ("firmware", "0.2.0", "STRING"),
            ("blank", "C.1.1", "STRING"),
        ):
            text += (
                f'[[signals]]\ndevice_alias = "{alias}"\nsignal_alias = "{signal_}"\n'
                f'tag_job_todo = "{code}"\nnumber_type = "{kind}"\n'
            )
    path = folder / "gw.toml"
    path.write_text(text, encoding="utf-8")
    return path


async def rows(dsn: str, query: str = "SELECT device, signal, time FROM readings") -> list[Any]:
    connection = await asyncpg.connect(dsn)
    try:
        if not await connection.fetchval("SELECT to_regclass('readings') IS NOT NULL"):
            return []
        return list(await connection.fetch(query))
    finally:
        await connection.close()


async def until(condition: Callable[[], Any], what: str, deadline_s: float = 30.0) -> None:
    end = time.monotonic() + deadline_s
    while not await condition():
        assert time.monotonic() < end, f"timed out waiting until {what}"
        await asyncio.sleep(0.05)


def keys(updates: list[SignalUpdate]) -> set[tuple[str, str, dt.datetime]]:
    """(device, signal, time) as printed and stored: times to the millisecond."""
    return {
        (u.device, u.signal, u.time.replace(microsecond=u.time.microsecond // 1000 * 1000))
        for u in updates
    }


async def test_every_readout_is_stored_once_poison_values_cleaned(
    tmp_path: Path, database: str
) -> None:
    async with await serve_tcp(MT174) as good, await serve_tcp(POISON) as bad:
        path = config_file(tmp_path, {"good": good.port, "poison": bad.port}, database)
        collect = Collect()
        async with running_gateway(load_config(path), [collect]) as (_, context):

            def health() -> OutputHealth:
                return context.health()["postgres"]

            await until(lambda: _true(collect.polls >= 6), "six readouts")
            made = keys(collect.updates)
            await until(lambda: _stored_all(database, made), "every printed reading in PostgreSQL")
            state = health()
    stored = await rows(database, "SELECT * FROM readings")
    assert len(stored) == len({(r["device"], r["signal"], r["time"]) for r in stored})
    assert (state.up, state.state, state.last_error) == (True, OutputState.RUNNING, None)
    assert state.counters["dead_letters_total"] == 0
    by_key = {(r["device"], r["signal"]): r for r in stored}
    printed = {(u.device, u.signal): u for u in collect.updates}
    poison_id = printed[("poison", "id")].value
    assert "\x00" in poison_id  # the gateway prints what the meter sent
    assert by_key[("poison", "id")]["text"] == clean_text(poison_id) == "POISON"
    assert by_key[("poison", "firmware")]["text"] == "V1.07\\x01\\x1b[2J"
    assert by_key[("poison", "huge_text")]["text"] == "9" * 400
    huge = by_key[("poison", "huge")]
    assert (huge["value"], huge["quality"]) == (None, Quality.OVERFLOW.value)
    assert by_key[("good", "energy")]["value"] == 148123.456
    assert outbox_path(tmp_path / "history.sqlite", "postgres").exists()


async def _true(value: bool) -> bool:
    return value


async def _stored_all(dsn: str, made: set[tuple[str, str, dt.datetime]]) -> bool:
    return made <= {(r["device"], r["signal"], r["time"]) for r in await rows(dsn)}


async def test_database_outage_waits_in_the_outbox_and_loses_nothing(
    tmp_path: Path, postgres_server: Postgres, database: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="obisgate.gateway.outputs.postgres.output")
    async with await serve_tcp(MT174) as meter:
        path = config_file(tmp_path, {"m": meter.port}, database)
        collect = Collect()
        async with running_gateway(load_config(path), [collect]) as (_, context):

            def health() -> OutputHealth:
                return context.health()["postgres"]

            await until(lambda: _true(health().up), "connected")
            postgres_server.stop()
            polls = collect.polls
            await until(lambda: _true(collect.polls >= polls + 5), "five readouts meanwhile")
            await until(lambda: _true(not health().up), "the outage noticed")
            assert health().counters["outbox_depth"] >= 1
            postgres_server.start()
            made = keys(collect.updates)
            await until(lambda: _stored_all(database, made), "the backlog stored", 60)
    stored = await rows(database)
    assert len(stored) == len(set(stored))
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("connection to postgres@127.0.0.1" in line and "lost" in line for line in lines)
    assert any(line.startswith("postgres: connected again") for line in lines)
    assert Postgres.password not in caplog.text


async def test_a_wrong_password_is_a_status_and_one_line_while_polling_goes_on(
    tmp_path: Path,
    database: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="obisgate.gateway.outputs.postgres.output")
    monkeypatch.setenv("OBISGATE_PG_PW", "Wrong-Pw-81")
    dsn = database.replace(f":{Postgres.password}@", "@")
    section = PostgresConfig(dsn=dsn, password_env="OBISGATE_PG_PW")
    output = PostgresOutput(
        section, outbox_file=tmp_path / "o.sqlite", backoff_s=(0.01, 0.05), source="test"
    )
    await output.start()
    try:
        now = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
        await output.publish([SignalUpdate("m", STATUS_SIGNAL, "ok", None, now, Quality.VALID)])
        await until(lambda: _true(output.health().last_error is not None), "the refusal")
        await until(lambda: _true(len(caplog.records) >= 1), "a line")
        first = len(caplog.records)
        monkeypatch.setenv("OBISGATE_PG_PW", Postgres.password)  # read at every connect
        await until(
            lambda: _true(output.health().counters["stored_total"] == 1), "stored after the fix"
        )
    finally:
        await output.aclose()
    assert first == 1
    assert "password authentication failed" in caplog.records[0].getMessage()
    assert "Wrong-Pw-81" not in caplog.text
    assert Postgres.password not in caplog.text


def _gateway(path: Path, out: Path) -> subprocess.Popen[bytes]:
    with out.open("ab") as stdout:
        return subprocess.Popen(
            [sys.executable, "-m", "obisgate", "run", str(path), "--format", "jsonl"],
            stdout=stdout,
            stderr=subprocess.DEVNULL,
        )


def _printed(out: Path) -> set[tuple[str, str, dt.datetime]]:
    found = set()
    for line in out.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            continue  # the last line of a killed process may be cut
        found.add((item["device"], item["signal"], dt.datetime.fromisoformat(item["time"])))
    return found


async def test_kill_9_with_the_database_down_loses_nothing(
    tmp_path: Path, postgres_server: Postgres, database: str
) -> None:
    """The promise, broken on purpose: readouts made while PostgreSQL is down sit in the
    outbox; the gateway is SIGKILLed; PostgreSQL comes back; the restarted gateway
    stores them. Every reading printed by either run is in PostgreSQL, once."""
    async with await serve_tcp(MT174) as meter:
        path = config_file(tmp_path, {"m": meter.port}, database)
        first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
        gateway = _gateway(path, first)
        try:
            await until(lambda: _true(len(_printed(first)) >= 14), "two readouts")
            await until(lambda: _stored_all(database, _printed(first)), "the first ones stored")
            postgres_server.stop()
            printed = len(_printed(first))
            await until(lambda: _true(len(_printed(first)) >= printed + 35), "five more")
            gateway.send_signal(signal.SIGKILL)
            gateway.wait()
            postgres_server.start()
            gateway = _gateway(path, second)
            await until(lambda: _true(len(_printed(second)) >= 14), "the restart reads")
            made = _printed(first) | _printed(second)
            await until(lambda: _stored_all(database, made), "everything stored", 60)
            gateway.send_signal(signal.SIGTERM)
            assert await asyncio.to_thread(gateway.wait, 30) == 0
        finally:
            if gateway.poll() is None:
                gateway.kill()
                gateway.wait()
    stored = await rows(database)
    assert len(stored) == len(set(stored))
    assert _printed(first) | _printed(second) <= set(map(tuple, stored))


def test_config_refuses_a_password_in_the_dsn_and_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for dsn, message in (
        ("postgresql://u:Secret-1@db/x", "no password in the dsn"),
        ("mysql://db/x", "postgresql://"),
        ("postgresql:///x", "postgresql://"),
    ):
        with pytest.raises(ValueError, match=message) as info:
            PostgresConfig(dsn=dsn)
        assert "Secret-1" not in str(info.value)
    with pytest.raises(ValueError, match="only one of"):
        PostgresConfig(dsn="postgresql://db/x", password_env="A", password_file=Path("f"))
    path = config_file(tmp_path, {"m": 1}, "postgresql://u@127.0.0.1/x")
    monkeypatch.setitem(sys.modules, "asyncpg", None)  # as if it were not installed
    with pytest.raises(ConfigError, match=r"pip install '\.\[postgres\]'"):
        network_outputs(load_config(path), OutputContext())
