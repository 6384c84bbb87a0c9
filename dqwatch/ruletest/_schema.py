"""The shape of a rule test file, as pydantic checks it: keys, types, single values.

Everything that can be judged from one key alone lives here: an unknown key,
a value of the wrong type, an unknown metric or source, a bad duration.
Whether keys fit together (a metric with its key, an expected alert with its
rule) is judged by :mod:`dqwatch.ruletest._load` once the shape is sound.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from dqwatch.config._fields import duration, invalid, quote
from dqwatch.rules._table import MetricName

SourceName = Literal["web", "offline"]

_DIGITS = re.compile(r"\d+")
_T = TypeVar("_T")


def _dataset(value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    if isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
        return value.strip()
    shown = f"{quote(value)} " if isinstance(value, str | int | float) else ""
    raise invalid(
        f"{shown}is not a dataset id",
        'write the numeric id as a string of digits, e.g. "1234567890"',
    )


def _number_or_text(value: object) -> object:
    # pydantic would read true as 1; a test author who wrote true meant
    # something else, and should hear so.
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise invalid("must be a number or a string", 'write e.g. 7.5 or "real_time"')
    return float(value) if isinstance(value, int) else value


def _code(value: object) -> object:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise invalid(
            "must be a Graph API error code",
            "write the code as a positive whole number, e.g. 2044055 or 190",
        )
    return value


def _tables(header: str) -> Callable[[tuple[_T, ...]], tuple[_T, ...]]:
    """Reject an empty list of ``header`` tables.

    Runs after the items validated: pydantic's ``min_length`` also counts
    items that failed, and would call a list with one bad table empty.
    """

    def check(tables: tuple[_T, ...]) -> tuple[_T, ...]:
        if not tables:
            raise invalid("is empty", f"add at least one {header} table")
        return tables

    return check


def _non_blank(value: str) -> str:
    if not value.strip():
        raise invalid("is empty", "write a value, or remove the key")
    return value


_Dataset = Annotated[str, BeforeValidator(_dataset)]
_NumberOrText = Annotated[float | str, BeforeValidator(_number_or_text)]
_Code = Annotated[int, BeforeValidator(_code)]
_Text = Annotated[str, AfterValidator(_non_blank)]
_Offset = Annotated[float, duration()]
_Interval = Annotated[float, duration(positive=True)]


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ValueTable(_Table):
    """One value of a poll's answer, or an event or answer with no values."""

    dataset: _Dataset | None = None
    source: SourceName | None = None
    event: _Text | None = None
    metric: MetricName | None = None
    key: _Text | None = None
    value: _NumberOrText | None = None
    details: dict[str, str | float] = Field(default_factory=dict)


class ErrorTable(_Table):
    """A dataset and source whose poll fails with a Graph API error."""

    dataset: _Dataset | None = None
    source: SourceName = "web"
    code: _Code
    subcode: _Code | None = None
    message: _Text | None = None


class ExpectedTable(_Table):
    """An alert expected in a state after a poll."""

    rule: _Text
    dataset: _Dataset | None = None
    source: SourceName | None = None
    event: _Text | None = None
    key: _Text | None = None
    value: _NumberOrText | None = None
    before: _NumberOrText | None = None
    summary: str | None = None


class PollTable(_Table):
    """One ``[[test.poll]]``."""

    at: _Offset | None = None
    values: tuple[ValueTable, ...] = ()
    errors: tuple[ErrorTable, ...] = ()
    error: _Code | None = None
    firing: tuple[ExpectedTable, ...] | None = None
    pending: tuple[ExpectedTable, ...] | None = None


class DatasetTable(_Table):
    """A dataset's name, owner and sources, as the config would give them."""

    id: _Dataset
    name: _Text | None = None
    owner: str = ""
    sources: tuple[SourceName, ...] | None = None


class RuleTestTable(_Table):
    """One ``[[test]]``."""

    name: _Text
    interval: _Interval = 900.0
    datasets: tuple[DatasetTable, ...] = ()
    poll: Annotated[tuple[PollTable, ...], AfterValidator(_tables("[[test.poll]]"))]


class FileTable(_Table):
    """A whole test file: the rule files under test and the tests."""

    rule_files: tuple[_Text, ...] | None = None
    test: Annotated[tuple[RuleTestTable, ...], AfterValidator(_tables("[[test]]"))]


MISSING_HINTS: dict[tuple[str, ...], str] = {
    ("test",): "add a [[test]] table with a name and its [[test.poll]] tables",
    ("test", "*", "name"): 'add name = "<what the test shows>"',
    ("test", "*", "poll"): "add at least one [[test.poll]] table after [[test]]",
    ("test", "*", "poll", "*", "errors", "*", "code"): "add code = 2044055 (or "
    "another Graph API error code)",
    ("test", "*", "poll", "*", "firing", "*", "rule"): 'add rule = "<rule name>"',
    ("test", "*", "poll", "*", "pending", "*", "rule"): 'add rule = "<rule name>"',
    ("test", "*", "datasets", "*", "id"): 'add id = "<dataset id>"',
}
