"""``obisgate run --workers 2`` with [http], [modbus], [iec104] and [opcua]: the supervisor
serves every meter of every worker on one address each (real worker processes, a real
HTTP client and a real Modbus master), a worker killed with SIGKILL takes no server down
and feeds them again once restarted, and a killed supervisor is replaced by a new one
whose view fills up again."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import re
import signal
import struct
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from obisgate.gateway.build import plans_from_config
from obisgate.gateway.config import load_config
from obisgate.gateway.history import history_files
from obisgate.gateway.shard import Shard, select_plans
from obisgate.simulator import SimulatorServer, get_profile, serve_tcp
from obisgate.simulator.bus import MeterCatalog
from tests.services import require_module

pytestmark = [pytest.mark.integration]

pymodbus_client = require_module("pymodbus.client", "the Modbus master of this test")
asyncua = require_module("asyncua", "the [opcua] server and its client")

LISTENING = re.compile(
    r"(web view on http://127\.0\.0\.1:|(modbus|iec104|opcua) listening on \S*?127\.0\.0\.1:)(\d+)"
)


def energy_text(value: float) -> str:
    return f"1.8.0({value:011.3f}*kWh)"


async def meter(value: float) -> SimulatorServer:
    base = get_profile("mt174")
    lines = tuple(energy_text(value) if x.startswith("1.8.0(") else x for x in base.lines)
    return await serve_tcp(dataclasses.replace(base, lines=lines, reaction_time_s=0.0))


def set_energy(server: SimulatorServer, value: float) -> None:
    (profile,) = server.catalog.profiles
    lines = tuple(energy_text(value) if x.startswith("1.8.0(") else x for x in profile.lines)
    server.catalog = MeterCatalog([profile.replace(lines=lines)])


def config_text(ports: list[int], history: Path, *, every_server: bool = True) -> str:
    text = '[http]\nlisten = "127.0.0.1:0"\n[modbus]\nlisten = "127.0.0.1:0"\n'
    if every_server:
        text += '[iec104]\nlisten = "127.0.0.1:0"\n[opcua]\nlisten = "127.0.0.1:0"\n'
    text += f'[storage]\npath = "{history}"\n'

    for i, port in enumerate(ports):
        text += (
            f'[[devices]]\ndevice_alias = "m{i}"\nurl = "tcp://127.0.0.1:{port}"\n'
            "scan_rate_ms = 500\npoll_delay_ms = 0\nserial_close_delay = 0\n"
            "timeout_ms = 2000\nretries = 0\n"
            f'[[signals]]\ndevice_alias = "m{i}"\nsignal_alias = "energy"\n'
            'tag_job_todo = "1.8.0"\nnumber_type = "FLOAT"\nlog = 1\n'
            f"modbus_address = {2 * i}\nioa = {100 + i}\n"
        )
    return text


@dataclass
class Site:
    """Meters on their own lines, spread over both shards, and the configuration."""

    meters: list[SimulatorServer]
    values: list[float]
    config: Path
    owner: dict[str, int]  # device alias -> the shard that polls it


async def site(tmp_path: Path, *, every_server: bool = True) -> Site:
    """At least two lines for each of two shards (lines go to shards by a hash of the port)."""
    meters: list[SimulatorServer] = []
    config = tmp_path / "gw.toml"
    while True:
        meters.append(await meter(1000.0 + len(meters)))
        ports = [m.port for m in meters]
        text = config_text(ports, tmp_path / "h.sqlite", every_server=every_server)
        config.write_text(text, encoding="utf-8")
        plans = plans_from_config(load_config(config))
        owner = {p.alias: i for i in range(2) for p in select_plans(plans, Shard(i, 2))}
        if len(meters) >= 4 and all(list(owner.values()).count(i) >= 2 for i in range(2)):
            return Site(meters, [1000.0 + i for i in range(len(meters))], config, owner)
        assert len(meters) < 16, "the line hash put nearly every line on one shard"


@dataclass
class Supervisor:
    process: asyncio.subprocess.Process
    ports: dict[str, int] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)
    reading: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.ports['web']}/"


@contextlib.asynccontextmanager
async def supervisor(
    config: Path, fmt: str = "none", *, servers: int = 2, env: dict[str, str] | None = None
) -> AsyncIterator[Supervisor]:
    """``obisgate run CONFIG --workers 2``, once it announced its ``servers`` servers."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "obisgate", "run", str(config), "--workers", "2",
        "--format", fmt, "-v",
        stdout=asyncio.subprocess.PIPE if fmt == "jsonl" else None,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )  # fmt: skip
    running = Supervisor(process)
    assert process.stderr is not None
    stderr = process.stderr
    try:
        async with asyncio.timeout(60):
            while len(running.ports) < servers:
                line = (await stderr.readline()).decode()
                assert line, "obisgate run ended:\n" + "".join(running.lines)
                running.lines.append(line)
                if match := LISTENING.search(line):
                    name = match.group(2) or "web"
                    assert name not in running.ports, f"two {name} servers"
                    running.ports[name] = int(match.group(3))

        async def keep_reading() -> None:
            while line := await stderr.readline():
                running.lines.append(line.decode())

        running.reading = asyncio.ensure_future(keep_reading())
        yield running
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGCONT)
            process.send_signal(signal.SIGTERM)
            async with asyncio.timeout(60):
                await process.wait()
        if running.reading is not None:
            await running.reading


