"""The node types of ``dataset_quality`` and how a selection projects data.

Each node type knows its fields and which of them a bare mention returns
(its default projection). The defaults follow the documented examples:
a bare ``event_match_quality`` gives ``composite_score`` and
``match_key_feedback{identifier,coverage}`` only; diagnostics and per-key
ACR arrive only when asked for by name. Node type names appear in the
API's "nonexisting field" errors; the documented ones are used where the
reference gives them, the others are reasonable guesses.

Projection answers only what was asked, in the order it was asked, and
omits whatever has no data: a missing value, an object left empty, a list
left empty. It never writes ``null``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dqwatch.simulator.fields import Field, parse_fields

__all__ = [
    "OFFLINE_DEFAULT_FIELDS",
    "WEB_DEFAULT_FIELDS",
    "Node",
    "Plan",
    "SelectionError",
    "dataset_quality_node",
    "plan",
    "project",
]

#: What a bare ``web`` returns unless the scenario says otherwise. The API's
#: choice is not documented; the event name and its EMQ mirror the node's
#: original two fields.
WEB_DEFAULT_FIELDS = "event_name,event_match_quality"
#: What a bare ``offline`` returns: the documented "basic offline query".
OFFLINE_DEFAULT_FIELDS = (
    "event_name,composite,match_key{score,recommendation},frequency,freshness"
)

#: A resolved selection: (field name, sub-plan or None for a plain value).
Plan = tuple[tuple[str, "Plan | None"], ...]


@dataclass(frozen=True)
class Node:
    """A Graph node type: its fields (None for plain values) and defaults.

    ``opaque`` names fields the API accepts but whose shape is unknown; the
    simulator never has data for them, so they are always omitted.
    """

    name: str
    fields: Mapping[str, Node | None]
    defaults: str
    opaque: frozenset[str] = field(default_factory=frozenset)


class SelectionError(ValueError):
    """A selection names a field the node type does not have."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _value_node(name: str, *fields: str) -> Node:
    return Node(name, dict.fromkeys(fields), ",".join(fields))


_PERCENT_TEXT = ("percentage", "description")
_MATCH_KEY_ACR = _value_node("AdsPixelCAPIMatchKeyALYACR", *_PERCENT_TEXT)
_MATCH_KEY_COVERAGE = _value_node("AdsPixelCAPIMatchKeyCoverage", "percentage")
_MATCH_KEY = Node(
    "AdsPixelCAPIMatchKeyFeedback",
    {
        "identifier": None,
        "coverage": _MATCH_KEY_COVERAGE,
        "potential_aly_acr_increase": _MATCH_KEY_ACR,
    },
    "identifier,coverage",
)
_DIAGNOSTIC = _value_node(
    "AdsDatasetEMQDiagnostics",
    "name",
    "description",
    "solution",
    "percentage",
    "affected_event_count",
    "total_event_count",
)
_EMQ = Node(
    "AdsPixelCAPIEMQ",
    {
        "composite_score": None,
        "match_key_feedback": _MATCH_KEY,
        "diagnostics": _DIAGNOSTIC,
    },
    "composite_score,match_key_feedback",
)
_COVERAGE_ACR = _value_node("AdsDatasetCAPIEventCoverageALYACR", *_PERCENT_TEXT)
_EVENT_COVERAGE = Node(
    "AdsDatasetEventCoverage",
    {
        "percentage": None,
        "goal_percentage": None,
        "description": None,
        "potential_aly_acr_increase": _COVERAGE_ACR,
    },
    "percentage,goal_percentage,description",
)
_DEDUPE_VALUE = _value_node("AdsDatasetDedupKeyFeedbackValue", *_PERCENT_TEXT)
_DEDUPE = Node(
    "AdsDatasetDedupKeyFeedback",
    {
        "dedupe_key": None,
        "browser_events_with_dedupe_key": _DEDUPE_VALUE,
        "server_events_with_dedupe_key": _DEDUPE_VALUE,
        "overall_browser_coverage_from_dedupe_key": _DEDUPE_VALUE,
    },
    "dedupe_key,browser_events_with_dedupe_key,server_events_with_dedupe_key,"
    "overall_browser_coverage_from_dedupe_key",
)
_WEB_FIELDS: dict[str, Node | None] = {
    "event_name": None,
    "event_match_quality": _EMQ,
    "event_potential_aly_acr_increase": _value_node(
        "AdsPixelCAPIEventALYACR", *_PERCENT_TEXT
    ),
    "acr": _value_node("AdsDatasetCAPIACR", *_PERCENT_TEXT),
    "event_coverage": _EVENT_COVERAGE,
    "dedupe_key_feedback": _DEDUPE,
    "data_freshness": _value_node(
        "AdsDatasetDataFreshness", "upload_frequency", "description"
    ),
}
# The SDK lists these two since 2026 with undocumented shapes; the live API
# reportedly returns no spend, so they are accepted and never answered.
_WEB_OPAQUE = frozenset({"event_ad_sets", "event_spend"})

