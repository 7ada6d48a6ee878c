"""The processing stage: guards, derived signals and deadbands between pollers and fan-out;
its state across restarts; it never raises into a poller."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import pytest

from obisgate.gateway.numbers import NumberType
from obisgate.gateway.processing.deadband import PublishRules
from obisgate.gateway.processing.derived import DerivedSpec
from obisgate.gateway.processing.guards import GuardRules
from obisgate.gateway.processing.specs import Definition, derived_specs
from obisgate.gateway.processing.stage import ProcessingPlan, ProcessingStage
from obisgate.gateway.processing.store import StateStore, state_path
from obisgate.gateway.quality import Quality
from obisgate.gateway.updates import STATUS_SIGNAL, SignalUpdate

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
F = NumberType.DOUBLE


class Delivered:
    """What the stage hands on: ``(published, every)`` per batch."""

    def __init__(self) -> None:
        self.batches: list[tuple[list[SignalUpdate], list[SignalUpdate]]] = []

    def __call__(self, published: Sequence[SignalUpdate], every: Sequence[SignalUpdate]) -> None:
        self.batches.append((list(published), list(every)))

    def published(self) -> list[tuple[str, str, object, Quality]]:
        return [(u.device, u.signal, u.value, u.quality) for p, _ in self.batches for u in p]


def reading(
    device: str,
    signal: str,
    value: object,
    seconds: float = 0,
    unit: str | None = "kW",
    quality: Quality = Quality.VALID,
) -> SignalUpdate:
    return SignalUpdate(
        device, signal, value, unit, T0 + dt.timedelta(seconds=seconds), quality, None, True
    )


def status(device: str, seconds: float = 0) -> SignalUpdate:
    return SignalUpdate(
        device, STATUS_SIGNAL, "ok", None, T0 + dt.timedelta(seconds=seconds), Quality.VALID
    )


def specs(*definitions: Definition) -> tuple[DerivedSpec, ...]:
    types = {"m1": {"a": F, "b": F, "energy": F, "x": F}, "m2": {"c": F, "y": F}}
    for d in definitions:
        types[d.key[0]][d.key[1]] = d.number_type
    found, problems = derived_specs(definitions, types)
    assert not problems
    return tuple(found)


def test_an_empty_plan_hands_batches_on_unchanged() -> None:
    delivered = Delivered()
    stage = ProcessingStage(ProcessingPlan(), delivered)
    batch = [reading("m1", "a", 1.0), status("m1")]
    stage.publish(batch)
    assert delivered.batches == [(batch, batch)]


def test_derived_signals_join_their_device_batch_or_go_out_alone() -> None:
    delivered = Delivered()
    plan = ProcessingPlan(
        derived=specs(
            Definition(key=("m1", "x"), source="a + b"),
            Definition(key=("m2", "y"), source="m1.x * 2 + c"),
        )
    )
    stage = ProcessingStage(plan, delivered)
    stage.publish([reading("m2", "c", 1.0, 0), status("m2")])
    stage.publish([reading("m1", "a", 1.0, 10), reading("m1", "b", 2.0, 10), status("m1", 10)])
    (m2_batch, _), (m1_batch, _), (y_batch, _) = delivered.batches
    assert [u.signal for u in m2_batch] == ["c", "y", STATUS_SIGNAL]
    assert m2_batch[1].quality is Quality.NOT_TOPICAL  # m1.x not computed yet
    # x joins m1's batch before its status; y, of m2, goes out in a batch of its own
    assert [(u.signal, u.value) for u in m1_batch] == [
        ("a", 1.0),
        ("b", 2.0),
        ("x", 3.0),
        (STATUS_SIGNAL, "ok"),
    ]
    assert [(u.device, u.signal, u.value, u.time) for u in y_batch] == [
        ("m2", "y", 7.0, T0 + dt.timedelta(seconds=10))
    ]


def test_guards_run_before_derived_signals_use_the_reading() -> None:
    delivered = Delivered()
    plan = ProcessingPlan(
        guards={("m1", "a"): GuardRules(monotonic=False, max_value=100)},
        derived=specs(Definition(key=("m1", "x"), source="a * 2")),
    )
    stage = ProcessingStage(plan, delivered)
    stage.publish([reading("m1", "a", 5.0)])
    stage.publish([reading("m1", "a", 500.0, 10)])
    assert delivered.published() == [
        ("m1", "a", 5.0, Quality.VALID),
        ("m1", "x", 10.0, Quality.VALID),
        ("m1", "a", None, Quality.INVALID),
        ("m1", "x", None, Quality.INVALID),
    ]
    assert stage.counters.rejected == 1


def test_totals_are_guarded_by_their_unit_unless_unguarded() -> None:
    delivered = Delivered()
    plan = ProcessingPlan(totals_by_unit=True, unguarded=frozenset({("m1", "b")}))
    stage = ProcessingStage(plan, delivered)
    for seconds, value in ((0, 10.0), (10, 9.0)):
        stage.publish(
            [
                reading("m1", "energy", value, seconds, unit="kWh"),
                reading("m1", "b", value, seconds, unit="kWh"),
                reading("m1", "a", value, seconds, unit="kW"),
            ]
        )
    assert [q for _, _, _, q in delivered.published()[3:]] == [
        Quality.INVALID,
        Quality.VALID,
        Quality.VALID,
    ]


def test_a_backfilled_interval_is_no_live_reading() -> None:
    delivered = Delivered()
    plan = ProcessingPlan(
        totals_by_unit=True, derived=specs(Definition(key=("m1", "x"), source="energy * 2"))
    )
    stage = ProcessingStage(plan, delivered)
    stage.publish([reading("m1", "energy", 10.0, 0, unit="kWh")])
    old = reading("m1", "energy", 4.0, -3600, unit="kWh", quality=Quality.BACKFILLED)
    stage.publish([old])  # lower, and older: neither rejected nor used nor remembered
    stage.publish([reading("m1", "energy", 9.0, 10, unit="kWh")])
    assert delivered.batches[1] == ([old], [old])
    assert delivered.published()[3:] == [
        ("m1", "energy", None, Quality.INVALID),  # still compared with the live 10.0
        ("m1", "x", None, Quality.INVALID),
    ]


def test_a_deadband_holds_back_from_the_published_batch_only() -> None:
    delivered = Delivered()
    plan = ProcessingPlan(publishing={("m1", "a"): PublishRules(deadband=1.0)})
    stage = ProcessingStage(plan, delivered)
    for seconds, value in ((0, 10.0), (10, 10.5), (20, 11.6)):
        stage.publish([reading("m1", "a", value, seconds), status("m1", seconds)])
    published = [[u.value for u in p] for p, _ in delivered.batches]
    every = [[u.value for u in e] for _, e in delivered.batches]
    assert published == [[10.0, "ok"], ["ok"], [11.6, "ok"]]
    assert every == [[10.0, "ok"], [10.5, "ok"], [11.6, "ok"]]
    assert stage.counters.held_back == 1


def test_an_expression_failing_at_run_time_is_invalid_and_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    delivered = Delivered()
    stage = ProcessingStage(
        ProcessingPlan(derived=specs(Definition(key=("m1", "x"), source="a / b"))), delivered
    )
    with caplog.at_level(logging.INFO, logger="obisgate.gateway.processing"):
        for seconds, b in ((0, 0.0), (10, 0.0), (20, 2.0), (30, 0.0)):
            stage.publish(
                [
                    reading("m1", "a", 1.0, seconds),
                    reading("m1", "b", b, seconds),
                    status("m1", seconds),
                ]
            )
    x = [(v, q) for _, s, v, q in delivered.published() if s == "x"]
    assert x == [
        (None, Quality.INVALID),
        (None, Quality.INVALID),
        (0.5, Quality.VALID),
        (None, Quality.INVALID),
    ]
    assert [r.getMessage() for r in caplog.records] == [
        "m1/x: a / b has no valid result (division by zero (/))",
        "m1/x: a / b computes again",
        "m1/x: a / b has no valid result (division by zero (/))",
    ]
    assert stage.counters.evaluation_errors == 3


def test_a_bug_in_processing_never_reaches_the_poller(caplog: pytest.LogCaptureFixture) -> None:
    def broken(values: Sequence[object]) -> float:
        raise RuntimeError("a bug")

    delivered = Delivered()
    spec = DerivedSpec(key=("m1", "x"), sources=(("m1", "a"),), compute=broken)
    stage = ProcessingStage(ProcessingPlan(derived=(spec,)), delivered)
    batch = [reading("m1", "a", 1.0), status("m1")]
    with caplog.at_level(logging.ERROR):
        stage.publish(batch)
        stage.publish(batch)
    assert delivered.batches == [(batch, batch), (batch, batch)]  # unprocessed, not lost
    assert [r.getMessage() for r in caplog.records] == [
        "processing a batch failed; it is published unprocessed"
    ]


async def test_the_state_survives_a_restart(tmp_path: Path) -> None:
    path = state_path(tmp_path / "history.sqlite")
    assert path == tmp_path / "history.guards.sqlite"
    plan = ProcessingPlan(
        guards={("m1", "a"): GuardRules(monotonic=True)},
        totals_by_unit=True,
        derived=specs(Definition(key=("m1", "x"), operation="delta", sources=("b",))),
        state_file=path,
    )
    first = Delivered()
    stage = ProcessingStage(plan, first, flush_interval_s=3600)
    await stage.start()
    stage.publish(
        [
            reading("m1", "a", 100.0),
            reading("m1", "b", 5.0),
            reading("m1", "energy", 50.0, unit="kWh"),
        ]
    )
    async with asyncio.timeout(10):  # closing does not wait for the next flush
        await stage.aclose()

    second = Delivered()
    stage = ProcessingStage(plan, second, flush_interval_s=3600)
    await stage.start()
    stage.publish(
        [
            reading("m1", "a", 99.0, 60),
            reading("m1", "b", 7.5, 60),
            reading("m1", "energy", 49.0, 60, unit="kWh"),
        ]
    )
    await stage.aclose()
    assert second.published() == [
        ("m1", "a", None, Quality.INVALID),  # lower than before the restart
        ("m1", "b", 7.5, Quality.VALID),
        ("m1", "energy", None, Quality.INVALID),  # guarded by its unit, remembered too
        ("m1", "x", 2.5, Quality.VALID),  # the delta covers the restart
    ]


async def test_a_reset_is_written_at_once(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    plan = ProcessingPlan(
        guards={("m1", "a"): GuardRules(monotonic=True, reset_confirm=1)}, state_file=path
    )
    stage = ProcessingStage(plan, Delivered(), flush_interval_s=3600)
    await stage.start()
    stage.publish([reading("m1", "a", 100.0)])
    stage.publish([reading("m1", "a", 1.0, 10)])  # a meter exchange, accepted at once
    async with asyncio.timeout(10):  # long before the hour of flush_interval_s
        await stage.written.wait()
    store = StateStore(path)
    try:
        assert store.load() == [("m1", "a", "guard", 1.0, T0 + dt.timedelta(seconds=10))]
    finally:
        store.close()
        await stage.aclose()
    assert stage.counters.resets == 1


async def test_a_state_file_that_cannot_be_used_is_logged_and_left_alone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "state.sqlite"
    sqlite3.connect(path).execute("CREATE TABLE other (x)").connection.commit()
    delivered = Delivered()
    stage = ProcessingStage(
        ProcessingPlan(guards={("m1", "a"): GuardRules(monotonic=True)}, state_file=path), delivered
    )
    with caplog.at_level(logging.ERROR):
        await stage.start()
    assert (
        "not an obisgate guard state (schema 0, tables other); guards start without their last readings"
        in caplog.text
    )
    stage.publish([reading("m1", "a", 1.0)])
    stage.publish([reading("m1", "a", 0.5, 10)])
    await stage.aclose()
    assert [q for *_, q in delivered.published()] == [Quality.VALID, Quality.INVALID]  # guards work
    assert sqlite3.connect(path).execute("SELECT name FROM sqlite_master").fetchall() == [
        ("other",)
    ]


def test_store_rows_round_trip_and_skip_what_does_not_parse(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "s.sqlite")
    big = 2**64 - 1
    store.save([("m1", "a", "guard", big, T0), ("m1", "b", "previous", 1.5, T0)])
    store.save([("m1", "a", "guard", 3, T0)])
    store._conn.execute("INSERT INTO last_reading VALUES ('m1', 'c', 'guard', 'x', 'y')")
    store._conn.execute(
        "INSERT INTO last_reading VALUES ('m1', 'd', 'other', '1', ?)", (T0.isoformat(),)
    )
    assert sorted(store.load()) == [("m1", "a", "guard", 3, T0), ("m1", "b", "previous", 1.5, T0)]
    store.save([("m1", "e", "guard", big, T0)])
    assert ("m1", "e", "guard", big, T0) in store.load()  # every digit kept
    store.close()
