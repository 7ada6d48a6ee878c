"""One device's backfill: where gaps come from, when a chunk may be read, what a failure does."""

from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta

import pytest

from obisgate.backoff import Backoff
from obisgate.errors import (
    AccessDeniedError,
    ChecksumError,
    ConfigError,
    MeterError,
    NoAnswerError,
    SessionEndedError,
)
from obisgate.gateway.backfill.device import MAX_ATTEMPTS, SETTLE_S, DeviceBackfill, Phase
from obisgate.gateway.backfill.spans import Span
from obisgate.gateway.history import HistoryGaps
from obisgate.gateway.poller import DeviceState
from tests.backfill.support import T0, device_plan, profile_plan

MINUTE = timedelta(minutes=1)


def backfill(**profile: object) -> DeviceBackfill:
    state = DeviceState(device_plan(profile=profile_plan(**profile)))  # type: ignore[arg-type]
    return DeviceBackfill(state, state.plan.profile, Backoff(1.0, 8.0, rng=random.Random(3)))  # type: ignore[arg-type]


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def phase(d: DeviceBackfill) -> Phase:
    """The device's phase now (read through a call: it changes under mypy's feet)."""
    return d.phase


def poll(d: DeviceBackfill, ok: bool, moment: datetime) -> None:
    """A poll of the device at ``moment``, as the poller records it before publishing."""
    d.state.up = ok
    d.after_poll(ok, moment)


def test_the_history_gives_holes_and_the_time_since_its_newest_value() -> None:
    d = backfill()
    now = at(120)
    # A hole 10:00-10:40 left by an earlier run, a short step (a missed poll) that is none,
    # and the newest value at 11:05: the gateway was down since.
    gaps = HistoryGaps(at(65), [(at(0), at(40)), (at(50), at(50.2))])
    d.loaded(gaps, now)
    assert d.spans == [Span(at(0), at(40))]
    assert phase(d) is Phase.WAITING
    poll(d, True, now)  # the first poll that succeeds ends the open gap
    assert d.spans == [Span(at(0), at(40)), Span(at(65), now)]
    assert d.pending_intervals() == 2 + 4  # 10:15, 10:30; 11:15 .. 12:00


def test_polls_before_the_history_was_read_are_kept() -> None:
    d = backfill()
    poll(d, False, at(100))
    poll(d, True, at(110))
    poll(d, True, at(111))
    d.loaded(HistoryGaps(at(60), []), at(112))
    assert d.spans == [Span(at(60), at(110))]


def test_a_device_new_to_the_history_gets_its_last_max_days() -> None:
    d = backfill(max_days=2)
    now = at(0)
    d.loaded(HistoryGaps(None, []), now)
    poll(d, True, now)
    assert d.spans == [Span(now - timedelta(days=2), now)]
    assert d.pending_intervals() == 2 * 96


def test_an_old_newest_value_is_bounded_by_max_days() -> None:
    d = backfill(max_days=1)
    d.loaded(HistoryGaps(at(-10 * 24 * 60), []), at(0))
    poll(d, True, at(0))
    assert d.spans == [Span(at(-24 * 60), at(0))]


def test_an_unreadable_history_fills_only_gaps_seen_while_running() -> None:
    d = backfill()
    d.loaded(None, at(0))
    poll(d, True, at(0))
    assert d.spans == []
    assert phase(d) is Phase.IDLE
    poll(d, False, at(5))
    poll(d, False, at(40))
    poll(d, True, at(50))  # unreachable since the poll at 10:00
    assert d.spans == [Span(at(0), at(50))]
    assert phase(d) is Phase.WAITING


def test_a_gap_without_an_interval_stamp_is_no_gap() -> None:
    d = backfill()
    d.loaded(HistoryGaps(at(1), []), at(2))
    poll(d, True, at(2))
    poll(d, False, at(3))
    poll(d, True, at(14))
    assert d.spans == []
    assert phase(d) is Phase.IDLE


