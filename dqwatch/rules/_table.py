"""The shape of a rule file, as pydantic checks it: keys, types, single values.

Everything that can be judged from one key alone lives here: a key that does
not exist, a value of the wrong type, an unknown kind, metric or severity, a
bad glob or window, a summary that does not compile. Whether keys fit
together (a kind with its metric, one threshold condition) is judged on the
raw table by :mod:`dqwatch.rules._fit`, so both kinds of problem are
reported in one pass. Every validator raises :func:`invalid`, which carries
the message and the fix as separate fields for the problem list.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from dqwatch import templating
from dqwatch.config._fields import invalid, quote
from dqwatch.config._problems import did_you_mean
from dqwatch.durations import parse_duration
from dqwatch.metrics import CATALOGUE
from dqwatch.rules._globs import glob_problem
from dqwatch.rules._model import Rule, RuleKind, Severity
from dqwatch.rules._summaries import default_summary

#: Names of the alerts dqwatch raises without a rule; no rule may take them.
BUILT_IN_NAMES = frozenset({"dataset-unreachable", "token-invalid", "token-expiring"})

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_DATASET = re.compile(r"[0-9*?\[\]!-]+")
_BASELINE = "baseline:"


def _name(value: str) -> str:
    if not _NAME.fullmatch(value):
        raise invalid(
            f"{quote(value)} is not a usable rule name",
            "use letters, digits, -, _ and . only, starting with a letter or "
            'digit, e.g. "emq-drop" (silences and routes match rules by name)',
        )
    if value in BUILT_IN_NAMES:
        raise invalid(
            f"{quote(value)} is the name of a built-in alert",
            "choose another name",
        )
    return value


def metric_name(value: str) -> str:
    """A metric of the catalogue; anything else is refused with a did-you-mean."""
    if value not in CATALOGUE:
        raise invalid(
            f"{quote(value)} is not a metric",
            f"{did_you_mean(value, CATALOGUE)} (docs/rules.md lists every metric)",
        )
    return value


def _number(value: object) -> object:
    # pydantic would read true as 1 and "7.5" as 7.5; a rule author who
    # quoted a number wrote text, and should hear so.
    if isinstance(value, str):
        raise invalid(f"{quote(value)} is text, not a number", "remove the quotes")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid("must be a number", "write digits without quotes, e.g. 7.5")
    return value


def _number_or_text(value: object) -> object:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise invalid("must be a number or a string", 'write e.g. 7.5 or "real_time"')
    return value


def _polls(value: object) -> object:
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid("must be a whole number", "write digits without quotes, e.g. 3")
    if value < 1:
        raise invalid(
            f"{value} is less than 1",
            "use 1 to fire on the first poll that meets the condition, or more "
            "to wait for that many polls in a row",
        )
    return value


def _glob(value: str) -> str:
    problem = glob_problem(value)
    if problem is not None:
        raise invalid(*problem)
    return value


def _non_blank(value: str) -> str:
    if not value.strip():
        raise invalid("is empty", "write a value, or remove it")
    return value


def _dataset(value: object) -> object:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    if isinstance(value, str) and _DATASET.fullmatch(value.strip()):
        return _glob(value.strip())
    shown = f"{quote(value)} " if isinstance(value, str | int | float) else ""
    raise invalid(
        f"{shown}is not a dataset id or a pattern of ids",
        'write the id as a string of digits, e.g. "1234567890", or a pattern '
        'such as "12345*"',
    )


def _baseline(value: object) -> float | None:
    """``compare_to``: None for ``"previous"``, else the window in seconds."""
    how = (
        'write "previous" to compare with the last poll, or "baseline:7d" to '
        "compare with the median of the last 7 days"
    )
    if not isinstance(value, str):
        raise invalid("must be a string", how)
    if value == "previous":
        return None
    if not value.startswith(_BASELINE):
        raise invalid(f"{quote(value)} is not a reference", how)
    try:
        seconds = parse_duration(value[len(_BASELINE) :])
    except ValueError as error:
        message, _, fix = str(error).partition("; ")
        raise invalid(f"has a bad window: {message}", fix or how) from None
    if seconds <= 0:
        raise invalid("has an empty window", 'use a window such as "baseline:7d"')
    return seconds


def _summary(value: str) -> str:
    if not value.strip():
        raise invalid("is empty", "write a summary, or remove it to use the default")
    try:
        templating.compile_summary(value)
    except ValueError as error:
        message, _, fix = str(error).partition("; ")
        raise invalid(message, fix) from None
    return value


_Name = Annotated[str, AfterValidator(_name)]
MetricName = Annotated[str, AfterValidator(metric_name)]
_Number = Annotated[float, BeforeValidator(_number)]
_NumberOrText = Annotated[float | str, BeforeValidator(_number_or_text)]
_Polls = Annotated[int, BeforeValidator(_polls)]
_Glob = Annotated[str, AfterValidator(_glob)]
_Text = Annotated[str, AfterValidator(_non_blank)]
_Dataset = Annotated[str, BeforeValidator(_dataset)]
_Baseline = Annotated[float | None, BeforeValidator(_baseline)]
_Summary = Annotated[str, AfterValidator(_summary)]


class RuleTable(BaseModel):
    """One ``[[rule]]`` table, its keys checked one by one."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: _Name
    kind: RuleKind
    metric: MetricName
    severity: Severity = "warning"
    for_polls: _Polls = Field(default=1, alias="for")
    events: tuple[_Glob, ...] = ()
    keys: tuple[_Glob, ...] = ()
    owners: tuple[_Text, ...] = ()
    datasets: tuple[_Dataset, ...] = ()
    summary: _Summary | None = None
    below: _NumberOrText | None = None
    above: _Number | None = None
    equals: _NumberOrText | None = None
    not_equals: _NumberOrText | None = None
    by: _Number | None = None
    by_percent: _Number | None = None
    baseline: _Baseline = Field(default=None, alias="compare_to")
    from_value: _Text | None = Field(default=None, alias="from")

    def to_rule(self, file: str, line: int | None) -> Rule:
        """The :class:`Rule` this table describes, found at ``file:line``."""
        below_goal = self.below == "goal"
        return Rule(
            name=self.name,
            kind=self.kind,
            metric=self.metric,
            source=CATALOGUE[self.metric].source,
            severity=self.severity,
            for_polls=self.for_polls,
            events=self.events,
            keys=self.keys,
            owners=self.owners,
            datasets=self.datasets,
            summary=self.summary
            or default_summary(self.kind, self.metric, self._condition()),
            below=None if below_goal else self.below,
            below_goal=below_goal,
            above=self.above,
            equals=self.equals,
            not_equals=self.not_equals,
            by=self.by,
            by_percent=self.by_percent,
            baseline=self.baseline,
            from_value=self.from_value,
            file=file,
            line=line,
        )

    def _condition(self) -> str | None:
        """Which threshold key is set (``below_goal`` for ``below = "goal"``)."""
        if self.below == "goal":
            return "below_goal"
        conditions = ("below", "above", "equals", "not_equals")
        return next((c for c in conditions if getattr(self, c) is not None), None)


class RuleFile(BaseModel):
    """A whole rule file: nothing but ``[[rule]]`` tables."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rule: tuple[RuleTable, ...] = ()
