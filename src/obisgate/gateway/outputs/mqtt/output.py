"""The MQTT output: every readout to a broker, through a durable outbox, with Home Assistant discovery.

:meth:`MqttOutput.publish` only appends the readout's messages to the outbox
(:mod:`.outbox`, on a worker thread) and never waits for the broker. One sender
task owns the connection (``aiomqtt``, loaded lazily from the ``mqtt`` extra):

1. connect, with a last will ``offline`` (retained) on
   ``<prefix>/gateway/<client_id>/availability``; on failure wait (0.5 s,
   doubling up to 30 s) and try again, for ever;
2. publish ``online`` there, every known device's availability and the Home
   Assistant discovery configs (all retained), and subscribe to
   ``<discovery_prefix>/status`` to publish them again when Home Assistant
   announces ``online``;
3. drain the outbox in order, up to ``in_flight`` QoS messages unacknowledged at
   once; a row is deleted only after the broker acknowledged it and every row
   before it. A lost connection resends from the first unacknowledged row.

Discovery configs of a device are published after its first successful readout
in this process (then its units and identification are known), and again when
they change. Topics and payloads: :mod:`.payloads`; discovery:
:mod:`.ha_discovery`.

Failures (broker unreachable, wrong credentials, TLS, a full disk for the
outbox) are logged in one line when they start (not at every retry) and shown
in ``context.health["mqtt"]``; polling and the other outputs go on. Passwords
never appear in logs or health.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import sqlite3
import ssl
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from obisgate.backoff import Backoff
from obisgate.errors import ConfigError
from obisgate.gateway.outputs.extras import require_extra
from obisgate.gateway.outputs.mqtt.devices import DeviceTracker
from obisgate.gateway.outputs.mqtt.ha_discovery import discovery_messages
from obisgate.gateway.outputs.mqtt.payloads import (
    OFFLINE,
    ONLINE,
    device_availability_topic,
    gateway_availability_topic,
    state_messages,
)
from obisgate.gateway.outputs.outbox import (
    AckedPrefix,
    DropLog,
    Outbox,
    OutboxMessage,
    outbox_path,
)
from obisgate.gateway.readings.partitions import count_topic
from obisgate.gateway.updates import SignalUpdate

if TYPE_CHECKING:
    from pathlib import Path
    from types import ModuleType

    from obisgate.gateway.config_models import GatewayConfig
    from obisgate.gateway.outputs.factory import OutputContext
    from obisgate.gateway.outputs.mqtt.config import MqttConfig

__all__ = ["MqttOutput", "create"]

_LOGGER = logging.getLogger(__name__)

T = TypeVar("T")

#: Rows read from the outbox at a time.
_READ_BATCH = 500


def create(config: GatewayConfig, context: OutputContext) -> MqttOutput:
    """The MQTT output of ``config.mqtt``, registered in ``context.health["mqtt"]``.

    The outbox lives beside the history file (``<history>.mqtt-outbox.sqlite``).

    Raises:
        ConfigError: the ``mqtt`` extra (aiomqtt) is not installed.
    """
    assert config.mqtt is not None
    client_module = require_extra("aiomqtt", "mqtt", "mqtt")
    history = context.history_path or config.storage.path
    output = MqttOutput(
        config,
        client_module,
        outbox_file=outbox_path(history, "mqtt"),
        synchronous=config.storage.synchronous,
    )
    context.health["mqtt"] = output.health
    return output


class _Closing(Exception):
    """Ends a session on purpose (the output is closing)."""


class MqttOutput:
    """Publishes readouts to an MQTT broker; see the module docstring.

    Args:
        config: the gateway configuration (its ``mqtt`` section must be set).
        client_module: the imported ``aiomqtt``.
        outbox_file: the outbox's SQLite file.
        synchronous: the outbox's SQLite ``synchronous`` (NORMAL or FULL).
        in_flight: QoS messages sent but not yet acknowledged, at most.
        backoff_s: first and longest ceiling of the jittered wait between connection
            attempts (:class:`~obisgate.backoff.Backoff`).
    """

    name = "mqtt"

    def __init__(
        self,
        config: GatewayConfig,
        client_module: ModuleType,
        *,
        outbox_file: Path,
        synchronous: Any = "NORMAL",
        in_flight: int = 64,
        backoff_s: tuple[float, float] = (0.5, 30.0),
    ) -> None:
        assert config.mqtt is not None
        self.section: MqttConfig = config.mqtt
        self.outbox_file = outbox_file
        self._mqtt = client_module
        self._synchronous = synchronous
        self._in_flight = in_flight
        self._backoff = backoff_s
        self._devices = DeviceTracker(config, discovery=bool(self.section.discovery_prefix))
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="obisgate-mqtt-outbox")
        self._outbox: Outbox | None = None
        self._task: asyncio.Task[None] | None = None
        self._gateway_topic = gateway_availability_topic(
            self.section.topic_prefix, self.section.client_id
        )
        # Wakes the sender: new rows in the outbox / availability or discovery to publish.
        self._new_rows = asyncio.Event()
        self._changed = asyncio.Event()
        self._drained = asyncio.Event()
        self._closing = asyncio.Event()
        self._acked = 0  # every row up to this seq is acknowledged
        self._ack_seen = asyncio.Event()
        self._connected = False
        self._state = "not started"
        self._last_error: str | None = None
        self._logged_error: str | None = None
        self._store_error: str | None = None
        self._sent = 0
        self._dropped = 0
        self._full = DropLog(_LOGGER, "mqtt", "messages")

    # -- the Output interface ---------------------------------------------------

    async def start(self) -> None:
        """Open the outbox and start the sender; never waits for the broker.

        The password is read once here, so that an unset ``password_env``
        variable or an unreadable ``password_file`` is a failed start (one line
        naming it) instead of endless retries; it is read again at each connect.

        Raises:
            ConfigError: the password cannot be read, or the outbox cannot be opened.
        """
        try:
            await self._io(self.section.resolve_password)
        except ConfigError as exc:
            self._state = "not started"
            self._last_error = str(exc)
            raise
        self._outbox = await self._io(
            partial(
                Outbox,
                self.outbox_file,
                max_rows=self.section.outbox_max_rows,
                synchronous=self._synchronous,
            )
        )
        if self._outbox.depth:
            _LOGGER.info(
                "mqtt: %d messages from an earlier run wait in the outbox", self._outbox.depth
            )
        self._state = "connecting"
        self._task = asyncio.create_task(self._run(), name="mqtt-sender")

    async def publish(self, updates: Sequence[SignalUpdate]) -> None:
        """Append the readout's messages to the outbox (a disk write, never the network)."""
        await self.publish_many([updates])

    async def publish_many(self, batches: Sequence[Sequence[SignalUpdate]]) -> None:
        """Append the messages of several readouts to the outbox in one transaction."""
        if self._outbox is None:
            return
        section = self.section
        messages = []
        for updates in batches:
            if self._devices.learn(updates):
                self._changed.set()
            messages += state_messages(
                updates,
                prefix=section.topic_prefix,
                fmt=section.format,
                qos=section.qos,
                partitions=section.history_partitions,
            )
        try:
            dropped = await self._io(self._outbox.append, messages)
        except sqlite3.Error as exc:
            self._dropped += len(messages)
            reason = f"cannot store in the outbox {self.outbox_file}: {exc}"
            if self._store_error != reason:
                _LOGGER.error("mqtt: %s; readouts are dropped until it can", reason)  # noqa: TRY400
            self._store_error = self._last_error = reason
            return
        if self._store_error is not None:
            _LOGGER.info("mqtt: the outbox takes readouts again")
            self._store_error = None
        self._dropped += dropped
        self._full.appended(dropped, self.section.outbox_max_rows)
        self._drained.clear()
        self._new_rows.set()

    async def aclose(self) -> None:
        """Send what the broker can take within a few seconds, say ``offline``, disconnect.

        What is not acknowledged stays in the outbox for the next run.
        """
        if self._task is not None:
            if self._connected:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._drained.wait(), 5.0)
            self._closing.set()
            try:
                await asyncio.wait_for(asyncio.shield(self._task), 5.0)
            except (TimeoutError, Exception):
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await self._task
        if self._outbox is not None:
            outbox = self._outbox
            if self._acked:
                with contextlib.suppress(sqlite3.Error):
                    await self._io(outbox.delete_through, self._acked)
            await self._io(outbox.close)
        self._full.end()
        self._executor.shutdown(wait=True)
        self._state = "closed"

    def health(self) -> dict[str, Any]:
        """The output's state for the API and metrics (no secrets)."""
        return {
            "broker": self.section.url,
            "connected": self._connected,
            "status": self._state,
            "last_error": self._last_error,
            "outbox_depth": 0 if self._outbox is None else self._outbox.depth,
            "dropped": self._dropped,
            "outbox_dropped_total": self._full.total,
            "sent": self._sent,
        }

    # -- the sender ---------------------------------------------------------------

    async def _io(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def _run(self) -> None:
        backoff = Backoff(*self._backoff)
        while not self._closing.is_set():
            try:
                await self._session()
            except _Closing:
                return
            except Exception as exc:
                if self._closing.is_set():
                    return
                self._failed(_first_cause(exc))
            if self._connected_once:
                backoff.reset()
                self._connected_once = False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), backoff.next_delay())

    _connected_once = False
    _secret: str | None = None
    #: A connection failed since the last successful connect.
    _outage = False

    def _failed(self, exc: BaseException) -> None:
        reason = self._reason(exc)
        was_connected = self._connected_once
        self._connected = False
        self._state = "disconnected"
        self._last_error = reason
        self._outage = True
        url = self.section.url
        if was_connected:
            _LOGGER.warning(
                "mqtt: connection to %s lost (%s); readouts wait in the outbox", url, reason
            )
        elif reason != self._logged_error:
            _LOGGER.warning("mqtt: cannot connect to %s: %s; retrying", url, reason)
        else:
            _LOGGER.debug("mqtt: cannot connect to %s: %s", url, reason)
        self._logged_error = reason

    def _reason(self, exc: BaseException) -> str:
        text = " ".join(str(exc).split()) or type(exc).__name__
        if self._secret:
            text = text.replace(self._secret, "***")
        return text[:300]

    def _tls_context(self) -> ssl.SSLContext:
        section = self.section
        context = ssl.create_default_context(
            cafile=None if section.ca_file is None else str(section.ca_file)
        )
        if section.cert_file is not None:
            context.load_cert_chain(
                str(section.cert_file), None if section.key_file is None else str(section.key_file)
            )
        return context

    def _tls_handshake(self, context: ssl.SSLContext) -> None:
        """Connect and shake hands once (closing both sockets), to find TLS failures."""
        host, port = self.section.host, self.section.port
        with (
            socket.create_connection((host, port), timeout=10) as raw,
            context.wrap_socket(raw, server_hostname=host),
        ):
            pass

    async def _client(self) -> Any:
        section = self.section
        password = await self._io(section.resolve_password)
        self._secret = None if password is None else password.get_secret_value()
        tls = await self._io(self._tls_context) if section.tls else None
        if tls is not None:
            # paho leaves the socket of a failed handshake open: fail here, cleanly, instead.
            await self._io(self._tls_handshake, tls)
        aiomqtt = self._mqtt
        client = aiomqtt.Client(
            section.host,
            section.port,
            username=section.username,
            password=self._secret,
            identifier=section.client_id,
            will=aiomqtt.Will(self._gateway_topic, OFFLINE, qos=1, retain=True),
            tls_context=tls,
            timeout=10,
            keepalive=30,
            max_inflight_messages=self._in_flight,
            logger=logging.getLogger("obisgate.gateway.outputs.mqtt.output.client"),
        )
        client.pending_calls_threshold = self._in_flight * 4 + 100
        return client

    async def _session(self) -> None:
        client = await self._client()
        async with client:
            depth = 0 if self._outbox is None else self._outbox.depth
            if self._outage:  # the recovery shows at the default log level, once
                _LOGGER.warning(
                    "mqtt: connected again to %s (%d messages waiting)", self.section.url, depth
                )
            else:
                _LOGGER.info("mqtt: connected to %s (%d messages waiting)", self.section.url, depth)
            self._connected = self._connected_once = True
            self._outage = False
            self._state = "connected"
            self._last_error = self._logged_error = None
            try:
                await client.publish(self._gateway_topic, ONLINE, qos=1, retain=True)
                if self.section.history_partitions:
                    count = str(self.section.history_partitions).encode()
                    topic = count_topic(self.section.topic_prefix)
                    await client.publish(topic, count, qos=1, retain=True)
                prefix = self.section.discovery_prefix
                if prefix:
                    await client.subscribe(f"{prefix}/status", qos=1)
                self._devices.announce_all()
                await _first_failure(
                    self._listen(client),
                    self._announcer(client),
                    self._drain(client),
                    self._deleter(),
                    self._closer(client),
                )
            finally:
                self._connected = False

    async def _listen(self, client: Any) -> None:
        prefix = self.section.discovery_prefix
        async for message in client.messages:
            if prefix and str(message.topic) == f"{prefix}/status" and message.payload == ONLINE:
                _LOGGER.info("mqtt: Home Assistant is online: publishing discovery again")
                self._devices.announce_all()
                self._changed.set()

    async def _announcer(self, client: Any) -> None:
        section = self.section
        while True:
            self._changed.clear()
            devices = self._devices
            while devices.dirty_availability:
                alias = devices.dirty_availability.pop()
                topic = device_availability_topic(section.topic_prefix, alias)
                await client.publish(topic, devices.availability[alias], qos=1, retain=True)
            while devices.to_announce:
                alias = devices.to_announce.pop()
                messages = discovery_messages(
                    devices.discovery(alias),
                    discovery_prefix=section.discovery_prefix,
                    topic_prefix=section.topic_prefix,
                    client_id=section.client_id,
                    fmt=section.format,
                    qos=section.qos,
                )
                await asyncio.gather(
                    *(client.publish(t, p, qos=1, retain=True) for t, p in messages)
                )
            await self._changed.wait()

    async def _drain(self, client: Any) -> None:
        outbox = self._outbox
        assert outbox is not None
        slots = asyncio.Semaphore(self._in_flight)
        window = AckedPrefix()
        sent_through = self._acked
        failures: asyncio.Queue[BaseException] = asyncio.Queue()
        tasks: set[asyncio.Task[None]] = set()

        async def send(row: OutboxMessage) -> None:
            try:
                await client.publish(row.topic, row.payload, qos=row.qos, retain=row.retain)
            except Exception as exc:
                failures.put_nowait(exc)
                return
            finally:
                slots.release()
            self._sent += 1
            acked = window.ack(row.seq)
            if acked is not None:
                self._acked = acked
                self._ack_seen.set()

        try:
            while True:
                if not failures.empty():
                    raise failures.get_nowait()
                self._new_rows.clear()
                rows = await self._io(outbox.read, sent_through, _READ_BATCH)
                if not rows:
                    if not window:
                        self._drained.set()
                    await _wait_any(self._new_rows.wait(), failures.get(), failures=failures)
                    continue
                for row in rows:
                    await slots.acquire()
                    if not failures.empty():
                        raise failures.get_nowait()
                    window.sent(row.seq)
                    task = asyncio.create_task(send(row))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                    sent_through = row.seq
        finally:
            for task in list(tasks):
                task.cancel()

    async def _deleter(self) -> None:
        outbox = self._outbox
        assert outbox is not None
        deleted = 0
        while True:
            await self._ack_seen.wait()
            self._ack_seen.clear()
            acked = self._acked
            if acked > deleted:
                try:
                    await self._io(outbox.delete_through, acked)
                except sqlite3.Error as exc:
                    # The rows stay and are sent again after a restart (duplicates, never gaps).
                    self._last_error = "outbox: acknowledged rows not removed: " + str(exc)
                    continue
                deleted = acked
            if outbox.depth == 0:
                self._drained.set()

    async def _closer(self, client: Any) -> None:
        await self._closing.wait()
        with contextlib.suppress(Exception):
            await client.publish(self._gateway_topic, OFFLINE, qos=1, retain=True, timeout=2)
        raise _Closing


async def _wait_any(*waits: Awaitable[Any], failures: asyncio.Queue[BaseException]) -> None:
    """Wait until one of ``waits`` finishes; a failure taken from the queue is raised."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
    for task in done:
        result = task.result()
        if isinstance(result, BaseException):
            raise result


async def _first_failure(*coroutines: Awaitable[None]) -> None:
    """Run the coroutines together until the first one raises (then cancel the others)."""
    tasks = [asyncio.ensure_future(c) for c in coroutines]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
    for task in done:
        exc = task.exception()
        if exc is not None:
            raise exc


def _first_cause(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return exc
