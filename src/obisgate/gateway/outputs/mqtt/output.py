"""The MQTT output: every readout to a broker, through a durable outbox, with Home Assistant discovery.

:meth:`MqttOutput.publish` only appends the readout's messages to the outbox
(:mod:`~obisgate.gateway.outputs.outbox`, on the output's disk thread, :mod:`.worker`) and never waits
for the broker. The work with the broker is done by separate units:

* :class:`~.connection.Connection` keeps one connection (connect with a last
  will, reconnect with a jittered backoff) and runs each session's units under
  one :class:`asyncio.TaskGroup`;
* :class:`~.sender.OutboxSender` drains the outbox in order, up to
  ``in_flight`` QoS messages unacknowledged at once, and deletes a row only
  after the broker acknowledged it and every row before it: a lost connection
  resends from the first unacknowledged row;
* :class:`~.announcer.Announcer` publishes ``online``/``offline`` per device and
  the Home Assistant discovery configs (all retained) when they are due, and
  again when Home Assistant announces ``online``;
* :class:`~.commands.ReadCommands` turns a message on ``<prefix>/<device>/read/set``
  into a priority read (its updates come back on the state topic).

Discovery configs of a device are published after its first successful readout
in this process (then its units and identification are known), and again when
they change. Topics and payloads: :mod:`.payloads`; discovery:
:mod:`.ha_discovery`.

Failures (broker unreachable, wrong credentials, TLS, a full disk for the
outbox) are logged in one line when they start (not at every retry) and shown
in the output's health; polling and the other outputs go on. Passwords never
appear in logs or health.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from obisgate.errors import ConfigError
from obisgate.gateway.outputs.base import Output
from obisgate.gateway.outputs.extras import require_extra
from obisgate.gateway.outputs.health import HealthRecord, OutputHealth, OutputState
from obisgate.gateway.outputs.mqtt.announcer import Announcer
from obisgate.gateway.outputs.mqtt.commands import ReadCommands
from obisgate.gateway.outputs.mqtt.config import legacy_client_id as former_client_id
from obisgate.gateway.outputs.mqtt.connection import Connection
from obisgate.gateway.outputs.mqtt.devices import DeviceTracker
from obisgate.gateway.outputs.mqtt.payloads import backfill_messages, state_messages
from obisgate.gateway.outputs.mqtt.sender import OutboxSender
from obisgate.gateway.outputs.mqtt.worker import DiskWorker
from obisgate.gateway.outputs.outbox import DropLog, Outbox, outbox_path
from obisgate.gateway.updates import SignalUpdate

if TYPE_CHECKING:
    from pathlib import Path
    from types import ModuleType

    from obisgate.gateway.config_models import GatewayConfig
    from obisgate.gateway.outputs.context import OutputContext
    from obisgate.gateway.outputs.mqtt.config import MqttConfig

__all__ = ["MqttOutput", "create"]

_LOGGER = logging.getLogger(__name__)


def create(config: GatewayConfig, section: MqttConfig, context: OutputContext) -> MqttOutput:
    """The MQTT output of ``section``.

    The outbox lives beside the history file (``<history>.mqtt-outbox.sqlite``). The
    client id is the configured one, else unique per host, configuration file and
    shard (:meth:`MqttConfig.client_identity`).

    Raises:
        ConfigError: the ``mqtt`` extra (aiomqtt) is not installed.
    """
    client_module = require_extra("aiomqtt", "mqtt", "mqtt")
    history = context.history_path or config.storage.path
    return MqttOutput(
        config,
        section,
        client_module,
        outbox_file=outbox_path(history, "mqtt"),
        synchronous=config.storage.synchronous,
        context=context,
        client_id=section.client_identity(config.source, context.shard),
        legacy_client_id=section.client_id or former_client_id(context.shard),
    )


class MqttOutput(Output):
    """Publishes readouts to an MQTT broker; see the module docstring.

    Args:
        config: the gateway configuration (its devices and signals).
        section: the ``[mqtt]`` section.
        client_module: the imported ``aiomqtt``.
        outbox_file: the outbox's SQLite file.
        synchronous: the outbox's SQLite ``synchronous`` (NORMAL or FULL).
        in_flight: QoS messages sent but not yet acknowledged, at most.
        backoff_s: first and longest ceiling of the jittered wait between connection
            attempts (:class:`~obisgate.backoff.Backoff`).
        context: the gateway as outputs see it: read commands go to its
            ``request_read`` (``None``: no read commands).
        client_id: the client id (default: :meth:`MqttConfig.client_identity` of the
            configuration's file).
        legacy_client_id: the client id of old discovery configs to remove
            (default: the configured one, else the former default).

    Attributes:
        client_id: the client id it connects with.
    """

    name = "mqtt"
    #: One outbox transaction per 0.1 s run of readouts instead of one per readout.
    lingers = True
    #: The live outputs show a reading only after it is in the outbox (``Fanout``).
    durable = True
    #: Backfilled intervals go to ``<prefix>/<device>/backfill``, never to the state topics.
    takes_backfill = True

    def __init__(
        self,
        config: GatewayConfig,
        section: MqttConfig,
        client_module: ModuleType,
        *,
        outbox_file: Path,
        synchronous: Any = "NORMAL",
        in_flight: int = 64,
        backoff_s: tuple[float, float] = (0.5, 30.0),
        context: OutputContext | None = None,
        client_id: str | None = None,
        legacy_client_id: str | None = None,
    ) -> None:
        self.section = section
        self.client_id = client_id or section.client_identity(config.source)
        self._config_file = config.source
        self.outbox_file = outbox_file
        self._mqtt = client_module
        self._synchronous = synchronous
        self._in_flight = in_flight
        self._backoff = backoff_s
        self._announcer = Announcer(
            section,
            DeviceTracker(config, discovery=bool(section.discovery_prefix)),
            client_id=self.client_id,
            legacy_client_id=legacy_client_id or section.client_id or former_client_id(),
        )
        self._worker = DiskWorker()
        self._record = HealthRecord()
        self._sender: OutboxSender | None = None
        self._connection: Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._store_error: str | None = None
        self._dropped = 0
        self._full = DropLog(_LOGGER, "mqtt", "messages")
        self._commands = (
            None
            if context is None
            else ReadCommands(
                section.topic_prefix,
                lambda: context.request_read,
                sharded=context.shard is not None,
            )
        )

    async def start(self) -> None:
        """Open the outbox and start the connection; never waits for the broker.

        The password is read once here, so that an unset ``password_env``
        variable or an unreadable ``password_file`` is a failed start (one line
        naming it) instead of endless retries; it is read again at each connect.

        Raises:
            ConfigError: the password cannot be read, or the outbox cannot be opened.
        """
        try:
            await self._worker.run(self.section.resolve_password)
        except ConfigError as exc:
            self._record.set(OutputState.OFF, str(exc))
            raise
        outbox = await self._worker.run(
            partial(
                Outbox,
                self.outbox_file,
                max_rows=self.section.outbox_max_rows,
                synchronous=self._synchronous,
            )
        )
        if outbox.depth:
            _LOGGER.info("mqtt: %d messages from an earlier run wait in the outbox", outbox.depth)
        self._sender = OutboxSender(outbox, self._worker, self._record, in_flight=self._in_flight)
        self._connection = Connection(
            self.section,
            self._mqtt,
            self._worker,
            self._record,
            sender=self._sender,
            announcer=self._announcer,
            commands=self._commands,
            client_id=self.client_id,
            config=self._config_file,
            in_flight=self._in_flight,
            backoff_s=self._backoff,
        )
        self._record.set(OutputState.CONNECTING)
        self._task = asyncio.create_task(self._connection.run(), name="mqtt-connection")

    async def publish(self, updates: Sequence[SignalUpdate]) -> None:
        """Append the readout's messages to the outbox (a disk write, never the network)."""
        await self.publish_many([updates])

    async def publish_many(self, batches: Sequence[Sequence[SignalUpdate]]) -> None:
        """Append the messages of several readouts to the outbox in one transaction.

        A disk that refuses the write drops (and counts) these messages and is the
        output's last error; it never raises for that.
        """
        sender = self._sender
        if sender is None:
            return
        section = self.section
        messages = []
        for updates in batches:
            if updates and updates[0].quality.backfilled:
                messages += backfill_messages(
                    updates, prefix=section.topic_prefix, partitions=section.history_partitions
                )
                continue
            self._announcer.learn(updates)
            messages += state_messages(
                updates,
                prefix=section.topic_prefix,
                fmt=section.format,
                qos=section.qos,
                partitions=section.history_partitions,
                retain=section.retain_state,
            )
        try:
            dropped = await self._worker.run(sender.outbox.append, messages)
        except sqlite3.Error as exc:
            self._dropped += len(messages)
            reason = f"cannot store in the outbox {self.outbox_file}: {exc}"
            if self._store_error != reason:
                _LOGGER.error("mqtt: %s; readouts are dropped until it can", reason)  # noqa: TRY400
            self._store_error = self._record.last_error = reason
            return
        if self._store_error is not None:
            _LOGGER.info("mqtt: the outbox takes readouts again")
            self._store_error = None
        self._dropped += dropped
        self._full.appended(dropped, self.section.outbox_max_rows)
        sender.wake()

    async def aclose(self) -> None:
        """Send what the broker can take within a few seconds, say ``offline``, disconnect.

        What is not acknowledged stays in the outbox for the next run.
        """
        sender, connection, task = self._sender, self._connection, self._task
        if task is not None and connection is not None and sender is not None:
            if connection.connected:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(sender.drained.wait(), 5.0)
            connection.close()
            try:
                await asyncio.wait_for(asyncio.shield(task), 5.0)
            except (TimeoutError, Exception):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if sender is not None:
            if sender.acked:
                with contextlib.suppress(sqlite3.Error):
                    await self._worker.run(sender.outbox.delete_through, sender.acked)
            await self._worker.run(sender.outbox.close)
        self._full.end()
        self._worker.shutdown()
        self._record.set(OutputState.CLOSED)

    @property
    def outbox(self) -> Outbox | None:
        """The outbox, once started."""
        return None if self._sender is None else self._sender.outbox

    def health(self) -> OutputHealth:
        """Connected or not, the outbox's depth, messages sent and dropped (no secrets)."""
        sender = self._sender
        return self._record.health(
            address=self.section.url,
            counters={
                "outbox_depth": 0 if sender is None else sender.outbox.depth,
                "sent_total": 0 if sender is None else sender.sent,
                "dropped_total": self._dropped,
                "outbox_dropped_total": self._full.total,
                "read_commands_total": 0 if self._commands is None else self._commands.asked,
                "read_commands_refused_total": (
                    0 if self._commands is None else self._commands.refused
                ),
            },
        )
