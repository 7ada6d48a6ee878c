"""The SQLite history: round trips, queries, batches, threads, and surviving a SIGKILL."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from obisgate import ConfigError
from obisgate.gateway.history import HistoryRecord, HistoryRow, HistoryStore, HistoryValue
from obisgate.gateway.quality import Quality

T0 = dt.datetime(2025, 11, 18, 9, 30, tzinfo=dt.UTC)
WRITER = Path(__file__).with_name("history_writer.py")


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


@pytest.fixture
def store(tmp_path: Path) -> HistoryStore:
    return HistoryStore(tmp_path / "h.sqlite")


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        False,
        0,
        -128,
        2**63 - 1,
        -(2**63),
        2**64 - 1,  # UINT64 max does not fit SQLite's INTEGER
        147238.4,
        -0.0,
        1e300,
        "",
        "L1-L2-L3",
        "Zähler \x00",
        dt.date(2025, 11, 18),
        dt.time(9, 32, 15),
        dt.datetime(2025, 11, 18, 9, 30),
    ],
)
def test_values_round_trip_with_their_type(store: HistoryStore, value: HistoryValue) -> None:
    with store:
        store.append([HistoryRecord("m", "s", T0, value, "kWh", Quality.VALID)])
        (row,) = store.query("m", "s")
    assert row == HistoryRow(T0, value, "kWh", Quality.VALID)
    assert type(row.value) is type(value)


def test_unit_and_quality_round_trip(store: HistoryStore) -> None:
    quality = Quality.INVALID | Quality.NOT_TOPICAL
    with store:
        store.append([HistoryRecord("m", "s", T0, None, None, quality)])
        (row,) = store.query("m", "s")
    assert (row.unit, row.quality) == (None, quality)


def test_time_stamps_are_utc_with_microseconds(store: HistoryStore) -> None:
    cet = dt.timezone(dt.timedelta(hours=1))
    local = dt.datetime(2025, 11, 18, 10, 30, 0, 123456, tzinfo=cet)
    before_epoch = dt.datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=dt.UTC)
    with store:
        store.append([HistoryRecord("m", "s", local, 1), HistoryRecord("m", "s", before_epoch, 2)])
        rows = store.query("m", "s")
    assert [r.time for r in rows] == [before_epoch, local]
    assert rows[1].time.tzinfo is dt.UTC
    assert rows[1].time == dt.datetime(2025, 11, 18, 9, 30, 0, 123456, tzinfo=dt.UTC)


def test_naive_time_is_refused(store: HistoryStore) -> None:
    with store:
        with pytest.raises(ValueError, match="timezone-aware"):
            store.append([HistoryRecord("m", "s", dt.datetime(2025, 1, 1), 1)])
        with pytest.raises(ValueError, match="timezone-aware"):
            store.query("m", "s", start=dt.datetime(2025, 1, 1))
        assert store.count() == 0


def test_a_batch_is_all_or_nothing(store: HistoryStore) -> None:
    with store:
        good = HistoryRecord("m", "s", T0, 1.0)
        with pytest.raises(TypeError, match="cannot store a list"):
            store.append([good, HistoryRecord("m", "s", T0, [1])])  # type: ignore[arg-type]
        assert store.count() == 0
        assert store.append([]) == 0
        assert store.append(iter([good, good._replace(time=at(1))])) == 2
        assert store.count() == 2


def values(rows: list[HistoryRow]) -> list[HistoryValue]:
    return [r.value for r in rows]


def test_query_range_limit_and_order(store: HistoryStore) -> None:
    with store:
        store.append(HistoryRecord("m", "s", at(n), n) for n in range(10))
        store.append([HistoryRecord("m", "other", at(3), 99), HistoryRecord("x", "s", at(3), 98)])
        assert values(store.query("m", "s")) == list(range(10))
        assert values(store.query("m", "s", start=at(3))) == list(range(3, 10))
        assert values(store.query("m", "s", end=at(3))) == [0, 1, 2]
        assert values(store.query("m", "s", at(2), at(5))) == [2, 3, 4]
        assert values(store.query("m", "s", limit=3)) == [0, 1, 2]
        assert values(store.query("m", "s", limit=3, newest_first=True)) == [9, 8, 7]
        assert values(store.query("m", "s", end=at(5), limit=2, newest_first=True)) == [4, 3]
        assert values(store.query("m", "s", limit=0)) == []
        assert store.query("m", "nope") == []
        assert store.series() == [("m", "other"), ("m", "s"), ("x", "s")]
        assert store.has_series("m", "s")
        assert not store.has_series("m", "nope")
        with pytest.raises(ValueError, match="negative"):
            store.query("m", "s", limit=-1)


def test_one_value_per_signal_and_time_the_first_stays(store: HistoryStore) -> None:
    with store:
        written = store.append(
            [HistoryRecord("m", "s", T0, "first"), HistoryRecord("m", "s", T0, "second")]
        )
        assert written == 1
        assert store.append([HistoryRecord("m", "s", T0, "third", quality=Quality.BACKFILLED)]) == 0
        assert store.append([HistoryRecord("m", "other", T0, "own series")]) == 1
        assert [r.value for r in store.query("m", "s")] == ["first"]
        assert store.query("m", "s")[0].quality is Quality.VALID
        assert store.count() == 2


def test_data_survives_reopening_and_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "dir" / "h.sqlite"
    with HistoryStore(path, synchronous="FULL") as store:
        store.append([HistoryRecord("m", "s", T0, 1.5, "kWh")])
    with HistoryStore(path, create=False) as store:
        assert store.query("m", "s") == [HistoryRow(T0, 1.5, "kWh", Quality.VALID)]
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
    finally:
        conn.close()


def test_open_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no history database at"):
        HistoryStore(tmp_path / "missing.sqlite", create=False)
    assert not (tmp_path / "missing.sqlite").exists()
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not a database, just some bytes" * 100)
    with pytest.raises(ConfigError, match="not a usable history database"):
        HistoryStore(junk)
    newer = tmp_path / "newer.sqlite"
    conn = sqlite3.connect(newer)
    conn.execute("PRAGMA user_version = 7")
    conn.close()
    with pytest.raises(ConfigError, match="schema 7"):
        HistoryStore(newer)
    with pytest.raises(ConfigError, match="synchronous"):
        HistoryStore(tmp_path / "x.sqlite", synchronous="OFF")  # type: ignore[arg-type]


def test_concurrent_appends_from_threads(store: HistoryStore) -> None:
    barrier = threading.Barrier(4)

    def worker(index: int) -> None:
        barrier.wait()
        for batch in range(20):
            store.append(
                HistoryRecord(f"m{index}", "s", at(batch * 10 + i), batch * 10 + i)
                for i in range(10)
            )

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with store:
        for index in range(4):
            assert [r.value for r in store.query(f"m{index}", "s")] == list(range(200))


async def test_usable_from_asyncio_through_a_thread(store: HistoryStore) -> None:
    records = [HistoryRecord("m", "s", at(n), n) for n in range(100)]
    written = await asyncio.gather(
        *(asyncio.to_thread(store.append, records[i : i + 10]) for i in range(0, 100, 10))
    )
    assert sum(written) == 100
    rows = await asyncio.to_thread(store.query, "m", "s")
    assert sorted(r.value for r in rows) == list(range(100))  # type: ignore[type-var]
    await asyncio.to_thread(store.close)


def test_a_second_store_reads_while_the_first_writes(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    with HistoryStore(path) as writer, HistoryStore(path, create=False) as reader:
        writer.append([HistoryRecord("m", "s", T0, 1)])
        assert [r.value for r in reader.query("m", "s")] == [1]
        writer.append([HistoryRecord("m", "s", at(1), 2)])
        assert [r.value for r in reader.query("m", "s")] == [1, 2]


@pytest.mark.parametrize(("batch", "reports"), [(1, 3), (500, 2), (50, 40)])
def test_survives_sigkill_at_any_moment(tmp_path: Path, batch: int, reports: int) -> None:
    """A writer is killed while appending: the file is intact and holds every reported commit."""
    path = tmp_path / "h.sqlite"
    proc = subprocess.Popen(
        [sys.executable, str(WRITER), str(path), str(batch)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        committed = 0
        for _ in range(reports):
            line = proc.stdout.readline()
            assert line, "the writer stopped before reporting"
            committed = int(line)
        os.kill(proc.pid, signal.SIGKILL)
        # Reports already in the pipe were committed before the kill too.
        for line in proc.stdout.read().split():
            committed = int(line)
    finally:
        proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    assert committed >= batch * reports

    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        conn.close()
    with HistoryStore(path, create=False) as store:
        rows = store.query("dev", "sig")
        assert len(rows) >= committed
        assert len(rows) % batch == 0  # whole batches only, never a part of one
        assert [r.value for r in rows] == [float(n) for n in range(len(rows))]
        assert [r.time for r in rows[:committed]] == [
            dt.datetime(2025, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=n)
            for n in range(committed)
        ]
        # and the store is still writable after the crash
        store.append([HistoryRecord("dev", "sig", T0, -1.0)])
        assert store.count() == len(rows) + 1


def test_reading_a_foreign_database_changes_nothing(tmp_path: Path) -> None:
    foreign = tmp_path / "other.sqlite"
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE notes (t TEXT)")
    conn.commit()
    conn.close()
    with pytest.raises(ConfigError, match="not an obisgate history database"):
        HistoryStore(foreign, create=False)
    conn = sqlite3.connect(foreign)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master")]
        assert tables == ["notes"]
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    finally:
        conn.close()


def test_series_created_together_get_ids_in_device_and_signal_order(
    store: HistoryStore, tmp_path: Path
) -> None:
    # One batch creates many series: ids follow (device, signal), not the set's hash
    # order, so a device's signals (and neighbouring devices) share index pages.
    keys = [(f"m{d:03}", s) for d in range(200) for s in ("voltage", "energy", "power")]
    store.append(HistoryRecord(device, signal, T0, 1.0) for device, signal in reversed(keys))
    store.close()
    with sqlite3.connect(tmp_path / "h.sqlite") as conn:
        by_id = conn.execute("SELECT device, signal FROM series ORDER BY id").fetchall()
    assert by_id == sorted(keys)
