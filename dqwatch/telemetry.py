"""Prometheus metrics: names start with ``dqwatch_``.

One registry per process, not the client library's global one, so tests
and embedded uses start from zero.

Two kinds of metrics live here. Counters, the histogram and the usage
gauge are updated as things happen (``record_cycle`` after each cycle).
The gauges listed in ``STORE_GAUGES`` describe what the database holds now
(latest scores, open alerts, the outbox); ``dqwatch.web`` reads them from
the store at every scrape, so a series disappears with its data and is
never left stale in memory.
"""

from __future__ import annotations

import collections
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

if TYPE_CHECKING:  # the cycle module imports half of dqwatch; only its type is used
    from dqwatch.cycle import CycleReport

REGISTRY = CollectorRegistry(auto_describe=True)

NOTIFICATIONS_SENT = Counter(
    "dqwatch_notifications_sent_total",
    "Notifications delivered, by channel.",
    ["channel"],
    registry=REGISTRY,
)
NOTIFICATIONS_FAILED = Counter(
    "dqwatch_notification_failures_total",
    "Failed delivery attempts, by channel (each will be retried).",
    ["channel"],
    registry=REGISTRY,
)
NOTIFICATIONS_GIVEN_UP = Counter(
    "dqwatch_notifications_given_up_total",
    "Notifications given up (too old, or refused for good), by channel.",
    ["channel"],
    registry=REGISTRY,
)

# -- the poll cycle -------------------------------------------------------------

CYCLE_DURATION = Histogram(
    "dqwatch_cycle_duration_seconds",
    "Wall time of one full cycle: discover, poll, store, evaluate.",
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, float("inf")),
    registry=REGISTRY,
)
POLLS = Counter(
    "dqwatch_polls_total",
    "Polls of one dataset and source, by outcome.",
    ["outcome"],
    registry=REGISTRY,
)
API_USAGE = Gauge(
    "dqwatch_api_usage_percent",
    "Graph API rate-limit usage last reported, by bucket (business id or app).",
    ["bucket"],
    registry=REGISTRY,
)


def record_cycle(report: CycleReport, usage: Mapping[str, float] | None = None) -> None:
    """Count one finished cycle: its duration, its polls and the API usage.

    ``usage`` is ``GraphClient.governor.snapshot()``, percent by bucket.
    """
    CYCLE_DURATION.observe(max(0.0, report.finished - report.started))
    outcomes = collections.Counter(result.outcome for result in report.results)
    for outcome, count in outcomes.items():
        POLLS.labels(outcome).inc(count)
    if usage:
        record_usage(usage)


def record_usage(usage: Mapping[str, float]) -> None:
    """Set the usage gauge of every rate-limit bucket the API has reported."""
    for bucket, percent in usage.items():
        API_USAGE.labels(bucket).set(percent)


# -- gauges read from the store at scrape time ------------------------------------


@dataclass(frozen=True, slots=True)
class StoreGauge:
    """A gauge whose samples are read from the database at each scrape."""

    name: str
    help: str
    labels: tuple[str, ...]


EMQ = StoreGauge(
    "dqwatch_emq",
    "Latest Event Match Quality (0-10) of each dataset and event.",
    ("dataset", "event"),
)
EVENT_COVERAGE = StoreGauge(
    "dqwatch_event_coverage",
    "Latest event coverage percentage of each dataset and event.",
    ("dataset", "event"),
)
OFFLINE_COMPOSITE = StoreGauge(
    "dqwatch_offline_composite",
    "Latest offline composite score (0-10) of each dataset and event.",
    ("dataset", "event"),
)
DATASET_INFO = StoreGauge(
    "dqwatch_dataset_info",
    "Always 1: the name and owner of each known dataset, to join on 'dataset'.",
    ("dataset", "name", "owner"),
)
ALERTS = StoreGauge(
    "dqwatch_alerts",
    "Open alerts, by state (pending, firing) and severity.",
    ("state", "severity"),
)
STORE_UP = StoreGauge(
    "dqwatch_store_up",
    "1 when the database answered this scrape, 0 when it could not be read.",
    (),
)
OUTBOX_DEPTH = StoreGauge(
    "dqwatch_outbox_depth",
    "Notifications in the outbox, by state (pending, sent, dead).",
    ("state",),
)

#: The per-dataset score gauges, by the store's metric name.
SCORE_GAUGES: dict[str, StoreGauge] = {
    "emq": EMQ,
    "event_coverage": EVENT_COVERAGE,
    "offline_composite": OFFLINE_COMPOSITE,
}

STORE_GAUGES: tuple[StoreGauge, ...] = (
    *SCORE_GAUGES.values(),
    DATASET_INFO,
    ALERTS,
    OUTBOX_DEPTH,
    STORE_UP,
)
