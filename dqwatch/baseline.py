"""The time-weighted median of a series over a window: the ``baseline:`` reference."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from dqwatch.model import Value

if TYPE_CHECKING:
    from dqwatch.evaluate import BaselineKey, Evaluator
    from dqwatch.poller import PollResult
    from dqwatch.store import Store


async def fetch_baselines(
    store: Store, evaluator: Evaluator, result: PollResult
) -> dict[BaselineKey, float | None]:
    """The ``baseline:`` references evaluating ``result`` needs, from history."""
    baselines: dict[BaselineKey, float | None] = {}
    for key in evaluator.baselines_needed(result):
        since = result.finished - key[5]
        points = await store.series_history(*key[:5], since=since)
        baselines[key] = weighted_median(points, since, result.finished)
    return baselines


def weighted_median(
    points: Sequence[tuple[float, Value | None]], since: float, now: float
) -> float | None:
    """Median over [since, now) of a step series, each value weighted by its time.

    ``points`` are (time, value) changes, oldest first; the first may lie
    before ``since`` (the value in force when the window opened). Absent
    values and texts carry no weight. None when nothing numeric held.
    """
    spans: list[tuple[float, float]] = []
    for (ts, value), nxt in zip(points, [*points[1:], (now, None)], strict=True):
        start, end = max(ts, since), min(nxt[0], now)
        if end > start and isinstance(value, float):
            spans.append((value, end - start))
    total = sum(weight for _, weight in spans)
    if total <= 0:
        return None
    spans.sort()
    running = 0.0
    for value, weight in spans:
        running += weight
        if running >= total / 2:
            return value
    return spans[-1][0]
