"""Honest history failures: read-only at start is a configuration error (a read-only file or
folder, checked as a user that permission bits bind), later failures log twice."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import pwd
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from obisgate import ObisgateError
from obisgate.errors import ConfigError
from obisgate.gateway.history import HistoryRecord, HistoryStore, HistoryWriteError
from obisgate.gateway.outputs import HistoryOutput
from obisgate.gateway.quality import Quality
from obisgate.gateway.updates import SignalUpdate

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class ReadOnlyHistory:
    """A history file (and a configuration logging into it) that may not be written.

    Root ignores permission bits, so as root the check runs as ``user`` (``nobody``),
    who owns the files; a user that is not root (a CI runner) is refused by the bits
    alone (``user`` is ``None``). No ``chattr`` and no mount: works in containers.
    """

    path: Path
    config: Path
    user: pwd.struct_passwd | None

    @contextlib.contextmanager
    def acting(self) -> Iterator[None]:
        """In-process: with the effective user and group of :attr:`user`, if any."""
        if self.user is None:
            yield
            return
        groups = os.getgroups()
        os.setgroups([])
        os.setegid(self.user.pw_gid)
        os.seteuid(self.user.pw_uid)
        try:
            yield
        finally:
            os.seteuid(0)
            os.setegid(0)
            os.setgroups(groups)

    def command(self, *args: str) -> list[str]:
        """``obisgate ARGS`` in a new process, as :attr:`user` if any.

        The interpreter may live where that user cannot reach (``/root``), so the
        process starts as root, imports the command line, then gives up root for good.
        """
        drop = ""
        if self.user is not None:
            drop = (
                f"os.setgroups([]); os.setgid({self.user.pw_gid}); os.setuid({self.user.pw_uid}); "
            )
        program = f"import os; from obisgate.cli import main; {drop}main()"
        return [sys.executable, "-c", program, *args]


@pytest.fixture(params=["file", "folder"])
def read_only(request: pytest.FixtureRequest) -> Iterator[ReadOnlyHistory]:
    """A history file of mode 0444; with ``folder`` its folder is 0555 too (as on a
    read-only mount, where SQLite cannot even create the WAL's -shm file)."""
    user = None
    if os.geteuid() == 0:
        try:
            user = pwd.getpwnam("nobody")
        except KeyError:
            message = "no user nobody to check permissions as (root ignores them)"
            if os.environ.get("CI"):
                pytest.fail(message)
            pytest.skip(message)
    folder = Path(tempfile.mkdtemp(prefix="obisgate-ro-"))  # in /tmp: reachable by nobody
    path = folder / "history.sqlite"
    HistoryStore(path).close()
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    config = folder / "gw.toml"
    config.write_text(
        f'[storage]\npath = "{path}"\n'
        '[[devices]]\ndevice_alias = "m"\nurl = "tcp://127.0.0.1:1"\n'
        '[[signals]]\ndevice_alias = "m"\nsignal_alias = "e"\ntag_job_todo = "1.8.0"\n'
        'number_type = "FLOAT"\nlog = 1\n',
        encoding="utf-8",
    )
    if user is not None:
        for item in (folder, path, config):
            os.chown(item, user.pw_uid, user.pw_gid)
    path.chmod(0o444)
    if request.param == "folder":
        folder.chmod(0o555)
    try:
        yield ReadOnlyHistory(path, config, user)
    finally:
        folder.chmod(0o755)
        shutil.rmtree(folder)


def test_read_only_history_file_is_a_configuration_error(read_only: ReadOnlyHistory) -> None:
    before = read_only.path.read_bytes()
    with read_only.acting(), pytest.raises(ConfigError) as caught:
        HistoryStore(read_only.path)
    assert str(caught.value).startswith(f"cannot write the history database {read_only.path}: ")
    assert "readonly" in str(caught.value)
    assert read_only.path.read_bytes() == before


def test_run_exits_2_with_one_line_for_a_read_only_history(
    read_only: ReadOnlyHistory, request: pytest.FixtureRequest
) -> None:
    """``run`` refuses it before anything starts, and ``check`` says the same."""
    if request.node.callspec.params["read_only"] == "folder":
        why = f"the folder {read_only.path.parent} is read-only (SQLite writes its journal beside the file)"
    else:
        why = "the file is read-only"
    message = f"[storage] path {read_only.path}: {why}"
    done = subprocess.run(
        read_only.command("run", str(read_only.config), "--format", "none"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [f"obisgate: error: {message}"]
    checked = subprocess.run(
        read_only.command("check", str(read_only.config)),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert checked.returncode == 1
    assert checked.stderr.splitlines()[0] == f"{read_only.config}: {message}"


def update(value: float) -> SignalUpdate:
    """A logged reading of ``value``, read ``value`` seconds after T0 (one per time)."""
    return SignalUpdate(
        "m", "e", value, "kWh", T0 + dt.timedelta(seconds=value), Quality.VALID, None, True
    )


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
