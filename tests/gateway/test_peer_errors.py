"""Peer errors: one line per window, the rest counted and named in the next line."""

import logging

from obisgate.gateway.outputs.peer_errors import PeerErrorLog


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_flood_gives_one_line_per_window_and_counts_the_rest(caplog):
    clock = Clock()
    log = PeerErrorLog(logging.getLogger("t.peer"), "modbus: malformed request", clock=clock)
    with caplog.at_level(logging.WARNING, logger="t.peer"):
        logged = [log.report("127.0.0.1:5000", "length 0") for _ in range(1000)]
        clock.now = 61.0
        log.report("127.0.0.1:5001", "unknown protocol id 7")
    assert logged.count(True) == 1
    assert log.total == 1001
    assert [r.getMessage() for r in caplog.records] == [
        "modbus: malformed request from 127.0.0.1:5000: length 0",
        "modbus: malformed request from 127.0.0.1:5001: unknown protocol id 7"
        " (999 more since the last line)",
    ]
    assert all(r.exc_info is None for r in caplog.records)


def test_the_level_is_the_callers(caplog):
    log = PeerErrorLog(logging.getLogger("t.peer2"), "http: authentication failed", clock=Clock())
    with caplog.at_level(logging.INFO, logger="t.peer2"):
        log.report("10.0.0.9:41000", "wrong token", level=logging.INFO)
    assert caplog.records[0].levelno == logging.INFO
