"""The store reads a digest needs, each a plain function of one connection.

They run in the store's writer thread (``Store._run``), all in one
operation, so a digest sees one consistent state of the database. Every
read is in bulk: one statement per kind of fact for all of an owner's
datasets, never one per series, so a digest of 1,000 datasets with 10
events each stays a handful of queries.

These functions are candidates for the store's public interface; they live
here until the store takes them over.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass

from dqwatch.alerts import Alert
from dqwatch.model import Details, Value
from dqwatch.store._alerts import alert_from_document
from dqwatch.store._model import DatasetRow

#: Metrics whose current value a digest shows for each event.
SHOWN_METRICS = (
    "emq",
    "offline_composite",
    "event_coverage",
    "event_coverage_goal",
    "freshness",
)

#: Metrics carrying the API's potential additional conversions reported.
ACR_METRICS = ("match_key_acr", "coverage_acr", "event_acr")

#: Metrics whose trend over the period a digest draws.
TREND_METRICS = ("emq", "offline_composite")


@dataclass(frozen=True, slots=True)
class LatestRow:
    """The current value of one series (None when the series vanished)."""

    series_id: int
    dataset_id: str
    source: str
    event: str
    metric: str
    key: str
    value: Value | None
    changed_at: float
    #: The API's texts as stored (JSON); parsed only for the rows a digest
    #: quotes, since most of an owner's rows are never shown.
    details_json: str

    @property
    def details(self) -> Details:
        """The API's texts and counts that came with the value."""
        if not self.details_json:
            return {}
        loaded = json.loads(self.details_json)
        return loaded if isinstance(loaded, dict) else {}


@dataclass(frozen=True, slots=True)
class Facts:
    """Everything read from the store for one digest, in one transaction.

    ``changes`` are (series id, time, value) of the trend series: each
    change within the period, plus the change in force when it began.
    """

    datasets: list[DatasetRow]
    latest: list[LatestRow]
    changes: list[tuple[int, float, float | None]]
    firing: list[Alert]
    resolved: list[Alert]


def read_facts(
    conn: sqlite3.Connection, owner: str | None, since: float, now: float
) -> Facts:
    """Read what a digest of ``owner`` (None: everyone) over the period shows."""
    return Facts(
        datasets=datasets_of(conn, owner),
        latest=latest_rows(conn, owner, (*SHOWN_METRICS, *ACR_METRICS)),
        changes=trend_changes(conn, owner, since, now),
        firing=firing_alerts(conn, owner),
        resolved=resolved_alerts(conn, owner, since, now),
    )


def _owner_clause(owner: str | None) -> tuple[str, tuple[str, ...]]:
    """A filter on ``d.owner`` to append to a WHERE clause, with its parameter."""
    return ("", ()) if owner is None else (" AND d.owner = ?", (owner,))


def _marks(values: tuple[str, ...]) -> str:
    return ",".join("?" * len(values))


def owners(conn: sqlite3.Connection) -> list[str]:
    """Every owner that has at least one dataset, sorted."""
    rows = conn.execute("SELECT DISTINCT coalesce(owner, '') FROM datasets")
    return sorted(row[0] for row in rows)


def datasets_of(conn: sqlite3.Connection, owner: str | None) -> list[DatasetRow]:
    """The datasets of ``owner`` (None: all), by name then id."""
    where, params = _owner_clause(owner)
    rows = conn.execute(
        "SELECT d.id, coalesce(d.name, ''), coalesce(d.owner, ''),"
        " coalesce(d.origin, 'config') FROM datasets d WHERE 1 = 1" + where,
        params,
    )
    found = [DatasetRow(i, name or i, own, origin) for i, name, own, origin in rows]
    return sorted(found, key=lambda d: (d.name.casefold(), d.id))


