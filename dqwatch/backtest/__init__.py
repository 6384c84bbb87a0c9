"""``dqwatch backtest``: replay stored history through the current rules.

:func:`backtest` replays every poll stored since a point in time, in the
order they happened, through a rule set with an alert book of its own, and
reports every alert change the rules would have made. It reads the store
and writes nothing: the alerts in the database stay as they are.
:func:`backtest_table` and :func:`backtest_json` render the report;
:func:`parse_since` reads the ``--since`` option. ``docs/backtest.md``
describes the command and what a replay can and cannot know.
"""

from __future__ import annotations

import functools
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime

from dqwatch.backtest._errors import error_type, rebuild_error
from dqwatch.backtest._read import (
    Change,
    Series,
    all_series,
    changes_between,
    dataset_names,
    read_slice,
    values_at,
)
from dqwatch.backtest._replay import Replay
from dqwatch.backtest._report import (
    BacktestReport,
    RuleTally,
    backtest_json,
    backtest_table,
    tally,
)
from dqwatch.durations import parse_duration
from dqwatch.model import Value
from dqwatch.rules import RuleSet
from dqwatch.store import Store

__all__ = [
    "SLICE",
    "BacktestReport",
    "RuleTally",
    "backtest",
    "backtest_json",
    "backtest_table",
    "error_type",
    "parse_since",
    "rebuild_error",
]

#: Seconds of poll log read at a time: bounds memory and how long one read
#: holds the database, whatever the length of the replayed period.
SLICE = 6 * 3600.0


@dataclass(frozen=True, slots=True)
class _Context:
    names: dict[str, tuple[str, str]]
    series: dict[int, Series]
    at_since: dict[int, Value | None]
    at_window_start: dict[int, Value | None]
    window_rows: list[Change]


async def backtest(
    store: Store, rules: RuleSet, since: float, now: float
) -> BacktestReport:
    """Replay the polls that started in ``[since, now)`` through ``rules``.

    The values in force at ``since`` are where the replay starts, so a
    compare rule (drop, disappeared...) judges the first replayed poll
    against them, and a threshold that already held then is reported as
    firing at ``since``. Nothing is written to ``store``.
    """
    windows = [r.baseline for r in rules.rules if r.baseline is not None]
    window_start = since - max(windows, default=0.0)
    metrics = {r.metric for r in rules.rules if r.baseline is not None}

    def read_context(conn: sqlite3.Connection) -> _Context:
        return _Context(
            dataset_names(conn),
            all_series(conn),
            values_at(conn, since),
            values_at(conn, window_start, metrics) if metrics else {},
            changes_between(conn, window_start, since, metrics) if metrics else [],
        )

    context = await store._run(read_context)
    silences = await store.silences()
    replay = Replay(rules, context.series, context.names, since, silences)
    replay.seed(context.at_since)
    replay.timelines.seed(context.at_window_start, context.window_rows)
    start = since
    while start < now:
        end = min(start + SLICE, now)
        part = await store._run(functools.partial(read_slice, start=start, end=end))
        replay.queue(part.changes)
        for poll in part.polls:
            replay.replay(poll)
        start = end
    return _report(rules, replay, since, now)


def _report(rules: RuleSet, replay: Replay, since: float, now: float) -> BacktestReport:
    # Thresholds that held at ``since`` are judged when their dataset is
    # first met, so order by time (a stable sort keeps each alert's order).
    transitions = sorted(replay.transitions, key=lambda t: t.at)
    still_open = replay.open_alerts()
    return BacktestReport(
        since=since,
        until=now,
        polls=replay.polls,
        failed_polls=replay.failed,
        targets=replay.targets,
        transitions=transitions,
        open_alerts=still_open,
        rules=tally(rules, transitions, still_open),
    )


def parse_since(text: str, now: float) -> float:
    """The start of a backtest from ``--since``: a duration back, or a date.

    ``"30d"`` is 30 days before ``now``; ``"2025-05-01"`` and
    ``"2025-05-01T08:00"`` are UTC unless they carry an offset. Raises
    ``ValueError`` saying how to write it, or that it lies in the future.
    """
    try:
        return now - parse_duration(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f'--since: "{text}" is neither a duration nor a date; write how far '
            'back to start, such as "30d" or "12h", or a UTC date such as '
            '"2025-05-01" or "2025-05-01T08:00"'
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if moment.timestamp() >= now:
        raise ValueError(
            f'--since: "{text}" is not in the past; give a date before now, '
            'or a duration such as "30d"'
        )
    return moment.timestamp()
