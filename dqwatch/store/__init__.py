"""SQLite storage: the only part of dqwatch that speaks SQL.

``Store`` is used from asyncio code: every method is a coroutine that runs
its SQL in the store's single writer thread (see ``_writer``). The file is
created readable by its owner only, in WAL mode, and migrated on open.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

from dqwatch.alerts import OPEN_STATES, Alert, Silence, Transition
from dqwatch.errors import GraphError, StoreError
from dqwatch.model import Snapshot
from dqwatch.notify.model import MessageRef, Notice
from dqwatch.store import _alerts, _outbox, _web
from dqwatch.store._model import DatasetRow, HistoryPoint, LatestValue
from dqwatch.store._outbox import Intent
from dqwatch.store._reads import StoreReads
from dqwatch.store._schema import migrate
from dqwatch.store._series import (
    Recorded,
    SeriesChange,
    digest,
    record_snapshot,
    stored_digest,
)
from dqwatch.store._writer import Writer

__all__ = [
    "DatasetRow",
    "HistoryPoint",
    "Intent",
    "LatestValue",
    "Recorded",
    "SeriesChange",
    "Store",
    "digest",
]

T = TypeVar("T")

#: Poll log rows buffered before they are handed to the writer together.
POLL_LOG_BATCH = 500


class Store(StoreReads):
    """The dqwatch database. Open with ``Store.open(path)``; close when done."""

    def __init__(
        self, path: Path, writer: Writer, digests: dict[tuple[str, str], str]
    ) -> None:
        self.path = path
        self._writer = writer
        # Digest of the last stored body per (dataset, source); written only
        # by the writer thread, read by pollers through same_body().
        self._digests = digests
        self._poll_rows: list[tuple[object, ...]] = []
        self.rows_written = 0

    @classmethod
    def open(cls, path: Path) -> Store:
        """Open (creating and migrating if needed) the database at ``path``."""
        path = Path(path)
        try:
            _create_private(path)
        except OSError as exc:
            raise StoreError(
                f"{path}: cannot create the database: {exc.strerror}; check that the "
                "folder exists and is writable, or change storage.path"
            ) from exc
        digests: dict[tuple[str, str], str] = {}

        def connect() -> sqlite3.Connection:
            conn = _connect(path)
            rows = conn.execute("SELECT dataset_id, source, digest FROM raw")
            digests.update(((d, s), dg) for d, s, dg in rows)
            return conn

        return cls(path, Writer(connect), digests)

    def close(self) -> None:
        """Finish pending writes and close the database."""
        self._hand_over_poll_rows()
        self._writer.close()

    async def sync_datasets(self, datasets: Iterable[DatasetRow], now: float) -> int:
        """Add new datasets, update changed names or owners; return rows written."""
        wanted = list(datasets)

        def operation(conn: sqlite3.Connection) -> int:
            known = {
                row[0]: row[1:]
                for row in conn.execute("SELECT id, name, owner, origin FROM datasets")
            }
            changed = [
                (d.id, d.name, d.owner, d.origin, now)
                for d in wanted
                if known.get(d.id) != (d.name, d.owner, d.origin)
            ]
            conn.executemany(
                "INSERT INTO datasets (id, name, owner, origin, first_seen)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET"
                " name = excluded.name, owner = excluded.owner,"
                " origin = excluded.origin",
                changed,
            )
            return len(changed)

        return await self._run(operation)

    async def record_poll(
        self,
        dataset_id: str,
        source: str,
        started: float,
        finished: float,
        *,
        snapshot: Snapshot | None = None,
        body_digest: str = "",
        error: GraphError | None = None,
        outcome: str,
    ) -> Recorded:
        """Log one poll and store what its snapshot changed; return the changes."""
        code = error.code if error else None
        subcode = error.subcode if error else None
        message = error.message if error else None
        if snapshot is not None and not body_digest:
            body_digest = digest(snapshot.raw)
        cache_key = (dataset_id, source)

        log_row = (
            dataset_id,
            source,
            started,
            finished,
            outcome,
            code,
            subcode,
            message,
        )
        if snapshot is None:
            self._log_later(log_row)
            return Recorded([])

        def operation(conn: sqlite3.Connection) -> Recorded:
            _log_polls(conn, [log_row])
            known = self._digests.get(cache_key) or stored_digest(conn, *cache_key)
            if known == body_digest:
                self._digests[cache_key] = body_digest
                return Recorded([])
            recorded = record_snapshot(conn, snapshot, body_digest)
            self._digests[cache_key] = body_digest
            return recorded

        return await self._run(operation)

    def _log_later(self, row: tuple[object, ...]) -> None:
        """Buffer a poll log row; hand the writer hundreds at a time.

        Each hand-over costs a thread switch and a fight for the GIL; a
        quiet cycle of 10,000 polls would otherwise pay it 10,000 times.
        """
        self._poll_rows.append(row)
        if len(self._poll_rows) >= POLL_LOG_BATCH:
            self._hand_over_poll_rows()

    def _hand_over_poll_rows(self) -> None:
        rows, self._poll_rows = self._poll_rows, []
        if rows:
            self._writer.defer(self._counted(lambda conn: _log_polls(conn, rows)))

    async def flush(self) -> None:
        """Wait for every queued write; raise StoreError if one failed."""
        self._hand_over_poll_rows()
        try:
            await self._writer.flush()
        except StoreError:
            self._digests.clear()
            raise

    def same_body(self, dataset_id: str, source: str, body_digest: str) -> bool:
        """True when a body with this digest is the last one stored here.

        Lets a poller skip parsing a response that cannot change anything.
        Reads a cache the writer thread fills (loaded on open, updated on
        every stored body); a plain dict lookup is safe across threads.
        """
        return self._digests.get((dataset_id, source)) == body_digest

    # -- alerts and silences ---------------------------------------------

    async def open_alerts(self) -> list[Alert]:
        """Every pending or firing alert, to rebuild the alert book on start."""
        return await self._run(lambda conn: _alerts.load_alerts(conn, OPEN_STATES))

    async def alerts(self, states: Sequence[str]) -> list[Alert]:
        """Alerts whose current state is one of ``states``."""
        return await self._run(lambda conn: _alerts.load_alerts(conn, states))

    async def save_alerts(
        self,
        updates: Sequence[Alert],
        transitions: Sequence[Transition],
        intents: Sequence[Intent] = (),
    ) -> int:
        """Persist alert states, their transitions and the notices they cause.

        All in one transaction: a notice exists if and only if the alert
        change that caused it was stored. Returns how many notices were written.
        """
        if not (updates or transitions or intents):
            return 0

        def operation(conn: sqlite3.Connection) -> int:
            _alerts.save_alerts(conn, updates, transitions)
            return _outbox.enqueue(conn, intents)

        return await self._run(operation)

    # -- the outbox ------------------------------------------------------

    async def ready_notices(self, now: float, limit: int = 1000) -> list[Notice]:
        """Pending notices due for an attempt, oldest first."""
        return await self._run(lambda conn: _outbox.ready(conn, now, limit))

    async def mark_sent(
        self, notices: Sequence[Notice], now: float, refs: Mapping[str, MessageRef]
    ) -> None:
        await self._run(lambda conn: _outbox.mark_sent(conn, notices, now, refs))

    async def mark_failed(
        self,
        notices: Sequence[Notice],
        error: str,
        next_attempt: float | None,
        now: float,
    ) -> None:
        """Record a failed attempt; ``next_attempt`` None gives the notices up."""
        await self._run(
            lambda conn: _outbox.mark_failed(conn, notices, error, next_attempt, now)
        )

    async def notice_attempts(self, ids: Sequence[int]) -> dict[int, int]:
        """How many attempts each notice has had."""
        return await self._run(lambda conn: _outbox.attempts_of(conn, ids))

    async def thread_refs(
        self, channel: str, fingerprints: Sequence[str]
    ) -> dict[str, MessageRef]:
        """Where each alert was announced on a channel (for replies and edits)."""
        return await self._run(
            lambda conn: _outbox.thread_refs(conn, channel, fingerprints)
        )

    async def enqueue_repeats(
        self,
        now: float,
        group: str,
        intervals: Mapping[str, float],
        keep: Callable[[str, Alert], bool],
    ) -> int:
        """Write a repeat notice for every firing alert due again on its channel.

        ``keep(channel, alert)`` filters (silences, routes changed since).
        """

        def operation(conn: sqlite3.Connection) -> int:
            due = _outbox.due_repeats(conn, now, intervals)
            intents = [
                Intent(channel, "repeat", alert, now, group)
                for channel, alert in due
                if keep(channel, alert)
            ]
            return _outbox.enqueue(conn, intents)

        return await self._run(operation)

    async def outbox_depth(self) -> dict[str, int]:
        """Outbox rows by state (pending, sent, dead)."""
        return await self._run(_outbox.depth)

    async def transitions(self, since: float) -> list[Transition]:
        """Every alert transition at or after ``since``, oldest first."""
        return await self._run(lambda conn: _alerts.load_transitions(conn, since))

    async def add_silence(
        self,
        matchers: Mapping[str, str],
        starts: float,
        ends: float,
        comment: str,
        author: str,
    ) -> int:
        """Store a silence; return its id."""
        return await self._run(
            lambda c: _alerts.add_silence(c, matchers, starts, ends, comment, author)
        )

    async def silences(self, active_at: float | None = None) -> list[Silence]:
        """Every silence, or only those active at ``active_at``."""
        return await self._run(lambda conn: _alerts.load_silences(conn, active_at))

    async def expire_silence(self, silence_id: int, now: float) -> bool:
        """End a silence now; False when it does not exist or already ended."""
        return await self._run(lambda c: _alerts.expire_silence(c, silence_id, now))

    async def rule_digests(self) -> dict[str, str]:
        """The digest of each rule as last evaluated, by rule name."""
        return await self._run(_alerts.load_rule_digests)

    async def save_rule_digests(self, digests: Mapping[str, str]) -> None:
        await self._run(lambda conn: _alerts.save_rule_digests(conn, digests))

    async def health_probe(self, now: float) -> int:
        """Write one row to prove the file is writable; return the outbox backlog."""
        return await self._run(lambda conn: _web.health_probe(conn, now))

    async def prune(self, before: float) -> int:
        """Delete history and poll log entries older than ``before``; return rows."""

        def operation(conn: sqlite3.Connection) -> int:
            removed = conn.execute(
                "DELETE FROM history WHERE ts < ?", (before,)
            ).rowcount
            removed += conn.execute(
                "DELETE FROM polls WHERE started < ?", (before,)
            ).rowcount
            return removed

        return await self._run(operation)

    def _counted(
        self, operation: Callable[[sqlite3.Connection], T]
    ) -> Callable[[sqlite3.Connection], T]:
        def counted(conn: sqlite3.Connection) -> T:
            before = conn.total_changes
            result = operation(conn)
            self.rows_written += conn.total_changes - before
            return result

        return counted

    async def _run(self, operation: Callable[[sqlite3.Connection], T]) -> T:
        self._hand_over_poll_rows()  # keep writes in the order they were made
        try:
            return await self._writer.submit(self._counted(operation))
        except StoreError:
            self._digests.clear()  # a failed commit may have dropped cached writes
            raise


def _log_polls(conn: sqlite3.Connection, rows: Sequence[tuple[object, ...]]) -> None:
    conn.executemany(
        "INSERT INTO polls (dataset_id, source, started, finished, outcome,"
        " error_code, error_subcode, error_message) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )


def _create_private(path: Path) -> None:
    """Create the file owner-only before SQLite opens it, so it is never wider."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(fd)
    if stat.S_IMODE(path.stat().st_mode) & 0o077:
        path.chmod(0o600)


def _connect(path: Path) -> sqlite3.Connection:
    try:
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA busy_timeout = 5000")
        migrate(conn, str(path))
    except sqlite3.Error as exc:
        raise StoreError(
            f"{path}: cannot open the database: {exc}; check the file is a dqwatch "
            "database and not used by another program, or change storage.path"
        ) from exc
    return conn
