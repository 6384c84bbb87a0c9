"""The Graph client against the simulator over real HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from dqwatch.errors import (
    GraphError,
    PermanentGraphError,
    ThrottledError,
    TokenError,
    TransientGraphError,
)
from dqwatch.graph import BatchItem, ClientOptions, GraphClient
from dqwatch.simulator import Scenario, Simulator
from dqwatch.snapshot import REQUEST_FIELDS
from tests.conftest import APP_SECRET, TOKEN, scenario_dict

WEB = REQUEST_FIELDS["web"]


async def no_sleep(_: float) -> None:
    """Backoff waits are recorded by the test instead of slept."""


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as opened:
        yield opened


def client_for(session: aiohttp.ClientSession, url: str, **options: Any) -> GraphClient:
    settings = ClientOptions(
        base_url=url,
        api_version="v24.0",
        access_token=options.pop("token", TOKEN),
        max_retries=options.pop("max_retries", 3),
        backoff_base=0.001,
        **options,
    )
    return GraphClient(session, settings, sleep=no_sleep)


async def test_token_travels_in_the_header_never_the_url(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    """Every request carries Authorization; no URL holds the token."""
    client = client_for(session, simulator.url)
    body = await client.dataset_quality("1001", WEB)
    assert json.loads(body)["web"]
    assert simulator.requests
    for request in simulator.requests:
        assert request.has_authorization
        assert TOKEN not in request.query_string


async def test_timed_appsecret_proof_is_accepted() -> None:
    """With an app secret the client signs token|time and the API accepts it."""
    scenario = scenario_dict(app={"secret": APP_SECRET, "require_proof": True})
    sim = Simulator(Scenario.from_dict(scenario, source="<test>"))
    async with sim.running() as url, aiohttp.ClientSession() as session:
        good = client_for(session, url, app_secret=APP_SECRET)
        assert json.loads(await good.dataset_quality("1001", WEB))["web"]
        assert "appsecret_time=" in sim.requests[-1].query_string
        wrong = client_for(session, url, app_secret="not-the-secret")
        with pytest.raises(PermanentGraphError) as caught:
            await wrong.dataset_quality("1001", WEB)
        assert caught.value.code == 100


@pytest.mark.parametrize(
    ("fault", "kind"),
    [
        ({"code": 2}, "json"),
        ({"code": 1}, "json"),
        ({"code": 2, "html": True, "http_status": 502}, "html"),
    ],
)
async def test_transient_errors_are_retried_until_success(
    simulator: Simulator,
    session: aiohttp.ClientSession,
    fault: dict[str, Any],
    kind: str,
) -> None:
    """Codes 1 and 2, and HTML 502 pages, are retried; the third answer wins."""
    simulator.inject_fault(dataset_id="1001", times=2, **fault)
    client = client_for(session, simulator.url)
    body = await client.dataset_quality("1001", WEB)
    assert json.loads(body)["web"]
    assert client.calls == 3


async def test_retries_stop_after_max_retries_with_a_warning_per_attempt(
    simulator: Simulator,
    session: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A lasting outage raises a transient error after 1 + max_retries calls."""
    simulator.inject_fault(2, dataset_id="1001", times=0)
    client = client_for(session, simulator.url, max_retries=2)
    with caplog.at_level(logging.WARNING), pytest.raises(TransientGraphError):
        await client.dataset_quality("1001", WEB)
    assert client.calls == 3
    retries = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert ["retry 1 of 2" in r.getMessage() for r in retries] == [True, False]
    assert "retry 2 of 2" in retries[1].getMessage()


@pytest.mark.parametrize(
    ("code", "subcode", "kind"),
    [
        (190, 463, TokenError),
        (190, 467, TokenError),
        (10, None, PermanentGraphError),
        (200, None, PermanentGraphError),
        (2044055, None, PermanentGraphError),
        (100, 33, PermanentGraphError),
    ],
)
async def test_permanent_errors_are_not_retried(
    simulator: Simulator,
    session: aiohttp.ClientSession,
    code: int,
    subcode: int | None,
    kind: type[GraphError],
) -> None:
    """190, 10, 200-299, 2044055 and 100 fail after exactly one call."""
    simulator.inject_fault(code, subcode=subcode, dataset_id="1001")
    client = client_for(session, simulator.url)
    with pytest.raises(kind) as caught:
        await client.dataset_quality("1001", WEB)
    assert type(caught.value) is kind
    assert (caught.value.code, caught.value.subcode) == (code, subcode)
    assert client.calls == 1


async def test_unknown_dataset_from_the_scenario_is_2044055(
    session: aiohttp.ClientSession,
) -> None:
    """A dataset the API does not know answers 2044055, typed as permanent."""
    scenario = scenario_dict()
    scenario["dataset"].append({"id": "9999", "business": "555", "access": "unknown"})
    sim = Simulator(Scenario.from_dict(scenario, source="<test>"))
    async with sim.running() as url:
        with pytest.raises(PermanentGraphError) as caught:
            await client_for(session, url).dataset_quality("9999", WEB)
    assert caught.value.code == 2044055


