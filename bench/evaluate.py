"""Evaluation benchmark: the default rules over 10,000 datasets x 10 events.

Builds poll results in memory (no HTTP, no SQLite: this measures rule
evaluation alone) shaped like the simulator's generated datasets: per event
an EMQ, six match keys with coverage and ACR, coverage and its goal, three
dedupe keys with three metrics each, freshness, ACR, and sometimes a
diagnostic. Then times the evaluator on:

- a baseline cycle (every dataset's first poll);
- a cycle where 1% of the series changed;
- a cycle where every series changed.

Changed values move a little either way, as real scores do between polls,
so some alerts fire and resolve. Usage: python bench/evaluate.py [--datasets N]
"""

from __future__ import annotations

import argparse
import json
import random
import time
from typing import Any

from dqwatch.alerts import AlertBook
from dqwatch.evaluate import Evaluator
from dqwatch.model import Observation, Snapshot, Value
from dqwatch.poller import OK, PollResult, Target
from dqwatch.rules import load_rules, packaged_rule_paths
from dqwatch.store import SeriesChange

EVENTS = (
    "Purchase",
    "Lead",
    "AddToCart",
    "ViewContent",
    "InitiateCheckout",
    "CompleteRegistration",
    "Search",
    "Contact",
    "Subscribe",
    "PageView",
)
KEYS = ("email", "phone", "ip_address", "user_agent", "external_id", "fbp")
DEDUPE = ("event_id", "external_id", "fbp")

Series = tuple[str, str, str]


def series_of(rng: random.Random) -> dict[Series, Value]:
    """One dataset's values: about 30 per event."""
    values: dict[Series, Value] = {}
    for event in EVENTS:
        values[(event, "emq", "")] = round(rng.uniform(4, 9.5), 1)
        for key in KEYS:
            values[(event, "match_key_coverage", key)] = round(rng.uniform(40, 100), 1)
            values[(event, "match_key_acr", key)] = round(rng.uniform(0, 60), 1)
        values[(event, "event_coverage", "")] = round(rng.uniform(50, 100), 1)
        values[(event, "event_coverage_goal", "")] = 75.0
        values[(event, "coverage_acr", "")] = round(rng.uniform(0, 40), 1)
        for key in DEDUPE:
            for metric in ("dedupe_browser", "dedupe_server", "dedupe_overall"):
                values[(event, metric, key)] = round(rng.uniform(0, 100), 1)
        values[(event, "freshness", "")] = "real_time"
        values[(event, "event_acr", "")] = round(rng.uniform(0, 40), 1)
        if rng.random() < 0.1:
            values[(event, "diagnostic", "Server sending mismatched IP addresses")] = (
                12.5
            )
    return values


def nudge(value: Value, rng: random.Random) -> Value:
    if isinstance(value, str):
        return "hourly" if rng.random() < 0.02 else value
    return round(min(100.0, max(0.0, value + rng.choice((-1.2, -0.3, 0.3, 1.2)))), 1)


def result_for(
    dataset: str,
    values: dict[Series, Value],
    changes: list[SeriesChange],
    at: float,
    first: bool,
) -> PollResult:
    target = Target(dataset, "web", f"Dataset {dataset}", f"owner{int(dataset) % 50}")
    snapshot = None
    if changes:
        observations = tuple(
            Observation("web", e, m, k, v) for (e, m, k), v in values.items()
        )
        snapshot = Snapshot(dataset, "web", at, EVENTS, observations, "")
    return PollResult(target, OK, at, at, None, snapshot, changes, not changes, first)


def cycle(
    evaluator: Evaluator,
    state: dict[str, dict[Series, Value]],
    fraction: float,
    at: float,
    rng: random.Random,
    first: bool = False,
) -> dict[str, Any]:
    results = []
    for dataset, values in state.items():
        changes: list[SeriesChange] = []
        for series, before in list(values.items()):
            if first or rng.random() < fraction:
                after = before if first else nudge(before, rng)
                if first or after != before:
                    values[series] = after
                    changes.append(
                        SeriesChange(
                            dataset,
                            "web",
                            *series,
                            None if first else before,
                            after,
                            {},
                        )
                    )
        results.append(result_for(dataset, values, changes, at, first))
    changed = sum(len(r.changes) for r in results)
    started = time.perf_counter()
    transitions = 0
    for result in results:
        transitions += len(evaluator.evaluate(result).transitions)
    seconds = time.perf_counter() - started
    return {
        "series_changed": changed,
        "seconds": round(seconds, 3),
        "alert_changes": transitions,
        "open_alerts": len(evaluator.book),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", type=int, default=10_000)
    args = parser.parse_args()
    rng = random.Random(7)
    state = {str(120_000_000_000_000 + i): series_of(rng) for i in range(args.datasets)}
    evaluator = Evaluator(load_rules(packaged_rule_paths()), AlertBook())
    report = {
        "datasets": args.datasets,
        "series": sum(len(v) for v in state.values()),
        "baseline": cycle(evaluator, state, 1.0, 0.0, rng, first=True),
        "changed_1pct": cycle(evaluator, state, 0.01, 900.0, rng),
        "changed_all": cycle(evaluator, state, 1.0, 1800.0, rng),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
