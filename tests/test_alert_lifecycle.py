"""Rules and alerts end to end: real polls through the simulator into real SQLite.

Each cycle runs the way ``poll-once`` does: a fresh Runtime over the same
database file, so every test also proves that alert state survives a restart.
"""

from __future__ import annotations

import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from dqwatch.alerts import Alert, Transition
from dqwatch.config import load_config
from dqwatch.cycle import Runtime, configured_rules, run_cycle
from dqwatch.simulator import Scenario, Simulator
from dqwatch.store import Store
from tests.conftest import scenario_dict, write_config

DAY = 86400.0


class Harness:
    """A simulator, a config with given rules, and cycles run against them."""

    def __init__(self, tmp_path: Path, sim: Simulator) -> None:
        self.tmp_path = tmp_path
        self.sim = sim
        self.now = 1_800_000_000.0
        self.rules_file = tmp_path / "rules.toml"

    def rules(self, text: str) -> None:
        self.rules_file.write_text(textwrap.dedent(text))

    #: The config's [[dataset]] tables; tests about other datasets replace it.
    datasets = """
        [[dataset]]
        id = "1001"
        name = "Acme shop"
        owner = "acme"

        [[dataset]]
        id = "1002"
        name = "Acme blog"
        owner = "beta"
        """
    #: Extra [graph] lines.
    graph = ""

    def config(self) -> Path:
        return write_config(
            self.tmp_path,
            self.sim.url,
            textwrap.dedent(self.datasets) + '\n[rules]\npaths = ["rules.toml"]\n',
            graph=self.graph,
        )

    async def cycle(self, advance: float = 900.0) -> list[Transition]:
        """One poll-once: load everything afresh, poll, evaluate, close."""
        self.now += advance
        config = load_config(self.config())
        store = Store.open(config.storage.path)
        try:
            async with Runtime(
                config, configured_rules(config), store, clock=lambda: self.now
            ) as runtime:
                adopted = await runtime.adopt_rules()
                report = await run_cycle(runtime)
        finally:
            store.close()
        return [*adopted, *report.transitions]

    async def open_alerts(self) -> list[Alert]:
        store = Store.open(self.tmp_path / "dq.db")
        try:
            return await store.open_alerts()
        finally:
            store.close()


def changes(transitions: list[Transition]) -> set[tuple[str, str, str, str, str]]:
    """(state, rule, dataset, event, key) of each transition, for comparisons."""
    return {
        (t.state, t.alert.rule, t.alert.dataset_id, t.alert.event, t.alert.key)
        for t in transitions
    }


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    sim = Simulator(Scenario.from_dict(scenario_dict(), source="<test>"))
    async with sim.running():
        yield Harness(tmp_path, sim)


async def test_threshold_fires_on_first_poll_and_resolves(harness: Harness) -> None:
    """A threshold needs no previous poll; it resolves when the value recovers."""
    harness.rules("""
        [[rule]]
        name = "coverage-low"
        kind = "threshold"
        metric = "event_coverage"
        below = 85
        """)
    first = await harness.cycle()
    assert changes(first) == {("firing", "coverage-low", "1001", "Purchase", "")}
    assert await harness.cycle() == []
    harness.sim.set_value("1001", "Purchase", "event_coverage", 90.0)
    assert changes(await harness.cycle()) == {
        ("resolved", "coverage-low", "1001", "Purchase", "")
    }


async def test_threshold_below_goal_uses_the_apis_goal(harness: Harness) -> None:
    """below = "goal" compares coverage with the same event's goal_percentage."""
    harness.rules("""
        [[rule]]
        name = "under-goal"
        kind = "threshold"
        metric = "event_coverage"
        below = "goal"
        """)
    assert await harness.cycle() == []  # 82 vs goal 75
    harness.sim.set_value("1001", "Purchase", "event_coverage_goal", 90.0)
    transitions = await harness.cycle()
    assert changes(transitions) == {("firing", "under-goal", "1001", "Purchase", "")}
    assert transitions[0].alert.threshold == 90.0


DROP = """
    [[rule]]
    name = "emq-drop"
    kind = "drop"
    metric = "emq"
    by = 1.0
    """


