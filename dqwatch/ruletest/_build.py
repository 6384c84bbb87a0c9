"""From validated tables to tests: whether the keys of a test file fit together.

The tables already have the right shape (:mod:`dqwatch.ruletest._schema`);
here each poll is checked against the one before, its answers against the
metric catalogue (:mod:`dqwatch.ruletest._answers`) and each expected alert
against the rules under test, every problem located at its line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from dqwatch.builtin_alerts import BUILTIN_RULES, TOKEN_INVALID, UNREACHABLE
from dqwatch.config._fields import quote
from dqwatch.config._problems import did_you_mean
from dqwatch.durations import format_duration
from dqwatch.errors import Problem
from dqwatch.metrics import CATALOGUE
from dqwatch.rules import Rule, RuleSet
from dqwatch.ruletest._answers import PollAnswers, Scope, scope_of
from dqwatch.ruletest._checks import Checker
from dqwatch.ruletest._model import Expected, Poll, RuleTest
from dqwatch.ruletest._schema import ExpectedTable, PollTable, RuleTestTable
from dqwatch.tomlpos import KeyPath

#: Keys that do not apply to each built-in alert, and why.
_BUILT_IN_KEYS: dict[str, tuple[tuple[str, ...], str]] = {
    TOKEN_INVALID: (
        ("dataset", "source", "event", "key", "value", "before"),
        "token-invalid is one alert for the access token, without a value",
    ),
    UNREACHABLE: (
        ("source", "event", "key", "value", "before"),
        "dataset-unreachable is one alert per dataset, without a value",
    ),
}


class Builder:
    """Turns the tables of one file into tests, collecting every problem."""

    def __init__(
        self, file: str, lines: Mapping[KeyPath, int], rules: RuleSet | None
    ) -> None:
        self.checker = Checker(file, lines)
        self.rules = rules.by_name() if rules is not None else None

    @property
    def problems(self) -> list[Problem]:
        """Every problem found so far."""
        return self.checker.problems

    def tests(self, tables: Sequence[RuleTestTable]) -> tuple[RuleTest, ...]:
        """Every test of the file, in order; check ``problems`` afterwards."""
        first_line: dict[str, int | None] = {}
        built = []
        for index, table in enumerate(tables):
            path: KeyPath = ("test", index)
            if table.name in first_line:
                self.checker.problem(
                    (*path, "name"),
                    f"{quote(table.name)} is already the name of the test at line "
                    f"{first_line[table.name]}",
                    "give each test its own name, so a failure says which one",
                )
            first_line.setdefault(table.name, self.checker.line(path))
            built.append(self._test(path, table))
        return tuple(built)

    # -- tests and polls ----------------------------------------------------

    def _test(self, path: KeyPath, table: RuleTestTable) -> RuleTest:
        scope = scope_of(self.checker, path, table)
        polls: list[Poll] = []
        for index, poll in enumerate(table.poll):
            at_path: KeyPath = (*path, "poll", index)
            previous = polls[-1].at if polls else None
            at = self._at(at_path, poll, previous, table.interval)
            polls.append(self._poll(at_path, index + 1, poll, at, scope))
        if all(p.firing is None and p.pending is None for p in polls):
            self.checker.problem(
                path,
                "checks nothing: no poll lists firing or pending alerts",
                "add firing = [...] to the polls whose alerts matter "
                "(firing = [] expects none)",
            )
        return RuleTest(table.name, self.checker.line(path), tuple(polls))

    def _at(
        self, path: KeyPath, poll: PollTable, previous: float | None, interval: float
    ) -> float:
        if poll.at is None:
            return 0.0 if previous is None else previous + interval
        if previous is not None and poll.at <= previous:
            self.checker.problem(
                (*path, "at"),
                f"{format_duration(poll.at)} is not after the previous poll "
                f"({format_duration(previous)})",
                "give each poll a later time than the one before, or leave at "
                "out to poll one interval after it",
            )
        return poll.at

    def _poll(
        self, path: KeyPath, number: int, table: PollTable, at: float, scope: Scope
    ) -> Poll:
        return Poll(
            number=number,
            line=self.checker.line(path),
            at=at,
            responses=PollAnswers(self.checker, scope).responses(path, table),
            firing=self._expectations((*path, "firing"), table.firing, scope),
            pending=self._expectations((*path, "pending"), table.pending, scope),
        )

    # -- expected alerts ----------------------------------------------------

    def _expectations(
        self,
        path: KeyPath,
        tables: tuple[ExpectedTable, ...] | None,
        scope: Scope,
    ) -> tuple[Expected, ...] | None:
        if tables is None:
            return None
        first_line: dict[str, int | None] = {}
        built = []
        for index, table in enumerate(tables):
            expected = self._expected((*path, index), table, scope)
            if expected is None:
                continue
            if expected.fingerprint in first_line:
                self.checker.problem(
                    (*path, index),
                    "expects the same alert as the entry at line "
                    f"{first_line[expected.fingerprint]}",
                    "list each alert once",
                )
                continue
            first_line[expected.fingerprint] = expected.line
            built.append(expected)
        return tuple(built)

    def _expected(
        self, path: KeyPath, table: ExpectedTable, scope: Scope
    ) -> Expected | None:
        line = self.checker.line(path)
        if table.rule in _BUILT_IN_KEYS:
            return self._built_in(path, table, scope, line)
        dataset = self._polled_dataset(path, table, scope)
        rule = self._rule(path, table.rule)
        if rule is None:
            return None
        self._fits_rule(path, table, rule)
        return Expected(
            rule.name,
            dataset,
            rule.source,
            table.event or "",
            table.key or "",
            table.value,
            table.before,
            table.summary,
            line,
        )

    def _built_in(
        self, path: KeyPath, table: ExpectedTable, scope: Scope, line: int | None
    ) -> Expected:
        names, why = _BUILT_IN_KEYS[table.rule]
        for name in names:
            if getattr(table, name) is not None:
                self.checker.problem(
                    (*path, name), f"does not apply: {why}", f"remove {name}"
                )
        dataset = ""
        if table.rule == UNREACHABLE:
            dataset = self._polled_dataset(path, table, scope)
        return Expected(
            table.rule, dataset, "", "", "", summary=table.summary, line=line
        )

    def _polled_dataset(self, path: KeyPath, table: ExpectedTable, scope: Scope) -> str:
        dataset = self.checker.dataset(path, table.dataset, scope.default) or ""
        if dataset and dataset not in scope.polled:
            self.checker.problem(
                (*path, "dataset"),
                f"{quote(dataset)} is not polled in this test",
                "check the id: a test polls the datasets its polls give values "
                "or errors for, and those of its datasets list",
            )
        return dataset

    def _rule(self, path: KeyPath, name: str) -> Rule | None:
        if self.rules is None:
            return None  # the rule files have problems of their own, reported
        rule = self.rules.get(name)
        if rule is None:
            choices = [*self.rules, *BUILTIN_RULES]
            self.checker.problem(
                (*path, "rule"),
                f"{quote(name)} is not a rule of the rule files under test",
                f"{did_you_mean(name, choices)} (rule_files names the rule files)",
            )
        return rule

    def _fits_rule(self, path: KeyPath, table: ExpectedTable, rule: Rule) -> None:
        if table.source not in (None, rule.source):
            self.checker.problem(
                (*path, "source"),
                f"is {quote(table.source)}, but {rule.name} watches {rule.metric}, "
                f"a {rule.source} metric",
                "remove source: the rule decides it",
            )
        if table.event is None:
            self.checker.problem(
                (*path, "event"),
                "is missing",
                f'add event = "<event name>": {rule.name} alerts once per event',
            )
        metric = CATALOGUE[rule.metric]
        why = f"{rule.name} alerts once per key of {metric.name}"
        self.checker.key(path, table.key, metric, why)
