"""Who holds the client id: detects another live gateway connecting with ours.

A broker keeps one connection per client id: when a second client connects
with an id in use, it closes the first one (mosquitto publishes that one's last
will, ``offline``), and when the first reconnects the second is thrown off in
turn. Two gateways sharing an id therefore take turns for ever, their entities
flapping between online and offline, and each sees only "connection lost".

:class:`ClientIdClaim` makes that loop visible. In every session the gateway
subscribes to ``<prefix>/gateway/<client_id>/instance`` and publishes there,
retained, a record of this process: host, process id, configuration file,
start time and a random token. Another gateway with the same id does the same,
so after a take-over the record the broker holds is the other one's. Whether
it is stale (a process of ours that was killed) or live is told apart by when
it arrives: the broker delivers a topic's messages in order, so

* a foreign record that arrives before our own record came back to us may be
  stale (the retained record of an earlier process): it is ignored;
* a foreign record that arrives after ours came back was published after ours,
  by another gateway that connected with our id: it is alive.

Of two live gateways the one started later yields: :meth:`ClientIdClaim.handle`
raises :class:`ClientIdTaken` there, and the connection turns the MQTT output
off for the run, naming the other gateway in one line. The one started first
logs the other once and keeps its id. As the loser's last will (``offline``)
may land after the winner's ``online``, the claim also watches the gateway's
availability topic and says ``online`` again when it reads ``offline`` while
connected.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import secrets
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from obisgate.gateway.outputs.mqtt.payloads import OFFLINE, ONLINE, gateway_availability_topic

__all__ = ["ClientIdClaim", "ClientIdTaken", "InstanceRecord", "instance_topic"]

_LOGGER = logging.getLogger("obisgate.gateway.outputs.mqtt.output")


def instance_topic(prefix: str, client_id: str) -> str:
    """The retained record of the process that holds ``client_id``."""
    return f"{prefix}/gateway/{client_id}/instance"


class InstanceRecord:
    """One gateway process as it announces itself on the instance topic.

    Attributes:
        token: random, new in every process.
        host, pid, config: where it runs and what it runs (the configuration file).
        started: when the process's MQTT output started (UTC).
    """

    def __init__(
        self, *, token: str, host: str, pid: int, config: str | None, started: dt.datetime
    ) -> None:
        self.token = token
        self.host = host
        self.pid = pid
        self.config = config
        self.started = started

    @classmethod
    def of_this_process(
        cls, config: Path | None, clock: Callable[[], dt.datetime]
    ) -> InstanceRecord:
        """The record of the running process."""
        return cls(
            token=secrets.token_hex(8),
            host=socket.gethostname(),
            pid=os.getpid(),
            config=None if config is None else str(Path(config).absolute()),
            started=clock(),
        )

    def payload(self) -> bytes:
        """The record as published (JSON)."""
        document = {
            "token": self.token,
            "host": self.host,
            "pid": self.pid,
            "config": self.config,
            "started": self.started.isoformat(timespec="milliseconds"),
        }
        return json.dumps(document, separators=(",", ":")).encode()

    @classmethod
    def parse(cls, payload: bytes) -> InstanceRecord | None:
        """A record from its payload; ``None`` for anything else (an empty retained
        message, another program's text)."""
        try:
            document = json.loads(payload)
            started = dt.datetime.fromisoformat(document["started"])
            record = cls(
                token=str(document["token"]),
                host=str(document["host"]),
                pid=int(document["pid"]),
                config=None if document.get("config") is None else str(document["config"]),
                started=started if started.tzinfo else started.replace(tzinfo=dt.UTC),
            )
        except (ValueError, TypeError, KeyError):
            return None
        return record

    def describe(self) -> str:
        """``host H, pid P, configuration C, started T``."""
        config = f", configuration {self.config}" if self.config else ""
        started = self.started.isoformat(timespec="seconds")
        return f"host {self.host}, pid {self.pid}{config}, started {started}"

    def yields_to(self, other: InstanceRecord) -> bool:
        """Whether this process gives the id up to ``other``: it started later (the
        token decides a tie, so exactly one of two yields)."""
        return (self.started, self.token) > (other.started, other.token)


class ClientIdTaken(Exception):
    """Another live gateway uses this client id and started first: MQTT is off."""


class ClientIdClaim:
    """Announces this process on its client id's instance topic and tells whose the id is.

    Args:
        prefix: the topic prefix.
        client_id: the client id this gateway connects with.
        config: the configuration file (in the record).
        closing: true once the output is closing (then ``offline`` is ours).
        clock: the current time (UTC).
    """

    def __init__(
        self,
        prefix: str,
        client_id: str,
        *,
        config: Path | None,
        closing: Callable[[], bool],
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.client_id = client_id
        self.topic = instance_topic(prefix, client_id)
        self.availability = gateway_availability_topic(prefix, client_id)
        self.record = InstanceRecord.of_this_process(config, clock)
        self._closing = closing
        #: Our own record came back from the broker (a foreign one after that is live).
        self._seen_own = False
        #: Live rivals already logged (by token).
        self._told: set[str] = set()

    async def subscribe(self, client: Any) -> None:
        """Subscribe to the instance and availability topics, then publish our record
        (retained): call after ``online`` was published."""
        await client.subscribe(self.topic, qos=1)
        await client.subscribe(self.availability, qos=1)
        await client.publish(self.topic, self.record.payload(), qos=1, retain=True)

    def wants(self, topic: str) -> bool:
        """Whether a message on ``topic`` is for the claim."""
        return topic in (self.topic, self.availability)

    async def handle(self, client: Any, topic: str, payload: bytes) -> None:
        """Take a message of :meth:`wants`.

        Raises:
            ClientIdTaken: a live gateway that started earlier uses our client id.
        """
        if topic == self.availability:
            if payload == OFFLINE and not self._closing():
                # Another client's last will, published when ours took over its connection.
                await client.publish(self.availability, ONLINE, qos=1, retain=True)
            return
        other = InstanceRecord.parse(payload)
        if other is None:
            return
        if other.token == self.record.token:
            self._seen_own = True
            return
        if not self._seen_own:
            return  # maybe the retained record of an earlier process: ours replaces it
        if self.record.yields_to(other):
            raise ClientIdTaken(
                f"client id {self.client_id!r} is used by another live gateway "
                f"({other.describe()}); this gateway's MQTT output is off. Give each gateway "
                "its own client_id, or leave it unset: the default is unique per host, "
                "configuration and shard"
            )
        if other.token not in self._told:
            self._told.add(other.token)
            _LOGGER.warning(
                "mqtt: another gateway (%s) connected with this gateway's client id %r and "
                "threw it off; it started later and turns its MQTT output off",
                other.describe(),
                self.client_id,
            )
        # Our record again, so that the other one finds it (and yields) when it reconnects.
        await client.publish(self.topic, self.record.payload(), qos=1, retain=True)
