"""The broker's count of dropped messages as the sink reads it: new drops once, restarts, junk."""

from obisgate.sink.broker_drops import DropCounter


def test_the_first_count_is_new_in_full_and_repeats_add_nothing():
    drops = DropCounter()
    assert drops.update(b"0") == 0
    assert drops.update(b"0") == 0
    assert drops.update(b"120") == 120
    assert drops.update(b"120") == 0  # the retained count again, after a reconnect
    assert drops.update(b"150") == 30
    assert drops.count == 150


def test_drops_before_the_sink_came_are_reported():
    drops = DropCounter()
    assert drops.update(b"250") == 250
    assert drops.count == 250


def test_a_lower_count_is_a_restarted_broker_counting_from_zero():
    drops = DropCounter()
    drops.update(b"500")
    assert drops.update(b"0") == 0
    assert drops.update(b"40") == 40
    drops.update(b"90")
    assert drops.update(b"7") == 7
    assert drops.count == 7


def test_a_payload_that_is_no_count_is_ignored():
    drops = DropCounter()
    drops.update(b"10")
    for junk in (b"", b"ten", b"-3", b"\xff\xfe", b"1.5"):
        assert drops.update(junk) == 0
    assert drops.count == 10
    assert drops.update(b"12") == 2
