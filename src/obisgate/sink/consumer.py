"""The MQTT side of a sink: owned history partitions, batches, acknowledgement after commit.

The gateways publish every readout message also to ``<prefix>/history/<p>/<device>``
(``[mqtt] history_partitions``; :mod:`obisgate.gateway.readings.partitions`). A sink owns a
fixed set of partitions and subscribes to ``<prefix>/history/<p>/+`` for each with
QoS 1, in a persistent session (``clean_session=False``) under a fixed client id:
the broker keeps the messages of a sink that is down, and restores the session
after its own restart (it does not do that for shared subscriptions). Each
partition must be owned by exactly one running sink (or several, which only costs
duplicates that the table skips).

A sink collects messages into a batch until it holds ``batch_rows`` rows,
``max_delay_s`` passed since its first message, or no further message arrived
within ``idle_s`` (the broker sends only a limited number of unacknowledged
messages, mosquitto's ``max_inflight_messages``, so waiting longer would only wait
for ourselves). The batch is stored by the writer (readings, and dead letters for
what is refused: :meth:`~obisgate.gateway.readings.writer.PostgresWriter.store`), and only
after that are its messages acknowledged (PUBACK, in the order received). A sink
killed before has acknowledged nothing: the broker redelivers those messages when
the sink reconnects with the same client id. Messages received before the broker
connection failed are still stored; their acknowledgement is lost with the
connection, so the broker sends them again (the table skips them).

When the database fails, the batch is kept and retried (a new connection after a
jittered wait: :class:`~obisgate.backoff.Backoff`, 0.5 s doubling to 5 s) while
nothing is acknowledged. When the broker connection fails the sink reconnects with
the same backoff. The waits stay short (at most 5 s once the broker or database is
back) because the broker queues the sink's messages meanwhile, up to its limit per
session (mosquitto: ``max_queued_messages``, 1000 by default), and drops the rest:
every second a sink waits adds a second of readouts to that queue, and a broker
outage must not turn into a sink outage many times longer (with a 30 s ceiling, a
6 s broker restart could keep a sink away for 36 s). The sink also subscribes to
mosquitto's count of dropped messages
(:mod:`~obisgate.sink.broker_drops`) and logs a warning when it grows. A broker that
refuses the login (wrong user or password, client id refused) or gateways that
announce another partition count end the sink with :class:`~obisgate.sink.SinkError`:
retrying cannot help.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from pydantic import SecretStr

from obisgate.backoff import Backoff
from obisgate.errors import ConfigError, DatabaseError
from obisgate.gateway.outputs.extras import require_extra
from obisgate.gateway.outputs.peer_errors import PeerErrorLog
from obisgate.gateway.readings.dsn import describe_failure
from obisgate.gateway.readings.partitions import count_topic, partition_topic
from obisgate.gateway.readings.rows import Refused, Row, parse_message
from obisgate.gateway.readings.writer import Stored, database_errors
from obisgate.mqtt_url import check_tls_handshake, parse_mqtt_url, tls_context, tls_problems
from obisgate.sink import SinkError
from obisgate.sink.broker_drops import DROPPED_TOPIC, DropCounter

__all__ = [
    "SinkSettings",
    "SinkStats",
    "Writer",
    "client_options",
    "consume",
    "default_client_id",
    "owned_text",
]

_LOGGER = logging.getLogger("obisgate.sink")

#: CONNACK codes that retrying cannot fix: MQTT 3.1.1 (2, 4, 5) and MQTT 5 (0x85-0x87).
_REFUSED_LOGIN = {
    2: "client id refused",
    4: "bad user name or password",
    5: "not authorized (wrong user name or password?)",
}
_REFUSED_LOGIN_V5 = {133: 2, 134: 4, 135: 5}


class Writer(Protocol):
    """What :func:`consume` stores batches with (see :class:`~obisgate.gateway.readings.writer.PostgresWriter`)."""

    async def store(
        self, rows: Sequence[Row], refused: Sequence[Refused] = (), *, source: str
    ) -> Stored:
        """Store ``rows`` and dead letters; raises the driver's errors when the database fails."""

    async def aclose(self) -> None:
        """Release the connection."""


