"""Problems of one test file, located by key path: the checks every part shares."""

from __future__ import annotations

from collections.abc import Mapping

from dqwatch.config._fields import quote
from dqwatch.config._problems import render_key
from dqwatch.errors import Problem
from dqwatch.metrics import Metric
from dqwatch.tomlpos import KeyPath, line_for

#: A key each keyed metric could have, for the fix of a missing ``key``.
_KEY_EXAMPLES = {
    "diagnostic": "Server sending mismatched IP addresses",
    "dedupe_browser": "event_id",
    "dedupe_server": "event_id",
    "dedupe_overall": "event_id",
}


class Checker:
    """Collects the problems found in one file, each at its line."""

    def __init__(self, file: str, lines: Mapping[KeyPath, int]) -> None:
        self.file = file
        self.lines = lines
        self.problems: list[Problem] = []

    def problem(self, path: KeyPath, message: str, fix: str) -> None:
        """Record that the key at ``path`` is wrong, and how to fix it."""
        self.problems.append(
            Problem(self.file, self.line(path), render_key(path), message, fix)
        )

    def line(self, path: KeyPath) -> int | None:
        """The line of ``path``, or of the nearest table around it."""
        return line_for(self.lines, path)

    def dataset(
        self, path: KeyPath, given: str | None, default: str | None
    ) -> str | None:
        """The dataset an entry names, or the test's default; None is a problem."""
        dataset = given or default
        if dataset is None:
            self.problem(
                (*path, "dataset"),
                "is missing",
                'add dataset = "<id>"; a test whose datasets list has exactly '
                "one entry makes that dataset the default",
            )
        return dataset

    def key(self, path: KeyPath, key: str | None, metric: Metric, why: str) -> None:
        """Check that ``key`` is given exactly when ``metric`` has keys."""
        if metric.keyed and key is None:
            example = quote(_KEY_EXAMPLES.get(metric.name, "email"))
            self.problem(
                (*path, "key"),
                "is missing",
                f"add key = {example}, or another key: {why}",
            )
        elif not metric.keyed and key is not None:
            self.problem((*path, "key"), f"{metric.name} has no keys", "remove key")
