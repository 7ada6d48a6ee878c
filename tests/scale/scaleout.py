"""The scale-out proof on one machine (``scripts/test-scaleout``; about a minute).

About 200 simulated TCP meters on 60 lines (some shared by 4 or 9 meters), a real
mosquitto and a real PostgreSQL on loopback, 3 gateway instances (``--shard i/3``)
publishing through their MQTT outboxes (with history partitions) and 2 ``obisgate
sink postgres`` owning half of the partitions each. The broker runs at mosquitto's
default queue limit (1000 messages per session: enough, as a sink is back within 5 s
of the broker, README) but saves on every change. The timeline starts once every
gateway polls and is connected (a busy machine may take 10 s and more to start one).
Mid-run the broker is SIGKILLed for a few seconds, and during that outage one gateway
instance is SIGKILLed and restarted later. At the end the gateways are stopped once
their MQTT outboxes delivered what they held: a gateway retries the broker with a
jittered backoff of up to 30 s, and what waits in its outbox is kept, not lost, but
not in PostgreSQL yet either. Then it checks:

1. every line belongs to exactly one instance (``obisgate plan --shard i/3``: union =
   all, pairwise disjoint), the instances together polled every device, no device
   was printed by two instances, and none was read more often than one poller can;
2. every reading the gateways printed is in PostgreSQL exactly once (for the killed
   instance: every reading older than the kill minus a margin, as the last ones
   may not have reached its outbox yet), whatever the broker and gateway outages;
3. going from 3 to 4 instances moves between 15 % and 35 % of the lines;
4. mosquitto reported no dropped message to the sinks (``$SYS``, see ``obisgate sink``).

When readings are missing in PostgreSQL, the failure says how many are still in a
gateway's outbox (never acknowledged by the broker) and how many the broker had
acknowledged, and ``missing.txt`` in the kept folder lists them.

Everything it starts (simulator thread, broker, database, gateways, sinks) is
stopped by PID at the end, and its temporary folders removed. Exit status 0 when
all checks pass, 1 with the failed check on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator
from functools import partial
from pathlib import Path
from typing import IO, Any

from obisgate.simulator import serve_tcp
from obisgate.simulator.tcp import SimulatorServer
from tests.scale.configs import line_profiles
from tests.scale.mqtt_tools import PARTITIONS, share, sink_command
from tests.services import SAVE_EVERY_CHANGE, Mosquitto, Postgres

#: meters per line: 30 single, 20 with 4, 10 with 9 (200 meters, 60 lines)
LINE_SIZES = [1] * 30 + [4] * 20 + [9] * 10
SCAN_S = 4.0
#: with lines on 127.0.1.1-60 and this port, 3 shards own 20 lines each and 3 -> 4 moves 15
#: (25 %); should the port be taken, the next free one gives other, still random-like, figures
BASE_PORT = 47084


class Failed(Exception):
    """A check failed (the message says which)."""


def log(message: str) -> None:
    print(f"test-scaleout: {message}", file=sys.stderr, flush=True)


class MeterThread:
    """Simulated meters, served by an event loop on a thread of this process: one server
    per coroutine function of ``lines`` (see :func:`scaleout_lines`), in order."""

    def __init__(self, lines: list[Callable[[], Awaitable[SimulatorServer]]]) -> None:
        self.lines = lines
        self.servers: list[SimulatorServer] = []
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="meters", daemon=True)

    def __enter__(self) -> MeterThread:
        self._thread.start()
        self._ready.wait(60)
        if self._error is not None or not self._ready.is_set():
            raise Failed(f"the simulated meters did not start: {self._error}")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._serve())
        except BaseException as exc:  # reported to the main thread
            self._error = exc
            self._ready.set()
        finally:
            self._loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        async with contextlib.AsyncExitStack() as stack:
            for start in self.lines:
                self.servers.append(await stack.enter_async_context(await start()))
            self._ready.set()
            await self._stop.wait()


def scaleout_lines(sizes: list[int]) -> list[Callable[[], Awaitable[SimulatorServer]]]:
    """Line ``i`` of ``sizes[i]`` meters on ``127.0.1.<i+1>`` (all of 127/8 is loopback),
    on :data:`BASE_PORT` when free, so the line keys (and their shard assignment) are the
    same from run to run."""
    return [
        partial(_bind, f"127.0.1.{i + 1}", line_profiles(i, size)) for i, size in enumerate(sizes)
    ]


async def _bind(host: str, profiles: list[Any]) -> SimulatorServer:
    for port in range(BASE_PORT, BASE_PORT + 50):
        with contextlib.suppress(OSError):
            return await serve_tcp(profiles, host=host, port=port)
    return await serve_tcp(profiles, host=host, port=0)


def config_text(servers: list[SimulatorServer], broker: Mosquitto, folder: Path) -> str:
    parts = [
        '[output]\nformat = "jsonl"\n',
        f'[storage]\npath = "{folder / "gateway.sqlite"}"\n',
        f'[mqtt]\nurl = "{broker.url}"\nformat = "json"\ndiscovery_prefix = "none"\n'
        f"history_partitions = {PARTITIONS}\n",
    ]
    for i, (server, size) in enumerate(zip(servers, LINE_SIZES, strict=True)):
        for k in range(size):
            alias = f"l{i}m{k}"
            address = f"A{i}x{k}" if size > 1 else ""
            parts.append(
                f'[[devices]]\ndevice_alias = "{alias}"\nip = "{server.host}"\n'
                f'port = {server.port}\nserialnumber = "{address}"\n'
                f"scan_rate_ms = {int(SCAN_S * 1000)}\npoll_delay_ms = 0\n"
                "serial_close_delay = 0\ntimeout_ms = 3000\nretries = 1\n\n"
                f'[[signals]]\ndevice_alias = "{alias}"\nsignal_alias = "energy"\n'
                'tag_job_todo = "1.8.0"\nnumber_type = "FLOAT"\n\n'
                f'[[signals]]\ndevice_alias = "{alias}"\nsignal_alias = "power"\n'
                'tag_job_todo = "16.7.0"\nnumber_type = "FLOAT"\n'
            )
    return "\n".join(parts)


def obisgate(*args: str) -> list[str]:
    return [sys.executable, "-m", "obisgate", *args]


class Processes:
    """Child processes by name, each with its stdout/stderr files; stopped by PID."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.running: dict[str, subprocess.Popen[bytes]] = {}
        self.incarnation: dict[str, int] = defaultdict(int)

    def start(self, name: str, command: list[str]) -> subprocess.Popen[bytes]:
        self.incarnation[name] += 1
        base = f"{name}.{self.incarnation[name]}"
        out: IO[bytes]
        with (
            (self.folder / f"{base}.out").open("wb") as out,
            (self.folder / f"{base}.err").open("wb") as err,
        ):
            process = subprocess.Popen(command, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        self.running[name] = process
        return process

    def outputs(self, name: str) -> list[Path]:
        return [self.folder / f"{name}.{n}.out" for n in range(1, self.incarnation[name] + 1)]

    def stop(self, name: str, sig: signal.Signals = signal.SIGTERM, timeout_s: float = 30) -> int:
        process = self.running.pop(name)
        if process.poll() is None:
            process.send_signal(sig)
        try:
            return process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise Failed(f"{name} did not stop within {timeout_s:.0f} s") from None

    def stop_all(self) -> None:
        for name in list(self.running):
            with contextlib.suppress(Failed):
                self.stop(name, timeout_s=10)


def readings(
    paths: list[Path], before: dt.datetime | None = None
) -> set[tuple[str, str, dt.datetime]]:
    """(device, signal, time) of every update printed as JSON lines (a cut-off last line
    of a killed process is ignored)."""
    found = set()
    for path in paths:
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                item = json.loads(line)
            except ValueError:
                continue
            time_ = dt.datetime.fromisoformat(item["time"])
            if before is None or time_ < before:
                found.add((item["device"], item["signal"], time_))
    return found


async def stored(dsn: str) -> tuple[set[tuple[str, str, dt.datetime]], int]:
    import asyncpg  # noqa: PLC0415

    connection = await asyncpg.connect(dsn)
    try:
        if not await connection.fetchval("SELECT to_regclass('readings') IS NOT NULL"):
            return set(), 0
        rows = await connection.fetch("SELECT device, signal, time FROM readings")
    finally:
        await connection.close()
    return {(r["device"], r["signal"], r["time"]) for r in rows}, len(rows)


def plans(config: Path, count: int) -> list[set[str]]:
    owned = []
    for i in range(count):
        out = subprocess.run(
            obisgate("plan", str(config), "--shard", f"{i}/{count}", "--format", "json"),
            capture_output=True,
            check=True,
        )
        owned.append({line["line"] for line in json.loads(out.stdout)["lines"]})
    return owned


def check(condition: bool, message: str) -> None:
    if not condition:
        raise Failed(message)
    log(f"ok: {message}")


@contextlib.contextmanager
def services(folder: Path) -> Iterator[tuple[Mosquitto, Postgres]]:
    broker = Mosquitto(
        folder / "mosquitto", extra_config="max_inflight_messages 1000\n" + SAVE_EVERY_CHANGE
    )
    database = Postgres()
    try:
        broker.start()
        database.start()
        yield broker, database
    finally:
        broker.stop()
        database.cleanup()


def run(folder: Path, duration_s: float) -> None:
    with services(folder) as (broker, database), MeterThread(scaleout_lines(LINE_SIZES)) as meters:
        config = folder / "gateway.toml"
        config.write_text(config_text(meters.servers, broker, folder), encoding="utf-8")
        lines = {f"tcp://{s.host}:{s.port}" for s in meters.servers}
        three, four = plans(config, 3), plans(config, 4)
        check(
            set().union(*three) == lines and sum(map(len, three)) == len(lines),
            f"each of the {len(lines)} lines belongs to exactly one of 3 instances "
            f"({', '.join(str(len(p)) for p in three)})",
        )
        moved = sum(1 for i, part in enumerate(three) for key in part if key not in four[i])
        check(
            0.15 <= moved / len(lines) <= 0.35,
            f"3 -> 4 instances moves {moved}/{len(lines)} lines ({moved / len(lines):.0%})",
        )
        children = Processes(folder)
        try:
            _exercise(children, config, broker, database, duration_s)
        finally:
            children.stop_all()


def _gateway(children: Processes, config: Path, i: int) -> None:
    children.start(
        f"gateway{i}",
        obisgate(
            "run",
            str(config),
            "--shard",
            f"{i}/3",
            "--log-format",
            "json",
            "--stats",
            str(children.folder / "stats.json"),
            "-v",  # "mqtt: connected to" tells it publishes
        ),
    )


def _exercise(
    children: Processes, config: Path, broker: Mosquitto, database: Postgres, duration_s: float
) -> None:
    dsn = database.dsn()
    for j in range(2):
        children.start(
            f"sink{j}",
            sink_command(
                broker.url,
                dsn,
                f"scaleout-sink{j}",
                *("--max-delay", "0.3", "--stats", str(children.folder / f"sink{j}.json")),
                own=share(j, 2),
            ),
        )
    for j in range(2):  # subscribed before the gateways publish
        until(partial(contains, children.folder / f"sink{j}.1.err", "subscribed to"), 30)
    spawned = time.monotonic()
    for i in range(3):
        _gateway(children, config, i)
    # The timeline starts once every gateway polls and publishes: on a busy machine an
    # interpreter can take 10 s and more to start, and an outage before that tests nothing.
    for i in range(3):
        until(partial(_publishing, children.folder, f"gateway{i}.1"), 90)
    start = time.monotonic()
    at = duration_s / 4
    pause_until(start + at)
    broker_killed = dt.datetime.now(dt.UTC)
    log("broker: SIGKILL")
    broker.stop(signal.SIGKILL)
    pause_until(start + at + 4)
    killed_at = dt.datetime.now(dt.UTC)
    log("gateway1: SIGKILL (its outbox holds what it read while the broker was down)")
    children.stop("gateway1", signal.SIGKILL)
    pause_until(start + at + 6)
    log("broker: restarted")
    broker.start()
    pause_until(start + at + 8)
    log("gateway1: restarted")
    _gateway(children, config, 1)
    pause_until(start + duration_s)
    until(lambda: _publishing(children.folder, "gateway1.2"), 90)
    # A gateway retries the broker with a jittered backoff of up to 30 s, so it may come
    # back that long after the broker did; until then its readouts wait in its outbox
    # (kept, sent later), not in PostgreSQL. Stop the gateways once their outboxes have
    # delivered what they held now.
    held = _outbox_marks(children.folder)
    waiting = sum(_outbox_rows(children.folder, "SELECT count(*) FROM outbox").values())
    check(
        until(lambda: _delivered(children.folder, held), 90, fail=False),
        f"the gateways' MQTT outboxes delivered the {waiting} messages they held at the end",
    )
    for i in range(3):
        code = children.stop(f"gateway{i}")
        check(code == 0, f"gateway{i} stopped cleanly on SIGTERM")
    ran_s = time.monotonic() - spawned
    stats = [json.loads((children.folder / f"stats-shard{i}.json").read_text()) for i in range(3)]
    check(
        sum(s["lines"] for s in stats) == len(LINE_SIZES)
        and sum(s["devices"] for s in stats) == sum(LINE_SIZES),
        f"the 3 instances polled {sum(s['lines'] for s in stats)} lines, "
        f"{sum(s['devices'] for s in stats)} devices",
    )
    margin = dt.timedelta(seconds=2)
    backlog = {
        r
        for r in readings(children.outputs("gateway1")[:1], killed_at - margin)
        if r[2] >= broker_killed
    }
    expected = set()
    for i in range(3):
        outs = children.outputs(f"gateway{i}")
        if i == 1:
            expected |= readings(outs[:1], killed_at - margin) | readings(outs[1:])
        else:
            expected |= readings(outs)
    log(f"{len(expected)} readings printed by the gateways; waiting for PostgreSQL")
    missing: set[Any] = set()

    def complete() -> bool:
        nonlocal missing
        rows, _ = asyncio.run(stored(dsn))
        missing = expected - rows
        return not missing

    if not until(complete, 60, fail=False):
        raise Failed(_explain_missing(children.folder, missing))
    rows, count = asyncio.run(stored(dsn))
    check(not (expected - rows), f"all {len(expected)} readings are in PostgreSQL")
    check(
        bool(backlog) and backlog <= rows,
        f"the {len(backlog)} readings gateway1 made during the outage before its SIGKILL arrived",
    )
    check(count == len(rows), f"{count} rows, each reading once")
    read_by: dict[str, set[int]] = defaultdict(set)
    for i in range(3):
        for device, _signal, _time in readings(children.outputs(f"gateway{i}")):
            read_by[device].add(i)
    _check_single_poller(rows, read_by, ran_s)
    for j in range(2):
        children.stop(f"sink{j}")
    sinks = [json.loads((children.folder / f"sink{j}.json").read_text()) for j in range(2)]
    check(
        sum(s["inserted"] for s in sinks) == count and all(s["messages"] for s in sinks),
        f"the 2 sinks shared the load ({', '.join(str(s['messages']) for s in sinks)} messages) "
        f"and inserted each row once ({sum(s['duplicates'] for s in sinks)} replays skipped)",
    )
    dropped = sum(s["broker_dropped"] for s in sinks)
    check(not dropped, f"mosquitto reported {dropped} dropped messages to the sinks")


def _check_single_poller(
    rows: set[tuple[str, str, dt.datetime]], read_by: dict[str, set[int]], ran_s: float
) -> None:
    """Every device was read by one instance only, and no more often than one poller can.

    ``read_by``: the instances whose printed updates name each device; ``ran_s``: from
    the gateways' start to their stop. One poller reads a device at most once per scan
    slot (a late poll never adds one); gateway1's devices get a second schedule after
    its restart, hence the + 2.
    """
    shared = sorted(device for device, instances in read_by.items() if len(instances) > 1)
    check(
        len(read_by) == sum(LINE_SIZES) and not shared,
        f"{len(read_by)} devices read, each by one instance only"
        + (f" (not: {', '.join(shared[:5])})" if shared else ""),
    )
    counts: dict[str, int] = defaultdict(int)
    for device, signal_, _time in rows:
        if signal_ == "_status":
            counts[device] += 1
    most = int(ran_s / SCAN_S) + 2
    busiest = max(counts.values(), default=0)
    check(
        len(counts) == sum(LINE_SIZES) and busiest <= most,
        f"{len(counts)} devices in PostgreSQL, none read more often than one poller can "
        f"(at most {busiest} readouts, limit {most})",
    )


def _publishing(folder: Path, incarnation: str) -> bool:
    """Whether the gateway incarnation (``gateway1.2``) printed a reading and connected
    to the broker (its log says "connected to" or "connected again to")."""
    return bool(text_of(folder / f"{incarnation}.out")) and "mqtt: connected" in text_of(
        folder / f"{incarnation}.err"
    )


def _outbox_rows(folder: Path, query: str) -> dict[Path, int]:
    """``query`` (one number or NULL, 0 then) on each gateway's MQTT outbox; a file that
    cannot be read now (being created) is left out."""
    found = {}
    for path in folder.glob("*.mqtt-outbox.sqlite"):
        connection = sqlite3.connect(path, timeout=5)
        try:
            found[path] = connection.execute(query).fetchone()[0] or 0
        except sqlite3.Error:
            continue
        finally:
            connection.close()
    return found


def _outbox_marks(folder: Path) -> dict[Path, int]:
    """The newest row of each MQTT outbox (0 when empty)."""
    return _outbox_rows(folder, "SELECT max(seq) FROM outbox")


def _delivered(folder: Path, marks: dict[Path, int]) -> bool:
    """Whether every outbox has no row left up to its mark (new rows may have come)."""
    oldest = _outbox_rows(folder, "SELECT min(seq) FROM outbox")
    return all(path in oldest and not 0 < oldest[path] <= mark for path, mark in marks.items())


def outbox_readings(folder: Path) -> set[tuple[str, str, dt.datetime]]:
    """(device, signal, time) of the history messages still in the gateways' MQTT outboxes
    (never acknowledged by the broker)."""
    found = set()
    for path in folder.glob("*.mqtt-outbox.sqlite"):
        connection = sqlite3.connect(path, timeout=5)
        try:
            rows = connection.execute(
                "SELECT payload FROM outbox WHERE topic LIKE '%/history/%'"
            ).fetchall()
        finally:
            connection.close()
        for (payload,) in rows:
            for item in json.loads(payload)["updates"]:
                found.add((item["device"], item["signal"], dt.datetime.fromisoformat(item["time"])))
    return found


def _explain_missing(folder: Path, missing: set[tuple[str, str, dt.datetime]]) -> str:
    """The failure message for readings missing in PostgreSQL: how many never left a
    gateway (still in its outbox) and how many the broker or a sink lost; the whole list
    goes to ``missing.txt`` in the folder."""
    waiting = missing & outbox_readings(folder)
    lines = [f"{d} {s} {t.isoformat()}{' outbox' if (d, s, t) in waiting else ''}"
             for d, s, t in sorted(missing)]  # fmt: skip
    (folder / "missing.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    dropped = [
        line.partition(": ")[2]
        for line in text_of(folder / "mosquitto" / "mosquitto.log").splitlines()
        if "being dropped" in line
    ]
    return (
        f"{len(missing)} readings missing in PostgreSQL ({len(waiting)} of them still in a "
        f"gateway's MQTT outbox, {len(missing) - len(waiting)} acknowledged by the broker"
        f"{'; mosquitto: ' + ' '.join(dropped) if dropped else ''}), e.g. {sorted(missing)[:3]}"
    )


def text_of(path: Path) -> str:
    """A log or stats file's text so far ("" before it exists)."""
    return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""


def until(
    condition: Callable[[], bool], deadline_s: float, *, fail: bool = True, every_s: float = 0.1
) -> bool:
    """Poll ``condition`` (real processes) every ``every_s`` until it holds: ``True``; at the
    deadline raise :class:`Failed`, or return ``False`` with ``fail=False``."""
    end = time.monotonic() + deadline_s
    while not condition():
        if time.monotonic() > end:
            if fail:
                raise Failed("a process did not get ready in time")
            return False
        time.sleep(every_s)  # polling a condition with a deadline
    return True


def contains(path: Path, text: str) -> bool:
    """Whether ``text`` is in the file yet."""
    return text in text_of(path)


def pause_until(moment: float) -> None:
    """A script's timeline (its schedule, not a wait for a result)."""
    time.sleep(max(0.0, moment - time.monotonic()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=36.0, help="gateway run time, s")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="obisgate-scaleout-"))
    try:
        run(folder, args.duration)
    except Failed as exc:
        log(f"FAILED: {exc} (logs in {folder})")
        return 1
    if not args.keep:
        import shutil  # noqa: PLC0415

        shutil.rmtree(folder, ignore_errors=True)
    log("passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
