"""The metric catalogue: every metric dqwatch records, and what kind of value it is.

Rules name metrics from this table; the snapshot normaliser produces them.
``keyed`` metrics have one series per key (a match key identifier, a
diagnostic name, a dedupe key); the others have the empty key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["number", "text"]


@dataclass(frozen=True, slots=True)
class Metric:
    """One catalogue entry."""

    name: str
    source: str
    kind: Kind
    keyed: bool
    #: Inclusive bounds of a number metric's values (a score out of 10, a percentage).
    low: float = 0.0
    high: float = 100.0
    description: str = ""

    @property
    def unit(self) -> str:
        return "%" if self.high == 100.0 and self.kind == "number" else ""


def _score(name: str, source: str, description: str) -> Metric:
    return Metric(name, source, "number", False, 0.0, 10.0, description)


def _percent(name: str, keyed: bool, description: str, source: str = "web") -> Metric:
    return Metric(name, source, "number", keyed, 0.0, 100.0, description)


CATALOGUE: dict[str, Metric] = {
    m.name: m
    for m in (
        _score("emq", "web", "Event Match Quality, out of 10"),
        _percent("match_key_coverage", True, "share of events carrying a match key"),
        _percent("match_key_acr", True, "potential extra conversions from a match key"),
        _percent("diagnostic", True, "share of events affected by a diagnostic"),
        _percent("event_coverage", False, "server events compared with browser events"),
        _percent("event_coverage_goal", False, "the API's coverage goal"),
        _percent("coverage_acr", False, "potential extra conversions from coverage"),
        _percent("dedupe_browser", True, "browser events carrying a dedupe key"),
        _percent("dedupe_server", True, "server events carrying a dedupe key"),
        _percent("dedupe_overall", True, "browser events deduplicated with a key"),
        Metric("freshness", "web", "text", False, description="upload frequency"),
        _percent("event_acr", False, "potential extra conversions for the event"),
        _percent("acr", False, "extra conversions reported thanks to the API"),
        _score("offline_composite", "offline", "offline data quality score"),
        _score("offline_match_key", "offline", "offline match key score"),
        _score("offline_frequency", "offline", "offline upload frequency score"),
        _score("offline_freshness", "offline", "offline freshness score"),
        _percent(
            "offline_match_key_coverage",
            True,
            "offline email/phone coverage",
            "offline",
        ),
    )
}
