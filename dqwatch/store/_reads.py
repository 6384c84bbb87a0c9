"""The store's read side: bulk reads for the web page, metrics, digests, backtests.

These run on read-only connections of their own, off the event loop; in WAL
mode they see one committed state and never wait for, or block, the writer.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable, Collection, Sequence
from pathlib import Path
from typing import TypeVar

from dqwatch.errors import StoreError
from dqwatch.model import Value
from dqwatch.store import _backtest, _digest, _web
from dqwatch.store._model import HistoryPoint, LatestValue, stored_value
from dqwatch.store._series import SeriesChange
from dqwatch.store._writer import Writer

T = TypeVar("T")


class StoreReads:
    """Read-only queries of a ``Store`` (its base class)."""

    path: Path
    _writer: Writer
    _run: Callable[[Callable[[sqlite3.Connection], T]], Awaitable[T]]

    async def latest(self, dataset_id: str) -> list[LatestValue]:
        """Current values of every series of one dataset (vanished ones as None)."""

        def operation(conn: sqlite3.Connection) -> list[LatestValue]:
            rows = conn.execute(
                "SELECT source, event, metric, key, value_num, value_text, present,"
                " changed_at FROM latest WHERE dataset_id = ?"
                " ORDER BY source, event, metric, key",
                (dataset_id,),
            )
            return [
                LatestValue(
                    src, ev, met, key, stored_value(num, text, present), changed
                )
                for src, ev, met, key, num, text, present, changed in rows
            ]

        return await self._run(operation)

    async def history(self, dataset_id: str, source: str = "web") -> list[HistoryPoint]:
        """Every recorded change of one dataset and source, oldest first."""

        def operation(conn: sqlite3.Connection) -> list[HistoryPoint]:
            rows = conn.execute(
                "SELECT l.event, l.metric, l.key, h.ts, h.value_num, h.value_text"
                " FROM history h JOIN latest l ON l.id = h.series_id"
                " WHERE l.dataset_id = ? AND l.source = ? ORDER BY h.ts, h.rowid",
                (dataset_id, source),
            )
            return [
                HistoryPoint(ev, met, key, ts, stored_value(num, text, 1))
                for ev, met, key, ts, num, text in rows
            ]

        return await self._run(operation)

    async def polls(self, dataset_id: str) -> list[dict[str, object]]:
        """The poll log of one dataset, oldest first."""

        def operation(conn: sqlite3.Connection) -> list[dict[str, object]]:
            conn.row_factory = sqlite3.Row
            try:
                rows = conn.execute(
                    "SELECT * FROM polls WHERE dataset_id = ? ORDER BY started, id",
                    (dataset_id,),
                ).fetchall()
            finally:
                conn.row_factory = None
            return [dict(row) for row in rows]

        return await self._run(operation)

    async def raw(self, dataset_id: str, source: str = "web") -> str | None:
        """The last response body stored for one dataset and source."""

        def operation(conn: sqlite3.Connection) -> str | None:
            row = conn.execute(
                "SELECT body FROM raw WHERE dataset_id = ? AND source = ?",
                (dataset_id, source),
            ).fetchone()
            return None if row is None else str(row[0])

        return await self._run(operation)

    async def count_rows(
        self, tables: Sequence[str] = ("history", "latest", "polls")
    ) -> dict[str, int]:
        """Row counts of the named tables (for summaries and benchmarks)."""

        def operation(conn: sqlite3.Connection) -> dict[str, int]:
            return {
                t: int(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0])
                for t in tables
            }

        return await self._run(operation)

    async def summaries(self) -> dict[tuple[str, str], tuple[int, float | None]]:
        """Per (dataset, source): events with values now, and the lowest score.

        The score is the EMQ for web and the composite score for offline.
        """

        def operation(
            conn: sqlite3.Connection,
        ) -> dict[tuple[str, str], tuple[int, float | None]]:
            rows = conn.execute(
                "SELECT dataset_id, source, count(DISTINCT event),"
                " min(CASE WHEN metric IN ('emq', 'offline_composite')"
                " THEN value_num END)"
                " FROM latest WHERE present = 1 GROUP BY dataset_id, source"
            )
            return {(d, s): (int(n), low) for d, s, n, low in rows}

        return await self._run(operation)

    async def dataset_names(self) -> dict[str, tuple[str, str]]:
        """Name and owner of every known dataset, by id."""

        def operation(conn: sqlite3.Connection) -> dict[str, tuple[str, str]]:
            rows = conn.execute("SELECT id, name, owner FROM datasets")
            return {i: (n or i, o or "") for i, n, o in rows}

        return await self._run(operation)

    async def values_of(self, metric: str) -> list[SeriesChange]:
        """Every present value of one metric, as unchanged series (for rechecks)."""

        def operation(conn: sqlite3.Connection) -> list[SeriesChange]:
            rows = conn.execute(
                "SELECT dataset_id, source, event, key, value_num, value_text"
                " FROM latest WHERE metric = ? AND present = 1",
                (metric,),
            )
            return [
                SeriesChange(d, s, e, metric, k, v, v, {})
                for d, s, e, k, num, text in rows
                for v in [text if text is not None else num]
            ]

        return await self._run(operation)

    async def series_history(
        self,
        dataset_id: str,
        source: str,
        event: str,
        metric: str,
        key: str,
        since: float,
    ) -> list[tuple[float, Value | None]]:
        """A series' changes since ``since``, preceded by the value in force then."""

        def operation(conn: sqlite3.Connection) -> list[tuple[float, Value | None]]:
            row = conn.execute(
                "SELECT id FROM latest WHERE dataset_id = ? AND source = ?"
                " AND event = ? AND metric = ? AND key = ?",
                (dataset_id, source, event, metric, key),
            ).fetchone()
            if row is None:
                return []
            series_id = row[0]
            start = conn.execute(
                "SELECT ts, value_num, value_text FROM history WHERE series_id = ?"
                " AND ts < ? ORDER BY ts DESC LIMIT 1",
                (series_id, since),
            ).fetchall()
            rest = conn.execute(
                "SELECT ts, value_num, value_text FROM history WHERE series_id = ?"
                " AND ts >= ? ORDER BY ts",
                (series_id, since),
            ).fetchall()
            return [
                (ts, stored_value(num, text, 1)) for ts, num, text in [*start, *rest]
            ]

        return await self._run(operation)

    async def last_polls(self) -> dict[tuple[str, str], float]:
        """When each (dataset, source) was last polled (its start time)."""

        def operation(conn: sqlite3.Connection) -> dict[tuple[str, str], float]:
            rows = conn.execute(
                "SELECT dataset_id, source, max(started) FROM polls"
                " GROUP BY dataset_id, source"
            )
            return {(d, s): float(t) for d, s, t in rows}

        return await self._run(operation)

    async def metrics_data(self) -> _web.MetricsData:
        """Everything /metrics reads from the database, in one consistent read."""
        return await self._read(_web.read_metrics)

    async def status_page(self, page: int, size: int) -> _web.PageData:
        """One page of the status page's datasets, scores and open alerts."""
        return await self._read(lambda conn: _web.read_page(conn, page, size))

    async def owners(self) -> list[str]:
        """Every owner with at least one dataset."""
        return await self._read(_digest.owners)

    async def digest_facts(
        self, owner: str | None, since: float, now: float
    ) -> _digest.Facts:
        """What one owner's digest is built from, read in one transaction."""
        return await self._read(
            lambda conn: _digest.read_facts(conn, owner, since, now)
        )

    # -- what a backtest replays --------------------------------------------

    async def backtest_context(
        self,
        since: float,
        now: float,
        metrics: Collection[str],
        baseline_metrics: Collection[str],
        window: float,
    ) -> _backtest.Context:
        """The state in force at ``since``, for the metrics the rules read."""
        return await self._read(
            lambda c: _backtest.read_context(
                c, since, now, metrics, baseline_metrics, window
            )
        )

    async def backtest_slice(
        self, start: float, end: float, metrics: Collection[str]
    ) -> _backtest.Slice:
        """The failed and changing polls of ``[start, end)`` and their changes."""
        return await self._read(lambda c: _backtest.read_slice(c, start, end, metrics))

    async def backtest_ok_polls(
        self, targets: Collection[tuple[str, str]], after: tuple[float, int], end: float
    ) -> list[_backtest.PollRow]:
        """The next successful poll of each target after ``after``."""
        return await self._read(lambda c: _backtest.ok_polls(c, targets, after, end))

    async def backtest_next_ok_poll(
        self, after: tuple[float, int], end: float
    ) -> list[_backtest.PollRow]:
        """The next successful poll of any dataset after ``after``."""
        return await self._read(lambda c: _backtest.next_ok_poll(c, after, end))

    async def _read(self, operation: Callable[[sqlite3.Connection], T]) -> T:
        """Run a read-only ``operation`` on a connection of its own, off the loop.

        WAL lets readers work while the writer writes, so a status page, a
        scrape or a backtest never queues behind a busy cycle's writes, and
        never holds the write lock. Each read sees one committed state.
        """
        if not self._writer.alive:
            raise StoreError("the store is closed; reopen it before reading")
        return await asyncio.to_thread(self._read_now, operation)

    def _read_now(self, operation: Callable[[sqlite3.Connection], T]) -> T:
        try:
            conn = sqlite3.connect(
                f"file:{self.path}?mode=ro", uri=True, isolation_level=None
            )
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot read the database: {exc}") from exc
        try:
            conn.execute("BEGIN")
            return operation(conn)
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot read the database: {exc}") from exc
        finally:
            conn.close()
