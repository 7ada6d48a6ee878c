"""One readout message -> cleaned rows of the readings table, and what is refused."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from obisgate.gateway.quality import Quality
from obisgate.gateway.readings.clean import MAX_NAME, clean_text, fit_number
from obisgate.gateway.readings.message import readout_payload
from obisgate.gateway.readings.partitions import history_topic, parse_owned, partition_of
from obisgate.gateway.readings.rows import MAX_DATA, Refused, parse_message
from obisgate.gateway.readings.schema import month_partition, month_start
from obisgate.gateway.updates import SignalUpdate
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
    rows, refused = parse_message(json.dumps(message).encode())
    assert refused == []
    assert [(r.signal, r.value, r.text, r.quality) for r in rows] == [
        ("s0", 2.0, None, 0),
        ("_status", None, "ok", 0),
        ("clock", None, "2026-12-01T10:00:00", (Quality.INVALID | Quality.NOT_TOPICAL).value),
    ]
    assert rows[2].raw == "261201100000"
    assert rows[0].time == dt.datetime(2026, 12, 1, 0, 0, tzinfo=dt.UTC)  # readout 2: +60 s


def test_the_gateways_message_reads_back() -> None:
    time = dt.datetime(2026, 12, 1, 8, 15, 0, 250000, tzinfo=dt.UTC)
    updates = [
        SignalUpdate("m", "energy", 148123.456, "kWh", time, Quality.VALID),
        SignalUpdate("m", "id", "AB\x00\x00", None, time, Quality.VALID),
        SignalUpdate("m", "_status", "ok", None, time, Quality.VALID),
    ]
    rows, refused = parse_message(readout_payload(updates))
    assert refused == []
    assert [(r.signal, r.value, r.text, r.time) for r in rows] == [
        ("energy", 148123.456, None, time),
        ("id", None, "AB", time),
        ("_status", None, "ok", time),
    ]


@pytest.mark.parametrize(
    ("text", "cleaned"),
    [
        ("0001234\x00\x00\x00", "0001234"),  # NUL padding of a register: removed
        ("A\x01B\x1bC\x7fD\x85", "A\\x01B\\x1bC\\x7fD\\x85"),  # other controls: escaped
        ("x\ud800y", "x\ufffdy"),  # a lone surrogate cannot be UTF-8
        ("Zähler 1 ✓", "Zähler 1 ✓"),  # anything else stays
    ],
)
def test_text_is_cleaned(text: str, cleaned: str) -> None:
    assert clean_text(text) == cleaned


@given(st.text())
def test_cleaning_leaves_nothing_postgresql_refuses_and_is_idempotent(text: str) -> None:
    cleaned = clean_text(text)
    assert "\x00" not in cleaned
    cleaned.encode("utf-8")  # no surrogates left
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in cleaned)
    assert clean_text(cleaned) == cleaned


def test_numbers_that_do_not_fit_a_double_are_text_with_overflow() -> None:
    huge = 10**400 + 7
    assert fit_number(huge) == (None, str(huge))
    assert fit_number(2**53 + 1) == (float(2**53 + 1), None)
    payload = (
        '{"updates": [{"device": "m", "signal": "e", "time": "2026-12-01T00:00Z",'
        f' "value": {huge}, "quality": ["valid"]}}]}}'
    )
    (row,), refused = parse_message(payload.encode())
    assert refused == []
    assert (row.value, row.text, row.quality) == (None, str(huge), Quality.OVERFLOW.value)


def _update(**fields: object) -> bytes:
    update: dict[str, object] = {
        "device": "a",
        "signal": "b",
        "time": "2026-01-01T00:00Z",
        "quality": ["valid"],
    }
    update.update(fields)
    good = {
        "device": "a",
        "signal": "good",
        "time": "2026-01-01T00:00Z",
        "value": 1,
        "quality": ["valid"],
    }
    return json.dumps({"updates": [update, good]}).encode()


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (_update(device=None), "no device"),
        (_update(signal=""), "no signal"),
        (_update(signal="s" * (MAX_NAME + 1)), "longer than 200"),
        (_update(time="yesterday"), "ISO 8601"),
        (_update(time="2026-01-01T00:00"), "zone"),
        (_update(time="9999-12-31T23:59:59Z"), "out of range"),
        (_update(time="1900-01-01T00:00:00Z"), "out of range"),
        (_update(quality=["bogus"]), "unknown quality"),
        (_update(quality="valid"), "not a list"),
    ],
)
def test_a_bad_update_is_refused_alone(payload: bytes, reason: str) -> None:
    rows, refused = parse_message(payload)
    assert [r.signal for r in rows] == ["good"]
    assert len(refused) == 1
    assert reason in refused[0].reason
    assert refused[0].data.isascii()


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"\xff\xfe", "not JSON"),
        (b"[]", "no updates list"),
        (b'{"updates": 5}', "no updates list"),
        (b"[" * 100_000, "not JSON"),
    ],
)
def test_a_message_that_is_no_readout_is_refused_whole(payload: bytes, reason: str) -> None:
    rows, refused = parse_message(payload)
    assert rows == []
    assert refused == [Refused(None, None, None, reason, refused[0].data)]
    assert refused[0].data.isascii()
    assert len(refused[0].data) <= MAX_DATA


def test_refused_data_is_ascii_with_the_bad_characters_escaped() -> None:
    _, (refused,) = parse_message(_update(device="d\x00x", time="nope"))
    assert refused.device == "d\\x00x"
    assert "\\u0000" in refused.data


def test_month_partitions_cover_december_to_january() -> None:
    start = month_start(
        dt.datetime(2026, 12, 31, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-2)))
    )
    assert start == dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
    december = month_partition(dt.datetime(2026, 12, 1, tzinfo=dt.UTC))
    assert "readings_p202612" in december
    assert "TO ('2027-01-01T00:00:00+00:00')" in december


def test_partitions_are_fixed_and_spread() -> None:
    # Fixed values: gateways and sinks of any release (and process) must agree.
    names = ("meter1", "house", "l0m0", "l1m0", "l2m0")
    assert [partition_of(name, 16) for name in names] == [14, 3, 12, 15, 14]
    assert history_topic("og", "meter1", 16) == "og/history/14/meter1"
    counts = [0] * 8
    for i in range(8000):
        counts[partition_of(f"l{i}m0", 8)] += 1
    assert min(counts) > 850
    assert max(counts) < 1150


@pytest.mark.parametrize(
    ("text", "owned"),
    [("all", (0, 1, 2, 3)), ("0-1", (0, 1)), ("3,0", (0, 3)), (" 1 - 2 , 2 ", (1, 2))],
)
def test_owned_partitions(text: str, owned: tuple[int, ...]) -> None:
    assert parse_owned(text, 4) == owned


@pytest.mark.parametrize("text", ["", "4", "2-1", "x", "0-9", "-1"])
def test_bad_owned_partitions(text: str) -> None:
    with pytest.raises(ValueError, match="partitions 0-3"):
        parse_owned(text, 4)
