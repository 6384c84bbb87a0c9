"""Glob patterns in rule filters: checking them when rules load, matching later.

Patterns use :mod:`fnmatch` syntax (``*``, ``?``, ``[abc]``, ``[!abc]``) and
match case-sensitively, on every platform. :mod:`fnmatch` itself reads an
unclosed ``[`` as a literal character, which silently turns ``"Lead[12"``
into a filter that matches nothing; :func:`glob_problem` reports it instead.
"""

from __future__ import annotations

import fnmatch
import functools
import re
from collections.abc import Iterable

__all__ = ["glob_problem", "matches_any"]


def glob_problem(pattern: str) -> tuple[str, str] | None:
    """What is wrong with ``pattern`` as a glob and the fix, or None."""
    if not pattern.strip():
        return "is empty", 'write a name or a pattern such as "Lead*"'
    position = pattern.find("[")
    while position >= 0:
        end = _set_end(pattern, position)
        if end is None:
            return (
                f'"{pattern}" opens a [ set at character {position + 1} '
                "and never closes it",
                "close the set with ], or write [[] for a literal [",
            )
        position = pattern.find("[", end + 1)
    return None


def matches_any(patterns: Iterable[str], value: str) -> bool:
    """Whether ``value`` matches one of ``patterns``; no patterns admit all."""
    compiled = [_compiled(p) for p in patterns]
    return not compiled or any(p.match(value) for p in compiled)


def _set_end(pattern: str, start: int) -> int | None:
    """Index of the ``]`` closing the set opened at ``start``, as fnmatch reads it."""
    position = start + 1
    if pattern[position : position + 1] == "!":
        position += 1
    if pattern[position : position + 1] == "]":
        position += 1  # a ] first in the set is a member, not its end
    end = pattern.find("]", position)
    return end if end >= 0 else None


@functools.lru_cache(maxsize=4096)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(fnmatch.translate(pattern))
