"""What the datasets answer in each poll: values grouped into whole answers.

The values a poll gives for one dataset and source are that source's whole
answer, as one API response is; they become one :class:`Response`, or an
error does. Each value is checked against the metric catalogue here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dqwatch.config._fields import quote
from dqwatch.metrics import CATALOGUE, Metric
from dqwatch.model import Observation
from dqwatch.poller import Target
from dqwatch.ruletest._checks import Checker
from dqwatch.ruletest._model import Failure, Response
from dqwatch.ruletest._schema import (
    DatasetTable,
    ErrorTable,
    PollTable,
    RuleTestTable,
    ValueTable,
)
from dqwatch.tomlpos import KeyPath

TargetKey = tuple[str, str]  # (dataset id, source)


@dataclass
class Scope:
    """What the polls of one test share: its datasets and every target."""

    declared: dict[str, DatasetTable]
    default: str | None
    targets: dict[TargetKey, Target] = field(default_factory=dict)

    @property
    def polled(self) -> set[str]:
        """Every dataset the test polls."""
        return {dataset for dataset, _ in self.targets}


def scope_of(checker: Checker, path: KeyPath, table: RuleTestTable) -> Scope:
    """The datasets and targets of the test ``table`` at ``path``."""
    declared: dict[str, DatasetTable] = {}
    for index, dataset in enumerate(table.datasets):
        if dataset.id in declared:
            checker.problem(
                (*path, "datasets", index, "id"),
                f"{quote(dataset.id)} is listed twice",
                "list each dataset once",
            )
        declared.setdefault(dataset.id, dataset)
    scope = Scope(declared, next(iter(declared)) if len(declared) == 1 else None)
    for dataset_id, source in _target_keys(table, scope):
        entry = declared.get(dataset_id)
        name = entry.name if entry and entry.name else dataset_id
        owner = entry.owner if entry else ""
        scope.targets[dataset_id, source] = Target(dataset_id, source, name, owner)
    return scope


@dataclass
class _Answer:
    """One target's answer in one poll, gathered value by value."""

    answered: bool = False
    events: dict[str, None] = field(default_factory=dict)
    observations: list[Observation] = field(default_factory=list)
    series: dict[tuple[str, str, str], int | None] = field(default_factory=dict)
    failure: Failure | None = None


