"""``obisgate run --workers N``: a supervisor restarts a dead worker and stops all on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from obisgate.cli.workers import available_cpus, worker_count
from tests.scale.configs import tcp_config
from tests.services import free_port


def children(pid: int) -> set[int]:
    """The supervisor's workers: its children running ``--shard`` (not the forked
    children that check and write the parts before the workers start)."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    found = {int(x) for x in path.read_text().split()} if path.exists() else set()
    return {child for child in found if _is_worker(child)}


def _is_worker(pid: int) -> bool:
    try:
        return b"--shard" in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False


def two_children(pid: int, without: int = 0) -> set[int] | None:
    found = children(pid)
    return found if len(found) == 2 and without not in found else None


def wait_for(condition, deadline_s: float = 30.0):
    end = time.monotonic() + deadline_s
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < end, "condition not met before the deadline"
        time.sleep(0.05)  # polling a process table; not a fixed wait


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "Z" not in _state(pid)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1].split()[0]
    except (OSError, IndexError):
        return "Z"


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
def test_dead_worker_restarts_and_sigterm_stops_all(tmp_path: Path) -> None:
    config = tmp_path / "gw.toml"
    config.write_text(tcp_config([free_port() for _ in range(6)], [1] * 6), encoding="utf-8")
    supervisor = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "obisgate",
            "run",
            str(config),
            "--workers",
            "2",
            "--format",
            "none",
        ],
        stderr=subprocess.PIPE,
    )
    try:
        first = wait_for(lambda: two_children(supervisor.pid))
        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        second = wait_for(lambda: two_children(supervisor.pid, without=victim))
        assert len(second & first) == 1  # the other worker kept running
        supervisor.send_signal(signal.SIGTERM)
        _, err = supervisor.communicate(timeout=30)
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
            supervisor.communicate()
    assert supervisor.returncode == 0
    assert not any(alive(pid) for pid in first | second)
    assert b"worker 0" in err or b"worker 1" in err  # the restart is logged as a warning


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
def test_workers_end_when_the_supervisor_is_killed(tmp_path: Path) -> None:
    """kill -9 of the supervisor: no SIGTERM reaches the workers, yet they stop instead of
    polling on as orphans."""
    config = tmp_path / "gw.toml"
    config.write_text(
        tcp_config([free_port() for _ in range(6)], [1] * 6, log=True), encoding="utf-8"
    )
    supervisor = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "obisgate",
            "run",
            str(config),
            "--workers",
            "2",
            "--format",
            "none",
            "-v",
        ],
        stderr=subprocess.PIPE,
    )
    workers: set[int] = set()
    try:
        workers = wait_for(lambda: two_children(supervisor.pid))
        # both workers got as far as polling (their stop then goes through the gateway)
        wait_for(lambda: all(_polling(pid) for pid in workers))
        supervisor.send_signal(signal.SIGKILL)
        supervisor.wait()
        wait_for(lambda: not any(alive(pid) for pid in workers))
    finally:
        for pid in workers:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        if supervisor.poll() is None:
            supervisor.kill()
        supervisor.communicate()


def _polling(pid: int) -> bool:
    """The worker has opened its history file (the gateway is built and runs)."""
    try:
        return any("obisgate-history" in os.readlink(f) for f in Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return False


def test_worker_count() -> None:
    assert worker_count("3", cpus=2) == 3
    assert worker_count("auto", cpus=3) == 3
    assert worker_count(" AUTO ", cpus=1) == 1
    assert worker_count("auto") == available_cpus()
    assert worker_count("4", cpus=2) == 4
    for bad in ("0", "x", "-2"):
        with pytest.raises(ValueError, match="a positive number or auto"):
            worker_count(bad)


def test_more_workers_than_twice_the_cpus_needs_force() -> None:
    with pytest.raises(ValueError, match=r"at most 4 on this machine .* --force runs more"):
        worker_count("5", cpus=2)
    assert worker_count("5", cpus=2, force=True) == 5
    assert worker_count("64", cpus=2, force=True) == 64


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--workers", str(2 * available_cpus() + 1)],
            f"--workers '{2 * available_cpus() + 1}': at most {2 * available_cpus()} on this "
            f"machine (twice its {available_cpus()} CPUs; more workers than that only compete "
            "for them); --force runs more",
        ),
        (["--force"], "--force goes with --workers"),
    ],
)
def test_too_many_workers_is_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    config = tmp_path / "gw.toml"
    config.write_text(tcp_config([free_port()], [1]), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "obisgate", "run", str(config), *args],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == f"obisgate: error: {message}"


def test_bad_workers_is_one_line(tmp_path: Path) -> None:
    config = tmp_path / "gw.toml"
    config.write_text(tcp_config([free_port()], [1]), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "obisgate", "run", str(config), "--workers", "zero"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == "obisgate: error: --workers 'zero': expected a positive number or auto"
    )
