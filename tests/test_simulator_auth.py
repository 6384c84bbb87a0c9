"""Tokens, ``appsecret_proof`` and ``/debug_token`` over HTTP."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from dqwatch.simulator import ManualClock, Scenario, Simulator

SECRET = "app-secret-123"
SCENARIO: dict[str, Any] = {
    "app": {"id": "4242", "secret": SECRET},
    "token": [
        {"value": "good"},
        {"value": "old", "status": "expired"},
        {"value": "revoked", "status": "invalid"},
        {"value": "short", "expires_in": "10m", "type": "USER", "scopes": ["ads_read"]},
    ],
    "dataset": [{"id": "1", "event": [{"name": "Purchase", "emq": 7.0}]}],
}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1000.0)


@pytest.fixture
def wall() -> ManualClock:
    return ManualClock(1_800_000_000.0)


@pytest.fixture
async def served(
    clock: ManualClock, wall: ManualClock
) -> AsyncIterator[tuple[Simulator, aiohttp.ClientSession, str]]:
    simulator = Simulator(Scenario.from_dict(SCENARIO), clock, wall_clock=wall)
    async with simulator.running() as url, aiohttp.ClientSession() as session:
        yield simulator, session, url


async def _quality(
    session: aiohttp.ClientSession,
    url: str,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any, aiohttp.typedefs.LooseHeaders]:
    query = {"dataset_id": "1", **(params or {})}
    async with session.get(
        f"{url}/v24.0/dataset_quality", params=query, headers=headers
    ) as response:
        return response.status, await response.json(), response.headers


def _proof(token: str, moment: int | None = None) -> str:
    message = token if moment is None else f"{token}|{moment}"
    return hmac.new(SECRET.encode(), message.encode(), hashlib.sha256).hexdigest()


@pytest.mark.parametrize(
    "how",
    ["Bearer", "OAuth", "query"],
)
async def test_token_in_header_or_query(
    served: tuple[Simulator, aiohttp.ClientSession, str], how: str
) -> None:
    """The token is read from either Authorization scheme or ``access_token``."""
    simulator, session, url = served
    if how == "query":
        status, _, _ = await _quality(session, url, {"access_token": "good"})
    else:
        status, _, _ = await _quality(
            session, url, headers={"Authorization": f"{how} good"}
        )
    assert status == 200
    recorded = simulator.requests[-1]
    assert recorded.has_authorization == (how != "query")
    assert ("access_token" in recorded.query_string) == (how == "query")


async def test_token_in_a_post_form(
    served: tuple[Simulator, aiohttp.ClientSession, str],
) -> None:
    """A token in a POST form authenticates a batch, and stays out of the URL."""
    simulator, session, url = served
    form = {
        "access_token": "good",
        "batch": '[{"method":"GET","relative_url":"debug_token?input_token=good"}]',
    }
    async with session.post(f"{url}/v24.0/", data=form) as response:
        assert response.status == 200
        assert (await response.json())[0]["code"] == 200
    assert "good" not in simulator.requests[-1].query_string


@pytest.mark.parametrize(
    ("token", "code", "subcode"),
    [
        (None, 104, None),
        ("nobody", 190, None),
        ("old", 190, 463),
        ("revoked", 190, 467),
    ],
)
async def test_bad_tokens_are_refused(
    served: tuple[Simulator, aiohttp.ClientSession, str],
    token: str | None,
    code: int,
    subcode: int | None,
) -> None:
    """Missing, unknown, expired and invalid tokens get their codes and header."""
    _, session, url = served
    headers = {"Authorization": f"Bearer {token}"} if token else None
    status, body, response_headers = await _quality(session, url, headers=headers)
    assert status == 400
    assert body["error"]["code"] == code
    assert body["error"].get("error_subcode") == subcode
    assert body["error"]["type"] == "OAuthException"
    assert response_headers["WWW-Authenticate"].startswith('OAuth "Facebook Platform"')


async def test_token_expires_on_the_clock(
    served: tuple[Simulator, aiohttp.ClientSession, str], clock: ManualClock
) -> None:
    """A token with ``expires_in`` works until that time, then answers 190/463."""
    _, session, url = served
    headers = {"Authorization": "Bearer short"}
    clock.advance(599)
    assert (await _quality(session, url, headers=headers))[0] == 200
    clock.advance(1)
    status, body, _ = await _quality(session, url, headers=headers)
    assert (status, body["error"]["error_subcode"]) == (400, 463)
    assert "Session has expired on" in body["error"]["message"]


async def test_plain_and_timed_proofs_are_accepted(
    served: tuple[Simulator, aiohttp.ClientSession, str], wall: ManualClock
) -> None:
    """Both proof forms pass: HMAC of the token, and of ``token|time``."""
    _, session, url = served
    headers = {"Authorization": "Bearer good"}
    plain = {"appsecret_proof": _proof("good")}
    moment = int(wall.now) - 299
    timed = {"appsecret_proof": _proof("good", moment), "appsecret_time": str(moment)}
    assert (await _quality(session, url, plain, headers))[0] == 200
    assert (await _quality(session, url, timed, headers))[0] == 200


@pytest.mark.parametrize(
    "case", ["wrong", "timed-but-old", "time-not-signed", "time-not-a-number"]
)
async def test_bad_proofs_are_refused(
    served: tuple[Simulator, aiohttp.ClientSession, str], wall: ManualClock, case: str
) -> None:
    """A wrong or stale proof is error 100 of type GraphMethodException."""
    _, session, url = served
    now = int(wall.now)
    params = {
        "wrong": {"appsecret_proof": _proof("other")},
        "timed-but-old": {
            "appsecret_proof": _proof("good", now - 301),
            "appsecret_time": str(now - 301),
        },
        "time-not-signed": {
            "appsecret_proof": _proof("good"),
            "appsecret_time": str(now),
        },
        "time-not-a-number": {"appsecret_proof": _proof("good"), "appsecret_time": "x"},
    }[case]
    status, body, _ = await _quality(
        session, url, params, {"Authorization": "Bearer good"}
    )
    assert status == 400
    assert body["error"] == {
        "message": "Invalid appsecret_proof provided in the API argument",
        "type": "GraphMethodException",
        "code": 100,
        "fbtrace_id": body["error"]["fbtrace_id"],
    }


async def test_proof_required_when_the_app_says_so(wall: ManualClock) -> None:
    """With ``require_proof`` a call without proof fails, with one it passes."""
    scenario = Scenario.from_dict(
        {**SCENARIO, "app": {"id": "4242", "secret": SECRET, "require_proof": True}}
    )
    simulator = Simulator(scenario, wall_clock=wall)
    headers = {"Authorization": "Bearer good"}
    async with simulator.running() as url, aiohttp.ClientSession(headers=headers) as s:
        status, body, _ = await _quality(s, url)
        assert (status, body["error"]["code"]) == (400, 100)
        assert "require an appsecret_proof" in body["error"]["message"]
        status, _, _ = await _quality(s, url, {"appsecret_proof": _proof("good")})
        assert status == 200


async def _debug(
    session: aiohttp.ClientSession, url: str, input_token: str, caller: str = "good"
) -> tuple[int, Any]:
    params = {"input_token": input_token}
    headers = {"Authorization": f"Bearer {caller}"}
    async with session.get(
        f"{url}/v24.0/debug_token", params=params, headers=headers
    ) as response:
        return response.status, await response.json()


async def test_debug_token_describes_a_valid_token(
    served: tuple[Simulator, aiohttp.ClientSession, str], wall: ManualClock
) -> None:
    """A valid token is described with app, type, scopes and its expiry."""
    _, session, url = served
    status, body = await _debug(session, url, "short")
    data = body["data"]
    assert status == 200
    assert data["is_valid"] is True
    assert data["app_id"] == "4242"
    assert data["type"] == "USER"
    assert data["expires_at"] == int(wall.now) + 600
    assert data["scopes"] == ["ads_read"]
    assert data["granular_scopes"] == [{"scope": "ads_read"}]
    _, never = await _debug(session, url, "good")
    assert (never["data"]["type"], never["data"]["expires_at"]) == ("SYSTEM_USER", 0)


@pytest.mark.parametrize(
    ("token", "subcode"), [("old", 463), ("revoked", 467), ("nobody", None)]
)
async def test_debug_token_reports_invalid_tokens_in_data(
    served: tuple[Simulator, aiohttp.ClientSession, str],
    token: str,
    subcode: int | None,
) -> None:
    """An unusable input token is HTTP 200 with ``is_valid: false`` and an error."""
    _, session, url = served
    status, body = await _debug(session, url, token, caller=f"4242|{SECRET}")
    assert status == 200
    assert body["data"]["is_valid"] is False
    assert body["data"]["error"]["code"] == 190
    assert body["data"]["error"].get("subcode") == subcode


async def test_debug_token_of_itself_when_expired(
    served: tuple[Simulator, aiohttp.ClientSession, str],
) -> None:
    """Inspecting an expired token with itself fails at the top level with 463."""
    _, session, url = served
    status, body = await _debug(session, url, "old", caller="old")
    assert status == 400
    assert (body["error"]["code"], body["error"]["error_subcode"]) == (190, 463)


async def test_debug_token_needs_input_token(
    served: tuple[Simulator, aiohttp.ClientSession, str],
) -> None:
    """``/debug_token`` without ``input_token`` is error 100."""
    _, session, url = served
    async with session.get(
        f"{url}/v24.0/debug_token", headers={"Authorization": "Bearer good"}
    ) as response:
        assert (await response.json())["error"]["code"] == 100


async def test_scenario_without_tokens_accepts_any_token() -> None:
    """A scenario listing no tokens lets every non-empty token in."""
    simulator = Simulator(Scenario.from_dict({"dataset": [{"id": "1"}]}))
    async with simulator.running() as url, aiohttp.ClientSession() as session:
        status, _, _ = await _quality(
            session, url, headers={"Authorization": "Bearer x"}
        )
    assert status == 200


def test_secrets_stay_out_of_reprs() -> None:
    """Neither the app secret nor a token value shows in the scenario's repr."""
    scenario = Scenario.from_dict(SCENARIO)
    text = repr(scenario) + str(scenario)
    assert SECRET not in text
    assert "revoked" not in text
