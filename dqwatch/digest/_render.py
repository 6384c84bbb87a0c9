"""Rendering a digest: subject, plain text and HTML from three templates.

The templates get ready-made text (numbers rounded, times in UTC) and the
geometry of each trend chart, so they only lay things out and anyone can
override them without writing Python. The chart is markup the mail
clients people use render as it is: in HTML a row of table cells whose
height and colour follow the score, in text a line of Unicode blocks. No
SVG and no ``data:`` images, which Gmail and Outlook strip or block.

Escaping is the template set's: the HTML part is rendered with autoescape,
so a hostile dataset or event name arrives as text, never as markup.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from dqwatch.alerts import EVENTS_MANAGER_URL, Alert
from dqwatch.digest._build import DAY
from dqwatch.digest._model import DatasetDigest, Digest, EventDigest, Recommendation
from dqwatch.notify.templates import Templates

__all__ = [
    "TEMPLATES",
    "chart_range",
    "digest_variables",
    "render_digest",
    "sparkline",
]

#: Template names: subject, text part, HTML part.
TEMPLATES = ("digest_subject.txt.j2", "digest.txt.j2", "digest.html.j2")

#: Scores (EMQ, offline composite) are out of 10.
SCORE_SCALE = 10.0
#: The smallest range of scores a chart spans (see ``chart_range``).
CHART_SPAN = 3.0
BAR_HEIGHT = 30  # pixels of the tallest bar
_BAR_FLOOR = 3  # pixels of the shortest bar that has a value
#: Seven heights, so a flat series sits mid-block rather than on a boundary
#: where a 0.1 wobble would flip it between two heights.
_BLOCKS = "▁▂▃▄▅▆▇"
_MISSING_BLOCK = "·"
#: Bar colours by score: dqwatch's own bands, not Meta's labels.
_BANDS = ((8.0, "#2e7d32"), (6.0, "#f9a825"), (-math.inf, "#c62828"))
_MISSING_COLOUR = "#cfd8dc"
_ACTIONS = {
    "match_key_acr": "send the {key} match key",
    "coverage_acr": (
        "send more of these events from the server, with deduplication keys"
    ),
    "event_acr": "send this event through the Conversions API",
}


def render_digest(digest: Digest, templates: Templates) -> tuple[str, str, str]:
    """The digest as (subject, text, html), from the digest templates.

    The subject is folded onto one line, whatever the template or the data
    hold, so it is always a safe mail header.
    """
    variables = digest_variables(digest)
    subject_name, text_name, html_name = TEMPLATES
    subject = templates.render("text", subject_name, variables)
    text = templates.render("text", text_name, variables)
    html = templates.render("html", html_name, variables)
    return " ".join(subject.split()), text.rstrip() + "\n", html


def digest_variables(digest: Digest) -> dict[str, Any]:
    """What the digest templates see (documented in docs/digests.md)."""
    labels = [_point(ts, digest) for ts in digest.sample_times]
    datasets = [_dataset(dataset, labels) for dataset in digest.datasets]
    return {
        "owner": _owner_label(digest.owner),
        "all_owners": digest.owner is None,
        "period": {
            "start": _point(digest.since, digest),
            "end": _point(digest.now, digest),
            "days": _days(digest.now - digest.since),
            "start_time": _when(digest.since),
            "end_time": _when(digest.now),
        },
        "samples": labels,
        "datasets": datasets,
        "firing": [a for d in datasets for a in d["firing"]],
        "resolved": [a for d in datasets for a in d["resolved"]],
        "recommendations": [_recommendation(r) for r in digest.recommendations],
        "counts": {
            "datasets": len(datasets),
            "events": sum(len(d["events"]) for d in datasets),
            "firing": len(digest.firing),
            "resolved": len(digest.resolved),
        },
    }


def _owner_label(owner: str | None) -> str:
    if owner is None:
        return "every owner"
    return owner or "datasets without an owner"


def _dataset(dataset: DatasetDigest, labels: list[str]) -> dict[str, Any]:
    return {
        "id": dataset.id,
        "name": dataset.name,
        "owner": dataset.owner,
        "url": EVENTS_MANAGER_URL.format(dataset.id),
        "events": [_event(event, labels) for event in dataset.events],
        "firing": [_alert(alert, dataset) for alert in dataset.firing],
        "resolved": [_alert(alert, dataset) for alert in dataset.resolved],
    }


def _event(event: EventDigest, labels: list[str]) -> dict[str, Any]:
    return {
        "name": event.event,
        "source": event.source,
        "label": event.event if event.source == "web" else f"{event.event} (offline)",
        "score_name": "EMQ" if event.source == "web" else "offline score",
        "score": _number(event.score),
        "start": _number(event.start),
        "change": _change(event.change, event.start),
        "sparkline": sparkline(event.trend),
        "bars": _bars(event.trend, labels),
        "coverage": _percent(event.coverage),
        "goal": _percent(event.coverage_goal),
        "below_goal": event.below_goal,
        "freshness": (event.freshness or "").replace("_", " "),
        "real_time": event.freshness == "real_time",
    }


def _alert(alert: Alert, dataset: DatasetDigest) -> dict[str, Any]:
    what = alert.event + (f" / {alert.key}" if alert.key else "")
    return {
        "rule": alert.rule,
        "severity": alert.severity,
        "summary": alert.summary or f"{alert.rule}: {what or dataset.name}",
        "event": alert.event,
        "key": alert.key,
        "dataset": dataset.id,
        "dataset_name": dataset.name,
        "since": _when(alert.firing_since or alert.active_since),
        "resolved_at": _when(alert.resolved_at) if alert.resolved_at else "",
        "silenced": alert.silenced,
    }


def _recommendation(rec: Recommendation) -> dict[str, Any]:
    action = _ACTIONS.get(rec.metric, "see below")
    return {
        "action": action.format(key=rec.key.replace("_", " ")),
        "percentage": _percent(rec.percentage),
        "description": rec.description,
        "dataset": rec.dataset_id,
        "dataset_name": rec.dataset_name,
        "event": rec.event,
        "metric": rec.metric,
        "key": rec.key,
    }


def sparkline(values: tuple[float | None, ...]) -> str:
    """Scores as Unicode blocks, one per sample; ``·`` where none was known.

    The blocks span the series' own range (see :func:`chart_range`).
    """
    low, high = chart_range(values)
    top = len(_BLOCKS) - 1
    return "".join(
        _MISSING_BLOCK
        if value is None
        else _BLOCKS[round(_level(value, low, high) * top)]
        for value in values
    )


def chart_range(values: tuple[float | None, ...]) -> tuple[float, float]:
    """The scores a chart spans: the series' range widened to CHART_SPAN points.

    On the full 0-10 scale a one-point drop is one block of eight, or a few
    pixels; spanning the series' own range makes a real drop plain to see,
    while the minimum span keeps a 0.1 wobble flat. Kept within 0-10.
    """
    known = [value for value in values if value is not None] or [SCORE_SCALE / 2]
    middle = (min(known) + max(known)) / 2
    half = max(max(known) - min(known), CHART_SPAN) / 2
    low, high = middle - half, middle + half
    if low < 0:
        low, high = 0.0, high - low
    if high > SCORE_SCALE:
        low, high = max(0.0, low - (high - SCORE_SCALE)), SCORE_SCALE
    return low, high


def _level(value: float, low: float, high: float) -> float:
    """Where ``value`` sits between low (0.0) and high (1.0)."""
    return min(1.0, max(0.0, (value - low) / (high - low)))


def _bars(values: tuple[float | None, ...], days: list[str]) -> list[dict[str, Any]]:
    """The HTML chart: per sample a bar's pixel height, the gap above it, its
    colour and a caption (the packaged template leaves captions out: at
    eight bars per event they would weigh more than the chart)."""
    low, high = chart_range(values)
    bars = []
    for value, day in zip(values, days, strict=True):
        if value is None:
            height, colour, title = 1, _MISSING_COLOUR, f"{day}: -"
        else:
            share = _level(value, low, high)
            height = _BAR_FLOOR + round(share * (BAR_HEIGHT - _BAR_FLOOR))
            colour = next(colour for floor, colour in _BANDS if value >= floor)
            title = f"{day}: {value:.1f}"
        gap = BAR_HEIGHT - height
        bars.append({"height": height, "gap": gap, "colour": colour, "title": title})
    return bars


def _number(value: float | None) -> str:
    """A score as people read it: one decimal, empty when unknown."""
    return "" if value is None else f"{value:.1f}"


def _change(value: float | None, start: float | None) -> str:
    """How the score moved over the period, in words: "down 1.9 from 7.8"."""
    if value is None or start is None:
        return ""
    if abs(value) < 0.05:
        return "unchanged"
    direction = "up" if value > 0 else "down"
    return f"{direction} {abs(value):.1f} from {start:.1f}"


def _percent(value: float | None) -> str:
    """A percentage with up to two decimals and no trailing zeros: 82%, 58.96%."""
    if value is None:
        return ""
    return f"{value:.2f}".rstrip("0").rstrip(".") + "%"


def _point(ts: float, digest: Digest) -> str:
    """A point of the period: its day, and its hour when the period is short."""
    moment = datetime.fromtimestamp(ts, UTC)
    day = f"{moment:%a} {moment.day} {moment:%b}"
    return day if digest.now - digest.since >= 2 * DAY else f"{day} {moment:%H:%M}"


def _when(ts: float) -> str:
    moment = datetime.fromtimestamp(ts, UTC)
    return f"{moment.day} {moment:%b %Y %H:%M} UTC"


def _days(seconds: float) -> str:
    days = seconds / 86400.0
    if days >= 1:
        whole = round(days)
        return f"{whole} day" if whole == 1 else f"{whole} days"
    hours = max(1, round(seconds / 3600.0))
    return f"{hours} hour" if hours == 1 else f"{hours} hours"
