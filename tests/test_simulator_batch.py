"""Batch requests: limits, per-item answers, counting, null items."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from dqwatch.simulator import Scenario, Simulator

SCENARIO: dict[str, Any] = {
    "token": [
        {"value": "t"},
        {"value": "other"},
        {"value": "old", "status": "expired"},
    ],
    "rate_limit": {"business_calls": 1000, "headers_after": 1},
    "business": [{"id": "10"}],
    "dataset": [
        {"id": str(n), "business": "10", "event": [{"name": "Lead", "emq": n / 10}]}
        for n in range(1, 61)
    ],
}


@pytest.fixture
async def served() -> AsyncIterator[tuple[Simulator, aiohttp.ClientSession, str]]:
    simulator = Simulator(Scenario.from_dict(SCENARIO))
    headers = {"Authorization": "Bearer t"}
    async with simulator.running() as url, aiohttp.ClientSession(headers=headers) as s:
        yield simulator, s, url


def _items(count: int, fields: str = "web{event_name,event_match_quality}") -> str:
    return json.dumps(
        [
            {
                "method": "GET",
                "relative_url": f"dataset_quality?dataset_id={n}&fields={fields}",
            }
            for n in range(1, count + 1)
        ]
    )


async def _batch(
    session: aiohttp.ClientSession, url: str, path: str = "/v24.0/", **form: str
) -> tuple[int, Any, dict[str, str]]:
    async with session.post(f"{url}{path}", data=form) as response:
        return response.status, await response.json(), dict(response.headers)


async def test_each_item_answers_code_headers_and_body_string(
    served: tuple[Simulator, aiohttp.ClientSession, str],
) -> None:
    """Items come back in order as ``{code, headers, body}`` with a JSON string body."""
    _, session, url = served
    status, answers, _ = await _batch(session, url, batch=_items(3))
    assert status == 200
    assert [a["code"] for a in answers] == [200, 200, 200]
    bodies = [json.loads(a["body"]) for a in answers]
    assert [b["web"][0]["event_match_quality"]["composite_score"] for b in bodies] == [
        0.1,
        0.2,
        0.3,
    ]
    names = {h["name"] for h in answers[0]["headers"]}
    assert {"Content-Type", "X-Business-Use-Case-Usage"} <= names


@pytest.mark.parametrize("path", ["/", "/v24.0/", "/v24.0"])
async def test_batch_at_root_and_version_root(
    served: tuple[Simulator, aiohttp.ClientSession, str], path: str
) -> None:
    """``POST /`` and ``POST /{version}/`` both take a batch."""
    _, session, url = served
    status, answers, _ = await _batch(session, url, path=path, batch=_items(1))
    assert (status, answers[0]["code"]) == (200, 200)


async def test_fifty_items_pass_fifty_one_fail(
    served: tuple[Simulator, aiohttp.ClientSession, str],
) -> None:
    """A batch holds at most 50 requests; 51 is error 100 and counts nothing."""
    simulator, session, url = served
    status, answers, _ = await _batch(session, url, batch=_items(50))
    assert (status, len(answers)) == (200, 50)
    assert simulator.stats.calls == 50
    status, body, _ = await _batch(session, url, batch=_items(51))
    assert (status, body["error"]["code"]) == (400, 100)
    assert "Maximum batch size is 50" in body["error"]["message"]
    assert simulator.stats.calls == 50


async def test_every_item_counts_as_a_call(
    served: tuple[Simulator, aiohttp.ClientSession, str],
) -> None:
    """A batch of five is one request and five calls against the business."""
    simulator, session, url = served
    _, _, headers = await _batch(session, url, batch=_items(5))
    assert simulator.stats.requests == 1
    assert simulator.stats.calls == 5
    assert simulator.stats.calls_by_business == {"10": 5}
    usage = json.loads(headers["X-Business-Use-Case-Usage"])
    assert usage["10"][0]["call_count"] == 0  # 5 of 1000: under one percent


async def test_items_are_throttled_one_by_one() -> None:
    """Past the budget, the remaining items of a batch are throttled, not the batch."""
    scenario = Scenario.from_dict(
        {**SCENARIO, "rate_limit": {"business_calls": 3, "headers_after": 1}}
    )
    simulator = Simulator(scenario)
    headers = {"Authorization": "Bearer t"}
    async with simulator.running() as url, aiohttp.ClientSession(headers=headers) as s:
        status, answers, _ = await _batch(s, url, batch=_items(5))
    assert status == 200
    assert [a["code"] for a in answers] == [200, 200, 200, 400, 400]
    assert json.loads(answers[3]["body"])["error"]["code"] == 80004
    assert simulator.stats.throttled == 2


async def test_include_headers_false_drops_item_headers(
    served: tuple[Simulator, aiohttp.ClientSession, str],
) -> None:
    """``include_headers=false`` answers items without their headers."""
    _, session, url = served
    _, answers, _ = await _batch(session, url, batch=_items(2), include_headers="false")
    assert all(set(a) == {"code", "body"} for a in answers)


async def test_items_fail_alone(
    served: tuple[Simulator, aiohttp.ClientSession, str],
) -> None:
    """An unknown dataset or bad token in one item leaves the others intact."""
    _, session, url = served
    items = [
        {"method": "GET", "relative_url": "dataset_quality?dataset_id=1"},
        {"method": "GET", "relative_url": "dataset_quality?dataset_id=999"},
        {
            "method": "GET",
            "relative_url": "dataset_quality?dataset_id=2&access_token=old",
        },
        {"method": "GET", "relative_url": "v24.0/dataset_quality?dataset_id=3"},
        {"relative_url": 5},
    ]
    _, answers, _ = await _batch(session, url, batch=json.dumps(items))
    codes = [a["code"] for a in answers]
    assert codes == [200, 400, 400, 200, 400]
    errors = [json.loads(a["body"]).get("error", {}).get("code") for a in answers]
    assert errors == [None, 2044055, 190, None, 100]
    oauth = {h["name"]: h["value"] for h in answers[2]["headers"]}
    assert oauth["WWW-Authenticate"].startswith("OAuth")


async def test_batch_token_is_checked_first(
    served: tuple[Simulator, aiohttp.ClientSession, str],
) -> None:
    """A batch with an expired token fails whole, before any item runs."""
    simulator, session, url = served
    async with session.post(
        f"{url}/v24.0/",
        data={"batch": _items(2)},
        headers={"Authorization": "Bearer old"},
    ) as response:
        body = await response.json()
    assert (response.status, body["error"]["error_subcode"]) == (400, 463)
    assert simulator.stats.calls == 0


@pytest.mark.parametrize("batch", ["not json", "{}", "[]"])
async def test_malformed_batch_is_error_100(
    served: tuple[Simulator, aiohttp.ClientSession, str], batch: str
) -> None:
    """A batch that is not a non-empty JSON array is error 100."""
    _, session, url = served
    status, body, _ = await _batch(session, url, batch=batch)
    assert (status, body["error"]["code"]) == (400, 100)


async def test_injected_timeout_gives_a_null_item(
    served: tuple[Simulator, aiohttp.ClientSession, str],
) -> None:
    """A timeout for one dataset makes its item ``null``; the rest answer."""
    simulator, session, url = served
    simulator.inject_timeout(dataset_id="2")
    _, answers, _ = await _batch(session, url, batch=_items(3))
    assert answers[1] is None
    assert answers[0]["code"] == answers[2]["code"] == 200
    _, again, _ = await _batch(session, url, batch=_items(3))
    assert again[1] is not None  # the timeout was used up


async def test_null_fraction_drops_items_deterministically() -> None:
    """``batch_null_fraction`` leaves some items ``null``, the same ones each run."""
    scenario = Scenario.from_dict(
        {**SCENARIO, "simulator": {"batch_null_fraction": 0.3, "seed": 4}}
    )
    runs = []
    for _ in range(2):
        simulator = Simulator(scenario)
        headers = {"Authorization": "Bearer t"}
        async with (
            simulator.running() as url,
            aiohttp.ClientSession(headers=headers) as s,
        ):
            _, answers, _ = await _batch(s, url, batch=_items(40))
        runs.append([a is None for a in answers])
    assert runs[0] == runs[1]
    assert 0 < sum(runs[0]) < 40
