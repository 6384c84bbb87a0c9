"""One cycle of the main job: discover, poll, store, evaluate, keep history bounded.

``poll-once`` runs one cycle and exits; the daemon runs the same parts on a
schedule. ``Runtime`` wires the long-lived pieces (HTTP session, Graph
client, store, rules and the open alerts) from a config; ``run_cycle`` is
one pass over every dataset.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType

import aiohttp

from dqwatch.alerts import AlertBook, Transition, silenced
from dqwatch.baseline import fetch_baselines
from dqwatch.config import Config
from dqwatch.discovery import Discovered, DiscoverEntry, discover
from dqwatch.errors import Problem, TemplateError
from dqwatch.evaluate import Evaluator, Outcome
from dqwatch.graph import ClientOptions, GraphClient
from dqwatch.notify.channels import build_channels
from dqwatch.notify.outbox import Sender, intents_for, repeat_filter
from dqwatch.notify.render import check_templates
from dqwatch.notify.templates import Templates
from dqwatch.poller import OK, Poller, PollResult, Target
from dqwatch.rules import (
    RuleSet,
    load_rules,
    packaged_rule_paths,
    resolve_rule_files,
    rule_digest,
)
from dqwatch.store import DatasetRow, Store
from dqwatch.token import TokenHealth, token_transitions

log = logging.getLogger(__name__)


def client_options(config: Config, max_throttle_wait: float = 60.0) -> ClientOptions:
    """The Graph client's options from the ``[graph]`` table.

    ``max_throttle_wait`` is how long one call may wait for rate-limit room
    before it is reported as throttled instead: a one-off ``poll-once`` can
    afford to wait, the daemon would rather poll another business meanwhile.
    """
    graph = config.graph
    return ClientOptions(
        base_url=str(graph.base_url),
        api_version=graph.api_version,
        access_token=graph.access_token.get_secret_value(),
        app_secret=graph.app_secret.get_secret_value() if graph.app_secret else None,
        agent_name=graph.agent_name,
        max_concurrency=graph.max_concurrency,
        timeout=graph.timeout,
        max_retries=graph.max_retries,
        usage_window=graph.usage_window,
        max_throttle_wait=max_throttle_wait,
    )


def configured_rules(config: Config) -> RuleSet:
    """The rule set a config asks for: its ``[rules]`` files, else the defaults."""
    if config.rules.configured:
        globs = config.rules.paths
        return load_rules(resolve_rule_files(globs, config=config.source))
    return load_rules(packaged_rule_paths())


def load_templates(config: Config) -> Templates:
    """The template set, each template rendered once with sample alerts.

    Raises TemplateError listing every template that fails, so a typo stops
    a command before anything is stored or sent.
    """
    templates = Templates(config.templates.path)
    problems = check_templates(templates)
    if problems:
        raise TemplateError([_template_problem(text) for text in problems])
    return templates


def _template_problem(text: str) -> Problem:
    """``"NAME:LINE: what"`` (or ``"NAME: what"``) as a Problem."""
    where, _, what = text.partition(": ")
    name, _, line = where.partition(":")
    return Problem(name, int(line) if line.isdigit() else None, "", what or text)


class Runtime:
    """The HTTP session, Graph client, store, rules and open alerts of a process.

    Use as ``async with Runtime(config, rules, store) as runtime``: the
    session is closed on exit; the store belongs to the caller.
    """

    def __init__(
        self,
        config: Config,
        rules: RuleSet,
        store: Store,
        *,
        clock: Callable[[], float] = time.time,
        options: ClientOptions | None = None,
    ) -> None:
        self.config = config
        self.rules = rules
        self.store = store
        self.clock = clock
        self.options = options or client_options(config)
        self._session: aiohttp.ClientSession | None = None
        self.client: GraphClient
        self.evaluator: Evaluator
        self.sender: Sender
        #: Names the cycle in progress: its notices travel together.
        self.group = ""

    async def __aenter__(self) -> Runtime:
        # Workers never outnumber connections: queued requests would only
        # wait inside aiohttp and inflate latency.
        connector = aiohttp.TCPConnector(limit=self.options.max_concurrency)
        self._session = aiohttp.ClientSession(connector=connector)
        self.client = GraphClient(self._session, self.options)
        book = AlertBook(await self.store.open_alerts())
        self.evaluator = Evaluator(self.rules, book)
        templates = load_templates(self.config)
        channels = build_channels(self.config, self._session, templates)
        self.sender = Sender(self.store, channels, self.config, clock=self.clock)
        self.group = f"start-{self.clock():.3f}"
        return self

    async def adopt_rules(self) -> list[Transition]:
        """Bring stored alerts in line with the rule set loaded.

        Open alerts of rules that were removed are closed; rules that are
        new or edited are checked once against every stored value (only
        threshold rules can hold without a change to compare).
        """
        now = self.clock()
        outcome = self.evaluator.close_removed_rules(now)
        known = await self.store.rule_digests()
        digests = {rule.name: rule_digest(rule) for rule in self.rules.rules}
        targets = await self.store.dataset_names()
        for rule in self.rules.rules:
            if rule.kind == "threshold" and known.get(rule.name) != digests[rule.name]:
                values = await self.store.values_of(rule.metric)
                outcome.extend(self.evaluator.recheck(rule, values, targets, now))
        await self._save(outcome)
        await self.store.save_rule_digests(digests)
        return outcome.transitions

    async def evaluate(self, result: PollResult) -> list[Transition]:
        """Evaluate one poll's result and persist what it did to alerts."""
        baselines = await fetch_baselines(self.store, self.evaluator, result)
        outcome = self.evaluator.evaluate(result, baselines)
        await self._save(outcome)
        return outcome.transitions

    async def _save(self, outcome: Outcome) -> None:
        """Store alert changes and, in the same transaction, their notices."""
        intents = intents_for(
            outcome.transitions, self.config, self.clock(), self.group
        )
        await self.store.save_alerts(outcome.updates, outcome.transitions, intents)

    def reconfigure(self, config: Config, rules: RuleSet, templates: Templates) -> None:
        """Switch to a reloaded config, rule set and templates; keep open alerts.

        The HTTP session and its connection limit stay as they were started.
        """
        if self._session is None:
            raise RuntimeError("reconfigure a runtime inside its async with block")
        self.config = config
        self.rules = rules
        self.evaluator = Evaluator(
            rules, self.evaluator.book, silences=self.evaluator.silences
        )
        options = client_options(config, self.options.max_throttle_wait)
        if options != self.options:
            self.options = options
            self.client = GraphClient(self._session, options)
        channels = build_channels(config, self._session, templates)
        self.sender = Sender(self.store, channels, config, clock=self.clock)

    async def apply_token_health(self, health: TokenHealth) -> list[Transition]:
        """Raise or resolve the token alerts after a token check."""
        moves = token_transitions(self.evaluator.book, health, self.clock())
        outcome = self.evaluator.apply(moves, self.clock())
        await self._save(outcome)
        return outcome.transitions

    async def enqueue_repeats(self) -> int:
        """Write repeat notices for firing alerts due again on their channels."""
        now = self.clock()
        intervals = {n: c.repeat_interval for n, c in self.config.channels.items()}
        silences = self.evaluator.silences
        keep = repeat_filter(self.config, lambda a: silenced(a, silences, now))
        return await self.store.enqueue_repeats(now, self.group, intervals, keep)

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
    transitions: list[Transition]

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
        runtime.client.governor.learn(d.id, d.business_id)
        if d.id in configured:
            continue  # the [[dataset]] entry wins: it may name sources or an owner
        rows.append(DatasetRow(d.id, d.name, d.owner, f"discover:{d.business_id}"))
        targets.extend(Target(d.id, s, d.name, d.owner) for s in d.sources)
    await runtime.store.sync_datasets(rows, now=runtime.clock())
    return targets, [d for d in found if d.id not in configured]


