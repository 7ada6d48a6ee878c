"""The live table: status line, natural order, log messages below it, no control codes
when it is not drawn on a terminal."""

from __future__ import annotations

import datetime as dt
import io
import logging

from obisgate.gateway.outputs.table import TableLogHandler, TableOutput, natural_key
from obisgate.gateway.quality import Quality
from obisgate.gateway.updates import STATUS_SIGNAL, SignalUpdate

T0 = dt.datetime(2026, 11, 18, 9, 30, tzinfo=dt.UTC)


def update(
    device: str, signal: str, value: object, quality: Quality = Quality.VALID
) -> SignalUpdate:
    return SignalUpdate(device, signal, value, None, T0, quality, None, False)


def test_natural_key_orders_numbers_by_value() -> None:
    codes = ["14.7.0", "1.8.0", "1.6.0", "2.8.0", "1.8.10", "1.8.2", "C.1.0"]
    assert sorted(codes, key=natural_key) == [
        "1.6.0", "1.8.0", "1.8.2", "1.8.10", "2.8.0", "14.7.0", "C.1.0",
    ]  # fmt: skip


async def test_live_table_has_a_status_line_and_sorts_naturally() -> None:
    stream = io.StringIO()
    stats = {"devices": 3, "polls": 12, "missed_scans": 1}
    table = TableOutput(stream, live=True, stats=lambda: stats, title="obisgate run site.toml")
    await table.start()
    assert stream.getvalue().startswith("\033[H\033[J")
    await table.publish(
        [
            update("m2", "14.7.0", 50.0),
            update("m2", "1.6.0", 2.5),
            update("m2", STATUS_SIGNAL, "ok"),
        ]
    )
    await table.publish([update("m10", STATUS_SIGNAL, "no answer", Quality.NOT_TOPICAL)])
    live = table.render().splitlines()
    await table.aclose()
    last = stream.getvalue().rsplit("\033[H\033[J", 1)[1].splitlines()
    assert live[1] == (
        "devices: 1 ok, 1 down, 1 not read yet | readouts: 12 | missed scans: 1 | Ctrl-C to stop"
    )
    assert last[0] == "obisgate run site.toml"
    assert (
        last[1]
        == "devices: 1 ok, 1 down, 1 not read yet | readouts: 12 | missed scans: 1 | stopped"
    )
    rows = [line.split()[:2] for line in last[4:]]
    assert rows == [["m2", "(status)"], ["m2", "1.6.0"], ["m2", "14.7.0"], ["m10", "(status)"]]


async def test_log_messages_go_below_the_table_not_over_it() -> None:
    stream = io.StringIO()
    table = TableOutput(stream, live=True, min_interval_s=0.0, notes=2)
    logger = logging.getLogger("test.table")
    logger.propagate = False
    logger.addHandler(TableLogHandler(table))
    try:
        for n in range(3):
            logger.warning("device m%d went down", n)
    finally:
        logger.handlers.clear()
    await table.publish([update("m", "1.8.0", 1.0)])
    screen = stream.getvalue().rsplit("\033[H\033[J", 1)[1].splitlines()
    assert screen[-2:] == ["device m1 went down", "device m2 went down"]
    assert screen[-3] == ""


async def test_not_a_terminal_gets_the_final_table_once_without_control_codes() -> None:
    stream = io.StringIO()
    table = TableOutput(stream, stats=lambda: {"polls": 1, "missed_scans": 0})
    assert not table.live  # a StringIO is no terminal
    await table.start()
    await table.publish([update("m", "1.8.0", 1.0)])
    assert stream.getvalue() == ""
    await table.aclose()
    text = stream.getvalue()
    assert "\033" not in text
    assert text.splitlines()[0] == "devices: 0 ok, 0 down | readouts: 1 | missed scans: 0 | stopped"
    assert "Ctrl-C" not in text