def owned_text(owned: Sequence[int]) -> str:
    """``(0, 1, 2, 3, 8)`` -> ``"0-3,8"``."""
    parts: list[str] = []
    values = sorted(owned)
    start = prev = values[0] if values else 0
    for value in [*values[1:], None]:
        if value is not None and value == prev + 1:
            prev = value
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if value is not None:
            start = prev = value
    return ",".join(parts) if values else ""


def default_client_id(topic_prefix: str, owned: Sequence[int], count: int) -> str:
    """``obisgate-sink-<prefix>-p<owned>of<count>``: the same for every sink process that
    owns these partitions, so its session survives restarts and moves between hosts."""
    prefix = re.sub(r"[^A-Za-z0-9_.-]+", "-", topic_prefix).strip("-")
    spec = owned_text(owned).replace(",", "_")
    return f"obisgate-sink-{prefix}-p{spec}of{count}"


@dataclass(frozen=True, kw_only=True)
class SinkSettings:
    """How a sink subscribes and batches.

    Attributes:
        mqtt_url: ``mqtt://[user@]host[:port]`` or ``mqtts://…`` (TLS): the grammar
            of :mod:`obisgate.mqtt_url`, the gateway's ``[mqtt] url`` with a user. A
            password in it works but shows in ``ps``: use ``mqtt_password``.
        partitions: the gateways' ``history_partitions``.
        owned: the partitions this sink subscribes to.
        topic_prefix: the gateways' MQTT topic prefix.
        client_id: this sink's MQTT client id (stable across restarts; one per
            partition set).
        mqtt_password: the broker password (wins over one in the URL).
        ca_file, cert_file, key_file: TLS trust and client certificate (``mqtts://``
            only), as the gateway's ``[mqtt]`` fields of the same names.
        batch_rows: a batch is written when it holds this many rows …
        max_delay_s: … or this long after its first message …
        idle_s: … or when no message arrived for this long.
        backoff_s: first and largest ceiling of the jittered waits between
            reconnection attempts (broker and database); small, since the broker
            queues this sink's messages while it waits (module docstring).
    """

    mqtt_url: str
    partitions: int
    owned: tuple[int, ...]
    client_id: str
    topic_prefix: str = "obisgate"
    mqtt_password: SecretStr | None = None
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    batch_rows: int = 5000
    max_delay_s: float = 1.0
    idle_s: float = 0.05
    backoff_s: tuple[float, float] = (0.5, 5.0)

    @property
    def topics(self) -> list[str]:
        """``<prefix>/history/<p>/+`` for every owned partition."""
        return [partition_topic(self.topic_prefix, p) for p in self.owned]


@dataclass
class SinkStats:
    """Counters of one sink run (also written by ``--stats``).

    ``broker_dropped``: the messages the broker reported dropped (any client's; its
    own count, :mod:`~obisgate.sink.broker_drops`) while this sink ran, each warned about.
    """

    messages: int = 0
    rows: int = 0
    inserted: int = 0
    batches: int = 0
    dead_letters: int = 0
    database_errors: int = 0
    broker_errors: int = 0
    subscriptions: int = 0
    broker_dropped: int = 0

    @property
    def duplicates(self) -> int:
        """Rows that were already stored (replays)."""
        return self.rows - self.inserted


def url_has_password(url: str) -> bool:
    """Whether ``url`` (a broker URL or a DSN) carries a password (it then shows in ``ps``)."""
    try:
        return urlsplit(url).password is not None
    except ValueError:
        return False


