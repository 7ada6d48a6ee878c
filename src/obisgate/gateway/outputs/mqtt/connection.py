"""The broker connection of the MQTT output: connect, run one session's units, reconnect.

:meth:`Connection.run` loops until :meth:`Connection.close`:

1. connect (aiomqtt, with a last will ``offline``, retained, on the gateway's
   availability topic; for ``mqtts://`` the TLS handshake is tried first, so a
   certificate problem is one clear error); on failure wait a jittered backoff
   (:class:`~obisgate.backoff.Backoff`) and try again, for ever;
2. publish ``online`` there (retained), subscribe to the read commands
   (``<prefix>/+/read/set``), let the announcer subscribe and the client id claim
   (:mod:`.claim`) subscribe and publish this process's record (so once that record
   is seen, read commands are taken);
3. run the session's units as tasks of their own (:meth:`Connection._units`): the
   announcer (availability and discovery), the listener (Home Assistant's
   birth message to the announcer, the instance and availability topics to the
   claim, read commands to :class:`~.commands.ReadCommands`), the outbox sender and
   its deleter, and the closer. The first unit
   that ends (fails) ends the session (the others are cancelled) and the
   loop reconnects; :meth:`close` makes the closer publish ``offline`` and end
   the session for good.

Failures are logged in one line when they start (not at every retry) and are
the output's health; passwords never appear in either. When the claim finds
that another live gateway, started earlier, uses the client id
(:class:`~.claim.ClientIdTaken`), the loop ends: the output is off for the run,
with one error line naming the other gateway. A broker that closes the
connection right after it was made, three times in a row, is warned about once
(another client with the same id, which is not an obisgate gateway, does that).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine
from pathlib import Path
from types import ModuleType
from typing import Any

from obisgate.backoff import Backoff
from obisgate.gateway.outputs.health import HealthRecord, OutputState
from obisgate.gateway.outputs.mqtt.announcer import Announcer
from obisgate.gateway.outputs.mqtt.claim import ClientIdClaim, ClientIdTaken
from obisgate.gateway.outputs.mqtt.commands import ReadCommands
from obisgate.gateway.outputs.mqtt.config import MqttConfig
from obisgate.gateway.outputs.mqtt.payloads import OFFLINE, ONLINE, gateway_availability_topic
from obisgate.gateway.outputs.mqtt.sender import OutboxSender
from obisgate.gateway.outputs.mqtt.worker import DiskWorker
from obisgate.gateway.readings.partitions import count_topic
from obisgate.mqtt_url import check_tls_handshake

__all__ = ["Connection"]

# The output's logger: one name for every record of the MQTT output.
_LOGGER = logging.getLogger("obisgate.gateway.outputs.mqtt.output")

#: A session lost within this many seconds of connecting counts as thrown off at once.
SHORT_SESSION_S = 5.0
#: Sessions thrown off at once in a row before the probable cause is named.
SHORT_SESSIONS_WARNED = 3
#: How long a unit may take to end once cancelled before it is cancelled again.
UNIT_CANCEL_RETRY_S = 0.2


class _Closing(Exception):
    """Ends a session on purpose (the output is closing)."""


class Connection:
    """One broker connection at a time, re-established until closed.

    Args:
        section: the ``[mqtt]`` section.
        client_module: the imported ``aiomqtt``.
        worker: the thread for blocking calls (password file, TLS files).
        record: the output's health, kept up to date here.
        sender: the outbox sender, run in every session.
        announcer: the availability and discovery announcer, run in every session.
        commands: the read commands to subscribe to and take (``None``: none).
        client_id: the client id to connect with.
        config: the configuration file (named in the claim's record).
        in_flight: QoS messages sent but not yet acknowledged, at most.
        backoff_s: first and longest ceiling of the jittered wait between attempts.

    Attributes:
        connected: a session is running now.
        taken: why the output is off for good (another gateway holds the client
            id), else ``None``.
    """

    def __init__(
        self,
        section: MqttConfig,
        client_module: ModuleType,
        worker: DiskWorker,
        record: HealthRecord,
        *,
        sender: OutboxSender,
        announcer: Announcer,
        commands: ReadCommands | None = None,
        client_id: str,
        config: Path | None = None,
        in_flight: int,
        backoff_s: tuple[float, float],
    ) -> None:
        self._section = section
        self._mqtt = client_module
        self._worker = worker
        self._record = record
        self._sender = sender
        self._announcer = announcer
        self._commands = commands
        self._in_flight = in_flight
        self._backoff = backoff_s
        self._client_id = client_id
        self._gateway_topic = gateway_availability_topic(section.topic_prefix, client_id)
        self._closing = asyncio.Event()
        self._claim = ClientIdClaim(
            section.topic_prefix, client_id, config=config, closing=self._closing.is_set
        )
        self.connected = False
        self.taken: str | None = None
        #: When the running session connected (monotonic seconds).
        self._session_began = 0.0
        #: Sessions in a row that were lost right after connecting.
        self._short_sessions = 0
        #: A session started since the last failure (the backoff starts over).
        self._connected_once = False
        #: A connection failed since the last successful connect.
        self._outage = False
        #: The failure last logged at warning level (a repeat is logged at debug).
        self._logged_error: str | None = None
        #: The password of the current attempt, masked in every message.
        self._secret: str | None = None

    def close(self) -> None:
        """End the session (after ``offline`` is published) and the loop."""
        self._closing.set()

    async def run(self) -> None:
        """Connect and run sessions until :meth:`close`; never raises."""
        backoff = Backoff(*self._backoff)
        while not self._closing.is_set():
            try:
                await self._session()
            except Exception as exc:
                cause = _first_cause(exc)
                if isinstance(cause, _Closing) or self._closing.is_set():
                    return
                if isinstance(cause, ClientIdTaken):
                    self._taken(cause)
                    return
                self._failed(cause)
            if self._connected_once:
                backoff.reset()
                self._connected_once = False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), backoff.next_delay())

    async def _session(self) -> None:
        client = await self._client()
        async with client:
            self._connected()
            try:
                # A task of its own: on Python 3.11 a task group whose unit fails while it
                # waits in __aexit__ (the sender's) leaves a cancellation request on its
                # parent task (fixed in 3.12); none may pile up on the task that reconnects.
                await asyncio.create_task(self._units(client), name="mqtt-session")
            finally:
                self.connected = False

    async def _units(self, client: Any) -> None:
        """Run the session: the listener and the closer from the start (a broker that
        drops the connection ends the session at once, also while it is being set up),
        and the work (:meth:`_work`).

        Raises:
            ExceptionGroup: what ended the session (``_Closing`` when closing).
        """
        await _run_units(
            (self._listen(client), "mqtt-listener"),
            (self._close_when_asked(client), "mqtt-closer"),
            (self._work(client), "mqtt-work"),
        )

    async def _work(self, client: Any) -> None:
        """Say ``online``, subscribe, claim the client id, then announce and send.

        Raises:
            ExceptionGroup: a publish failed (the session ends).
        """
        await client.publish(self._gateway_topic, ONLINE, qos=1, retain=True)
        if self._section.history_partitions:
            count = str(self._section.history_partitions).encode()
            topic = count_topic(self._section.topic_prefix)
            await client.publish(topic, count, qos=1, retain=True)
        if self._commands is not None:
            await self._commands.subscribe(client)
        await self._announcer.subscribe(client)
        await self._claim.subscribe(client)
        await _run_units(
            (self._announcer.announce(client), "mqtt-announcer"),
            (self._sender.send(client), "mqtt-sender"),
            (self._sender.delete_acknowledged(), "mqtt-deleter"),
        )

    async def _listen(self, client: Any) -> None:
        """Hand each message to the unit it is for (read commands, Home Assistant's
        status, the claim's topics); returns when the stream ends.

        Raises:
            ClientIdTaken: from the claim.
        """
        commands = self._commands
        async for message in client.messages:
            topic = str(message.topic)
            if commands is not None and commands.take(topic):
                continue
            payload = message.payload if isinstance(message.payload, bytes) else b""
            if self._announcer.wants(topic):
                self._announcer.handle(payload)
            elif self._claim.wants(topic):
                await self._claim.handle(client, topic, payload)

    def _connected(self) -> None:
        depth = self._sender.outbox.depth
        url = self._section.url
        if self._outage:  # the recovery shows at the default log level, once
            _LOGGER.warning("mqtt: connected again to %s (%d messages waiting)", url, depth)
        else:
            _LOGGER.info("mqtt: connected to %s (%d messages waiting)", url, depth)
        self.connected = self._connected_once = True
        self._session_began = time.monotonic()
        self._outage = False
        self._logged_error = None
        self._record.set(OutputState.RUNNING)
        self._record.last_error = None

    async def _close_when_asked(self, client: Any) -> None:
        await self._closing.wait()
        with contextlib.suppress(Exception):
            await client.publish(self._gateway_topic, OFFLINE, qos=1, retain=True, timeout=2)
        raise _Closing

    def _taken(self, exc: ClientIdTaken) -> None:
        self.connected = False
        self.taken = str(exc)
        self._record.set(OutputState.OFF, self.taken)
        _LOGGER.error("mqtt: %s", self.taken)

    def _failed(self, exc: BaseException) -> None:
        reason = self._reason(exc)
        was_connected = self._connected_once
        if was_connected and time.monotonic() - self._session_began < SHORT_SESSION_S:
            self._short_sessions += 1
            if self._short_sessions == SHORT_SESSIONS_WARNED:
                _LOGGER.warning(
                    "mqtt: %s closed the connection right after it was made %d times in a "
                    "row: is another client connected with client id %r? Each gateway "
                    "needs its own",
                    self._section.url,
                    SHORT_SESSIONS_WARNED,
                    self._client_id,
                )
        elif was_connected:
            self._short_sessions = 0
        self.connected = False
        self._record.set(OutputState.DISCONNECTED, reason)
        self._outage = True
        url = self._section.url
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

    async def _client(self) -> Any:
        section = self._section
        password = await self._worker.run(section.resolve_password)
        self._secret = None if password is None else password.get_secret_value()
        tls = await self._worker.run(section.tls_context) if section.tls else None
        if tls is not None:
            # paho leaves the socket of a failed handshake open: fail here, cleanly, instead.
            await self._worker.run(check_tls_handshake, section.broker, tls)
        aiomqtt = self._mqtt
        client = aiomqtt.Client(
            section.host,
            section.port,
            username=section.username,
            password=self._secret,
            identifier=self._client_id,
            will=aiomqtt.Will(self._gateway_topic, OFFLINE, qos=1, retain=True),
            tls_context=tls,
            timeout=10,
            keepalive=30,
            max_inflight_messages=self._in_flight,
            logger=logging.getLogger("obisgate.gateway.outputs.mqtt.output.client"),
        )
        client.pending_calls_threshold = self._in_flight * 4 + 100
        return client


async def _run_units(*units: tuple[Coroutine[Any, Any, None], str]) -> None:
    """Run ``units`` (coroutine, task name) until the first one ends; cancel the others.

    Not an :class:`asyncio.TaskGroup`: on Python 3.11 a cancellation can be lost when it
    meets a finishing ``asyncio.wait_for`` (which aiomqtt's publish uses), and a unit that
    lost it would keep the group, and the session, open for ever. Units still running are
    cancelled again until they end.

    Raises:
        ExceptionGroup: what ended them, the unit that ended first first (one that
            returned counts as failed: units run until the session ends).
    """
    tasks = [asyncio.create_task(coro, name=name) for coro, name in units]
    failures: list[Exception] = []
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        ended = [t for t in tasks if t.done()]
        running = {t for t in tasks if not t.done()}
        while running:
            for task in running:
                task.cancel()
            _, running = await asyncio.wait(running, timeout=UNIT_CANCEL_RETRY_S)
        # Every outcome is taken, also when this itself is cancelled (a unit that failed
        # meanwhile is then not logged as "Task exception was never retrieved").
        for task in [*ended, *(t for t in tasks if t not in ended)]:
            if task.cancelled():
                continue
            exc = task.exception()
            if isinstance(exc, Exception):
                failures.append(exc)
            elif exc is None and task in ended:
                failures.append(ConnectionError(f"{task.get_name()} ended"))
    raise ExceptionGroup("the MQTT session ended", failures or [ConnectionError("ended")])


def _first_cause(exc: BaseException) -> BaseException:
    """The first exception of (nested) exception groups: what ended the session."""
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return exc
