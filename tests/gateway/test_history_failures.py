"""Honest history failures: read-only at start is a configuration error, later failures log twice."""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from obisgate import ObisgateError
from obisgate.errors import ConfigError
from obisgate.gateway.history import HistoryRecord, HistoryStore, HistoryWriteError
from obisgate.gateway.outputs import HistoryOutput
from obisgate.gateway.quality import Quality
from obisgate.gateway.updates import SignalUpdate

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@pytest.fixture
def immutable(tmp_path: Path) -> Iterator[Path]:
    """A history file that nobody, not even root, may write (chattr +i)."""
    path = tmp_path / "history.sqlite"
    HistoryStore(path).close()
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    made = subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False)
    if made.returncode != 0:
        pytest.skip("chattr +i is not available here")
    try:
        yield path
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=False)


def test_read_only_history_file_is_a_configuration_error(immutable: Path) -> None:
    with pytest.raises(ConfigError, match="cannot write the history database"):
        HistoryStore(immutable)


def test_run_exits_2_with_one_line_for_a_read_only_history(immutable: Path, tmp_path: Path) -> None:
    config = tmp_path / "gw.toml"
    config.write_text(
        f'[storage]\npath = "{immutable}"\n'
        '[[devices]]\ndevice_alias = "m"\nurl = "tcp://127.0.0.1:1"\n'
        '[[signals]]\ndevice_alias = "m"\nsignal_alias = "e"\ntag_job_todo = "1.8.0"\n'
        'number_type = "FLOAT"\nlog = 1\n'
    )
    done = subprocess.run(
        [sys.executable, "-m", "obisgate", "run", str(config), "--format", "none"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    errors = [line for line in done.stderr.splitlines() if "error" in line]
    assert len(errors) == 1
    assert "history" in errors[0]
    assert "Traceback" not in done.stderr


def update(value: float) -> SignalUpdate:
    return SignalUpdate("m", "e", value, "kWh", T0, Quality.VALID, None, True)


def test_store_write_failure_is_an_obisgate_error(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    with HistoryStore(path, busy_timeout_s=0.01) as store:
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        try:
            with pytest.raises(HistoryWriteError) as caught:
                store.append([HistoryRecord("m", "e", T0, 1.0)])
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
    assert isinstance(caught.value, ObisgateError)
    assert "1 readings" in str(caught.value)


async def test_failing_writes_are_logged_once_when_they_start_and_once_when_they_end(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "h.sqlite"
    output = HistoryOutput(HistoryStore(path, busy_timeout_s=0.01))
    blocker = sqlite3.connect(path, isolation_level=None)
    with caplog.at_level(logging.WARNING, logger="obisgate"):
        await output.publish([update(1.0)])
        blocker.execute("BEGIN EXCLUSIVE")
        for value in (2.0, 3.0, 4.0):
            await output.publish([update(value)])
        assert output.not_stored == 3
        blocker.execute("ROLLBACK")
        await output.publish([update(5.0)])
        await output.aclose()
    blocker.close()
    history = [
        r for r in caplog.records if r.name.startswith("obisgate.gateway.outputs.history.output")
    ]
    assert [r.levelno for r in history] == [logging.ERROR, logging.WARNING]
    assert "3 readings were not stored" in history[1].getMessage()
    assert all(r.exc_info is None for r in caplog.records)  # never a traceback
    with HistoryStore(path, create=False) as store:
        assert [row.value for row in store.query("m", "e")] == [1.0, 5.0]


async def test_readouts_handed_over_together_are_stored_or_lost_together(
    tmp_path: Path,
) -> None:
    path = tmp_path / "h.sqlite"
    output = HistoryOutput(HistoryStore(path, busy_timeout_s=0.01))
    unlogged = SignalUpdate("m", "e", 99.0, "kWh", T0, Quality.VALID, None, False)
    blocker = sqlite3.connect(path, isolation_level=None)
    await output.publish_many([[update(1.0)], [update(2.0), unlogged], [update(3.0)]])
    blocker.execute("BEGIN EXCLUSIVE")
    await output.publish_many([[update(4.0)], [update(5.0)]])
    assert output.not_stored == 2  # the one transaction failed: both readouts counted
    blocker.execute("ROLLBACK")
    blocker.close()
    await output.aclose()
    with HistoryStore(path, create=False) as store:
        assert [row.value for row in store.query("m", "e")] == [1.0, 2.0, 3.0]
