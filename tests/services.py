"""Real programs the integration tests run: found on the machine, started on a free
loopback port, stopped by PID; and the optional libraries some tests need.

``scripts/system-packages`` (called by ``scripts/test``) installs the programs from
Debian, ``scripts/bootstrap dev`` the libraries (every extra of ``all`` and the test
group). When one is missing the test is skipped with the reason, except under CI (``CI``
set), where a missing program or library is a failure: CI must run everything.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import IO

import pytest

__all__ = [
    "SAVE_EVERY_CHANGE",
    "Mosquitto",
    "Postgres",
    "find_program",
    "free_port",
    "require_module",
    "running_mosquitto",
    "running_postgres",
    "wait_for_port",
]

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


def require_module(name: str, why: str) -> ModuleType:
    """``import name`` for a test that needs an optional library; skip or fail when missing.

    Usable at module level. Only a missing ``name`` (or its parent package) skips; a
    library that is installed but fails to import raises as usual. obisgate's own
    modules are always there: import them plainly.
    """
    if name == "obisgate" or name.startswith("obisgate."):
        raise ValueError(f"{name} is part of obisgate: import it plainly")
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is None or not (name == exc.name or name.startswith(exc.name + ".")):
            raise
        message = f"{name} is not installed ({why}; scripts/bootstrap dev installs it)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message, allow_module_level=True)


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


def owns_listener(pid: int, port: int) -> bool:
    """Whether process ``pid`` itself holds a listening TCP socket on ``port`` (Linux
    ``/proc``): a connection that succeeds may reach another program that took the
    port between ``free_port()`` and the server's start."""
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text(encoding="ascii").splitlines()[1:]:
                fields = line.split()
                listening = fields[3] == "0A"
                if (
                    listening
                    and int(fields[1].rsplit(":", 1)[1], 16) == port
                    and fields[9] in inodes
                ):
                    return True
    return False


def wait_until_owned(process: subprocess.Popen[bytes], port: int, deadline_s: float = 10.0) -> bool:
    """Wait until ``process`` holds the listener on ``port``: ``True``; ``False`` when it
    exits first or the deadline passes (another program has the port)."""
    end = time.monotonic() + deadline_s
    while not owns_listener(process.pid, port):
        if process.poll() is not None or time.monotonic() > end:
            return False
        time.sleep(0.02)  # polling a process's sockets; not a test wait
    return True


#: mosquitto saves its sessions and queued messages only every ``autosave_interval``
#: (1800 s) and at a clean stop, so a ``kill -9`` loses what came since. The sink path
#: needs it saved at once (README, "History in PostgreSQL"); limits stay the defaults.
SAVE_EVERY_CHANGE = "autosave_on_changes true\nautosave_interval 1\n"


class Mosquitto:
    """A mosquitto broker on 127.0.0.1 with its own configuration and persistence folder.

    Its limits are mosquitto's defaults (``max_queued_messages`` 1000 per session,
    ``max_inflight_messages`` 20 ...), as a deployment that did not set them has:
    ``extra_config`` changes them where a test needs it (a benchmark's backlog).
    ``start()`` and ``stop()`` may be called again (a broker outage); the port and the
    persistence folder stay, so retained messages and sessions survive a clean
    restart (SIGTERM: the broker saves them first).
    """

    def __init__(self, folder: Path, *, port: int | None = None, extra_config: str = "") -> None:
        self.program = find_program("mosquitto", "mosquitto")
        self.folder = folder
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None
        folder.mkdir(parents=True, exist_ok=True)
        self.config = folder / "mosquitto.conf"
        self._extra_config = extra_config
        self._started = False
        self._write_config()

    def _write_config(self) -> None:
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence true\n"
            f"persistence_location {self.folder}/\n"
            f"log_dest file {self.folder}/mosquitto.log\n"
            # Started as root, mosquitto would switch to its own user, which cannot read or
            # write the test's private folder (persistence, log, password and TLS files).
            f"user {pwd.getpwuid(os.geteuid()).pw_name}\n" + self._extra_config,
            encoding="utf-8",
        )

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start the broker and wait until it accepts connections.

        ``free_port()`` only says a port was free when asked: when the broker exits at its
        first start (another test run took the port meanwhile) it moves to another free
        port; a restart keeps its port (clients hold it).

        Raises:
            RuntimeError: the broker exited or did not listen in time.
        """
        for attempt in range(3):
            self.process = subprocess.Popen(
                [self.program, "-c", str(self.config)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            with contextlib.suppress(RuntimeError):  # exited: the port was taken
                wait_for_port(self.port, process=self.process)
            if wait_until_owned(self.process, self.port):
                self._started = True
                return
            exited = self.process.poll()
            self.stop()
            if self._started or attempt == 2:
                why = "timed out" if exited is None else f"exited with {exited}"
                raise RuntimeError(
                    f"mosquitto did not listen on port {self.port} ({why}): see {self.folder}"
                )
            self.port = free_port()
            self._write_config()

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


def _postgres_bindir() -> Path:
    """Debian's versioned PostgreSQL bin folder (newest first); skip or fail when missing."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if found:
        return found[-1].parent
    program = find_program("initdb", "postgresql")
    return Path(program).parent