class PollAnswers:
    """Reads the answers of one poll, reporting problems to ``checker``."""

    def __init__(self, checker: Checker, scope: Scope) -> None:
        self.checker = checker
        self.scope = scope
        self._answers: dict[TargetKey, _Answer] = {}

    def responses(self, path: KeyPath, table: PollTable) -> tuple[Response, ...]:
        """The poll's answers, in the order the test's targets are polled."""
        if table.error is not None:
            return self._everyone_fails(path, table, Failure(table.error))
        for index, value in enumerate(table.values):
            self._value((*path, "values", index), value)
        for index, error in enumerate(table.errors):
            self._error((*path, "errors", index), error)
        return tuple(
            Response(target, tuple(a.events), tuple(a.observations), a.failure)
            for key, target in self.scope.targets.items()
            if (a := self._answers.get(key)) is not None
        )

    def _everyone_fails(
        self, path: KeyPath, table: PollTable, failure: Failure
    ) -> tuple[Response, ...]:
        if table.values or table.errors:
            self.checker.problem(
                (*path, "error"),
                "cannot be given with values or errors in the same poll",
                "use error = CODE alone to fail every dataset of the test, "
                'or list the failing ones: errors = [{ dataset = "<id>", '
                "code = CODE }]",
            )
        targets = self.scope.targets.values()
        return tuple(Response(target, failure=failure) for target in targets)

    def _value(self, path: KeyPath, table: ValueTable) -> None:
        metric = CATALOGUE.get(table.metric or "")
        if metric is not None and table.source not in (None, metric.source):
            self.checker.problem(
                (*path, "source"),
                f"is {quote(table.source)}, but {metric.name} is a "
                f"{metric.source} metric",
                "remove source: the metric decides it",
            )
        answer = self._answer(path, table.dataset, _value_source(table))
        if answer is None:
            return
        answer.answered = True
        if table.event is not None:
            answer.events.setdefault(table.event)
        if metric is None:
            self._no_metric(path, table)
            return
        observation = self._observation(path, table, metric)
        if observation is not None:
            self._add(path, answer, observation)

    def _answer(self, path: KeyPath, given: str | None, source: str) -> _Answer | None:
        dataset = self.checker.dataset(path, given, self.scope.default)
        if dataset is None or not self._declared_source(path, dataset, source):
            return None
        return self._answers.setdefault((dataset, source), _Answer())

    def _add(self, path: KeyPath, answer: _Answer, observation: Observation) -> None:
        series = (observation.event, observation.metric, observation.key)
        if series in answer.series:
            self.checker.problem(
                path,
                f"gives {observation.metric} of {_series_words(observation)} a "
                f"second time in this poll (first at line {answer.series[series]})",
                "give each value once per poll: a poll is one answer of the API",
            )
            return
        answer.series[series] = self.checker.line(path)
        answer.observations.append(observation)

    def _no_metric(self, path: KeyPath, table: ValueTable) -> None:
        if table.value is not None or table.key is not None or table.details:
            self.checker.problem(
                (*path, "metric"),
                "is missing",
                'add metric = "<metric>", e.g. metric = "emq"; without a metric '
                "an entry names only an event (or, without event, an empty answer)",
            )

    def _observation(
        self, path: KeyPath, table: ValueTable, metric: Metric
    ) -> Observation | None:
        wrong = len(self.checker.problems)
        if table.event is None:
            self.checker.problem(
                (*path, "event"),
                "is missing",
                f'add event = "<event name>": every {metric.name} value belongs '
                "to an event",
            )
        why = f"{metric.name} has a value per key"
        self.checker.key(path, table.key, metric, why)
        self._check_value(path, table, metric)
        if len(self.checker.problems) > wrong:
            return None
        if table.event is None or table.value is None:
            return None  # reported above
        key = table.key or ""
        details = dict(table.details)
        return Observation(
            metric.source, table.event, metric.name, key, table.value, details
        )

    def _check_value(self, path: KeyPath, table: ValueTable, metric: Metric) -> None:
        value = table.value
        where = (*path, "value")
        if value is None:
            self.checker.problem(
                where, "is missing", f"add value = ..., the {metric.name}"
            )
        elif metric.kind == "text" and not isinstance(value, str):
            self.checker.problem(
                where,
                f"{value:g} is a number, but {metric.name} is a text",
                'write the text in quotes, e.g. "real_time"',
            )
        elif metric.kind == "number" and isinstance(value, str):
            self.checker.problem(
                where,
                f"{quote(value)} is text, but {metric.name} is a number",
                "write the number without quotes",
            )
        elif isinstance(value, float) and not metric.low <= value <= metric.high:
            self.checker.problem(
                where,
                f"{value:g} is outside the range of {metric.name} "
                f"({metric.low:g} to {metric.high:g})",
                f"use a number from {metric.low:g} to {metric.high:g}",
            )

    def _error(self, path: KeyPath, table: ErrorTable) -> None:
        answer = self._answer(path, table.dataset, table.source)
        if answer is None:
            return
        if answer.answered or answer.failure is not None:
            had = "an error" if answer.failure is not None else "values"
            dataset = table.dataset or self.scope.default
            self.checker.problem(
                path,
                f"dataset {dataset} ({table.source}) already has {had} in this poll",
                "give each dataset and source either values or one error per poll",
            )
            return
        answer.failure = Failure(table.code, table.subcode, table.message)

    def _declared_source(self, path: KeyPath, dataset: str, source: str) -> bool:
        entry = self.scope.declared.get(dataset)
        if entry is None or entry.sources is None or source in entry.sources:
            return True
        listed = ", ".join(f'"{s}"' for s in entry.sources)
        self.checker.problem(
            path,
            f"polls dataset {dataset} for {source}, but its datasets entry lists "
            f"sources = [{listed}]",
            f'add "{source}" to its sources, or remove its sources key',
        )
        return False


def _value_source(table: ValueTable) -> str:
    metric = CATALOGUE.get(table.metric or "")
    if metric is not None:
        return metric.source
    return table.source or "web"


def _target_keys(table: RuleTestTable, scope: Scope) -> list[TargetKey]:
    """Every (dataset, source) the test polls: declared datasets first, in order.

    A declared dataset without ``sources`` is polled for the sources its
    values and errors use, or for web when it has none; other datasets
    follow in the order they first appear.
    """
    used: dict[str, dict[str, None]] = {}
    for poll in table.poll:
        for value in poll.values:
            if dataset := value.dataset or scope.default:
                used.setdefault(dataset, {}).setdefault(_value_source(value))
        for error in poll.errors:
            if dataset := error.dataset or scope.default:
                used.setdefault(dataset, {}).setdefault(error.source)
    keys: dict[TargetKey, None] = {}
    for entry in table.datasets:
        sources: tuple[str, ...] = entry.sources or tuple(used.get(entry.id, ()))
        keys.update(dict.fromkeys((entry.id, s) for s in sources or ("web",)))
    for dataset, seen in used.items():
        if dataset not in scope.declared:
            keys.update(dict.fromkeys((dataset, source) for source in seen))
    return list(keys)


def _series_words(observation: Observation) -> str:
    words = f"event {quote(observation.event)}"
    return f"{words}, key {quote(observation.key)}" if observation.key else words
