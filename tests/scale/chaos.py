"""The whole chain under chaos (``scripts/test-chaos``; a few minutes, loopback only).

Meters (simulated, one of them sending NUL bytes, control characters and a 400-digit
number) -> gateways (``--shard i/N``: SQLite history, the ``[postgres]`` output into the
database ``direct``, the MQTT output with history partitions) -> mosquitto at its
DEFAULT limits (1000 queued messages per session, 20 in flight; persistence on, saved
after every change: what a deployment of the sink path must configure) -> two ``obisgate
sink postgres`` owning half of the partitions each, into the database ``viasink``.

A SEEDED random schedule ``kill -9``s and restarts gateways, sinks, the broker and
PostgreSQL, restarts the broker and PostgreSQL cleanly too, and always includes both
sinks down across a broker restart. A rogue publisher puts poison on the history
partitions (NUL text, a 400-digit integer, a time out of range, a message that is no
JSON) while the sinks are down. At the end the gateways stop (SIGTERM) and every store
is reconciled against what the gateways printed (``--format jsonl``):

* every printed reading is in ``direct`` (PostgreSQL through the ``[postgres]``
  output) and, for logged signals, in the gateways' SQLite history, also for a gateway
  killed with ``-9``: the gateway shows a readout only once every store has it (durable
  before visible), so nothing printed is exempt;
* every printed reading is in ``viasink`` (PostgreSQL through mosquitto and the sinks)
  too, except one the broker acknowledged and had not yet saved when it was killed
  with ``-9`` (mosquitto acknowledges a QoS 1 message before its save): a reading read
  in the last :data:`MARGIN_S` seconds before a broker ``kill -9`` may be missing
  there, and is counted (``lost_at_broker_kill``);
* no store holds a reading nobody printed, or one twice; a killed gateway may have
  stored the readings of its last :data:`MARGIN_S` seconds without printing them;
* the poison meter's text is stored cleaned; the rogue messages' good updates are
  stored and the bad ones are dead letters with their reason; nothing else is.

It prints the counts (``--json FILE`` writes them) and exits 0 when every check passes,
1 with the failed check on stderr. Everything it starts is stopped by PID.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime as dt
import json
import random
import re
import signal
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import aiomqtt
import asyncpg

from obisgate.gateway.readings.clean import clean_text
from obisgate.gateway.readings.partitions import history_topic
from obisgate.simulator import MeterProfile, get_profile, serve_tcp
from obisgate.simulator.tcp import SimulatorServer
from tests.scale.configs import line_profiles
from tests.scale.mqtt_tools import share, sink_command
from tests.scale.scaleout import (
    Failed,
    MeterThread,
    Processes,
    contains,
    obisgate,
    pause_until,
    text_of,
    until,
)
from tests.services import SAVE_EVERY_CHANGE, Mosquitto, Postgres

#: meters per line (the poison meter is one more line of its own)
LINE_SIZES = [1] * 12 + [3] * 6 + [6] * 2
SCAN_S = 2.0
PARTITIONS = 8
SINKS = 2
#: a killed gateway's readings of its last seconds may be stored but not printed, and a
#: killed broker's of its last seconds acknowledged but not saved
MARGIN_S = 2.0
PW_VARIABLE = "OBISGATE_CHAOS_PG_PW"

Key = tuple[str, str, dt.datetime]


def log(message: str) -> None:
    print(f"test-chaos: {message}", file=sys.stderr, flush=True)


def check(condition: bool, message: str) -> None:
    if not condition:
        raise Failed(message)
    log(f"ok: {message}")


def chaos_lines(lines: list[list[MeterProfile]]) -> list[Callable[[], Awaitable[SimulatorServer]]]:
    """Line ``i`` on ``127.0.3.<i+1>`` (any free port), the poison meter last."""
    return [
        partial(serve_tcp, profiles, host=f"127.0.3.{i + 1}", port=0)
        for i, profiles in enumerate(lines)
    ]


def meter_lines() -> list[list[MeterProfile]]:
    poison = dataclasses.replace(get_profile("poison"), reaction_time_s=0.0)
    return [line_profiles(i, size) for i, size in enumerate(LINE_SIZES)] + [[poison]]


def config_text(
    servers: list[SimulatorServer],
    lines: list[list[MeterProfile]],
    broker: Mosquitto,
    direct_dsn: str,
    folder: Path,
) -> str:
    parts = [
        '[output]\nformat = "jsonl"\n',
        f'[storage]\npath = "{folder / "history.sqlite"}"\n',
        f'[mqtt]\nurl = "{broker.url}"\nformat = "json"\ndiscovery_prefix = "none"\n'
        f"history_partitions = {PARTITIONS}\n",
        f'[postgres]\ndsn = "{direct_dsn}"\npassword_env = "{PW_VARIABLE}"\nbatch_rows = 2000\n',
    ]
    device = (
        '[[devices]]\ndevice_alias = "{alias}"\nip = "{host}"\nport = {port}\n'
        'serialnumber = "{address}"\nscan_rate_ms = {scan}\npoll_delay_ms = 0\n'
        "serial_close_delay = 0\ntimeout_ms = 1500\nretries = 0\n"
    )
    signal_ = (
        '[[signals]]\ndevice_alias = "{alias}"\nsignal_alias = "{name}"\n'
        'tag_job_todo = "{code}"\nnumber_type = "{kind}"\nlog = {log}\n'
    )
    for server, profiles in zip(servers, lines, strict=True):
        for profile in profiles:
            alias = profile.name
            parts.append(
                device.format(
                    alias=alias,
                    host=server.host,
                    port=server.port,
                    address=profile.address if len(profiles) > 1 or alias == "poison" else "",
                    scan=int(SCAN_S * 1000),
                )
            )
            signals = [("energy", "1.8.0", "FLOAT", 1), ("power", "16.7.0", "FLOAT", 0)]
            if alias == "poison":
                signals = [
                    ("energy", "1.8.0", "FLOAT", 1),
                    ("id", "0.0.0", "STRING", 1),
                    ("firmware", "0.2.0", "STRING", 0),
                    ("huge", "1.8.1", "FLOAT", 0),
                    ("huge_text", "1.8.1", "STRING", 0),
                ]
            for name, code, kind, logged in signals:
                parts.append(
                    signal_.format(alias=alias, name=name, code=code, kind=kind, log=logged)
                )
    return "\n".join(parts)


# -- the rogue publisher ----------------------------------------------------------------

ROGUE_DEVICE = "rogue"


def rogue_messages(n: int) -> list[bytes]:
    """Poison on the history partitions, round ``n``: a readout with a NUL text, a
    400-digit integer and one update out of range (3 rows stored, 1 dead letter), and
    a message that is no JSON (1 dead letter)."""
    time_ = (dt.datetime(2026, 12, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=n)).isoformat()

    def update(name: str, value: Any, at: str = time_) -> dict[str, Any]:
        return {"device": ROGUE_DEVICE, "signal": name, "value": value, "unit": None,
                "time": at, "quality": ["valid"]}  # fmt: skip

    readout = {
        "device": ROGUE_DEVICE,
        "time": time_,
        "status": "ok",
        "updates": [
            update("text", f"R{n}\u0000\u0000"),
            update("huge", 10**400 + n),
            update("far", n, "9999-12-31T00:00:00+00:00"),
            update("_status", "ok"),
        ],
    }
    return [json.dumps(readout).encode(), b"\x00\xff not json " + str(n).encode()]


ROGUE_ROWS_PER_ROUND = 3
ROGUE_DEAD_PER_ROUND = 2


def publish_rogue(broker: Mosquitto, n: int) -> None:
    topic = history_topic("obisgate", ROGUE_DEVICE, PARTITIONS)

    async def go() -> None:
        async with aiomqtt.Client("127.0.0.1", broker.port, identifier=f"rogue-{n}") as client:
            for payload in rogue_messages(n):
                await client.publish(topic, payload, qos=1)

    asyncio.run(go())


# -- the schedule -------------------------------------------------------------------------


@dataclasses.dataclass(order=True)
class Event:
    at: float
    action: str = dataclasses.field(compare=False)
    target: str = dataclasses.field(compare=False, default="")


def schedule(rng: random.Random, duration_s: float, gateways: int) -> list[Event]:
    """The seeded plan: every kind of failure at least once (more in a longer run), in a
    random order with random outage lengths, one after the other; the both-sinks-down
    broker restart (with the rogue's poison meanwhile) near the middle.

    Raises:
        ValueError: ``duration_s`` is too short to hold them all.
    """
    kinds = ["kill-gateway", "kill-sink", "kill-broker", "restart-broker", "kill-postgres",
             "stop-postgres"]  # fmt: skip
    wanted = kinds + [rng.choice(kinds) for _ in range(max(0, int(duration_s / 10) - len(kinds)))]
    rng.shuffle(wanted)
    events: list[Event] = []
    middle = duration_s * 0.45
    episode_done = False
    # spread the outages over the run: what is left beyond their typical length
    spare = max(0.0, duration_s - 11.0 - 10.0 - len(wanted) * 3.75) / (len(wanted) + 1)
    t = 5.0
    for kind in wanted:
        t += rng.uniform(1.0, 2.0) + rng.uniform(0.5, 1.0) * spare
        down = rng.uniform(1.0, 3.5)
        if not episode_done and t + down > middle:
            events += _episode(max(t, middle - 4.0))
            t = max(t, middle - 4.0) + 9.0
            episode_done = True
        events += _outage(rng, kind, t, down, gateways)
        t += down
    if not episode_done:
        events += _episode(t + 1.0)
        t += 10.0
    if t > duration_s - 6.0:
        raise ValueError(f"--duration {duration_s:.0f} s is too short for the schedule")
    return sorted(events)


def _episode(at: float) -> list[Event]:
    """Both sinks down across a broker restart, poison published meanwhile."""
    return [
        Event(at, "kill", "sink0"),
        Event(at + 0.1, "kill", "sink1"),
        Event(at + 1.5, "restart-broker"),
        Event(at + 3.0, "rogue"),
        Event(at + 7.0, "start", "sink0"),
        Event(at + 7.0, "start", "sink1"),
    ]


def _outage(rng: random.Random, kind: str, at: float, down: float, gateways: int) -> list[Event]:
    if kind == "kill-gateway":
        target = f"gateway{rng.randrange(gateways)}"
        return [Event(at, "kill", target), Event(at + down, "start", target)]
    if kind == "kill-sink":
        target = f"sink{rng.randrange(SINKS)}"
        return [Event(at, "kill", target), Event(at + down, "start", target)]
    if kind == "kill-broker":
        return [Event(at, "kill-broker"), Event(at + down, "start-broker")]
    if kind == "restart-broker":
        return [Event(at, "restart-broker")]
    if kind == "kill-postgres":
        return [Event(at, "kill-postgres"), Event(at + down, "start-postgres")]
    return [Event(at, "stop-postgres"), Event(at + down, "start-postgres")]


# -- running it ---------------------------------------------------------------------------


@dataclasses.dataclass
class Incarnation:
    name: str
    out: Path
    killed_at: dt.datetime | None = None


class Chain:
    """The processes of the chain, started and stopped by name."""

    def __init__(self, folder: Path, config: Path, broker: Mosquitto, database: Postgres,
                 gateways: int) -> None:  # fmt: skip
        self.folder = folder
        self.config = config
        self.broker = broker
        self.database = database
        self.gateways = gateways
        self.children = Processes(folder)
        self.incarnations: list[Incarnation] = []
        self.broker_kills: list[dt.datetime] = []
        self.rogue_rounds = 0

    def start(self, name: str) -> None:
        if name.startswith("gateway"):
            i = int(name.removeprefix("gateway"))
            command = obisgate(
                "run", str(self.config), "--shard", f"{i}/{self.gateways}", "--log-format", "json"
            )
            self.children.start(name, command)
            out = self.folder / f"{name}.{self.children.incarnation[name]}.out"
            self.incarnations.append(Incarnation(name, out))
        else:
            j = int(name.removeprefix("sink"))
            self.children.start(
                name,
                sink_command(
                    self.broker.url,
                    self.database.dsn(database="viasink").replace(f":{Postgres.password}@", "@"),
                    f"chaos-sink{j}",
                    *("--max-delay", "0.3", "--batch-rows", "2000"),
                    *(
                        "--stats",
                        str(
                            self.folder / f"chaos-{name}-{self.children.incarnation[name] + 1}.json"
                        ),
                    ),
                    partitions=PARTITIONS,
                    own=share(j, SINKS, PARTITIONS),
                ),
            )

    def kill(self, name: str) -> None:
        if name not in self.children.running:
            return
        self.children.stop(name, signal.SIGKILL)
        if name.startswith("gateway"):
            for incarnation in reversed(self.incarnations):
                if incarnation.name == name:
                    incarnation.killed_at = dt.datetime.now(dt.UTC)
                    break

    def do(self, event: Event) -> None:
        log(f"{event.at:6.1f} s: {event.action} {event.target}".rstrip())
        if event.action == "kill":
            self.kill(event.target)
        elif event.action == "start":
            self.start(event.target)
        elif event.action == "kill-broker":
            self.broker.stop(signal.SIGKILL)
            self.broker_kills.append(dt.datetime.now(dt.UTC))
        elif event.action == "start-broker":
            self.broker.start()
        elif event.action == "restart-broker":
            self.broker.stop(signal.SIGTERM)
            self.broker.start()
        elif event.action == "kill-postgres":
            self.database.stop(signal.SIGKILL)
        elif event.action == "stop-postgres":
            self.database.stop(signal.SIGINT)
        elif event.action == "start-postgres":
            start_postgres(self.database)
        elif event.action == "rogue":
            publish_rogue(self.broker, self.rogue_rounds)
            self.rogue_rounds += 1


def start_postgres(database: Postgres) -> None:
    """Start PostgreSQL; after a ``kill -9`` its backends may still be exiting: retry."""
    end = time.monotonic() + 30
    while True:
        try:
            database.start()
        except RuntimeError:
            database.stop(signal.SIGKILL)
            if time.monotonic() > end:
                raise
            time.sleep(0.5)  # the old backends are exiting (polling a real process)
        else:
            return


@contextlib.contextmanager
def services(folder: Path) -> Iterator[tuple[Mosquitto, Postgres]]:
    broker = Mosquitto(folder / "mosquitto", extra_config=SAVE_EVERY_CHANGE)
    database = Postgres()
    try:
        broker.start()
        database.start()
        asyncio.run(_create_databases(database))
        yield broker, database
    finally:
        broker.stop()
        database.cleanup()


async def _create_databases(database: Postgres) -> None:
    connection = await asyncpg.connect(database.dsn())
    try:
        for name in ("direct", "viasink"):
            await connection.execute(f"CREATE DATABASE {name}")
    finally:
        await connection.close()


def run(folder: Path, duration_s: float, seed: int, gateways: int) -> dict[str, Any]:
    import os  # noqa: PLC0415

    rng = random.Random(seed)
    plan = schedule(rng, duration_s, gateways)
    log(f"seed {seed}: {len(plan)} events over {duration_s:.0f} s")
    lines = meter_lines()
    with services(folder) as (broker, database), MeterThread(chaos_lines(lines)) as meters:
        os.environ[PW_VARIABLE] = Postgres.password  # the gateways' [postgres] password_env
        os.environ["PGPASSWORD"] = Postgres.password  # the sinks' (libpq's rule)
        direct = database.dsn(database="direct").replace(f":{Postgres.password}@", "@")
        config = folder / "gateway.toml"
        config.write_text(
            config_text(meters.servers, lines, broker, direct, folder), encoding="utf-8"
        )
        chain = Chain(folder, config, broker, database, gateways)
        try:
            for j in range(SINKS):
                chain.start(f"sink{j}")
            for j in range(SINKS):
                until(
                    partial(contains, folder / f"sink{j}.1.err", "subscribed to"), 30, every_s=0.2
                )
            chain.do(Event(0.0, "rogue"))
            start = time.monotonic()
            for i in range(gateways):
                chain.start(f"gateway{i}")
            for event in plan:
                pause_until(start + event.at)
                chain.do(event)
            pause_until(start + duration_s)
            log("calm: waiting until the gateways' outboxes are empty")
            check(
                until(lambda: _outbox_rows(folder) == 0, 120, fail=False, every_s=0.2),
                "every outbox drained once everything was up again",
            )
            for i in range(gateways):
                code = chain.children.stop(f"gateway{i}")
                check(code == 0, f"gateway{i} stopped cleanly on SIGTERM")
            counts = reconcile(chain, database)
            for j in range(SINKS):
                code = chain.children.stop(f"sink{j}")
                check(code == 0, f"sink{j} stopped cleanly on SIGTERM")
            sinks = [json.loads(p.read_text()) for p in sorted(folder.glob("chaos-sink*.json"))]
            counts["sinks"] = {
                key: sum(s[key] for s in sinks)
                for key in ("messages", "inserted", "duplicates", "dead_letters",
                            "database_errors", "broker_errors")
            }  # fmt: skip
            counts["events"] = dict(Counter(e.action for e in plan))
            return counts
        finally:
            chain.children.stop_all()


# -- reconciling --------------------------------------------------------------------------


@dataclasses.dataclass
class Printed:
    required: set[Key]
    values: dict[Key, Any]
    gateway_of: dict[str, str]
    kills: dict[str, list[dt.datetime]]

    def unprinted_ok(self, key: Key) -> bool:
        """Stored without being printed: read in the last seconds of a killed gateway."""
        kills = self.kills.get(self.gateway_of.get(key[0], ""), [])
        return any(at - dt.timedelta(seconds=MARGIN_S) <= key[2] <= at for at in kills)


def printed(chain: Chain) -> Printed:
    required: set[Key] = set()
    values: dict[Key, Any] = {}
    gateway_of: dict[str, str] = {}
    kills: dict[str, list[dt.datetime]] = {}
    for incarnation in chain.incarnations:
        if incarnation.killed_at is not None:
            kills.setdefault(incarnation.name, []).append(incarnation.killed_at)
        for line in text_of(incarnation.out).splitlines():
            try:
                item = json.loads(line)
            except ValueError:
                continue  # the last line of a killed process may be cut
            key = (item["device"], item["signal"], dt.datetime.fromisoformat(item["time"]))
            required.add(key)
            values[key] = item["value"]
            gateway_of[key[0]] = incarnation.name
    return Printed(required, values, gateway_of, kills)


def lost_at_broker_kill(key: Key, broker_kills: list[dt.datetime]) -> bool:
    """Read in the last seconds before a broker ``kill -9`` (maybe acknowledged, not saved)."""
    return any(at - dt.timedelta(seconds=MARGIN_S) <= key[2] <= at for at in broker_kills)


async def stored(dsn: str) -> tuple[dict[Key, Any], int, list[Any]]:
    connection = await asyncpg.connect(dsn)
    try:
        if not await connection.fetchval("SELECT to_regclass('readings') IS NOT NULL"):
            return {}, 0, []
        rows = await connection.fetch("SELECT device, signal, time, value, text FROM readings")
        dead = await connection.fetch("SELECT device, signal, reason FROM readings_rejected")
    finally:
        await connection.close()
    found = {(r["device"], r["signal"], r["time"]): r for r in rows}
    return found, len(rows), list(dead)


def history(folder: Path) -> tuple[set[Key], int]:
    keys: set[Key] = set()
    count = 0
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    for path in folder.glob("history-shard*.sqlite"):
        if not re.fullmatch(r"history-shard\d+\.sqlite", path.name):
            continue  # an outbox or the guards' state beside the history
        connection = sqlite3.connect(path)
        try:
            for device, signal_, ts in connection.execute(
                "SELECT device, signal, ts FROM samples JOIN series ON series.id = samples.series"
            ):
                time_ = epoch + dt.timedelta(microseconds=ts // 1000 * 1000)
                keys.add((device, signal_, time_))
                count += 1
        finally:
            connection.close()
    return keys, count


def reconcile(chain: Chain, database: Postgres) -> dict[str, Any]:
    facts = printed(chain)

    def is_logged(key: Key) -> bool:
        return key[1] == "energy" or (key[0] == "poison" and key[1] == "id")

    log(f"{len(facts.required)} readings printed, every one required in direct and history")
    rogue_rows = ROGUE_ROWS_PER_ROUND * chain.rogue_rounds
    rogue_dead = ROGUE_DEAD_PER_ROUND * chain.rogue_rounds
    counts: dict[str, Any] = {
        "printed": len(facts.required),
        "gateway_kills": sum(1 for i in chain.incarnations if i.killed_at is not None),
        "broker_kills": len(chain.broker_kills),
    }
    for name, extra_rows, extra_dead in (("direct", 0, 0), ("viasink", rogue_rows, rogue_dead)):
        dsn = database.dsn(database=name)
        got: dict[Key, Any] = {}

        def complete(dsn: str = dsn) -> bool:
            nonlocal got
            got, _, _ = asyncio.run(stored(dsn))
            return facts.required <= got.keys()

        until(complete, 120, fail=False, every_s=0.2)
        got, total, dead = asyncio.run(stored(dsn))
        missing = facts.required - got.keys()
        excused: set[Key] = set()
        if name == "viasink":
            excused = {k for k in missing if lost_at_broker_kill(k, chain.broker_kills)}
            missing -= excused
        check(not missing, f"{name}: all {len(facts.required)} printed readings stored"
              + (f" but {len(excused)} lost at a broker kill -9" if excused else "")
              + (f" (missing {len(missing)}, e.g. {sorted(missing)[:3]})" if missing else ""))  # fmt: skip
        phantoms = {
            k
            for k in got
            if k not in facts.required and k[0] != ROGUE_DEVICE and not facts.unprinted_ok(k)
        }
        check(not phantoms, f"{name}: no reading stored that no gateway printed"
              + (f" ({len(phantoms)}, e.g. {sorted(phantoms)[:3]})" if phantoms else ""))  # fmt: skip
        check(total == len(got), f"{name}: {total} rows, each reading once")
        rogue = {k for k in got if k[0] == ROGUE_DEVICE}
        check(
            len(rogue) == extra_rows and len(dead) == extra_dead,
            f"{name}: {len(rogue)} rogue rows stored, {len(dead)} dead letters "
            f"(expected {extra_rows}, {extra_dead})",
        )
        poison = {k: v for k, v in facts.values.items() if k[0] == "poison" and k in got}
        bad = [
            k for k, v in poison.items() if isinstance(v, str) and got[k]["text"] != clean_text(v)
        ]
        check(
            bool(poison) and not bad,
            f"{name}: the poison meter's {len(poison)} readings stored, text cleaned",
        )
        counts[name] = {
            "rows": total,
            "printed_stored": len(facts.required & got.keys()),
            "stored_unprinted": len(got.keys() - facts.required - rogue),
            "lost_at_broker_kill": len(excused),
            "dead_letters": len(dead),
            "rogue_rows": len(rogue),
        }
    keys, count = history(chain.folder)
    required_logged = {k for k in facts.required if is_logged(k)}
    missing = required_logged - keys
    check(not missing, f"history: all {len(required_logged)} printed logged readings kept")
    unknown = {k for k in keys - required_logged if not (is_logged(k) and facts.unprinted_ok(k))}
    check(not unknown, f"history: no reading kept that no gateway printed ({len(unknown)})")
    check(count == len(keys), f"history: {count} samples, each once")
    counts["history"] = {"samples": count}
    return counts


def _outbox_rows(folder: Path) -> int:
    total = 0
    for path in folder.glob("history-shard*-outbox.sqlite"):
        connection = sqlite3.connect(path, timeout=5)
        try:
            total += connection.execute("SELECT count(*) FROM outbox").fetchone()[0]
        except sqlite3.Error:
            total += 1  # not readable now: ask again
        finally:
            connection.close()
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=150.0, help="chaos time, s")
    parser.add_argument("--seed", type=int, default=16, help="the schedule's random seed")
    parser.add_argument("--gateways", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None, help="write the counts here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="obisgate-chaos-"))
    started = time.monotonic()
    try:
        counts = run(folder, args.duration, args.seed, args.gateways)
    except Failed as exc:
        log(f"FAILED: {exc} (logs in {folder})")
        return 1
    counts.update(
        seed=args.seed, duration_s=args.duration, wall_s=round(time.monotonic() - started)
    )
    log(json.dumps(counts))
    if args.json is not None:
        args.json.write_text(json.dumps(counts, indent=2), encoding="utf-8")
    if not args.keep:
        import shutil  # noqa: PLC0415

        shutil.rmtree(folder, ignore_errors=True)
    log("passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
