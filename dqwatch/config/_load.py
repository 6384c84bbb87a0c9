"""Reading a config file: parse, interpolate, validate, report every problem."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from dqwatch.config._crosscheck import cross_check
from dqwatch.config._interpolate import interpolate
from dqwatch.config._models import Config
from dqwatch.config._problems import render_key, validation_problems
from dqwatch.errors import ConfigError, Problem
from dqwatch.tomlpos import KeyPath, key_lines, line_for, syntax_problem

#: Keys whose values are credentials: never quoted in any message.
SECRET_KEYS = frozenset(
    {"access_token", "app_secret", "token", "webhook_url", "password"}
)

#: What to write when a required key is missing, by path ("*": any index or name).
_MISSING_HINTS: dict[tuple[str, ...], str] = {
    ("graph",): 'add a [graph] table with access_token = "${DQWATCH_ACCESS_TOKEN}"',
    ("graph", "access_token"): (
        'add access_token = "${DQWATCH_ACCESS_TOKEN}" and set that variable'
    ),
    ("dataset", "*", "id"): 'add id = "<the dataset (Pixel) id>"',
    ("discover", "*", "business_id"): 'add business_id = "<the business id>"',
    ("route", "*", "to"): 'add to = ["<channel name>"]',
    ("channel", "*", "host"): 'add host = "smtp.example.com"',
    ("channel", "*", "from"): 'add from = "dqwatch@example.com"',
    ("channel", "*", "to"): 'add to = ["someone@example.com"]',
}


def load_config(path: Path, env: Mapping[str, str] = os.environ) -> Config:
    """Read, check and return the configuration in ``path``.

    ``${NAME}`` references are replaced from ``env``. Raises
    :class:`~dqwatch.errors.ConfigError` listing every problem found, each
    with its line, key and fix.
    """
    file = str(path)
    text = _read(path)
    raw = _parse(text, file)
    lines = key_lines(text)
    data, env_problems = interpolate(raw, env)

    found = [(p.path, p.message, p.fix) for p in env_problems]
    found += _reserved_keys(data)
    problems = [_locate(file, lines, finding) for finding in found]
    config, invalid = _validate(data, path, lines)
    invalid += [_locate(file, lines, finding) for finding in cross_check(data)]

    # A key whose variable is unset is reported once, as unset.
    reported = {render_key(p.path) for p in env_problems}
    problems += [problem for problem in invalid if problem.key not in reported]
    if problems or config is None:
        problems.sort(key=lambda problem: problem.line or 0)
        raise ConfigError(_without_secrets(problems, data))
    return config


def _validate(
    data: dict[str, Any], path: Path, lines: Mapping[KeyPath, int]
) -> tuple[Config | None, list[Problem]]:
    # Problems are returned, not raised from here: a ConfigError raised in this
    # except block would chain the ValidationError, whose text quotes values.
    try:
        config = Config.model_validate(
            {**data, "source": path.absolute()},
            context={"base": path.absolute().parent},
        )
    except ValidationError as error:
        problems = validation_problems(
            error,
            file=str(path),
            lines=lines,
            root=Config,
            secret_keys=SECRET_KEYS,
            missing_hints=_MISSING_HINTS,
        )
        return None, problems
    return config, []


def _locate(
    file: str, lines: Mapping[KeyPath, int], finding: tuple[KeyPath, str, str]
) -> Problem:
    at, message, fix = finding
    return Problem(file, line_for(lines, at), render_key(at), message, fix)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        fix = "check the path given with -c (see config.example.toml for a start)"
        raise ConfigError(
            [Problem(str(path), None, "", "file not found", fix)]
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        message = f"cannot read the file: {error.__class__.__name__}"
        fix = "check the file's permissions, and that it is UTF-8 text"
        raise ConfigError([Problem(str(path), None, "", message, fix)]) from None


def _parse(text: str, file: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        fix = (
            'fix the syntax there: strings in "quotes", tables as [name], '
            "one key = value per line"
        )
        raise ConfigError([syntax_problem(error, text, file, fix)]) from None


def _reserved_keys(data: dict[str, Any]) -> list[tuple[KeyPath, str, str]]:
    # "source" is filled by the loader; written in the file it would be ignored.
    if "source" in data:
        del data["source"]
        return [(("source",), "unknown key", "remove it")]
    return []


def _without_secrets(problems: Iterable[Problem], data: Any) -> list[Problem]:
    """Blank out any secret value that reached a message, whatever its route."""
    secrets = sorted(set(_secret_values(data)), key=len, reverse=True)
    cleaned = []
    for problem in problems:
        message, fix = problem.message, problem.fix
        for secret in secrets:
            message, fix = message.replace(secret, "***"), fix.replace(secret, "***")
        cleaned.append(Problem(problem.file, problem.line, problem.key, message, fix))
    return cleaned


def _secret_values(data: Any, key: str | int = "") -> Iterable[str]:
    if isinstance(data, dict):
        for name, value in data.items():
            yield from _secret_values(value, name)
    elif isinstance(data, list):
        for value in data:
            yield from _secret_values(value, key)
    elif isinstance(data, str) and key in SECRET_KEYS and len(data) >= 4:
        yield data
