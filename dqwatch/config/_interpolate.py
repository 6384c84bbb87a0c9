"""``${NAME}`` in string values, replaced from the environment.

Replacement happens on the parsed TOML, before validation, so a value from
the environment is checked exactly like one written in the file. ``$${``
writes a literal ``${``; a ``$`` not followed by ``{`` is kept as it is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dqwatch.tomlpos import KeyPath

_REFERENCE = re.compile(r"\$\$\{|\$\{(?P<name>[^}]*)\}|\$\{")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class EnvProblem:
    """A reference that could not be replaced, at ``path``."""

    path: KeyPath
    message: str
    fix: str


def interpolate(
    data: Any, env: Mapping[str, str], path: KeyPath = ()
) -> tuple[Any, list[EnvProblem]]:
    """Return ``data`` with every reference replaced, and what could not be."""
    problems: list[EnvProblem] = []
    if isinstance(data, str):
        return _replace(data, env, path, problems), problems
    if isinstance(data, dict):
        result: dict[str, Any] = {}
        for key, value in data.items():
            result[key], found = interpolate(value, env, (*path, key))
            problems += found
        return result, problems
    if isinstance(data, list):
        items = []
        for index, value in enumerate(data):
            item, found = interpolate(value, env, (*path, index))
            items.append(item)
            problems += found
        return items, problems
    return data, problems


def _replace(
    text: str, env: Mapping[str, str], path: KeyPath, problems: list[EnvProblem]
) -> str:
    def substitute(reference: re.Match[str]) -> str:
        if reference.group(0) == "$${":
            return "${"
        name = reference.group("name")
        if name is not None and _NAME.fullmatch(name) and name in env:
            return env[name]
        problems.append(EnvProblem(path, *_why_not_replaced(name)))
        # Kept as written: the reference is reported, and a value it would
        # have filled is not reported a second time as missing or invalid.
        return reference.group(0)

    return _REFERENCE.sub(substitute, text)


def _why_not_replaced(name: str | None) -> tuple[str, str]:
    """What is wrong with a reference to ``name`` (None: no closing brace)."""
    if name is None:
        return "has a ${ without a closing }", "write ${NAME}, or $${ for a literal ${"
    if not _NAME.fullmatch(name):
        return (
            f"${{{name}}} is not a valid variable reference",
            "use letters, digits and _ in the name, e.g. ${SLACK_WEBHOOK_URL}",
        )
    return (
        f"environment variable {name} is not set",
        f"set {name} in dqwatch's environment "
        "(e.g. EnvironmentFile= in its systemd unit)",
    )