async def test_drop_freezes_its_reference_until_recovery(harness: Harness) -> None:
    """8.1 -> 7.1 is a drop of 1.0; 7.0 keeps it; it resolves only near 8.1 again."""
    harness.rules(DROP)
    harness.sim.set_value("1001", "Purchase", "emq", 8.1)
    assert await harness.cycle() == []  # first poll: the baseline
    harness.sim.set_value("1001", "Purchase", "emq", 7.1)
    fired = await harness.cycle()
    assert changes(fired) == {("firing", "emq-drop", "1001", "Purchase", "")}
    assert (fired[0].alert.before, fired[0].alert.value) == (8.1, 7.1)
    assert fired[0].alert.summary == "EMQ for Purchase fell from 8.1 to 7.1"
    assert await harness.cycle() == []  # same low value: still firing
    harness.sim.set_value("1001", "Purchase", "emq", 7.0)
    assert await harness.cycle() == []  # 8.1 - 7.0 still >= 1
    harness.sim.set_value("1001", "Purchase", "emq", 7.6)
    assert changes(await harness.cycle()) == {
        ("resolved", "emq-drop", "1001", "Purchase", "")
    }


async def test_first_poll_sets_the_baseline(harness: Harness) -> None:
    """A dataset first seen at a low value fires no comparison rule."""
    harness.rules(DROP)
    harness.sim.set_value("1001", "Purchase", "emq", 2.0)
    assert await harness.cycle() == []
    assert await harness.open_alerts() == []


async def test_drop_by_percent(harness: Harness) -> None:
    """by_percent measures the fall relative to the reference."""
    harness.rules("""
        [[rule]]
        name = "emq-slide"
        kind = "drop"
        metric = "emq"
        by_percent = 20
        """)
    await harness.cycle()  # 7.8
    harness.sim.set_value("1001", "Purchase", "emq", 6.5)  # -16.7%
    assert await harness.cycle() == []
    harness.sim.set_value("1001", "Purchase", "emq", 6.0)  # -7.7% of 6.5
    assert await harness.cycle() == []
    harness.sim.set_value("1001", "Purchase", "emq", 4.0)  # -33% of 6.0
    assert changes(await harness.cycle()) == {
        ("firing", "emq-slide", "1001", "Purchase", "")
    }


async def test_drop_against_a_baseline_median(harness: Harness) -> None:
    """compare_to = baseline:7d uses the time-weighted median of the week."""
    harness.rules("""
        [[rule]]
        name = "emq-below-week"
        kind = "drop"
        metric = "emq"
        by = 1.0
        compare_to = "baseline:7d"
        """)
    await harness.cycle()  # 7.8 for two days
    harness.sim.set_value("1001", "Purchase", "emq", 7.3)
    assert await harness.cycle(advance=2 * DAY) == []  # median 7.8: a fall of 0.5
    harness.sim.set_value("1001", "Purchase", "emq", 6.7)
    fired = await harness.cycle(advance=0.5 * DAY)  # median still 7.8: fall 1.1
    assert changes(fired) == {("firing", "emq-below-week", "1001", "Purchase", "")}
    assert fired[0].alert.before == 7.8


async def test_disappeared_is_per_key_and_resolves_when_back(harness: Harness) -> None:
    """A match key no longer sent fires for that key only, and resolves when back."""
    harness.rules("""
        [[rule]]
        name = "key-lost"
        kind = "disappeared"
        metric = "match_key_coverage"
        """)
    await harness.cycle()
    harness.sim.remove("1001", "Purchase", "match_key_coverage", key="phone")
    assert changes(await harness.cycle()) == {
        ("firing", "key-lost", "1001", "Purchase", "phone")
    }
    harness.sim.set_value("1001", "Purchase", "match_key_coverage", 0.0, key="email")
    assert changes(await harness.cycle()) == {
        ("firing", "key-lost", "1001", "Purchase", "email")
    }
    harness.sim.set_value("1001", "Purchase", "match_key_coverage", 75.0, key="phone")
    assert changes(await harness.cycle()) == {
        ("resolved", "key-lost", "1001", "Purchase", "phone")
    }


async def test_a_vanished_event_is_unknown_not_zero(harness: Harness) -> None:
    """An event missing from the response fires nothing and resolves nothing."""
    harness.rules("""
        [[rule]]
        name = "key-lost"
        kind = "disappeared"
        metric = "match_key_coverage"

        [[rule]]
        name = "emq-low"
        kind = "threshold"
        metric = "emq"
        below = 6.5
        """)
    fired = await harness.cycle()
    assert changes(fired) == {
        ("firing", "emq-low", "1001", "Lead", ""),
        ("firing", "emq-low", "1002", "ViewContent", ""),
    }
    harness.sim.remove("1001", "Lead")
    assert await harness.cycle() == []
    assert {(a.rule, a.event) for a in await harness.open_alerts()} == {
        ("emq-low", "Lead"),
        ("emq-low", "ViewContent"),
    }


