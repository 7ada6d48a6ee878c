"""Every endpoint of the HTTP output over real TCP: devices, signals, history, events,
gateway state, metrics, health, the page and its static files; read-only."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from obisgate.gateway.history import HistoryRecord, HistoryStore
from obisgate.gateway.outputs.base import Fanout
from obisgate.gateway.outputs.context import OutputContext
from obisgate.gateway.outputs.factory import network_outputs
from obisgate.gateway.outputs.health import OutputHealth, OutputState
from obisgate.gateway.outputs.http.server import HttpOutput
from obisgate.gateway.outputs.http.spec import HTTP
from obisgate.gateway.quality import Quality
from tests.gateway_http.support import T0, good_m1, serving, status, two_meters, update
from tests.stub_output import StubOutput


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def get_json(client: aiohttp.ClientSession, url: str, status_code: int = 200) -> Any:
    async with client.get(url) as response:
        assert response.status == status_code, await response.text()
        assert response.content_type == "application/json"
        return await response.json()


async def test_start_announces_the_real_port_through_logging(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.INFO, logger="obisgate.listening")
    async with serving(two_meters(tmp_path)) as output:
        assert output.port != 0
    announced = [(r.name, r.levelno, r.getMessage()) for r in caplog.records]
    line = f"web view on http://127.0.0.1:{output.port}/"
    assert announced == [("obisgate.listening", logging.INFO, line)]
    assert capsys.readouterr().err == ""  # nothing written past logging


async def test_healthz(tmp_path: Path, client: aiohttp.ClientSession) -> None:
    async with serving(two_meters(tmp_path)) as output, client.get(output.url + "healthz") as r:
        assert r.status == 200
        assert await r.text() == "ok\n"


async def test_devices_from_config_then_from_status_updates(
    tmp_path: Path, client: aiohttp.ClientSession
) -> None:
    async with serving(two_meters(tmp_path)) as output:
        url = output.url + "api/devices"
        before = await get_json(client, url)
        assert [(d["device"], d["name"], d["status"], d["up"]) for d in before] == [
            ("m1", "Meter <one> & co", "not polled yet", None),
            ("m2", "m2", "not polled yet", None),
        ]
        await output.publish(good_m1())
        await output.publish(good_m1(timedelta(seconds=10)))
        await output.publish([status("m1", "no answer", timedelta(seconds=20))])
        await output.publish([status("m1", "checksum error", timedelta(seconds=30))])
        m1, m2 = await get_json(client, url)
        assert m1 == {
            "device": "m1",
            "name": "Meter <one> & co",
            "status": "checksum error",
            "up": False,
            "since": "2026-12-01T10:00:20.000+00:00",
            "last_success": "2026-12-01T10:00:10.000+00:00",
            "last_error": "checksum error",
            "last_error_time": "2026-12-01T10:00:30.000+00:00",
            "readouts": 4,
            "failures": 2,
            # Not polled by a gateway here: no line, group or read figures.
            "line": None,
            "group": None,
            "reads": None,
        }
        assert m2["up"] is None
        await output.publish(good_m1(timedelta(seconds=40)))
        m1, _ = await get_json(client, url)
        assert (m1["up"], m1["status"], m1["since"]) == (
            True,
            "ok",
            "2026-12-01T10:00:40.000+00:00",
        )
        assert m1["last_error"] == "checksum error"


async def test_signals_are_the_json_lines_objects_of_the_latest_updates(
    tmp_path: Path, client: aiohttp.ClientSession
) -> None:
    async with serving(two_meters(tmp_path)) as output:
        assert await get_json(client, output.url + "api/signals") == []
        await output.publish(good_m1(energy=1.0))
        await output.publish(good_m1(timedelta(seconds=5), energy=2.5))
        await output.publish(
            [update("m2", "voltage", None, unit="V", quality=Quality.INVALID), status("m2", "ok")]
        )
        signals = await get_json(client, output.url + "api/signals")
        assert signals == [
            {
                "device": "m1",
                "signal": "energy",
                "value": 2.5,
                "unit": "kWh",
                "time": "2026-12-01T10:00:05.000+00:00",
                "quality": ["valid"],
            },
            {
                "device": "m1",
                "signal": "serial",
                "value": "71234567",
                "unit": None,
                "time": "2026-12-01T10:00:05.000+00:00",
                "quality": ["valid"],
            },
            {
                "device": "m2",
                "signal": "voltage",
                "value": None,
                "unit": "V",
                "time": "2026-12-01T10:00:00.000+00:00",
                "quality": ["invalid"],
            },
        ]
        only_m2 = await get_json(client, output.url + "api/signals?device=m2")
        assert [s["signal"] for s in only_m2] == ["voltage"]
        error = await get_json(client, output.url + "api/signals?device=nope", 404)
        assert "nope" in error["error"]


async def test_a_non_finite_value_is_null_in_strict_json(
    tmp_path: Path, client: aiohttp.ClientSession
) -> None:
    async with serving(two_meters(tmp_path)) as output:
        await output.publish([update("m1", "energy", float("nan")), status("m1", "ok")])
        async with client.get(output.url + "api/signals") as response:
            text = await response.text()
        assert "NaN" not in text
        assert json.loads(text)[0]["value"] is None


def history_file(tmp_path: Path) -> Path:
    path = tmp_path / "history.sqlite"
    with HistoryStore(path) as store:
        store.append(
            HistoryRecord("m1", "energy", T0 + timedelta(minutes=i), 100.0 + i, "kWh")
            for i in range(10)
        )
        store.append(
            [
                HistoryRecord(
                    "m1", "energy", T0 + timedelta(minutes=10), None, "kWh", Quality.INVALID
                )
            ]
        )
    return path


async def test_history_of_one_signal_over_a_range(
    tmp_path: Path, client: aiohttp.ClientSession
) -> None:
    context = OutputContext(history_path=history_file(tmp_path))
    async with serving(two_meters(tmp_path), context) as output:
        base = output.url + "api/history?device=m1&signal=energy"
        every = await get_json(client, base)
        assert (every["device"], every["signal"], every["unit"]) == ("m1", "energy", "kWh")
        assert every["truncated"] is False
        assert [r["value"] for r in every["rows"]] == [100.0 + i for i in range(10)] + [None]
        assert every["rows"][0] == {
            "time": "2026-12-01T10:00:00.000+00:00",
            "value": 100.0,
            "quality": ["valid"],
        }
        assert every["rows"][-1]["quality"] == ["invalid"]
        window = await get_json(
            client, base + "&from=2026-12-01T10:02:00Z&to=2026-12-01T11:05:00%2B01:00"
        )
        assert [r["value"] for r in window["rows"]] == [102.0, 103.0, 104.0]
        unencoded_plus = await get_json(client, base + "&from=2026-12-01T11:08:00+01:00")
        assert [r["value"] for r in unencoded_plus["rows"]] == [108.0, 109.0, None]
        naive_is_utc = await get_json(client, base + "&from=2026-12-01T10:08:00")
        assert [r["value"] for r in naive_is_utc["rows"]] == [108.0, 109.0, None]
        newest = await get_json(client, base + "&to=2026-12-01T10:09:00Z&limit=3")
        assert newest["truncated"] is True
        assert [r["value"] for r in newest["rows"]] == [106.0, 107.0, 108.0]


@pytest.mark.parametrize(
    ("query", "status_code", "fragment"),
    [
        ("", 400, "device and signal are required"),
        ("device=m1", 400, "device and signal are required"),
        ("device=m1&signal=energy&from=yesterday", 400, "ISO 8601"),
        ("device=m1&signal=energy&to=2026-13-01", 400, "ISO 8601"),
        ("device=m1&signal=energy&from=2026-12-02&to=2026-12-01", 400, "from must be before to"),
        ("device=m1&signal=energy&limit=0", 400, "limit"),
        ("device=m1&signal=energy&limit=lots", 400, "limit"),
        ("device=m1&signal=energy&limit=10001", 400, "1 to 10000"),
        ("device=m1&signal=energy&limit=%C2%B2", 400, "digits 0-9"),  # "²".isdigit()
        ("device=m1&signal=energy&limit=%D9%A3", 400, "digits 0-9"),  # Arabic-Indic 3
        ("device=m1&signal=energy&limit=" + "9" * 5000, 400, "limit"),
        ("device=m1&signal=energy&limit=-5", 400, "limit"),
        ("device=m1&signal=serial", 404, "no history of m1/serial"),
        ("device=zz&signal=energy", 404, "no history of zz/energy"),
    ],
)
async def test_bad_history_requests_get_a_clear_error(
    tmp_path: Path,
    client: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
    query: str,
    status_code: int,
    fragment: str,
) -> None:
    context = OutputContext(history_path=history_file(tmp_path))
    caplog.set_level(logging.DEBUG)
    async with serving(two_meters(tmp_path), context) as output:
        body = await get_json(client, output.url + "api/history?" + query, status_code)
        assert fragment in body["error"]
    assert [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR] == []


async def test_an_unexpected_failure_is_a_500_and_one_log_line(
    tmp_path: Path, client: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> dict[str, Any]:
        raise ZeroDivisionError("division by zero")

    caplog.set_level(logging.DEBUG)
    async with serving(two_meters(tmp_path), OutputContext(stats=broken)) as output:
        body = await get_json(client, output.url + "api/gateway", 500)
        assert body == {"error": "internal error (logged by the gateway)"}
        assert await get_json(client, output.url + "api/devices")  # still serving
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage() for r in errors] == [
        "http: GET /api/gateway failed: ZeroDivisionError: division by zero"
    ]
    assert not any(r.exc_info for r in caplog.records)


async def test_a_logged_signal_with_nothing_stored_yet_has_an_empty_history(
    tmp_path: Path, client: aiohttp.ClientSession
) -> None:
    path = tmp_path / "history.sqlite"
    HistoryStore(path).close()  # the gateway has started, nothing is stored yet
    async with serving(two_meters(tmp_path), OutputContext(history_path=path)) as output:
        body = await get_json(client, output.url + "api/history?device=m1&signal=energy")
        assert body == {
            "device": "m1",
            "signal": "energy",
            "unit": None,
            "from": None,
            "to": None,
            "truncated": False,
            "rows": [],
        }
        # Not logged, or not configured: still no history at all.
        await get_json(client, output.url + "api/history?device=m1&signal=serial", 404)
        await get_json(client, output.url + "api/history?device=zz&signal=energy", 404)


async def test_history_when_nothing_is_logged(
    tmp_path: Path, client: aiohttp.ClientSession
) -> None:
    async with serving(two_meters(tmp_path)) as output:
        body = await get_json(client, output.url + "api/history?device=m1&signal=energy", 404)
        assert body["error"] == "no history is kept: no signal has log > 0"


async def read_event(stream: aiohttp.StreamReader) -> tuple[str, Any]:
    """The next event (skipping retry and comment blocks) as (name, data)."""
    while True:
        block = (await stream.readuntil(b"\n\n")).decode()
        fields = dict(line.split(": ", 1) for line in block.strip().splitlines() if ": " in line)
        if "event" in fields:
            return fields["event"], json.loads(fields["data"])


async def test_events_start_with_a_snapshot_then_one_batch_per_readout(
    tmp_path: Path, client: aiohttp.ClientSession
) -> None:
    async with serving(two_meters(tmp_path)) as output:
        await output.publish(good_m1(energy=1.0))
        async with client.get(output.url + "api/events") as response:
            assert response.content_type == "text/event-stream"
            name, snapshot = await read_event(response.content)
            assert name == "snapshot"
            assert [d["device"] for d in snapshot["devices"]] == ["m1", "m2"]
            assert [(u["signal"], u["value"]) for u in snapshot["updates"]] == [
                ("energy", 1.0),
                ("serial", "71234567"),
            ]
            await output.publish(good_m1(timedelta(seconds=1), energy=2.0))
            name, batch = await read_event(response.content)
            assert name == "batch"
            assert [d["device"] for d in batch["devices"]] == ["m1"]
            assert batch["updates"][0] == {
                "device": "m1",
                "signal": "energy",
                "value": 2.0,
                "unit": "kWh",
                "time": "2026-12-01T10:00:01.000+00:00",
                "quality": ["valid"],
            }
            assert "_status" not in [u["signal"] for u in batch["updates"]]


async def test_event_streams_beyond_max_clients_get_503(
    tmp_path: Path, client: aiohttp.ClientSession
) -> None:
    async with serving(two_meters(tmp_path, "max_clients = 2")) as output:
        url = output.url + "api/events"
        async with client.get(url) as first, client.get(url) as second:
            for response in (first, second):
                assert (await read_event(response.content))[0] == "snapshot"
            async with client.get(url) as third:
                assert third.status == 503
                assert third.headers["Retry-After"] == "10"
                assert (await third.json())["error"] == (
                    "too many event streams: 2 clients are connected ([http] max_clients); "
                    "try again later"
                )
            assert output.health().counters["sse_clients"] == 2
        await output.publish(good_m1())  # writing, the server notices the closed streams
        await until(lambda: output.streams == 0, "the streams to end")
        async with client.get(url) as again:
            assert again.status == 200


async def test_a_client_that_falls_behind_is_cut_off_and_publishing_never_waits(
    tmp_path: Path, client: aiohttp.ClientSession
) -> None:
    async with serving(two_meters(tmp_path)) as output:
        output.state.queue_size = 3
        async with client.get(output.url + "api/events") as response:
            name, _ = await read_event(response.content)
            assert name == "snapshot"
            assert len(output.state.subscribers) == 1
            # The handler cannot run between these calls: the queue overflows.
            for i in range(5):
                await output.publish(good_m1(timedelta(seconds=i)))
            assert output.state.subscribers == set()
            assert output.state.cut_total == 1
            with contextlib.suppress(aiohttp.ClientPayloadError):  # cut mid-stream
                await response.content.read()  # the stream ends: an EventSource reconnects
            await until(lambda: output.streams == 0, "the stream to end")
        health = await get_json(client, output.url + "api/gateway")
        assert health["outputs"]["http"]["counters"]["sse_clients_cut_total"] == 1


async def test_shutdown_ends_open_event_streams(tmp_path: Path) -> None:
    async with aiohttp.ClientSession() as session:
        output_cm = serving(two_meters(tmp_path))
        output = await output_cm.__aenter__()
        response = await session.get(output.url + "api/events")
        name, _ = await read_event(response.content)
        assert name == "snapshot"
        await asyncio.wait_for(output_cm.__aexit__(None, None, None), 10)
        assert await response.content.read() == b""
        response.release()


def mqtt_health() -> OutputHealth:
    return OutputHealth(
        state=OutputState.RUNNING,
        since=T0,
        address="mqtt://broker.local",
        counters={"outbox_depth": 42, "dropped_total": 3},
    )


def modbus_health() -> OutputHealth:
    return OutputHealth(
        state=OutputState.OFF,
        since=T0,
        last_error="modbus cannot listen on 127.0.0.1:502: Permission denied",
        address="127.0.0.1:502",
    )


async def test_gateway_state_shows_counters_and_every_outputs_health(
    tmp_path: Path, client: aiohttp.ClientSession
) -> None:
    stats = {"devices": 2, "polls": 7, "dropped_batches": {"http": 0, "mqtt": 1}}
    context = OutputContext(
        stats=lambda: stats, health=lambda: {"mqtt": mqtt_health(), "modbus": modbus_health()}
    )
    async with serving(two_meters(tmp_path), context) as output:
        body = await get_json(client, output.url + "api/gateway")
        assert body["stats"] == stats
        assert body["outputs"]["mqtt"] == {
            "state": "running",
            "since": "2026-12-01T10:00:00+00:00",
            "last_error": None,
            "address": "mqtt://broker.local",
            "counters": {"outbox_depth": 42, "dropped_total": 3},
        }
        assert body["outputs"]["modbus"] == modbus_health().to_json()
        http = body["outputs"]["http"]
        assert (http["state"], http["last_error"], http["address"]) == (
            "running",
            None,
            f"127.0.0.1:{output.port}",
        )
        assert http["counters"] == {
            "sse_clients": 0,
            "sse_clients_cut_total": 0,
            "connections": 1,
            "max_connections": 256,
            "connections_refused_total": 0,
            "accept_errors_total": 0,
            "bad_requests_total": 0,
            "auth_failures_total": 0,
            "auth_missing_total": 0,
        }


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def test_metrics_parse_back(tmp_path: Path, client: aiohttp.ClientSession) -> None:
    stats = {
        "devices": 2,
        "lines": 2,
        "polls": 9,
        "missed_scans": 4,
        "dropped_batches": {"http": 0, "mqtt": 5},
        "failed_outputs": {"mqtt": "refused"},
        "processing": {"rejected": 2, "resets": 1, "jumps": 0, "evaluation_errors": 7},
    }
    per_device = {
        "m1": {
            "polls": 6,
            "failures": 2,
            "missed_scans": 3,
            "last_duration_s": 0.25,
            "total_duration_s": 1.5,
        },
        "m2": {
            "polls": 0,
            "failures": 0,
            "missed_scans": 0,
            "last_duration_s": 0.0,
            "total_duration_s": 0.0,
        },
    }
    context = OutputContext(
        stats=lambda: stats,
        device_stats=lambda: per_device,
        health=lambda: {"mqtt": mqtt_health()},
    )
    async with serving(two_meters(tmp_path), context) as output:
        await output.publish(good_m1(energy=148123.5))
        await output.publish(
            [
                update("m2", "voltage", 231, unit="V", quality=Quality.NOT_TOPICAL),
                status("m2", "no answer"),
            ]
        )
        async with client.get(output.url + "metrics") as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/plain")
            text = await response.text()
    found = samples(text)
    dev = (("device", "m1"),)
    assert found[("obisgate_signal_value", (*dev, ("signal", "energy"), ("unit", "kWh")))] == (
        148123.5
    )
    assert (
        found[("obisgate_signal_value", (("device", "m2"), ("signal", "voltage"), ("unit", "V")))]
        == 231
    )
    assert found[("obisgate_signal_quality", (("device", "m2"), ("signal", "voltage")))] == 2
    assert found[("obisgate_signal_timestamp_seconds", (*dev, ("signal", "energy")))] == (
        T0.timestamp()
    )
    assert not [k for k in found if ("signal", "serial") in k[1]]  # text: not a gauge
    assert found[("obisgate_device_up", dev)] == 1
    assert found[("obisgate_device_up", (("device", "m2"),))] == 0
    assert found[("obisgate_device_readouts_total", (*dev, ("result", "ok")))] == 4
    assert found[("obisgate_device_readouts_total", (*dev, ("result", "failed")))] == 2
    assert found[("obisgate_device_missed_scans_total", dev)] == 3
    assert found[("obisgate_device_readout_duration_seconds_count", dev)] == 6
    assert found[("obisgate_device_readout_duration_seconds_sum", dev)] == 1.5
    assert found[("obisgate_device_last_readout_duration_seconds", dev)] == 0.25
    assert ("obisgate_device_last_readout_duration_seconds", (("device", "m2"),)) not in found
    assert found[("obisgate_devices", ())] == 2
    assert found[("obisgate_lines", ())] == 2
    assert found[("obisgate_missed_scans_total", ())] == 4
    assert found[("obisgate_processing_rejected_total", ())] == 2
    assert found[("obisgate_processing_resets_total", ())] == 1
    assert found[("obisgate_processing_jumps_total", ())] == 0
    assert found[("obisgate_processing_evaluation_errors_total", ())] == 7
    assert ("obisgate_processing_held_back_total", ()) not in found
    assert found[("obisgate_dropped_batches_total", (("output", "mqtt"),))] == 5
    assert found[("obisgate_output_failed", (("output", "mqtt"),))] == 1
    assert found[("obisgate_output_failed", (("output", "http"),))] == 0
    assert found[("obisgate_mqtt_outbox_depth", ())] == 42
    assert found[("obisgate_output_up", (("output", "mqtt"),))] == 1
    assert found[("obisgate_output_state", (("output", "mqtt"), ("state", "running")))] == 1
    assert found[("obisgate_output_state", (("output", "mqtt"), ("state", "off")))] == 0
    assert found[("obisgate_mqtt_dropped_total", ())] == 3
    assert found[("obisgate_http_sse_clients", ())] == 0
    assert not [k for k in found if "last_error" in k[0]]


async def test_metrics_without_a_gateway_count_the_readouts_seen(
    tmp_path: Path, client: aiohttp.ClientSession
) -> None:
    async with serving(two_meters(tmp_path)) as output:
        await output.publish(good_m1())
        await output.publish([status("m1", "no answer")])
        async with client.get(output.url + "metrics") as response:
            found = samples(await response.text())
    assert found[("obisgate_device_readouts_total", (("device", "m1"), ("result", "ok")))] == 1
    assert found[("obisgate_device_readouts_total", (("device", "m1"), ("result", "failed")))] == 1


async def test_metrics_in_openmetrics_when_asked(
    tmp_path: Path, client: aiohttp.ClientSession
) -> None:
    async with serving(two_meters(tmp_path)) as output:
        await output.publish(good_m1())
        headers = {"Accept": "application/openmetrics-text; version=1.0.0"}
        async with client.get(output.url + "metrics", headers=headers) as response:
            assert response.headers["Content-Type"].startswith("application/openmetrics-text")
            text = await response.text()
    assert text.endswith("# EOF\n")
    assert "obisgate_signal_value" in text


async def test_the_page_lists_devices_outputs_and_signals_escaped(
    tmp_path: Path, client: aiohttp.ClientSession
) -> None:
    refused = OutputHealth(
        state=OutputState.OFF,
        since=T0,
        last_error="<b>modbus</b> cannot listen on 127.0.0.1:502: Permission denied",
        address="127.0.0.1:502",
        counters={"signals": 3},
    )
    context = OutputContext(health=lambda: {"modbus": refused})
    async with serving(two_meters(tmp_path), context) as output:
        await output.publish(good_m1(energy=7.25))
        async with client.get(output.url) as response:
            assert response.status == 200
            assert response.content_type == "text/html"
            page = await response.text()
            headers = response.headers
    assert "Meter &lt;one&gt; &amp; co" in page
    assert "<one>" not in page
    assert 'data-device="m1" data-signal="energy"' in page
    assert '<td class="value">7.25</td>' in page
    assert 'data-device="m2" data-signal="voltage"' in page  # configured, no value yet
    # The tooltip: the signal's name, the OBIS catalogue's description, the address.
    assert (
        '<td class="signal" title="Active energy import\nActive energy import (+A, QI+QIV), '
        'total\n1.8.0">energy</td>'
    ) in page
    assert (
        '<td class="signal" title="voltage\nL1 voltage, instantaneous value\n32.7.0">voltage</td>'
    ) in page
    assert 'data-device="off"' not in page  # disabled device
    # Logged: plottable, and checked at first (no card has a power signal to plot instead).
    assert '<input type="checkbox" data-device="m1" data-signal="energy" checked>' in page
    assert 'data-device="m1" data-signal="serial"><' not in page
    assert 'data-signal="serial" checked' not in page
    # m1 has an energy register that is logged: its card, filled by the page from /api/energy.
    assert '<article class="card" data-device="m1" data-signals="energy:import">' in page
    assert '<article class="card" data-device="m2"' not in page
    assert '<section id="energy">' in page
    # Every output alike: its state, since when, where, the last error, its counters.
    assert (
        '<tr data-output="modbus" data-state="off"><td class="output" data-label="output">modbus'
        '</td><td class="state" data-label="state"><span class="badge down">off</span></td>'
        '<td class="since" data-label="since" data-time="2026-12-01T10:00:00+00:00">'
        "2026-12-01T10:00:00+00:00</td>"
        '<td class="address" data-label="address">127.0.0.1:502</td>'
        '<td class="last-error" data-label="last error">&lt;b&gt;modbus&lt;/b&gt; cannot listen '
        "on 127.0.0.1:502: Permission denied</td>"
        '<td class="counters" data-label="counters">signals 3</td></tr>'
    ) in page
    assert '<tr data-output="http" data-state="running">' in page
    assert "sse_clients 0 · sse_clients_cut_total 0" in page
    assert 'src="static/uPlot.iife.min.js"' in page
    assert "<script>" not in page  # scripts from files only, as the policy below demands
    assert "script-src" not in headers["Content-Security-Policy"]
    assert headers["Content-Security-Policy"].startswith("default-src 'self';")
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "http://" not in page.replace("http://127.0.0.1", "")  # nothing from elsewhere


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("uPlot.iife.min.js", "javascript"),
        ("uPlot.min.css", "css"),
        ("view.js", "javascript"),
        ("view.css", "css"),
    ],
)
async def test_static_files_are_served(
    tmp_path: Path, client: aiohttp.ClientSession, name: str, kind: str
) -> None:
    async with (
        serving(two_meters(tmp_path)) as output,
        client.get(output.url + "static/" + name) as response,
    ):
        assert response.status == 200
        assert kind in response.content_type
        assert len(await response.read()) > 500


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
@pytest.mark.parametrize("path", ["", "api/devices", "api/signals", "metrics"])
async def test_nothing_can_be_written(
    tmp_path: Path, client: aiohttp.ClientSession, method: str, path: str
) -> None:
    async with (
        serving(two_meters(tmp_path)) as output,
        client.request(method, output.url + path, data=b"{}") as response,
    ):
        assert response.status == 405


async def test_port_in_use_is_a_one_line_error_and_only_this_output_stops(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with serving(two_meters(tmp_path)) as first:
        config = two_meters(tmp_path, "")
        section = config.section(HTTP)
        assert section is not None
        taken = config.with_section(
            HTTP, section.model_copy(update={"listen": f"127.0.0.1:{first.port}"})
        )
        (second,) = network_outputs(taken, OutputContext())
        assert isinstance(second, HttpOutput)

        class Other(StubOutput):
            name = "other"

            def __init__(self) -> None:
                self.batches = 0

            async def publish(self, updates: Any) -> None:
                self.batches += 1

            async def aclose(self) -> None:
                pass

        other = Other()
        fanout = Fanout([second, other])
        await fanout.start()
        fanout.publish(good_m1())
        await fanout.aclose()
        reason = fanout.failed["http"]
        assert reason.startswith(f"cannot listen on 127.0.0.1:{first.port}: ")
        assert "in use" in reason
        assert "\n" not in reason
        assert other.batches == 1
        assert second.state.batches == 0
        assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == [
            f"output http did not start: {reason}"
        ]


async def test_publishing_before_start_and_closing_an_unstarted_output_are_harmless(
    tmp_path: Path,
) -> None:
    (output,) = network_outputs(two_meters(tmp_path), OutputContext())
    assert isinstance(output, HttpOutput)
    await output.publish(good_m1())
    assert output.state.batches == 1
    await output.aclose()


async def until(condition: Callable[[], bool], what: str, deadline_s: float = 20.0) -> None:
    """Return once ``condition()`` holds; fail after ``deadline_s``."""
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline_s
    while not condition():
        assert loop.time() < end, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)  # polling a condition under a deadline


async def stalled_client(output: HttpOutput) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A client of /api/events that never reads (a tiny receive buffer fills at once)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", output.port))
    reader, writer = await asyncio.open_connection(sock=sock)
    writer.write(b"GET /api/events HTTP/1.1\r\nHost: gateway\r\n\r\n")
    await until(lambda: output.streams == 1, "the event stream")
    return reader, writer


async def read_to_the_end(reader: asyncio.StreamReader) -> None:
    with contextlib.suppress(ConnectionResetError):
        while await reader.read(1 << 20):
            pass  # what the kernel had buffered, then the end


BIG = "x" * 65536


async def test_a_client_that_falls_behind_is_disconnected(tmp_path: Path) -> None:
    async with serving(two_meters(tmp_path)) as output:
        output.state.queue_size = 8
        reader, writer = await stalled_client(output)
        for i in range(2000):
            if not output.state.subscribers:
                break
            await output.publish([update("m1", "serial", BIG, at=timedelta(seconds=i))])
            await asyncio.sleep(0)  # let the stream write what it can, as between readouts
        assert output.state.cut_total == 1
        await until(lambda: output.streams == 0, "the stream to end")
        await asyncio.wait_for(read_to_the_end(reader), 20)
        writer.close()


async def test_a_client_that_stops_reading_is_disconnected_after_the_write_timeout(
    tmp_path: Path,
) -> None:
    async with serving(two_meters(tmp_path)) as output:
        output.write_timeout_s = 0.5
        reader, writer = await stalled_client(output)
        for i in range(200):  # 13 MB: more than the socket buffers hold
            await output.publish([update("m1", "serial", BIG, at=timedelta(seconds=i))])
            await asyncio.sleep(0)
        await until(lambda: output.streams == 0, "the stalled stream to be dropped")
        assert output.state.cut_total == 0
        assert output.state.subscribers == set()
        await asyncio.wait_for(read_to_the_end(reader), 20)
        writer.close()
