"""The alert state machine and silences.

An alert is identified by its fingerprint (rule, dataset, source, event,
key). Its state moves pending -> firing -> resolved; a pending alert whose
condition clears before ``for`` polls becomes inactive and was never sent.
A resolved or inactive alert whose condition holds again starts a new
episode under the same fingerprint.

``AlertBook`` keeps the open alerts (pending and firing) in memory, indexed
by dataset and source, so evaluating a poll never has to query the
database; every transition is also persisted by the store, which reloads
the book on start, so a restart neither forgets nor re-fires anything.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

from dqwatch.model import Details, Value

State = Literal["pending", "firing", "resolved", "inactive"]
OPEN_STATES: frozenset[str] = frozenset({"pending", "firing"})


EVENTS_MANAGER_URL = (
    "https://business.facebook.com/events_manager2/list/dataset/{}/overview"
)


def fingerprint(rule: str, dataset: str, source: str, event: str, key: str) -> str:
    """The identity of an alert: one per rule and series."""
    return "\x1f".join((rule, dataset, source, event, key))


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert as it stands after an evaluation."""

    rule: str
    dataset_id: str
    source: str
    event: str
    key: str
    metric: str
    severity: str
    state: State
    #: Consecutive polls in which the condition held.
    count: int
    active_since: float
    firing_since: float | None = None
    resolved_at: float | None = None
    value: Value | None = None
    before: Value | None = None
    threshold: Value | None = None
    summary: str = ""
    details: Details = field(default_factory=dict)
    dataset_name: str = ""
    owner: str = ""
    silenced: bool = False
    updated_at: float = 0.0

    @property
    def fingerprint(self) -> str:
        return fingerprint(
            self.rule, self.dataset_id, self.source, self.event, self.key
        )

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    def evolve(self, **changes: object) -> Alert:
        """A copy with some fields changed."""
        return replace(self, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Transition:
    """An alert that changed state (or was created) at ``at``."""

    alert: Alert
    previous: State | None
    at: float

    @property
    def state(self) -> State:
        return self.alert.state


class AlertBook:
    """The open alerts, by fingerprint and by (dataset, source)."""

    def __init__(self, alerts: Iterable[Alert] = ()) -> None:
        self._alerts: dict[str, Alert] = {}
        self._by_target: dict[tuple[str, str], set[str]] = {}
        for alert in alerts:
            self.put(alert)

    def __len__(self) -> int:
        return len(self._alerts)

    def __iter__(self) -> Iterator[Alert]:
        return iter(list(self._alerts.values()))

    def get(self, fp: str) -> Alert | None:
        return self._alerts.get(fp)

    def for_target(self, dataset_id: str, source: str) -> list[Alert]:
        """Open alerts of one dataset and source."""
        fps = self._by_target.get((dataset_id, source), ())
        return [self._alerts[fp] for fp in fps]

    def put(self, alert: Alert) -> None:
        """Record an alert's new state; closed alerts leave the book."""
        fp = alert.fingerprint
        target = (alert.dataset_id, alert.source)
        if alert.is_open:
            self._alerts[fp] = alert
            self._by_target.setdefault(target, set()).add(fp)
            return
        self._alerts.pop(fp, None)
        fps = self._by_target.get(target)
        if fps is not None:
            fps.discard(fp)


@dataclass(frozen=True, slots=True)
class Silence:
    """Matchers and a time range; matching alerts are recorded but not sent.

    Empty matchers match everything. ``event`` may be a glob.
    """

    id: int
    matchers: Mapping[str, str]
    starts: float
    ends: float
    comment: str
    author: str

    def active(self, now: float) -> bool:
        return self.starts <= now < self.ends

    def matches(self, alert: Alert) -> bool:
        fields = {
            "rule": alert.rule,
            "dataset": alert.dataset_id,
            "owner": alert.owner,
            "event": alert.event,
            "source": alert.source,
            "key": alert.key,
        }
        for name, wanted in self.matchers.items():
            actual = fields.get(name, "")
            if name == "event" or name == "key":
                if not fnmatch.fnmatchcase(actual, wanted):
                    return False
            elif actual != wanted:
                return False
        return True


#: Keys a silence may match on.
SILENCE_MATCHERS: tuple[str, ...] = (
    "rule",
    "dataset",
    "owner",
    "event",
    "source",
    "key",
)


def silenced(alert: Alert, silences: Iterable[Silence], now: float) -> bool:
    """Whether an active silence covers this alert."""
    return any(s.active(now) and s.matches(alert) for s in silences)


def template_variables(alert: Alert) -> dict[str, object]:
    """The variables templates see for one alert."""
    details = alert.details
    return {
        "rule": alert.rule,
        "severity": alert.severity,
        "state": alert.state,
        "dataset": alert.dataset_id,
        "dataset_name": alert.dataset_name or alert.dataset_id,
        "owner": alert.owner,
        "source": alert.source,
        "event": alert.event,
        "metric": alert.metric,
        "key": alert.key,
        "value": _shown(alert.value),
        "before": _shown(alert.before),
        "threshold": _shown(alert.threshold),
        "since": alert.firing_since or alert.active_since,
        "description": str(details.get("description", "")),
        "solution": str(details.get("solution", "")),
        "recommendation": str(details.get("recommendation", "")),
        "events_manager_url": (
            EVENTS_MANAGER_URL.format(alert.dataset_id) if alert.dataset_id else ""
        ),
        "error_code": details.get("error_code", ""),
        "error_message": str(details.get("error_message", "")),
    }


def _shown(value: Value | None) -> object:
    """A value as people read it: 6.0 as 6, 5.8999999 as 5.9, absent as ''."""
    if isinstance(value, float):
        return int(value) if value.is_integer() else round(value, 2)
    return "" if value is None else value
