"""A backfill's progress on /api/devices and /metrics of a running gateway."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from obisgate.gateway.outputs.http.server import HttpOutput
from obisgate.simulator import serve_tcp
from tests.backfill.gateway_support import (
    BASE,
    PASSWORD,
    PASSWORD_ENV,
    Recorder,
    clocked,
    config_text,
    running,
    write_config,
)
from tests.services import require_module

aiohttp = require_module("aiohttp", "the web extra")
pytestmark = pytest.mark.integration


async def test_progress_is_on_api_devices_and_in_the_metrics(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    clock, meter = clocked(datetime(2026, 12, 1, 10, 5))
    async with await serve_tcp(meter.profile(BASE, password=PASSWORD)) as sim:
        text = config_text(
            sim.port, "backfill_max_days = 1", extra='[http]\nlisten = "127.0.0.1:0"\n'
        )
        path = write_config(tmp_path, text)
        recorder = Recorder()
        async with running(path, clock, [recorder]) as (gateway, _):
            await recorder.until(lambda: len(recorder.stamps()) == 4, "the day's import")
            (http,) = [o for o in gateway.fanout.outputs if isinstance(o, HttpOutput)]
            async with aiohttp.ClientSession() as client:
                async with client.get(http.url + "api/devices") as answer:
                    devices = await answer.json()
                async with client.get(http.url + "metrics") as answer:
                    metrics = await answer.text()
    (house,) = devices
    backfill = house["backfill"]
    assert backfill["phase"] == "idle"
    assert backfill["profile"] == "P.01"
    assert backfill["pending_intervals"] == 0
    assert backfill["intervals_total"] == 4
    assert backfill["sessions_total"] == 1
    assert backfill["filled_to"] == "2026-12-01T10:00:00+00:00"
    assert backfill["last_error"] is None
    lines = set(metrics.splitlines())
    assert 'obisgate_device_backfill_pending_intervals{device="house"} 0.0' in lines
    assert 'obisgate_device_backfill_intervals_total{device="house"} 4.0' in lines
    assert 'obisgate_device_backfill_sessions_total{device="house"} 1.0' in lines
    assert 'obisgate_device_backfill_failures_total{device="house"} 0.0' in lines
    assert 'obisgate_device_backfill_phase{device="house",phase="idle"} 1.0' in lines
    assert 'obisgate_device_backfill_phase{device="house",phase="refused"} 0.0' in lines
