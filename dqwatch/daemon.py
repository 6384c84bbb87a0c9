"""``dqwatch run``: the long-running service.

The daemon only wires parts together:

- a ``Schedule`` says which datasets are due; an APScheduler tick (every
  ``TICK`` seconds) starts a batch of due polls, never two of one dataset;
- each batch is the poll cycle of ``poll-once`` (poll, store, evaluate,
  write notices), run in the background so a slow batch never delays the
  next tick;
- the outbox sender runs continuously, woken after every batch;
- cron jobs: digests per email channel, discovery and the token check
  daily, retention daily;
- the web server, systemd notifications and signals: SIGTERM/SIGINT drain
  and exit 0, SIGHUP reloads config, rules and templates all or nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from dqwatch.config import Config, EmailChannel, load_config
from dqwatch.cycle import (
    Runtime,
    client_options,
    configured_rules,
    load_templates,
    poll_batch,
    targets_of,
)
from dqwatch.errors import ProblemsError, StoreError, ThrottledError
from dqwatch.notify.templates import Templates
from dqwatch.poller import PollResult, Target
from dqwatch.rules import RuleSet
from dqwatch.schedule import Schedule
from dqwatch.sdnotify import Notifier
from dqwatch.store import Store
from dqwatch.token import check_token
from dqwatch.web import DaemonState, WebServer, record_cycle

log = logging.getLogger(__name__)

#: Seconds between scheduler ticks: how late a due poll can start.
TICK = 1.0
#: Seconds in-flight polls get to finish after SIGTERM before they are abandoned.
DRAIN_DEADLINE = 30.0
#: A call waits at most this long for rate-limit room; a longer wait puts the
#: dataset back in the schedule, so workers move on to other businesses.
THROTTLE_WAIT = 2.0
#: Seconds between outbox passes when nothing wakes the sender.
SENDER_PAUSE = 5.0
DAY = 86400.0


@dataclass(frozen=True)
class Loaded:
    """Everything a reload replaces: config, rules and templates."""

    config: Config
    rules: RuleSet
    templates: Templates


def load_all(path: Path) -> Loaded:
    """Read config, rules and templates; raise ProblemsError listing every problem."""
    config = load_config(path)
    return Loaded(config, configured_rules(config), load_templates(config))


class Daemon:
    """One running dqwatch service."""

    def __init__(
        self,
        config_path: Path,
        *,
        clock: Callable[[], float] = time.time,
        notifier: Notifier | None = None,
        drain_deadline: float = DRAIN_DEADLINE,
    ) -> None:
        self.config_path = config_path
        self.clock = clock
        self.notifier = notifier or Notifier()
        self.drain_deadline = drain_deadline
        self._stop = asyncio.Event()
        self._wake_sender = asyncio.Event()
        self._batches: set[asyncio.Task[None]] = set()
        self._discovered: set[str] | None = None  # ids found at the last discovery
        self.loaded = load_all(config_path)  # problems stop us before any write
        self.schedule = Schedule(
            self.loaded.config.poll.interval, self.loaded.config.poll.jitter
        )
        self.state = DaemonState(
            started=clock(),
            interval=self.loaded.config.poll.interval,
            last_cycle_finished=None,
            last_cycle_seconds=None,
            ready=False,
        )
        self.runtime: Runtime

    async def run(self) -> int:
        """Serve until SIGTERM or SIGINT; return the exit code."""
        config = self.loaded.config
        store = Store.open(config.storage.path)
        try:
            options = client_options(config, max_throttle_wait=THROTTLE_WAIT)
            async with Runtime(
                config, self.loaded.rules, store, clock=self.clock, options=options
            ) as rt:
                self.runtime = rt
                await self._serve(store)
        finally:
            store.close()
        return 0

    async def _serve(self, store: Store) -> None:
        await self.runtime.adopt_rules()
        await self._refresh_targets()
        await self._check_token()
        web = WebServer(store, self.state, self.loaded.config.web.listen, self.clock)
        url = await web.start()
        scheduler = self._scheduler()
        scheduler.start()
        sender = asyncio.create_task(self._sender_loop(), name="dqwatch-sender")
        self._install_signals()
        self.state.ready = True
        summary = self._summary(url)
        log.info("started: %s", summary)
        self.notifier.ready(summary)
        try:
            await self._stop.wait()
        finally:
            self.notifier.stopping("draining")
            scheduler.shutdown(wait=False)
            await self._drain()
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
            await self._deliver_once()
            await web.stop()
            log.info("stopped")

    def stop(self) -> None:
        """Ask the daemon to drain and exit (what SIGTERM does)."""
        self._stop.set()

    # -- scheduling -------------------------------------------------------

    def _scheduler(self) -> AsyncIOScheduler:
        scheduler = AsyncIOScheduler()
        scheduler.add_job(
            self._tick,
            "interval",
            seconds=TICK,
            id="tick",
            max_instances=1,
            coalesce=True,
        )
        scheduler.add_job(
            self._refresh_targets, "interval", seconds=DAY, id="discover", coalesce=True
        )
        scheduler.add_job(
            self._check_token, "interval", seconds=DAY, id="token", coalesce=True
        )
        scheduler.add_job(
            self._prune, "interval", seconds=DAY, id="retention", coalesce=True
        )
        if self.notifier.watchdog_interval:
            scheduler.add_job(
                self._ping,
                "interval",
                seconds=self.notifier.watchdog_interval,
                id="watchdog",
            )
        for name, channel in self.loaded.config.channels.items():
            if isinstance(channel, EmailChannel) and channel.digest:
                scheduler.add_job(
                    self._digest,
                    CronTrigger.from_crontab(channel.digest),
                    args=[name],
                    id=f"digest-{name}",
                    coalesce=True,
                )
        return scheduler

    async def _ping(self) -> None:
        # A coroutine job runs on the event loop: only a stuck loop stops the
        # pings, which is what the watchdog is there to catch.
        self.notifier.watchdog()

    async def _tick(self) -> None:
        """Start a batch of the polls that are due, if any."""
        if self._stop.is_set():
            return
        now = self.clock()
        # Back-pressure: never more polls in flight than workers. A slow
        # store or API then delays polls instead of piling up parsed
        # responses in memory.
        room = self.runtime.options.max_concurrency - self.schedule.in_flight
        due = self.schedule.due(now, limit=max(0, room))
        if not due:
            self.state.last_cycle_finished = now
            return
        self.schedule.start(due)
        task = asyncio.create_task(self._batch(due), name="dqwatch-batch")
        self._batches.add(task)
        task.add_done_callback(self._batches.discard)

    async def _batch(self, due: list[Target]) -> None:
        try:
            report = await poll_batch(self.runtime, due, on_polled=self._polled)
        except StoreError as exc:
            log.error("a batch could not be stored: %s", exc)
            for target in due:
                self.schedule.finish(target, self.clock())
            return
        self.state.last_cycle_finished = report.finished
        self.state.last_cycle_seconds = report.finished - report.started
        record_cycle(report, self.runtime.client.governor.snapshot())
        self.notifier.status(
            f"{len(self.schedule)} datasets; last batch {len(report.results)} polls, "
            f"{len(report.failures)} failed"
        )
        self._wake_sender.set()

    def _polled(self, result: PollResult) -> None:
        if isinstance(result.error, ThrottledError):
            # Come back when the API said the business has room again.
            self.schedule.postpone(
                result.target, self.clock() + result.error.retry_after
            )
        else:
            self.schedule.finish(result.target, self.clock())

    async def _refresh_targets(self) -> None:
        """Discover datasets, then schedule every configured and discovered one."""
        targets, discovered = await targets_of(self.runtime)
        last = await self.runtime.store.last_polls()
        self.schedule.set_targets(targets, last, self.clock())
        found = {d.id: d for d in discovered}
        if self._discovered is not None:
            for dataset_id in found.keys() - self._discovered:
                d = found[dataset_id]
                log.info(
                    "discovered dataset %s (%s) through business %s",
                    d.id,
                    d.name,
                    d.business_id,
                )
            for dataset_id in self._discovered - found.keys():
                log.warning(
                    "dataset %s is no longer listed by its business; "
                    "it is not polled any more",
                    dataset_id,
                )
        self._discovered = set(found)
        log.info("watching %d datasets and sources", len(self.schedule))

    async def _check_token(self) -> None:
        health = await check_token(self.runtime.client)
        if health is not None:
            await self.runtime.apply_token_health(health)
            self._wake_sender.set()

    async def _prune(self) -> None:
        history = self.runtime.config.storage.history
        removed = await self.runtime.store.prune(before=self.clock() - history)
        log.info("retention: removed %d old rows", removed)

    async def _digest(self, channel: str) -> None:
        from dqwatch.digest import send_digests

        now = self.clock()
        sent = await send_digests(
            self.runtime.store,
            self.runtime.config,
            self.loaded.templates,
            now,
            7 * DAY,
            None,
            channel=channel,
        )
        for line in sent.lines:
            log.info("digest: %s", line)

    # -- delivery ---------------------------------------------------------

    async def _sender_loop(self) -> None:
        while True:
            await self._deliver_once()
            self._wake_sender.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake_sender.wait(), SENDER_PAUSE)

    async def _deliver_once(self) -> None:
        try:
            await self.runtime.sender.deliver()
        except StoreError as exc:
            log.error("the outbox could not be read: %s", exc)

    # -- stopping and reloading -------------------------------------------

    def _install_signals(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self._on_stop_signal, "SIGTERM")
        loop.add_signal_handler(signal.SIGINT, self._on_stop_signal, "SIGINT")
        loop.add_signal_handler(
            signal.SIGHUP, lambda: asyncio.ensure_future(self.reload())
        )

    def _on_stop_signal(self, name: str) -> None:
        log.info("%s received: finishing in-flight polls, then exiting", name)
        self.stop()

    async def _drain(self) -> None:
        if not self._batches:
            return
        _, pending = await asyncio.wait(set(self._batches), timeout=self.drain_deadline)
        for task in pending:
            task.cancel()
        if pending:
            log.warning(
                "abandoned %d batches still polling after %.0fs",
                len(pending),
                self.drain_deadline,
            )
            await asyncio.gather(*pending, return_exceptions=True)

    async def reload(self) -> bool:
        """Reload config, rules and templates; keep the old set if any is bad."""
        self.notifier.reloading()
        try:
            loaded = load_all(self.config_path)
        except ProblemsError as exc:
            for problem in exc.problems:
                log.error("reload refused: %s", problem)
            log.error(
                "reload refused: %d problems; the previous configuration stays",
                len(exc.problems),
            )
            self.notifier.ready("reload refused; previous configuration kept")
            return False
        self.loaded = loaded
        self.runtime.reconfigure(loaded.config, loaded.rules, loaded.templates)
        await self.runtime.adopt_rules()
        self.schedule.interval = loaded.config.poll.interval
        self.schedule.jitter = loaded.config.poll.jitter
        self.state.interval = loaded.config.poll.interval
        await self._refresh_targets()
        log.info("reloaded: %s", loaded.config.describe())
        self.notifier.ready(self._summary(""))
        return True

    def _summary(self, url: str) -> str:
        config = self.loaded.config
        where = f", web {url}" if url else ""
        return (
            f"{config.describe()}; {len(self.loaded.rules.rules)} rules; "
            f"{len(self.schedule)} datasets and sources scheduled{where}"
        )
