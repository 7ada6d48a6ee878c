"""OutputHealth: one shape for every output; HealthRecord keeps since when a state holds."""

from __future__ import annotations

import datetime as dt

from obisgate.gateway.outputs.health import HealthRecord, OutputHealth, OutputState

T0 = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> dt.datetime:
        return self.now


def test_since_moves_only_when_the_state_changes() -> None:
    clock = Clock()
    record = HealthRecord(clock=clock)
    assert (record.state, record.since) == (OutputState.STARTING, T0)
    clock.now = T0 + dt.timedelta(seconds=5)
    record.set(OutputState.RUNNING)
    clock.now = T0 + dt.timedelta(seconds=9)
    record.set(OutputState.RUNNING)  # the same state: since stays
    assert record.since == T0 + dt.timedelta(seconds=5)
    record.set(OutputState.DISCONNECTED, "connection refused")
    health = record.health(address="mqtt://b:1883", counters={"sent_total": 3})
    assert health == OutputHealth(
        state=OutputState.DISCONNECTED,
        since=T0 + dt.timedelta(seconds=9),
        last_error="connection refused",
        address="mqtt://b:1883",
        counters={"sent_total": 3},
    )
    assert not health.up
    record.set(OutputState.RUNNING)  # the last error stays until cleared
    assert record.health().last_error == "connection refused"


def test_the_json_of_the_api() -> None:
    health = OutputHealth(state=OutputState.RUNNING, since=T0, counters={"reads_total": 7})
    assert health.up
    assert health.to_json() == {
        "state": "running",
        "since": "2026-12-01T10:00:00+00:00",
        "last_error": None,
        "address": None,
        "counters": {"reads_total": 7},
    }
