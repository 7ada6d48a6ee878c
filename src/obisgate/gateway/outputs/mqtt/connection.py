"""The broker connection of the MQTT output: connect, run one session's units, reconnect.

:meth:`Connection.run` loops until :meth:`Connection.close`:

1. connect (aiomqtt, with a last will ``offline``, retained, on the gateway's
   availability topic; for ``mqtts://`` the TLS handshake is tried first, so a
   certificate problem is one clear error); on failure wait a jittered backoff
   (:class:`~obisgate.backoff.Backoff`) and try again, for ever;
2. publish ``online`` there (retained) and let the announcer subscribe;
3. run the session's units under one :class:`asyncio.TaskGroup`: the
   announcer (availability and discovery, and Home Assistant's birth
   message), the outbox sender and its deleter, and the closer. The first unit
   that fails ends the session (the task group cancels the others) and the
   loop reconnects; :meth:`close` makes the closer publish ``offline`` and end
   the session for good.

Failures are logged in one line when they start (not at every retry) and are
the output's health; passwords never appear in either.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from types import ModuleType
from typing import Any

from obisgate.backoff import Backoff
from obisgate.gateway.outputs.health import HealthRecord, OutputState
from obisgate.gateway.outputs.mqtt.announcer import Announcer
from obisgate.gateway.outputs.mqtt.config import MqttConfig
from obisgate.gateway.outputs.mqtt.payloads import OFFLINE, ONLINE, gateway_availability_topic
from obisgate.gateway.outputs.mqtt.sender import OutboxSender
from obisgate.gateway.outputs.mqtt.worker import DiskWorker
from obisgate.gateway.readings.partitions import count_topic
from obisgate.mqtt_url import check_tls_handshake

__all__ = ["Connection"]

# The output's logger: one name for every record of the MQTT output.
_LOGGER = logging.getLogger("obisgate.gateway.outputs.mqtt.output")


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
        in_flight: QoS messages sent but not yet acknowledged, at most.
        backoff_s: first and longest ceiling of the jittered wait between attempts.

    Attributes:
        connected: a session is running now.
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
        in_flight: int,
        backoff_s: tuple[float, float],
    ) -> None:
        self._section = section
        self._mqtt = client_module
        self._worker = worker
        self._record = record
        self._sender = sender
        self._announcer = announcer
        self._in_flight = in_flight
        self._backoff = backoff_s
        self._gateway_topic = gateway_availability_topic(section.topic_prefix, section.client_id)
        self._closing = asyncio.Event()
        self.connected = False
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
                await client.publish(self._gateway_topic, ONLINE, qos=1, retain=True)
                if self._section.history_partitions:
                    count = str(self._section.history_partitions).encode()
                    topic = count_topic(self._section.topic_prefix)
                    await client.publish(topic, count, qos=1, retain=True)
                await self._announcer.subscribe(client)
                # A task of its own: on Python 3.11 a task group whose unit fails while it
                # waits in __aexit__ leaves a cancellation request on its parent task (fixed
                # in 3.12); it must not pile up on the task that reconnects for ever.
                await asyncio.create_task(self._units(client), name="mqtt-session")
            finally:
                self.connected = False

    async def _units(self, client: Any) -> None:
        """Run the session's units until the first one fails (the others are cancelled).

        Raises:
            ExceptionGroup: what ended the session (``_Closing`` when closing).
        """
        async with asyncio.TaskGroup() as units:
            units.create_task(self._announcer.announce(client), name="mqtt-announcer")
            units.create_task(self._announcer.listen(client), name="mqtt-listener")
            units.create_task(self._sender.send(client), name="mqtt-sender")
            units.create_task(self._sender.delete_acknowledged(), name="mqtt-deleter")
            units.create_task(self._close_when_asked(client), name="mqtt-closer")

    def _connected(self) -> None:
        depth = self._sender.outbox.depth
        url = self._section.url
        if self._outage:  # the recovery shows at the default log level, once
            _LOGGER.warning("mqtt: connected again to %s (%d messages waiting)", url, depth)
        else:
            _LOGGER.info("mqtt: connected to %s (%d messages waiting)", url, depth)
        self.connected = self._connected_once = True
        self._outage = False
        self._logged_error = None
        self._record.set(OutputState.RUNNING)
        self._record.last_error = None

    async def _close_when_asked(self, client: Any) -> None:
        await self._closing.wait()
        with contextlib.suppress(Exception):
            await client.publish(self._gateway_topic, OFFLINE, qos=1, retain=True, timeout=2)
        raise _Closing

    def _failed(self, exc: BaseException) -> None:
        reason = self._reason(exc)
        was_connected = self._connected_once
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


def _first_cause(exc: BaseException) -> BaseException:
    """The first exception of (nested) exception groups: what ended the session."""
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return exc
