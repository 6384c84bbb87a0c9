"""Recording one poll: the change-only write path.

A poll whose response body is byte-for-byte the one already stored writes a
single row (the poll log). Otherwise the new observations are compared with
the ``latest`` rows of that dataset and source: only series that appeared,
changed value or vanished get a ``history`` row, and only their ``latest``
row is touched. Changed texts (descriptions, solutions) update ``latest``
alone: they travel with the value but are not history. Series missing from
a response are written as absent only when they are known to be gone (see
``_known_absent``).
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


#: hashlib lets go of the GIL for inputs of 2048 bytes or more; with the
#: writer thread busy, winning it back costs milliseconds per call. Feeding
#: smaller pieces keeps the GIL and makes a 15 kB digest take microseconds.
_PIECE = 2047


def digest(body: str) -> str:
    """A short fingerprint of a response body."""
    data = body.encode()
    hasher = hashlib.blake2b(digest_size=16)
    for start in range(0, len(data), _PIECE):
        hasher.update(data[start : start + _PIECE])
    return hasher.hexdigest()


def stored_digest(conn: sqlite3.Connection, dataset_id: str, source: str) -> str | None:
    row = conn.execute(
        "SELECT digest FROM raw WHERE dataset_id = ? AND source = ?",
        (dataset_id, source),
    ).fetchone()
    return None if row is None else str(row[0])


@dataclass(frozen=True, slots=True)
class Recorded:
    """What storing one poll changed.

    ``first`` is true when nothing was known of this dataset and source
    before: such a poll sets the baseline for rules that compare with the
    previous poll.
    """

    changes: list[SeriesChange]
    first: bool = False


def record_snapshot(
    conn: sqlite3.Connection, snapshot: Snapshot, body_digest: str
) -> Recorded:
    """Write what changed in ``snapshot`` against ``latest``; return the changes."""
    stored = _load_latest(conn, snapshot.dataset_id, snapshot.source)
    first = not stored
    ts = snapshot.polled_at
    batch = _Batch(conn, snapshot)

    for obs in snapshot.observations:
        row = stored.pop((obs.event, obs.metric, obs.key), None)
        details = _dump(obs.details)
        if row is None:
            batch.insert(obs, details)
        elif row.value != obs.value:
            batch.update(row, obs, details)
        elif row.details != details:
            batch.reword(row, details)

    present_events = set(snapshot.events)
    for (event, metric, series_key), row in stored.items():
        if row.value is not None and _known_absent(series_key, event, present_events):
            batch.vanish(row, event, metric, series_key)

    batch.write()
    conn.execute(
        "INSERT INTO raw (dataset_id, source, digest, received_at, body)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (dataset_id, source) DO UPDATE SET"
        " digest = excluded.digest, received_at = excluded.received_at,"
        " body = excluded.body",
        (snapshot.dataset_id, snapshot.source, body_digest, ts, snapshot.raw),
    )
    return Recorded(batch.changes, first)


class _Batch:
    """The rows one snapshot writes, gathered so each table gets one executemany."""

    def __init__(self, conn: sqlite3.Connection, snapshot: Snapshot) -> None:
        self.conn = conn
        self.snapshot = snapshot
        self.changes: list[SeriesChange] = []
        self.inserts: list[tuple[object, ...]] = []
        self.updates: list[tuple[object, ...]] = []
        self.rewords: list[tuple[str, int]] = []
        self.vanished: list[tuple[float, int]] = []
        self.history: list[tuple[int, float, float | None, str | None]] = []
        self._next_id: int | None = None

    def insert(self, obs: Observation, details: str) -> None:
        if self._next_id is None:
            top = self.conn.execute("SELECT max(id) FROM latest").fetchone()[0]
            self._next_id = (top or 0) + 1
        series_id, self._next_id = self._next_id, self._next_id + 1
        num, text = _split(obs.value)
        snap = self.snapshot
        self.inserts.append(
            (
                series_id,
                snap.dataset_id,
                snap.source,
                obs.event,
                obs.metric,
                obs.key,
                num,
                text,
                snap.polled_at,
                details,
            )
        )
        self.history.append((series_id, snap.polled_at, num, text))
        self.changes.append(_change(snap, obs, None))

    def update(self, row: _Row, obs: Observation, details: str) -> None:
        num, text = _split(obs.value)
        ts = self.snapshot.polled_at
        self.updates.append((num, text, ts, details, row.series_id))
        self.history.append((row.series_id, ts, num, text))
        self.changes.append(_change(self.snapshot, obs, row.value))

    def reword(self, row: _Row, details: str) -> None:
        self.rewords.append((details, row.series_id))

    def vanish(self, row: _Row, event: str, metric: str, key: str) -> None:
        ts = self.snapshot.polled_at
        self.vanished.append((ts, row.series_id))
        self.history.append((row.series_id, ts, None, None))
        snap = self.snapshot
        self.changes.append(
            SeriesChange(
                snap.dataset_id, snap.source, event, metric, key, row.value, None, {}
            )
        )

    def write(self) -> None:
        conn = self.conn
        conn.executemany(
            "INSERT INTO latest (id, dataset_id, source, event, metric, key, value_num,"
            " value_text, present, changed_at, details)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?)",
            self.inserts,
        )
        conn.executemany(
            "UPDATE latest SET value_num = ?, value_text = ?, present = 1,"
            " changed_at = ?, details = ? WHERE id = ?",
            self.updates,
        )
        conn.executemany("UPDATE latest SET details = ? WHERE id = ?", self.rewords)
        conn.executemany(
            "UPDATE latest SET present = 0, value_num = NULL, value_text = NULL,"
            " changed_at = ? WHERE id = ?",
            self.vanished,
        )
        conn.executemany(
            "INSERT INTO history (series_id, ts, value_num, value_text)"
            " VALUES (?, ?, ?, ?)",
            self.history,
        )


def _known_absent(key: str, event: str, present_events: set[str]) -> bool:
    """Whether a series missing from a response is known to be gone.

    Only a keyed series (a match key, a diagnostic, a dedupe key) of an
    event the response still lists is gone: the event reported its keys and
    this one was not among them. A missing event, or a missing unkeyed
    metric (the API omits fields without data), is unknown: the last known
    value stays and nothing is written.
    """
    return bool(key) and event in present_events


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