async def run_cycle(runtime: Runtime) -> CycleReport:
    """Poll every dataset once, store and evaluate what changed, prune."""
    started = runtime.clock()
    targets, discovered = await targets_of(runtime)
    report = await poll_batch(runtime, targets, started=started)
    await runtime.store.prune(before=started - runtime.config.storage.history)
    return CycleReport(
        report.started, runtime.clock(), report.results, discovered, report.transitions
    )


async def poll_batch(
    runtime: Runtime,
    targets: Sequence[Target],
    *,
    started: float | None = None,
) -> CycleReport:
    """Poll some targets once, store and evaluate each, then write due repeats."""
    started = runtime.clock() if started is None else started
    runtime.group = f"cycle-{started:.3f}"
    transitions: list[Transition] = []
    runtime.evaluator.silences = await runtime.store.silences(active_at=started)

    async def evaluate(result: PollResult) -> None:
        transitions.extend(await runtime.evaluate(result))

    poller = Poller(
        runtime.client,
        runtime.store,
        workers=runtime.options.max_concurrency,
        batch_size=runtime.config.graph.batch_size,
        clock=runtime.clock,
        on_result=evaluate,
    )
    results = await poller.poll_all(targets)
    await runtime.enqueue_repeats()
    await runtime.store.flush()
    finished = runtime.clock()
    report = CycleReport(started, finished, results, [], transitions)
    log.info(
        "cycle finished in %.1fs: %d polls, %d failed, %d series changed, "
        "%d alert changes",
        finished - started,
        len(results),
        len(report.failures),
        sum(r.changed for r in results),
        len(transitions),
    )
    return report
