"""Backfill benchmark: what a gap costs the history, the start and the line.

1. History writes: rows per second appended in batches, with the unique key of
   schema 2 (``INSERT OR IGNORE``) against the schema-1 table without it.
2. Gaps at start: the time to find one device's holes in a week of polls every
   ``--scan`` seconds (what the gateway reads, on a thread, when it starts).
3. Line time: a week of 15-minute intervals (672) read from a simulated meter over
   TCP in programming sessions of ``--chunk`` intervals, as the gateway does between
   polls: sessions, their mean and longest duration.

Usage: python bench/bench_backfill.py [--rows 200000] [--scan 10] [--chunk 96]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from obisgate import (
    LineSettings,
    PlainPassword,
    ProgrammingOptions,
    ReadoutOptions,
    open_transport,
    read_load_profile_on,
)
from obisgate.gateway.history import HistoryRecord, HistoryStore
from obisgate.simulator import get_profile, serve_tcp
from obisgate.simulator.clocked import ClockedMeter, MeterClock

T0 = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
SIGNALS = 10


def batches(rows: int, per_batch: int) -> list[list[HistoryRecord]]:
    """Readouts of 10 signals each, a second apart (20 devices a batch)."""
    records = [
        HistoryRecord(
            f"m{n // SIGNALS % 20}", f"s{n % SIGNALS}", T0 + dt.timedelta(seconds=n // 200), n * 0.5
        )
        for n in range(rows)
    ]
    return [records[i : i + per_batch] for i in range(0, rows, per_batch)]


def schema_1(path: Path) -> None:
    """A schema-1 file (no unique key): the store opens it without migrating when reading."""
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE series (id INTEGER PRIMARY KEY, device TEXT NOT NULL, signal TEXT NOT NULL,"
        " UNIQUE (device, signal));"
        "CREATE TABLE samples (series INTEGER NOT NULL, ts INTEGER NOT NULL, kind INTEGER NOT NULL,"
        " value, unit TEXT, quality INTEGER NOT NULL);"
        "CREATE INDEX samples_series_ts ON samples (series, ts);"
        "PRAGMA journal_mode=WAL; PRAGMA user_version = 1;"
    )
    conn.close()


def appended_per_second(store: HistoryStore, work: list[list[HistoryRecord]]) -> float:
    began = time.perf_counter()
    for batch in work:
        store.append(batch)
    return sum(len(b) for b in work) / (time.perf_counter() - began)


def bench_writes(folder: Path, rows: int) -> None:
    work = batches(rows, 200)
    with HistoryStore(folder / "v2.sqlite") as store:
        v2 = appended_per_second(store, work)
    old = folder / "v1.sqlite"
    schema_1(old)
    store = HistoryStore(old, create=False)  # a reader does not migrate: the old table
    store._conn.execute("PRAGMA synchronous=NORMAL")  # as a writing store sets it
    v1 = appended_per_second(store, work)
    store.close()
    print(f"history writes, {rows} rows in batches of 200:")
    print(f"  schema 2 (unique key, INSERT OR IGNORE): {v2:10,.0f} rows/s")
    print(f"  schema 1 (plain INSERT):                 {v1:10,.0f} rows/s")
    with HistoryStore(folder / "v2.sqlite") as store:
        again = appended_per_second(store, work[: len(work) // 10])
    print(f"  schema 2, the same rows again (all ignored): {again:10,.0f} rows/s")


def bench_gaps(folder: Path, scan_s: float) -> None:
    week = int(7 * 86_400 / scan_s)
    with HistoryStore(folder / "gaps.sqlite") as store:
        records = [
            HistoryRecord("m1", signal, T0 + dt.timedelta(seconds=n * scan_s), float(n))
            for n in range(week)
            if not 30_000 <= n < 30_400  # one hole of 400 polls
            for signal in ("energy", "power")
        ]
        for i in range(0, len(records), 10_000):
            store.append(records[i : i + 10_000])
        times = []
        for _ in range(5):
            began = time.perf_counter()
            found = store.gaps(
                "m1",
                ["energy", "power"],
                since=T0,
                longer_than=dt.timedelta(seconds=900 + scan_s),
            )
            times.append(time.perf_counter() - began)
    assert len(found.holes) == 1, found
    print(
        f"gaps at start: a week of polls every {scan_s:g} s ({week} times, 2 signals): "
        f"{min(times) * 1000:.0f} ms per device (best of 5), 1 hole found"
    )


async def bench_line(chunk: int) -> None:
    clock = MeterClock(dt.datetime(2026, 12, 8, 0, 0, 30))
    meter = ClockedMeter(clock.now, origin=dt.datetime(2026, 12, 1))
    base = get_profile("mt174")
    options = ProgrammingOptions(sign_on=ReadoutOptions(address=base.address, option="1"))
    async with await serve_tcp(meter.profile(base)) as sim:
        durations = []
        start = dt.datetime(2026, 12, 1)
        rows = 0
        while start < dt.datetime(2026, 12, 8):
            end = start + dt.timedelta(minutes=15 * chunk)
            began = time.perf_counter()
            transport = await open_transport(sim.url, LineSettings())
            try:
                profile = await read_load_profile_on(
                    transport,
                    start + dt.timedelta(minutes=1),
                    end,
                    options=options,
                    scheme=PlainPassword("00000000"),
                    max_span=end - start,
                )
            finally:
                await transport.aclose()
            durations.append(time.perf_counter() - began)
            rows += len(profile.rows)
            start = end
    print(
        f"line time: a week of 15-minute intervals ({rows}) in {len(durations)} sessions of "
        f"{chunk}: {statistics.mean(durations) * 1000:.0f} ms mean, "
        f"{max(durations) * 1000:.0f} ms longest, {sum(durations):.1f} s in all "
        "(simulated meter over TCP at 9600 Bd framing, no wire delay)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--scan", type=float, default=10.0)
    parser.add_argument("--chunk", type=int, default=96)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="obisgate-bench-") as tmp:
        folder = Path(tmp)
        bench_writes(folder, args.rows)
        bench_gaps(folder, args.scan)
    asyncio.run(bench_line(args.chunk))


if __name__ == "__main__":
    main()
