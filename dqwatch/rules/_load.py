"""Reading rule files: every file, every rule, every problem in one pass.

A rule file is parsed with ``tomllib``, its ``[[rule]]`` tables checked key
by key (:mod:`dqwatch.rules._table`) and as a whole
(:mod:`dqwatch.rules._fit`), and rule names compared across all files.
Nothing is returned unless every file is clean, so a bad edit can never
leave dqwatch running half a rule set.
"""

from __future__ import annotations

import glob
import os
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from dqwatch.config._fields import quote
from dqwatch.config._problems import render_key, validation_problems
from dqwatch.errors import Problem, RuleError
from dqwatch.rules._fit import Finding, fit_findings
from dqwatch.rules._model import KINDS, Rule, RuleSet
from dqwatch.rules._table import RuleFile
from dqwatch.tomlpos import KeyPath, key_lines, line_for, syntax_problem

__all__ = ["load_rules", "packaged_rule_paths", "resolve_rule_files"]

_KIND_LIST = ", ".join(f'"{kind}"' for kind in KINDS)
_MISSING_HINTS: dict[tuple[str, ...], str] = {
    ("rule", "*", "name"): 'add name = "<a unique name>", e.g. name = "emq-drop"',
    ("rule", "*", "kind"): f"add kind = one of {_KIND_LIST}",
    ("rule", "*", "metric"): 'add metric = "<metric>", e.g. metric = "emq"',
}
# tomllib of Python 3.11 gives the position of a syntax error only in its text.


class _Unusable(Exception):
    """A rule file that cannot be read or parsed; ``problem`` says why."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


def load_rules(paths: Sequence[Path]) -> RuleSet:
    """Read every rule file in ``paths``, in order, into one :class:`RuleSet`.

    Raises :class:`~dqwatch.errors.RuleError` listing every problem of
    every file, each as ``FILE:LINE: rule[2].metric: what is wrong; the
    fix``. A file given twice is read once.
    """
    files = list(dict.fromkeys(paths))
    first_seen: dict[str, str] = {}  # rule name -> "file:line" of its first use
    rules: list[Rule] = []
    problems: list[Problem] = []
    for path in files:
        try:
            found, wrong = _load_file(path, first_seen)
        except _Unusable as unusable:
            found, wrong = [], [unusable.problem]
        rules += found
        problems += wrong
    if problems:
        raise RuleError(problems)
    return RuleSet(tuple(rules), tuple(str(path) for path in files))


def packaged_rule_paths() -> list[Path]:
    """The default rule files shipped inside the package, sorted by name.

    They apply when the config file has no ``[rules]`` table. dqwatch must
    be installed as files (as pip does), not imported from a zip archive.
    """
    folder = resources.files("dqwatch").joinpath("data", "rules")
    return sorted(
        Path(str(entry))
        for entry in folder.iterdir()
        if entry.is_file() and entry.name.endswith(".toml")
    )


def resolve_rule_files(
    globs: Sequence[str], *, config: Path | None = None
) -> list[Path]:
    """The files the ``rules.paths`` patterns ``globs`` stand for.

    Each pattern's matches are sorted by name and follow those of the
    patterns before it; a file matched twice appears once. ``**`` matches
    any depth of folders. A pattern that matches no file is a
    :class:`~dqwatch.errors.RuleError` naming the pattern, located at its
    line of ``config`` when the config file is given.
    """
    found: dict[Path, None] = {}
    empty: list[int] = []
    for index, pattern in enumerate(globs):
        matches = glob.glob(os.path.expanduser(pattern), recursive=True)
        files = sorted(Path(match) for match in matches if os.path.isfile(match))
        if not files:
            empty.append(index)
        found.update(dict.fromkeys(files))
    if empty:
        raise RuleError([_matches_nothing(globs, index, config) for index in empty])
    return list(found)


def _load_file(
    path: Path, first_seen: dict[str, str]
) -> tuple[list[Rule], list[Problem]]:
    file = str(path)
    text = _read(path)
    data = _parse(text, file)
    lines = key_lines(text)

    problems = _duplicate_names(data, file, lines, first_seen)
    try:
        parsed: RuleFile | None = RuleFile.model_validate(data)
    except ValidationError as error:
        parsed = None
        problems += validation_problems(
            error, file=file, lines=lines, root=RuleFile, missing_hints=_MISSING_HINTS
        )
    problems += [_locate(file, lines, finding) for finding in fit_findings(data)]

    if problems or parsed is None:
        return [], sorted(problems, key=lambda problem: problem.line or 0)
    rules = [
        table.to_rule(file, lines.get(("rule", index)))
        for index, table in enumerate(parsed.rule)
    ]
    return rules, []


def _duplicate_names(
    data: dict[str, Any],
    file: str,
    lines: Mapping[KeyPath, int],
    first_seen: dict[str, str],
) -> list[Problem]:
    problems = []
    for index, table in _rule_tables(data):
        name = table.get("name")
        if not isinstance(name, str):
            continue
        path: KeyPath = ("rule", index, "name")
        line = line_for(lines, path)
        if name not in first_seen:
            first_seen[name] = f"{file}:{line}"
            continue
        problems.append(
            Problem(
                file,
                line,
                render_key(path),
                f"{quote(name)} is already the name of the rule at {first_seen[name]}",
                "rename one of them: rule names are unique across all rule files, "
                "since silences and routes match rules by name",
            )
        )
    return problems


def _rule_tables(data: dict[str, Any]) -> Iterator[tuple[int, dict[str, Any]]]:
    tables = data.get("rule")
    if isinstance(tables, list):
        for index, table in enumerate(tables):
            if isinstance(table, dict):
                yield index, table


def _locate(file: str, lines: Mapping[KeyPath, int], finding: Finding) -> Problem:
    path, message, fix = finding
    return Problem(file, line_for(lines, path), render_key(path), message, fix)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        fix = "check the path, or the pattern in rules.paths that named it"
        raise _Unusable(Problem(str(path), None, "", "file not found", fix)) from None
    except (OSError, UnicodeDecodeError) as error:
        message = f"cannot read the file: {error.__class__.__name__}"
        fix = "check the file's permissions, and that it is UTF-8 text"
        raise _Unusable(Problem(str(path), None, "", message, fix)) from None


def _parse(text: str, file: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        fix = (
            'fix the syntax there: strings in "quotes", each rule starting with '
            "[[rule]], one key = value per line"
        )
        raise _Unusable(syntax_problem(error, text, file, fix)) from None


def _matches_nothing(globs: Sequence[str], index: int, config: Path | None) -> Problem:
    pattern = globs[index]
    fix = (
        "check the folder and the file names (patterns are relative to the "
        "config file's folder), or remove the pattern"
    )
    if config is None:
        return Problem(pattern, None, "", "matches no rule file", fix)
    path: KeyPath = ("rules", "paths", index)
    try:
        line = line_for(key_lines(config.read_text(encoding="utf-8")), path)
    except (OSError, UnicodeDecodeError):
        line = None
    return Problem(
        str(config), line, render_key(path), f"{quote(pattern)} matches no file", fix
    )