async def test_expired_token_is_a_token_error(session: aiohttp.ClientSession) -> None:
    """A token the API says expired raises TokenError 190/463."""
    scenario = scenario_dict(
        token=[{"value": TOKEN}, {"value": "old-token", "status": "expired"}]
    )
    sim = Simulator(Scenario.from_dict(scenario, source="<test>"))
    async with sim.running() as url:
        with pytest.raises(TokenError) as caught:
            await client_for(session, url, token="old-token").dataset_quality(
                "1001", WEB
            )
    assert (caught.value.code, caught.value.subcode) == (190, 463)


async def test_throttled_business_is_paused_for_the_time_the_api_names(
    session: aiohttp.ClientSession,
) -> None:
    """After 80004 the business is paused: later calls fail fast without a request."""
    scenario = scenario_dict(  # no usage headers before the budget runs out
        rate_limit={"window": "1h", "business_calls": 3, "headers_after": 100}
    )
    sim = Simulator(Scenario.from_dict(scenario, source="<test>"))
    async with sim.running() as url:
        client = client_for(session, url, max_retries=0, max_throttle_wait=5.0)
        for dataset in ("1001", "1001", "1002"):
            await client.dataset_quality(dataset, WEB)
        with pytest.raises(ThrottledError) as caught:
            await client.dataset_quality("1001", WEB)  # the headers tie 1001 to 555
        assert caught.value.code == 80004
        assert caught.value.retry_after > 60
        calls = sim.stats.calls
        with pytest.raises(ThrottledError):
            await client.dataset_quality("1001", WEB)
        assert sim.stats.calls == calls


async def test_usage_headers_stop_calls_before_the_api_throttles(
    session: aiohttp.ClientSession,
) -> None:
    """With usage headers at the limit the client waits instead of being refused."""
    scenario = scenario_dict(
        rate_limit={"window": "1h", "business_calls": 4, "headers_after": 1}
    )
    sim = Simulator(Scenario.from_dict(scenario, source="<test>"))
    async with sim.running() as url:
        client = client_for(session, url, max_retries=0, max_throttle_wait=5.0)
        refusals: list[ThrottledError] = []
        for _ in range(8):
            try:
                await client.dataset_quality("1001", WEB)
            except ThrottledError as exc:
                refusals.append(exc)
    assert len(refusals) >= 4
    assert {exc.code for exc in refusals} == {0}  # our own pacing, not the API
    assert sim.stats.throttled == 0


async def test_batch_answers_each_item_and_counts_each_call(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    """One POST carries several requests; each answer (or error) comes back in order."""
    simulator.inject_fault(10, dataset_id="1002")
    client = client_for(session, simulator.url)
    answers = await client.batch(
        [
            BatchItem("1001", "web", WEB),
            BatchItem("1002", "web", WEB),
            BatchItem("1001", "offline", REQUEST_FIELDS["offline"]),
        ]
    )
    assert client.calls == 1
    assert json.loads(str(answers[0]))["web"]
    assert isinstance(answers[1], PermanentGraphError)
    assert answers[1].code == 10
    assert json.loads(str(answers[2]))["offline"]
    assert simulator.stats.calls == 3


async def test_paging_follows_cursors_to_the_end(
    session: aiohttp.ClientSession,
) -> None:
    """A list edge is read page by page until no next link remains."""
    scenario = scenario_dict()
    scenario["dataset"].extend(
        {"id": str(5000 + i), "business": "555", "event": []} for i in range(7)
    )
    sim = Simulator(Scenario.from_dict(scenario, source="<test>"))
    async with sim.running() as url:
        client = client_for(session, url)
        items = [i async for i in client.paged("555/owned_pixels", {"limit": "3"})]
    assert len(items) == 9
    assert len({i["id"] for i in items}) == 9


async def test_no_secret_in_logs_or_errors(
    session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    """Failures of every kind leave the token and app secret out of logs and errors."""
    scenario = scenario_dict(app={"secret": APP_SECRET, "require_proof": True})
    sim = Simulator(Scenario.from_dict(scenario, source="<test>"))
    texts: list[str] = []
    async with sim.running() as url:
        client = client_for(session, url, app_secret=APP_SECRET, max_retries=1)
        for code in (2, 190, 10, 100):
            sim.inject_fault(code, dataset_id="1001", times=2)
            with caplog.at_level(logging.DEBUG), pytest.raises(GraphError) as caught:
                await client.dataset_quality("1001", WEB)
            texts.extend([str(caught.value), repr(caught.value)])
        dead = client_for(session, "http://127.0.0.1:9", app_secret=APP_SECRET)
        with pytest.raises(TransientGraphError) as caught:
            await dead.dataset_quality("1001", WEB)
        texts.append(str(caught.value))
    texts.extend(r.getMessage() for r in caplog.records)
    joined = "\n".join(texts)
    assert TOKEN not in joined
    assert APP_SECRET not in joined
    assert "appsecret_proof" not in joined
