"""Checks that span tables: duplicates, references between keys, emptiness.

They run on the parsed (interpolated) data rather than on the models so they
are reported together with every field error, even when some tables are
invalid. Values of the wrong type are skipped here: validation reports them.
"""

from __future__ import annotations

from typing import Any

from dqwatch.config._problems import closest
from dqwatch.tomlpos import KeyPath

#: (path, message, fix)
Finding = tuple[KeyPath, str, str]


def cross_check(data: dict[str, Any]) -> list[Finding]:
    """Everything wrong between tables of ``data``."""
    findings = _duplicates(data, "dataset", "id", "dataset")
    findings += _duplicates(data, "discover", "business_id", "business")
    findings += _something_to_watch(data)
    findings += _routes_name_channels(data)
    return findings


def _tables(data: dict[str, Any], key: str) -> list[tuple[int, dict[str, Any]]]:
    value = data.get(key)
    if not isinstance(value, list):
        return []
    return [(i, table) for i, table in enumerate(value) if isinstance(table, dict)]


def _duplicates(
    data: dict[str, Any], key: str, id_key: str, noun: str
) -> list[Finding]:
    first_seen: dict[str, int] = {}
    findings: list[Finding] = []
    for index, table in _tables(data, key):
        value = table.get(id_key)
        if isinstance(value, bool) or not isinstance(value, str | int):
            continue
        normal = str(value).strip()
        if normal in first_seen:
            findings.append(
                (
                    (key, index, id_key),
                    f"{noun} {normal} is listed twice (also [[{key}]] number "
                    f"{first_seen[normal] + 1})",
                    f"remove one of the two [[{key}]] tables",
                )
            )
        else:
            first_seen[normal] = index
    return findings


def _something_to_watch(data: dict[str, Any]) -> list[Finding]:
    if data.get("dataset") or data.get("discover"):
        return []
    return [
        (
            ("dataset",),
            "no datasets to watch",
            'add a [[dataset]] table with id = "<dataset id>", '
            'or a [[discover]] table with business_id = "<business id>"',
        )
    ]


def _routes_name_channels(data: dict[str, Any]) -> list[Finding]:
    channels = data.get("channel")
    names = list(channels) if isinstance(channels, dict) else []
    findings: list[Finding] = []
    for index, route in _tables(data, "route"):
        targets = route.get("to")
        if not isinstance(targets, list):
            continue
        for position, name in enumerate(targets):
            if isinstance(name, str) and name not in names:
                fix = _channel_fix(name, names)
                findings.append(
                    (
                        ("route", index, "to", position),
                        f'no channel named "{name}"',
                        fix,
                    )
                )
    return findings


def _channel_fix(name: str, names: list[str]) -> str:
    match = closest(name, names)
    if match is not None:
        return f'did you mean "{match}"? Otherwise define [channel.{name}]'
    defined = f" or use one of: {', '.join(sorted(names))}" if names else ""
    return f"define a [channel.{name}] table{defined}"
