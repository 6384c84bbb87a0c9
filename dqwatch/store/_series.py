"""Recording one poll: the change-only write path.

A poll whose response body is byte-for-byte the one already stored writes a
single row (the poll log). Otherwise the new observations are compared with
the ``latest`` rows of that dataset and source: only series that appeared,
changed value or vanished get a ``history`` row, and only their ``latest``
row is touched. Changed texts (descriptions, solutions) update ``latest``
alone: they travel with the value but are not history.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass

from dqwatch.model import Details, Observation, Snapshot, Value

SeriesKey = tuple[str, str, str]  # (event, metric, key) within one dataset+source


@dataclass(frozen=True, slots=True)
class SeriesChange:
    """A series whose value is not what it was: appeared, changed or vanished.

    ``before`` is None when the series is new or was absent; ``after`` is
    None when the series is now absent from the response.
    """

    dataset_id: str
    source: str
    event: str
    metric: str
    key: str
    before: Value | None
    after: Value | None
    details: Details


@dataclass(frozen=True, slots=True)
class _Row:
    series_id: int
    value: Value | None
    details: str


def digest(body: str) -> str:
    """A short fingerprint of a response body."""
    return hashlib.blake2b(body.encode(), digest_size=16).hexdigest()


def stored_digest(conn: sqlite3.Connection, dataset_id: str, source: str) -> str | None:
    row = conn.execute(
        "SELECT digest FROM raw WHERE dataset_id = ? AND source = ?",
        (dataset_id, source),
    ).fetchone()
    return None if row is None else str(row[0])


def record_snapshot(
    conn: sqlite3.Connection, snapshot: Snapshot, body_digest: str
) -> list[SeriesChange]:
    """Write what changed in ``snapshot`` against ``latest``; return the changes."""
    stored = _load_latest(conn, snapshot.dataset_id, snapshot.source)
    changes: list[SeriesChange] = []
    history: list[tuple[int, float, float | None, str | None]] = []
    ts = snapshot.polled_at

    for obs in snapshot.observations:
        key = (obs.event, obs.metric, obs.key)
        row = stored.pop(key, None)
        details = _dump(obs.details)
        if row is None:
            series_id = _insert_series(conn, snapshot, obs, details)
            history.append((series_id, ts, *_split(obs.value)))
            changes.append(_change(snapshot, obs, None))
        elif row.value != obs.value:
            _update_series(conn, row.series_id, obs.value, ts, details)
            history.append((row.series_id, ts, *_split(obs.value)))
            changes.append(_change(snapshot, obs, row.value))
        elif row.details != details:
            conn.execute(
                "UPDATE latest SET details = ? WHERE id = ?", (details, row.series_id)
            )

    for (event, metric, series_key), row in stored.items():
        if row.value is None:
            continue  # already recorded as absent
        conn.execute(
            "UPDATE latest SET present = 0, value_num = NULL, value_text = NULL,"
            " changed_at = ? WHERE id = ?",
            (ts, row.series_id),
        )
        history.append((row.series_id, ts, None, None))
        changes.append(
            SeriesChange(
                snapshot.dataset_id,
                snapshot.source,
                event,
                metric,
                series_key,
                row.value,
                None,
                {},
            )
        )

    conn.executemany(
        "INSERT INTO history (series_id, ts, value_num, value_text)"
        " VALUES (?, ?, ?, ?)",
        history,
    )
    conn.execute(
        "INSERT INTO raw (dataset_id, source, digest, received_at, body)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (dataset_id, source) DO UPDATE SET"
        " digest = excluded.digest, received_at = excluded.received_at,"
        " body = excluded.body",
        (snapshot.dataset_id, snapshot.source, body_digest, ts, snapshot.raw),
    )
    return changes


def _load_latest(
    conn: sqlite3.Connection, dataset_id: str, source: str
) -> dict[SeriesKey, _Row]:
    rows = conn.execute(
        "SELECT event, metric, key, id, value_num, value_text, present, details"
        " FROM latest WHERE dataset_id = ? AND source = ?",
        (dataset_id, source),
    )
    loaded: dict[SeriesKey, _Row] = {}
    for event, metric, key, series_id, num, text, present, details in rows:
        value = None if not present else (text if text is not None else num)
        loaded[(event, metric, key)] = _Row(series_id, value, details or "")
    return loaded


def _insert_series(
    conn: sqlite3.Connection, snapshot: Snapshot, obs: Observation, details: str
) -> int:
    num, text = _split(obs.value)
    cursor = conn.execute(
        "INSERT INTO latest (dataset_id, source, event, metric, key, value_num,"
        " value_text, present, changed_at, details)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?)"
        " ON CONFLICT (dataset_id, source, event, metric, key) DO UPDATE SET"
        " value_num = excluded.value_num, value_text = excluded.value_text,"
        " present = 1, changed_at = excluded.changed_at, details = excluded.details"
        " RETURNING id",
        (
            snapshot.dataset_id,
            snapshot.source,
            obs.event,
            obs.metric,
            obs.key,
            num,
            text,
            snapshot.polled_at,
            details,
        ),
    )
    return int(cursor.fetchone()[0])


def _update_series(
    conn: sqlite3.Connection, series_id: int, value: Value, ts: float, details: str
) -> None:
    num, text = _split(value)
    conn.execute(
        "UPDATE latest SET value_num = ?, value_text = ?, present = 1,"
        " changed_at = ?, details = ? WHERE id = ?",
        (num, text, ts, details, series_id),
    )


def _change(snapshot: Snapshot, obs: Observation, before: Value | None) -> SeriesChange:
    return SeriesChange(
        snapshot.dataset_id,
        snapshot.source,
        obs.event,
        obs.metric,
        obs.key,
        before,
        obs.value,
        obs.details,
    )


def _split(value: Value | None) -> tuple[float | None, str | None]:
    if isinstance(value, str):
        return None, value
    return value, None


def _dump(details: Details) -> str:
    return json.dumps(details, sort_keys=True, separators=(",", ":")) if details else ""
