"""The metric catalogue, mapped onto the API's event objects.

The simulator keeps each event as the object the API would return with
every field asked for (``{"event_name": ..., "event_match_quality": {...}}``).
Scenarios, :meth:`Simulator.set_value` and :meth:`Simulator.remove` speak in
the catalogue names of DESIGN.md 2.4 (``emq``, ``match_key_coverage`` with a
key, ``offline_composite``...); this module translates one into the other,
adds the texts the API sends next to each number, and prunes what a removal
leaves empty so absent data is absent, never an empty object.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from dqwatch.simulator import texts

__all__ = [
    "METRICS",
    "TEXTED_METRICS",
    "MetricSpec",
    "remove_metric",
    "set_diagnostic",
    "set_metric",
    "set_text",
]

Event = dict[str, Any]


@dataclass(frozen=True)
class MetricSpec:
    """One catalogue metric: its source, whether it has a key, its value kind."""

    name: str
    source: Literal["web", "offline"]
    keyed: bool = False
    kind: Literal["percent", "score", "text"] = "percent"
    #: When not empty, the only keys the metric accepts.
    keys: tuple[str, ...] = ()


METRICS: dict[str, MetricSpec] = {
    spec.name: spec
    for spec in (
        MetricSpec("emq", "web", kind="score"),
        MetricSpec("match_key_coverage", "web", keyed=True),
        MetricSpec("match_key_acr", "web", keyed=True),
        MetricSpec("diagnostic", "web", keyed=True),
        MetricSpec("event_coverage", "web"),
        MetricSpec("event_coverage_goal", "web"),
        MetricSpec("coverage_acr", "web"),
        MetricSpec("dedupe_browser", "web", keyed=True),
        MetricSpec("dedupe_server", "web", keyed=True),
        MetricSpec("dedupe_overall", "web", keyed=True),
        MetricSpec("freshness", "web", kind="text"),
        MetricSpec("event_acr", "web"),
        MetricSpec("acr", "web"),
        MetricSpec("offline_composite", "offline", kind="score"),
        MetricSpec("offline_match_key", "offline", kind="score"),
        MetricSpec("offline_frequency", "offline", kind="score"),
        MetricSpec("offline_freshness", "offline", kind="score"),
        MetricSpec(
            "offline_match_key_coverage", "offline", keyed=True, keys=("email", "phone")
        ),
    )
}

_DEDUPE_FIELDS = {
    "dedupe_browser": "browser_events_with_dedupe_key",
    "dedupe_server": "server_events_with_dedupe_key",
    "dedupe_overall": "overall_browser_coverage_from_dedupe_key",
}
_OFFLINE_FIELDS = {
    "offline_composite": "composite",
    "offline_match_key": "match_key",
    "offline_frequency": "frequency",
    "offline_freshness": "freshness",
}
_EMQ_LIST = ("event_match_quality", "match_key_feedback")
#: Keys that name a list entry; an entry left with only its name is removed.
_ENTRY_NAMES = frozenset({"identifier", "name", "dedupe_key"})
#: A diagnostic's event count when the scenario gives none.
DEFAULT_TOTAL_EVENTS = 1000


def set_metric(event: Event, metric: str, key: str | None, value: Any) -> None:
    """Give ``metric`` (with ``key``) the ``value`` in ``event``, texts included.

    The caller has validated metric, key and value against :data:`METRICS`.
    """
    name = event["event_name"]
    if metric in _DEDUPE_FIELDS:
        field = _DEDUPE_FIELDS[metric]
        entry = _entry(event, ("dedupe_key_feedback",), "dedupe_key", key)
        entry[field] = {"percentage": value, "description": texts.dedupe_text(field)}
    elif metric in _OFFLINE_FIELDS:
        _set_offline(event, _OFFLINE_FIELDS[metric], value)
    else:
        _SETTERS[metric](event, name, key, value)


def remove_metric(event: Event, metric: str, key: str | None) -> None:
    """Make ``metric`` (one ``key`` of it, or every key when None) absent."""
    if metric in _REMOVE_PATHS:
        for path in _REMOVE_PATHS[metric]:
            _pop_path(event, *path)
    elif metric in _REMOVE_ENTRIES:
        path, id_key, field = _REMOVE_ENTRIES[metric]
        if field is None:
            _drop_entries(event, path, id_key, key)
        else:
            _drop_from_entries(event, path, id_key, key, field)
    elif metric in _OFFLINE_FIELDS:
        _remove_offline(event, _OFFLINE_FIELDS[metric])
    else:  # offline_match_key_coverage
        coverage = event.get("match_key", {}).get("coverage", {})
        for name in [key] if key else list(coverage):
            coverage.pop(name, None)
    _prune(event)


# -- setters ----------------------------------------------------------------

_Setter = Callable[[Event, str, "str | None", Any], None]


def _set_emq(event: Event, name: str, key: str | None, value: Any) -> None:
    event.setdefault("event_match_quality", {})["composite_score"] = value


def _set_match_key_coverage(
    event: Event, name: str, key: str | None, value: Any
) -> None:
    entry = _entry(
        event, ("event_match_quality", "match_key_feedback"), "identifier", key
    )
    entry["coverage"] = {"percentage": value}


def _set_match_key_acr(event: Event, name: str, key: str | None, value: Any) -> None:
    entry = _entry(
        event, ("event_match_quality", "match_key_feedback"), "identifier", key
    )
    assert key is not None
    entry["potential_aly_acr_increase"] = {
        "percentage": value,
        "description": texts.match_key_acr_text(name, key, value),
    }


def _set_diagnostic(event: Event, name: str, key: str | None, value: Any) -> None:
    set_diagnostic(event, str(key), value)


def set_diagnostic(
    event: Event,
    name: str,
    percentage: float,
    *,
    description: str | None = None,
    solution: str | None = None,
    total: int | None = None,
    affected: int | None = None,
) -> None:
    """Add or update the EMQ diagnostic ``name``; texts and counts are optional.

    Without texts, known diagnostics get the API's wording and others a
    generic one; without counts, the affected count follows the percentage.
    """
    entry = _entry(event, ("event_match_quality", "diagnostics"), "name", name)
    default_description, default_solution = texts.diagnostic_texts(name)
    entry["description"] = description or entry.get("description", default_description)
    entry["solution"] = solution or entry.get("solution", default_solution)
    entry["percentage"] = percentage
    total = (
        total
        if total is not None
        else entry.get("total_event_count", DEFAULT_TOTAL_EVENTS)
    )
    entry["affected_event_count"] = (
        affected if affected is not None else round(total * percentage / 100)
    )
    entry["total_event_count"] = total


def _set_event_coverage(event: Event, name: str, key: str | None, value: Any) -> None:
    coverage = event.setdefault("event_coverage", {})
    coverage["percentage"] = value
    coverage.setdefault("description", texts.EVENT_COVERAGE)


def _set_coverage_goal(event: Event, name: str, key: str | None, value: Any) -> None:
    event.setdefault("event_coverage", {})["goal_percentage"] = value


def _set_coverage_acr(event: Event, name: str, key: str | None, value: Any) -> None:
    event.setdefault("event_coverage", {})["potential_aly_acr_increase"] = {
        "percentage": value,
        "description": texts.coverage_acr_text(name, value),
    }


def _set_freshness(event: Event, name: str, key: str | None, value: Any) -> None:
    event["data_freshness"] = {
        "upload_frequency": value,
        "description": texts.FRESHNESS,
    }


def _set_event_acr(event: Event, name: str, key: str | None, value: Any) -> None:
    event["event_potential_aly_acr_increase"] = {
        "percentage": value,
        "description": texts.event_acr_text(name, value),
    }


def _set_acr(event: Event, name: str, key: str | None, value: Any) -> None:
    event["acr"] = {"percentage": value, "description": texts.acr_text(name, value)}


def _set_offline_coverage(event: Event, name: str, key: str | None, value: Any) -> None:
    event.setdefault("match_key", {}).setdefault("coverage", {})[key] = value


def _set_offline(event: Event, field: str, value: Any) -> None:
    target = event.setdefault(field, {})
    target["score"] = value
    target["recommendation"] = texts.offline_text(field, value)


_SETTERS: dict[str, _Setter] = {
    "emq": _set_emq,
    "match_key_coverage": _set_match_key_coverage,
    "match_key_acr": _set_match_key_acr,
    "diagnostic": _set_diagnostic,
    "event_coverage": _set_event_coverage,
    "event_coverage_goal": _set_coverage_goal,
    "coverage_acr": _set_coverage_acr,
    "freshness": _set_freshness,
    "event_acr": _set_event_acr,
    "acr": _set_acr,
    "offline_match_key_coverage": _set_offline_coverage,
}


# -- texts ------------------------------------------------------------------

#: Metrics that carry a description (web) or recommendation (offline).
TEXTED_METRICS = frozenset(
    {
        "match_key_acr",
        "event_coverage",
        "coverage_acr",
        "freshness",
        "event_acr",
        "acr",
        *_DEDUPE_FIELDS,
        *_OFFLINE_FIELDS,
    }
)


def set_text(event: Event, metric: str, key: str | None, text: str) -> bool:
    """Replace the text that goes with a metric; False if the metric is absent."""
    holder = _text_holder(event, metric, key)
    if holder is None:
        return False
    holder["recommendation" if metric in _OFFLINE_FIELDS else "description"] = text
    return True


def _text_holder(event: Event, metric: str, key: str | None) -> Event | None:
    if metric in _DEDUPE_FIELDS:
        entry = _find(_entries(event, ("dedupe_key_feedback",)), "dedupe_key", key)
        return entry.get(_DEDUPE_FIELDS[metric]) if entry else None
    if metric in _OFFLINE_FIELDS:
        return event.get(_OFFLINE_FIELDS[metric])
    if metric == "match_key_acr":
        entry = _find(_entries(event, _EMQ_LIST), "identifier", key)
        return entry.get("potential_aly_acr_increase") if entry else None
    if metric == "coverage_acr":
        coverage = event.get("event_coverage", {})
        return coverage.get("potential_aly_acr_increase")  # type: ignore[no-any-return]
    place = {
        "event_coverage": "event_coverage",
        "freshness": "data_freshness",
        "event_acr": "event_potential_aly_acr_increase",
        "acr": "acr",
    }
    return event.get(place[metric]) if metric in place else None


def _find(entries: list[Event], id_key: str, key: str | None) -> Event | None:
    return next((e for e in entries if e.get(id_key) == key), None)


# -- removers ---------------------------------------------------------------


def _pop_path(event: Event, *path: str) -> None:
    """Delete the last key of ``path`` if every step before it exists."""
    node: Any = event
    for step in path[:-1]:
        node = node.get(step)
        if not isinstance(node, dict):
            return
    node.pop(path[-1], None)


#: Unkeyed web metrics: the paths a removal deletes.
_REMOVE_PATHS: dict[str, tuple[tuple[str, ...], ...]] = {
    "emq": (("event_match_quality", "composite_score"),),
    "event_coverage": (
        ("event_coverage", "percentage"),
        ("event_coverage", "description"),
    ),
    "event_coverage_goal": (("event_coverage", "goal_percentage"),),
    "coverage_acr": (("event_coverage", "potential_aly_acr_increase"),),
    "freshness": (("data_freshness",),),
    "event_acr": (("event_potential_aly_acr_increase",),),
    "acr": (("acr",),),
}
#: Keyed web metrics: (list path, naming key, field to delete or None for
#: the whole entry).
_REMOVE_ENTRIES: dict[str, tuple[tuple[str, ...], str, str | None]] = {
    "match_key_coverage": (_EMQ_LIST, "identifier", "coverage"),
    "match_key_acr": (_EMQ_LIST, "identifier", "potential_aly_acr_increase"),
    "diagnostic": (("event_match_quality", "diagnostics"), "name", None),
    **{
        metric: (("dedupe_key_feedback",), "dedupe_key", field)
        for metric, field in _DEDUPE_FIELDS.items()
    },
}


def _remove_offline(event: Event, field: str) -> None:
    if field != "match_key":
        event.pop(field, None)
        return
    # The coverage inside match_key is a metric of its own and stays.
    _pop_path(event, "match_key", "score")
    _pop_path(event, "match_key", "recommendation")


# -- list entries -----------------------------------------------------------


def _entry(event: Event, path: tuple[str, ...], id_key: str, key: str | None) -> Event:
    """The list entry named ``key`` under ``path``, created when missing."""
    node: Any = event
    for step in path[:-1]:
        node = node.setdefault(step, {})
    entries: list[Event] = node.setdefault(path[-1], [])
    for entry in entries:
        if entry.get(id_key) == key:
            return entry
    created: Event = {id_key: key}
    entries.append(created)
    return created


def _entries(event: Event, path: tuple[str, ...]) -> list[Event]:
    node: Any = event
    for step in path:
        node = node.get(step) if isinstance(node, dict) else None
    return node if isinstance(node, list) else []


def _drop_from_entries(
    event: Event, path: tuple[str, ...], id_key: str, key: str | None, field: str
) -> None:
    for entry in _entries(event, path):
        if key is None or entry.get(id_key) == key:
            entry.pop(field, None)


def _drop_entries(
    event: Event, path: tuple[str, ...], id_key: str, key: str | None
) -> None:
    entries = _entries(event, path)
    entries[:] = [e for e in entries if key is not None and e.get(id_key) != key]


def _prune(node: Any) -> bool:
    """Remove empty objects, empty lists and name-only entries; True if empty."""
    if isinstance(node, dict):
        for name in list(node):
            if name != "event_name" and _prune(node[name]):
                del node[name]
        return not node
    if isinstance(node, list):
        node[:] = [item for item in node if not _prune(item) and not _name_only(item)]
        return not node
    return False


def _name_only(item: Any) -> bool:
    return isinstance(item, dict) and set(item) <= _ENTRY_NAMES