async def test_appeared_fires_for_a_new_key_only(harness: Harness) -> None:
    """A new diagnostic fires; one present from the first poll does not."""
    harness.rules("""
        [[rule]]
        name = "new-diagnostic"
        kind = "appeared"
        metric = "diagnostic"
        """)
    harness.sim.set_value("1001", "Purchase", "diagnostic", 10.0, key="Old issue")
    assert await harness.cycle() == []
    harness.sim.set_value("1001", "Purchase", "diagnostic", 59.5, key="New issue")
    assert changes(await harness.cycle()) == {
        ("firing", "new-diagnostic", "1001", "Purchase", "New issue")
    }
    harness.sim.remove("1001", "Purchase", "diagnostic", key="New issue")
    assert changes(await harness.cycle()) == {
        ("resolved", "new-diagnostic", "1001", "Purchase", "New issue")
    }


async def test_changed_fires_only_when_leaving_the_from_value(harness: Harness) -> None:
    """Freshness leaving real_time fires; a value that never was real_time does not."""
    harness.rules("""
        [[rule]]
        name = "not-realtime"
        kind = "changed"
        metric = "freshness"
        from = "real_time"
        """)
    harness.sim.set_value("1001", "Lead", "freshness", "hourly")
    await harness.cycle()
    harness.sim.set_value("1001", "Lead", "freshness", "daily")
    assert await harness.cycle() == []
    harness.sim.set_value("1001", "Purchase", "freshness", "hourly")
    fired = await harness.cycle()
    assert changes(fired) == {("firing", "not-realtime", "1001", "Purchase", "")}
    assert fired[0].alert.before == "real_time"
    harness.sim.set_value("1001", "Purchase", "freshness", "real_time")
    assert changes(await harness.cycle()) == {
        ("resolved", "not-realtime", "1001", "Purchase", "")
    }


async def test_for_waits_for_consecutive_polls(harness: Harness) -> None:
    """for = 2: pending first, firing at the second poll even if nothing changed."""
    harness.rules("""
        [[rule]]
        name = "emq-low"
        kind = "threshold"
        metric = "emq"
        below = 5.5
        for = 2
        """)
    assert changes(await harness.cycle()) == {
        ("pending", "emq-low", "1002", "ViewContent", "")
    }
    assert changes(await harness.cycle()) == {
        ("firing", "emq-low", "1002", "ViewContent", "")
    }


async def test_pending_alert_that_clears_never_fires(harness: Harness) -> None:
    """A pending alert whose condition clears becomes inactive, never firing."""
    harness.rules("""
        [[rule]]
        name = "emq-low"
        kind = "threshold"
        metric = "emq"
        below = 5.5
        for = 3
        """)
    await harness.cycle()
    harness.sim.set_value("1002", "ViewContent", "emq", 6.0)
    assert changes(await harness.cycle()) == {
        ("inactive", "emq-low", "1002", "ViewContent", "")
    }
    assert await harness.open_alerts() == []


async def test_failed_poll_neither_advances_nor_resets_for(harness: Harness) -> None:
    """A poll that fails leaves a pending count where it was."""
    harness.rules("""
        [[rule]]
        name = "emq-low"
        kind = "threshold"
        metric = "emq"
        below = 5.5
        for = 2
        """)
    await harness.cycle()
    harness.sim.inject_fault(2, dataset_id="1002", times=3)  # 1 + max_retries
    transitions = await harness.cycle()
    assert ("pending", "dataset-unreachable") not in {
        (t.state, t.alert.rule) for t in transitions
    }
    assert [a.count for a in await harness.open_alerts() if a.rule == "emq-low"] == [1]
    await harness.cycle()
    assert {a.state for a in await harness.open_alerts() if a.rule == "emq-low"} == {
        "firing"
    }


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ('events = ["Pur*"]', {("1001", "Purchase")}),
        ('events = ["L?ad"]', {("1001", "Lead")}),
        ('owners = ["beta"]', {("1002", "ViewContent")}),
        ('datasets = ["1001"]', {("1001", "Purchase"), ("1001", "Lead")}),
    ],
)
async def test_filters_limit_which_series_a_rule_sees(
    harness: Harness, filters: str, expected: set[tuple[str, str]]
) -> None:
    """events globs, owners and datasets narrow a rule to matching series."""
    harness.rules(f"""
        [[rule]]
        name = "emq-any"
        kind = "threshold"
        metric = "emq"
        below = 9.9
        {filters}
        """)
    fired = await harness.cycle()
    assert {(t.alert.dataset_id, t.alert.event) for t in fired} == expected


