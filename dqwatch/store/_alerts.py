"""Alert rows, their transition log, silences and rule digests.

An alert is kept as one row per fingerprint holding its latest state as a
JSON document, plus indexed columns to query by; every state change is
appended to ``alert_events`` and never rewritten.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Iterable, Mapping
from typing import Any

from dqwatch.alerts import Alert, Silence, Transition

_FIELDS = tuple(f.name for f in dataclasses.fields(Alert))


def alert_document(alert: Alert) -> str:
    # A flat dict of the fields: dataclasses.asdict deep-copies recursively
    # and costs several times more on the hot path of a busy cycle.
    fields = {name: getattr(alert, name) for name in _FIELDS}
    return json.dumps(fields, separators=(",", ":"))


def alert_from_document(document: str) -> Alert:
    fields: dict[str, Any] = json.loads(document)
    return Alert(**{k: v for k, v in fields.items() if k in _FIELDS})


def save_alerts(
    conn: sqlite3.Connection,
    updates: Iterable[Alert],
    transitions: Iterable[Transition],
) -> None:
    conn.executemany(
        "INSERT INTO alerts (fingerprint, rule, dataset_id, source, event, key, state,"
        " document, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (fingerprint) DO UPDATE SET state = excluded.state,"
        " document = excluded.document, updated_at = excluded.updated_at",
        [
            (
                a.fingerprint,
                a.rule,
                a.dataset_id,
                a.source,
                a.event,
                a.key,
                a.state,
                alert_document(a),
                a.updated_at,
            )
            for a in updates
        ],
    )
    conn.executemany(
        "INSERT INTO alert_events (fingerprint, at, previous, state, silenced,"
        " document) VALUES (?, ?, ?, ?, ?, ?)",
        [
            (
                t.alert.fingerprint,
                t.at,
                t.previous,
                t.state,
                int(t.alert.silenced),
                alert_document(t.alert),
            )
            for t in transitions
        ],
    )


def load_alerts(conn: sqlite3.Connection, states: Iterable[str]) -> list[Alert]:
    wanted = list(states)
    marks = ",".join("?" * len(wanted))
    rows = conn.execute(
        f"SELECT document FROM alerts WHERE state IN ({marks})"
        " ORDER BY updated_at, fingerprint",
        wanted,
    )
    return [alert_from_document(row[0]) for row in rows]


def load_transitions(conn: sqlite3.Connection, since: float) -> list[Transition]:
    rows = conn.execute(
        "SELECT previous, at, document FROM alert_events WHERE at >= ? ORDER BY id",
        (since,),
    )
    return [
        Transition(alert_from_document(doc), previous, at) for previous, at, doc in rows
    ]


def add_silence(
    conn: sqlite3.Connection,
    matchers: Mapping[str, str],
    starts: float,
    ends: float,
    comment: str,
    author: str,
) -> int:
    cursor = conn.execute(
        "INSERT INTO silences (matchers, starts, ends, comment, author, created)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (
            json.dumps(dict(matchers), sort_keys=True),
            starts,
            ends,
            comment,
            author,
            starts,
        ),
    )
    return int(cursor.lastrowid or 0)


def load_silences(conn: sqlite3.Connection, active_at: float | None) -> list[Silence]:
    query = "SELECT id, matchers, starts, ends, comment, author FROM silences"
    params: tuple[float, ...] = ()
    if active_at is not None:
        query += " WHERE starts <= ? AND ends > ?"
        params = (active_at, active_at)
    rows = conn.execute(query + " ORDER BY id", params)
    return [
        Silence(sid, json.loads(matchers), starts, ends, comment or "", author or "")
        for sid, matchers, starts, ends, comment, author in rows
    ]


def expire_silence(conn: sqlite3.Connection, silence_id: int, now: float) -> bool:
    cursor = conn.execute(
        "UPDATE silences SET ends = ? WHERE id = ? AND ends > ?",
        (now, silence_id, now),
    )
    return cursor.rowcount > 0


def load_rule_digests(conn: sqlite3.Connection) -> dict[str, str]:
    return dict(conn.execute("SELECT name, digest FROM rule_digests"))


def save_rule_digests(conn: sqlite3.Connection, digests: Mapping[str, str]) -> None:
    conn.execute("DELETE FROM rule_digests")
    conn.executemany(
        "INSERT INTO rule_digests (name, digest) VALUES (?, ?)", digests.items()
    )
