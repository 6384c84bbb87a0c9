"""``dqwatch run``: the long-running service.

The daemon only wires parts together:

- a ``Schedule`` says which datasets are due; ``max_concurrency`` workers
  take due datasets one at a time (never two polls of one dataset) and run
  the steps of ``poll-once`` on each: poll, store, evaluate, write notices;
- an APScheduler tick every ``TICK`` seconds does the bookkeeping: it names
  the notice group (one Slack message per dataset per tick), refreshes
  silences, writes the poll log, checks for repeats and records metrics;
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
    CycleReport,
    Runtime,
    client_options,
    configured_rules,
    load_templates,
    targets_of,
)
from dqwatch.errors import ProblemsError, StoreError, ThrottledError
from dqwatch.notify.templates import Templates
from dqwatch.poller import Poller, PollResult
from dqwatch.rules import RuleSet
from dqwatch.schedule import Schedule
from dqwatch.sdnotify import Notifier
from dqwatch.store import Store
from dqwatch.token import check_token
from dqwatch.web import DaemonState, WebServer, record_cycle

log = logging.getLogger(__name__)

#: Seconds between scheduler ticks (bookkeeping: silences, poll log, metrics).
TICK = 1.0
#: Seconds between checks for firing alerts due to be announced again.
REPEAT_CHECK = 30.0
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
        self._workers: set[asyncio.Task[None]] = set()
        self._results: list[PollResult] = []
        self._tick_started = clock()
        self._last_repeat_check = 0.0
        self._last_token_reset = clock()
        self._period_started = clock()
        self._period_polls = 0
        self._period_failed = 0
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
        self._poller = self._new_poller()
        scheduler = self._scheduler()
        scheduler.start()
        self._workers = {
            asyncio.create_task(self._worker(), name=f"dqwatch-worker-{n}")
            for n in range(self.runtime.options.max_concurrency)
        }
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
        """Bookkeeping once a second: the notice group, silences, the poll log,
        repeats, metrics; the workers do the polling."""
        now = self.clock()
        runtime = self.runtime
        runtime.group = f"tick-{int(now)}"
        runtime.evaluator.silences = await runtime.store.silences(active_at=now)
        if now - self._last_repeat_check >= REPEAT_CHECK:
            self._last_repeat_check = now
            await runtime.enqueue_repeats()
        if now - self._last_token_reset >= self.schedule.interval:
            # A 190 stops polling for the rest of an interval, then we try again.
            self._last_token_reset = now
            self._poller.forget_token_error()
        try:
            await runtime.store.flush()
        except StoreError as exc:
            log.error("the poll log could not be written: %s", exc)
        results, self._results = self._results, []
        report = CycleReport(self._tick_started, now, results, [], [])
        self._tick_started = now
        record_cycle(report, runtime.client.governor.snapshot())
        self.state.last_cycle_finished = now
        self.state.last_cycle_seconds = None
        self._period_polls += len(results)
        self._period_failed += len(report.failures)
        if results:
            self.notifier.status(
                f"{len(self.schedule)} datasets; {len(results)} polls in the last "
                f"second, {len(report.failures)} failed"
            )
            self._wake_sender.set()
        if now - self._period_started >= self.schedule.interval:
            # One INFO line per poll interval: the daemon's "cycle".
            log.info(
                "%d polls in the last %.0fs, %d failed; %d datasets and sources, "
                "%d open alerts",
                self._period_polls,
                now - self._period_started,
                self._period_failed,
                len(self.schedule),
                len(runtime.evaluator.book),
            )
            self._period_started, self._period_polls, self._period_failed = now, 0, 0

    async def _worker(self) -> None:
        """Poll whatever is due, one dataset at a time, until told to stop."""
        while not self._stop.is_set():
            target = self.schedule.take(self.clock())
            if target is None:
                await self._idle()
                continue
            try:
                result = await self._poller.poll(target)
                await self.runtime.evaluate(result)
            except StoreError as exc:
                log.error("dataset %s could not be stored: %s", target.dataset_id, exc)
                self.schedule.finish(target, self.clock())
                await asyncio.sleep(1.0)
                continue
            self._polled(result)
            self._results.append(result.slim())

    async def _idle(self) -> None:
        """Sleep until the next poll is due (at most a second), or until stopped."""
        upcoming = self.schedule.next_due()
        wait = 1.0 if upcoming is None else min(1.0, max(0.01, upcoming - self.clock()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), wait)

    def _polled(self, result: PollResult) -> None:
        if isinstance(result.error, ThrottledError):
            # Come back when the API (or our own pacing) says there is room.
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
        """Let in-flight polls finish (workers take nothing new once stopping)."""
        if not self._workers:
            return
        _, pending = await asyncio.wait(self._workers, timeout=self.drain_deadline)
        for task in pending:
            task.cancel()
        if pending:
            log.warning(
                "abandoned %d polls still running after %.0fs",
                len(pending),
                self.drain_deadline,
            )
            await asyncio.gather(*pending, return_exceptions=True)
        with contextlib.suppress(StoreError):
            await self.runtime.store.flush()

    def _new_poller(self) -> Poller:
        return Poller(
            self.runtime.client,
            self.runtime.store,
            workers=1,
            clock=self.clock,
        )

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
        self._poller = self._new_poller()
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
