"""Checking the 5-field cron expressions of email digests.

Expressions follow crontab: minute, hour, day of month, month, day of week,
with ``*``, lists, ranges, steps and English names. The checked expression is
returned with its day-of-week field written as names (``MON,FRI``) because
APScheduler 3 numbers weekdays from Monday = 0 while crontab starts at
Sunday = 0: names mean the same to both, numbers do not.
"""

from __future__ import annotations

from dataclasses import dataclass

from dqwatch.config._fields import invalid, quote

_MONTHS = (
    "JAN",
    "FEB",
    "MAR",
    "APR",
    "MAY",
    "JUN",
    "JUL",
    "AUG",
    "SEP",
    "OCT",
    "NOV",
    "DEC",
)
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_EXAMPLE = 'e.g. "0 8 * * MON" for Mondays at 08:00'


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()
    first_named: int = 0  # the number of names[0]


_FIELDS = (
    _Field("minute", 0, 59),
    _Field("hour", 0, 23),
    _Field("day of month", 1, 31),
    _Field("month", 1, 12, _MONTHS, 1),
    _Field("day of week", 0, 7, _DAYS, 0),
)


def check_cron(expression: str) -> str:
    """Return ``expression`` checked, with weekdays as names; raise if invalid."""
    fields = expression.split()
    if len(fields) != 5:
        raise invalid(
            f"{quote(expression)} has {len(fields)} field(s), a cron expression has 5",
            f"write minute hour day-of-month month day-of-week, {_EXAMPLE}",
        )
    values = [_values(text, spec) for text, spec in zip(fields, _FIELDS, strict=True)]
    weekdays = _weekday_names(values[4])
    if len(values[2]) < 31 and weekdays != "*":
        # crontab fires when either day field matches, APScheduler when both do.
        raise invalid(
            f"{quote(expression)} restricts both the day of month and the day of week",
            "restrict only one of them and leave the other as *",
        )
    fields[4] = weekdays
    return " ".join(fields)


def _values(text: str, spec: _Field) -> set[int]:
    chosen: set[int] = set()
    for item in text.split(","):
        chosen.update(_item(item, spec))
    return chosen


def _item(item: str, spec: _Field) -> range:
    span, slash, step_text = item.partition("/")
    step = _number(step_text, spec, step=True) if slash else 1
    if span == "*":
        return range(spec.low, spec.high + 1, step)
    first, dash, last = span.partition("-")
    low = _number(first, spec)
    # "5/10" means from 5 to the end, every 10.
    high = _number(last, spec) if dash else (spec.high if slash else low)
    if high < low:
        raise _bad(item, spec, "a range must go from low to high")
    return range(low, high + 1, step)


def _number(text: str, spec: _Field, *, step: bool = False) -> int:
    upper = text.upper()
    if not step and upper in spec.names:
        return spec.names.index(upper) + spec.first_named
    if not text.isdigit():
        raise _bad(
            text, spec, "expected a number" + (" or a name" if spec.names else "")
        )
    value = int(text)
    if step and value < 1:
        raise _bad(text, spec, "a step must be at least 1")
    if not step and not spec.low <= value <= spec.high:
        raise _bad(text, spec, f"allowed values are {spec.low} to {spec.high}")
    return value


def _bad(text: str, spec: _Field, reason: str) -> Exception:
    return invalid(f"{quote(text)} is not a valid {spec.name}: {reason}", _EXAMPLE)


def _weekday_names(days: set[int]) -> str:
    # 7 is Sunday too; list Monday first so the text reads like a week.
    normal = {day % 7 for day in days}
    if len(normal) == 7:
        return "*"
    order = (1, 2, 3, 4, 5, 6, 0)
    return ",".join(_DAYS[day] for day in order if day in normal)
