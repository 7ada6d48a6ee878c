"""The readout sizes file: what each device's last readout looked like on the wire.

The read plan (:mod:`.readplan`) estimates a request's wire time from the size of the
device's last readout. ``obisgate run`` keeps those sizes in memory and writes them to a
small JSON file beside the history (``obisgate-history.readsizes.json``; with
``--shard`` the history's name carries the shard, and so does this file's): at most
every :data:`SAVE_INTERVAL_S` when something changed, and at shutdown. A restarted
gateway reads it back, so its first polls are already planned with known sizes, and
``obisgate plan CONFIG --device ALIAS`` reads it to show the wire time of every
alternative.

Why a file of its own: the history database exists only when a signal logs, has its own
schema, and takes a write per readout; these records change rarely and are a few
dozen bytes per device. The file is replaced atomically (written beside, then renamed),
so a reader never sees half of it; a missing, unreadable or foreign file is no sizes.

Format: ``{"version": 1, "devices": {ALIAS: {"bytes": N, "datasets": N, "baud": N,
"identification": "/ISk5...", "lists": {"/2": N}}}}``.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from obisgate.gateway.readplan import ReadSize

__all__ = ["SAVE_INTERVAL_S", "load_sizes", "read_sizes_files", "save_sizes", "sizes_path"]

#: The longest time between two writes of the file while sizes change.
SAVE_INTERVAL_S = 300.0
_VERSION = 1
_SUFFIX = ".readsizes.json"


def sizes_path(history: Path) -> Path:
    """The sizes file beside the history file ``history`` (``x.sqlite`` -> ``x.readsizes.json``)."""
    return history.with_name(history.stem + _SUFFIX)


def read_sizes_files(history: Path) -> list[Path]:
    """The sizes files of ``history``: its own, and those of its shards
    (``x-shard0.readsizes.json`` ...), the ones that exist."""
    own = sizes_path(history)
    found = [own] if own.is_file() else []
    with contextlib.suppress(OSError):
        found += sorted(history.parent.glob(f"{history.stem}-shard*{_SUFFIX}"))
    return found


def save_sizes(path: Path, sizes: Mapping[str, ReadSize]) -> None:
    """Write ``sizes`` to ``path`` atomically (a temporary file beside it, renamed).

    Raises:
        OSError: the folder cannot be written.
    """
    devices: dict[str, dict[str, Any]] = {}
    for alias, size in sizes.items():
        record: dict[str, Any] = {
            "bytes": size.data_bytes,
            "datasets": size.datasets,
            "baud": size.baud,
            "identification": size.identification,
        }
        if size.lists:
            record["lists"] = dict(size.lists)
        devices[alias] = record
    text = json.dumps({"version": _VERSION, "devices": devices}, separators=(",", ":"))
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(text, encoding="utf-8")
        temporary.replace(path)
    finally:
        with contextlib.suppress(OSError):
            temporary.unlink()


def load_sizes(*paths: Path) -> dict[str, ReadSize]:
    """The sizes in the files ``paths`` (a later file wins for the same device).

    Never raises: a missing, unreadable or malformed file, or a malformed record,
    is skipped.
    """
    sizes: dict[str, ReadSize] = {}
    interned: dict[ReadSize, ReadSize] = {}
    for path in paths:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(data, dict) or data.get("version") != _VERSION:
            continue
        devices = data.get("devices")
        if not isinstance(devices, dict):
            continue
        for alias, record in devices.items():
            size = _size(record)
            if size is not None:
                sizes[str(alias)] = interned.setdefault(size, size)
    return sizes


def _size(record: object) -> ReadSize | None:
    if not isinstance(record, dict):
        return None
    numbers = [record.get(k) for k in ("bytes", "datasets", "baud")]
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in numbers):
        return None
    ident = record.get("identification", "")
    lists = record.get("lists", {})
    if not isinstance(ident, str) or not isinstance(lists, dict):
        return None
    pairs = tuple(
        (str(k), v) for k, v in lists.items() if isinstance(v, int) and not isinstance(v, bool)
    )
    data_bytes, datasets, baud = (int(n) for n in numbers)  # type: ignore[arg-type]
    if baud <= 0:
        return None
    return ReadSize(data_bytes, datasets, baud, ident, pairs)
