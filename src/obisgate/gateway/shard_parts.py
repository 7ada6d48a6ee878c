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

Where ``os.fork`` exists, the parts are cut and pickled in forked children, as many
at a time as there are CPUs: the supervisor's own memory never holds a part or its
pickle, and N parts take about N / CPUs times one part's time.
"""

from __future__ import annotations

import contextlib
import gc
import os
import pickle
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from obisgate.gateway.config_models import GatewayConfig
from obisgate.gateway.config_shard import shard_part
from obisgate.gateway.shard import Shard
from obisgate.gcpause import paused_gc

__all__ = [
    "PARTS_VARIABLE",
    "batches",
    "part_path",
    "read_part",
    "run_forked",
    "usable_cpus",
    "write_part",
    "write_parts",
]

#: Environment variable naming the folder that holds the workers' parts.
PARTS_VARIABLE = "OBISGATE_SHARD_PARTS"


def part_path(folder: Path, shard: Shard) -> Path:
    """Where ``shard``'s part is in ``folder``."""
    return folder / f"part-{shard.index}-of-{shard.count}.pickle"


def write_parts(config: GatewayConfig, count: int, folder: Path, *, at_once: int = 0) -> None:
    """Write the part of each of ``count`` shards of ``config`` into ``folder``.

    ``at_once``: how many forked children write parts at the same time (0: one per
    CPU this process may use; 1: no child, in this process).

    Raises:
        OSError: a part could not be written (each one that failed is named).
    """
    at_once = at_once or usable_cpus()
    shards = [Shard(index, count) for index in range(count)]
    if at_once < 2 or count < 2 or not hasattr(os, "fork"):
        for shard in shards:
            _write_part(config, shard, folder)
        return
    failed = run_forked(shards, at_once, lambda shard: _write_part(config, shard, folder))
    if failed:
        names = ", ".join(str(shard) for shard in failed)
        raise OSError(f"cannot write the part of shard {names} into {folder}")


def run_forked(shards: Sequence[Shard], at_once: int, work: Callable[[Shard], None]) -> list[Shard]:
    """Run ``work(shard)`` for each of ``shards`` in a forked child, ``at_once`` children
    at a time; the shards whose child failed (``work`` raised: the child says why on
    stderr, naming the shard; or it was killed).

    Meanwhile everything alive in this process is out of the collector's passes, so
    that the children do not copy the pages a pass would touch.
    """
    failed: list[Shard] = []
    gc.freeze()
    try:
        for batch in batches(list(shards), at_once):
            children = {_fork(work, shard): shard for shard in batch}
            for pid, shard in children.items():
                _, status = os.waitpid(pid, 0)
                if os.waitstatus_to_exitcode(status) != 0:
                    failed.append(shard)
    finally:
        gc.unfreeze()
    return failed


def _fork(work: Callable[[Shard], None], shard: Shard) -> int:
    """Fork a child that runs ``work(shard)`` and exits (0: it returned); its pid."""
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        work(shard)
        code = 0
    except BaseException as exc:  # the parent names the shard; the child says why
        with contextlib.suppress(OSError):
            os.write(2, f"obisgate: error: the part of shard {shard}: {exc}\n".encode())
    finally:
        os._exit(code)  # no atexit handlers, no flushing of the parent's buffers


def _write_part(config: GatewayConfig, shard: Shard, folder: Path) -> None:
    with paused_gc():  # the whole configuration is alive: a full pass would walk all of it
        write_part(shard_part(config, shard), folder, shard)


def write_part(part: GatewayConfig, folder: Path, shard: Shard) -> None:
    """Write ``part`` as ``shard``'s part into ``folder`` (what :func:`read_part` reads),
    streamed into the file: no copy of the whole pickle in memory.

    Raises:
        OSError: it cannot be written.
    """
    with part_path(folder, shard).open("wb") as file:
        pickle.dump(part, file, protocol=pickle.HIGHEST_PROTOCOL)


def batches(shards: list[Shard], size: int) -> Iterator[list[Shard]]:
    """``shards`` in lists of ``size`` (the last one shorter)."""
    for start in range(0, len(shards), size):
        yield shards[start : start + size]


def usable_cpus() -> int:
    """The CPUs this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


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
        part = pickle.loads(part_path(Path(folder), shard).read_bytes())  # noqa: S301 - see above
    if not isinstance(part, GatewayConfig):
        raise TypeError(f"{folder}: not a configuration part")
    return part
