"""Rendering command results for people (tables) and machines (JSON)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from dqwatch.alerts import Transition
from dqwatch.cycle import CycleReport
from dqwatch.poller import PollResult

#: Per (dataset, source): events with values, lowest EMQ or composite score.
Summaries = Mapping[tuple[str, str], tuple[int, float | None]]


def poll_json(result: PollResult, summaries: Summaries) -> dict[str, Any]:
    """One poll as the ``polls`` entry of ``poll-once --json``."""
    error = result.error
    events, lowest = summaries.get(_key(result), (0, None))
    return {
        "dataset": result.target.dataset_id,
        "name": result.target.name,
        "source": result.target.source,
        "outcome": result.outcome,
        "error_code": error.code if error else None,
        "error_subcode": error.subcode if error else None,
        "error_message": error.message if error else None,
        "events": events,
        "lowest_score": lowest,
        "changes": result.changed,
    }


def alert_json(transition: Transition) -> dict[str, Any]:
    """One alert change as the ``alerts`` entry of ``poll-once --json``."""
    alert = transition.alert
    return {
        "rule": alert.rule,
        "dataset": alert.dataset_id or None,
        "source": alert.source or None,
        "event": alert.event or None,
        "key": alert.key or None,
        "state": alert.state,
        "previous": transition.previous,
        "severity": alert.severity,
        "value": alert.value,
        "before": alert.before,
        "summary": alert.summary,
        "silenced": alert.silenced,
    }


def cycle_json(
    report: CycleReport, summaries: Summaries, transitions: Sequence[Transition]
) -> str:
    """The ``poll-once --json`` document."""
    document = {
        "started": report.started,
        "finished": report.finished,
        "polls": [poll_json(r, summaries) for r in report.results],
        "discovered": [
            {"dataset": d.id, "name": d.name, "business": d.business_id}
            for d in report.discovered
        ],
        "alerts": [alert_json(t) for t in transitions],
    }
    return json.dumps(document, indent=2)


def cycle_table(
    report: CycleReport, summaries: Summaries, transitions: Sequence[Transition]
) -> str:
    """The ``poll-once`` summary: one row per poll, then the alert changes."""
    rows = [_row(r, summaries) for r in report.results]
    header = ("DATASET", "NAME", "SOURCE", "EVENTS", "LOWEST SCORE", "OUTCOME")
    lines = table([header, *rows])
    failed = len(report.failures)
    lines.append("")
    lines.append(
        f"{len(report.results)} polls in {report.finished - report.started:.1f}s, "
        f"{failed} failed"
    )
    if transitions:
        lines.extend(["", *alert_lines(transitions)])
    return "\n".join(lines)


def alert_lines(transitions: Sequence[Transition]) -> list[str]:
    """Alert changes as a table: state, severity, rule, where, summary."""
    header = ("STATE", "SEVERITY", "RULE", "DATASET", "EVENT", "SUMMARY")
    rows = [header]
    for t in transitions:
        alert = t.alert
        state = alert.state + (" (silenced)" if alert.silenced else "")
        where = " ".join(x for x in (alert.event, alert.key) if x) or "-"
        summary = alert.summary or alert.rule
        if alert.state == "resolved":
            summary = f"resolved: {summary}"
        rows.append(
            (
                state,
                alert.severity,
                alert.rule,
                alert.dataset_id or "-",
                where,
                shorten(summary, 100),
            )
        )
    return table(rows)


def _key(result: PollResult) -> tuple[str, str]:
    return (result.target.dataset_id, result.target.source)


def _row(result: PollResult, summaries: Summaries) -> tuple[str, ...]:
    events, lowest = summaries.get(_key(result), (0, None))
    outcome = result.outcome
    if result.error is not None:
        outcome = (
            f"{outcome} ({result.error.code}: {shorten(result.error.message, 60)})"
        )
    return (
        result.target.dataset_id,
        shorten(result.target.name, 30),
        result.target.source,
        str(events),
        "-" if lowest is None else f"{lowest:.1f}",
        outcome,
    )


def table(rows: Sequence[Sequence[str]]) -> list[str]:
    """Left-aligned columns separated by two spaces; the last column unpadded."""
    if not rows:
        return []
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return [
        "  ".join(
            [*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[-1]]
        )
        for row in rows
    ]


def shorten(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, ending in an ellipsis when cut."""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"
