"""Running rule tests through the code the daemon runs, not a copy of it.

Each test gets a fresh SQLite database. Each answer of each poll is stored
with :meth:`Store.record_poll` (which works out what changed, exactly as
for a real response), turned into a :class:`PollResult`, and evaluated by
the :class:`Evaluator` with baselines read from the stored history, as
:meth:`dqwatch.cycle.Runtime.evaluate` does. Errors are the ones the Graph
client raises for the API's error answer. Nothing touches the network.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from dqwatch.alerts import AlertBook
from dqwatch.baseline import fetch_baselines
from dqwatch.errors import GraphError, RuleError
from dqwatch.evaluate import Evaluator
from dqwatch.graph import Scrubber, error_from_answer
from dqwatch.model import Snapshot
from dqwatch.poller import OK, PollResult, outcome_of
from dqwatch.rules import RuleSet
from dqwatch.ruletest._diff import differences
from dqwatch.ruletest._load import load_test_file, rule_test_paths
from dqwatch.ruletest._model import Failure, Response, RuleTest, RuleTestFile
from dqwatch.simulator.errors import graph_error
from dqwatch.store import Store

__all__ = ["START", "graph_failure", "run_rule_tests", "run_test"]

#: Every test starts at this instant (Monday 6 January 2025, 00:00 UTC), so
#: summaries and baseline windows come out the same on every run.
START = 1736121600.0


def run_rule_tests(paths: Sequence[Path], out: TextIO) -> bool:
    """Run the rule tests in ``paths`` (files, or folders of ``*.toml``).

    Writes a PASS or FAIL line per test to ``out``, each failure followed
    by what differed, poll by poll, and a count at the end. Returns True
    when every test passed. Raises :class:`~dqwatch.errors.RuleError`,
    before running anything, when any test file or rule file has a problem.
    """
    files = _load_all(rule_test_paths(list(paths)))
    passed = failed = 0
    with tempfile.TemporaryDirectory(prefix="dqwatch-rule-tests-") as folder:
        for file in files:
            out.write(f"{file.path}\n")
            for test in file.tests:
                database = Path(folder) / f"test-{passed + failed}.db"
                found = asyncio.run(run_test(test, file.rules, database))
                out.write(f"  {'FAIL' if found else 'PASS'}  {test.name}\n")
                out.writelines(f"        {line}\n" for line in found)
                failed += bool(found)
                passed += not found
    out.write(f"\n{_count(passed + failed, len(files))}: ")
    out.write(f"{passed} passed, {failed} failed\n")
    return failed == 0


async def run_test(test: RuleTest, rules: RuleSet, database: Path) -> list[str]:
    """Run one test on a new database at ``database``; return what differed."""
    store = Store.open(database)
    try:
        evaluator = Evaluator(rules, AlertBook())
        found: list[str] = []
        for poll in test.polls:
            now = START + poll.at
            for response in poll.responses:
                result = await _record(store, response, now)
                await _evaluate(store, evaluator, result)
            found += differences(poll, evaluator.book)
        return found
    finally:
        store.close()


def graph_failure(failure: Failure) -> GraphError:
    """The error the Graph client raises when the API answers with ``failure``.

    The answer is the one the simulator sends for that code (the API's own
    message, type and HTTP status), read by the client's own classifier.
    """
    fault = graph_error(failure.code, failure.subcode, message=failure.message)
    body = fault.body("rule-test").decode()
    error = error_from_answer(fault.http_status, body, Scrubber())
    if error is None:
        raise AssertionError(f"an error answer read as a success: {body}")
    return error


async def _record(store: Store, response: Response, now: float) -> PollResult:
    target = response.target
    if response.failure is not None:
        error = graph_failure(response.failure)
        outcome = outcome_of(error)
        await store.record_poll(
            target.dataset_id, target.source, now, now, error=error, outcome=outcome
        )
        return PollResult(target, outcome, now, now, error)
    snapshot = Snapshot(
        target.dataset_id,
        target.source,
        now,
        response.events,
        response.observations,
        response.raw,
    )
    recorded = await store.record_poll(
        target.dataset_id, target.source, now, now, snapshot=snapshot, outcome=OK
    )
    return PollResult(
        target,
        OK,
        now,
        now,
        snapshot=snapshot,
        changes=recorded.changes,
        first=recorded.first,
    )


async def _evaluate(store: Store, evaluator: Evaluator, result: PollResult) -> None:
    # The steps of Runtime.evaluate, without notifications.
    outcome = evaluator.evaluate(
        result, await fetch_baselines(store, evaluator, result)
    )
    await store.save_alerts(outcome.updates, outcome.transitions)


def _load_all(paths: list[Path]) -> list[RuleTestFile]:
    files = []
    problems = []
    for path in paths:
        try:
            files.append(load_test_file(path))
        except RuleError as error:
            problems += error.problems
    if problems:
        raise RuleError(problems)
    return files


def _count(tests: int, files: int) -> str:
    return f"{_plural(tests, 'test')} in {_plural(files, 'file')}"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"
