"""End-to-end benchmark: readings per second from meters through gateways and the broker into PostgreSQL.

Everything real and on this machine: simulated TCP meters (``bench_gateway``'s
simulator, ``--meters-per-line`` meters per converter port), ``--gateways``
instances of ``obisgate run --shard i/N`` with the MQTT output (``json`` with
``history_partitions``: a state and a history message per readout), a mosquitto
broker, ``--sinks`` processes of ``obisgate sink postgres`` owning their share of
the history partitions, and PostgreSQL (broker and database started on free
loopback ports, as the tests do: needs the Debian packages mosquitto and
postgresql).

Every meter is read once per ``--scan-ms``; after ``--duration`` seconds the
gateways stop (SIGTERM, their outboxes drained first) and the script waits until
every reading they made is in PostgreSQL. It reports the readouts the gateways
made, the rows that landed, readings per second end to end, how long the last rows
took after the gateways stopped, and each part's CPU.

With ``--path postgres`` the gateways write into PostgreSQL themselves (the
``[postgres]`` output, through its outbox) and there is no broker or sink on the way.

Usage: python bench/bench_pipeline.py [--meters 6000] [--scan-ms 10000] [--duration 60]
       [--gateways 2] [--sinks 2] [--meters-per-line 10] [--path sink|postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_gateway import config_text, cpu_seconds, wait_for
from tests.scale.mqtt_tools import PARTITIONS, count_rows, share, sink_command
from tests.services import Mosquitto, Postgres

#: One status row per readout (a failed readout's signal updates may repeat the time of
#: the value they mark invalid, and are then stored once): readouts are counted by it.
STATUS_ROWS = "SELECT count(*) FROM readings WHERE signal = '_status'"


def obisgate(*args: str) -> list[str]:
    return [sys.executable, "-m", "obisgate", *args]


def start(command: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as err:
        return subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err
        )


def stop_all(processes: list[subprocess.Popen[bytes]]) -> float:
    """SIGTERM to all at once, then wait for each; their CPU seconds (wait4).

    Raises:
        SystemExit: one of them had already ended, or exited with an error.
    """
    for process in processes:
        if process.poll() is not None:
            raise SystemExit(f"{process.args!r} ended early with status {process.returncode}")
    for process in processes:
        process.send_signal(signal.SIGTERM)
    cpu = 0.0
    for process in processes:
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)  # reaped: poll() must not wait
        if status != 0:
            raise SystemExit(f"{process.args!r} exited with status {process.returncode}")
        cpu += usage.ru_utime + usage.ru_stime
    return cpu


def tree_cpu(pid: int) -> float:
    """CPU seconds of ``pid``, its ended children (PostgreSQL's closed backends, reaped
    by it) and its live children, so far."""

    def times(stat: Path) -> list[str]:
        return stat.read_text().rsplit(")", 1)[1].split()

    tick = os.sysconf("SC_CLK_TCK")
    fields = times(Path(f"/proc/{pid}/stat"))
    total = sum(int(fields[i]) for i in (11, 12, 13, 14)) / tick
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            child = times(stat)
            if int(child[1]) == pid:
                total += (int(child[11]) + int(child[12])) / tick
    return total


def outbox_rows(path: Path) -> int:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return int(db.execute("SELECT count(*) FROM outbox").fetchone()[0])


def simulators(
    meters: int, per_line: int, folder: Path
) -> tuple[list[subprocess.Popen[bytes]], list[int]]:
    """One simulator process serving every meter; the port of each meter."""
    port_file = folder / "ports.json"
    bench_gateway = str(Path(__file__).resolve().with_name("bench_gateway.py"))
    process = subprocess.Popen(
        [sys.executable, bench_gateway, "--serve", "0", str(meters), str(per_line), str(port_file)],
        stdin=subprocess.DEVNULL,
    )
    ready = wait_for(
        lambda: port_file.exists() or process.poll() is not None, 300, "the simulator", fail=False
    )
    if not ready or process.poll() is not None:
        process.kill()
        process.wait()
        raise SystemExit("simulator did not start")
    return [process], json.loads(port_file.read_text())


def run(args: argparse.Namespace, folder: Path) -> dict[str, float]:
    # A backlog beyond mosquitto's default 1000 queued messages per session can build up
    # when the machine is out of CPU: unlimited, as a deployment must configure it (README).
    broker = Mosquitto(
        folder / "mosquitto", extra_config="max_inflight_messages 1000\nmax_queued_messages 0\n"
    )
    database = Postgres()
    sims: list[subprocess.Popen[bytes]] = []
    gateways: list[subprocess.Popen[bytes]] = []
    sinks: list[subprocess.Popen[bytes]] = []
    try:
        database.start()
        broker.start()
        sims, ports = simulators(args.meters, args.meters_per_line, folder)
        dsn = database.dsn()
        direct = args.path == "postgres"
        if direct:
            args.sinks = 0
            os.environ["BENCH_PG_PASSWORD"] = Postgres.password
        sink_logs = [folder / f"sink{j}.log" for j in range(args.sinks)]
        sinks += [
            start(
                sink_command(broker.url, dsn, f"bench-sink{j}", own=share(j, args.sinks)),
                sink_logs[j],
            )
            for j in range(args.sinks)
        ]
        wait_for(
            lambda: all(p.exists() and "subscribed" in p.read_text() for p in sink_logs),
            60,
            "the sinks to subscribe",
        )
        config = folder / "pipeline.toml"
        history = (
            f'[postgres]\ndsn = "{dsn.replace(f":{Postgres.password}@", "@")}"\n'
            'password_env = "BENCH_PG_PASSWORD"\n'
            if direct
            else f'[mqtt]\nurl = "{broker.url}"\nformat = "json"\ndiscovery_prefix = "none"\n'
            f"history_partitions = {PARTITIONS}\n"
        )
        config.write_text(
            config_text(ports, scan_ms=args.scan_ms).replace(
                '[output]\nformat = "none"\n',
                '[output]\nformat = "none"\n\n'
                f'[storage]\npath = "{folder / "gateway.sqlite"}"\n\n' + history,
            )
        )
        gateways += [
            start(
                [
                    *obisgate("run", str(config), "--shard", f"{i}/{args.gateways}"),
                    "--stats",
                    str(folder / "stats.json"),
                ],
                folder / f"gateway{i}.log",
            )
            for i in range(args.gateways)
        ]
        started = time.monotonic()
        time.sleep(args.duration)  # the load runs for this long; nothing to wait for
        landed_at_stop = asyncio.run(count_rows(dsn, STATUS_ROWS))
        stopped = time.monotonic()
        gateway_cpu = stop_all(gateways)
        stats = [
            json.loads((folder / f"stats-shard{i}.json").read_text()) for i in range(args.gateways)
        ]
        readouts = sum(s["polls"] for s in stats)
        complete = wait_for(
            lambda: asyncio.run(count_rows(dsn, STATUS_ROWS)) >= readouts,
            args.drain_timeout,
            "every readout",
            fail=False,
        )
        landed = time.monotonic()
        stored = asyncio.run(count_rows(dsn, STATUS_ROWS))
        # Readouts not acknowledged by the broker when a gateway stopped stay in its outbox
        # for its next start (a state and a history message per readout): counted, not lost.
        in_outboxes = (
            sum(outbox_rows(f) for f in folder.glob("*postgres-outbox.sqlite"))
            if direct
            else sum(outbox_rows(f) for f in folder.glob("*mqtt-outbox.sqlite")) // 2
        )
        rows = asyncio.run(count_rows(dsn))
        broker_cpu = cpu_seconds(broker.process.pid) if broker.process else 0.0
        postgres_cpu = tree_cpu(database.process.pid) if database.process else 0.0
        sink_cpu = stop_all(sinks)
    finally:
        children = [c for c in [*sims, *gateways, *sinks] if c.poll() is None]
        for child in children:
            child.terminate()
        for child in children:
            try:
                child.wait(30)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        broker.stop()
        database.cleanup()
    run_s = stopped - started
    return {
        "readouts": readouts,
        "failures": sum(s["failures"] for s in stats),
        "missed_scans": sum(s["missed_scans"] for s in stats),
        "stored": stored,
        "in_outboxes": in_outboxes,
        "dropped": sum(sum(s["dropped_batches"].values()) for s in stats),
        "complete": complete,
        "rows": rows,
        "run_s": run_s,
        "readouts_per_s": readouts / run_s,
        "stored_per_s_during_run": landed_at_stop / run_s,
        "last_row_after_stop_s": landed - stopped,
        "gateway_cpu_pct": 100 * gateway_cpu / run_s,
        "sink_cpu_pct": 100 * sink_cpu / (landed - started),
        "postgres_cpu_pct": 100 * postgres_cpu / (landed - started),
        "broker_cpu_pct": 100 * broker_cpu / (landed - started),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=6000)
    parser.add_argument("--scan-ms", type=int, default=10_000)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of polling")
    parser.add_argument("--gateways", type=int, default=2)
    parser.add_argument("--sinks", type=int, default=2)
    parser.add_argument("--meters-per-line", type=int, default=10)
    parser.add_argument(
        "--path",
        choices=["sink", "postgres"],
        default="sink",
        help="history through the broker and sinks, or the gateways' [postgres] output",
    )
    parser.add_argument(
        "--drain-timeout", type=float, default=300.0, help="seconds to wait for the last rows"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = run(args, Path(tmp))
    offered = args.meters / (args.scan_ms / 1000)
    print(
        f"{args.meters} meters every {args.scan_ms / 1000:g} s ({offered:.0f} readouts/s offered), "
        f"{args.gateways} gateways, "
        + ("[postgres] output" if args.path == "postgres" else f"{args.sinks} sinks")
        + f", {args.duration:g} s"
    )
    print(
        f"readouts: {result['readouts']} ({result['readouts_per_s']:.0f}/s), "
        f"failures {result['failures']}, missed scans {result['missed_scans']}"
    )
    missing = result["readouts"] - result["stored"] - result["in_outboxes"]
    print(
        f"in PostgreSQL: {result['stored']} readouts ({result['rows']} rows); "
        f"{result['in_outboxes']} still in the gateways' outboxes (sent at their next start); "
        f"{result['dropped']} dropped before the outbox; "
        + (
            f"{missing} unaccounted for"
            if missing >= 0
            else f"{-missing} both stored and still in an outbox (acknowledged as the gateway "
            "stopped: sent again at its next start, skipped by the sink as duplicates)"
        )
    )
    print(
        f"{result['stored_per_s_during_run']:.0f} readouts/s stored during the run; "
        + (
            f"the last one {result['last_row_after_stop_s']:.1f} s after the gateways stopped"
            if result["complete"]
            else f"waited {result['last_row_after_stop_s']:.0f} s after the gateways stopped"
        )
    )
    print(
        f"CPU (% of one core): gateways {result['gateway_cpu_pct']:.0f}, "
        f"sinks {result['sink_cpu_pct']:.0f}, broker {result['broker_cpu_pct']:.0f}, "
        f"PostgreSQL {result['postgres_cpu_pct']:.0f}"
    )


if __name__ == "__main__":
    main()
