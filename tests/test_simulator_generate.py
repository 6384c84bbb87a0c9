"""Generated datasets: determinism, realistic shapes, epochs and memory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from dqwatch.simulator import Scenario, Simulator
from dqwatch.simulator.auth import Credentials
from dqwatch.simulator.engine import Call, Engine

FULL = (
    "web{event_name,event_match_quality{composite_score,match_key_feedback{identifier,"
    "coverage,potential_aly_acr_increase},diagnostics},event_coverage{percentage,"
    "goal_percentage,description,potential_aly_acr_increase},dedupe_key_feedback,"
    "data_freshness,event_potential_aly_acr_increase,acr}"
)
START = 120_000_000_000_000


def _scenario(seed: int = 1, datasets: int = 200, **extra: Any) -> Scenario:
    # A small pool keeps these tests quick; the shapes do not depend on it.
    return Scenario.from_dict(
        {
            "generate": {
                "datasets": datasets,
                "events": 10,
                "seed": seed,
                "pool": 16,
                **extra,
            }
        }
    )


async def _bodies(
    simulator: Simulator, ids: range, fields: str = FULL
) -> list[dict[str, Any]]:
    """The answers for ``ids``, fetched in batches of 50 over HTTP."""
    bodies = []
    headers = {"Authorization": "Bearer t"}
    async with simulator.running() as url, aiohttp.ClientSession(headers=headers) as s:
        for first in range(ids.start, ids.stop, 50):
            items = [
                {
                    "method": "GET",
                    "relative_url": f"dataset_quality?dataset_id={START + n}"
                    f"&fields={fields}",
                }
                for n in range(first, min(first + 50, ids.stop))
            ]
            form = {"batch": json.dumps(items), "include_headers": "false"}
            async with s.post(f"{url}/v24.0/", data=form) as response:
                answers = await response.json()
            bodies += [json.loads(a["body"]) for a in answers]
    return bodies


@pytest.fixture
async def sample() -> list[dict[str, Any]]:
    return await _bodies(Simulator(_scenario()), range(200))


async def test_same_seed_same_answers() -> None:
    """Two simulators with the same seed answer byte for byte the same."""
    first = await _bodies(Simulator(_scenario(seed=7)), range(0, 100))
    second = await _bodies(Simulator(_scenario(seed=7)), range(0, 100))
    other = await _bodies(Simulator(_scenario(seed=8)), range(0, 100))
    assert first == second
    assert first != other


async def test_generated_values_look_real(sample: list[dict[str, Any]]) -> None:
    """About six match keys, 0-2 diagnostics, three dedupe keys, documented goal."""
    events = [event for body in sample for event in body["web"]]
    assert len(events) == 2000
    assert all(len(body["web"]) == 10 for body in sample)
    assert all(len({e["event_name"] for e in body["web"]}) == 10 for body in sample)
    scored = [e for e in events if "event_match_quality" in e]
    assert 0.9 < len(scored) / len(events) < 1.0  # a few events carry only a name
    keys = [len(e["event_match_quality"]["match_key_feedback"]) for e in scored]
    assert set(keys) <= {5, 6, 7}
    assert 5.5 < sum(keys) / len(keys) < 6.5
    assert all(
        {"user_agent", "ip_address"}
        <= {k["identifier"] for k in e["event_match_quality"]["match_key_feedback"]}
        for e in scored
    )
    assert all(0 < e["event_match_quality"]["composite_score"] <= 10 for e in scored)
    diagnostics = [len(e["event_match_quality"].get("diagnostics", [])) for e in scored]
    assert set(diagnostics) == {0, 1, 2}
    dedupe = [e["dedupe_key_feedback"] for e in events if "dedupe_key_feedback" in e]
    assert all(
        [k["dedupe_key"] for k in d] == ["event_id", "external_id", "fbp"]
        for d in dedupe
    )
    overall = [
        [k["overall_browser_coverage_from_dedupe_key"]["percentage"] for k in d]
        for d in dedupe
    ]
    assert all(a <= b <= c for a, b, c in overall)  # incremental per key
    goals = {
        e["event_coverage"]["goal_percentage"] for e in events if "event_coverage" in e
    }
    assert goals == {75}
    freshness = {
        e["data_freshness"]["upload_frequency"] for e in events if "data_freshness" in e
    }
    assert freshness == {"real_time", "hourly"}
    assert any("acr" in e for e in events)
    assert any("acr" not in e for e in events)
    assert "null" not in json.dumps(sample)


async def test_epoch_changes_a_fraction_deterministically() -> None:
    """An epoch of 0.25 changes about a quarter of datasets, the same ones each run."""
    before = await _bodies(Simulator(_scenario()), range(200))
    changed = []
    for _ in range(2):
        simulator = Simulator(_scenario())
        count = simulator.advance_epoch(0.25)
        after = await _bodies(simulator, range(200))
        changed.append({n for n in range(200) if after[n] != before[n]})
        assert len(changed[-1]) == count
    assert changed[0] == changed[1]
    assert 30 < len(changed[0]) < 70


async def test_epoch_control_endpoint() -> None:
    """``POST /_simulator/epoch`` advances the epoch and reports the change."""
    simulator = Simulator(_scenario())
    async with simulator.running() as url, aiohttp.ClientSession() as session:
        async with session.post(f"{url}/_simulator/epoch?fraction=1") as response:
            assert await response.json() == {"epoch": 1, "changed": 200}
        async with session.post(f"{url}/_simulator/epoch?fraction=2") as response:
            assert response.status == 400


async def test_generated_dataset_can_be_edited() -> None:
    """``set_value`` on a generated dataset copies it out and edits the copy."""
    simulator = Simulator(_scenario())
    before = (await _bodies(simulator, range(3, 4)))[0]
    event = before["web"][0]["event_name"]
    simulator.set_value(str(START + 3), event, "emq", 1.5)
    after = (await _bodies(simulator, range(3, 4)))[0]
    assert after["web"][0]["event_match_quality"]["composite_score"] == 1.5
    assert after["web"][1:] == before["web"][1:]


async def test_agents_filter_generated_datasets() -> None:
    """Generated events belong to the ``[generate]`` agents only."""
    simulator = Simulator(_scenario(datasets=2, agents=["myplatform_1_0"]))
    headers = {"Authorization": "Bearer t"}
    async with simulator.running() as url, aiohttp.ClientSession(headers=headers) as s:
        answers = []
        for agent in ("myplatform", "other"):
            params = {"dataset_id": str(START), "agent_name": agent}
            async with s.get(f"{url}/v24.0/dataset_quality", params=params) as r:
                answers.append(await r.json())
    assert len(answers[0]["web"]) == 10
    assert answers[1] == {"web": []}


def _peak_rss_mb() -> float:
    """Peak resident memory of this process image, in MB (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _memory_probe() -> None:
    """Answer all of 10,000 x 10 datasets, change half, answer again; print MB."""
    before = _peak_rss_mb()
    engine = Engine(Scenario.from_dict({"generate": {"datasets": 10_000}}))
    assert engine.datasets.generated is not None
    total = 0
    for _ in range(2):
        for index in range(10_000):
            params = {"dataset_id": str(START + index), "fields": FULL}
            call = Call("GET", "/v24.0/dataset_quality", params, Credentials("t"))
            total += len(engine.answer(call).body)
        engine.datasets.generated.advance(0.5)
    print(before, _peak_rss_mb(), total)


def test_ten_thousand_datasets_in_little_memory() -> None:
    """Answering 10,000 x 10 generated datasets twice stays well under 100 MB."""
    # A fresh interpreter, so the peak memory measured is the simulator's own.
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "from tests.test_simulator_generate import _memory_probe; _memory_probe()",
        ],
        cwd=Path(__file__).parent.parent,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    before, after, total = (float(x) for x in probe.stdout.split())
    assert total > 20_000 * 20_000  # full answers of about 30 kB each
    assert after - before < 40  # MB grown by data, pool and caches
    assert after < 100