def client_options(settings: SinkSettings) -> dict[str, Any]:
    """aiomqtt ``Client`` keyword arguments for the settings' broker.

    Raises:
        ConfigError: not a broker URL (the message never repeats a password), a
            password without a user, TLS files without ``mqtts://``, or a TLS file
            that cannot be used.
    """
    try:
        url = parse_mqtt_url(settings.mqtt_url)
    except ValueError as exc:
        raise ConfigError(f"--mqtt: {exc}") from None
    if problems := tls_problems(url, settings.ca_file, settings.cert_file, settings.key_file):
        raise ConfigError("; ".join(p.replace("_file", "-file") for p in problems))
    kwargs: dict[str, Any] = {"hostname": url.host, "port": url.port}
    password = settings.mqtt_password
    if password is not None and url.username is None:
        raise ConfigError("--mqtt: a password needs a user name (mqtt://USER@host)")
    if url.username is not None:
        kwargs["username"] = url.username
        if password is not None:
            kwargs["password"] = password.get_secret_value()
        elif url.password is not None:
            kwargs["password"] = url.password
    if url.tls:
        try:
            kwargs["tls_context"] = tls_context(
                settings.ca_file, settings.cert_file, settings.key_file
            )
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            raise ConfigError(f"--mqtt: the TLS files cannot be used: {exc}") from None
    return kwargs


def _refused_login(exc: Exception) -> str | None:
    """The reason when ``exc`` is a CONNACK that retrying cannot fix, else ``None``."""
    rc = getattr(exc, "rc", None)
    code = getattr(rc, "value", rc)
    if not isinstance(code, int):
        return None
    return _REFUSED_LOGIN.get(_REFUSED_LOGIN_V5.get(code, code))


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
    :class:`~obisgate.errors.DatabaseError`, propagate: a sink that cannot reach its
    database at start-up stops at once) and again after a database failure.

    Raises:
        ConfigError: a bad ``mqtt_url`` or TLS file, or the ``postgres`` extra is missing.
        SinkError: the broker refused the login, or the gateways announce another
            partition count (the message never holds a password).
    """
    aiomqtt = require_extra("aiomqtt", "postgres", "sink postgres")
    broker = client_options(settings)
    url = parse_mqtt_url(settings.mqtt_url)
    where = f"{broker['hostname']}:{broker['port']}"
    stats = stats or SinkStats()
    writer: Writer | None = await connect()
    backoff = Backoff(*settings.backoff_s)
    dead_log = PeerErrorLog(_LOGGER, "dead letters", window_s=60.0)
    drops = DropCounter()

    async def broker_failed(exc: Exception) -> None:
        stats.broker_errors += 1
        delay = backoff.next_delay()
        _LOGGER.warning("broker %s: %s; reconnecting in %.1f s", where, exc, delay)
        await _wait(stop, delay)

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
                    subscriptions = [(t, 1) for t in settings.topics]
                    subscriptions.append((count_topic(settings.topic_prefix), 1))
                    subscriptions.append((DROPPED_TOPIC, 0))  # refused by some brokers: fine
                    await client.subscribe(subscriptions)
                    stats.subscriptions += 1
                    _LOGGER.info(
                        "subscribed to %d partitions of %d (%s) on %s as %s",
                        len(settings.owned),
                        settings.partitions,
                        owned_text(settings.owned),
                        where,
                        settings.client_id,
                    )
                    backoff.reset()
                    writer = await _session(
                        client, settings, writer, connect, stop, stats, dead_log, drops, where
                    )
            except aiomqtt.MqttError as exc:
                refused = _refused_login(exc)
                if refused is not None:
                    raise SinkError(f"MQTT broker {where} refused the login: {refused}") from None
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
    dead_log: PeerErrorLog,
    drops: DropCounter,
    where: str,
) -> Writer | None:
    """Batches from one broker connection until ``stop``; the writer still open."""
    inbox: asyncio.Queue[Any] = asyncio.Queue()
    announcement = count_topic(settings.topic_prefix)

    async def receive() -> None:
        async for message in client.messages:
            topic = str(message.topic)
            if topic == announcement:
                client._client.ack(message.mid, message.qos)
                _check_count(message.payload, settings)
                continue
            if topic == DROPPED_TOPIC:
                _report_drops(bytes(message.payload), drops, stats, where)
                continue
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
            rows, refused = parse_message(batch[0].payload)
            await _fill(batch, rows, refused, inbox, receiver, settings)
            writer = await _store(rows, refused, writer, connect, stop, stats, settings, dead_log)
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


def _report_drops(payload: bytes, drops: DropCounter, stats: SinkStats, where: str) -> None:
    """Log a warning when the broker's count of dropped messages grew."""
    new = drops.update(payload)
    stats.broker_dropped += new
    if new:
        _LOGGER.warning(
            "broker %s dropped %d messages (%d since it started, %s): a client's queue was "
            "full; if it was this sink's session, readouts of its partitions are lost: "
            "raise the broker's queue limit (mosquitto: max_queued_messages, 1000 by "
            "default; README, History in PostgreSQL)",
            where,
            new,
            drops.count,
            DROPPED_TOPIC,
        )


