"""One MQTT readout message -> rows of the readings table."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from obisgate.gateway.quality import Quality
from obisgate.sink.rows import BadMessage, rows_from_payload
from obisgate.sink.schema import month_partition, month_start
from tests.scale.mqtt_tools import readout


def test_numbers_text_and_quality() -> None:
    message = readout("m1", 2, signals=1)
    message["updates"].append(
        {
            "device": "m1",
            "signal": "clock",
            "value": "2026-12-01T10:00:00",
            "unit": None,
            "time": message["time"],
            "quality": ["invalid", "not_topical"],
            "raw": "261201100000",
        }
    )
    rows = rows_from_payload(json.dumps(message).encode())
    assert [(r.signal, r.value, r.text, r.quality) for r in rows] == [
        ("s0", 2.0, None, 0),
        ("_status", None, "ok", 0),
        ("clock", None, "2026-12-01T10:00:00", (Quality.INVALID | Quality.NOT_TOPICAL).value),
    ]
    assert rows[2].raw == "261201100000"
    assert rows[0].time == dt.datetime(2026, 12, 1, 0, 0, tzinfo=dt.UTC)  # readout 2: +60 s


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"\xff\xfe", "not JSON"),
        (b"[]", "no updates"),
        (b'{"updates": [{"device": "a"}]}', "no device or signal"),
        (b'{"updates": [{"device": "a", "signal": "b", "time": "yesterday"}]}', "ISO 8601"),
        (b'{"updates": [{"device": "a", "signal": "b", "time": "2026-01-01T00:00"}]}', "zone"),
        (
            b'{"updates": [{"device": "a", "signal": "b", "time": "2026-01-01T00:00Z",'
            b' "quality": ["bogus"]}]}',
            "quality",
        ),
    ],
)
def test_bad_messages(payload: bytes, reason: str) -> None:
    with pytest.raises(BadMessage, match=reason):
        rows_from_payload(payload)


def test_month_partitions_cover_december_to_january() -> None:
    start = month_start(
        dt.datetime(2026, 12, 31, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-2)))
    )
    assert start == dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
    december = month_partition(dt.datetime(2026, 12, 1, tzinfo=dt.UTC))
    assert "readings_p202612" in december
    assert "TO ('2027-01-01T00:00:00+00:00')" in december
