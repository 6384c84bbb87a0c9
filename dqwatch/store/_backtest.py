"""Reading what a backtest replays, in bulk, straight from the store's tables.

Every function here is a plain function of a ``sqlite3.Connection`` that
only reads, so it can run through the store's own connection. A replay
reads a little context once (datasets, series, the values in force when it
starts) and then the poll log and history in time slices, so memory stays
bounded however long the replayed period is and no read holds the database
for long.

Two facts keep the reads small. ``latest.changed_at`` is the time of a
series' last history row, so a series unchanged since before ``t`` still
holds its ``latest`` value at ``t`` (even when retention pruned the row that
set it) and only series changed since are looked up in ``history``, one
index seek each. And most polls change nothing: only polls that failed or
wrote history are read in full; the others are counted, and read only for
the datasets whose alerts wait on them (see ``ok_polls``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection
from dataclasses import dataclass
from typing import NamedTuple

from dqwatch.model import Value

_POLL_COLUMNS = (
    "id, dataset_id, source, started, finished, outcome, error_code,"
    " error_subcode, error_message"
)


@dataclass(frozen=True, slots=True)
class Series:
    """One stored series: where it belongs, and its latest texts as JSON."""

    dataset_id: str
    source: str
    event: str
    metric: str
    key: str
    details: str


class PollRow(NamedTuple):
    """One row of the poll log."""

    id: int
    dataset_id: str
    source: str
    started: float
    finished: float
    outcome: str
    error_code: int | None
    error_subcode: int | None
    error_message: str | None


class Change(NamedTuple):
    """One history row: a series took ``value`` (None: vanished) at ``ts``."""

    series_id: int
    ts: float
    value: Value | None


@dataclass(frozen=True, slots=True)
class Slice:
    """One time slice: its poll counts, history rows and eventful polls."""

    polls: int
    failed: int
    changes: list[Change]
    #: Polls that failed or started when some history row was written.
    eventful: list[PollRow]


def dataset_names(conn: sqlite3.Connection) -> dict[str, tuple[str, str]]:
    """Name and owner of every known dataset, by id."""
    rows = conn.execute("SELECT id, name, owner FROM datasets")
    return {i: (name or i, owner or "") for i, name, owner in rows}


def series_of(conn: sqlite3.Connection, metrics: Collection[str]) -> dict[int, Series]:
    """Every stored series of ``metrics``, by its id."""
    where, params = _metric_filter(metrics)
    rows = conn.execute(
        "SELECT id, dataset_id, source, event, metric, key, details FROM latest"
        f" WHERE 1{where}",
        params,
    )
    return {
        sid: Series(dataset, source, event, metric, key, details or "")
        for sid, dataset, source, event, metric, key, details in rows
    }


def values_at(
    conn: sqlite3.Connection, at: float, metrics: Collection[str]
) -> dict[int, Value | None]:
    """The value each series of ``metrics`` held just before ``at``.

    None marks a series known to be gone then; series with no value yet
    (appeared later, or whose history was pruned) are left out.
    """
    where, params = _metric_filter(metrics)
    unchanged = conn.execute(
        "SELECT id, value_num, value_text, present FROM latest"
        f" WHERE changed_at < ?{where}",
        (at, *params),
    )
    found = {
        sid: _value(num, text) if present else None
        for sid, num, text, present in unchanged
    }
    changed = conn.execute(
        "SELECT l.id, h.value_num, h.value_text FROM latest AS l"
        " JOIN history AS h ON h.rowid = (SELECT rowid FROM history"
        " WHERE series_id = l.id AND ts < ? ORDER BY ts DESC, rowid DESC LIMIT 1)"
        f" WHERE l.changed_at >= ?{where}",
        (at, at, *params),
    )
    found.update((sid, _value(num, text)) for sid, num, text in changed)
    return found


def births(conn: sqlite3.Connection, since: float) -> dict[tuple[str, str], float]:
    """When each (dataset, source) got its first value, if at or after ``since``.

    Targets known before ``since`` get a time before it (not necessarily
    their first): a poll is a target's first exactly when it started no
    later than this time.
    """
    rows = conn.execute(
        "SELECT dataset_id, source, min(CASE WHEN changed_at < ? THEN changed_at"
        " ELSE coalesce((SELECT min(ts) FROM history WHERE series_id = latest.id),"
        " changed_at) END) FROM latest GROUP BY dataset_id, source",
        (since,),
    )
    return {(dataset, source): born for dataset, source, born in rows}


def polled_targets(
    conn: sqlite3.Connection, start: float, end: float
) -> list[tuple[str, str]]:
    """(dataset, source) pairs with stored values and a poll in ``[start, end)``."""
    rows = conn.execute(
        "SELECT t.dataset_id, t.source FROM"
        " (SELECT DISTINCT dataset_id, source FROM latest) AS t WHERE EXISTS"
        " (SELECT 1 FROM polls AS p WHERE p.dataset_id = t.dataset_id"
        " AND p.source = t.source AND p.started >= ? AND p.started < ?)"
        " ORDER BY t.dataset_id, t.source",
        (start, end),
    )
    return [(dataset, source) for dataset, source in rows]


def changes_between(
    conn: sqlite3.Connection, start: float, end: float, metrics: Collection[str]
) -> list[Change]:
    """History rows of ``metrics`` with ``start <= ts < end``, oldest first."""
    where, params = _metric_filter(metrics, "l.")
    rows = conn.execute(
        "SELECT h.series_id, h.ts, h.value_num, h.value_text FROM history AS h"
        " JOIN latest AS l ON l.id = h.series_id"
        f" WHERE h.ts >= ? AND h.ts < ?{where} ORDER BY h.ts, h.rowid",
        (start, end, *params),
    )
    return [Change(sid, ts, _value(num, text)) for sid, ts, num, text in rows]


def read_slice(
    conn: sqlite3.Connection, start: float, end: float, metrics: Collection[str]
) -> Slice:
    """Counts, history rows of ``metrics`` and eventful polls of ``[start, end)``."""
    polls, failed = conn.execute(
        "SELECT count(*), coalesce(sum(outcome != 'ok'), 0) FROM polls"
        " WHERE started >= ? AND started < ?",
        (start, end),
    ).fetchone()
    # An ok poll that wrote history started exactly at its rows' ``ts``.
    rows = conn.execute(
        f"SELECT {_POLL_COLUMNS} FROM polls WHERE started >= ? AND started < ?"
        " AND (outcome != 'ok' OR started IN"
        " (SELECT ts FROM history WHERE ts >= ? AND ts < ?))"
        " ORDER BY started, id",
        (start, end, start, end),
    )
    eventful = [PollRow._make(row) for row in rows]
    return Slice(polls, failed, changes_between(conn, start, end, metrics), eventful)


def ok_polls(
    conn: sqlite3.Connection,
    targets: Collection[tuple[str, str]],
    after: tuple[float, int],
    end: float,
) -> list[PollRow]:
    """Ok polls of ``targets`` after the poll ``after`` (started, id), before ``end``.

    One indexed range read per (dataset, source): a handful of targets at
    a time wait on their next polls, never the whole poll log.
    """
    found: list[PollRow] = []
    for dataset, source in targets:
        rows = conn.execute(
            f"SELECT {_POLL_COLUMNS} FROM polls WHERE dataset_id = ? AND source = ?"
            " AND started >= ? AND started < ? AND outcome = 'ok'",
            (dataset, source, after[0], end),
        )
        found += (r for r in map(PollRow._make, rows) if (r.started, r.id) > after)
    return found


def next_ok_poll(
    conn: sqlite3.Connection, after: tuple[float, int], end: float
) -> list[PollRow]:
    """The next ok poll of any dataset after ``after`` (started, id), before ``end``."""
    row = conn.execute(
        f"SELECT {_POLL_COLUMNS} FROM polls WHERE outcome = 'ok'"
        " AND started >= ? AND started < ? AND (started > ? OR id > ?)"
        " ORDER BY started, id LIMIT 1",
        (after[0], end, after[0], after[1]),
    ).fetchone()
    return [] if row is None else [PollRow._make(row)]


def _metric_filter(
    metrics: Collection[str], prefix: str = ""
) -> tuple[str, tuple[str, ...]]:
    chosen = tuple(sorted(metrics))
    # An empty IN () is valid SQLite and matches nothing, as it should.
    return f" AND {prefix}metric IN ({','.join('?' * len(chosen))})", chosen


def _value(num: float | None, text: str | None) -> Value | None:
    return text if text is not None else num


@dataclass(frozen=True, slots=True)
class Context:
    """The state a replay starts from: what was in force at ``since``."""

    names: dict[str, tuple[str, str]]
    series: dict[int, Series]
    at_since: dict[int, Value | None]
    births: dict[tuple[str, str], float]
    targets: list[tuple[str, str]]
    at_window_start: dict[int, Value | None]
    window_rows: list[Change]


def read_context(
    conn: sqlite3.Connection,
    since: float,
    now: float,
    metrics: Collection[str],
    baseline_metrics: Collection[str],
    window: float,
) -> Context:
    """Everything a replay needs before its first poll, in one read."""
    window_start = since - window
    return Context(
        names=dataset_names(conn),
        series=series_of(conn, metrics),
        at_since=values_at(conn, since, metrics),
        births=births(conn, since),
        targets=polled_targets(conn, since, now),
        at_window_start=(
            values_at(conn, window_start, baseline_metrics) if baseline_metrics else {}
        ),
        window_rows=(
            changes_between(conn, window_start, since, baseline_metrics)
            if baseline_metrics
            else []
        ),
    )
