"""Insert many rows with few SQLite statements: multi-row ``VALUES`` in chunks.

Why: ``executemany`` steps the statement once per row, and Python's ``sqlite3``
gives up the GIL around every step and must win it back, on a writer thread
beside a busy event loop from that loop. :func:`insert_rows` binds a chunk of
rows to one ``INSERT ... VALUES (?, ...), (?, ...), ...`` and steps it once: a few
GIL hand-overs per transaction instead of one per row, and less CPU per append
(``bench/bench_store_saturation.py``: 768 history rows 2.2 instead of 2.8 ms,
768 outbox rows 1.1-1.4 instead of 1.9 ms).

Chunks are powers of two (at most :data:`MAX_CHUNK` rows, fewer when SQLite's
variable limit is lower), so a connection's statement cache holds at most a
dozen distinct statements per table however the row counts vary.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

__all__ = ["MAX_CHUNK", "chunks", "insert_rows", "value_rows"]

#: Most rows bound to one statement.
MAX_CHUNK = 512


def insert_rows(
    conn: sqlite3.Connection, head: str, rows: Sequence[Sequence[object]], width: int
) -> int:
    """Run ``head`` (``"INSERT [OR IGNORE] INTO t (a, b)"``) for every row, in order.

    Each row has ``width`` values. The caller holds the transaction (this opens
    none), so the rows are stored all or none with it.

    Returns:
        The rows inserted (an ``OR IGNORE`` row left out is not counted).

    Raises:
        sqlite3.Error: as ``executemany`` would (the rows before may be inserted:
            roll the transaction back).
    """
    before = conn.total_changes
    for start, end in chunks(conn, len(rows), width):
        values = [value for row in rows[start:end] for value in row]
        conn.execute(f"{head} VALUES {value_rows(width, end - start)}", values)
    return conn.total_changes - before


def chunks(conn: sqlite3.Connection, count: int, width: int) -> list[tuple[int, int]]:
    """``(start, end)`` of each chunk of ``count`` rows of ``width`` parameters: powers of
    two, largest first, each within :data:`MAX_CHUNK` and the connection's variable limit."""
    limit = conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // width
    chunk = MAX_CHUNK
    while chunk > 1 and chunk > limit:
        chunk //= 2
    found: list[tuple[int, int]] = []
    start = 0
    while start < count:
        while chunk > count - start:
            chunk //= 2
        found.append((start, start + chunk))
        start += chunk
    return found


_VALUES: dict[tuple[int, int], str] = {}


def value_rows(width: int, count: int) -> str:
    """``(?, ?), (?, ?), ...``: ``count`` rows of ``width`` parameters (built once per shape)."""
    key = (width, count)
    text = _VALUES.get(key)
    if text is None:
        row = "(" + ", ".join("?" * width) + ")"
        text = _VALUES[key] = ", ".join([row] * count)
    return text
