"""Evaluating rules on what one poll changed.

Only series that changed, and alerts already open, are looked at: a series
that did not change cannot change a rule's verdict, except that a pending
alert counts one more poll towards ``for``. That keeps a quiet cycle almost
free. Rules that are new or edited are checked once against every stored
value (see ``Evaluator.recheck``), so an added threshold fires without
waiting for values to move.

The verdict of a rule on a series is True (the condition holds), False (it
does not) or None (unknown: the value is absent, the poll failed); unknown
neither fires nor resolves, and does not advance ``for``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import jinja2

from dqwatch.alerts import (
    Alert,
    AlertBook,
    Silence,
    State,
    Transition,
    fingerprint,
    silenced,
    template_variables,
)
from dqwatch.builtin_alerts import BUILTIN_RULES, builtin_transitions
from dqwatch.evaluate._kinds import (
    EPSILON,
    Verdict,
    admits,
    appeared,
    changed,
    compare,
    disappeared,
    number,
)
from dqwatch.model import Observation, Value
from dqwatch.poller import OK, PollResult
from dqwatch.rules import Rule, RuleSet
from dqwatch.store import SeriesChange
from dqwatch.templating import compile_summary, render_summary

#: A series and a window length: what a ``baseline:`` reference is asked for.
BaselineKey = tuple[str, str, str, str, str, float]


@dataclass
class Outcome:
    """What evaluating one poll did: transitions, and every alert to persist."""

    transitions: list[Transition] = field(default_factory=list)
    updates: list[Alert] = field(default_factory=list)

    def extend(self, other: Outcome) -> None:
        self.transitions.extend(other.transitions)
        self.updates.extend(other.updates)


class Evaluator:
    """Applies a rule set to polls, moving alerts in an ``AlertBook``."""

    def __init__(
        self,
        rules: RuleSet,
        book: AlertBook,
        *,
        silences: Sequence[Silence] = (),
    ) -> None:
        self.rules = rules
        self.book = book
        self.silences = list(silences)
        self._baselines: Mapping[BaselineKey, float | None] = {}
        self._by_metric: dict[str, list[Rule]] = {}
        for rule in rules.rules:
            self._by_metric.setdefault(rule.metric, []).append(rule)
        self._goal_rules = [r for r in rules.rules if r.below_goal]
        self._names = {r.name: r for r in rules.rules}
        self._templates: dict[str, jinja2.Template] = {}

    def apply(self, moves: Iterable[tuple[Alert, str | None]], now: float) -> Outcome:
        """Record alert changes decided elsewhere (built-in alerts, token checks).

        Each move is (the alert now, its state before); a move that keeps
        the state is stored without a transition.
        """
        outcome = Outcome()
        for alert, previous in moves:
            if alert.state != previous:
                self._commit(outcome, alert, previous, now)
            else:
                self.book.put(alert)
                outcome.updates.append(alert)
        return outcome

    def baselines_needed(self, result: PollResult) -> list[BaselineKey]:
        """The baseline references ``evaluate`` will need for this result.

        Fetch them (``weighted_median`` over the stored history) and pass
        them to ``evaluate``; keeping the lookup outside lets evaluation
        stay synchronous and free of I/O.
        """
        if result.outcome != OK or result.first:
            return []
        wanted: list[BaselineKey] = []
        for change in result.changes:
            for rule in self._by_metric.get(change.metric, ()):
                if rule.baseline is None or not admits(
                    rule, change, result.target.owner
                ):
                    continue
                fp = fingerprint(
                    rule.name,
                    change.dataset_id,
                    change.source,
                    change.event,
                    change.key,
                )
                if self.book.get(fp) is None:
                    wanted.append(_baseline_key(change, rule.baseline))
        return wanted

    def evaluate(
        self,
        result: PollResult,
        baselines: Mapping[BaselineKey, float | None] | None = None,
    ) -> Outcome:
        """Evaluate every rule touched by one poll's result."""
        self._baselines = baselines or {}
        outcome = Outcome()
        outcome.extend(
            self.apply(builtin_transitions(result, self.book), result.finished)
        )
        if result.outcome != OK:
            return outcome
        current = _index(result.snapshot.observations) if result.snapshot else None
        touched: set[str] = set()
        for change in result.changes:
            self._on_change(outcome, result, change, current, touched)
        self._advance_untouched(outcome, result, current, touched)
        return outcome

    def recheck(
        self,
        rule: Rule,
        changes: Iterable[SeriesChange],
        targets: Mapping[str, tuple[str, str]],
        now: float,
    ) -> Outcome:
        """Judge a new or edited threshold rule against stored values."""
        outcome = Outcome()
        for change in changes:
            name, owner = targets.get(change.dataset_id, (change.dataset_id, ""))
            if not admits(rule, change, owner):
                continue
            verdict = self._threshold(rule, change, None)
            fp = fingerprint(
                rule.name, change.dataset_id, change.source, change.event, change.key
            )
            self._step(outcome, rule, fp, change, verdict, (name, owner), now)
        return outcome

    def close_removed_rules(self, now: float) -> Outcome:
        """Resolve open alerts whose rule is no longer in the rule set."""
        outcome = Outcome()
        for alert in self.book:
            if alert.rule in self._names or alert.rule in BUILTIN_RULES:
                continue
            closed = "resolved" if alert.state == "firing" else "inactive"
            self._commit(
                outcome, alert.evolve(state=closed, resolved_at=now), alert.state, now
            )
        return outcome

    # -- one change ---------------------------------------------------------

    def _on_change(
        self,
        outcome: Outcome,
        result: PollResult,
        change: SeriesChange,
        current: dict[tuple[str, str, str], Observation] | None,
        touched: set[str],
    ) -> None:
        target = result.target
        for rule in self._by_metric.get(change.metric, ()):
            if not admits(rule, change, target.owner):
                continue
            if (
                rule.kind in ("drop", "disappeared", "appeared", "changed")
                and result.first
            ):
                continue  # the first poll sets the baseline
            fp = fingerprint(
                rule.name, change.dataset_id, change.source, change.event, change.key
            )
            touched.add(fp)
            verdict = self._verdict(rule, change, self.book.get(fp), current, result)
            self._step(
                outcome,
                rule,
                fp,
                change,
                verdict,
                (target.name, target.owner),
                result.finished,
            )
        if change.metric == "event_coverage_goal" and current is not None:
            self._on_goal_change(outcome, result, change, current, touched)

    def _on_goal_change(
        self,
        outcome: Outcome,
        result: PollResult,
        change: SeriesChange,
        current: dict[tuple[str, str, str], Observation],
        touched: set[str],
    ) -> None:
        coverage = current.get((change.event, "event_coverage", ""))
        if coverage is None:
            return
        as_change = SeriesChange(
            change.dataset_id,
            change.source,
            change.event,
            "event_coverage",
            "",
            coverage.value,
            coverage.value,
            coverage.details,
        )
        for rule in self._goal_rules:
            fp = fingerprint(
                rule.name, change.dataset_id, change.source, change.event, ""
            )
            if fp in touched or not admits(rule, as_change, result.target.owner):
                continue
            touched.add(fp)
            verdict = self._threshold(rule, as_change, current)
            target = result.target
            self._step(
                outcome,
                rule,
                fp,
                as_change,
                verdict,
                (target.name, target.owner),
                result.finished,
            )

    def _advance_untouched(
        self,
        outcome: Outcome,
        result: PollResult,
        current: dict[tuple[str, str, str], Observation] | None,
        touched: set[str],
    ) -> None:
        """A pending alert whose series did not change counts one more poll."""
        target = result.target
        for alert in self.book.for_target(target.dataset_id, target.source):
            rule = self._names.get(alert.rule)
            if rule is None or alert.fingerprint in touched or alert.state != "pending":
                continue
            if current is not None and not _still_known(alert, current):
                continue  # the series is unknown in this poll: no count
            change = SeriesChange(
                alert.dataset_id,
                alert.source,
                alert.event,
                alert.metric,
                alert.key,
                alert.value,
                alert.value,
                alert.details,
            )
            verdict = Verdict(
                True, alert.value, alert.before, alert.threshold, alert.details
            )
            self._step(
                outcome,
                rule,
                alert.fingerprint,
                change,
                verdict,
                (target.name, target.owner),
                result.finished,
            )

    # -- verdicts -----------------------------------------------------------

    def _verdict(
        self,
        rule: Rule,
        change: SeriesChange,
        alert: Alert | None,
        current: dict[tuple[str, str, str], Observation] | None,
        result: PollResult,
    ) -> Verdict:
        if rule.kind == "threshold":
            return self._threshold(rule, change, current)
        if rule.kind == "drop":
            return self._drop(rule, change, alert)
        if rule.kind == "disappeared":
            return disappeared(change, alert)
        if rule.kind == "appeared":
            return appeared(change, alert)
        return changed(rule, change, alert)

    def _threshold(
        self,
        rule: Rule,
        change: SeriesChange,
        current: dict[tuple[str, str, str], Observation] | None,
    ) -> Verdict:
        value = change.after
        if value is None:
            return Verdict(None)
        threshold: Value | None
        if rule.below_goal:
            goal = (
                current.get((change.event, "event_coverage_goal", ""))
                if current
                else None
            )
            if goal is None or not isinstance(goal.value, float):
                return Verdict(None)
            threshold = goal.value
            holds = number(value) < threshold - EPSILON
        else:
            threshold, holds = compare(rule, value)
        return Verdict(holds, value, change.before, threshold, change.details)

    def _drop(self, rule: Rule, change: SeriesChange, alert: Alert | None) -> Verdict:
        value = change.after
        if not isinstance(value, float):
            return Verdict(None)
        reference: float | None
        if alert is not None and isinstance(alert.before, float):
            reference = alert.before  # frozen when the drop was first seen
        elif rule.baseline is not None:
            reference = self._baselines.get(_baseline_key(change, rule.baseline))
        else:
            reference = change.before if isinstance(change.before, float) else None
        if reference is None:
            return Verdict(None)
        fall = reference - value
        if rule.by_percent is not None:
            needed = reference * rule.by_percent / 100.0
            threshold: Value = rule.by_percent
        else:
            needed = rule.by or 0.0
            threshold = needed
        holds = fall >= needed - EPSILON and fall > EPSILON
        return Verdict(holds, value, reference, threshold, change.details)

    # -- state machine ------------------------------------------------------

    def _step(
        self,
        outcome: Outcome,
        rule: Rule,
        fp: str,
        change: SeriesChange,
        verdict: Verdict,
        dataset: tuple[str, str],
        now: float,
    ) -> None:
        if verdict.holds is None:
            return
        alert = self.book.get(fp)
        if verdict.holds:
            self._holds(outcome, rule, alert, change, verdict, dataset, now)
        elif alert is not None:
            closed = "resolved" if alert.state == "firing" else "inactive"
            ended = alert.evolve(
                state=closed, resolved_at=now, value=verdict.value, updated_at=now
            )
            self._commit(outcome, ended, alert.state, now)

    def _holds(
        self,
        outcome: Outcome,
        rule: Rule,
        alert: Alert | None,
        change: SeriesChange,
        verdict: Verdict,
        dataset: tuple[str, str],
        now: float,
    ) -> None:
        count = 1 if alert is None else alert.count + 1
        fires = (alert is None or alert.state == "pending") and count >= rule.for_polls
        if alert is None:
            state: State = "firing" if fires else "pending"
            updated = Alert(
                rule=rule.name,
                dataset_id=change.dataset_id,
                source=change.source,
                event=change.event,
                key=change.key,
                metric=change.metric,
                severity=rule.severity,
                state=state,
                count=count,
                active_since=now,
                firing_since=now if fires else None,
                value=verdict.value,
                before=verdict.reference,
                threshold=verdict.threshold,
                details=dict(verdict.details),
                dataset_name=dataset[0],
                owner=dataset[1],
                updated_at=now,
            )
        elif fires:
            updated = alert.evolve(
                state="firing",
                firing_since=now,
                count=count,
                value=verdict.value,
                details=dict(verdict.details),
                updated_at=now,
            )
        else:
            if alert.state == "firing" and alert.value == verdict.value:
                return  # nothing new to record
            updated = alert.evolve(
                count=count,
                value=verdict.value,
                details=dict(verdict.details),
                updated_at=now,
            )
        if fires:
            updated = updated.evolve(summary=self._summary(rule, updated))
        if alert is None or updated.state != alert.state:
            self._commit(outcome, updated, alert.state if alert else None, now)
        else:
            self.book.put(updated)
            outcome.updates.append(updated)

    def _commit(
        self, outcome: Outcome, alert: Alert, previous: str | None, now: float
    ) -> None:
        quiet = silenced(alert, self.silences, now)
        if quiet != alert.silenced or alert.updated_at != now:
            alert = alert.evolve(silenced=quiet, updated_at=now)
        self.book.put(alert)
        outcome.transitions.append(Transition(alert, previous, now))  # type: ignore[arg-type]
        outcome.updates.append(alert)

    def _summary(self, rule: Rule, alert: Alert) -> str:
        template = self._templates.get(rule.name)
        if template is None:
            template = self._templates[rule.name] = compile_summary(rule.summary)
        return render_summary(template, template_variables(alert))


def _baseline_key(change: SeriesChange, window: float) -> BaselineKey:
    return (
        change.dataset_id,
        change.source,
        change.event,
        change.metric,
        change.key,
        window,
    )


def _index(
    observations: Iterable[Observation],
) -> dict[tuple[str, str, str], Observation]:
    return {(o.event, o.metric, o.key): o for o in observations}


def _still_known(
    alert: Alert, current: dict[tuple[str, str, str], Observation]
) -> bool:
    if (alert.event, alert.metric, alert.key) in current:
        return True
    # A keyed series known to be gone is known; anything else missing is not.
    return bool(alert.key) and any(e == alert.event for e, _, _ in current)