async def get_json(session: aiohttp.ClientSession, url: str) -> Any:
    async with session.get(url) as answer:
        assert answer.status == 200, await answer.text()
        return await answer.json()


async def eventually(check: Callable[[], Awaitable[bool]], deadline_s: float = 60.0) -> None:
    """Ask a real external process until ``check`` holds (the one polling allowed)."""
    async with asyncio.timeout(deadline_s):
        while not await check():  # noqa: ASYNC110 - no event crosses the process boundary
            await asyncio.sleep(0.1)


async def modbus_values(port: int, count: int) -> list[float]:
    client = pymodbus_client.AsyncModbusTcpClient("127.0.0.1", port=port)
    await client.connect()
    try:
        answer = await client.read_holding_registers(0, count=2 * count, device_id=1)
        assert not answer.isError(), answer
        words = answer.registers
    finally:
        client.close()
    return [
        struct.unpack(">f", struct.pack(">HH", words[2 * i], words[2 * i + 1]))[0]
        for i in range(count)
    ]


def worker_pids(supervisor_pid: int) -> dict[int, int]:
    """Shard number -> pid of the supervisor's worker processes."""
    children = Path(f"/proc/{supervisor_pid}/task/{supervisor_pid}/children").read_text().split()
    found = {}
    for pid in map(int, children):
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        if b"--shard" not in args:
            continue  # a killed worker not reaped yet (its command line is gone)
        shard = args[args.index(b"--shard") + 1].decode()
        found[int(shard.split("/")[0])] = pid
    return found


