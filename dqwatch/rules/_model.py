"""Rules as typed, frozen objects: what the evaluator reads, never raw dicts."""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from typing import Literal

RuleKind = Literal["threshold", "drop", "disappeared", "appeared", "changed"]
Severity = Literal["info", "warning", "critical"]
KINDS: tuple[RuleKind, ...] = (
    "threshold",
    "drop",
    "disappeared",
    "appeared",
    "changed",
)
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "critical")

#: Variables every template (rule summaries, Slack, email) may use.
TEMPLATE_VARIABLES: frozenset[str] = frozenset(
    {
        "rule",
        "severity",
        "state",
        "dataset",
        "dataset_name",
        "owner",
        "source",
        "event",
        "metric",
        "key",
        "value",
        "before",
        "threshold",
        "since",
        "description",
        "solution",
        "recommendation",
        "events_manager_url",
        "error_code",
        "error_message",
    }
)


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule from a rule file, validated.

    Exactly the fields of its ``kind`` are set: ``below``/``above``/
    ``equals``/``not_equals`` for threshold (``below_goal`` for
    ``below = "goal"``); ``by`` or ``by_percent`` and ``baseline`` (seconds
    of the ``baseline:`` window, None for ``previous``) for drop;
    ``from_value`` for changed. Empty filter tuples admit everything.
    """

    name: str
    kind: RuleKind
    metric: str
    source: str
    severity: Severity = "warning"
    for_polls: int = 1
    events: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()
    owners: tuple[str, ...] = ()
    datasets: tuple[str, ...] = ()
    summary: str = ""
    below: float | str | None = None
    below_goal: bool = False
    above: float | None = None
    equals: float | str | None = None
    not_equals: float | str | None = None
    by: float | None = None
    by_percent: float | None = None
    baseline: float | None = None
    from_value: str | None = None
    file: str = ""
    line: int | None = None


@dataclass(frozen=True, slots=True)
class RuleSet:
    """Every rule loaded, in file order, with the files they came from."""

    rules: tuple[Rule, ...]
    files: tuple[str, ...]

    def by_name(self) -> dict[str, Rule]:
        return {rule.name: rule for rule in self.rules}


def rule_digest(rule: Rule) -> str:
    """A fingerprint of what a rule says, ignoring where it is written.

    Tells whether a rule is new or was edited since alerts were last
    evaluated, so it can be checked against stored values once.
    """
    meaning = dataclasses.replace(rule, file="", line=None)
    return hashlib.blake2b(repr(meaning).encode(), digest_size=12).hexdigest()