def _check_count(payload: Any, settings: SinkSettings) -> None:
    """Raise when the gateways announce another partition count than ours.

    Raises:
        SinkError: they do (the partitions this sink does not know of would have
            no subscriber).
    """
    try:
        announced = int(bytes(payload).decode("ascii"))
    except (TypeError, ValueError, UnicodeDecodeError):
        _LOGGER.warning("ignored a partition count that is not a number")
        return
    if announced != settings.partitions:
        raise SinkError(
            f"the gateways publish history in {announced} partitions "
            f"({count_topic(settings.topic_prefix)}), this sink has --partitions "
            f"{settings.partitions}: start the sinks with --partitions {announced}"
        )


async def _fill(
    batch: list[Any],
    rows: list[Row],
    refused: list[Refused],
    inbox: asyncio.Queue[Any],
    receiver: asyncio.Task[None],
    settings: SinkSettings,
) -> None:
    """Add messages to ``batch`` (their rows to ``rows``) until full, old, or the stream pauses."""
    deadline = time.monotonic() + settings.max_delay_s
    while len(rows) < settings.batch_rows:
        try:
            message = inbox.get_nowait()
        except asyncio.QueueEmpty:
            if receiver.done():
                return
            left = min(settings.idle_s, deadline - time.monotonic())
            if left <= 0:
                return
            try:
                message = await asyncio.wait_for(inbox.get(), left)
            except TimeoutError:
                return
        batch.append(message)
        more_rows, more_refused = parse_message(message.payload)
        rows.extend(more_rows)
        refused.extend(more_refused)


async def _store(
    rows: Sequence[Row],
    refused: Sequence[Refused],
    writer: Writer | None,
    connect: Callable[[], Awaitable[Writer]],
    stop: asyncio.Event,
    stats: SinkStats,
    settings: SinkSettings,
    dead_log: PeerErrorLog,
) -> Writer | None:
    """Store the batch, reconnecting and retrying until it works; ``None`` if stopped first."""
    failures: tuple[type[BaseException], ...] = (*database_errors(), DatabaseError)
    backoff = Backoff(*settings.backoff_s)
    source = f"sink {settings.client_id}"
    while True:
        try:
            if writer is None:
                writer = await connect()
            stored = await writer.store(rows, refused, source=source)
        except failures as exc:
            stats.database_errors += 1
            delay = backoff.next_delay()
            _LOGGER.warning("database: %s; retrying in %.1f s", describe_failure(exc), delay)
            if writer is not None:
                await writer.aclose()
                writer = None
            await _wait(stop, delay)
            if stop.is_set():
                return None
            continue
        stats.rows += stored.stored
        stats.inserted += stored.inserted
        stats.dead_letters += stored.dead_letters
        if stored.reason is not None:
            dead_log.report(source, f"{stored.dead_letters} in a batch, e.g. {stored.reason}")
        return writer
