"""Field types shared by the config models: durations, ids, ranges, addresses.

Each validator raises :func:`invalid`, a pydantic error that carries what is
wrong and the fix as separate fields, so the problem list can render them
the same way everywhere. Validators never put a secret value in a message.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator, SecretStr
from pydantic_core import PydanticCustomError

from dqwatch.durations import format_duration, parse_duration

#: The error type of every problem our own validators find.
ERROR_TYPE = "dqwatch"

_DIGITS = re.compile(r"\d+")
_ADDRESS = re.compile(r"[^@\s<>,;\"]+@[^@\s<>,;\".][^@\s<>,;\"]*")


def quote(value: object) -> str:
    """``value`` in double quotes, as TOML would write it."""
    return json.dumps(str(value), ensure_ascii=False)


def invalid(message: str, fix: str, *, at: str | None = None) -> PydanticCustomError:
    """Build the validation error for one problem.

    ``at`` names a key below the one being validated when a check of a whole
    table is best located at one of its keys (``tls`` when both TLS modes
    are on).
    """
    context: dict[str, Any] = {"message": message, "fix": fix}
    if at is not None:
        context["at"] = at
    return PydanticCustomError(ERROR_TYPE, "{message}", context)


def duration(
    *, minimum: float = 0.0, maximum: float | None = None, positive: bool = False
) -> BeforeValidator:
    """Validate a duration string into seconds, within the given bounds."""

    def to_seconds(value: object) -> float:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise invalid("must be a duration", 'write it as a string, e.g. "15m"')
        if not isinstance(value, str):
            raise invalid(
                f"{value} is a number, not a duration",
                f'write it as a string with a unit, e.g. "{value}s" or "{value}m"',
            )
        try:
            seconds = parse_duration(value)
        except ValueError as error:
            message, _, fix = str(error).partition("; ")
            raise invalid(message, fix) from None
        _check_duration(seconds, minimum, maximum, positive)
        return seconds

    return BeforeValidator(to_seconds)


def _check_duration(
    seconds: float, minimum: float, maximum: float | None, positive: bool
) -> None:
    written = format_duration(seconds)
    if positive and seconds <= 0:
        raise invalid(f"{written} is too short", "use a duration longer than 0s")
    if seconds < minimum:
        raise invalid(
            f"{written} is too short", f"use at least {format_duration(minimum)}"
        )
    if maximum is not None and seconds > maximum:
        raise invalid(
            f"{written} is too long", f"use at most {format_duration(maximum)}"
        )


def int_between(low: int, high: int) -> AfterValidator:
    """Keep a whole number within ``low..high``, both included."""

    def check(value: int) -> int:
        if not low <= value <= high:
            raise invalid(
                f"{value} is out of range", f"use a number from {low} to {high}"
            )
        return value

    return AfterValidator(check)


def _whole_number(value: object) -> object:
    # pydantic would read true as 1 and 2.5 as an error about fractions;
    # neither says what a config author got wrong.
    if isinstance(value, bool):
        raise invalid(
            "must be a whole number, not true/false", "write a number, e.g. 4"
        )
    return value


def _digits(value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    if isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
        return value.strip()
    shown = f" {quote(value)}" if isinstance(value, str | int) else ""
    raise invalid(
        f"id{shown} is not a number",
        'write the numeric id as a string of digits, e.g. "1234567890"',
    )


def _empty_is_unset(value: object) -> object:
    # An optional value taken from an empty environment variable means "not set".
    return None if value == "" else value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise invalid(
            "is empty", "give it a value, or remove the key if it is optional"
        )
    return value


def _http_url(value: str) -> str:
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise invalid(
            "is not an http or https URL",
            'write it as "https://host" or "http://127.0.0.1:PORT"',
        )
    return value.strip().rstrip("/")


def secret_http_url(value: SecretStr | None) -> SecretStr | None:
    """Check a URL that is a credential (a webhook) without ever quoting it."""
    if value is not None:
        parts = urlsplit(value.get_secret_value().strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise invalid(
                "is not an http or https URL",
                "paste the whole URL you were given, starting with https://",
            )
    return value


def unique(what: str) -> Callable[[tuple[Any, ...]], tuple[Any, ...]]:
    """Reject an empty tuple or one that names a value twice."""

    def check(values: tuple[Any, ...]) -> tuple[Any, ...]:
        if not values:
            raise invalid("is empty", f"list at least one {what}")
        for value in values:
            if values.count(value) > 1:
                raise invalid(f"lists {quote(value)} twice", "list each value once")
        return values

    return check


def address(value: str) -> str:
    """Check a plain mail address (``name@domain``, no display name)."""
    if not _ADDRESS.fullmatch(value):
        raise invalid(
            f"{quote(value)} is not a mail address",
            'write a plain address such as "ops@example.com", without a name',
        )
    return value


Int = Annotated[int, BeforeValidator(_whole_number)]
DigitsId = Annotated[str, BeforeValidator(_digits)]
NonBlank = Annotated[str, AfterValidator(_not_blank)]
OptionalText = Annotated[str | None, BeforeValidator(_empty_is_unset)]
OptionalSecret = Annotated[SecretStr | None, BeforeValidator(_empty_is_unset)]
HttpUrl = Annotated[str, AfterValidator(_http_url)]
Address = Annotated[str, AfterValidator(address)]
