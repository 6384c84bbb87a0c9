"""Rate limits over a rolling window, usage headers and statistics."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from dqwatch.simulator import ManualClock, Scenario, Simulator
from dqwatch.simulator.ratelimit import RollingCounter


def _scenario(**limits: Any) -> Scenario:
    return Scenario.from_dict(
        {
            "token": [{"value": "t1"}, {"value": "t2"}],
            "rate_limit": {"window": "60s", "headers_after": 2, **limits},
            "business": [{"id": "10"}, {"id": "20"}],
            "dataset": [
                {"id": "1", "business": "10", "event": [{"name": "Lead", "emq": 5.0}]},
                {"id": "2", "business": "20"},
            ],
        }
    )


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


async def _get(
    session: aiohttp.ClientSession, url: str, dataset: str = "1", token: str = "t1"
) -> tuple[int, Any, dict[str, str]]:
    async with session.get(
        f"{url}/v24.0/dataset_quality",
        params={"dataset_id": dataset},
        headers={"Authorization": f"Bearer {token}"},
    ) as response:
        return response.status, await response.json(), dict(response.headers)


@pytest.fixture
async def business_limited(
    clock: ManualClock,
) -> AsyncIterator[tuple[Simulator, aiohttp.ClientSession, str]]:
    simulator = Simulator(_scenario(business_calls=3), clock)
    async with simulator.running() as url, aiohttp.ClientSession() as session:
        yield simulator, session, url


async def test_usage_header_appears_after_enough_calls(
    business_limited: tuple[Simulator, aiohttp.ClientSession, str],
) -> None:
    """No usage header on the first call; from ``headers_after`` calls on, one."""
    _, session, url = business_limited
    _, _, first = await _get(session, url)
    assert "X-Business-Use-Case-Usage" not in first
    _, _, second = await _get(session, url)
    usage = json.loads(second["X-Business-Use-Case-Usage"])
    assert usage == {
        "10": [
            {
                "type": "ads_management",
                "call_count": 66,
                "total_cputime": 40,
                "total_time": 60,
                "estimated_time_to_regain_access": 0,
                "ads_api_access_tier": "standard_access",
            }
        ]
    }
    assert "X-App-Usage" not in second  # no app budget in this scenario


async def test_business_budget_throttles_with_80004(
    business_limited: tuple[Simulator, aiohttp.ClientSession, str], clock: ManualClock
) -> None:
    """Past the budget a business gets 80004/2446079 and a regain time in minutes."""
    simulator, session, url = business_limited
    for _ in range(3):
        assert (await _get(session, url))[0] == 200
        clock.advance(1)
    status, body, headers = await _get(session, url)
    assert status == 400
    assert (body["error"]["code"], body["error"]["error_subcode"]) == (80004, 2446079)
    usage = json.loads(headers["X-Business-Use-Case-Usage"])["10"][0]
    assert usage["call_count"] == 133
    assert usage["estimated_time_to_regain_access"] == 1  # minutes, rounded up
    assert (await _get(session, url, dataset="2"))[0] == 200  # other business is free
    assert simulator.stats.throttled == 1
    assert simulator.stats.calls_by_business == {"10": 4, "20": 1}


async def test_throttled_calls_keep_counting(
    business_limited: tuple[Simulator, aiohttp.ClientSession, str], clock: ManualClock
) -> None:
    """Calling on while throttled pushes the end of the throttle further out."""
    _, session, url = business_limited
    for _ in range(3):
        await _get(session, url)
    clock.advance(50)
    assert (await _get(session, url))[0] == 400  # 4th call, at t+50
    clock.advance(11)  # the first three calls have left the 60 s window
    assert (await _get(session, url))[0] == 200  # 2 calls now in the window
    assert (await _get(session, url))[0] == 200
    assert (await _get(session, url))[0] == 400


async def test_window_rolls_with_the_clock(
    business_limited: tuple[Simulator, aiohttp.ClientSession, str], clock: ManualClock
) -> None:
    """Once the window has passed, the business may call again."""
    _, session, url = business_limited
    for _ in range(4):
        await _get(session, url)
    assert (await _get(session, url))[0] == 400
    clock.advance(61)
    assert (await _get(session, url))[0] == 200


async def test_app_budget_throttles_with_code_4(clock: ManualClock) -> None:
    """An app budget adds ``X-App-Usage`` and answers code 4 when spent."""
    simulator = Simulator(_scenario(app_calls=2, business_calls=100), clock)
    async with simulator.running() as url, aiohttp.ClientSession() as session:
        await _get(session, url)
        _, _, headers = await _get(session, url, dataset="2")
        assert json.loads(headers["X-App-Usage"]) == {
            "call_count": 100,
            "total_cputime": 60,
            "total_time": 90,
        }
        status, body, _ = await _get(session, url)
    assert (status, body["error"]["code"], body["error"]["is_transient"]) == (
        403,
        4,
        False,
    )


async def test_token_budget_throttles_with_code_17(clock: ManualClock) -> None:
    """A per-token budget answers 17 to that token only."""
    simulator = Simulator(_scenario(token_calls=1, business_calls=100), clock)
    async with simulator.running() as url, aiohttp.ClientSession() as session:
        assert (await _get(session, url, token="t1"))[0] == 200
        status, body, _ = await _get(session, url, token="t1")
        assert (status, body["error"]["code"], body["error"]["is_transient"]) == (
            400,
            17,
            True,
        )
        assert (await _get(session, url, token="t2"))[0] == 200


async def test_buc_type_sets_header_type_and_code(clock: ManualClock) -> None:
    """``buc_type = "ads_insights"`` reports that type and throttles with 80000."""
    simulator = Simulator(_scenario(business_calls=1, buc_type="ads_insights"), clock)
    async with simulator.running() as url, aiohttp.ClientSession() as session:
        await _get(session, url)
        _, body, headers = await _get(session, url)
    assert body["error"]["code"] == 80000
    assert json.loads(headers["X-Business-Use-Case-Usage"])["10"][0]["type"] == (
        "ads_insights"
    )


async def test_stats_endpoint_matches_stats(
    business_limited: tuple[Simulator, aiohttp.ClientSession, str],
) -> None:
    """``GET /_simulator/stats`` shows requests, calls, errors and throttling."""
    simulator, session, url = business_limited
    for _ in range(4):
        await _get(session, url)
    await _get(session, url, dataset="99")
    async with session.get(f"{url}/_simulator/stats") as response:
        stats = await response.json()
    assert stats == simulator.stats.as_dict()
    assert stats == {
        "requests": 5,
        "calls": 5,
        "calls_by_business": {"10": 4},
        "errors_by_code": {"80004": 1, "2044055": 1},
        "throttled": 1,
    }


def test_rolling_counter_forgets_old_slots() -> None:
    """Calls leave the count one window after they were made."""
    counter = RollingCounter(60.0)
    counter.add(0.0, 5)
    counter.add(30.0, 2)
    assert counter.regain_in(30.0, 6) == pytest.approx(30.0)
    assert counter.regain_in(30.0, 8) == 0.0
    assert counter.count(59.0) == 7
    assert counter.count(60.5) == 2
