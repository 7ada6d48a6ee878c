"""Real programs the integration tests run: found on the machine, started on a free
loopback port, stopped by PID.

``scripts/system-packages`` (called by ``scripts/test``) installs them from Debian.
When one is missing the test is skipped with the reason, except under CI (``CI`` set),
where a missing program is a failure: CI must run everything.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

__all__ = ["Mosquitto", "find_program", "free_port", "running_mosquitto", "wait_for_port"]

_SBIN = ("/usr/sbin", "/sbin", "/usr/local/sbin")


def find_program(name: str, package: str) -> str:
    """The path of ``name`` (PATH, then the sbin folders); skip or fail when missing."""
    found = shutil.which(name) or shutil.which(name, path=os.pathsep.join(_SBIN))
    if found:
        return found
    message = f"{name} is not installed (Debian package {package}; scripts/system-packages)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(
    port: int, *, deadline_s: float = 10.0, process: subprocess.Popen[bytes] | None = None
) -> None:
    """Return once 127.0.0.1:``port`` accepts connections.

    Raises:
        RuntimeError: the deadline passed, or ``process`` exited first.
    """
    end = time.monotonic() + deadline_s
    while True:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            if time.monotonic() > end:
                raise RuntimeError(f"nothing listens on 127.0.0.1:{port}") from None
            time.sleep(0.02)  # polling a socket that is not there yet; not a test wait


class Mosquitto:
    """A mosquitto broker on 127.0.0.1 with its own configuration and persistence folder.

    ``start()`` and ``stop()`` may be called again (a broker outage); the port and the
    persistence folder stay, so retained messages and sessions survive a restart.
    """

    def __init__(self, folder: Path, *, port: int | None = None, extra_config: str = "") -> None:
        self.program = find_program("mosquitto", "mosquitto")
        self.folder = folder
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None
        folder.mkdir(parents=True, exist_ok=True)
        self.config = folder / "mosquitto.conf"
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence true\n"
            f"persistence_location {folder}/\n"
            f"log_dest file {folder}/mosquitto.log\n"
            "max_queued_messages 0\n"
            # Started as root, mosquitto would switch to its own user, which cannot read or
            # write the test's private folder (persistence, log, password and TLS files).
            f"user {pwd.getpwuid(os.geteuid()).pw_name}\n" + extra_config,
            encoding="utf-8",
        )

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start the broker and wait until it accepts connections."""
        self.process = subprocess.Popen(
            [self.program, "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port, process=self.process)

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        """Stop the broker by PID (SIGKILL for a crash) and reap it."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


@contextmanager
def running_mosquitto(folder: Path) -> Iterator[Mosquitto]:
    """A started :class:`Mosquitto`, stopped at the end."""
    broker = Mosquitto(folder)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
