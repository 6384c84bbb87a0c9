"""When each dataset is polled: a fixed grid per dataset, spread over the interval.

Every (dataset, source) gets a stable offset inside the poll interval,
derived from a hash of its name, so 10,000 datasets are spread evenly and
keep their place across restarts. Its polls fall on the grid
``offset + k * interval``, plus a small random delay (``poll.jitter``)
drawn afresh for each poll; the next poll is always the next grid point,
never "now plus the interval", so the schedule does not drift. After a
pause (downtime, a throttled business) a dataset is polled once and then
returns to its grid, never several times to catch up.

The next due time is derived from the poll log in the store (the last
poll's start), so a restart continues the schedule instead of polling
everything at once.
"""

from __future__ import annotations

import hashlib
import heapq
import math
import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from dqwatch.poller import Target


def grid_offset(key: tuple[str, str], interval: float) -> float:
    """A (dataset, source)'s stable place in the interval, in seconds."""
    name = f"{key[0]}|{key[1]}".encode()
    number = int.from_bytes(hashlib.blake2b(name, digest_size=8).digest(), "big")
    return (number / 2**64) * interval


Key = tuple[str, str]  # (dataset id, source)


def _key(target: Target) -> Key:
    return (target.dataset_id, target.source)


@dataclass
class Schedule:
    """Due times of every target; which are due now; what is in flight."""

    interval: float
    jitter: float
    rng: Callable[[], float] = random.random
    _targets: dict[Key, Target] = field(default_factory=dict)
    _due: dict[Key, float] = field(default_factory=dict)
    _in_flight: set[Key] = field(default_factory=set)
    #: (due, key) entries; an entry whose due time moved is skipped when popped.
    _heap: list[tuple[float, Key]] = field(default_factory=list)

    def set_targets(
        self, targets: Iterable[Target], last_polled: Mapping[Key, float], now: float
    ) -> None:
        """Adopt a new target list, keeping the due times of known targets."""
        due: dict[Key, float] = {}
        self._targets = {}
        for target in targets:
            key = _key(target)
            self._targets[key] = target
            if key in self._due:
                due[key] = self._due[key]
                continue
            last = last_polled.get(key)
            due[key] = self._next_slot(key, now if last is None else last + 1e-6)
        self._due = due
        self._in_flight &= set(due)
        self._heap = [(when, key) for key, when in due.items()]
        heapq.heapify(self._heap)

    def take(self, now: float) -> Target | None:
        """The most overdue idle target, marked in flight; None if none is due."""
        while self._heap and self._heap[0][0] <= now:
            when, key = heapq.heappop(self._heap)
            if self._due.get(key) != when or key in self._in_flight:
                continue  # a stale entry: the due time moved since
            self._in_flight.add(key)
            return self._targets[key]
        return None

    def finish(self, target: Target, now: float) -> None:
        """A poll ended: the target is free and due at its next grid point."""
        key = _key(target)
        self._in_flight.discard(key)
        if key in self._due:
            self._set_due(key, self._next_slot(key, now))

    def postpone(self, target: Target, until: float) -> None:
        """Poll a target no earlier than ``until`` (a throttled business)."""
        key = _key(target)
        self._in_flight.discard(key)
        if key in self._due:
            self._set_due(key, max(until, self._due[key]))

    def next_due(self) -> float | None:
        """When the earliest idle target is due."""
        while self._heap:
            when, key = self._heap[0]
            if self._due.get(key) == when and key not in self._in_flight:
                return when
            heapq.heappop(self._heap)
        return None

    def _set_due(self, key: Key, when: float) -> None:
        self._due[key] = when
        heapq.heappush(self._heap, (when, key))

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    def __len__(self) -> int:
        return len(self._due)

    def _next_slot(self, key: Key, after: float) -> float:
        """The first grid point after ``after``, plus a fresh jitter."""
        offset = grid_offset(key, self.interval)
        k = math.floor((after - offset) / self.interval) + 1
        return offset + k * self.interval + self.rng() * self.jitter
