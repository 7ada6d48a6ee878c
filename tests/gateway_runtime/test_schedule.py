"""Schedules: stable phases (jitter), first slots against the wall clock, rate groups."""

from __future__ import annotations

import pytest

from obisgate.gateway.schedule import DeviceSchedule, first_slots, phase_of


def test_phase_is_a_stable_hash_of_the_alias() -> None:
    # The same on every run and machine: a fixed vector, not Python's salted hash().
    assert phase_of("meter1", 900.0) == pytest.approx(900.0 * 0.6948070308076082, abs=1e-9)
    assert phase_of("meter1", 900.0) == phase_of("meter1", 900.0)
    assert phase_of("meter1", 900.0) != phase_of("meter2", 900.0)
    assert 0.0 <= phase_of("x", 10.0) < 10.0
    assert phase_of("x", 0.0) == 0.0


def test_phases_of_many_meters_spread_over_the_period() -> None:
    period = 60.0
    phases = [phase_of(f"m{i}", period) for i in range(6000)]
    per_second = [0] * 60
    for phase in phases:
        per_second[int(phase)] += 1
    # 100 a second on average; never all at :00, no second without reads.
    assert max(per_second) < 150
    assert min(per_second) > 50


def test_first_slots_fall_on_the_phase_of_the_wall_clock() -> None:
    phase = 7.0
    # At wall time 1000 (100 x 10, 16 x 60 + 40), the first 10-s slot is 7 s away, the
    # 60-s one 27 s (at 1027).
    assert first_slots((10.0, 60.0), phase_s=phase, wall_now_s=1000.0) == [7.0, 27.0]
    # Restarted 3 s later: the same wall-clock slots.
    assert first_slots((10.0,), phase_s=phase, wall_now_s=1003.0) == [4.0]
    # scan_align: every group starts at the spread offset.
    assert first_slots((10.0, 60.0), phase_s=None, wall_now_s=1003.0, spread_offset_s=2.5) == [
        2.5,
        2.5,
    ]


def test_one_group_advances_by_its_period_and_counts_missed_slots() -> None:
    schedule = DeviceSchedule((10.0,), (0.0,))
    assert schedule.due_groups(0.0) == 1
    assert schedule.advance(1, 1.0) == 0
    assert schedule.next_due == 10.0
    # A poll that ends at 35 skipped the slots at 20 and 30.
    assert schedule.advance(1, 35.0) == 2
    assert schedule.next_due == 40.0


def test_rate_groups_are_polled_together_when_due_together() -> None:
    # Power every 10 s, totals every 30 s, aligned.
    schedule = DeviceSchedule((10.0, 30.0), (0.0, 0.0))
    served = []
    for _ in range(7):
        slot = schedule.next_due
        groups = schedule.due_groups(slot)
        served.append((slot, groups))
        schedule.advance(groups, slot + 1.0)
    assert served == [
        (0.0, 0b11),
        (10.0, 0b01),
        (20.0, 0b01),
        (30.0, 0b11),
        (40.0, 0b01),
        (50.0, 0b01),
        (60.0, 0b11),
    ]


def test_a_group_due_soon_after_a_poll_is_read_early_with_it() -> None:
    # 10 s and 25 s: a 25-s slot within 5 s (half the shortest period) of a 10-s slot
    # is served by it instead of costing a poll of its own.
    schedule = DeviceSchedule((10.0, 25.0), (0.0, 0.0))
    polls = []
    for _ in range(6):
        slot = schedule.next_due
        groups = schedule.due_groups(slot)
        polls.append((slot, groups))
        schedule.advance(groups, slot + 0.5)
    assert polls == [
        (0.0, 0b11),
        (10.0, 0b01),
        (20.0, 0b11),  # the 25-s slot, read 5 s early
        (30.0, 0b01),
        (40.0, 0b01),
        (50.0, 0b11),  # its next slot: 50
    ]


def test_schedule_needs_one_first_slot_per_period() -> None:
    with pytest.raises(ValueError, match="one first slot per period"):
        DeviceSchedule((10.0, 20.0), (0.0,))
