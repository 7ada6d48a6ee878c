"""``obisgate run CONFIG --workers N|auto``: N shard processes under one supervisor, which
serves the configuration's servers (HTTP, Modbus, IEC 104, OPC UA) for all of them.

The supervisor builds only the outputs whose spec is ``shared`` and feeds them from a
:class:`~obisgate.gateway.relay.hub.RelayHub` on a Unix socket in a private temporary
folder; each worker (``obisgate run CONFIG --shard I/N``, told the socket through
:data:`~obisgate.gateway.relay.sender.RELAY_VARIABLE`) runs the other outputs itself
(history, MQTT, PostgreSQL, the printed updates) and streams its batches and counters
to the hub (:class:`~obisgate.gateway.relay.sender.RelayOutput`). Without a shared
output there is no hub, and the workers run as before. The supervisor loads and checks
the whole configuration once and hands each worker only its part
(:mod:`~obisgate.gateway.shard_parts`), in the same private folder.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from obisgate.cli.common import fail, run_async
from obisgate.errors import ConfigError
from obisgate.gateway.config import GatewayConfig
from obisgate.gateway.descriptors import quiet_accept_errors, raise_open_file_limit
from obisgate.gateway.history import history_files
from obisgate.gateway.outputs.base import Fanout, Output
from obisgate.gateway.outputs.context import OutputContext
from obisgate.gateway.outputs.factory import network_outputs
from obisgate.gateway.poller import ReadRequestError
from obisgate.gateway.relay.hub import RelayHub
from obisgate.gateway.relay.sender import RELAY_VARIABLE
from obisgate.gateway.shard_parts import PARTS_VARIABLE, write_parts
from obisgate.gateway.updates import SignalUpdate
from obisgate.supervisor import Supervisor

__all__ = ["available_cpus", "run_workers", "worker_count"]

_LOGGER = logging.getLogger("obisgate.workers")


def available_cpus() -> int:
    """The CPUs this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def worker_count(text: str, *, force: bool = False, cpus: int | None = None) -> int:
    """``auto`` (one per CPU) or a number from 1 to twice the CPUs (any number with ``force``).

    Raises:
        ValueError: anything else; the message says what is allowed.
    """
    cpus = cpus or available_cpus()
    if text.strip().lower() == "auto":
        return cpus
    try:
        count = int(text)
    except ValueError:
        raise ValueError("expected a positive number or auto") from None
    if count < 1:
        raise ValueError("expected a positive number or auto")
    if count > 2 * cpus and not force:
        raise ValueError(
            f"at most {2 * cpus} on this machine (twice its {cpus} CPUs; more workers than "
            "that only compete for them); --force runs more"
        )
    return count


def run_workers(
    config: GatewayConfig,
    config_path: str,
    workers: str,
    options: Sequence[str],
    *,
    force: bool = False,
    db: Path | None = None,
) -> None:
    """Run ``obisgate run CONFIG --shard i/N OPTIONS`` for i < N until SIGTERM/SIGINT.

    Exits 2 (one line) for a bad ``workers`` or a shared output that cannot be built
    (a missing extra); otherwise returns when every worker has ended by itself with
    status 0 (``--duration``) or after a stop signal.
    """
    try:
        count = worker_count(workers, force=force)
    except ValueError as exc:
        fail(f"--workers {workers!r}: {exc}", 2)
    commands = [
        [sys.executable, "-m", "obisgate", "run", config_path, "--shard", f"{i}/{count}", *options]
        for i in range(count)
    ]
    context = OutputContext(request_read=_read_in_a_worker)
    if config.logged_signals:
        base = db or config.storage.path
        context.history_files = lambda: history_files(base)
    try:
        servers = network_outputs(config, context, shared=True)
    except ConfigError as exc:
        fail(str(exc).replace("\n", "\n  "), 2)
    folder = Path(tempfile.mkdtemp(prefix="obisgate-workers-"))  # mode 0700: this user only
    try:
        try:
            write_parts(config, count, folder)  # each worker's devices, checked here once
        except OSError as exc:
            fail(str(exc), 1)
        del config  # the servers hold what they need of it
        _LOGGER.info("starting %d workers", count)
        run_async(lambda: supervise(commands, servers, context, folder))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _read_in_a_worker(alias: str) -> asyncio.Future[list[SignalUpdate]]:
    """The supervisor polls nothing: its API cannot queue a priority read (503)."""
    raise ReadRequestError(
        "with --workers the supervisor polls nothing: ask the worker over MQTT "
        f"(<prefix>/{alias}/read/set)",
        "stopped",
    )


async def supervise(
    commands: Sequence[Sequence[str]],
    servers: Sequence[Output],
    context: OutputContext,
    folder: Path,
) -> None:
    """Start the servers and the relay hub, run the workers until they end or a stop signal
    arrives, then stop the hub and the servers.

    ``folder`` (private to this user) holds the workers' parts (:data:`PARTS_VARIABLE`)
    and the relay's socket."""
    env = {PARTS_VARIABLE: str(folder)}
    if not servers:
        await Supervisor(commands, env=env).run()
        return
    path = folder / "relay.sock"
    fanout = Fanout(servers)
    supervisor = Supervisor(commands, env={**env, RELAY_VARIABLE: str(path)})
    hub = RelayHub(path, len(commands), fanout.publish, restarts=lambda: supervisor.restarts)
    hub.inform(context, fanout)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):  # until the supervisor takes them over
        loop.add_signal_handler(sig, supervisor.stop)
    raise_open_file_limit()
    restore = quiet_accept_errors(loop)
    try:
        await hub.start()
        await fanout.start()
        await supervisor.run()
    finally:
        await hub.aclose()
        await fanout.aclose()
        restore()