_SCORE = ("score", "recommendation")
_OFFLINE_COVERAGE = _value_node("AdsDatasetOfflineMatchKeyCoverage", "email", "phone")
_OFFLINE_FIELDS: dict[str, Node | None] = {
    "event_name": None,
    "composite": _value_node("AdsDatasetOfflineComposite", *_SCORE),
    "match_key": Node(
        "AdsDatasetOfflineMatchKey",
        {"score": None, "recommendation": None, "coverage": _OFFLINE_COVERAGE},
        "score,recommendation,coverage",
    ),
    "frequency": _value_node("AdsDatasetOfflineFrequency", *_SCORE),
    "freshness": _value_node("AdsDatasetOfflineFreshness", *_SCORE),
}


def dataset_quality_node(
    web_defaults: str = WEB_DEFAULT_FIELDS,
    offline_defaults: str = OFFLINE_DEFAULT_FIELDS,
) -> Node:
    """The root node of ``GET /dataset_quality`` with the given defaults."""
    web = Node("AdsPixelCAPIIntegrationQuality", _WEB_FIELDS, web_defaults, _WEB_OPAQUE)
    offline = Node("AdsDatasetOfflineQuality", _OFFLINE_FIELDS, offline_defaults)
    return Node("AdsDatasetQuality", {"web": web, "offline": offline}, "web")


def plan(node: Node, fields: tuple[Field, ...]) -> Plan:
    """Resolve ``fields`` against ``node``; an empty selection means its defaults.

    Raises :class:`SelectionError` with the API's wording for an unknown field.
    """
    if not fields:
        fields = parse_fields(node.defaults)
    steps: list[tuple[str, Plan | None]] = []
    for requested in fields:
        steps.append((requested.name, _plan_field(node, requested)))
    return tuple(steps)


def _plan_field(node: Node, requested: Field) -> Plan | None:
    if requested.name in node.opaque:
        return None
    if requested.name not in node.fields:
        raise SelectionError(
            f"(#100) Tried accessing nonexisting field ({requested.name}) "
            f"on node type ({node.name})"
        )
    child = node.fields[requested.name]
    if child is None:
        if requested.children is not None:
            raise SelectionError(
                f"(#100) Field {requested.name} on node type ({node.name}) "
                "is a value and cannot have sub-fields"
            )
        return None
    return plan(child, requested.children or ())


def project(data: Mapping[str, Any], steps: Plan) -> dict[str, Any]:
    """The part of ``data`` that ``steps`` asks for, without empty parts."""
    out: dict[str, Any] = {}
    for name, sub in steps:
        value = data.get(name)
        if value is None:
            continue
        if sub is None:
            out[name] = value
        elif isinstance(value, list):
            items = [p for p in (project(item, sub) for item in value) if p]
            if items:
                out[name] = items
        else:
            projected = project(value, sub)
            if projected:
                out[name] = projected
    return out
