"""A realistic digest with hostile text, to check templates without a database.

``dqwatch check`` renders it through the digest templates: a template that
names a variable that does not exist fails there, not on Monday morning.
Dataset names, event names and the API's texts come from outside, so the
sample carries markup in each of them; rendered HTML must show it as text.
"""

from __future__ import annotations

from dqwatch.alerts import Alert
from dqwatch.digest._build import sample_times
from dqwatch.digest._model import (
    DatasetDigest,
    Digest,
    EventDigest,
    Recommendation,
)

__all__ = ["sample_digest"]

#: Monday 1 December 2025, 08:00 UTC, and the week after it.
_SINCE = 1_764_576_000.0
_NOW = _SINCE + 7 * 86400.0

HOSTILE_DATASET = 'Acme <script>alert("shop")</script> web shop'
HOSTILE_EVENT = "<img src=x onerror=alert(1)>"
HOSTILE_TEXT = "</td></tr></table><a href='https://phish.example'>Click</a> & win"


def sample_digest() -> Digest:
    """A week's digest for owner ``acme``: a drop, alerts, recommendations."""
    times = sample_times(_SINCE, _NOW)
    return Digest(
        owner="acme",
        since=_SINCE,
        now=_NOW,
        sample_times=times,
        datasets=(_shop(), _blog(len(times))),
        recommendations=_recommendations(),
    )


def _shop() -> DatasetDigest:
    purchase = EventDigest(
        source="web",
        event="Purchase",
        score=5.9,
        trend=(7.8, 7.8, 7.8, 6.4, 5.9, 5.9, 5.9, 5.9),
        coverage=82.0,
        coverage_goal=75.0,
        freshness="real_time",
    )
    hostile = EventDigest(
        source="web",
        event=HOSTILE_EVENT,
        score=6.1,
        trend=(6.1,) * 8,
        coverage=41.5,
        coverage_goal=75.0,
        freshness="hourly",
    )
    offline = EventDigest(
        source="offline", event="Purchase", score=7.4, trend=(8.9, 8.9, 8.1, *[7.4] * 5)
    )
    return DatasetDigest(
        id="1001",
        name=HOSTILE_DATASET,
        owner="acme",
        events=(hostile, purchase, offline),  # the order a built digest has
        firing=(_emq_drop(),),
        resolved=(_coverage_resolved(),),
    )


def _blog(points: int) -> DatasetDigest:
    # A dataset first polled mid-week: no score before then.
    view = EventDigest(
        source="web",
        event="ViewContent",
        score=5.0,
        trend=(None, None, None, None, 5.2, 5.0, 5.0, 5.0)[:points],
        freshness="real_time",
    )
    return DatasetDigest(id="1002", name="Acme blog", owner="acme", events=(view,))


def _emq_drop() -> Alert:
    return Alert(
        rule="emq-drop",
        dataset_id="1001",
        source="web",
        event="Purchase",
        key="",
        metric="emq",
        severity="warning",
        state="firing",
        count=1,
        active_since=_SINCE + 3 * 86400.0,
        firing_since=_SINCE + 3 * 86400.0,
        value=5.9,
        before=7.8,
        summary="EMQ for Purchase fell from 7.8 to 5.9",
        dataset_name=HOSTILE_DATASET,
        owner="acme",
    )


def _coverage_resolved() -> Alert:
    return Alert(
        rule="event-coverage-low",
        dataset_id="1001",
        source="web",
        event=HOSTILE_EVENT,
        key="",
        metric="event_coverage",
        severity="warning",
        state="resolved",
        count=3,
        active_since=_SINCE - 2 * 86400.0,
        firing_since=_SINCE - 2 * 86400.0,
        resolved_at=_SINCE + 2 * 86400.0 + 3600.0,
        value=76.0,
        threshold=75.0,
        summary=f"Event coverage for {HOSTILE_EVENT} is 71, below 75",
        dataset_name=HOSTILE_DATASET,
        owner="acme",
    )


def _recommendations() -> tuple[Recommendation, ...]:
    def rec(metric: str, key: str, event: str, pct: float, text: str) -> Recommendation:
        return Recommendation(
            "1001", HOSTILE_DATASET, "web", event, metric, key, pct, text
        )

    return (
        rec(
            "match_key_acr",
            "email",
            "Purchase",
            58.96,
            "Advertisers like you who sent a valid email with Purchase saw a median "
            "58.96% rise in additional conversions reported.",
        ),
        rec(
            "coverage_acr",
            "",
            HOSTILE_EVENT,
            35.8,
            "Advertisers like you who sent these events from the server with "
            "matching deduplication keys saw a median 35.8% more conversions "
            "reported than with the Pixel alone.",
        ),
        rec("match_key_acr", "phone", "Purchase", 22.4, HOSTILE_TEXT),
        rec(
            "match_key_acr",
            "ip_address",
            "Purchase",
            20.65,
            "Advertisers like you who sent a valid IP address with Purchase saw a "
            "median 20.65% rise in additional conversions reported.",
        ),
        rec(
            "event_acr",
            "",
            "Search",
            12.5,
            "Advertisers like you who sent Search through the Conversions API saw a "
            "median 12.5% more conversions reported than with the Pixel alone.",
        ),
    )
