"""Bad input for the MQTT output: credentials, TLS, a missing extra, a full outbox or disk."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import aiomqtt
import pytest

from obisgate import ConfigError
from obisgate.gateway.config import load_config
from obisgate.gateway.outputs.base import Fanout
from obisgate.gateway.outputs.context import OutputContext
from obisgate.gateway.outputs.factory import network_outputs
from obisgate.gateway.outputs.mqtt.output import MqttOutput
from obisgate.gateway.quality import Quality
from obisgate.gateway.readings.message import readout_payload
from obisgate.gateway.readings.partitions import history_topic
from obisgate.gateway.readings.rows import Refused, Row
from obisgate.gateway.readings.writer import Stored
from obisgate.gateway.updates import STATUS_SIGNAL, SignalUpdate
from obisgate.mqtt_url import tls_context
from obisgate.simulator import get_profile, serve_tcp
from obisgate.sink import consumer as sink_consumer
from obisgate.sink.consumer import SinkSettings, SinkStats, consume
from tests.mqtt.support import (
    gateway_config,
    mqtt_outcome,
    mqtt_section,
    wait_until,
)
from tests.services import Mosquitto, find_program, free_port

pytestmark = pytest.mark.integration

PROFILE = get_profile("mt174")
PASSWORD = "Very-S3cret-pw"


def password_broker(folder: Path) -> Mosquitto:
    folder.mkdir(parents=True)
    passwd = find_program("mosquitto_passwd", "mosquitto")
    users = folder / "users"
    subprocess.run([passwd, "-b", "-c", str(users), "gw", PASSWORD], check=True)
    return Mosquitto(folder, extra_config=f"allow_anonymous false\npassword_file {users}\n")


@pytest.mark.parametrize("right", [False, True])
async def test_credentials(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    right: bool,
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("OBISGATE_MQTT_PW", PASSWORD if right else PASSWORD + "-wrong")
    broker = password_broker(tmp_path / "broker")
    broker.start()
    try:
        async with await serve_tcp(PROFILE) as sim:
            section = mqtt_section(
                broker.port, 'username = "gw"', 'password_env = "OBISGATE_MQTT_PW"'
            )
            path = gateway_config(tmp_path, sim.port, PROFILE.address, section)
            health = await mqtt_outcome(load_config(path), right)
    finally:
        broker.stop()
    assert health.up is right
    text = caplog.text + repr(health)
    assert PASSWORD not in text
    if not right:
        assert "not authorized" in str(health.last_error).lower()
        lines = [
            r.getMessage()
            for r in caplog.records
            if "cannot connect" in r.getMessage() and r.levelno >= logging.INFO
        ]
        assert len(lines) == 1
        assert "\n" not in lines[0]
        assert "not authorized" in lines[0].lower()


async def test_an_unset_password_variable_is_a_failed_start_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("OBISGATE_MQTT_PW_UNSET", raising=False)
    section = mqtt_section(
        free_port(), 'username = "gw"', 'password_env = "OBISGATE_MQTT_PW_UNSET"'
    )
    path = gateway_config(tmp_path, free_port(), PROFILE.address, section)
    context = OutputContext()
    (output,) = network_outputs(load_config(path), context)
    fanout = Fanout([output])
    await fanout.start()
    await fanout.aclose()
    reason = "[mqtt] the variable named in password_env (OBISGATE_MQTT_PW_UNSET) is not set"
    assert fanout.failed == {"mqtt": reason}
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == [
        f"output mqtt did not start: {reason}"
    ]
    health = fanout.health()["mqtt"]
    assert (health.up, health.last_error) == (False, reason)


def make_ca(folder: Path, name: str) -> tuple[Path, Path]:
    openssl = find_program("openssl", "openssl")
    key, cert = folder / f"{name}.key", folder / f"{name}.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", f"/CN={name}", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return key, cert


def make_server_cert(folder: Path, ca_key: Path, ca_cert: Path) -> tuple[Path, Path]:
    openssl = find_program("openssl", "openssl")
    key, csr, cert = folder / "server.key", folder / "server.csr", folder / "server.pem"
    ext = folder / "san.ext"
    ext.write_text("subjectAltName = IP:127.0.0.1\n", encoding="utf-8")
    subprocess.run(
        [openssl, "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
         "-keyout", str(key), "-out", str(csr)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    subprocess.run(
        [openssl, "x509", "-req", "-in", str(csr), "-CA", str(ca_cert), "-CAkey", str(ca_key),
         "-CAcreateserial", "-days", "2", "-extfile", str(ext), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return key, cert


@pytest.mark.parametrize("trusted", [False, True])
async def test_tls(tmp_path: Path, caplog: pytest.LogCaptureFixture, trusted: bool) -> None:
    caplog.set_level(logging.INFO)
    certs = tmp_path / "certs"
    certs.mkdir()
    ca_key, ca_cert = make_ca(certs, "ca")
    _, other_ca = make_ca(certs, "other")
    server_key, server_cert = make_server_cert(certs, ca_key, ca_cert)
    broker = Mosquitto(
        tmp_path / "broker", extra_config=f"certfile {server_cert}\nkeyfile {server_key}\n"
    )
    broker.start()
    try:
        async with await serve_tcp(PROFILE) as sim:
            ca = "certs/ca.pem" if trusted else "certs/other.pem"
            section = "\n".join(
                (
                    f'url = "mqtts://127.0.0.1:{broker.port}"',
                    'client_id = "gw1"',
                    'topic_prefix = "og"',
                    f'ca_file = "{ca}"',
                )
            )
            path = gateway_config(tmp_path, sim.port, PROFILE.address, section)
            health = await mqtt_outcome(load_config(path), trusted)
    finally:
        broker.stop()
    assert health.up is trusted
    assert other_ca.exists()
    if not trusted:
        assert "certificate verify failed" in str(health.last_error)
        lines = [
            r.getMessage()
            for r in caplog.records
            if "cannot connect" in r.getMessage() and r.levelno >= logging.INFO
        ]
        assert len(lines) == 1
        assert "certificate verify failed" in lines[0]


class _Rows:
    """A sink writer that keeps the rows in memory."""

    def __init__(self) -> None:
        self.rows: list[Row] = []

    async def store(
        self, rows: Sequence[Row], refused: Sequence[Refused] = (), *, source: str
    ) -> Stored:
        self.rows += rows
        return Stored(inserted=len(rows), stored=len(rows), dead_letters=len(refused))

    async def aclose(self) -> None:
        pass


async def test_the_sink_retries_an_absent_broker_at_most_5_s_apart(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The broker queues a sink's messages while the sink waits (and drops beyond its
    limit), so however long the broker was away, the sink tries again within 5 s: its
    waits are jittered and double from 0.5 s, but never beyond 5 s. The waits are
    recorded instead of waited (12 attempts on a port where nothing listens)."""
    waits: list[float] = []

    async def record(stop: asyncio.Event, seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 12:
            stop.set()

    monkeypatch.setattr(sink_consumer, "_wait", record)
    settings = SinkSettings(
        mqtt_url=f"mqtt://127.0.0.1:{free_port()}", partitions=1, owned=(0,), client_id="away"
    )
    rows = _Rows()

    async def writer() -> _Rows:
        return rows

    stats = await consume(settings, writer, asyncio.Event())
    assert stats.broker_errors == 12
    assert max(waits) <= 5.0
    assert max(waits[:2]) <= 1.0  # the first ceilings: 0.5 s, 1 s


@pytest.mark.parametrize("trusted", [False, True])
async def test_the_sink_reaches_a_tls_broker_with_the_same_files(
    tmp_path: Path, trusted: bool
) -> None:
    """``sink --mqtt mqtts://… --ca-file`` follows the gateway's TLS rules on a real broker."""
    certs = tmp_path / "certs"
    certs.mkdir()
    ca_key, ca_cert = make_ca(certs, "ca")
    _, other_ca = make_ca(certs, "other")
    server_key, server_cert = make_server_cert(certs, ca_key, ca_cert)
    broker = Mosquitto(
        tmp_path / "broker", extra_config=f"certfile {server_cert}\nkeyfile {server_key}\n"
    )
    broker.start()
    settings = SinkSettings(
        mqtt_url=f"mqtts://127.0.0.1:{broker.port}",
        ca_file=ca_cert if trusted else other_ca,
        partitions=1,
        owned=(0,),
        client_id="tls-sink",
    )
    stop, stats, rows = asyncio.Event(), SinkStats(), _Rows()

    async def writer() -> _Rows:
        return rows

    task = asyncio.create_task(consume(settings, writer, stop, stats))
    try:
        if trusted:
            await wait_until(lambda: stats.subscriptions == 1, "the sink's subscription")
            async with aiomqtt.Client(
                "127.0.0.1", broker.port, tls_context=tls_context(ca_cert)
            ) as client:
                topic = history_topic("obisgate", "house", 1)
                await client.publish(topic, readout_payload(readout(1)), qos=1)
            await wait_until(lambda: len(rows.rows) == 2, "the readout's rows stored")
        else:
            await wait_until(lambda: stats.broker_errors >= 1, "a refused handshake")
            assert stats.subscriptions == 0
    finally:
        stop.set()
        await task
        broker.stop()


def test_missing_extra_names_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "aiomqtt", None)  # as if it were not installed
    path = gateway_config(tmp_path, 4059, "1", mqtt_section(1883))
    with pytest.raises(ConfigError) as info:
        network_outputs(load_config(path), OutputContext())
    message = str(info.value)
    assert "pip install '.[mqtt]'" in message
    assert "\n" not in message


