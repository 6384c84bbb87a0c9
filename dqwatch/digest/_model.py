"""What a digest holds: plain frozen values, built from the store, rendered later.

A digest covers one owner (or every owner) over one period. Numbers stay
numbers here; turning them into text, bars and sparklines is the renderer's
job, so a digest can be checked in tests and rendered by any template.
"""

from __future__ import annotations

from dataclasses import dataclass

from dqwatch.alerts import Alert

#: The metric whose trend each event shows, per source: EMQ for web events,
#: the composite data quality score for offline ones. Both are out of 10.
SCORE_METRIC: dict[str, str] = {"web": "emq", "offline": "offline_composite"}


@dataclass(frozen=True, slots=True)
class EventDigest:
    """One event of one dataset: its score now, the score's trend, coverage.

    ``trend`` holds the score at each of :attr:`Digest.sample_times` (None
    where no value was known then); its first item is the score when the
    period began and its last the score now.
    """

    source: str
    event: str
    score: float | None
    trend: tuple[float | None, ...]
    coverage: float | None = None
    coverage_goal: float | None = None
    freshness: str | None = None

    @property
    def score_metric(self) -> str:
        """``emq`` for a web event, ``offline_composite`` for an offline one."""
        return SCORE_METRIC.get(self.source, "emq")

    @property
    def start(self) -> float | None:
        """The score when the period began, if one was known."""
        return self.trend[0] if self.trend else None

    @property
    def change(self) -> float | None:
        """Score now minus score at the start; None when either is unknown."""
        if self.score is None or self.start is None:
            return None
        return round(self.score - self.start, 6)

    @property
    def below_goal(self) -> bool:
        """Whether event coverage is under the API's goal (75% when none given)."""
        if self.coverage is None:
            return False
        goal = 75.0 if self.coverage_goal is None else self.coverage_goal
        return self.coverage < goal


@dataclass(frozen=True, slots=True)
class DatasetDigest:
    """One dataset: its events, the alerts firing now, those resolved lately."""

    id: str
    name: str
    owner: str
    events: tuple[EventDigest, ...]
    firing: tuple[Alert, ...] = ()
    resolved: tuple[Alert, ...] = ()


@dataclass(frozen=True, slots=True)
class Recommendation:
    """A change the API says would add conversions, with its own explanation.

    ``metric`` is ``match_key_acr`` (send match key ``key``),
    ``coverage_acr`` (send more of the event from the server, deduplicated)
    or ``event_acr`` (send the event through the Conversions API at all).
    ``percentage`` is the API's potential additional conversions reported.
    """

    dataset_id: str
    dataset_name: str
    source: str
    event: str
    metric: str
    key: str
    percentage: float
    description: str


@dataclass(frozen=True, slots=True)
class Digest:
    """Everything one digest email says, for one owner (None: every owner)."""

    owner: str | None
    since: float
    now: float
    sample_times: tuple[float, ...]
    datasets: tuple[DatasetDigest, ...]
    recommendations: tuple[Recommendation, ...] = ()

    @property
    def empty(self) -> bool:
        """True when the owner has no datasets: such a digest is not sent."""
        return not self.datasets

    @property
    def firing(self) -> list[Alert]:
        """Every alert firing now, dataset by dataset."""
        return [alert for dataset in self.datasets for alert in dataset.firing]

    @property
    def resolved(self) -> list[Alert]:
        """Every alert resolved during the period, dataset by dataset."""
        return [alert for dataset in self.datasets for alert in dataset.resolved]
