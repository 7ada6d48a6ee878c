"""What the broker says it dropped: mosquitto's ``$SYS/broker/publish/messages/dropped`` (pure).

A broker keeps the messages of a sink that is away (or that does not acknowledge,
while PostgreSQL is down) only up to its queue limit per session (mosquitto:
``max_queued_messages``, 1000 by default) and drops the rest without telling the
sink. mosquitto counts every message it dropped since it started and publishes the
count, retained, on :data:`DROPPED_TOPIC` every ``sys_interval`` (10 s by default)
when it changed. The count is broker-wide (any client's queue); it is the only sign
a sink can get that readouts of its partitions may have been dropped. Brokers that
do not publish it never send anything here.
"""

from __future__ import annotations

__all__ = ["DROPPED_TOPIC", "DropCounter"]

#: mosquitto's count of the messages it dropped since it started (retained).
DROPPED_TOPIC = "$SYS/broker/publish/messages/dropped"


class DropCounter:
    """Turns the broker's successive drop counts into the drops not reported yet.

    Attributes:
        count: the broker's count as last seen (0 before the first).
    """

    def __init__(self) -> None:
        self.count = 0
        self._seen = False

    def update(self, payload: bytes) -> int:
        """The drops that ``payload`` (the broker's count, ASCII digits) adds; 0 when none.

        The first count seen is new in full (the drops may have happened while this
        sink was away); a count below the last one means the broker restarted (its
        count starts at 0 again), so it is new in full too. A payload that is not a
        count is ignored (0).
        """
        try:
            count = int(payload.decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            return 0
        if count < 0:
            return 0
        new = count if not self._seen or count < self.count else count - self.count
        self.count = count
        self._seen = True
        return new
