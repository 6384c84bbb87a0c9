"""Building digests from the store: per owner, over a period.

The store keeps history change-only: a value holds until the next change.
A trend is that step function sampled at evenly spaced times over the
period, one a day for a week, so an EMQ that fell on Wednesday shows as a
step on Wednesday however often the dataset was polled.
"""

from __future__ import annotations

import bisect
import heapq
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence

from dqwatch.alerts import Alert
from dqwatch.config import EmailChannel
from dqwatch.digest._model import (
    SCORE_METRIC,
    DatasetDigest,
    Digest,
    EventDigest,
    Recommendation,
)
from dqwatch.store import DatasetRow, Store
from dqwatch.store._digest import ACR_METRICS, Facts, LatestRow

__all__ = ["TOP_RECOMMENDATIONS", "build_digest", "digests_for_channel", "sample_times"]

#: How many recommendations a digest lists, across all of its datasets.
TOP_RECOMMENDATIONS = 5

DAY = 86400.0
#: A trend has one step a day, but never fewer than 6 steps (a one-day
#: period still shows its shape) nor more than 30 (a chart must stay small).
MIN_STEPS = 6
MAX_STEPS = 30

_EventKey = tuple[str, str]  # (source, event)
_Steps = tuple[list[float], list[float | None]]  # change times, values from then


async def build_digest(
    store: Store, owner: str | None, since: float, now: float
) -> Digest:
    """The digest of ``owner``'s datasets (None: every owner's) for since..now.

    The result is empty (no datasets) for an owner the store does not know;
    such a digest is not sent. Raises ``ValueError`` when ``since`` is not
    before ``now``.
    """
    if not since < now:
        raise ValueError(f"a digest period must end after it starts: {since}..{now}")
    facts = await store.digest_facts(owner, since, now)
    return assemble(facts, owner, since, now)


async def digests_for_channel(
    store: Store, channel_config: EmailChannel, now: float, period: float
) -> list[Digest]:
    """One digest per owner the channel admits, covering the ``period`` before now.

    ``channel_config.owners`` names the owners; when it is empty, every owner
    that has datasets gets one. Owners without datasets get none.
    """
    wanted: Sequence[str] = channel_config.owners or await store.owners()
    digests = [await build_digest(store, owner, now - period, now) for owner in wanted]
    return [digest for digest in digests if not digest.empty]


def sample_times(since: float, now: float) -> tuple[float, ...]:
    """Evenly spaced times from ``since`` to ``now``, both included."""
    steps = min(MAX_STEPS, max(MIN_STEPS, round((now - since) / DAY)))
    width = (now - since) / steps
    return (*(since + i * width for i in range(steps)), now)


def assemble(facts: Facts, owner: str | None, since: float, now: float) -> Digest:
    """Turn what was read from the store into a digest."""
    times = sample_times(since, now)
    steps = _steps(facts.changes, facts.latest, now)
    by_dataset: dict[str, list[LatestRow]] = defaultdict(list)
    for row in facts.latest:
        by_dataset[row.dataset_id].append(row)
    firing = _by_dataset(facts.firing)
    resolved = _by_dataset(facts.resolved)

    datasets = tuple(
        DatasetDigest(
            id=dataset.id,
            name=dataset.name,
            owner=dataset.owner,
            events=_events(by_dataset[dataset.id], steps, times),
            firing=tuple(firing[dataset.id]),
            resolved=tuple(resolved[dataset.id]),
        )
        for dataset in facts.datasets
    )
    return Digest(
        owner=owner,
        since=since,
        now=now,
        sample_times=times,
        datasets=datasets,
        recommendations=top_recommendations(facts.datasets, facts.latest),
    )


def _by_dataset(alerts: Iterable[Alert]) -> dict[str, list[Alert]]:
    grouped: dict[str, list[Alert]] = defaultdict(list)
    for alert in alerts:
        grouped[alert.dataset_id].append(alert)
    return grouped


