"""What ``run`` refuses and ``check`` reports, decided in one place: :func:`readiness`.

A configuration can be valid (it loads) and still not run as written: a secret
in a variable that is not set, a file that cannot be read, a history file in a
folder that does not exist, an optional library that is not installed, one MQTT
client id shared by several workers. ``obisgate run`` used to find these one
at a time while starting (and then refused to start, or ran without the output
concerned); ``obisgate check`` did not look. Both now ask :func:`readiness`:
``run`` refuses to start with its problems, ``check`` fails with the same
lines. Its warnings (a device password that cannot be read: programming-mode
reads would fail) are shown by both, and ``check`` lists the outputs the
configuration turns on (:attr:`Readiness.outputs`).

Nothing here starts anything, connects anywhere or writes a file.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from obisgate.errors import ConfigError
from obisgate.gateway.config_models import DEFAULT_HISTORY_FILE, GatewayConfig
from obisgate.gateway.outputs.extras import missing_extra
from obisgate.gateway.outputs.registry import OUTPUT_SPECS
from obisgate.gateway.outputs.spec import OutputSpec
from obisgate.gateway.shard import Shard

__all__ = ["Readiness", "readiness", "storage_problems"]


@dataclass(frozen=True)
class Readiness:
    """Whether a configuration runs as written.

    Attributes:
        problems: one line each; ``run`` refuses to start, ``check`` fails.
        warnings: one line each; shown by both.
        outputs: ``(name, where)`` of every output the configuration turns on,
            besides the printed updates.
    """

    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    outputs: list[tuple[str, str]] = field(default_factory=list)


def storage_problems(path: Path, label: str = "[storage] path") -> list[str]:
    """Why the history (and the outboxes beside it) cannot live at ``path``, if so.

    The folder must exist and be writable, and ``path`` must not be a folder;
    nothing is created. ``label`` names where the path came from (``--db``).
    """
    path = path.expanduser()
    if path.is_dir():
        return [
            f"{label} {path} is a folder: name a file in it, e.g. {path / DEFAULT_HISTORY_FILE}"
        ]
    folder = path.parent
    if not folder.is_dir():
        return [f"{label} {path}: the folder {folder} does not exist"]
    if not os.access(folder, os.W_OK | os.X_OK):
        return [
            f"{label} {path}: the folder {folder} is read-only (SQLite writes its journal "
            "beside the file)"
        ]
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        return [f"{label} {path}: the file is read-only"]
    return []


def readiness(
    config: GatewayConfig,
    *,
    db: Path | None = None,
    workers: int | None = None,
    specs: Sequence[OutputSpec[Any]] = OUTPUT_SPECS,
    shard: Shard | None = None,
) -> Readiness:
    """Everything that keeps ``config`` from running as written, without running it.

    Args:
        config: a loaded configuration.
        db: the history file given on the command line (``run --db``), if any.
        workers: the number of worker processes (``run --workers``), if any.
        specs: the outputs.
        shard: ``config`` is this shard's part (``load_config(..., shard=)``): one
            without an enabled device is an idle shard, which ``run`` warns about.
    """
    found = Readiness()
    if not config.enabled_devices and shard is None:
        found.problems.append("no enabled device in the configuration")
    on = [spec for spec in specs if config.section(spec) is not None]
    for spec in on:
        problem = missing_extra(spec.extras, spec.name)
        if problem is not None:
            found.problems.append(problem)
    history = db or config.storage.path
    keeps_history = bool(config.logged_signals)
    beside = [spec.name for spec in on if spec.beside_history]
    if keeps_history or beside:
        found.problems.extend(
            storage_problems(history, "--db" if db is not None else "[storage] path")
        )
    if keeps_history:
        count = len(config.logged_signals)
        found.outputs.append(("history", f"{history.absolute()} ({count} logged signals)"))
    for spec in on:
        section = config.section(spec)
        assert section is not None
        if spec.problems is not None:
            found.problems.extend(spec.problems(section, config.source, workers))
        if spec.describe is not None:
            where = spec.describe(section, config.source)
        else:
            where = str(getattr(section, "listen", ""))
        found.outputs.append((spec.name, where))
    for device in config.enabled_devices:
        if device.password_env is None and device.password_file is None:
            continue
        try:
            device.resolve_password()
        except ConfigError as exc:
            found.warnings.append(f"{exc}: its password is needed to read it")
    return found
