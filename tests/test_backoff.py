"""Full-jitter backoff: waits stay under a doubling ceiling, differ between clients, reset after success."""

import random

import pytest

from obisgate.backoff import Backoff


def test_ceiling_doubles_up_to_the_cap_and_waits_stay_below_it():
    backoff = Backoff(1.0, 8.0, rng=random.Random(1))
    ceilings = []
    for _ in range(6):
        ceiling = backoff.ceiling_s
        delay = backoff.next_delay()
        assert 0.0 <= delay <= ceiling
        ceilings.append(ceiling)
    assert ceilings == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


def test_reset_starts_again_from_the_first_ceiling():
    backoff = Backoff(0.5, 30.0, rng=random.Random(2))
    for _ in range(4):
        backoff.next_delay()
    backoff.reset()
    assert backoff.ceiling_s == 0.5
    assert backoff.next_delay() <= 0.5


def test_clients_that_failed_together_do_not_retry_together():
    """Without jitter, three shards would wait 1, 2, 4 ... s in lockstep."""
    clients = [Backoff(1.0, 30.0, rng=random.Random(seed)) for seed in range(3)]
    waits = [[c.next_delay() for _ in range(5)] for c in clients]
    for step in range(5):
        assert len({round(w[step], 6) for w in waits}) == 3


@pytest.mark.parametrize(("first", "cap"), [(0.0, 1.0), (-1.0, 1.0), (2.0, 1.0)])
def test_bad_bounds_are_refused(first, cap):
    with pytest.raises(ValueError, match="backoff needs"):
        Backoff(first, cap)
