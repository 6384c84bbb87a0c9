"""Comparing the alerts after a poll with the ones the poll expects, in words.

Each difference is one line a rule author can act on: an expected alert
that is missing (and what state it is in instead), an alert nobody
expected (with its summary, which usually says why it fired), or an
expected alert whose value, reference or summary differ.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from dqwatch.alerts import Alert, AlertBook
from dqwatch.config._fields import quote
from dqwatch.durations import format_duration
from dqwatch.model import Value
from dqwatch.ruletest._model import Expected, Poll

#: Values compare as equal within float rounding: 8.1 - 1.0 is 7.1.
_TOLERANCE = 1e-9


def differences(poll: Poll, book: AlertBook) -> list[str]:
    """Every way the open alerts in ``book`` differ from what ``poll`` expects."""
    found: list[str] = []
    for state, expected in (("firing", poll.firing), ("pending", poll.pending)):
        if expected is not None:
            found += _state_differences(state, expected, book)
    where = f"poll {poll.number} at {format_duration(poll.at)}"
    if poll.line is not None:
        where += f" (line {poll.line})"
    return [f"{where}: {difference}" for difference in found]


def alert_name(rule: str, dataset: str, event: str, key: str) -> str:
    """An alert as a person finds it: ``emq-drop dataset=1001 event=Purchase``.

    The source is left out: a rule's metric decides it.
    """
    parts = [rule]
    for label, text in (("dataset", dataset), ("event", event), ("key", key)):
        if text:
            shown = text if _plain(text) else quote(text)
            parts.append(f"{label}={shown}")
    return " ".join(parts)


def _state_differences(
    state: str, expected: Iterable[Expected], book: AlertBook
) -> list[str]:
    wanted = {e.fingerprint: e for e in expected}
    actual = {a.fingerprint: a for a in book if a.state == state}
    found = []
    for fp, expectation in wanted.items():
        alert = actual.get(fp)
        name = _expected_name(expectation)
        if alert is None:
            other = book.get(fp)
            instead = f" (it is {other.state})" if other is not None else ""
            found.append(f"missing {state} alert {name}{instead}")
        else:
            found += [f"{state} alert {name}: {d}" for d in _fields(expectation, alert)]
    for fp in sorted(set(actual) - set(wanted)):
        found.append(f"unexpected {state} alert {_found(actual[fp])}")
    return found


def _fields(expected: Expected, alert: Alert) -> list[str]:
    found = []
    if expected.value is not None and not _same(expected.value, alert.value):
        found.append(
            f"value is {_shown(alert.value)}, expected {_shown(expected.value)}"
        )
    if expected.before is not None and not _same(expected.before, alert.before):
        found.append(
            f"before is {_shown(alert.before)}, expected {_shown(expected.before)}"
        )
    if expected.summary is not None and expected.summary != alert.summary:
        found.append(
            f"summary is {quote(alert.summary)}, expected {quote(expected.summary)}"
        )
    return found


def _found(alert: Alert) -> str:
    name = alert_name(alert.rule, alert.dataset_id, alert.event, alert.key)
    if alert.summary:
        return f"{name}: {quote(alert.summary)}"
    if alert.value is not None:
        return f"{name} (value {_shown(alert.value)})"
    return name


def _expected_name(expected: Expected) -> str:
    return alert_name(expected.rule, expected.dataset, expected.event, expected.key)


def _same(expected: Value, actual: Value | None) -> bool:
    if isinstance(expected, float) and isinstance(actual, float):
        return math.isclose(expected, actual, rel_tol=0.0, abs_tol=_TOLERANCE)
    return expected == actual


def _shown(value: Value | None) -> str:
    if value is None:
        return "none"
    return f"{value:g}" if isinstance(value, float) else quote(value)


def _plain(text: str) -> bool:
    return all(c.isalnum() or c in "_-.*" for c in text)