def alive(pid: int) -> bool:
    """The process exists and is no zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ")[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def energies(signals: list[dict[str, Any]]) -> dict[str, float]:
    return {s["device"]: s["value"] for s in signals if s["signal"] == "energy"}


def f32(value: float) -> float:
    return float(struct.unpack(">f", struct.pack(">f", value))[0])


async def read_figures_are_whole(http: aiohttp.ClientSession, url: str, place: Site) -> None:
    """The supervisor shows the read figures of every device, line and shard of its workers
    (two priority reads made, one on each shard), in /api/reads, /api/devices, /metrics and
    the page."""

    async def priority_reads_counted() -> bool:
        reads = await get_json(http, url + "api/reads")
        return [s["priority_reads"] for s in reads.get("shards", [])] == [1, 1]

    await eventually(priority_reads_counted)
    reads = await get_json(http, url + "api/reads?by=device")
    assert reads["shard"]["shard"] == "all"
    shards = reads["shards"]
    for key in ("scheduled_reads", "succeeded_reads", "missed_scans", "priority_reads"):
        assert sum(s[key] for s in shards) == reads["shard"][key], key
    by_device = {d["device"]: d for d in reads["devices"]}
    assert by_device.keys() == place.owner.keys()
    ports = {f"m{i}": m.port for i, m in enumerate(place.meters)}
    for alias, figures in by_device.items():
        assert figures["line"] == f"tcp://127.0.0.1:{ports[alias]}"
        assert figures["scheduled_reads"] >= 1
        assert figures["lateness_s"]["p50"] is not None
    # Every shard's figures are the sum of its devices' (those reached the hub separately).
    for shard in shards:
        index = int(shard["shard"].split("/")[0])
        mine = [by_device[d] for d, s in place.owner.items() if s == index]
        assert shard["priority_reads"] == sum(d["priority_reads"] for d in mine) == 1
    lines = (await get_json(http, url + "api/reads?by=line"))["lines"]
    assert len(lines) == len(place.meters)
    listed = await get_json(http, url + "api/devices")
    assert all(d["reads"] is not None and d["line"] is not None for d in listed)
    async with http.get(url + "metrics") as answer:
        metrics = await answer.text()
    for alias in place.owner:
        assert f'obisgate_device_scheduled_reads_total{{device="{alias}"}}' in metrics
    for shard in ("0/2", "1/2"):
        assert f'obisgate_shard_scheduled_reads_total{{shard="{shard}"}}' in metrics
        assert re.search(
            rf'obisgate_shard_read_lateness_seconds_bucket{{[^}}]*shard="{shard}"', metrics
        )
    async with http.get(url) as answer:
        page = await answer.text()
    assert 'data-name="0/2"' in page and 'data-name="1/2"' in page


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
async def test_one_address_serves_every_worker_and_a_killed_worker_takes_no_server_down(
    tmp_path: Path,
) -> None:
    place = await site(tmp_path)
    devices = [f"m{i}" for i in range(len(place.meters))]
    expected = dict(zip(devices, place.values, strict=True))
    try:
        async with (
            supervisor(place.config, servers=4) as sup,
            aiohttp.ClientSession() as http,
        ):

            async def every_device_ok() -> bool:
                listed = await get_json(http, sup.url + "api/devices")
                return all(d["status"] == "ok" for d in listed)

            await eventually(every_device_ok)
            assert energies(await get_json(http, sup.url + "api/signals")) == expected
            port = sup.ports["modbus"]
            assert await modbus_values(port, len(devices)) == [f32(v) for v in place.values]
            endpoint = f"opc.tcp://127.0.0.1:{sup.ports['opcua']}/obisgate/"
            async with asyncua.Client(endpoint) as opcua:
                index = await opcua.get_namespace_index("urn:obisgate")
                nodes = [opcua.get_node(asyncua.ua.NodeId(f"{d}.energy", index)) for d in devices]
                assert [await node.read_value() for node in nodes] == place.values

            gateway = await get_json(http, sup.url + "api/gateway")
            assert gateway["stats"]["devices"] == len(devices)
            assert gateway["stats"]["workers_connected"] == 2
            # A priority read: the supervisor asks the worker that polls the device, and
            # answers with that worker's read.
            for shard in (0, 1):
                device = next(d for d, s in place.owner.items() if s == shard)
                async with http.post(sup.url + f"api/devices/{device}/read?wait=30") as answer:
                    assert answer.status == 200, await answer.text()
                    body = await answer.json()
                assert (body["device"], body["status"]) == (device, "ok")
                assert [(u["signal"], u["value"]) for u in body["updates"]] == [
                    ("energy", expected[device])
                ]
            async with http.post(sup.url + "api/devices/nobody/read") as answer:
                assert answer.status == 404, await answer.text()
            await read_figures_are_whole(http, sup.url, place)
            outputs = gateway["outputs"]
            for name in ("http", "modbus", "iec104", "opcua", "workers"):
                assert outputs[name]["state"] == "running", (name, outputs[name])
            for name in ("relay/shard0", "relay/shard1", "history/shard0", "history/shard1"):
                assert outputs[name]["state"] == "running", (name, outputs[name])

            async with http.get(sup.url + "metrics") as answer:
                metrics = await answer.text()
            for device in devices:
                assert f'obisgate_device_readouts_total{{device="{device}",result="ok"}}' in metrics
            # /api/history reads both workers' files: a device of each shard has rows.
            for shard in (0, 1):
                device = next(d for d, s in place.owner.items() if s == shard)
                url = sup.url + f"api/history?device={device}&signal=energy"

                async def stored(url: str = url) -> bool:  # written a moment after it is shown
                    return bool((await get_json(http, url))["rows"])

                await eventually(stored)
                rows = (await get_json(http, url))["rows"]
                assert rows[-1]["value"] == expected[device]
            assert history_files(tmp_path / "h.sqlite") == [
                tmp_path / "h-shard0.sqlite",
                tmp_path / "h-shard1.sqlite",
            ]

            # SIGKILL the worker of shard 0: the servers stay up meanwhile.
            before = worker_pids(sup.process.pid)
            os.kill(before[0], signal.SIGKILL)
            assert len(await get_json(http, sup.url + "api/devices")) == len(devices)
            assert len(await modbus_values(port, len(devices))) == len(devices)

            async def restarted() -> bool:
                stats = (await get_json(http, sup.url + "api/gateway"))["stats"]
                pids = worker_pids(sup.process.pid)
                return stats["workers_connected"] == 2 and pids.get(0) not in (None, before[0])

            await eventually(restarted)
            assert worker_pids(sup.process.pid)[1] == before[1]  # the other one ran on
            # The restarted worker feeds the supervisor's servers again.
            index = next(i for i, d in enumerate(devices) if place.owner[d] == 0)
            set_energy(place.meters[index], 2222.5)

            async def new_value_served() -> bool:
                served = energies(await get_json(http, sup.url + "api/signals"))
                registers = await modbus_values(port, len(devices))
                return served[devices[index]] == 2222.5 and registers[index] == 2222.5

            await eventually(new_value_served)
            workers = (await get_json(http, sup.url + "api/gateway"))["outputs"]["workers"]
            assert workers["counters"]["worker_restarts_total"] == 1
            assert workers["counters"]["connections_total"] >= 3
        assert sup.process.returncode == 0, "".join(sup.lines)
        assert not any("Traceback" in line for line in sup.lines), "".join(sup.lines)
        # One server of each kind in the whole run: none in a worker, none again after the
        # restart of one.
        announced = [m.group(2) or "web" for m in map(LISTENING.search, sup.lines) if m]
        assert sorted(announced) == ["iec104", "modbus", "opcua", "web"], announced
    finally:
        for server in place.meters:
            await server.aclose()


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
async def test_a_priority_read_waiting_on_a_killed_worker_is_answered_503_at_once(
    tmp_path: Path,
) -> None:
    """The supervisor's API keeps the token rules for priority reads; a read waiting on a
    worker that is killed (SIGKILL) is answered 503 at once, not when its wait ends, the
    supervisor serves on, and once the worker is back its devices are read again."""
    place = await site(tmp_path, every_server=False)
    token = "s3cret-read-token"
    text = place.config.read_text(encoding="utf-8").replace(
        '[http]\nlisten = "127.0.0.1:0"\n',
        '[http]\nlisten = "127.0.0.1:0"\ntoken_env = "OBISGATE_TEST_READ_TOKEN"\n',
    )
    # Readouts of 4 s or more (the meter waits before it answers): a read is still
    # waiting when its worker is killed.
    place.config.write_text(text.replace("timeout_ms = 2000", "timeout_ms = 9000"), "utf-8")
    slow = next(d for d, s in place.owner.items() if s == 0)
    quick = next(d for d, s in place.owner.items() if s == 1)
    server = place.meters[int(slow[1:])]
    (profile,) = server.catalog.profiles
    server.catalog = MeterCatalog([profile.replace(reaction_time_s=4.0)])
    auth = {"Authorization": f"Bearer {token}"}
    try:
        async with (
            supervisor(place.config, env={"OBISGATE_TEST_READ_TOKEN": token}) as sup,
            aiohttp.ClientSession(headers=auth) as http,
            aiohttp.ClientSession() as stranger,
        ):
            for headers in ({}, {"Authorization": "Bearer wrong"}):
                async with stranger.post(
                    sup.url + f"api/devices/{quick}/read", headers=headers
                ) as answer:
                    assert answer.status == 401, await answer.text()

            async def workers_connected() -> bool:
                stats = (await get_json(http, sup.url + "api/gateway"))["stats"]
                return bool(stats["workers_connected"] == 2)

            await eventually(workers_connected)
            async with http.post(sup.url + f"api/devices/{quick}/read?wait=30") as answer:
                assert answer.status == 200, await answer.text()
                assert (await answer.json())["status"] == "ok"

            reading = asyncio.ensure_future(http.post(sup.url + f"api/devices/{slow}/read?wait=60"))

            async def asked() -> bool:
                hub = (await get_json(http, sup.url + "api/gateway"))["outputs"]["workers"]
                return bool(hub["counters"]["reads_asked_total"] == 2)

            await eventually(asked)
            assert not reading.done()
            before = worker_pids(sup.process.pid)
            os.kill(before[0], signal.SIGKILL)
            async with asyncio.timeout(3):  # the read itself would take 4 s or more
                answer = await reading
            async with answer:
                assert answer.status == 503, await answer.text()
                assert "worker 0 ended before it answered" in (await answer.json())["error"]
            # The supervisor serves on; the other worker's devices are read as before.
            assert len(await get_json(http, sup.url + "api/devices")) == len(place.meters)
            async with http.post(sup.url + f"api/devices/{quick}/read?wait=30") as answer:
                assert answer.status == 200, await answer.text()

            async def restarted() -> bool:
                stats = (await get_json(http, sup.url + "api/gateway"))["stats"]
                pids = worker_pids(sup.process.pid)
                return stats["workers_connected"] == 2 and pids.get(0) not in (None, before[0])

            await eventually(restarted)
            async with http.post(sup.url + f"api/devices/{slow}/read?wait=60") as answer:
                assert answer.status == 200, await answer.text()
                assert (await answer.json())["device"] == slow
        assert sup.process.returncode == 0, "".join(sup.lines)
        assert not any("Traceback" in line for line in sup.lines), "".join(sup.lines)
        assert not any(token in line for line in sup.lines)
    finally:
        for meter_server in place.meters:
            await meter_server.aclose()


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
async def test_a_new_supervisor_after_a_killed_one_serves_everything_again(
    tmp_path: Path,
) -> None:
    place = await site(tmp_path, every_server=False)
    devices = [f"m{i}" for i in range(len(place.meters))]
    try:
        async with aiohttp.ClientSession() as http:
            async with supervisor(place.config) as first:

                async def all_ok(url: str) -> Callable[[], Awaitable[bool]]:
                    async def check() -> bool:
                        listed = await get_json(http, url + "api/devices")
                        return all(d["status"] == "ok" for d in listed)

                    return check

                await eventually(await all_ok(first.url))
                workers = set(worker_pids(first.process.pid).values())
                first.process.send_signal(signal.SIGKILL)
                await first.process.wait()

                async def workers_gone() -> bool:
                    return not any(alive(pid) for pid in workers)

                await eventually(workers_gone)  # they end with their supervisor
            async with supervisor(place.config) as second:
                await eventually(await all_ok(second.url))
                served = energies(await get_json(http, second.url + "api/signals"))
                assert served == dict(zip(devices, place.values, strict=True))
            assert second.process.returncode == 0, "".join(second.lines)
    finally:
        for server in place.meters:
            await server.aclose()


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
async def test_a_frozen_supervisor_does_not_stop_the_workers_polling(tmp_path: Path) -> None:
    """SIGSTOP the supervisor: the workers read every meter on (they only write to the relay's
    buffer, never wait for it); after SIGCONT the supervisor takes what they sent meanwhile."""
    place = await site(tmp_path, every_server=False)
    devices = [f"m{i}" for i in range(len(place.meters))]
    try:
        async with supervisor(place.config, "jsonl") as sup, aiohttp.ClientSession() as http:
            assert sup.process.stdout is not None

            async def every_device_ok() -> bool:
                listed = await get_json(http, sup.url + "api/devices")
                return all(d["status"] == "ok" for d in listed)

            await eventually(every_device_ok)
            before = {
                d["device"]: d["readouts"] for d in await get_json(http, sup.url + "api/devices")
            }
            sup.process.send_signal(signal.SIGSTOP)
            try:
                read_meanwhile = dict.fromkeys(devices, 0)
                async with asyncio.timeout(60):
                    while min(read_meanwhile.values()) < 4:
                        line = json.loads(await sup.process.stdout.readline())
                        if line["signal"] == "_status" and line["value"] == "ok":
                            read_meanwhile[line["device"]] += 1
            finally:
                sup.process.send_signal(signal.SIGCONT)
            stdout = sup.process.stdout

            async def drain() -> None:  # the workers' printing must not fill the pipe
                while await stdout.readline():
                    pass

            draining = asyncio.ensure_future(drain())

            async def caught_up() -> bool:
                listed = await get_json(http, sup.url + "api/devices")
                return all(d["readouts"] >= before[d["device"]] + 4 for d in listed)

            await eventually(caught_up)
            gateway = await get_json(http, sup.url + "api/gateway")
            for shard in (0, 1):
                relay = gateway["outputs"][f"relay/shard{shard}"]
                assert relay["state"] == "running", relay
                assert relay["counters"]["dropped_total"] == 0  # its buffer held them
        await draining
    finally:
        for server in place.meters:
            await server.aclose()
