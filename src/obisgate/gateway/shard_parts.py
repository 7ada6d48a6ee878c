"""Each worker's part of the configuration, handed over by the supervisor of ``run --workers``.

The supervisor loads and checks the whole configuration once; :func:`write_parts`
then writes the part of every shard (:func:`~obisgate.gateway.config_shard.shard_part`)
as a pickle into the supervisor's private folder (mode 0700, made by
``tempfile.mkdtemp``) and names that folder to the workers in
:data:`PARTS_VARIABLE`. A worker (:func:`read_part`) unpickles its own part instead of
reading and validating the file again: it starts sooner, never holds the other
shards' devices, and a restarted worker runs with the configuration the supervisor
checked even if the file changed meanwhile. Pickle only because nothing but this
user's supervisor can write that folder (the same trust as the relay socket beside it).
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

from obisgate.gateway.config_models import GatewayConfig
from obisgate.gateway.config_shard import shard_part
from obisgate.gateway.shard import Shard
from obisgate.gcpause import paused_gc

__all__ = ["PARTS_VARIABLE", "read_part", "write_parts"]

#: Environment variable naming the folder that holds the workers' parts.
PARTS_VARIABLE = "OBISGATE_SHARD_PARTS"


def _part_path(folder: Path, shard: Shard) -> Path:
    return folder / f"part-{shard.index}-of-{shard.count}.pickle"


def write_parts(config: GatewayConfig, count: int, folder: Path) -> None:
    """Write the part of each of ``count`` shards of ``config`` into ``folder``."""
    for index in range(count):
        shard = Shard(index, count)
        with paused_gc():  # the whole configuration is alive: a full pass would walk all of it
            data = pickle.dumps(shard_part(config, shard), protocol=pickle.HIGHEST_PROTOCOL)
        _part_path(folder, shard).write_bytes(data)


def read_part(shard: Shard | None) -> GatewayConfig | None:
    """In a worker: its part, when the supervisor named a folder in :data:`PARTS_VARIABLE`
    (removed from the environment); ``None`` otherwise (load the file itself).

    Raises:
        OSError: the part cannot be read (the supervisor's folder is gone).
    """
    folder = os.environ.pop(PARTS_VARIABLE, "").strip()
    if not folder or shard is None:
        return None
    with paused_gc():  # hundreds of thousands of objects, all kept
        part = pickle.loads(_part_path(Path(folder), shard).read_bytes())  # noqa: S301 - see above
    if not isinstance(part, GatewayConfig):
        raise TypeError(f"{folder}: not a configuration part")
    return part
