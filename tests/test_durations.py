"""Durations: the strings config and rule files use for lengths of time."""

from __future__ import annotations

import pytest

from dqwatch.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90.0),
        ("15m", 900.0),
        ("4h", 14400.0),
        ("7d", 604800.0),
        ("2w", 1209600.0),
        ("1h30m", 5400.0),
        ("1d2h3m4s5ms", 93784.005),
        ("250ms", 0.25),
        ("1.5h", 5400.0),
        ("0s", 0.0),
        (" 5m ", 300.0),
    ],
)
def test_parse_reads_each_unit_and_combination(text: str, seconds: float) -> None:
    """Every unit, combinations largest first, fractions and spaces around."""
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty duration"),
        ("15", "is not a duration"),
        ("m", "is not a duration"),
        ("15 minutes", "is not a duration"),
        ("-5m", "is not a duration"),
        ("5x", "is not a duration"),
        ("1 h", "is not a duration"),
        ("30m1h", "largest first"),
        ("1h1h", "largest first"),
    ],
)
def test_parse_rejects_bad_text_with_the_fix(text: str, reason: str) -> None:
    """A bad duration raises ValueError naming the problem and an example."""
    with pytest.raises(ValueError, match=reason) as caught:
        parse_duration(text)
    assert "e.g." in str(caught.value)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (0.25, "250ms"),
        (90, "1m30s"),
        (5400, "1h30m"),
        (86400 * 90, "90d"),
        (86400 + 1.5, "1d1s500ms"),
    ],
)
def test_format_writes_what_parse_reads(seconds: float, text: str) -> None:
    """format_duration picks the shortest form, and parse_duration reads it back."""
    assert format_duration(seconds) == text
    assert parse_duration(text) == pytest.approx(seconds)


def test_format_rejects_negative_durations() -> None:
    """A negative number of seconds is not a duration."""
    with pytest.raises(ValueError, match="negative"):
        format_duration(-1)