def readout(i: int) -> list[SignalUpdate]:
    now = dt.datetime(2026, 12, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=i)
    return [
        SignalUpdate("house", "energy", float(i), "kWh", now, Quality.VALID, None, True),
        SignalUpdate("house", STATUS_SIGNAL, "ok", None, now, Quality.VALID),
    ]


async def unconnected_output(tmp_path: Path, *lines: str) -> MqttOutput:
    path = gateway_config(tmp_path, 4059, "1", mqtt_section(free_port(), *lines))
    (output,) = network_outputs(load_config(path), OutputContext())
    assert isinstance(output, MqttOutput)
    await output.start()
    return output


async def test_full_outbox_drops_the_oldest_and_logs_each_episode_with_its_count(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    output = await unconnected_output(tmp_path, "outbox_max_rows = 100")
    try:
        for i in range(130):
            await output.publish(readout(i))
        health = output.health()
        assert (health.counters["outbox_depth"], health.counters["dropped_total"]) == (100, 30)
        assert health.counters["outbox_dropped_total"] == 30
        assert output.outbox is not None
        first = output.outbox.read(0, 1)[0]
        assert b'"value":30.0' in first.payload
        # The broker took half of it (as a sender would): the next readout fits, the
        # episode ends; then a second one drops 9 more (51 + 58 = 109 rows).
        output.outbox.delete_through(first.seq + 49)
        await output.publish(readout(130))
        for i in range(131, 189):
            await output.publish(readout(i))
        assert output.health().counters["outbox_dropped_total"] == 39
    finally:
        await output.aclose()
    lines = [r.getMessage() for r in caplog.records if "outbox" in r.getMessage()]
    assert lines == [
        "mqtt: outbox full (100 messages): dropping the oldest until it drains",
        "mqtt: outbox no longer full; 30 messages were dropped",
        "mqtt: outbox full (100 messages): dropping the oldest until it drains",
        "mqtt: outbox no longer full; 9 messages were dropped",
    ]


async def test_full_disk_is_one_line_and_a_status(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    output = await unconnected_output(tmp_path)
    try:
        await output.publish(readout(0))
        assert output.outbox is not None
        conn = output.outbox._conn
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages}")  # the file cannot grow: a full disk
        big = [
            SignalUpdate("house", f"s{i}", "x" * 5000, None, readout(1)[0].time, Quality.VALID)
            for i in range(20)
        ]
        await output.publish(big)
        await output.publish(big)
        health = output.health()
        assert "database or disk is full" in str(health.last_error)
        assert health.counters["dropped_total"] == 2
        assert health.counters["outbox_depth"] == 1
        conn.execute("PRAGMA max_page_count = 1000000")
        await output.publish(readout(2))
        assert output.health().counters["outbox_depth"] == 2
    finally:
        await output.aclose()
    lines = [r.getMessage() for r in caplog.records if "cannot store" in r.getMessage()]
    assert len(lines) == 1
    assert "database or disk is full" in lines[0]
    assert any("takes readouts again" in r.getMessage() for r in caplog.records)


async def test_readouts_handed_over_together_are_one_transaction_in_order(
    tmp_path: Path,
) -> None:
    output = await unconnected_output(tmp_path)
    try:
        assert output.outbox is not None
        output.outbox._conn.execute("PRAGMA max_page_count = 1000000")
        await output.publish_many([readout(i) for i in range(5)])
        assert output.health().counters["outbox_depth"] == 5
        rows = output.outbox.read(0, 10)
        assert [r.seq for r in rows] == sorted(r.seq for r in rows)
        assert [json.loads(r.payload)["updates"][0]["value"] for r in rows] == [0, 1, 2, 3, 4]
        # A disk that cannot take them stores none of them and counts them all.
        pages = output.outbox._conn.execute("PRAGMA page_count").fetchone()[0]
        output.outbox._conn.execute(f"PRAGMA max_page_count = {pages}")
        big = [
            SignalUpdate("house", f"s{i}", "x" * 5000, None, readout(9)[0].time, Quality.VALID)
            for i in range(20)
        ]
        await output.publish_many([readout(5), big, readout(6)])
        health = output.health()
        assert (health.counters["outbox_depth"], health.counters["dropped_total"]) == (5, 3)
    finally:
        await output.aclose()
