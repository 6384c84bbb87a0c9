"""The time-weighted median of a series over a window: the ``baseline:`` reference."""

from __future__ import annotations

from collections.abc import Sequence

from dqwatch.model import Value


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
