"""The summary a rule gets when its file gives none.

A default reads like a sentence about the metric the rule watches, e.g.
``"EMQ for {{ event }} fell from {{ before }} to {{ value }}"``, so a rule
file stays short and still produces alerts a person understands.
"""

from __future__ import annotations

from dqwatch.metrics import CATALOGUE

__all__ = ["default_summary"]

#: How a metric is named in a sentence; others get their name in words.
_LABELS: dict[str, str] = {
    "emq": "EMQ",
    "match_key_coverage": "Match key coverage",
    "match_key_acr": "ACR gain of match key",
    "event_coverage": "Event coverage",
    "event_coverage_goal": "Event coverage goal",
    "coverage_acr": "ACR gain of event coverage",
    "dedupe_browser": "Browser dedupe key coverage",
    "dedupe_server": "Server dedupe key coverage",
    "dedupe_overall": "Overall dedupe key coverage",
    "freshness": "Data freshness",
    "event_acr": "ACR gain of the event",
    "acr": "ACR",
    "offline_composite": "Offline composite score",
    "offline_match_key": "Offline match key score",
    "offline_frequency": "Offline frequency score",
    "offline_freshness": "Offline freshness score",
    "offline_match_key_coverage": "Offline match key coverage",
}

#: What one key of a keyed metric is, for "appeared" and "disappeared".
_KEY_NOUNS: dict[str, str] = {
    "match_key_coverage": "match key",
    "match_key_acr": "match key",
    "diagnostic": "diagnostic",
    "dedupe_browser": "dedupe key",
    "dedupe_server": "dedupe key",
    "dedupe_overall": "dedupe key",
    "offline_match_key_coverage": "offline match key",
}

_THRESHOLD_WORDS: dict[str, str] = {
    "below": "below {{ threshold }}",
    "below_goal": "below its goal of {{ threshold }}",
    "above": "above {{ threshold }}",
    "not_equals": "not {{ threshold }}",
}


def default_summary(kind: str, metric: str, condition: str | None = None) -> str:
    """The summary template for a ``kind`` rule on ``metric``.

    ``condition`` is the threshold key in use (``below``, ``below_goal``,
    ``above``, ``equals``, ``not_equals``); other kinds ignore it.
    """
    entry = CATALOGUE[metric]
    unit = entry.unit
    noun = _KEY_NOUNS.get(metric, "key")
    subject = _LABELS.get(metric) or metric.replace("_", " ").capitalize()
    if entry.keyed:
        subject += " of {{ key }}"
    subject += " for {{ event }}"

    if kind == "drop":
        return f"{subject} fell from {{{{ before }}}}{unit} to {{{{ value }}}}{unit}"
    if kind == "changed":
        return f"{subject} changed from {{{{ before }}}} to {{{{ value }}}}"
    if kind == "disappeared":
        return (
            f"{noun.capitalize()} {{{{ key }}}} is gone for {{{{ event }}}} "
            f"(was {{{{ before }}}}{unit})"
        )
    if kind == "appeared":
        return f"New {noun} for {{{{ event }}}}: {{{{ key }}}} ({{{{ value }}}}{unit})"
    words = _THRESHOLD_WORDS.get(condition or "")
    if words is None:
        return f"{subject} is {{{{ value }}}}{unit}"
    return f"{subject} is {{{{ value }}}}{unit}, {words}{unit}"
