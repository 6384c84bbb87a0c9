"""What the web endpoints read from the database, one function per request.

Each function takes a ``sqlite3.Connection`` and runs in the store's writer
thread (through the ``Store`` methods of the same name), so one request sees
one consistent state. They only
read, except for the health probe, which writes one row on purpose.

The scores shown per dataset (EMQ, event coverage, offline composite) are a
few rows among the ~30 per event in ``latest``; a partial covering index
over exactly those rows (schema version 4), which turns a
3-million-row scan into a 250,000-entry index walk (about 0.9 s down to
0.06 s of SQLite time at 10,000 datasets of 10 events).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field

#: Store metric names shown as scores, in the order the page shows them.
SCORE_METRICS: tuple[str, ...] = ("emq", "event_coverage", "offline_composite")

# The partial index is used only by queries repeating its WHERE terms
# verbatim, so every score query is built from this one string.
SCORED = (
    "key = '' AND present = 1 AND metric IN ("
    + ", ".join(f"'{metric}'" for metric in SCORE_METRICS)
    + ")"
)
SCORE_INDEX = "latest_scores"
HEALTH_TABLE = "health_probe"
OPEN = ("firing", "pending")


# -- /healthz ----------------------------------------------------------------------


def health_probe(conn: sqlite3.Connection, now: float) -> int:
    """Write one row, so the commit proves the file is writable; return the backlog.

    The backlog is the number of notifications waiting in the outbox.
    """
    conn.execute(
        f"INSERT INTO {HEALTH_TABLE} (name, checked_at) VALUES ('web', ?)"
        " ON CONFLICT (name) DO UPDATE SET checked_at = excluded.checked_at",
        (now,),
    )
    row = conn.execute("SELECT count(*) FROM outbox WHERE state = 'pending'")
    return int(row.fetchone()[0])


# -- /metrics ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MetricsData:
    """Everything the store-fed gauges show, read in one go."""

    #: Store metric name -> (dataset id, event, value) rows.
    scores: dict[str, list[tuple[str, str, float]]]
    #: (id, name, owner) of every known dataset.
    datasets: list[tuple[str, str, str]]
    #: (state, severity) -> how many open alerts.
    alerts: dict[tuple[str, str], int]
    #: Outbox state -> how many notices.
    outbox: dict[str, int]


def read_metrics(conn: sqlite3.Connection) -> MetricsData:
    """Read every store-fed gauge's samples."""
    scores = {
        metric: conn.execute(
            "SELECT dataset_id, event, value_num FROM latest"
            f" WHERE {SCORED} AND metric = ? AND value_num IS NOT NULL",
            (metric,),
        ).fetchall()
        for metric in SCORE_METRICS
    }
    datasets = conn.execute(
        "SELECT id, coalesce(name, ''), coalesce(owner, '') FROM datasets ORDER BY id"
    ).fetchall()
    alerts = conn.execute(
        "SELECT state, coalesce(json_extract(document, '$.severity'), ''), count(*)"
        " FROM alerts WHERE state IN (?, ?) GROUP BY 1, 2",
        OPEN,
    )
    outbox = conn.execute("SELECT state, count(*) FROM outbox GROUP BY state")
    return MetricsData(
        scores=scores,
        datasets=datasets,
        alerts={(state, severity): n for state, severity, n in alerts},
        outbox=dict(outbox.fetchall()),
    )


# -- the status page -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OpenAlert:
    """A pending or firing alert, as the status page lists it."""

    dataset_id: str
    rule: str
    state: str
    severity: str
    source: str
    event: str
    key: str
    summary: str
    since: float
    silenced: bool


@dataclass(frozen=True, slots=True)
class Score:
    """The lowest value of one score over a dataset's events, and that event."""

    value: float
    event: str


@dataclass(frozen=True, slots=True)
class DatasetLine:
    """One dataset on the page: who it is, its lowest scores, its open alerts."""

    id: str
    name: str
    owner: str
    scores: dict[str, Score] = field(default_factory=dict)
    alerts: list[OpenAlert] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class PageData:
    """One page of datasets, firing first, plus the totals the header shows."""

    lines: list[DatasetLine]
    #: Open alerts of no known dataset (the token alert, datasets since removed).
    general: list[OpenAlert]
    datasets: int
    page: int
    pages: int
    first: int
    firing: int
    pending: int
    outbox_pending: int


