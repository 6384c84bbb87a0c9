"""Rule tests as typed, frozen objects: what the runner reads, never raw dicts."""

from __future__ import annotations

import json
from dataclasses import dataclass

from dqwatch.alerts import fingerprint
from dqwatch.model import Observation, Value
from dqwatch.poller import Target
from dqwatch.rules import RuleSet


@dataclass(frozen=True, slots=True)
class Failure:
    """The Graph API error a poll of one dataset and source answers with."""

    code: int
    subcode: int | None = None
    message: str | None = None


@dataclass(frozen=True, slots=True)
class Response:
    """What one dataset and source answered in one poll: values or an error.

    ``events`` lists every event the answer named, in the order first named;
    ``observations`` are the whole answer: a series not among them is
    absent from it.
    """

    target: Target
    events: tuple[str, ...] = ()
    observations: tuple[Observation, ...] = ()
    failure: Failure | None = None

    @property
    def raw(self) -> str:
        """A deterministic JSON text of the answer: equal answers, equal texts.

        Stored as the response body, so a poll that repeats the previous
        one is recognised as unchanged, as a repeated API answer is.
        """
        values = sorted(
            ([o.event, o.metric, o.key, o.value, o.details] for o in self.observations),
            key=lambda row: row[:3],
        )
        document = {"events": sorted(self.events), "values": values}
        return json.dumps(document, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class Expected:
    """An alert a poll expects in one state, with optional checks of its fields.

    Fields that do not apply to the alert (``event`` of a built-in alert,
    ``key`` of an unkeyed metric) are empty strings, as in the alert itself.
    """

    rule: str
    dataset: str
    source: str
    event: str
    key: str
    value: Value | None = None
    before: Value | None = None
    summary: str | None = None
    line: int | None = None

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.rule, self.dataset, self.source, self.event, self.key)


@dataclass(frozen=True, slots=True)
class Poll:
    """One cycle of a test: the answers it gets and the alerts it expects.

    ``at`` is seconds after the test's start. ``firing`` and ``pending``
    are None when the poll does not check that state.
    """

    number: int
    line: int | None
    at: float
    responses: tuple[Response, ...]
    firing: tuple[Expected, ...] | None = None
    pending: tuple[Expected, ...] | None = None


@dataclass(frozen=True, slots=True)
class RuleTest:
    """One ``[[test]]``: a sequence of polls run on a fresh database."""

    name: str
    line: int | None
    polls: tuple[Poll, ...]


@dataclass(frozen=True, slots=True)
class RuleTestFile:
    """A test file, its rule set loaded and every test validated."""

    path: str
    rules: RuleSet
    tests: tuple[RuleTest, ...]
