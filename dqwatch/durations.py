"""Durations as people write them in config and rule files: ``"90s"``, ``"1h30m"``.

A duration is one or more ``<number><unit>`` parts, largest unit first, each
unit at most once. Units: ``ms``, ``s``, ``m``, ``h``, ``d``, ``w``. Numbers
may have a fraction (``"1.5h"``). Values are seconds as ``float``.
"""

from __future__ import annotations

import re

__all__ = ["format_duration", "parse_duration"]

_UNIT_SECONDS: dict[str, float] = {
    "w": 7 * 86400.0,
    "d": 86400.0,
    "h": 3600.0,
    "m": 60.0,
    "s": 1.0,
    "ms": 0.001,
}
_UNIT_ORDER = tuple(_UNIT_SECONDS)  # largest first
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|[wdhms])")
_HOW = 'write a number and a unit (ms, s, m, h, d, w), e.g. "90s", "15m", "1h30m"'


def parse_duration(text: str) -> float:
    """Return the number of seconds ``text`` stands for.

    >>> parse_duration("1h30m")
    5400.0

    Raises ``ValueError`` naming the text and how to write it when ``text``
    is not a duration.
    """
    stripped = text.strip()
    if not stripped:
        raise ValueError(f"empty duration; {_HOW}")

    total = 0.0
    position = 0
    previous_rank = -1
    while position < len(stripped):
        part = _PART.match(stripped, position)
        if part is None:
            raise ValueError(f'"{text}" is not a duration; {_HOW}')
        number, unit = part.groups()
        rank = _UNIT_ORDER.index(unit)
        if rank <= previous_rank:
            raise ValueError(
                f'"{text}" repeats a unit or puts a smaller unit first; '
                'write each unit once, largest first, e.g. "1h30m"'
            )
        total += float(number) * _UNIT_SECONDS[unit]
        previous_rank = rank
        position = part.end()
    return total


def format_duration(seconds: float) -> str:
    """Write ``seconds`` the way :func:`parse_duration` reads it.

    >>> format_duration(5400)
    '1h30m'

    Whole days are the largest unit used, so ``90d`` stays ``90d``;
    fractions of a second are rounded to milliseconds.
    """
    if seconds < 0:
        raise ValueError(f"a duration cannot be negative, got {seconds}")

    remaining = round(seconds * 1000)
    if remaining == 0:
        return "0s"
    parts = []
    for unit in ("d", "h", "m", "s", "ms"):
        unit_ms = round(_UNIT_SECONDS[unit] * 1000)
        count, remaining = divmod(remaining, unit_ms)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)