class _PortTaken(RuntimeError):
    """Another process bound the port between ``free_port()`` and the server's start."""


class Postgres:
    """A PostgreSQL server on 127.0.0.1, initialised in a fresh temporary folder.

    As root the server runs as the ``postgres`` user (PostgreSQL refuses root):
    the folder is created under the system temporary folder and handed to that
    user. Local socket logins are trusted; TCP logins need :attr:`password`
    (SCRAM), so a wrong password can be tested. ``start()``/``stop()`` may be
    called again (an outage); ``stop()`` ends the server by PID (SIGINT = "fast"
    shutdown, SIGKILL for a crash); ``cleanup()`` also removes the folder.
    """

    password = "pg-test-Secret-7"

    def __init__(self, *, port: int | None = None) -> None:
        self.bindir = _postgres_bindir()
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.folder = Path(tempfile.mkdtemp(prefix="obisgate-pg-"))
        self.data = self.folder / "data"
        self._user: str | None = None
        self._started = False
        if os.geteuid() == 0:
            self._user = "postgres"
            shutil.chown(self.folder, user="postgres")
        pwfile = self.folder / "pw"
        pwfile.write_text(self.password + "\n", encoding="utf-8")
        if self._user:
            shutil.chown(pwfile, user="postgres")
        subprocess.run(
            [
                str(self.bindir / "initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                f"--pwfile={pwfile}",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            user=self._user,
            cwd=self.folder,
        )

    def dsn(self, *, password: str | None = None, database: str = "postgres") -> str:
        """``postgresql://postgres:PASSWORD@127.0.0.1:PORT/DATABASE``."""
        secret = self.password if password is None else password
        return f"postgresql://postgres:{secret}@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        """Start the server and wait until it accepts logins.

        ``free_port()`` only says a port was free when asked: another test run on the
        machine may take it before the server binds it. The first start then moves to
        another free port; a restart keeps its port (clients hold it) and fails.

        Raises:
            RuntimeError: the server exited or did not answer within 30 s (with the
                end of its log).
        """
        for attempt in range(3):
            try:
                self._start_once()
            except _PortTaken as exc:
                if self._started or attempt == 2:
                    raise RuntimeError(str(exc)) from None
                self.port = free_port()
                continue
            self._started = True
            return

    def _start_once(self) -> None:
        log_path = self.folder / "server.log"
        with log_path.open("ab") as log:
            self.process = self._spawn(log)
        if self._ready(self.process, time.monotonic() + 30):
            return
        tail = log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-5:]
        exited = self.process.poll() is not None
        if exited:
            self.process = None
        message = (
            f"PostgreSQL on port {self.port} did not become ready "
            f"({'exited' if exited else 'timed out'}): " + " | ".join(tail)
        )
        if exited and any("already in use" in line for line in tail):
            raise _PortTaken(message)
        raise RuntimeError(message)

    def _ready(self, process: subprocess.Popen[bytes], end: float) -> bool:
        """Whether ``process`` itself (not another server on its port) accepts logins
        before ``end``."""
        try:
            wait_for_port(self.port, process=process, deadline_s=end - time.monotonic())
        except RuntimeError:
            return False
        command = [str(self.bindir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)]
        while subprocess.run(command, check=False).returncode != 0:
            if time.monotonic() > end or process.poll() is not None:
                return False
            time.sleep(0.05)  # polling readiness; not a test wait
        return wait_until_owned(process, self.port, end - time.monotonic())

    def _spawn(self, log: IO[bytes]) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [
                str(self.bindir / "postgres"),
                "-D",
                str(self.data),
                "-c",
                "listen_addresses=127.0.0.1",
                "-p",
                str(self.port),
                "-k",
                str(self.folder),
                "-c",
                "fsync=off",
            ],
            stdout=subprocess.DEVNULL,
            stderr=log,
            user=self._user,
            cwd=self.folder,
        )

    def stop(self, sig: signal.Signals = signal.SIGINT) -> None:
        """Stop the server by PID (SIGINT: fast shutdown) and reap it."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def cleanup(self) -> None:
        """Stop the server and remove its folder."""
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


@contextmanager
def running_postgres() -> Iterator[Postgres]:
    """A started :class:`Postgres`, stopped and removed at the end."""
    server = Postgres()
    try:
        server.start()
        yield server
    finally:
        server.cleanup()