def test_a_chunk_waits_for_an_answering_device_the_settled_interval_and_the_retry() -> None:
    d = backfill(chunk=3)
    d.loaded(HistoryGaps(at(0), []), at(70))
    assert d.next_chunk(at(70), 0.0) is None  # not polled since start: is it reachable?
    poll(d, True, at(70))
    # 10:15, 10:30, 10:45 in the first chunk (three intervals).
    assert d.next_chunk(at(70), 0.0) == Span(at(0), at(45))
    d.read(Span(at(0), at(45)), 3, 2.0)
    # 11:00 is closed; 11:00 is not 30 s old at 11:00:20.
    settled = at(60) + timedelta(seconds=SETTLE_S)
    assert d.next_chunk(at(60) + timedelta(seconds=20), 0.0) is None
    assert d.next_chunk(settled, 0.0) == Span(at(45), at(60))
    d.failed(NoAnswerError("profile", 2.5), monotonic=100.0)
    assert phase(d) is Phase.RETRYING
    assert d.next_chunk(settled, 100.0) is None
    assert d.next_chunk(settled, 100.0 + 1.0) == Span(at(45), at(60))  # the first wait <= 1 s
    d.state.up = False
    assert d.next_chunk(settled, 200.0) is None  # the device stopped answering its polls


def test_failures_give_up_after_max_attempts_and_a_new_gap_tries_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="obisgate.gateway.backfill")
    d = backfill()
    d.loaded(HistoryGaps(at(0), []), at(120))
    poll(d, True, at(120))
    for attempt in range(MAX_ATTEMPTS):
        assert phase(d) is not Phase.GAVE_UP
        d.failed(ChecksumError(0x12, 0x34) if attempt % 2 else SessionEndedError("B0"), attempt)
    assert phase(d) is Phase.GAVE_UP
    assert d.failures_total == MAX_ATTEMPTS
    assert d.next_chunk(at(130), 10_000.0) is None  # no loop: it waits for a new gap
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2  # the first failure and the end, nothing in between
    assert "gave up after 5 failed sessions" in warnings[1]
    poll(d, False, at(130))
    poll(d, True, at(150))
    assert phase(d) is Phase.WAITING
    assert d.next_chunk(at(150), 10_000.0) is not None


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (AccessDeniedError("password refused"), "the password was refused"),
        (MeterError("ER04"), "the meter refuses P.01: "),
        (ConfigError("device m1: the variable named in password_env is not set"), "password_env"),
    ],
)
def test_a_refusal_ends_in_a_logged_phase_never_tried_again(
    error: Exception, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="obisgate.gateway.backfill")
    d = backfill()
    d.loaded(HistoryGaps(at(0), []), at(120))
    poll(d, True, at(120))
    d.failed(error, 0.0)  # type: ignore[arg-type]
    assert phase(d) is Phase.REFUSED
    assert reason in (d.last_error or "")
    poll(d, False, at(130))
    poll(d, True, at(160))  # a new gap does not lift a refusal
    assert phase(d) is Phase.REFUSED
    assert d.next_chunk(at(160), 1e9) is None
    refused = [r for r in caplog.records if "backfill stopped" in r.getMessage()]
    assert len(refused) == 1
    assert d.state.access_denied is isinstance(error, AccessDeniedError)


def test_a_password_refused_by_a_poll_stops_the_backfill_too() -> None:
    d = backfill()
    d.loaded(HistoryGaps(at(0), []), at(120))
    poll(d, True, at(120))
    d.state.access_denied = True
    assert d.next_chunk(at(120), 0.0) is None
    assert phase(d) is Phase.REFUSED


def test_a_chunk_cut_short_halves_the_next_and_needs_more_time() -> None:
    d = backfill(chunk=96)
    d.cut_short(4.0)
    assert (d.chunk, d.estimate_s, phase(d)) == (48, 4.0, Phase.WAITING)
    for _ in range(10):
        d.cut_short(4.0)
    assert d.chunk == 1


def test_progress_says_what_is_left_and_what_was_done() -> None:
    d = backfill()
    d.loaded(HistoryGaps(at(0), []), at(60))
    poll(d, True, at(60))
    d.started()
    d.read(Span(at(0), at(30)), 2, 1.5)
    d.failed(NoAnswerError("profile", 2.5), monotonic=10.0)
    progress = d.progress(10.0)
    assert progress == {
        "phase": "retrying",
        "profile": "P.01",
        "pending_intervals": 2,
        "gap_from": "2026-12-01T10:30:00+00:00",
        "gap_to": "2026-12-01T11:00:00+00:00",
        "filled_to": "2026-12-01T10:30:00+00:00",
        "intervals_total": 2,
        "sessions_total": 1,
        "failures_total": 1,
        "retry_in_s": progress["retry_in_s"],
        "last_error": "timeout: no answer from the meter (profile) within 2.5 s",
    }
    assert 0 <= progress["retry_in_s"] <= 1.0
