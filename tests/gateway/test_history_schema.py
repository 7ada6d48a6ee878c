"""History schema 2: one value per signal and time, version 1 files migrated; gaps found."""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
from pathlib import Path

import pytest

from obisgate.gateway.history import HistoryGaps, HistoryRecord, HistoryStore
from obisgate.gateway.quality import Quality

T0 = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)
MICROS = 1_000_000

#: The schema obisgate wrote before version 2 (no unique key), as it was.
VERSION_1 = """
CREATE TABLE series (id INTEGER PRIMARY KEY, device TEXT NOT NULL, signal TEXT NOT NULL,
                     UNIQUE (device, signal));
CREATE TABLE samples (series INTEGER NOT NULL REFERENCES series(id), ts INTEGER NOT NULL,
                      kind INTEGER NOT NULL, value, unit TEXT, quality INTEGER NOT NULL);
CREATE INDEX samples_series_ts ON samples (series, ts);
PRAGMA user_version = 1;
"""


def at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def micros(moment: dt.datetime) -> int:
    return int(moment.timestamp() * MICROS)


def version_1_file(path: Path) -> None:
    """A version 1 history: meter m / energy with a value stored twice at 10:00 (a replay)
    and once at 10:01, and m / power once at 10:00."""
    conn = sqlite3.connect(path)
    conn.executescript(VERSION_1)
    conn.executemany("INSERT INTO series (id, device, signal) VALUES (?, ?, ?)",
                     [(1, "m", "energy"), (2, "m", "power")])  # fmt: skip
    conn.executemany(
        "INSERT INTO samples VALUES (?, ?, 2, ?, 'kWh', 0)",
        [
            (1, micros(at(0)), 1.5),
            (1, micros(at(0)), 9.9),  # the duplicate: the second stored goes
            (1, micros(at(1)), 1.6),
            (2, micros(at(0)), 0.4),
        ],
    )
    conn.commit()
    conn.close()


def test_a_version_1_file_is_migrated_once_keeping_the_first_value(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "old.sqlite"
    version_1_file(path)
    with HistoryStore(path, create=False) as reader:  # a reader changes nothing
        assert [r.value for r in reader.query("m", "energy")] == [1.5, 9.9, 1.6]
    caplog.set_level(logging.INFO, logger="obisgate.gateway.history")
    with HistoryStore(path) as store:
        assert [r.value for r in store.query("m", "energy")] == [1.5, 1.6]
        assert [r.value for r in store.query("m", "power")] == [0.4]
        # From now on a signal has one value per time.
        assert store.append([HistoryRecord("m", "energy", at(1), 7.0)]) == 0
        assert store.append([HistoryRecord("m", "energy", at(2), 1.7)]) == 1
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [f"history {path}: schema 1 -> 2 (one value per signal and time); "
                        "1 duplicate values removed"]  # fmt: skip
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
        (sql,) = conn.execute(
            "SELECT sql FROM sqlite_master WHERE name = 'samples_series_ts'"
        ).fetchone()
        assert sql.startswith("CREATE UNIQUE INDEX")
    finally:
        conn.close()
    caplog.clear()
    with HistoryStore(path) as store:  # opened again: nothing left to migrate
        assert store.count() == 4
    assert caplog.records == []


def test_a_new_file_has_the_unique_key_from_the_start(tmp_path: Path) -> None:
    with HistoryStore(tmp_path / "new.sqlite") as store:
        store.append([HistoryRecord("m", "e", T0, 1.0, quality=Quality.BACKFILLED)])
        assert store.append([HistoryRecord("m", "e", T0, 2.0)]) == 0
        assert store.query("m", "e")[0].quality is Quality.BACKFILLED


def records(signal: str, *minutes: float) -> list[HistoryRecord]:
    return [HistoryRecord("m", signal, at(m), m) for m in minutes]


def test_gaps_are_long_steps_between_stored_times_of_any_of_the_signals(tmp_path: Path) -> None:
    with HistoryStore(tmp_path / "h.sqlite") as store:
        # Polls every minute, a hole 10:05-10:40, power alone at 10:50 and 11:00:
        # together a hole 10:41-10:50 is none (9 min), 11:00-11:30 is one.
        store.append(records("energy", 0, 1, 2, 3, 4, 5, 40, 41, 90))
        store.append(records("power", 0, 50, 60))
        store.append(records("other", 20, 30))  # not asked for
        store.append([HistoryRecord("x", "energy", at(70), 1)])  # another device
        found = store.gaps(
            "m", ["energy", "power"], since=at(-60), longer_than=dt.timedelta(minutes=15)
        )
        assert found == HistoryGaps(at(90), [(at(5), at(40)), (at(60), at(90))])
        # Holes ending before `since` are left out; one across it is found whole.
        found = store.gaps("m", ["energy"], since=at(30), longer_than=dt.timedelta(minutes=15))
        assert found == HistoryGaps(at(90), [(at(5), at(40)), (at(41), at(90))])
        assert store.gaps(
            "m", ["energy"], since=at(95), longer_than=dt.timedelta(minutes=15)
        ) == HistoryGaps(at(90), [])
        assert store.gaps(
            "m", ["nothing"], since=at(0), longer_than=dt.timedelta(minutes=15)
        ) == HistoryGaps(None, [])
