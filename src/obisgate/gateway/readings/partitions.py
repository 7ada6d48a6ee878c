"""History partitions on MQTT: which topic a device's readouts go to, which a sink owns (pure).

With ``[mqtt] history_partitions = N`` every gateway also publishes each readout
message to ``<prefix>/history/<p>/<device>``, where ``p`` = :func:`partition_of`
(device, N): a stable hash (blake2b, never Python's salted ``hash()``), the same in
every process and release. Each ``obisgate sink postgres`` owns a fixed set of
partitions (``--own``) and subscribes to ``<prefix>/history/<p>/+`` for each of them
with a persistent session under a fixed client id. Unlike MQTT shared subscriptions
(which mosquitto 2.0 does not restore after a restart), plain persistent
subscriptions are restored by every broker, so readouts published while a sink is
down, or while the broker restarts, wait in that sink's session (within the broker's
queue limits) instead of being dropped.

The gateways also publish ``N`` retained on ``<prefix>/history/partitions``; a sink
started with another ``--partitions`` refuses to run, since the partitions it does
not know of would have no subscriber (and MQTT drops such messages).
"""

from __future__ import annotations

import hashlib
import re

__all__ = [
    "MAX_PARTITIONS",
    "count_topic",
    "history_topic",
    "parse_owned",
    "partition_of",
    "partition_topic",
]

#: Most partitions a deployment may use.
MAX_PARTITIONS = 1024


def partition_of(device: str, count: int) -> int:
    """The partition (0 .. ``count`` - 1) of ``device``'s readouts."""
    digest = hashlib.blake2b(device.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % count


def history_topic(prefix: str, device: str, count: int) -> str:
    """``<prefix>/history/<p>/<device>``: where ``device``'s history messages go."""
    return f"{prefix}/history/{partition_of(device, count)}/{device}"


def partition_topic(prefix: str, partition: int) -> str:
    """The subscription of one partition: ``<prefix>/history/<p>/+``."""
    return f"{prefix}/history/{partition}/+"


def count_topic(prefix: str) -> str:
    """Where the gateways announce the partition count (retained)."""
    return f"{prefix}/history/partitions"


def parse_owned(text: str, count: int) -> tuple[int, ...]:
    """The partitions named by ``text`` (``all``, or ``0-3,8,10-11``), sorted.

    Raises:
        ValueError: not such a list, empty, or a partition outside 0 .. ``count`` - 1;
            the message says what is allowed.
    """
    allowed = f"'all' or partitions 0-{count - 1} like 0-3,8"
    if text.strip().lower() == "all":
        return tuple(range(count))
    owned: set[int] = set()
    for part in text.split(","):
        match = re.fullmatch(r"\s*([0-9]{1,4})\s*(?:-\s*([0-9]{1,4})\s*)?", part)
        if match is None:
            raise ValueError(f"{text!r}: expected {allowed}")
        low = int(match.group(1))
        high = int(match.group(2) or low)
        if low > high or high >= count:
            raise ValueError(f"{text!r}: expected {allowed}")
        owned.update(range(low, high + 1))
    return tuple(sorted(owned))