async def test_restart_keeps_state_and_refires_nothing(harness: Harness) -> None:
    """Across restarts an alert fires once, keeps its since-time, resolves once."""
    harness.rules(DROP)
    await harness.cycle()
    harness.sim.set_value("1001", "Purchase", "emq", 5.0)
    fired = await harness.cycle()
    since = fired[0].alert.firing_since
    for _ in range(3):
        assert await harness.cycle() == []
    alerts = await harness.open_alerts()
    assert [(a.rule, a.state, a.firing_since) for a in alerts] == [
        ("emq-drop", "firing", since)
    ]


async def test_editing_a_rule_keeps_its_alerts_removing_it_resolves(
    harness: Harness,
) -> None:
    """Same name, new threshold: state kept; rule gone: its alerts resolve."""
    harness.rules("""
        [[rule]]
        name = "emq-low"
        kind = "threshold"
        metric = "emq"
        below = 5.5
        """)
    await harness.cycle()
    harness.rules("""
        [[rule]]
        name = "emq-low"
        kind = "threshold"
        metric = "emq"
        below = 5.2
        severity = "critical"
        """)
    assert await harness.cycle() == []
    harness.rules("""
        [[rule]]
        name = "something-else"
        kind = "threshold"
        metric = "emq"
        below = 1
        """)
    assert changes(await harness.cycle()) == {
        ("resolved", "emq-low", "1002", "ViewContent", "")
    }


async def test_a_new_threshold_rule_fires_without_values_moving(
    harness: Harness,
) -> None:
    """A rule added later is checked against the stored values at once."""
    harness.rules(DROP)
    await harness.cycle()
    harness.rules(
        DROP
        + """
        [[rule]]
        name = "emq-low"
        kind = "threshold"
        metric = "emq"
        below = 5.5
        """
    )
    assert changes(await harness.cycle()) == {
        ("firing", "emq-low", "1002", "ViewContent", "")
    }


async def test_unknown_dataset_is_one_unreachable_alert(
    tmp_path: Path,
) -> None:
    """2044055 fires dataset-unreachable once per dataset; success resolves it."""
    scenario = scenario_dict()
    scenario["dataset"].append({"id": "9999", "business": "555", "access": "unknown"})
    sim = Simulator(Scenario.from_dict(scenario, source="<test>"))
    async with sim.running():
        harness = Harness(tmp_path, sim)
        harness.rules("")
        harness.datasets = """
            [[dataset]]
            id = "9999"
            sources = ["web", "offline"]
            """
        fired = await harness.cycle()
        assert changes(fired) == {("firing", "dataset-unreachable", "9999", "", "")}
        assert fired[0].alert.severity == "critical"
        assert "2044055" in fired[0].alert.summary
        assert await harness.cycle() == []


async def test_invalid_token_is_one_alert_not_one_per_dataset(tmp_path: Path) -> None:
    """Every dataset failing with 190 gives a single token-invalid alert."""
    scenario = scenario_dict(token=[{"value": "other"}])
    scenario["dataset"].extend(
        {"id": str(5000 + i), "business": "555", "event": []} for i in range(8)
    )
    sim = Simulator(Scenario.from_dict(scenario, source="<test>"))
    datasets = "".join(f'[[dataset]]\nid = "{5000 + i}"\n' for i in range(8))
    async with sim.running():
        harness = Harness(tmp_path, sim)
        harness.rules("")
        harness.datasets = datasets
        harness.graph = "max_concurrency = 2"
        fired = await harness.cycle()
    assert changes(fired) == {("firing", "token-invalid", "", "", "")}
    assert sim.stats.calls <= 2  # what was in flight; the rest was not sent


async def test_silenced_alerts_are_recorded_and_marked(harness: Harness) -> None:
    """An alert matching an active silence is stored, flagged silenced."""
    harness.rules("""
        [[rule]]
        name = "emq-low"
        kind = "threshold"
        metric = "emq"
        below = 6.5
        """)
    store = Store.open(harness.tmp_path / "dq.db")
    try:
        await store.add_silence(
            {"owner": "acme", "event": "L*"}, 0, harness.now + DAY, "known", "ops"
        )
    finally:
        store.close()
    fired = await harness.cycle()
    flags = {(t.alert.dataset_id, t.alert.event): t.alert.silenced for t in fired}
    assert flags == {("1001", "Lead"): True, ("1002", "ViewContent"): False}
