"""Plain value types shared by the data path: observations and snapshots.

One observation is one value of one series. A series is identified by
(dataset, source, event, metric, key); ``key`` is the empty string for
metrics without a key (``emq``), the identifier for keyed ones
(``match_key_coverage`` of ``email``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Source = Literal["web", "offline"]
SOURCES: tuple[Source, ...] = ("web", "offline")

#: A value is a number, or a text for metrics such as ``freshness``.
Value = float | str

#: Texts and counts the API gave next to a value: ``description``,
#: ``solution``, ``recommendation``, ``affected_event_count``...
Details = dict[str, str | int | float]


@dataclass(frozen=True, slots=True)
class Observation:
    """One value of one series, as read from one response."""

    source: str
    event: str
    metric: str
    key: str
    value: Value
    details: Details = field(default_factory=dict, compare=False, hash=False)

    @property
    def series(self) -> tuple[str, str, str, str]:
        """(source, event, metric, key): the series within one dataset."""
        return (self.source, self.event, self.metric, self.key)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything one successful poll of one dataset and source told us.

    ``events`` lists every event the response named, including events that
    carried nothing but their name: an event present with no metrics is
    known to exist, which is different from an event that vanished.
    ``raw`` is the response body exactly as received, kept so fields the API
    adds later are never lost.
    """

    dataset_id: str
    source: str
    polled_at: float
    events: tuple[str, ...]
    observations: tuple[Observation, ...]
    raw: str
