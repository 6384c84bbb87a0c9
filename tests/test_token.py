"""Token health: /debug_token through the simulator, and the alerts it raises."""

from __future__ import annotations

import aiohttp

from dqwatch.alerts import AlertBook
from dqwatch.evaluate import Evaluator
from dqwatch.graph import ClientOptions, GraphClient
from dqwatch.rules import RuleSet
from dqwatch.simulator import Scenario, Simulator
from dqwatch.token import TokenHealth, check_token, token_transitions
from tests.conftest import TOKEN, scenario_dict

DAY = 86400.0


async def health_of(token: str, tokens: list[dict[str, str]]) -> TokenHealth | None:
    sim = Simulator(Scenario.from_dict(scenario_dict(token=tokens), source="<test>"))
    async with sim.running() as url, aiohttp.ClientSession() as session:
        options = ClientOptions(base_url=url, api_version="v24.0", access_token=token)
        health = await check_token(GraphClient(session, options))
        for request in sim.requests:
            assert token not in request.query_string  # the token went in the body
    return health


async def test_a_valid_token_that_never_expires() -> None:
    """debug_token says valid, no expiry."""
    health = await health_of(TOKEN, [{"value": TOKEN}])
    assert health == TokenHealth(True, None)


async def test_a_token_expiring_in_two_days() -> None:
    """The expiry time the API reports is read."""
    health = await health_of(TOKEN, [{"value": TOKEN, "expires_in": "2d"}])
    assert health is not None
    assert health.valid
    assert health.expires_at is not None


async def test_an_expired_token_is_invalid() -> None:
    """An expired token is reported invalid, with the API's error code."""
    health = await health_of(
        "old", [{"value": TOKEN}, {"value": "old", "status": "expired"}]
    )
    assert health is not None
    assert not health.valid
    assert health.error_code == 190


def test_alerts_follow_the_token_health() -> None:
    """Invalid fires token-invalid; expiring soon fires token-expiring; both resolve."""
    evaluator = Evaluator(RuleSet((), ()), AlertBook())
    now = 1_800_000_000.0

    def apply(health: TokenHealth) -> set[tuple[str, str]]:
        moves = token_transitions(evaluator.book, health, now)
        outcome = evaluator.apply(moves, now)
        return {(t.alert.rule, t.state) for t in outcome.transitions}

    assert apply(TokenHealth(False, None, 190, "Session has expired")) == {
        ("token-invalid", "firing")
    }
    assert apply(TokenHealth(False, None, 190, "Session has expired")) == set()
    assert apply(TokenHealth(True, now + 2 * DAY)) == {
        ("token-invalid", "resolved"),
        ("token-expiring", "firing"),
    }
    assert apply(TokenHealth(True, None)) == {("token-expiring", "resolved")}
