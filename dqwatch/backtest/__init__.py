"""``dqwatch backtest``: replay stored history through the current rules.

:func:`backtest` replays every poll stored since a point in time, in the
order they happened, through a rule set with an alert book of its own, and
reports every alert change the rules would have made. It reads the store
and writes nothing: the alerts in the database stay as they are.
:func:`backtest_table` and :func:`backtest_json` render the report;
:func:`parse_since` reads the ``--since`` option. ``docs/backtest.md``
describes the command and what a replay can and cannot know.
"""

from dqwatch.backtest._backtest import SLICE, backtest, parse_since
from dqwatch.backtest._errors import error_type, rebuild_error
from dqwatch.backtest._report import (
    BacktestReport,
    RuleTally,
    backtest_json,
    backtest_table,
)

__all__ = [
    "SLICE",
    "BacktestReport",
    "RuleTally",
    "backtest",
    "backtest_json",
    "backtest_table",
    "error_type",
    "parse_since",
    "rebuild_error",
]
