"""Shared fixtures: a running simulator, a config file pointing at it, a store."""

from __future__ import annotations

import socket
import textwrap
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from dqwatch.simulator import Scenario, Simulator
from dqwatch.store import Store

TOKEN = "test-token-5c1d9e"
APP_SECRET = "app-secret-77aa01"


def scenario_dict(**overrides: Any) -> dict[str, Any]:
    """A small scenario: two healthy web datasets, one of them with offline."""
    scenario: dict[str, Any] = {
        "token": [{"value": TOKEN}],
        "business": [{"id": "555", "name": "Acme Agency"}],
        "dataset": [
            {
                "id": "1001",
                "name": "Acme shop",
                "business": "555",
                "event": [
                    {
                        "name": "Purchase",
                        "emq": 7.8,
                        "match_key_coverage": {"email": 100.0, "phone": 80.0},
                        "event_coverage": 82.0,
                        "event_coverage_goal": 75.0,
                        "freshness": "real_time",
                    },
                    {"name": "Lead", "emq": 6.1, "match_key_coverage": {"email": 90.0}},
                    {
                        "name": "Purchase",
                        "source": "offline",
                        "offline_composite": 8.9,
                    },
                ],
            },
            {
                "id": "1002",
                "name": "Acme blog",
                "business": "555",
                "event": [{"name": "ViewContent", "emq": 5.0}],
            },
        ],
    }
    scenario.update(overrides)
    return scenario


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    """The simulator with the small scenario, listening on 127.0.0.1."""
    sim = Simulator(Scenario.from_dict(scenario_dict(), source="<tests>"))
    await sim.start("127.0.0.1", 0)
    try:
        yield sim
    finally:
        await sim.stop()


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (for servers that need one up front)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def write_config(
    tmp_path: Path, base_url: str, body: str = "", graph: str = ""
) -> Path:
    """A config file in ``tmp_path`` pointing at ``base_url``; ``body`` appended.

    ``graph`` holds extra lines for the ``[graph]`` table.
    """
    path = tmp_path / "dqwatch.toml"
    path.write_text(
        textwrap.dedent(
            f"""\
            [graph]
            base_url = "{base_url}"
            access_token = "{TOKEN}"
            max_retries = 2
            {graph}
            [storage]
            path = "dq.db"
            """
        )
        + textwrap.dedent(body)
    )
    return path


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store.open(tmp_path / "dq.db")
    yield opened
    opened.close()
