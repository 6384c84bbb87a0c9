"""The poll cycle's own options: batching, discovery, malformed answers."""

from __future__ import annotations

from pathlib import Path

from dqwatch.config import load_config
from dqwatch.cycle import Runtime, configured_rules, run_cycle
from dqwatch.simulator import Scenario, Simulator
from dqwatch.store import Store
from tests.conftest import scenario_dict, write_config


async def cycle(path: Path) -> tuple[list[str], int]:
    config = load_config(path)
    store = Store.open(config.storage.path)
    try:
        async with Runtime(config, configured_rules(config), store) as runtime:
            report = await run_cycle(runtime)
    finally:
        store.close()
    return [r.outcome for r in report.results], len(report.discovered)


async def test_batching_sends_several_datasets_per_request(tmp_path: Path) -> None:
    """With batch_size, ten datasets take two requests; each is still one call."""
    scenario = scenario_dict()
    scenario["dataset"].extend(
        {"id": str(5000 + i), "business": "555", "event": [{"name": "Lead", "emq": 7}]}
        for i in range(10)
    )
    sim = Simulator(Scenario.from_dict(scenario, source="<test>"))
    datasets = "".join(f'[[dataset]]\nid = "{5000 + i}"\n' for i in range(10))
    async with sim.running() as url:
        path = write_config(tmp_path, url, datasets, graph="batch_size = 5")
        outcomes, _ = await cycle(path)
    assert outcomes == ["ok"] * 10
    assert sim.stats.requests == 2
    assert sim.stats.calls == 10


async def test_discovery_adds_owned_and_client_pixels(tmp_path: Path) -> None:
    """[[discover]] lists a business's pixels and polls them too."""
    scenario = scenario_dict()
    scenario["dataset"].append(
        {"id": "3001", "business": "777", "clients": ["555"], "event": []}
    )
    scenario["business"].append({"id": "777", "name": "Other"})
    sim = Simulator(Scenario.from_dict(scenario, source="<test>"))
    async with sim.running() as url:
        path = write_config(
            tmp_path, url, '[[discover]]\nbusiness_id = "555"\nowner = "acme"\n'
        )
        outcomes, discovered = await cycle(path)
    assert discovered == 3  # 1001 and 1002 owned, 3001 as a client pixel
    assert outcomes == ["ok"] * 3


async def test_a_malformed_answer_is_a_recorded_failure(tmp_path: Path) -> None:
    """An answer that is not the documented shape is a failed poll, not a crash."""
    sim = Simulator(Scenario.from_dict(scenario_dict(), source="<test>"))
    async with sim.running() as url:
        sim.inject_fault(1, dataset_id="1001", times=10, http_status=200, html=True)
        path = write_config(tmp_path, url, '[[dataset]]\nid = "1001"\n')
        outcomes, _ = await cycle(path)
    assert outcomes == ["malformed"]
