"""Polling datasets: fetch, normalise and store, one dataset and source at a time.

A poll never raises for a dataset's own trouble: every failure becomes a
recorded poll with an outcome, which later turns into an alert. Only a store
that cannot be written stops the cycle, because then nothing can be kept.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field

from dqwatch.errors import (
    GraphError,
    MalformedResponseError,
    ThrottledError,
    TokenError,
    TransientGraphError,
)
from dqwatch.graph import BATCH_LIMIT, BatchItem, GraphClient
from dqwatch.model import Snapshot
from dqwatch.snapshot import REQUEST_FIELDS, parse_response
from dqwatch.store import SeriesChange, Store, digest

log = logging.getLogger(__name__)

OK = "ok"
#: A failure retrying cannot fix for this dataset: unknown, no permission, bad field.
PERMANENT = "permanent_error"
#: The access token itself is expired or invalid: every dataset fails alike.
TOKEN = "token_error"
#: Transient failures that outlasted every retry.
TRANSIENT = "transient_error"
#: The API's rate limit left no room for this poll.
THROTTLED = "throttled"
#: The API answered something that is not the documented shape.
MALFORMED = "malformed"


@dataclass(frozen=True, slots=True)
class Target:
    """One dataset and source to poll."""

    dataset_id: str
    source: str
    name: str = ""
    owner: str = ""


@dataclass(frozen=True, slots=True)
class PollResult:
    """What one poll of one dataset and source came to."""

    target: Target
    outcome: str
    started: float
    finished: float
    error: GraphError | None = None
    snapshot: Snapshot | None = None
    changes: list[SeriesChange] = field(default_factory=list)
    #: The response was identical to the stored one, so it was not parsed.
    unchanged: bool = False
    #: Nothing was known of this dataset and source before this poll.
    first: bool = False

    @property
    def changed(self) -> int:
        """How many series this poll changed."""
        return len(self.changes)

    def slim(self) -> PollResult:
        """This result without its snapshot and changes, to keep for a summary.

        A cycle over 10,000 datasets would otherwise hold millions of
        observations until it ends.
        """
        if self.snapshot is None and not self.changes:
            return self
        return SlimPollResult(
            self.target,
            self.outcome,
            self.started,
            self.finished,
            self.error,
            unchanged=self.unchanged,
            first=self.first,
            changed_count=len(self.changes),
        )


@dataclass(frozen=True, slots=True)
class SlimPollResult(PollResult):
    """A poll result that kept only its counts."""

    changed_count: int = 0

    @property
    def changed(self) -> int:
        return self.changed_count


class Poller:
    """Polls targets with at most ``workers`` in flight; stores each result."""

    def __init__(
        self,
        client: GraphClient,
        store: Store,
        *,
        workers: int,
        batch_size: int = 0,
        clock: Callable[[], float] = time.time,
        on_result: Callable[[PollResult], Awaitable[None]] | None = None,
    ) -> None:
        self._client = client
        self._on_result = on_result
        self._store = store
        self._workers = max(1, workers)
        self._batch_size = min(batch_size, BATCH_LIMIT)
        self._clock = clock
        self._token_error: TokenError | None = None

    async def poll_all(self, targets: Sequence[Target]) -> list[PollResult]:
        """Poll every target once; results in the order of ``targets``."""
        self._token_error = None
        groups = (
            _chunks(targets, self._batch_size)
            if self._batch_size
            else [[t] for t in targets]
        )
        queue: asyncio.Queue[list[Target]] = asyncio.Queue()
        for group in groups:
            queue.put_nowait(group)
        results: dict[Target, PollResult] = {}

        async def worker() -> None:
            while not queue.empty():
                group = queue.get_nowait()
                for result in await self._poll_group(group):
                    if self._on_result is not None:
                        await self._on_result(result)
                    results[result.target] = result.slim()

        workers = [asyncio.create_task(worker()) for _ in range(self._workers)]
        try:
            await asyncio.gather(*workers)
        finally:
            for task in workers:
                task.cancel()
        return [results[t] for t in targets]

    def forget_token_error(self) -> None:
        """Try the token again: the next poll is sent even after a 190."""
        self._token_error = None

    async def poll(self, target: Target) -> PollResult:
        """Poll one dataset and source, store the outcome, return it."""
        started = self._clock()
        if self._token_error is not None:
            return await self._record(target, started, error=self._token_error)
        try:
            body = await self._client.dataset_quality(
                target.dataset_id, REQUEST_FIELDS[target.source]
            )
        except GraphError as exc:
            return await self._record(target, started, error=exc)
        return await self._record_body(target, started, body)

    async def _poll_group(self, group: list[Target]) -> list[PollResult]:
        if len(group) == 1 or self._token_error is not None:
            return [await self.poll(t) for t in group]
        started = self._clock()
        items = [
            BatchItem(t.dataset_id, t.source, REQUEST_FIELDS[t.source]) for t in group
        ]
        try:
            answers = await self._client.batch(items)
        except GraphError as exc:
            return [await self._record(t, started, error=exc) for t in group]
        results = []
        for target, answer in zip(group, answers, strict=True):
            if isinstance(answer, TransientGraphError):
                results.append(await self.poll(target))  # retried alone, with backoff
            elif isinstance(answer, GraphError):
                results.append(await self._record(target, started, error=answer))
            else:
                results.append(await self._record_body(target, started, answer))
        return results

    async def _record_body(
        self, target: Target, started: float, body: str
    ) -> PollResult:
        body_digest = digest(body)
        if self._store.same_body(target.dataset_id, target.source, body_digest):
            # Byte-for-byte the stored response: nothing to parse or compare.
            finished = self._clock()
            await self._store.record_poll(
                target.dataset_id, target.source, started, finished, outcome=OK
            )
            return PollResult(target, OK, started, finished, unchanged=True)
        try:
            snapshot = parse_response(target.dataset_id, target.source, started, body)
        except MalformedResponseError as exc:
            return await self._record(target, started, error=exc)
        finished = self._clock()
        recorded = await self._store.record_poll(
            target.dataset_id,
            target.source,
            started,
            finished,
            snapshot=snapshot,
            body_digest=body_digest,
            outcome=OK,
        )
        return PollResult(
            target,
            OK,
            started,
            finished,
            snapshot=snapshot,
            changes=recorded.changes,
            first=recorded.first,
        )

    async def _record(
        self, target: Target, started: float, *, error: GraphError
    ) -> PollResult:
        outcome = outcome_of(error)
        if isinstance(error, TokenError):
            self._token_error = error
        log.debug("dataset %s (%s): %s", target.dataset_id, target.source, error)
        finished = self._clock()
        await self._store.record_poll(
            target.dataset_id,
            target.source,
            started,
            finished,
            error=error,
            outcome=outcome,
        )
        return PollResult(target, outcome, started, finished, error)


def outcome_of(error: GraphError) -> str:
    """The poll outcome a failure stands for."""
    if isinstance(error, TokenError):
        return TOKEN
    if isinstance(error, MalformedResponseError):
        return MALFORMED
    if isinstance(error, ThrottledError):
        return THROTTLED
    if isinstance(error, TransientGraphError):
        return TRANSIENT
    return PERMANENT


def _chunks(targets: Iterable[Target], size: int) -> list[list[Target]]:
    chunks: list[list[Target]] = []
    for target in targets:
        if not chunks or len(chunks[-1]) >= size:
            chunks.append([])
        chunks[-1].append(target)
    return chunks