def latest_rows(
    conn: sqlite3.Connection, owner: str | None, metrics: tuple[str, ...]
) -> list[LatestRow]:
    """Current values of ``metrics`` for every series of the owner's datasets."""
    where, params = _owner_clause(owner)
    rows = conn.execute(
        "SELECT l.id, l.dataset_id, l.source, l.event, l.metric, l.key,"
        " l.value_num, l.value_text, l.present, l.changed_at, l.details"
        " FROM datasets d CROSS JOIN latest l ON l.dataset_id = d.id"
        f" WHERE l.metric IN ({_marks(metrics)})" + where,
        (*metrics, *params),
    )
    return [
        LatestRow(
            series_id,
            dataset_id,
            source,
            event,
            metric,
            key,
            None if not present else (text if text is not None else num),
            changed_at or 0.0,
            details or "",
        )
        for (
            series_id,
            dataset_id,
            source,
            event,
            metric,
            key,
            num,
            text,
            present,
            changed_at,
            details,
        ) in rows
    ]


def trend_changes(
    conn: sqlite3.Connection, owner: str | None, since: float, now: float
) -> list[tuple[int, float, float | None]]:
    """Changes of the trend series in (since, now], and the one in force at since.

    History is change-only: a value holds until the next row. The row in
    force at ``since`` is found through the (series_id, ts) index, one
    lookup per series inside a single statement. CROSS JOIN fixes the
    order (owner's datasets, their series, each series' history): left to
    itself SQLite may scan the whole period's history of every owner.
    """
    where, params = _owner_clause(owner)
    metrics = _marks(TREND_METRICS)
    rows = conn.execute(
        "SELECT h.series_id, h.ts, h.value_num"
        " FROM datasets d CROSS JOIN latest l ON l.dataset_id = d.id"
        " CROSS JOIN history h ON h.series_id = l.id"
        f" WHERE l.metric IN ({metrics}) AND h.ts > ? AND h.ts <= ?{where}"
        " UNION ALL"
        " SELECT h.series_id, h.ts, h.value_num"
        " FROM datasets d CROSS JOIN latest l ON l.dataset_id = d.id"
        " CROSS JOIN history h ON h.rowid = (SELECT rowid FROM history"
        " WHERE series_id = l.id AND ts <= ? ORDER BY ts DESC, rowid DESC LIMIT 1)"
        f" WHERE l.metric IN ({metrics}){where}"
        " ORDER BY 1, 2",
        (*TREND_METRICS, since, now, *params, since, *TREND_METRICS, *params),
    )
    return [(int(s), float(ts), num) for s, ts, num in rows]


def firing_alerts(conn: sqlite3.Connection, owner: str | None) -> list[Alert]:
    """Alerts firing now on the owner's datasets, oldest first."""
    where, params = _owner_clause(owner)
    rows = conn.execute(
        "SELECT a.document FROM datasets d JOIN alerts a ON a.dataset_id = d.id"
        " WHERE a.state = 'firing'" + where,
        params,
    )
    alerts = [alert_from_document(row[0]) for row in rows]
    return sorted(alerts, key=lambda a: (a.firing_since or a.active_since, a.rule))


def resolved_alerts(
    conn: sqlite3.Connection, owner: str | None, since: float, now: float
) -> list[Alert]:
    """Alerts resolved in [since, now] on the owner's datasets, each once.

    An alert that resolved more than once in the period (it flapped) is
    listed at its last resolution.
    """
    where, params = _owner_clause(owner)
    rows = conn.execute(
        "SELECT e.document FROM alert_events e"
        " JOIN alerts a ON a.fingerprint = e.fingerprint"
        " JOIN datasets d ON d.id = a.dataset_id"
        " WHERE e.state = 'resolved' AND e.at >= ? AND e.at <= ?"
        + where
        + " ORDER BY e.at, e.id",
        (since, now, *params),
    )
    latest: dict[str, Alert] = {}
    for (document,) in rows:
        alert = alert_from_document(document)
        latest.pop(alert.fingerprint, None)  # keep the order of last resolution
        latest[alert.fingerprint] = alert
    return list(latest.values())
