"""The MQTT side of a sink: shared subscription, batches, acknowledgement after commit.

Several sinks subscribe to ``$share/<group>/<prefix>/+/state`` with QoS 1; the broker
gives each readout message to one of them. A sink collects messages into a batch
until it holds ``batch_rows`` rows, ``max_delay_s`` passed since its first message,
or no further message arrived within ``idle_s`` (the broker sends only a limited
number of unacknowledged messages, mosquitto's ``max_inflight_messages``, so waiting
longer would only wait for ourselves). The batch is stored by the writer in one
transaction, and only after the commit are its messages acknowledged (PUBACK, in
the order received). A sink killed before the commit has acknowledged nothing: the
broker redelivers those messages when a sink with the same client id reconnects
(the session is persistent: ``clean_session=False``).

When the database fails, the batch is kept and retried (with a new connection,
waiting 1, 2, 4 … up to 30 s) while nothing is acknowledged. When the broker
connection fails, the unacknowledged batch is dropped (the broker resends it) and
the sink reconnects with the same backoff. A message that is not a readout is
logged, counted as rejected and acknowledged, so it cannot block the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from obisgate.errors import ConfigError
from obisgate.gateway.outputs.extras import require_extra
from obisgate.mqtt_url import check_tls_handshake, parse_mqtt_url, tls_context, tls_problems
from obisgate.sink import SinkError
from obisgate.sink.dsn import describe_failure
from obisgate.sink.postgres import database_errors
from obisgate.sink.rows import BadMessage, Row, rows_from_payload

__all__ = ["SinkSettings", "SinkStats", "Writer", "client_options", "consume", "default_client_id"]

_LOGGER = logging.getLogger("obisgate.sink")


class Writer(Protocol):
    """What :func:`consume` stores batches with (see :class:`~obisgate.sink.postgres.PostgresWriter`)."""

    async def write(self, rows: Sequence[Row]) -> int:
        """Store ``rows`` in one transaction; the number that were new."""

    async def aclose(self) -> None:
        """Release the connection."""


def default_client_id() -> str:
    """``obisgate-sink-<hostname>``: stable across restarts, so the session survives."""
    return f"obisgate-sink-{socket.gethostname()}"


@dataclass(frozen=True, kw_only=True)
class SinkSettings:
    """How a sink subscribes and batches.

    Attributes:
        mqtt_url: ``mqtt://[user[:password]@]host[:port]`` or ``mqtts://…`` (TLS): the
            grammar of :mod:`obisgate.mqtt_url`, the gateway's ``[mqtt] url`` with credentials.
        ca_file, cert_file, key_file: TLS trust and client certificate (``mqtts://``
            only), as the gateway's ``[mqtt]`` fields of the same names.
        group: the shared-subscription group; sinks of one group split the messages.
        topic_prefix: the gateways' MQTT topic prefix.
        client_id: this sink's MQTT client id (unique per sink, stable across restarts).
        batch_rows: a batch is written when it holds this many rows …
        max_delay_s: … or this long after its first message …
        idle_s: … or when no message arrived for this long.
        retry_max_s: longest wait between reconnection attempts.
    """

    mqtt_url: str
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    group: str = "obisgate-history"
    topic_prefix: str = "obisgate"
    client_id: str = field(default_factory=default_client_id)
    batch_rows: int = 5000
    max_delay_s: float = 1.0
    idle_s: float = 0.05
    retry_max_s: float = 30.0

    @property
    def topic(self) -> str:
        """The shared subscription: ``$share/<group>/<prefix>/+/state``."""
        return f"$share/{self.group}/{self.topic_prefix}/+/state"


@dataclass
class SinkStats:
    """Counters of one sink run (also written by ``--stats``)."""

    messages: int = 0
    rows: int = 0
    inserted: int = 0
    batches: int = 0
    rejected: int = 0
    database_errors: int = 0
    broker_errors: int = 0
    subscriptions: int = 0

    @property
    def duplicates(self) -> int:
        """Rows that were already stored (replays)."""
        return self.rows - self.inserted


def client_options(settings: SinkSettings) -> dict[str, Any]:
    """aiomqtt ``Client`` keyword arguments for the settings' broker.

    Raises:
        ConfigError: not a broker URL (the message never repeats a password), TLS
            files without ``mqtts://``, or a TLS file that cannot be used.
    """
    try:
        url = parse_mqtt_url(settings.mqtt_url)
    except ValueError as exc:
        raise ConfigError(f"--mqtt: {exc}") from None
    if problems := tls_problems(url, settings.ca_file, settings.cert_file, settings.key_file):
        raise ConfigError("; ".join(p.replace("_file", "-file") for p in problems))
    kwargs: dict[str, Any] = {"hostname": url.host, "port": url.port}
    if url.username is not None:
        kwargs["username"] = url.username
        kwargs["password"] = url.password
    if url.tls:
        try:
            kwargs["tls_context"] = tls_context(
                settings.ca_file, settings.cert_file, settings.key_file
            )
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            raise ConfigError(f"--mqtt: the TLS files cannot be used: {exc}") from None
    return kwargs


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def consume(
    settings: SinkSettings,
    connect: Callable[[], Awaitable[Writer]],
    stop: asyncio.Event,
    stats: SinkStats | None = None,
) -> SinkStats:
    """Store readout messages until ``stop`` is set; the counters.

    ``connect`` opens a writer; it is called once at the start (its errors, e.g.
    :class:`~obisgate.sink.SinkError`, propagate: a sink that cannot reach its
    database at start-up stops at once) and again after a database failure.

    Raises:
        ConfigError: a bad ``mqtt_url``, or the ``postgres`` extra is missing.
    """
    aiomqtt = require_extra("aiomqtt", "postgres", "sink postgres")
    broker = client_options(settings)
    url = parse_mqtt_url(settings.mqtt_url)
    stats = stats or SinkStats()
    writer: Writer | None = await connect()
    retry = 1.0

    async def broker_failed(exc: Exception) -> None:
        nonlocal retry
        stats.broker_errors += 1
        _LOGGER.warning("broker: %s; reconnecting in %.0f s", exc, retry)
        await _wait(stop, retry)
        retry = min(retry * 2, settings.retry_max_s)

    try:
        while not stop.is_set():
            if url.tls:
                try:  # paho leaves the socket of a failed handshake open: fail here instead
                    await asyncio.to_thread(check_tls_handshake, url, broker["tls_context"])
                except OSError as exc:
                    await broker_failed(exc)
                    continue
            client = aiomqtt.Client(
                **broker,
                identifier=settings.client_id,
                clean_session=False,
                timeout=10,
                logger=logging.getLogger("obisgate.sink.mqtt"),
            )
            # paho acknowledges on delivery unless told otherwise (aiomqtt 2.5 has no
            # option for it); set before connecting, as a persistent session may
            # deliver right after CONNACK.
            client._client.manual_ack_set(True)
            try:
                async with client:
                    await client.subscribe(settings.topic, qos=1)
                    stats.subscriptions += 1
                    _LOGGER.info("subscribed to %s as %s", settings.topic, settings.client_id)
                    retry = 1.0
                    writer = await _session(client, settings, writer, connect, stop, stats)
            except aiomqtt.MqttError as exc:
                await broker_failed(exc)
    finally:
        if writer is not None:
            await writer.aclose()
    return stats


async def _session(
    client: Any,
    settings: SinkSettings,
    writer: Writer | None,
    connect: Callable[[], Awaitable[Writer]],
    stop: asyncio.Event,
    stats: SinkStats,
) -> Writer | None:
    """Batches from one broker connection until ``stop``; the writer still open."""
    inbox: asyncio.Queue[Any] = asyncio.Queue()

    async def receive() -> None:
        async for message in client.messages:
            inbox.put_nowait(message)

    receiver = asyncio.create_task(receive())
    stopper = asyncio.create_task(stop.wait())
    try:
        while not stop.is_set():
            first = asyncio.create_task(inbox.get())
            done, _ = await asyncio.wait(
                [first, receiver, stopper], return_when=asyncio.FIRST_COMPLETED
            )
            if first not in done:
                first.cancel()
                if receiver in done:
                    receiver.result()  # the broker connection failed: raise MqttError
                return writer
            batch = [first.result()]
            rows = _parse(batch[0], stats)
            await _fill(batch, rows, inbox, receiver, settings, stats)
            writer = await _store(rows, writer, connect, stop, stats, settings)
            if writer is None:
                return None  # stopped while the database was down: nothing acknowledged
            for message in batch:
                client._client.ack(message.mid, message.qos)
            stats.messages += len(batch)
            stats.batches += 1
        return writer
    finally:
        for task in (receiver, stopper):
            task.cancel()
        for task in (receiver, stopper):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def _parse(message: Any, stats: SinkStats) -> list[Row]:
    try:
        return rows_from_payload(message.payload)
    except BadMessage as exc:
        stats.rejected += 1
        _LOGGER.warning("ignored a message on %s: %s", message.topic, exc)
        return []


async def _fill(
    batch: list[Any],
    rows: list[Row],
    inbox: asyncio.Queue[Any],
    receiver: asyncio.Task[None],
    settings: SinkSettings,
    stats: SinkStats,
) -> None:
    """Add messages to ``batch`` (their rows to ``rows``) until full, old, or the stream pauses."""
    deadline = time.monotonic() + settings.max_delay_s
    while len(rows) < settings.batch_rows and not receiver.done():
        try:
            message = inbox.get_nowait()
        except asyncio.QueueEmpty:
            left = min(settings.idle_s, deadline - time.monotonic())
            if left <= 0:
                return
            try:
                message = await asyncio.wait_for(inbox.get(), left)
            except TimeoutError:
                return
        batch.append(message)
        rows.extend(_parse(message, stats))


async def _store(
    rows: Sequence[Row],
    writer: Writer | None,
    connect: Callable[[], Awaitable[Writer]],
    stop: asyncio.Event,
    stats: SinkStats,
    settings: SinkSettings,
) -> Writer | None:
    """Write ``rows``, reconnecting and retrying until it works; ``None`` if stopped first."""
    failures: tuple[type[BaseException], ...] = (*database_errors(), SinkError)
    retry = 1.0
    while True:
        try:
            if writer is None:
                writer = await connect()
            inserted = await writer.write(rows)
        except failures as exc:
            stats.database_errors += 1
            _LOGGER.warning("database: %s; retrying in %.0f s", _reason(exc), retry)
            if writer is not None:
                await writer.aclose()
                writer = None
            await _wait(stop, retry)
            if stop.is_set():
                return None
            retry = min(retry * 2, settings.retry_max_s)
            continue
        stats.rows += len(rows)
        stats.inserted += inserted
        return writer


def _reason(exc: BaseException) -> str:
    return describe_failure(exc)
