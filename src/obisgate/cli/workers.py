"""``obisgate run CONFIG --workers N|auto``: N shard processes under one supervisor, which
serves the configuration's servers (HTTP, Modbus, IEC 104, OPC UA) for all of them.

The supervisor builds only the outputs whose spec is ``shared`` and feeds them from a
:class:`~obisgate.gateway.relay.hub.RelayHub` on a Unix socket in a private temporary
folder; each worker (``obisgate run CONFIG --shard I/N``, told the socket through
:data:`~obisgate.gateway.relay.sender.RELAY_VARIABLE`) runs the other outputs itself
(history, MQTT, PostgreSQL, the printed updates) and streams its batches and counters
to the hub (:class:`~obisgate.gateway.relay.sender.RelayOutput`). Without a shared
output there is no hub, and the workers run as before.

The supervisor checks the whole configuration once and hands each worker only its part
(:mod:`~obisgate.gateway.shard_parts`), in the same private folder. Without a shared
output it parses the file and has the parts checked in parallel, in forked children
(:mod:`~obisgate.gateway.config_parts`): it never validates a device itself. With one it
loads the whole file, as its servers serve every meter. A priority read asked of the
supervisor's API goes to the worker that polls the device, over the relay
(:meth:`~obisgate.gateway.relay.hub.RelayHub.request_read`), and that worker's read
figures come back with its counters.
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
from typing import Any

from obisgate.cli.common import fail, run_async
from obisgate.cli.load_messages import refuse, show_warnings
from obisgate.errors import ConfigError
from obisgate.gateway.config import GatewayConfig, read_config_tables
from obisgate.gateway.config_build import build_config
from obisgate.gateway.config_parts import check_parts, parts_apply
from obisgate.gateway.descriptors import quiet_accept_errors, raise_open_file_limit
from obisgate.gateway.history import history_files
from obisgate.gateway.outputs.base import Fanout, Output
from obisgate.gateway.outputs.context import OutputContext
from obisgate.gateway.outputs.factory import network_outputs
from obisgate.gateway.outputs.registry import OUTPUT_SPECS
from obisgate.gateway.outputs.spec import OutputSpec
from obisgate.gateway.preflight import readiness
from obisgate.gateway.relay.hub import RelayHub
from obisgate.gateway.relay.owners import Owners, device_owners
from obisgate.gateway.relay.sender import RELAY_VARIABLE
from obisgate.gateway.shard_parts import PARTS_VARIABLE, write_parts
from obisgate.gcpause import paused_gc
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
    config_path: str,
    workers: str,
    options: Sequence[str],
    *,
    force: bool = False,
    db: Path | None = None,
    specs: Sequence[OutputSpec[Any]] = OUTPUT_SPECS,
) -> None:
    """Check ``config_path``, then run ``obisgate run CONFIG --shard i/N OPTIONS`` for
    i < N until SIGTERM/SIGINT.

    Exits 2 (one line) for a bad ``workers``, 2 with every problem of the configuration
    (as ``run`` without workers), 2 for a shared output that cannot be built (a missing
    extra), 1 when a worker's part cannot be written; otherwise returns when every
    worker has ended by itself with status 0 (``--duration``) or after a stop signal.
    """
    try:
        count = worker_count(workers, force=force)
    except ValueError as exc:
        fail(f"--workers {workers!r}: {exc}", 2)
    commands = [
        [sys.executable, "-m", "obisgate", "run", config_path, "--shard", f"{i}/{count}", *options]
        for i in range(count)
    ]
    try:
        tables = read_config_tables(config_path, specs)
    except ConfigError as exc:
        fail(str(exc).replace("\n", "\n  "), 2)
    context = OutputContext()
    folder = Path(tempfile.mkdtemp(prefix="obisgate-workers-"))  # mode 0700: this user only
    try:
        if parts_apply(tables, specs):
            # No shared server: the parts are checked (and written) in parallel, and
            # this process never holds a validated device.
            try:
                report = check_parts(tables, specs, count, folder, db=db)
            except ConfigError as exc:
                fail(str(exc).replace("\n", "\n  "), 2)
            except OSError as exc:
                fail(str(exc), 1)
            del tables
            show_warnings(report.warnings)
            refuse(report.ready)
            servers: list[Output] = []
            owners = None  # no servers: no API to ask for a read
        else:
            try:
                with paused_gc():
                    config = build_config(tables, specs)
            except ConfigError as exc:
                fail(str(exc).replace("\n", "\n  "), 2)
            del tables
            show_warnings(config.warnings)
            refuse(readiness(config, db=db, workers=count, specs=specs))
            try:
                # Forks: before any server object exists. Each worker's devices, checked here.
                write_parts(config, count, folder)
            except OSError as exc:
                fail(str(exc), 1)
            servers = _servers(config, context, db)
            owners = device_owners(config, count) if servers else None
            del config  # the servers hold what they need of it
        _LOGGER.info("starting %d workers", count)
        run_async(lambda: supervise(commands, servers, context, folder, owners))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _servers(config: GatewayConfig, context: OutputContext, db: Path | None) -> list[Output]:
    """The shared servers of ``config``; exits 2 when one cannot be built."""
    if config.logged_signals:
        base = db or config.storage.path
        context.history_files = lambda: history_files(base)
    try:
        return network_outputs(config, context, shared=True)
    except ConfigError as exc:
        fail(str(exc).replace("\n", "\n  "), 2)


async def supervise(
    commands: Sequence[Sequence[str]],
    servers: Sequence[Output],
    context: OutputContext,
    folder: Path,
    owners: Owners | None = None,
) -> None:
    """Start the servers and the relay hub, run the workers until they end or a stop signal
    arrives, then stop the hub and the servers.

    ``folder`` (private to this user) holds the workers' parts (:data:`PARTS_VARIABLE`)
    and the relay's socket; ``owners`` says which worker a priority read goes to."""
    env = {PARTS_VARIABLE: str(folder)}
    if not servers:
        await Supervisor(commands, env=env).run()
        return
    path = folder / "relay.sock"
    fanout = Fanout(servers)
    supervisor = Supervisor(commands, env={**env, RELAY_VARIABLE: str(path)})
    owners = owners or Owners({}, frozenset())
    hub = RelayHub(
        path,
        len(commands),
        fanout.publish,
        restarts=lambda: supervisor.restarts,
        owners=owners.shards,
        push=owners.push,
    )
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
