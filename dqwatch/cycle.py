"""One cycle of the main job: discover, poll, store, keep history bounded.

``poll-once`` runs one cycle and exits; the daemon runs the same parts on a
schedule. ``Runtime`` wires the long-lived pieces (HTTP session, Graph
client, store) from a config; ``run_cycle`` is one pass over every dataset.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

import aiohttp

from dqwatch.config import Config
from dqwatch.discovery import Discovered, DiscoverEntry, discover
from dqwatch.graph import ClientOptions, GraphClient
from dqwatch.poller import OK, Poller, PollResult, Target
from dqwatch.store import DatasetRow, Store

log = logging.getLogger(__name__)


def client_options(config: Config) -> ClientOptions:
    """The Graph client's options from the ``[graph]`` table."""
    graph = config.graph
    return ClientOptions(
        base_url=graph.base_url,
        api_version=graph.api_version,
        access_token=graph.access_token.get_secret_value(),
        app_secret=graph.app_secret.get_secret_value() if graph.app_secret else None,
        agent_name=graph.agent_name,
        max_concurrency=graph.max_concurrency,
        timeout=graph.timeout,
        max_retries=graph.max_retries,
    )


class Runtime:
    """The HTTP session, Graph client and store one process shares.

    Use as ``async with Runtime(config, store) as runtime``: the session is
    closed on exit; the store belongs to the caller.
    """

    def __init__(
        self,
        config: Config,
        store: Store,
        *,
        clock: Callable[[], float] = time.time,
        options: ClientOptions | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self.options = options or client_options(config)
        self._session: aiohttp.ClientSession | None = None
        self.client: GraphClient

    async def __aenter__(self) -> Runtime:
        # Workers never outnumber connections: queued requests would only
        # wait inside aiohttp and inflate latency.
        connector = aiohttp.TCPConnector(limit=self.options.max_concurrency)
        self._session = aiohttp.ClientSession(connector=connector)
        self.client = GraphClient(self._session, self.options)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._session is not None:
            await self._session.close()


@dataclass(frozen=True)
class CycleReport:
    """What one cycle did."""

    started: float
    finished: float
    results: list[PollResult]
    discovered: list[Discovered]

    @property
    def failures(self) -> list[PollResult]:
        return [r for r in self.results if r.outcome != OK]


async def targets_of(runtime: Runtime) -> tuple[list[Target], list[Discovered]]:
    """Every (dataset, source) to poll: configured datasets, then discovered ones."""
    config = runtime.config
    entries = [
        DiscoverEntry(d.business_id, d.owner, tuple(d.sources), tuple(d.edges))
        for d in config.discover
    ]
    found, _failures = await discover(runtime.client, entries) if entries else ([], [])
    configured = {d.id for d in config.datasets}
    rows = [DatasetRow(d.id, d.name, d.owner) for d in config.datasets]
    targets = [
        Target(d.id, s, d.name, d.owner) for d in config.datasets for s in d.sources
    ]
    for d in found:
        if d.id in configured:
            continue  # the [[dataset]] entry wins: it may name sources or an owner
        rows.append(DatasetRow(d.id, d.name, d.owner, f"discover:{d.business_id}"))
        targets.extend(Target(d.id, s, d.name, d.owner) for s in d.sources)
    await runtime.store.sync_datasets(rows, now=runtime.clock())
    return targets, [d for d in found if d.id not in configured]


async def run_cycle(runtime: Runtime) -> CycleReport:
    """Poll every dataset once, store what changed, prune old history."""
    started = runtime.clock()
    targets, discovered = await targets_of(runtime)
    poller = Poller(
        runtime.client,
        runtime.store,
        workers=runtime.options.max_concurrency,
        batch_size=runtime.config.graph.batch_size,
        clock=runtime.clock,
    )
    results = await poller.poll_all(targets)
    await runtime.store.prune(before=started - runtime.config.storage.history)
    finished = runtime.clock()
    report = CycleReport(started, finished, results, discovered)
    log.info(
        "cycle finished in %.1fs: %d polls, %d failed, %d series changed",
        finished - started,
        len(results),
        len(report.failures),
        sum(len(r.changes) for r in results),
    )
    return report
