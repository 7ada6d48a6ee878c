"""Load-profile rows -> backfilled updates: one batch per interval, converted, own time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from obisgate.gateway.backfill.intervals import interval_batches, missing_channels
from obisgate.gateway.backfill.spans import Span
from obisgate.gateway.backfill.times import meter_zone
from obisgate.gateway.plan import SignalPlan
from obisgate.gateway.quality import Quality
from obisgate.protocol.loadprofile import Channel
from tests.backfill.support import DEMAND, ENERGY, T0, load_profile, quarter_rows

NAIVE = T0.replace(tzinfo=None)
CHANNELS = (("1.8.0", ENERGY), ("1.5", DEMAND))


def test_each_interval_in_the_span_is_one_batch_with_its_own_time() -> None:
    profile = load_profile(quarter_rows(NAIVE, 6))  # 10:00 .. 11:15
    span = Span(T0, T0 + timedelta(hours=1))  # (10:00, 11:00]
    batches = interval_batches("m1", profile, CHANNELS, span, UTC)
    assert [b[0].time for b in batches] == [T0 + timedelta(minutes=15 * n) for n in (1, 2, 3, 4)]
    first = batches[0]
    assert [(u.device, u.signal, u.value, u.unit) for u in first] == [
        ("m1", "energy", 1001.0, "kWh"),
        ("m1", "demand", 1.5, "kW"),  # the channel's unit: the row's values carry none
    ]
    assert all(u.quality is Quality.BACKFILLED and u.log for b in batches for u in b)
    assert first[0].raw == "1001.000"


def test_the_meters_zone_moves_the_stamps() -> None:
    profile = load_profile(quarter_rows(NAIVE, 2))  # meter time 10:00, 10:15 at +01:00
    span = Span(T0 - timedelta(hours=2), T0)
    batches = interval_batches("m1", profile, CHANNELS, span, meter_zone("+01:00"))
    assert [b[0].time for b in batches] == [T0 - timedelta(hours=1), T0 - timedelta(minutes=45)]


def test_values_convert_like_the_readouts_and_bad_ones_stay_marked() -> None:
    scaled = SignalPlan(
        alias="wh", tag="1.8.0", number_type="INT32", multiply=1000, unit="Wh", log=True
    )
    profile = load_profile([(NAIVE, ("12.345", "oops"))])
    batches = interval_batches(
        "m1", profile, (("1.8.0", scaled), ("1.5", DEMAND)), Span(T0 - timedelta(1), T0), UTC
    )
    (batch,) = batches
    assert (batch[0].value, batch[0].unit, batch[0].quality) == (12345, "Wh", Quality.BACKFILLED)
    assert batch[1].value is None
    assert batch[1].quality == Quality.INVALID | Quality.BACKFILLED
    assert batch[1].quality.to_json() == ["invalid", "backfilled"]


def test_channels_the_meter_does_not_have_are_named() -> None:
    profile = load_profile([(NAIVE, ("1.0",))], channels=(Channel("2.8.0", "kWh"),))
    assert missing_channels(profile, CHANNELS) == ["1.5", "1.8.0"]
    assert interval_batches("m1", profile, CHANNELS, Span(T0 - timedelta(1), T0), UTC) == []
    assert missing_channels(load_profile([]), CHANNELS) == []  # no header, nothing to say


def test_a_naive_local_meter_uses_this_machines_zone() -> None:
    profile = load_profile([(datetime(2026, 12, 1, 10, 0), ("1.0", "2.0"))])
    local = datetime(2026, 12, 1, 10, 0).astimezone(UTC)
    batches = interval_batches(
        "m1", profile, CHANNELS, Span(local - timedelta(1), local + timedelta(1)), None
    )
    assert batches[0][0].time == local
