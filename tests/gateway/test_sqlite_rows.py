"""Multi-row inserts: every row stored once, in order, whatever the count and the
connection's variable limit; the history's series created in bulk get the right ids."""

from __future__ import annotations

import itertools
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from obisgate.gateway.history import HistoryRecord, HistoryStore
from obisgate.gateway.sqlite_rows import MAX_CHUNK, chunks, insert_rows


@pytest.mark.parametrize("count", [0, 1, 2, 3, 511, 512, 513, 1000, 2 * MAX_CHUNK + 7])
@pytest.mark.parametrize("variables", [7, 999, 32766])
def test_insert_rows_stores_every_row_in_order(count: int, variables: int) -> None:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, variables)
    conn.execute("CREATE TABLE t (k INTEGER PRIMARY KEY AUTOINCREMENT, a, b, c)")
    rows = [(n, f"x{n}", n / 2) for n in range(count)]
    assert insert_rows(conn, "INSERT INTO t (a, b, c)", rows, 3) == count
    assert conn.execute("SELECT a, b, c FROM t ORDER BY k").fetchall() == rows


def test_chunks_are_powers_of_two_within_the_limits() -> None:
    conn = sqlite3.connect(":memory:")
    conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 999)
    found = chunks(conn, 1000, 6)  # 999 // 6 = 166 rows at most: chunks of 128
    assert [end - start for start, end in found] == [128] * 7 + [64, 32, 8]
    assert found[0][0] == 0 and found[-1][1] == 1000
    assert all(a[1] == b[0] for a, b in itertools.pairwise(found))


def test_insert_or_ignore_counts_only_the_rows_inserted() -> None:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute("CREATE TABLE t (a PRIMARY KEY)")
    assert insert_rows(conn, "INSERT OR IGNORE INTO t (a)", [(1,), (2,), (1,), (3,)], 1) == 3


def test_series_created_in_bulk_keep_their_own_values(tmp_path: Path) -> None:
    t0 = datetime(2026, 12, 1, tzinfo=UTC)
    names = [f"m,{n}:x" for n in range(1500)]  # separators of the id lookup in names
    with HistoryStore(tmp_path / "h.sqlite") as store:
        assert store.append(HistoryRecord(name, "e", t0, float(n)) for n, name in enumerate(names))
        assert store.append(HistoryRecord(name, "p", t0, -float(n)) for n, name in enumerate(names))
        for n in (0, 1, 777, 1499):
            assert [r.value for r in store.query(names[n], "e")] == [float(n)]
            assert [r.value for r in store.query(names[n], "p")] == [-float(n)]
        assert store.count() == 3000
