"""Plain values the store hands out."""

from __future__ import annotations

from dataclasses import dataclass

from dqwatch.model import Value


@dataclass(frozen=True, slots=True)
class DatasetRow:
    """A dataset as the store knows it: id, display name, owner, origin."""

    id: str
    name: str
    owner: str
    origin: str = "config"


@dataclass(frozen=True, slots=True)
class LatestValue:
    """The current value of one series."""

    source: str
    event: str
    metric: str
    key: str
    value: Value | None
    changed_at: float


@dataclass(frozen=True, slots=True)
class HistoryPoint:
    """One change of one series: its new value (None when it vanished)."""

    event: str
    metric: str
    key: str
    ts: float
    value: Value | None


def stored_value(num: float | None, text: str | None, present: int) -> Value | None:
    if not present:
        return None
    return text if text is not None else num
