"""Priority reads asked for over MQTT: a message on ``<prefix>/<device>/read/set``.

Any payload on that topic puts a read of the device at the head of its line's queue
(:meth:`Gateway.request_read`, through the output context); the readout's updates come
back on the device's state topic like those of any poll. An unknown device, a push meter
or a gateway that is not polling is logged (one line a minute at most), never an error
of the MQTT output; in a sharded deployment (``--shard``, ``--workers``) every instance
gets every command, and one for a device of another shard is left to that shard,
silently. Who may publish there is the broker's access control.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from obisgate.gateway.outputs.peer_errors import PeerErrorLog
from obisgate.gateway.poller import ReadRequestError
from obisgate.gateway.updates import SignalUpdate

__all__ = ["ReadCommands", "read_command_topic"]

_LOGGER = logging.getLogger("obisgate.gateway.outputs.mqtt.output")

#: The last levels of a read command's topic.
_SUFFIX = "/read/set"


def read_command_topic(prefix: str, device: str) -> str:
    """``<prefix>/<device>/read/set``: a message there asks for a read of the device."""
    return f"{prefix}/{device}{_SUFFIX}"


class ReadCommands:
    """Turns messages on ``<prefix>/+/read/set`` into priority reads.

    Args:
        prefix: the topic prefix (``[mqtt] topic_prefix``).
        request_read: looked up at each message (the gateway sets it once built):
            queues a read and returns its future; raises ``ReadRequestError``.
        sharded: this instance is one shard of several: a device it does not know
            belongs to another shard (not refused, not counted).
    """

    def __init__(
        self,
        prefix: str,
        request_read: Callable[[], Callable[[str], asyncio.Future[list[SignalUpdate]]]],
        *,
        sharded: bool = False,
    ) -> None:
        self._prefix = prefix.rstrip("/") + "/"
        self._sharded = sharded
        self._request_read = request_read
        self._refused = PeerErrorLog(_LOGGER, "mqtt: read command refused", window_s=60.0)
        self.asked = 0
        """Reads asked for so far."""

    @property
    def topic_filter(self) -> str:
        """The subscription: ``<prefix>/+/read/set``."""
        return f"{self._prefix}+{_SUFFIX}"

    @property
    def refused(self) -> int:
        """Read commands refused so far (unknown device, push meter, not polling)."""
        return self._refused.total

    async def subscribe(self, client: Any) -> None:
        """Subscribe to the read commands (QoS 1), once per session."""
        await client.subscribe(self.topic_filter, qos=1)

    def take(self, topic: str) -> bool:
        """Handle a message if it is a read command (then ``True``); never raises."""
        if not topic.startswith(self._prefix) or not topic.endswith(_SUFFIX):
            return False
        alias = topic[len(self._prefix) : -len(_SUFFIX)]
        if not alias or "/" in alias:
            return False
        try:
            future = self._request_read()(alias)
        except ReadRequestError as exc:
            if not (self._sharded and exc.reason == "unknown"):
                self._refused.report(f"topic {topic}", str(exc))
            return True
        self.asked += 1
        future.add_done_callback(_quiet)
        return True


def _quiet(future: asyncio.Future[list[SignalUpdate]]) -> None:
    """Nobody waits for the answer (it goes to the state topic): take its outcome."""
    if not future.cancelled():
        future.exception()
