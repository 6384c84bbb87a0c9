"""A single writer thread that owns the SQLite connection.

SQLite allows one writer at a time, and the event loop must never block on
disk. Every database operation is a plain function of a connection, queued
to this thread. The thread groups whatever is queued into one transaction
(group commit), giving each operation its own savepoint so one failure
does not undo the others. Results travel back to the asyncio futures that
wait for them.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from dqwatch.errors import StoreError

log = logging.getLogger(__name__)

T = TypeVar("T")
Operation = Callable[[sqlite3.Connection], Any]

#: Most operations one transaction takes before it commits.
BATCH_LIMIT = 500

_STOP = object()


class _Job:
    __slots__ = ("future", "loop", "operation")

    def __init__(
        self,
        operation: Operation,
        loop: asyncio.AbstractEventLoop | None,
        future: asyncio.Future[Any] | None,
    ) -> None:
        self.operation = operation
        self.loop = loop
        self.future = future


class Writer:
    """Runs operations on one connection in one thread, in submission order."""

    def __init__(self, connect: Callable[[], sqlite3.Connection]) -> None:
        self._queue: queue.SimpleQueue[_Job | object] = queue.SimpleQueue()
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._deferred_errors: list[BaseException] = []
        self._thread = threading.Thread(
            target=self._main, args=(connect,), name="dqwatch-store", daemon=True
        )
        self._thread.start()
        self._ready.wait()
        if self._startup_error is not None:
            raise self._startup_error

    async def submit(self, operation: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``operation`` in the writer thread inside a transaction."""
        if not self._thread.is_alive():
            raise StoreError("the store is closed; reopen it before writing")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put(_Job(operation, loop, future))
        return await future

    @property
    def alive(self) -> bool:
        """False once the store was closed (or its thread died)."""
        return self._thread.is_alive()

    def defer(self, operation: Operation) -> None:
        """Queue ``operation`` without waiting for it; ``flush`` reports failures.

        For writes nobody needs an answer from (a poll log row): skipping the
        round trip to the event loop keeps a quiet poll cheap.
        """
        if not self._thread.is_alive():
            raise StoreError("the store is closed; reopen it before writing")
        self._queue.put(_Job(operation, None, None))

    async def flush(self) -> None:
        """Wait until everything queued so far is written; raise a deferred failure."""
        await self.submit(lambda conn: None)
        if self._deferred_errors:
            error = self._deferred_errors[0]
            self._deferred_errors.clear()
            raise error

    def close(self) -> None:
        """Finish queued operations, then close the connection."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()

    def _main(self, connect: Callable[[], sqlite3.Connection]) -> None:
        try:
            conn = connect()
        except BaseException as exc:
            self._startup_error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            self._serve(conn)
        finally:
            conn.close()

    def _serve(self, conn: sqlite3.Connection) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            jobs = [first]
            stop = self._drain(jobs)
            self._run_batch(conn, jobs)  # type: ignore[arg-type]
            if stop:
                return

    def _drain(self, jobs: list[object]) -> bool:
        while len(jobs) < BATCH_LIMIT:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                return False
            if job is _STOP:
                return True
            jobs.append(job)
        return False

    def _run_batch(self, conn: sqlite3.Connection, jobs: list[_Job]) -> None:
        outcomes: list[tuple[bool, Any]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for job in jobs:
                outcomes.append(_run_one(conn, job.operation))
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            _rollback(conn)
            error = StoreError(f"cannot write the database: {exc}")
            outcomes = [(False, error)] * len(jobs)
        for job, (ok, value) in zip(jobs, outcomes, strict=True):
            if job.future is None or job.loop is None:
                if not ok:
                    self._deferred_errors.append(value)
            else:
                try:
                    job.loop.call_soon_threadsafe(_settle, job.future, ok, value)
                except RuntimeError:
                    # The loop that asked has closed; nobody waits for this.
                    log.debug("a result arrived after its event loop closed")


def _run_one(conn: sqlite3.Connection, operation: Operation) -> tuple[bool, Any]:
    conn.execute("SAVEPOINT op")
    try:
        value = operation(conn)
    except sqlite3.Error as exc:
        conn.execute("ROLLBACK TO op")
        conn.execute("RELEASE op")
        return False, StoreError(f"cannot write the database: {exc}")
    except Exception as exc:
        conn.execute("ROLLBACK TO op")
        conn.execute("RELEASE op")
        return False, exc
    conn.execute("RELEASE op")
    return True, value


def _rollback(conn: sqlite3.Connection) -> None:
    try:
        conn.execute("ROLLBACK")
    except sqlite3.Error:
        log.debug("rollback after a failed commit failed too", exc_info=True)


def _settle(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if future.cancelled():
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)
