"""Whether a rule's keys fit together: its kind, its metric, its condition.

These checks read the raw ``[[rule]]`` tables, not the validated models, so
they run even when another key of the same rule has the wrong type, and the
author sees every problem at once. A value of the wrong type, or an unknown
kind or metric, is skipped here: :mod:`dqwatch.rules._table` reports it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeGuard

from dqwatch.config._fields import quote
from dqwatch.metrics import CATALOGUE, Metric
from dqwatch.tomlpos import KeyPath

__all__ = ["Finding", "fit_findings"]

#: (path, what is wrong, the fix)
Finding = tuple[KeyPath, str, str]

#: The keys only one kind of rule takes.
_KIND_KEYS: dict[str, tuple[str, ...]] = {
    "threshold": ("below", "above", "equals", "not_equals"),
    "drop": ("by", "by_percent", "compare_to"),
    "changed": ("from",),
    "disappeared": (),
    "appeared": (),
}
_KEYED = ", ".join(name for name, metric in CATALOGUE.items() if metric.keyed)


def fit_findings(data: dict[str, Any]) -> list[Finding]:
    """Every misfit in the ``[[rule]]`` tables of one parsed rule file."""
    tables = data.get("rule")
    if not isinstance(tables, list):
        return []
    findings: list[Finding] = []
    for index, table in enumerate(tables):
        if isinstance(table, dict):
            findings += [
                (("rule", index, *at), message, fix)
                for at, message, fix in _table_findings(table)
            ]
    return findings


def _table_findings(table: dict[str, Any]) -> list[Finding]:
    kind, name = table.get("kind"), table.get("metric")
    if not isinstance(kind, str) or kind not in _KIND_KEYS:
        return []
    findings = _other_kinds_keys(table, kind)
    metric = CATALOGUE.get(name) if isinstance(name, str) else None
    if metric is None:
        return findings

    findings += _BY_KIND[kind](table, metric)
    if "keys" in table and not metric.keyed and kind not in _KEY_KINDS:
        findings.append(
            (("keys",), f"{metric.name} has no keys to filter", "remove keys")
        )
    return findings


def _other_kinds_keys(table: dict[str, Any], kind: str) -> list[Finding]:
    findings: list[Finding] = []
    for key in table:
        owner = next((k for k, keys in _KIND_KEYS.items() if key in keys), kind)
        if owner != kind:
            findings.append(
                (
                    (key,),
                    f"applies to {owner} rules, not to {kind} rules",
                    f'remove it, or use kind = "{owner}"',
                )
            )
    return findings


# -- threshold ------------------------------------------------------------------


def _threshold(table: dict[str, Any], metric: Metric) -> list[Finding]:
    given = [key for key in _KIND_KEYS["threshold"] if key in table]
    if not given:
        return [
            (
                (),
                "a threshold rule needs a condition",
                "add one of below, above, equals or not_equals, e.g. below = 7.0",
            )
        ]
    findings: list[Finding] = []
    if len(given) > 1:
        findings.append(
            (
                (given[1],),
                f"a threshold rule takes one condition, not {' and '.join(given)}",
                "keep one, and write another rule for the other",
            )
        )
    for key in given:
        check = _ordered if key in ("below", "above") else _equal
        findings += check(key, table[key], metric)
    return findings


def _ordered(key: str, value: object, metric: Metric) -> list[Finding]:
    """``below``/``above``: a number in the metric's range, or the coverage goal."""
    if key == "below" and value == "goal":
        if metric.name == "event_coverage":
            return []
        return [
            (
                (key,),
                'below = "goal" compares with the API\'s coverage goal, which '
                "only event_coverage has",
                'use metric = "event_coverage", or a number',
            )
        ]
    if key == "below" and isinstance(value, str):
        return [
            (
                (key,),
                f'{quote(value)} is neither a number nor "goal"',
                "write a number without quotes, e.g. below = 7.0",
            )
        ]
    if not _is_number(value):
        return []
    if metric.kind == "text":
        return [
            (
                (key,),
                f"{key} compares numbers, and {metric.name} is text",
                'use equals or not_equals with a string, e.g. not_equals = "real_time"',
            )
        ]
    return _within(key, value, metric)


def _equal(key: str, value: object, metric: Metric) -> list[Finding]:
    """``equals``/``not_equals``: a value of the metric's own type."""
    if metric.kind == "text" and _is_number(value):
        return [
            (
                (key,),
                f"{metric.name} is text, and {value} is a number",
                f'write it in quotes, e.g. {key} = "real_time"',
            )
        ]
    if metric.kind == "number" and isinstance(value, str):
        return [
            (
                (key,),
                f"{metric.name} is a number, and {quote(value)} is text",
                f"write a number without quotes, e.g. {key} = {metric.high:g}",
            )
        ]
    if metric.kind == "number" and _is_number(value):
        return _within(key, value, metric)
    return []


def _within(key: str, value: float, metric: Metric) -> list[Finding]:
    if metric.low <= value <= metric.high:
        return []
    span = f"{metric.low:g} to {metric.high:g}"
    return [
        (
            (key,),
            f"{value:g} is outside the range of {metric.name} ({span})",
            f"use a number from {span}",
        )
    ]


# -- drop -----------------------------------------------------------------------


def _drop(table: dict[str, Any], metric: Metric) -> list[Finding]:
    findings: list[Finding] = []
    if metric.kind != "number":
        findings.append(
            (
                ("metric",),
                f"{metric.name} is text, and drop rules watch numbers",
                'use kind = "changed" for text, or a number metric such as "emq"',
            )
        )
    given = [key for key in ("by", "by_percent") if key in table]
    if not given:
        findings.append(
            (
                (),
                "a drop rule needs by or by_percent",
                "add by = 1.0 (a fall of at least 1.0) or by_percent = 15 "
                "(a fall of at least 15%)",
            )
        )
    elif len(given) == 2:
        findings.append((("by_percent",), "is set together with by", "keep one"))
    if metric.kind == "number":
        findings += _fall("by", table.get("by"), metric.high - metric.low)
    findings += _fall("by_percent", table.get("by_percent"), 100.0)
    return findings


def _fall(key: str, value: object, largest: float) -> list[Finding]:
    if not _is_number(value) or 0 < value <= largest:
        return []
    return [
        (
            (key,),
            f"{value:g} is not a possible fall",
            f"use a number above 0 and at most {largest:g}",
        )
    ]


# -- changed, appeared, disappeared ---------------------------------------------


def _changed(table: dict[str, Any], metric: Metric) -> list[Finding]:
    findings: list[Finding] = []
    if metric.kind != "text":
        findings.append(
            (
                ("metric",),
                f"{metric.name} is a number, and changed rules watch text (freshness)",
                'use kind = "drop" or "threshold" for numbers',
            )
        )
    if "from" not in table:
        findings.append(
            (
                ("from",),
                "is missing",
                'add from = "real_time": the value whose loss should fire',
            )
        )
    return findings


def _keyed(table: dict[str, Any], metric: Metric) -> list[Finding]:
    if metric.keyed:
        return []
    kind = table["kind"]
    return [
        (
            ("metric",),
            f"{metric.name} has no keys, and {kind} rules watch keys that come and go",
            f"use a keyed metric: {_KEYED}",
        )
    ]


def _is_number(value: object) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


_KEY_KINDS = ("appeared", "disappeared")
_BY_KIND: dict[str, Callable[[dict[str, Any], Metric], list[Finding]]] = {
    "threshold": _threshold,
    "drop": _drop,
    "changed": _changed,
    "appeared": _keyed,
    "disappeared": _keyed,
}
