"""The database schema and its versioned migrations.

The schema version lives in SQLite's ``user_version``. Each migration is a
function applied once, in order; a database written by a newer dqwatch is
refused rather than guessed at.

Layout, in short: ``latest`` holds one row per series (dataset, source,
event, metric, key) with its current value; ``history`` appends a row only
when a value changes or a series appears or vanishes, so a quiet poll writes
nothing there. ``polls`` logs every poll and ``raw`` keeps the last response
body per dataset and source.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

import sqlite_utils

from dqwatch.errors import StoreError
from dqwatch.store._web import HEALTH_TABLE, SCORE_INDEX, SCORED


def _v1(db: sqlite_utils.Database) -> None:
    table = db.table
    table("datasets").create(
        {"id": str, "name": str, "owner": str, "origin": str, "first_seen": float},
        pk="id",
    )
    table("polls").create(
        {
            "id": int,
            "dataset_id": str,
            "source": str,
            "started": float,
            "finished": float,
            "outcome": str,
            "error_code": int,
            "error_subcode": int,
            "error_message": str,
        },
        pk="id",
        not_null={"dataset_id", "source", "started", "finished", "outcome"},
    )
    table("polls").create_index(["dataset_id", "source", "started"])
    table("polls").create_index(["started"])
    table("latest").create(
        {
            "id": int,
            "dataset_id": str,
            "source": str,
            "event": str,
            "metric": str,
            "key": str,
            "value_num": float,
            "value_text": str,
            "present": int,
            "changed_at": float,
            "details": str,
        },
        pk="id",
        not_null={"dataset_id", "source", "event", "metric", "key", "present"},
    )
    table("latest").create_index(
        ["dataset_id", "source", "event", "metric", "key"], unique=True
    )
    table("history").create(
        {"series_id": int, "ts": float, "value_num": float, "value_text": str},
        not_null={"series_id", "ts"},
        foreign_keys=[("series_id", "latest", "id")],
    )
    table("history").create_index(["series_id", "ts"])
    table("history").create_index(["ts"])
    table("raw").create(
        {
            "dataset_id": str,
            "source": str,
            "digest": str,
            "received_at": float,
            "body": str,
        },
        pk=("dataset_id", "source"),
    )


def _v2(db: sqlite_utils.Database) -> None:
    """Alerts, their transitions, silences and the rule digests."""
    table = db.table
    table("alerts").create(
        {
            "fingerprint": str,
            "rule": str,
            "dataset_id": str,
            "source": str,
            "event": str,
            "key": str,
            "state": str,
            "document": str,
            "updated_at": float,
        },
        pk="fingerprint",
        not_null={"rule", "state", "document"},
    )
    table("alerts").create_index(["state"])
    table("alert_events").create(
        {
            "id": int,
            "fingerprint": str,
            "at": float,
            "previous": str,
            "state": str,
            "silenced": int,
            "document": str,
        },
        pk="id",
        not_null={"fingerprint", "at", "state", "document"},
    )
    table("alert_events").create_index(["fingerprint", "at"])
    table("alert_events").create_index(["at"])
    table("silences").create(
        {
            "id": int,
            "matchers": str,
            "starts": float,
            "ends": float,
            "comment": str,
            "author": str,
            "created": float,
        },
        pk="id",
        not_null={"matchers", "starts", "ends"},
    )
    table("rule_digests").create({"name": str, "digest": str}, pk="name")


def _v3(db: sqlite_utils.Database) -> None:
    """The notification outbox and what each channel was last told."""
    table = db.table
    table("outbox").create(
        {
            "id": int,
            "channel": str,
            "kind": str,
            "fingerprint": str,
            "dataset_id": str,
            "grp": str,
            "created": float,
            "document": str,
            "state": str,
            "attempts": int,
            "next_attempt": float,
            "last_error": str,
            "finished": float,
        },
        pk="id",
        not_null={"channel", "kind", "fingerprint", "grp", "created", "document"},
        defaults={"state": "pending", "attempts": 0, "next_attempt": 0.0},
    )
    table("outbox").create_index(["state", "next_attempt"])
    table("notified").create(
        {
            "channel": str,
            "fingerprint": str,
            "notified_at": float,
            "ref_channel": str,
            "ref_ts": str,
        },
        pk=("channel", "fingerprint"),
    )


def _v4(db: sqlite_utils.Database) -> None:
    """What the web endpoints read fast, and the row the health probe writes."""
    db.execute(
        f"CREATE INDEX IF NOT EXISTS {SCORE_INDEX} ON latest"
        f" (metric, dataset_id, event, value_num, key, present) WHERE {SCORED}"
    )
    db.table(HEALTH_TABLE).create(
        {"name": str, "checked_at": float}, pk="name", not_null={"checked_at"}
    )


MIGRATIONS: tuple[Callable[[sqlite_utils.Database], None], ...] = (_v1, _v2, _v3, _v4)


def migrate(conn: sqlite3.Connection, path: str) -> None:
    """Bring the database at ``path`` to the newest schema version."""
    current = conn.execute("PRAGMA user_version").fetchone()[0]
    if current > len(MIGRATIONS):
        raise StoreError(
            f"{path}: schema version {current} is newer than this dqwatch knows "
            f"({len(MIGRATIONS)}); upgrade dqwatch or point storage.path elsewhere"
        )
    db = sqlite_utils.Database(conn)
    for version in range(current, len(MIGRATIONS)):
        with db.atomic():
            MIGRATIONS[version](db)
            conn.execute(f"PRAGMA user_version = {version + 1}")
