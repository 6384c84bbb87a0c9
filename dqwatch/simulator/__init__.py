"""A faithful local stand-in for the Graph API's ``dataset_quality`` and friends.

Used by the tests, the benchmarks and ``dqwatch demo``. A scenario (TOML)
says which tokens, businesses and datasets exist, what their events
measure, how that changes poll by poll or over time, which errors to
answer, and the rate limits to enforce. See ``docs/simulator.md``.

    scenario = load_scenario(Path("scenario.toml"))
    simulator = Simulator(scenario)
    async with simulator.running() as url:
        ...  # point a Graph client at url
"""

from dqwatch.simulator.app import RecordedRequest
from dqwatch.simulator.data import normalize_agent
from dqwatch.simulator.engine import SimStats
from dqwatch.simulator.fields import Field, FieldSyntaxError, parse_fields
from dqwatch.simulator.metrics import METRICS
from dqwatch.simulator.scenario import (
    Scenario,
    load_scenario,
    packaged_scenario,
    packaged_scenarios,
)
from dqwatch.simulator.simulator import ManualClock, Simulator, serve

__all__ = [
    "METRICS",
    "Field",
    "FieldSyntaxError",
    "ManualClock",
    "RecordedRequest",
    "Scenario",
    "SimStats",
    "Simulator",
    "load_scenario",
    "normalize_agent",
    "packaged_scenario",
    "packaged_scenarios",
    "parse_fields",
    "serve",
]
