"""What a backtest found, and how it is shown to people and to scripts."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dqwatch.alerts import Alert, Transition
from dqwatch.builtin_alerts import TOKEN_INVALID, UNREACHABLE
from dqwatch.output import alert_json, shorten, table
from dqwatch.rules import RuleSet


@dataclass(frozen=True, slots=True)
class RuleTally:
    """How often one rule would have fired, and where."""

    rule: str
    severity: str
    #: Times an alert of this rule started firing.
    fired: int
    #: Distinct datasets those alerts were about (0 for the token alert).
    datasets: int
    #: Alerts of this rule still firing when the replay stopped.
    firing_at_end: int


@dataclass(frozen=True)
class BacktestReport:
    """The outcome of replaying ``[since, until)`` through a rule set.

    ``transitions`` are oldest first; alerts that already held at ``since``
    (thresholds on the values in force then) appear at ``since``.
    """

    since: float
    until: float
    polls: int
    failed_polls: int
    datasets: int
    transitions: list[Transition]
    open_alerts: list[Alert]
    rules: list[RuleTally]


def tally(
    rules: RuleSet, transitions: Sequence[Transition], still_open: Sequence[Alert]
) -> list[RuleTally]:
    """One tally per rule of the set, then the two built-in alerts."""
    severities = {rule.name: rule.severity for rule in rules.rules}
    severities |= {UNREACHABLE: "critical", TOKEN_INVALID: "critical"}
    fired: dict[str, int] = dict.fromkeys(severities, 0)
    datasets: dict[str, set[str]] = {name: set() for name in severities}
    for t in transitions:
        if t.state == "firing" and t.alert.rule in fired:
            fired[t.alert.rule] += 1
            if t.alert.dataset_id:
                datasets[t.alert.rule].add(t.alert.dataset_id)
    at_end = dict.fromkeys(severities, 0)
    for alert in still_open:
        if alert.state == "firing" and alert.rule in at_end:
            at_end[alert.rule] += 1
    return [
        RuleTally(name, sev, fired[name], len(datasets[name]), at_end[name])
        for name, sev in severities.items()
    ]


def backtest_table(report: BacktestReport) -> str:
    """The report for people: one line per alert change, then one per rule."""
    lines = [
        f"Backtest from {_when(report.since)} to {_when(report.until)} UTC: "
        f"{report.polls:,} polls of {report.datasets:,} datasets replayed, "
        f"{report.failed_polls:,} of them failed.",
        "",
    ]
    if report.transitions:
        header = ("TIME", "STATE", "SEVERITY", "RULE", "DATASET", "EVENT", "KEY")
        rows: list[tuple[str, ...]] = [(*header, "SUMMARY")]
        rows += [_transition_row(t) for t in report.transitions]
        lines += table(rows)
    else:
        lines.append("No alert would have changed state.")
    lines += ["", *table(_tally_rows(report.rules))]
    return "\n".join(lines)


def backtest_json(report: BacktestReport) -> str:
    """The report as one JSON document (``backtest --json``)."""
    document: dict[str, Any] = {
        "since": report.since,
        "until": report.until,
        "polls": report.polls,
        "failed_polls": report.failed_polls,
        "datasets": report.datasets,
        "alerts": [_transition_json(t) for t in report.transitions],
        "rules": [
            {
                "rule": r.rule,
                "severity": r.severity,
                "fired": r.fired,
                "datasets": r.datasets,
                "firing_at_end": r.firing_at_end,
            }
            for r in report.rules
        ],
        "open_at_end": [
            {
                "rule": a.rule,
                "state": a.state,
                "dataset": a.dataset_id or None,
                "source": a.source or None,
                "event": a.event or None,
                "key": a.key or None,
            }
            for a in report.open_alerts
        ],
    }
    return json.dumps(document, indent=2)


def _transition_json(transition: Transition) -> dict[str, Any]:
    alert = transition.alert
    return {
        "at": transition.at,
        "time": _when(transition.at, iso=True),
        **alert_json(transition),
        "dataset_name": alert.dataset_name or None,
        "metric": alert.metric or None,
    }


def _transition_row(transition: Transition) -> tuple[str, ...]:
    alert = transition.alert
    dataset = "-"
    if alert.dataset_id:
        name = alert.dataset_name or alert.dataset_id
        dataset = shorten(name, 30)
        if name != alert.dataset_id:
            dataset += f" ({alert.dataset_id})"
    state = alert.state + (" (silenced)" if alert.silenced else "")
    return (
        _when(transition.at),
        state,
        alert.severity,
        alert.rule,
        dataset,
        alert.event or "-",
        alert.key or "-",
        shorten(_describe(alert), 100),
    )


def _describe(alert: Alert) -> str:
    """The summary, or what a state without one means."""
    value = "" if alert.value is None else f" (value {_number(alert.value)})"
    if alert.state == "resolved":
        return f"resolved: {alert.summary or alert.rule}{value}"
    if alert.state == "pending":
        return f"condition holds, waiting for more polls{value}"
    if alert.state == "inactive":
        return f"cleared before it fired{value}"
    return alert.summary or alert.rule


def _tally_rows(tallies: Sequence[RuleTally]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = [
        ("RULE", "SEVERITY", "FIRED", "DATASETS", "FIRING AT END")
    ]
    for t in sorted(tallies, key=lambda t: (-t.fired, t.rule)):
        counts = (str(t.fired), str(t.datasets), str(t.firing_at_end))
        rows.append((t.rule, t.severity, *counts))
    return rows


def _number(value: object) -> str:
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{value:g}"
    return str(value)


def _when(ts: float, *, iso: bool = False) -> str:
    moment = datetime.fromtimestamp(ts, UTC)
    if iso:
        return moment.isoformat(timespec="seconds").replace("+00:00", "Z")
    return moment.strftime("%Y-%m-%d %H:%M:%S")
