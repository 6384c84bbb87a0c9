"""The past of the series a ``baseline:`` rule compares with, kept in memory."""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping

from dqwatch.baseline import weighted_median
from dqwatch.evaluate import BaselineKey
from dqwatch.model import Value
from dqwatch.store._backtest import Change, Series

Point = tuple[float, Value | None]


class Timelines:
    """Every change of the series of some metrics, to take windowed medians of.

    Only the metrics of ``baseline:`` rules are kept, so a rule set without
    one costs nothing here.
    """

    def __init__(self, series: Mapping[int, Series], metrics: Iterable[str]) -> None:
        wanted = set(metrics)
        self._ids: dict[tuple[str, str, str, str, str], int] = {}
        self._points: dict[int, list[Point]] = {}
        for sid, s in series.items():
            if s.metric in wanted:
                self._ids[(s.dataset_id, s.source, s.event, s.metric, s.key)] = sid
                self._points[sid] = []

    def seed(
        self, at_start: Mapping[int, Value | None], rows: Iterable[Change]
    ) -> None:
        """The values when the earliest window opens, then the changes since."""
        for sid, value in at_start.items():
            points = self._points.get(sid)
            if points is not None:
                # Any time before every window will do: only the value counts.
                points.append((float("-inf"), value))
        for row in rows:
            self.record(row)

    def record(self, row: Change) -> None:
        """Add one history row (rows arrive oldest first)."""
        points = self._points.get(row.series_id)
        if points is not None:
            points.append((row.ts, row.value))

    def median(self, key: BaselineKey, now: float) -> float | None:
        """The time-weighted median of one series over the window ending ``now``."""
        sid = self._ids.get(key[:5])
        points = self._points.get(sid) if sid is not None else None
        if not points:
            return None
        start = now - key[5]
        # The value in force when the window opens, then every later change.
        first = bisect.bisect_left(points, start, key=lambda p: p[0])
        return weighted_median(points[max(first - 1, 0) :], start, now)
