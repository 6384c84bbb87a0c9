"""Rule unit tests: given polls, expected alerts (``dqwatch test-rules``).

A test file names rule files and test cases; each case is a sequence of
polls (values per dataset, event and metric, or a Graph API error) and the
alerts expected to be firing or pending after each poll. The polls go
through the same store and evaluator the daemon uses, on a temporary
database. ``docs/rule-tests.md`` describes the format.

    ok = run_rule_tests([Path("rules/tests")], sys.stdout)
"""

from dqwatch.ruletest._load import load_test_file, packaged_rule_tests, rule_test_paths
from dqwatch.ruletest._model import (
    Expected,
    Failure,
    Poll,
    Response,
    RuleTest,
    RuleTestFile,
)
from dqwatch.ruletest._run import START, graph_failure, run_rule_tests, run_test

__all__ = [
    "START",
    "Expected",
    "Failure",
    "Poll",
    "Response",
    "RuleTest",
    "RuleTestFile",
    "graph_failure",
    "load_test_file",
    "packaged_rule_tests",
    "rule_test_paths",
    "run_rule_tests",
    "run_test",
]
