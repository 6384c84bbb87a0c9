"""The notification outbox and the ``notified`` table.

A notice is written in the same transaction as the alert change that caused
it, then delivered by a sender that marks it sent, or records the attempt
and when to try again, or gives up. ``notified`` remembers, per channel and
alert, when the alert was last announced (for ``repeat_interval``), and
where (the Slack message a resolution replies to). A resolution is only
written for a channel that heard the alert fire.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from dqwatch.alerts import Alert
from dqwatch.notify.model import MessageRef, Notice, NoticeKind
from dqwatch.store._alerts import alert_document, alert_from_document


@dataclass(frozen=True, slots=True)
class Intent:
    """A notice to write, if the channel's state allows it."""

    channel: str
    kind: NoticeKind
    alert: Alert
    created: float
    group: str


def enqueue(conn: sqlite3.Connection, intents: Iterable[Intent]) -> int:
    """Write notices for the intents that apply; return how many were written."""
    written = 0
    for intent in intents:
        fp = intent.alert.fingerprint
        if intent.kind == "resolved":
            heard = conn.execute(
                "SELECT 1 FROM notified WHERE channel = ? AND fingerprint = ?",
                (intent.channel, fp),
            ).fetchone()
            if heard is None:
                continue
        else:
            _remember(conn, intent, fp)
        conn.execute(
            "INSERT INTO outbox (channel, kind, fingerprint, dataset_id, grp, created,"
            " document) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                intent.channel,
                intent.kind,
                fp,
                intent.alert.dataset_id,
                intent.group,
                intent.created,
                alert_document(intent.alert),
            ),
        )
        written += 1
    return written


def _remember(conn: sqlite3.Connection, intent: Intent, fp: str) -> None:
    if intent.kind == "firing":  # a new episode: forget the old message
        conn.execute(
            "INSERT INTO notified (channel, fingerprint, notified_at) VALUES (?, ?, ?)"
            " ON CONFLICT (channel, fingerprint) DO UPDATE SET"
            " notified_at = excluded.notified_at, ref_channel = NULL, ref_ts = NULL",
            (intent.channel, fp, intent.created),
        )
    else:
        conn.execute(
            "UPDATE notified SET notified_at = ? WHERE channel = ? AND fingerprint = ?",
            (intent.created, intent.channel, fp),
        )


def ready(conn: sqlite3.Connection, now: float, limit: int) -> list[Notice]:
    """Pending notices whose next attempt is due, oldest first."""
    rows = conn.execute(
        "SELECT id, channel, kind, document, created, grp FROM outbox"
        " WHERE state = 'pending' AND next_attempt <= ? ORDER BY id LIMIT ?",
        (now, limit),
    )
    return [
        Notice(i, channel, kind, alert_from_document(doc), created, grp)
        for i, channel, kind, doc, created, grp in rows
    ]


def mark_sent(
    conn: sqlite3.Connection,
    notices: Sequence[Notice],
    now: float,
    refs: Mapping[str, MessageRef],
) -> None:
    """Record a delivery, the message refs it produced, and forget resolved alerts."""
    conn.executemany(
        "UPDATE outbox SET state = 'sent', finished = ?, attempts = attempts + 1"
        " WHERE id = ?",
        [(now, n.id) for n in notices],
    )
    for notice in notices:
        fp = notice.alert.fingerprint
        ref = refs.get(fp)
        if notice.kind == "resolved":
            conn.execute(
                "DELETE FROM notified WHERE channel = ? AND fingerprint = ?",
                (notice.channel, fp),
            )
        elif ref is not None:
            conn.execute(
                "UPDATE notified SET ref_channel = ?, ref_ts = ?"
                " WHERE channel = ? AND fingerprint = ?",
                (ref.channel_id, ref.ts, notice.channel, fp),
            )


def mark_failed(
    conn: sqlite3.Connection,
    notices: Sequence[Notice],
    error: str,
    next_attempt: float | None,
    now: float,
) -> None:
    """Record a failed attempt; ``next_attempt`` None means give up."""
    if next_attempt is None:
        conn.executemany(
            "UPDATE outbox SET state = 'dead', finished = ?, attempts = attempts + 1,"
            " last_error = ? WHERE id = ?",
            [(now, error, n.id) for n in notices],
        )
        return
    conn.executemany(
        "UPDATE outbox SET attempts = attempts + 1, next_attempt = ?, last_error = ?"
        " WHERE id = ?",
        [(next_attempt, error, n.id) for n in notices],
    )


def attempts_of(conn: sqlite3.Connection, ids: Sequence[int]) -> dict[int, int]:
    marks = ",".join("?" * len(ids))
    rows = conn.execute(f"SELECT id, attempts FROM outbox WHERE id IN ({marks})", ids)
    return dict(rows)


def thread_refs(
    conn: sqlite3.Connection, channel: str, fingerprints: Sequence[str]
) -> dict[str, MessageRef]:
    """Where each alert was announced on this channel, when known."""
    found: dict[str, MessageRef] = {}
    for fp in fingerprints:
        row = conn.execute(
            "SELECT ref_channel, ref_ts FROM notified WHERE channel = ? AND"
            " fingerprint = ? AND ref_ts IS NOT NULL",
            (channel, fp),
        ).fetchone()
        if row is not None:
            found[fp] = MessageRef(row[0], row[1])
    return found


def due_repeats(
    conn: sqlite3.Connection, now: float, intervals: Mapping[str, float]
) -> list[tuple[str, Alert]]:
    """(channel, alert) pairs whose firing alert is due to be announced again."""
    rows = conn.execute(
        "SELECT n.channel, n.notified_at, a.document FROM notified n"
        " JOIN alerts a ON a.fingerprint = n.fingerprint WHERE a.state = 'firing'"
    )
    due = []
    for channel, notified_at, document in rows:
        interval = intervals.get(channel)
        if interval is not None and notified_at + interval <= now:
            due.append((channel, alert_from_document(document)))
    return due


def depth(conn: sqlite3.Connection) -> dict[str, int]:
    """Outbox rows by state."""
    return dict(conn.execute("SELECT state, count(*) FROM outbox GROUP BY state"))
