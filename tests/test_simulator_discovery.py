"""Discovery edges: ``owned_pixels`` and ``client_pixels`` with cursor paging."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from dqwatch.simulator import Scenario, Simulator

SCENARIO: dict[str, Any] = {
    "token": [{"value": "t"}],
    "business": [{"id": "10", "name": "Owner"}, {"id": "20", "name": "Agency"}],
    "dataset": [
        *({"id": str(n), "name": f"Pixel {n}", "business": "10"} for n in range(1, 8)),
        {"id": "8", "name": "Shared", "business": "10", "clients": ["20"]},
        {"id": "9", "name": "Gone", "business": "10", "access": "unknown"},
    ],
}


@pytest.fixture
async def served() -> AsyncIterator[tuple[Simulator, aiohttp.ClientSession, str]]:
    simulator = Simulator(Scenario.from_dict(SCENARIO))
    headers = {"Authorization": "Bearer t"}
    async with simulator.running() as url, aiohttp.ClientSession(headers=headers) as s:
        yield simulator, s, url


async def _page(session: aiohttp.ClientSession, url: str) -> tuple[int, Any]:
    async with session.get(url) as response:
        return response.status, await response.json()


async def test_paging_follows_next_until_it_is_absent(
    served: tuple[Simulator, aiohttp.ClientSession, str],
) -> None:
    """Three pages of three, three and two; ``next`` only while more remain."""
    _, session, url = served
    link: str | None = f"{url}/v24.0/10/owned_pixels?limit=3"
    pages = []
    while link:
        status, page = await _page(session, link)
        assert status == 200
        pages.append([pixel["id"] for pixel in page["data"]])
        assert set(page["paging"]["cursors"]) == {"before", "after"}
        link = page["paging"].get("next")
    assert pages == [["1", "2", "3"], ["4", "5", "6"], ["7", "8"]]


async def test_cursors_are_opaque_and_previous_goes_back(
    served: tuple[Simulator, aiohttp.ClientSession, str],
) -> None:
    """Cursors are not ids; ``previous`` appears after the first page and works."""
    _, session, url = served
    _, first = await _page(session, f"{url}/v24.0/10/owned_pixels?limit=2")
    after = first["paging"]["cursors"]["after"]
    assert after not in {"1", "2"}
    assert "previous" not in first["paging"]
    _, second = await _page(
        session, f"{url}/v24.0/10/owned_pixels?limit=2&after={after}"
    )
    assert [p["id"] for p in second["data"]] == ["3", "4"]
    _, back = await _page(session, second["paging"]["previous"])
    assert [p["id"] for p in back["data"]] == ["1", "2"]


async def test_default_page_size_is_25(
    served: tuple[Simulator, aiohttp.ClientSession, str],
) -> None:
    """Without ``limit`` a page holds up to 25 and carries no ``next`` here."""
    _, session, url = served
    _, page = await _page(session, f"{url}/v24.0/10/owned_pixels")
    assert len(page["data"]) == 8
    assert "next" not in page["paging"]
    assert page["data"][0] == {"id": "1", "name": "Pixel 1"}


async def test_client_pixels_and_fields(
    served: tuple[Simulator, aiohttp.ClientSession, str],
) -> None:
    """``client_pixels`` lists shared pixels; ``fields=id`` answers only ids."""
    _, session, url = served
    _, page = await _page(session, f"{url}/v24.0/20/client_pixels?fields=id")
    assert page["data"] == [{"id": "8"}]
    _, owned = await _page(session, f"{url}/v24.0/20/owned_pixels")
    assert owned == {"data": []}


async def test_summary_counts_every_pixel(
    served: tuple[Simulator, aiohttp.ClientSession, str],
) -> None:
    """``summary=true`` adds the total count, whatever the page size."""
    _, session, url = served
    _, page = await _page(session, f"{url}/v24.0/10/owned_pixels?limit=1&summary=true")
    assert page["summary"] == {"total_count": 8}
    assert "summary=true" in page["paging"]["next"]


@pytest.mark.parametrize(
    ("query", "code"),
    [("fields=bogus", 100), ("limit=0", 100), ("after=not-a-cursor", 100)],
)
async def test_bad_paging_parameters(
    served: tuple[Simulator, aiohttp.ClientSession, str], query: str, code: int
) -> None:
    """Unknown fields, a zero limit and a forged cursor are error 100."""
    _, session, url = served
    status, body = await _page(session, f"{url}/v24.0/10/owned_pixels?{query}")
    assert (status, body["error"]["code"]) == (400, code)


async def test_unknown_business_is_100_33(
    served: tuple[Simulator, aiohttp.ClientSession, str],
) -> None:
    """An unknown business id answers the "unsupported get request" error."""
    _, session, url = served
    status, body = await _page(session, f"{url}/v24.0/30/owned_pixels")
    assert (status, body["error"]["code"], body["error"]["error_subcode"]) == (
        400,
        100,
        33,
    )
    assert "'30'" in body["error"]["message"]


async def test_token_stays_out_of_next_unless_asked() -> None:
    """``next`` links carry no token by default, and carry it when configured."""
    for include in (False, True):
        scenario = Scenario.from_dict(
            {**SCENARIO, "simulator": {"next_includes_token": include}}
        )
        simulator = Simulator(scenario)
        headers = {"Authorization": "Bearer t"}
        async with (
            simulator.running() as url,
            aiohttp.ClientSession(headers=headers) as s,
        ):
            _, page = await _page(s, f"{url}/v24.0/10/owned_pixels?limit=1")
        assert ("access_token=t" in page["paging"]["next"]) is include


async def test_generated_businesses_page_without_listing_all() -> None:
    """A generated business pages through its share of thousands of datasets."""
    scenario = Scenario.from_dict(
        {
            "generate": {
                "datasets": 5000,
                "businesses": 4,
                "id_start": 100,
                "business_id_start": 50,
            }
        }
    )
    simulator = Simulator(scenario)
    headers = {"Authorization": "Bearer t"}
    pages = []
    async with simulator.running() as url, aiohttp.ClientSession(headers=headers) as s:
        link: str | None = f"{url}/v24.0/51/owned_pixels?limit=500&summary=1"
        while link:
            _, page = await _page(s, link)
            pages.append(page)
            link = page["paging"].get("next")
    assert pages[0]["summary"] == {"total_count": 1250}
    assert [len(p["data"]) for p in pages] == [500, 500, 250]
    assert [p["id"] for p in pages[0]["data"][:3]] == ["101", "105", "109"]
    assert pages[-1]["data"][-1]["id"] == "5097"  # index 4997, the last of business 1
