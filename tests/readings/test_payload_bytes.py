"""readout_payload writes exactly the bytes json.dumps gives for the readout's document.

The MQTT ``json`` payload and the PostgreSQL outbox row are these bytes; the reference
below is how they were made before the payload was written one update at a time.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from obisgate.gateway.quality import Quality
from obisgate.gateway.readings.message import readout_payload, readout_status
from obisgate.gateway.updates import STATUS_SIGNAL, SignalUpdate


def reference(updates: list[SignalUpdate]) -> bytes:
    status = readout_status(updates)
    first = status or updates[0]
    document = {
        "device": first.device,
        "time": first.time.isoformat(timespec="milliseconds"),
        "status": None if status is None else status.value,
        "updates": [u.to_json() for u in updates],
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def outcome(make: Any, updates: list[SignalUpdate]) -> object:
    try:
        return make(updates)
    except (TypeError, ValueError, UnicodeError) as error:
        return type(error)


TEXT = st.text(st.characters(codec="utf-8"), max_size=6) | st.sampled_from(
    ["m1", 'a"b', "a\\b", "ä€😀", "\x00\n\t", "\u2028"]
)
ZONES = st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(hours=5, minutes=30)), None])
TIMES = st.builds(
    lambda d, tz: d.replace(tzinfo=tz),
    st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2200, 1, 1)),
    ZONES,
)
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers() | st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    TEXT,
    TIMES,
    st.dates(),
    st.times(),
    st.sampled_from([decimal.Decimal("1.5"), [1, "x"], {"k": 1.5}, Quality.INVALID]),
)
QUALITIES = st.sampled_from(
    [Quality.VALID, Quality.INVALID, Quality.NOT_TOPICAL | Quality.OVERFLOW, Quality.BACKFILLED]
)


@st.composite
def batches(draw: st.DrawFn) -> list[SignalUpdate]:
    device = draw(TEXT)
    shared_time = draw(TIMES)
    updates = []
    for _ in range(draw(st.integers(1, 6))):
        updates.append(
            SignalUpdate(
                # the same alias object, an equal copy, or another device's
                draw(st.sampled_from([device, "".join(list(device)), "other"])),
                draw(st.sampled_from(["energy", "p", STATUS_SIGNAL]) | TEXT),
                draw(VALUES),
                draw(st.none() | TEXT),
                shared_time if draw(st.booleans()) else draw(TIMES),
                draw(QUALITIES),
            )
        )
    return updates


@settings(max_examples=1500, deadline=None)
@given(batches())
def test_the_payload_is_the_bytes_json_dumps_gives(updates: list[SignalUpdate]) -> None:
    assert outcome(readout_payload, updates) == outcome(reference, updates)


def test_a_readout_as_the_gateway_sends_it() -> None:
    now = dt.datetime(2026, 12, 1, 10, 0, 0, 123456, tzinfo=dt.UTC)
    updates = [
        SignalUpdate("m1", "energy", 1234.5, "kWh", now, Quality.VALID, "1234.5*kWh", True),
        SignalUpdate("m1", "clock", dt.datetime(2026, 12, 1, 11), None, now, Quality.VALID),
        SignalUpdate("m1", "old", None, "V", now - dt.timedelta(hours=1), Quality.NOT_TOPICAL),
        SignalUpdate("m1", STATUS_SIGNAL, "ok", None, now, Quality.VALID, "/ISk5MT174"),
    ]
    assert readout_payload(updates) == (
        b'{"device":"m1","time":"2026-12-01T10:00:00.123+00:00","status":"ok","updates":['
        b'{"device":"m1","signal":"energy","value":1234.5,"unit":"kWh",'
        b'"time":"2026-12-01T10:00:00.123+00:00","quality":["valid"]},'
        b'{"device":"m1","signal":"clock","value":"2026-12-01T11:00:00","unit":null,'
        b'"time":"2026-12-01T10:00:00.123+00:00","quality":["valid"]},'
        b'{"device":"m1","signal":"old","value":null,"unit":"V",'
        b'"time":"2026-12-01T09:00:00.123+00:00","quality":["not_topical"]},'
        b'{"device":"m1","signal":"_status","value":"ok","unit":null,'
        b'"time":"2026-12-01T10:00:00.123+00:00","quality":["valid"]}]}'
    )
    assert readout_payload(updates) == reference(updates)
