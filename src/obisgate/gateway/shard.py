"""Split the lines of one configuration between N gateway instances, with no coordinator.

A *line* is every device with the same :attr:`DevicePlan.port_key` (one serial
port, RS-485 bus or converter endpoint): its devices take turns, so a line is
never split. Each line belongs to exactly one of ``N`` shards, chosen by
rendezvous (highest-random-weight) hashing: the shard ``i`` with the largest
``blake2b(f"{i}|{line}")``. The choice depends only on the line key and ``N``
(never on Python's per-process salted ``hash()``), so every instance computes
the same assignment, and going from ``N`` to ``N + 1`` shards moves only the
lines that the new shard wins: about ``1 / (N + 1)`` of them.

A line whose devices are in a throttle group (device field ``group``) is placed by
the group instead (the key ``group:NAME``, of its first device that names one), so
every line of a group is polled by one instance and the group's ``max_sessions``
holds across instances too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from obisgate.errors import ConfigError
from obisgate.gateway.plan import DevicePlan

__all__ = [
    "Shard",
    "ShardError",
    "group_lines",
    "line_owner",
    "line_placement",
    "placement_key",
    "select_plans",
    "shard_path",
]


class ShardError(ConfigError):
    """A shard specification is not ``I/N`` with ``0 <= I < N``."""


@dataclass(frozen=True, slots=True)
class Shard:
    """Instance ``index`` of ``count`` (written ``I/N``, counted from 0)."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise ShardError(
                f"shard {self.index}/{self.count}: expected I/N with 0 <= I < N (e.g. 0/3)"
            )

    @classmethod
    def parse(cls, text: str) -> Shard:
        """Parse ``"I/N"`` (spaces around the numbers allowed).

        Raises:
            ShardError: not two integers separated by ``/``, or ``I`` not in ``0..N-1``.
        """
        index, _, count = text.partition("/")
        try:
            numbers = int(index), int(count)
        except ValueError:
            raise ShardError(f"shard {text!r}: expected I/N with 0 <= I < N (e.g. 0/3)") from None
        return cls(*numbers)

    @property
    def suffix(self) -> str:
        """A name part for per-shard client ids and files: ``shard<I>``.

        Only the index: after a change of ``N`` an instance keeps its files (and
        the backlog in them), which it then sends under its new assignment.
        """
        return f"shard{self.index}"

    def owns(self, line_key: str) -> bool:
        """Whether the line ``line_key`` belongs to this shard."""
        return line_owner(line_key, self.count) == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def _weight(index: int, line_key: str) -> bytes:
    return hashlib.blake2b(f"{index}|{line_key}".encode(), digest_size=16).digest()


def line_owner(line_key: str, count: int) -> int:
    """The shard (``0..count-1``) that polls the line ``line_key``."""
    if count == 1:
        return 0
    return max(range(count), key=lambda index: _weight(index, line_key))


def group_lines(plans: Iterable[DevicePlan]) -> dict[str, list[DevicePlan]]:
    """The devices of every line (``port_key``), lines and devices in configuration order."""
    lines: dict[str, list[DevicePlan]] = {}
    for plan in plans:
        lines.setdefault(plan.port_key, []).append(plan)
    return lines


def placement_key(line_key: str, members: Iterable[DevicePlan]) -> str:
    """What places the line ``line_key`` on a shard: ``group:NAME`` when one of its
    devices (the first that names one) is in a throttle group, else the line itself."""
    return line_placement(line_key, (plan.group for plan in members))


def line_placement(line_key: str, groups: Iterable[str | None]) -> str:
    """:func:`placement_key` from the throttle groups of the line's devices, in order
    (``None``: a device in no group)."""
    group = next((name for name in groups if name is not None), None)
    return line_key if group is None else f"group:{group}"


def select_plans(plans: Sequence[DevicePlan], shard: Shard | None) -> list[DevicePlan]:
    """The plans of the lines that ``shard`` owns (all of them for ``None``), in order."""
    if shard is None or shard.count == 1:
        return list(plans)
    owned = {
        key
        for key, members in group_lines(plans).items()
        if shard.owns(placement_key(key, members))
    }
    return [plan for plan in plans if plan.port_key in owned]


def shard_path(path: Path, shard: Shard | None) -> Path:
    """``path`` with the shard in its name (``history.db`` -> ``history-shard1.db``).

    Instances sharing a folder (``--workers``) thus never share a history file or
    an outbox. ``None`` (not sharded) keeps ``path``.
    """
    if shard is None:
        return path
    return path.with_name(f"{path.stem}-{shard.suffix}{path.suffix}")