def read_page(conn: sqlite3.Connection, page: int, size: int) -> PageData:
    """Page ``page`` (from 1, clamped to the last) of ``size`` datasets."""
    datasets = conn.execute(
        "SELECT id, coalesce(name, ''), coalesce(owner, '') FROM datasets"
    ).fetchall()
    alerts = _open_alerts(conn)
    by_dataset: dict[str, list[OpenAlert]] = {}
    for alert in alerts:
        by_dataset.setdefault(alert.dataset_id, []).append(alert)
    known = {row[0] for row in datasets}
    general = [a for a in alerts if a.dataset_id not in known]

    datasets.sort(key=lambda row: _dataset_order(row, by_dataset.get(row[0], [])))
    pages = max(1, -(-len(datasets) // size))
    page = min(max(1, page), pages)
    first = (page - 1) * size
    chosen = datasets[first : first + size]
    scores = _lowest_scores(conn, [row[0] for row in chosen])
    lines = [
        DatasetLine(i, n, o, scores.get(i, {}), by_dataset.get(i, []))
        for i, n, o in chosen
    ]
    backlog = conn.execute("SELECT count(*) FROM outbox WHERE state = 'pending'")
    return PageData(
        lines=lines,
        general=general,
        datasets=len(datasets),
        page=page,
        pages=pages,
        first=first,
        firing=sum(a.state == "firing" for a in alerts),
        pending=sum(a.state == "pending" for a in alerts),
        outbox_pending=int(backlog.fetchone()[0]),
    )


_SEVERITY_RANK = {"critical": 0, "warning": 1, "info": 2}


def _open_alerts(conn: sqlite3.Connection) -> list[OpenAlert]:
    """Open alerts, firing before pending, then by severity, rule and series."""
    rows = conn.execute(
        "SELECT coalesce(dataset_id, ''), rule, state,"
        " coalesce(json_extract(document, '$.severity'), ''),"
        " coalesce(source, ''), coalesce(event, ''), coalesce(key, ''),"
        " coalesce(json_extract(document, '$.summary'), ''),"
        " coalesce(json_extract(document, '$.firing_since'),"
        "          json_extract(document, '$.active_since'), 0),"
        " coalesce(json_extract(document, '$.silenced'), 0)"
        " FROM alerts WHERE state IN (?, ?)",
        OPEN,
    )
    alerts = [
        OpenAlert(d, r, st, sev, src, ev, k, summ, float(since), bool(sil))
        for d, r, st, sev, src, ev, k, summ, since, sil in rows
    ]
    alerts.sort(
        key=lambda a: (
            a.state != "firing",
            _SEVERITY_RANK.get(a.severity, 3),
            a.rule,
            a.event,
            a.key,
        )
    )
    return alerts


def _dataset_order(
    row: tuple[str, str, str], alerts: Sequence[OpenAlert]
) -> tuple[int, str, str]:
    """Datasets with a firing alert first, then pending ones, then by name."""
    states = {a.state for a in alerts}
    rank = 0 if "firing" in states else 1 if "pending" in states else 2
    return (rank, (row[1] or row[0]).casefold(), row[0])


def _lowest_scores(
    conn: sqlite3.Connection, dataset_ids: Sequence[str]
) -> dict[str, dict[str, Score]]:
    """Per dataset and score metric: the lowest value and its event."""
    if not dataset_ids:
        return {}
    marks = ", ".join("?" * len(dataset_ids))
    # SQLite fills a bare column (event) from the row that holds the min().
    rows = conn.execute(
        "SELECT dataset_id, metric, min(value_num), event FROM latest"
        f" WHERE {SCORED} AND value_num IS NOT NULL AND dataset_id IN ({marks})"
        " GROUP BY dataset_id, metric",
        tuple(dataset_ids),
    )
    found: dict[str, dict[str, Score]] = {}
    for dataset_id, metric, value, event in rows:
        found.setdefault(dataset_id, {})[metric] = Score(float(value), event)
    return found
