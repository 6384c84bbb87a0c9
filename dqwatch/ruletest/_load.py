"""Reading rule test files: every problem of every file located, or clean tests.

A test file is parsed with ``tomllib``, its shape checked by pydantic
(:mod:`dqwatch.ruletest._schema`), its rule files loaded with the same
:func:`~dqwatch.rules.load_rules` the daemon uses, and its tests built and
checked against those rules (:mod:`dqwatch.ruletest._build`).
"""

from __future__ import annotations

import glob
import tomllib
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from dqwatch.config._fields import quote
from dqwatch.config._problems import render_key, validation_problems
from dqwatch.errors import Problem, RuleError
from dqwatch.rules import RuleSet, load_rules, packaged_rule_paths
from dqwatch.ruletest._build import Builder
from dqwatch.ruletest._model import RuleTestFile
from dqwatch.ruletest._schema import MISSING_HINTS, FileTable
from dqwatch.tomlpos import KeyPath, key_lines, line_for, syntax_problem

__all__ = ["load_test_file", "packaged_rule_tests", "rule_test_paths"]

# tomllib of Python 3.11 gives the position of a syntax error only in its text.


def load_test_file(path: Path) -> RuleTestFile:
    """Read one rule test file and the rule files it names.

    Raises :class:`~dqwatch.errors.RuleError` listing every problem, each
    as ``FILE:LINE: test[0].poll[1].values[2].metric: what is wrong; the
    fix``; problems of the rule files under test name those files.
    """
    file = str(path)
    text = _read(path)
    data = _parse(text, file)
    lines = key_lines(text)
    try:
        table = FileTable.model_validate(data)
    except ValidationError as error:
        found = validation_problems(
            error, file=file, lines=lines, root=FileTable, missing_hints=MISSING_HINTS
        )
        raise RuleError(_in_order(found)) from None

    rules, problems = _rule_set(path, table.rule_files, lines)
    builder = Builder(file, lines, rules)
    tests = builder.tests(table.test)
    problems += _in_order(builder.problems)
    if problems or rules is None:
        raise RuleError(problems)
    return RuleTestFile(file, rules, tests)


def packaged_rule_tests() -> list[Path]:
    """The tests of the default rules, shipped inside the package, sorted by name."""
    folder = resources.files("dqwatch").joinpath("data", "rules", "tests")
    return sorted(
        Path(str(entry))
        for entry in folder.iterdir()
        if entry.is_file() and entry.name.endswith(".toml")
    )


def rule_test_paths(paths: list[Path]) -> list[Path]:
    """``paths`` with each folder replaced by the ``*.toml`` files in it.

    Raises :class:`~dqwatch.errors.RuleError` for a folder with no such file.
    """
    found: list[Path] = []
    for path in paths:
        if not path.is_dir():
            found.append(path)
            continue
        inside = sorted(p for p in path.glob("*.toml") if p.is_file())
        if not inside:
            message, fix = "holds no .toml file", "name the test files, or their folder"
            raise _unusable(path, message, fix)
        found += inside
    return list(dict.fromkeys(found))


def _rule_set(
    path: Path, patterns: tuple[str, ...] | None, lines: Mapping[KeyPath, int]
) -> tuple[RuleSet | None, list[Problem]]:
    if patterns is None:
        files = packaged_rule_paths()
        problems: list[Problem] = []
    else:
        files, problems = _rule_files(path, patterns, lines)
    try:
        return load_rules(files), problems
    except RuleError as error:
        return None, problems + error.problems


def _rule_files(
    path: Path, patterns: tuple[str, ...], lines: Mapping[KeyPath, int]
) -> tuple[list[Path], list[Problem]]:
    files: dict[Path, None] = {}
    problems = []
    for index, pattern in enumerate(patterns):
        # Relative to the test file, so a test and its rules move together.
        full = path.parent / Path(pattern).expanduser()
        matches = sorted(Path(m) for m in glob.glob(str(full), recursive=True))
        matches = [m for m in matches if m.is_file()]
        if not matches:
            key: KeyPath = ("rule_files", index)
            problems.append(
                Problem(
                    str(path),
                    line_for(lines, key),
                    render_key(key),
                    f"{quote(pattern)} matches no file (looked for {full})",
                    "write the rule file's path relative to this test file, or "
                    "leave rule_files out to test the packaged default rules",
                )
            )
        files.update(dict.fromkeys(matches))
    return list(files), problems


def _in_order(problems: list[Problem]) -> list[Problem]:
    return sorted(problems, key=lambda problem: problem.line or 0)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise _unusable(path, "file not found", "check the path") from None
    except (OSError, UnicodeDecodeError) as error:
        message = f"cannot read the file: {error.__class__.__name__}"
        fix = "check the file's permissions, and that it is UTF-8 text"
        raise _unusable(path, message, fix) from None


def _parse(text: str, file: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        fix = (
            'fix the syntax there: strings in "quotes", each test starting with '
            "[[test]] and each of its polls with [[test.poll]]"
        )
        raise RuleError([syntax_problem(error, text, file, fix)]) from None


def _unusable(path: Path, message: str, fix: str) -> RuleError:
    return RuleError([Problem(str(path), None, "", message, fix)])
