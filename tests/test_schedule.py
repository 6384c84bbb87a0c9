"""The poll schedule: spread over the interval, no drift, one poll at a time."""

from __future__ import annotations

import itertools
import statistics

from dqwatch.poller import Target
from dqwatch.schedule import Schedule, grid_offset


def targets(n: int) -> list[Target]:
    return [Target(str(100000 + i), "web") for i in range(n)]


def take_all(schedule: Schedule, now: float) -> list[Target]:
    """Everything due at ``now``, marked in flight, as the daemon's workers take it."""
    taken = []
    while (target := schedule.take(now)) is not None:
        taken.append(target)
    return taken


def test_ten_thousand_datasets_are_spread_evenly_over_the_interval() -> None:
    """Due times fill the interval: no minute holds much more than its share."""
    schedule = Schedule(interval=900.0, jitter=0.0)
    schedule.set_targets(targets(10_000), {}, now=0.0)
    buckets = [0] * 15
    for target in targets(10_000):
        offset = grid_offset((target.dataset_id, target.source), 900.0)
        buckets[int(offset // 60)] += 1
    assert max(buckets) < 10_000 / 15 * 1.15
    assert min(buckets) > 10_000 / 15 * 0.85
    assert take_all(schedule, now=0.0) == []  # nothing fires at start-up
    assert len(take_all(schedule, now=900.0)) == 10_000


def test_the_schedule_does_not_drift() -> None:
    """However late a poll finishes, the next one is due on the same grid."""
    schedule = Schedule(interval=60.0, jitter=0.0)
    target = targets(1)[0]
    schedule.set_targets([target], {}, now=0.0)
    offset = grid_offset((target.dataset_id, "web"), 60.0)
    due_times = []
    now = 0.0
    for late in (0.5, 7.0, 13.0, 2.0):
        now = (schedule.next_due() or 0.0) + late
        due_times.append(schedule.next_due())
        assert take_all(schedule, now) == [target]
        schedule.finish(target, now)
    gaps = {round(b - a, 6) for a, b in itertools.pairwise(due_times)}
    assert gaps == {60.0}
    assert all(round((t or 0) - offset, 6) % 60 == 0 for t in due_times)


def test_a_dataset_in_flight_is_never_due_twice() -> None:
    """While a poll runs the dataset is not handed out again."""
    schedule = Schedule(interval=60.0, jitter=0.0)
    schedule.set_targets(targets(3), {}, now=0.0)
    first = take_all(schedule, now=60.0)
    assert take_all(schedule, now=1000.0) == []
    schedule.finish(first[0], now=61.0)
    assert take_all(schedule, now=1000.0) == [first[0]]


def test_a_restart_continues_from_the_last_poll() -> None:
    """A dataset polled a moment ago is next due one interval later, not now."""
    schedule = Schedule(interval=600.0, jitter=0.0)
    target = targets(1)[0]
    offset = grid_offset((target.dataset_id, "web"), 600.0)
    last = 6000.0 + offset  # polled at its grid point
    schedule.set_targets([target], {(target.dataset_id, "web"): last}, now=last + 5)
    assert schedule.next_due() == last + 600.0


def test_after_downtime_a_dataset_is_polled_once_not_many_times() -> None:
    """Missed grid points collapse into one poll, then the grid resumes."""
    schedule = Schedule(interval=60.0, jitter=0.0)
    target = targets(1)[0]
    schedule.set_targets([target], {(target.dataset_id, "web"): 0.0}, now=0.0)
    assert take_all(schedule, now=3600.0) == [target]
    schedule.finish(target, now=3600.0)
    assert take_all(schedule, now=3600.0) == []
    assert 3600.0 < (schedule.next_due() or 0.0) <= 3660.0


def test_jitter_only_delays_within_its_bound() -> None:
    """Jitter moves each poll later by less than poll.jitter, around the grid."""
    schedule = Schedule(interval=900.0, jitter=60.0)
    schedule.set_targets(targets(2000), {}, now=0.0)
    delays = []
    for target in targets(2000):
        offset = grid_offset((target.dataset_id, "web"), 900.0)
        due = schedule._due[(target.dataset_id, "web")]
        delays.append(due - (offset + 900.0 * ((due - offset) // 900.0)))
    assert min(delays) >= 0
    assert max(delays) < 60.0
    assert 20 < statistics.mean(delays) < 40
