"""What each kind of rule says about one change of one series.

``Verdict.holds`` is True (the condition holds), False (it does not) or
None (unknown: the value is absent); the evaluator turns verdicts into
alert transitions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from dqwatch.alerts import Alert
from dqwatch.model import Details, Value
from dqwatch.rules import Rule, matches_any
from dqwatch.store import SeriesChange

#: Comparisons allow for float rounding: 8.1 - 7.1 is a drop of 1.0.
EPSILON = 1e-9


@dataclass(frozen=True, slots=True)
class Verdict:
    """A rule's judgement of one series in one poll."""

    holds: bool | None
    value: Value | None = None
    reference: Value | None = None
    threshold: Value | None = None
    details: Details = field(default_factory=dict)


def admits(rule: Rule, change: SeriesChange, owner: str) -> bool:
    """Whether a rule's filters (events, keys, owners, datasets) take this series."""
    if rule.events and not matches_any(rule.events, change.event):
        return False
    if rule.keys and not matches_any(rule.keys, change.key):
        return False
    if rule.owners and owner not in rule.owners:
        return False
    return not rule.datasets or matches_any(rule.datasets, change.dataset_id)


def compare(rule: Rule, value: Value) -> tuple[Value | None, bool]:
    if rule.below is not None:
        return rule.below, number(value) < number(rule.below) - EPSILON
    if rule.above is not None:
        return rule.above, number(value) > rule.above + EPSILON
    if rule.equals is not None:
        return rule.equals, _same(value, rule.equals)
    if rule.not_equals is not None:
        return rule.not_equals, not _same(value, rule.not_equals)
    return None, False


def _same(a: Value, b: Value) -> bool:
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    return math.isclose(a, b, abs_tol=EPSILON)


def number(value: Value) -> float:
    return value if isinstance(value, float) else math.nan


def _present(value: Value | None) -> bool:
    return value is not None and not (isinstance(value, float) and value == 0.0)


def disappeared(change: SeriesChange, alert: Alert | None) -> Verdict:
    if alert is not None:
        return Verdict(not _present(change.after), change.after, alert.before)
    holds = _present(change.before) and not _present(change.after)
    return Verdict(holds, change.after, change.before, None, change.details)


def appeared(change: SeriesChange, alert: Alert | None) -> Verdict:
    if alert is not None:
        return Verdict(
            change.after is not None, change.after, alert.before, None, change.details
        )
    holds = change.before is None and change.after is not None
    return Verdict(holds, change.after, change.before, None, change.details)


def changed(rule: Rule, change: SeriesChange, alert: Alert | None) -> Verdict:
    if change.after is None:
        return Verdict(None)
    left = change.after != rule.from_value
    if alert is not None:
        return Verdict(left, change.after, rule.from_value, None, change.details)
    holds = change.before == rule.from_value and left
    return Verdict(holds, change.after, rule.from_value, None, change.details)