def _steps(
    changes: Iterable[tuple[int, float, float | None]],
    latest: Iterable[LatestRow],
    now: float,
) -> dict[int, _Steps]:
    """Each trend series as a step function: change times and values from then.

    The ``latest`` row is added as a last step: it says the same as the last
    history row, and still holds when retention has pruned that row.
    """
    steps: dict[int, _Steps] = defaultdict(lambda: ([], []))
    for series_id, ts, value in changes:
        times, values = steps[series_id]
        times.append(ts)
        values.append(value)
    for row in latest:
        if row.metric == SCORE_METRIC.get(row.source) and row.changed_at <= now:
            times, values = steps[row.series_id]
            if not times or times[-1] <= row.changed_at:
                times.append(row.changed_at)
                values.append(_number(row.value))
    return steps


def sample(times: list[float], values: list[float | None], at: float) -> float | None:
    """The value of a step function at ``at``: the last change at or before it."""
    index = bisect.bisect_right(times, at) - 1
    return values[index] if index >= 0 else None


def _events(
    rows: list[LatestRow], steps: dict[int, _Steps], times: tuple[float, ...]
) -> tuple[EventDigest, ...]:
    """One EventDigest per event that has a current value, web before offline."""
    fields: dict[_EventKey, dict[str, LatestRow]] = defaultdict(dict)
    for row in rows:
        if row.value is not None:
            fields[(row.source, row.event)].setdefault(row.metric, row)

    events = [_event(key, found, steps, times) for key, found in fields.items()]
    order = {"web": 0, "offline": 1}
    events.sort(key=lambda e: (order.get(e.source, 2), e.event.casefold(), e.event))
    return tuple(events)


def _event(
    key: _EventKey,
    found: dict[str, LatestRow],
    steps: dict[int, _Steps],
    times: tuple[float, ...],
) -> EventDigest:
    source, event = key
    score_row = found.get(SCORE_METRIC.get(source, "emq"))
    trend: tuple[float | None, ...] = (None,) * len(times)
    if score_row is not None and score_row.series_id in steps:
        known = steps[score_row.series_id]
        trend = tuple(sample(*known, at) for at in times)
    return EventDigest(
        source=source,
        event=event,
        score=trend[-1],  # the score at ``now``, like every other point
        trend=trend,
        coverage=_value_of(found, "event_coverage"),
        coverage_goal=_value_of(found, "event_coverage_goal"),
        freshness=_text_of(found, "freshness"),
    )


def top_recommendations(
    datasets: Sequence[DatasetRow], latest: Iterable[LatestRow]
) -> tuple[Recommendation, ...]:
    """The largest potential additional conversions across the datasets.

    Ties are broken by dataset name, event and key so a digest reads the
    same each time it is built from the same data.
    """
    names = {dataset.id: dataset.name for dataset in datasets}
    candidates = (
        row
        for row in latest
        if row.metric in ACR_METRICS
        and isinstance(row.value, float)
        and math.isfinite(row.value)
        and row.value > 0
    )
    top = heapq.nsmallest(
        TOP_RECOMMENDATIONS,
        candidates,
        key=lambda row: (
            -float(row.value or 0.0),
            names.get(row.dataset_id, row.dataset_id),
            row.dataset_id,
            row.event,
            row.key,
            row.metric,
        ),
    )
    return tuple(
        Recommendation(
            dataset_id=row.dataset_id,
            dataset_name=names.get(row.dataset_id, row.dataset_id),
            source=row.source,
            event=row.event,
            metric=row.metric,
            key=row.key,
            percentage=float(row.value or 0.0),
            description=str(row.details.get("description", "")),
        )
        for row in top
    )


def _number(value: object) -> float | None:
    return value if isinstance(value, float) else None


def _value_of(found: dict[str, LatestRow], metric: str) -> float | None:
    row = found.get(metric)
    return None if row is None else _number(row.value)


def _text_of(found: dict[str, LatestRow], metric: str) -> str | None:
    row = found.get(metric)
    return row.value if row is not None and isinstance(row.value, str) else None
