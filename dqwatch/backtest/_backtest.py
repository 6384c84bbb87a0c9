"""The backtest itself: read the store slice by slice, replay, report."""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from datetime import UTC, datetime

from dqwatch.backtest._replay import Replay
from dqwatch.backtest._report import BacktestReport, tally
from dqwatch.durations import parse_duration
from dqwatch.rules import RuleSet
from dqwatch.store import Store
from dqwatch.store._backtest import PollRow, Slice

#: Seconds of poll log read at a time: bounds memory and how long one read
#: holds the database, whatever the length of the replayed period.
SLICE = 6 * 3600.0


@dataclass(frozen=True, slots=True)
class _Scope:
    """What the rules read: their metrics, and how far back baselines look."""

    metrics: frozenset[str]
    baseline_metrics: frozenset[str]
    window: float

    @classmethod
    def of(cls, rules: RuleSet) -> _Scope:
        metrics = {rule.metric for rule in rules.rules}
        if any(rule.below_goal for rule in rules.rules):
            metrics.add("event_coverage_goal")
        windowed = [r for r in rules.rules if r.baseline is not None]
        return cls(
            frozenset(metrics),
            frozenset(r.metric for r in windowed),
            max((r.baseline or 0.0 for r in windowed), default=0.0),
        )


async def backtest(
    store: Store, rules: RuleSet, since: float, now: float
) -> BacktestReport:
    """Replay the polls that started in ``[since, now)`` through ``rules``.

    The values in force at ``since`` are where the replay starts, so a
    compare rule (drop, disappeared...) judges the first replayed poll
    against them, and a threshold that already held then is reported as
    firing at ``since``. Nothing is written to ``store``.
    """
    scope = _Scope.of(rules)
    replay = await _start(store, rules, scope, since, now)
    polls = failed = 0
    start = since
    while start < now:
        end = min(start + SLICE, now)
        part = await store.backtest_slice(start, end, scope.metrics)
        await _replay_slice(store, replay, part, start, end)
        polls, failed = polls + part.polls, failed + part.failed
        start = end
    # Polls are replayed in the order they started and report when they
    # finished; a stable sort by that time keeps each alert's own order.
    transitions = sorted(replay.transitions, key=lambda t: t.at)
    still_open = replay.open_alerts()
    return BacktestReport(
        since=since,
        until=now,
        polls=polls,
        failed_polls=failed,
        datasets=replay.datasets,
        transitions=transitions,
        open_alerts=still_open,
        rules=tally(rules, transitions, still_open),
    )


async def _start(
    store: Store, rules: RuleSet, scope: _Scope, since: float, now: float
) -> Replay:
    """A replay set to the state in force at ``since``."""
    context = await store.backtest_context(
        since, now, scope.metrics, scope.baseline_metrics, scope.window
    )
    silences = await store.silences()
    replay = Replay(
        rules, context.series, context.names, context.births, since, silences
    )
    replay.seed(context.at_since)
    replay.timelines.seed(context.at_window_start, context.window_rows)
    for target in context.targets:
        replay.meet(target)
    return replay


async def _replay_slice(
    store: Store, replay: Replay, part: Slice, start: float, end: float
) -> None:
    """Replay every poll of the slice ``[start, end)`` that can move an alert.

    Those are the polls that failed or changed something, plus the ok polls
    the open alerts wait on (see ``_attention``), read as the need arises
    and merged in (started, id) order.
    """
    replay.queue(part.changes)
    heap = [(row.started, row.id, row) for row in part.eventful]
    heap += _keyed(await _waited_for(store, replay, (start, -1), end, everyone=True))
    heapq.heapify(heap)
    done: set[int] = set()
    while heap:
        started, poll_id, row = heapq.heappop(heap)
        if poll_id in done:
            continue  # read twice: an eventful poll some alert waited on
        done.add(poll_id)
        token_was_open = replay.attention.token_open
        replay.replay(row)
        token_opened = replay.attention.token_open and not token_was_open
        more = await _waited_for(
            store, replay, (started, poll_id), end, token=token_opened
        )
        for item in _keyed(more):
            heapq.heappush(heap, item)


async def _waited_for(
    store: Store,
    replay: Replay,
    after: tuple[float, int],
    end: float,
    *,
    everyone: bool = False,
    token: bool = False,
) -> list[PollRow]:
    """Ok polls after ``after`` that open alerts wait on.

    ``everyone``: the polls every waiting target needs (at a slice's start),
    else only those of targets that began to wait. ``token``: the token
    alert is open, so the next ok poll of any dataset matters.
    """
    attention = replay.attention
    targets = attention.waiting() if everyone else attention.take_new()
    rows: list[PollRow] = []
    if targets:
        rows += await store.backtest_ok_polls(targets, after, end)
    if token or (everyone and attention.token_open):
        rows += await store.backtest_next_ok_poll(after, end)
    return rows


def _keyed(rows: list[PollRow]) -> list[tuple[float, int, PollRow]]:
    return [(row.started, row.id, row) for row in rows]


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
