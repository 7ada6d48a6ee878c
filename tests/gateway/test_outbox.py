"""The MQTT outbox: order, bound, sequence numbers across restarts, kill -9, foreign files."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from obisgate import ConfigError
from obisgate.gateway.outputs.outbox import AckedPrefix, Outbox, outbox_path


def message(i: int) -> tuple[str, bytes, int, bool]:
    return (f"t/{i}", f"p{i}".encode(), 1, i % 2 == 0)


def test_path_beside_the_history() -> None:
    got = outbox_path(Path("/var/lib/og/obisgate-history.sqlite"), "mqtt")
    assert got == Path("/var/lib/og/obisgate-history.mqtt-outbox.sqlite")


def test_append_read_delete_in_order(tmp_path: Path) -> None:
    with_path = tmp_path / "sub" / "o.sqlite"
    box = Outbox(with_path, max_rows=100)
    assert box.append([message(i) for i in range(5)]) == 0
    assert box.append([]) == 0
    rows = box.read(0, 3)
    assert [r.topic for r in rows] == ["t/0", "t/1", "t/2"]
    assert rows[0].payload == b"p0"
    assert (rows[0].qos, rows[0].retain, rows[1].retain) == (1, True, False)
    assert [r.topic for r in box.read(rows[-1].seq, 10)] == ["t/3", "t/4"]
    box.delete_through(rows[1].seq)
    assert box.depth == 3
    assert [r.topic for r in box.read(0, 10)] == ["t/2", "t/3", "t/4"]
    box.close()


def test_bound_drops_the_oldest(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite", max_rows=4)
    assert box.append([message(i) for i in range(3)]) == 0
    assert box.append([message(i) for i in range(3, 6)]) == 2
    assert box.depth == 4
    assert [r.topic for r in box.read(0, 10)] == ["t/2", "t/3", "t/4", "t/5"]
    box.close()


def test_sequence_numbers_grow_across_emptying_and_reopening(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    box = Outbox(path, max_rows=10)
    box.append([message(1), message(2)])
    last = box.read(0, 10)[-1].seq
    box.delete_through(last)
    box.close()
    again = Outbox(path, max_rows=10)
    assert again.depth == 0
    again.append([message(3)])
    (row,) = again.read(0, 10)
    assert row.seq > last
    again.close()


def test_foreign_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE samples (x)")
    conn.close()
    with pytest.raises(ConfigError, match="not an obisgate outbox"):
        Outbox(path, max_rows=10)
    text = tmp_path / "text.sqlite"
    text.write_text("hello, not a database" * 100, encoding="utf-8")
    with pytest.raises(ConfigError, match="cannot use the outbox"):
        Outbox(text, max_rows=10)


def test_full_disk_stores_nothing_of_the_batch(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite", max_rows=1_000_000)
    box.append([message(0)])
    pages = box._conn.execute("PRAGMA page_count").fetchone()[0]
    box._conn.execute(f"PRAGMA max_page_count = {pages}")  # the file may not grow: a full disk
    with pytest.raises(sqlite3.OperationalError, match="full"):
        box.append([("t/big", b"x" * 100_000, 1, False)])
    assert box.depth == 1
    assert [r.topic for r in box.read(0, 10)] == ["t/0"]
    box.close()


WRITER = textwrap.dedent(
    """
    import sys
    from obisgate.gateway.outputs.outbox import Outbox
    box = Outbox(sys.argv[1], max_rows=1_000_000)
    i = 0
    while True:
        box.append([(f"t/{i}/{j}", b"x" * 50, 1, False) for j in range(20)])
        i += 1
        print(i, flush=True)
    """
)


def test_kill_9_keeps_every_committed_batch(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    committed = 0
    while committed < 200:
        committed = int(child.stdout.readline())
    child.send_signal(signal.SIGKILL)
    child.wait()
    child.stdout.close()
    box = Outbox(path, max_rows=1_000_000)
    rows = box.read(0, 1_000_000)
    assert len(rows) >= committed * 20
    assert len(rows) % 20 == 0  # whole batches only
    seqs = [r.seq for r in rows]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # no gaps
    assert rows[0].topic == "t/0/0"
    box.close()


def test_acknowledged_prefix_never_skips_an_unacknowledged_row() -> None:
    window = AckedPrefix()
    for seq in (3, 4, 7, 8):
        window.sent(seq)
    assert window.ack(4) is None  # 3 is still in flight
    assert window.ack(7) is None
    assert window.ack(3) == 7
    assert len(window) == 1
    assert window.ack(8) == 8
    assert len(window) == 0
