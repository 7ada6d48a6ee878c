"""The gateway fills gaps from a simulated meter's load profile over TCP: after its own
downtime, after the meter's; a refused profile ends in a logged status, not a loop."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from obisgate.gateway.history import HistoryStore
from obisgate.gateway.quality import Quality
from obisgate.gateway.updates import STATUS_SIGNAL
from obisgate.simulator import serve_tcp
from tests.backfill.gateway_support import (
    BASE,
    ORIGIN,
    PASSWORD,
    PASSWORD_ENV,
    LiveOnly,
    Recorder,
    clocked,
    config_text,
    quarters,
    running,
    write_config,
)

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)


async def test_the_gateways_downtime_is_filled_from_the_profile_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    clock, meter = clocked(datetime(2026, 12, 1, 10, 5))
    async with await serve_tcp(meter.profile(BASE, password=PASSWORD)) as sim:
        path = write_config(
            tmp_path, config_text(sim.port, "backfill_max_days = 1", "backfill_chunk = 200")
        )
        # First run: the history has never seen the meter: its last day comes in (the
        # meter has kept its profile since 09:00).
        first, live = Recorder(), LiveOnly()
        async with running(path, clock, [first, live]):
            await first.until(lambda: len(first.stamps()) == 4, "09:15 .. 10:00 backfilled")
            await first.until(lambda: first.polls >= 2, "two polls")
        # The gateway is down for 65 minutes.
        clock.advance(timedelta(minutes=65))
        second = Recorder()
        async with running(path, clock, [second, live]) as (gateway, _):
            await second.until(lambda: len(second.stamps()) == 4, "10:15 .. 11:00 backfilled")
            await second.until(lambda: second.polls >= 2, "two more polls")
            progress = gateway.backfill_progress()["house"]
        sessions = sim.stats.programming_sessions
    assert first.stamps() == quarters(ORIGIN + timedelta(minutes=15), ORIGIN + timedelta(hours=1))
    assert second.stamps() == quarters(datetime(2026, 12, 1, 10, 15), datetime(2026, 12, 1, 11))
    assert sessions == 2  # one chunk each run
    assert progress["phase"] == "idle"
    assert progress["intervals_total"] == 4
    # The live-only output never saw an interval of the past.
    assert not any(u.quality.backfilled for b in live.batches for u in b)
    stamps = quarters(ORIGIN + timedelta(minutes=15), datetime(2026, 12, 1, 11))
    with HistoryStore(tmp_path / "history.sqlite", create=False) as store:
        for signal, text in (("energy", meter.energy_text), ("power", meter.power_text)):
            rows = [r for r in store.query("house", signal) if r.quality.backfilled]
            assert [r.time for r in rows] == stamps, signal
            assert [r.value for r in rows] == [
                float(text(t.replace(tzinfo=None))) for t in stamps
            ], signal
            assert {r.quality for r in rows} == {Quality.BACKFILLED}
            times = [r.time for r in store.query("house", signal)]
            assert len(times) == len(set(times))  # one value per time
    assert PASSWORD not in caplog.text


async def test_a_meter_that_was_unreachable_is_filled_when_it_answers_again(
    tmp_path: Path,
) -> None:
    clock, meter = clocked(datetime(2026, 12, 1, 10, 5))
    profile = meter.profile(BASE, password=PASSWORD)
    sim = await serve_tcp(profile)
    port = sim.port
    path = write_config(tmp_path, config_text(port))
    recorder = Recorder()
    async with running(path, clock, [recorder]) as (gateway, _):
        await recorder.until(lambda: len(recorder.stamps()) == 4, "the first import")
        await sim.aclose()  # the meter is gone
        down = recorder.polls
        await recorder.until(lambda: recorder.polls >= down + 2, "two failed polls")
        statuses = [u.value for b in recorder.batches[-2:] for u in b if u.signal == STATUS_SIGNAL]
        assert "ok" not in statuses
        assert gateway.backfill_progress()["house"]["pending_intervals"] == 0
        clock.advance(timedelta(minutes=45))  # 10:50: the 10:45 interval is closed
        async with await serve_tcp(profile, port=port):
            await recorder.until(lambda: len(recorder.stamps()) == 4 + 3, "10:15 .. 10:45")
    assert recorder.stamps()[4:] == quarters(
        datetime(2026, 12, 1, 10, 15), datetime(2026, 12, 1, 10, 45)
    )


async def refused(
    tmp_path: Path, profile_settings: dict[str, object], password: str
) -> tuple[dict[str, Any], int, Recorder, Mapping[str, Mapping[str, Any]]]:
    clock, meter = clocked(datetime(2026, 12, 1, 10, 5))
    profile = meter.profile(BASE, password=PASSWORD, **profile_settings)
    async with await serve_tcp(profile) as sim:
        path = write_config(tmp_path, config_text(sim.port))
        recorder = Recorder()
        async with running(path, clock, [recorder]) as (gateway, context):

            def phase() -> str:
                return str(gateway.backfill_progress()["house"]["phase"])

            await recorder.until(lambda: phase() == "refused", "the refusal")
            polls = recorder.polls
            await recorder.until(lambda: recorder.polls >= polls + 3, "three polls more")
            progress = gateway.backfill_progress()["house"]
            metrics = context.backfill()
        return progress, sim.stats.programming_sessions, recorder, metrics


async def test_a_refused_password_ends_in_a_logged_status_not_a_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="obisgate")
    monkeypatch.setenv(PASSWORD_ENV, "Wrong-Pw-7")
    progress, sessions, recorder, metrics = await refused(tmp_path, {}, "Wrong-Pw-7")
    assert sessions == 1  # the wrong password went to the meter once
    assert progress["phase"] == "refused"
    assert progress["last_error"] == "the password was refused"
    assert metrics["house"]["phase"] == "refused"
    assert recorder.backfilled() == []
    energy = [u for b in recorder.batches for u in b if u.signal == "energy"]
    assert energy and all(u.quality is Quality.VALID for u in energy)  # polling goes on
    lines = [r.getMessage() for r in caplog.records if "backfill stopped" in r.getMessage()]
    assert lines == [
        "house: backfill stopped: the password was refused; not tried again until the "
        "configuration is reloaded"
    ]
    assert "Wrong-Pw-7" not in caplog.text
    assert PASSWORD not in caplog.text


async def test_a_profile_the_meter_answers_with_an_error_ends_in_a_logged_status(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="obisgate")
    # The meter keeps its profile under another address: P.01 is answered (ER04).
    progress, sessions, _, _ = await refused(tmp_path, {"load_profile_address": "P.02"}, PASSWORD)
    assert sessions == 1
    assert progress["phase"] == "refused"
    assert (
        progress["last_error"]
        == "the meter refuses P.01: meter answered to R5 P.01 with error (ER04)"
    )
    lines = [r.getMessage() for r in caplog.records if "backfill stopped" in r.getMessage()]
    assert len(lines) == 1


def test_the_clock_helpers_agree() -> None:
    # What the tests compare with: the meter's own texts for its stamps.
    _, meter = clocked(ORIGIN)
    assert meter.energy_text(ORIGIN + timedelta(minutes=15)) == "1000.125"
    assert meter.power_text(ORIGIN + timedelta(minutes=30)) == "1.200"
    assert quarters(ORIGIN, ORIGIN + timedelta(minutes=30))[-1] == datetime(
        2026, 12, 1, 9, 30, tzinfo=UTC
    )
