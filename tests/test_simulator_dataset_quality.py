"""``GET /dataset_quality`` over HTTP: documented samples, projections, errors."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from dqwatch.simulator import Scenario, Simulator, packaged_scenario

RESPONSES = Path(__file__).parent / "data" / "responses"

# (dataset in the packaged docs.toml, documented request, documented response)
DOCUMENTED = [
    ("9001", "web{event_match_quality,event_name}", "doc_web_emq.json"),
    (
        "9002",
        "web{event_match_quality{match_key_feedback{identifier,"
        "potential_aly_acr_increase{percentage,description}}},event_name}",
        "doc_web_match_key_acr.json",
    ),
    (
        "9003",
        "web{event_match_quality{diagnostics},event_name}",
        "doc_web_diagnostics.json",
    ),
    (
        "9004",
        "web{event_coverage{percentage,goal_percentage,description},event_name}",
        "doc_web_event_coverage.json",
    ),
    (
        "9005",
        "web{event_coverage{potential_aly_acr_increase{percentage,description}},"
        "event_name}",
        "doc_web_coverage_acr.json",
    ),
    (
        "9006",
        "web{dedupe_key_feedback{dedupe_key,browser_events_with_dedupe_key{percentage,"
        "description},server_events_with_dedupe_key{percentage,description},"
        "overall_browser_coverage_from_dedupe_key{percentage,description}},event_name}",
        "doc_web_dedupe.json",
    ),
    (
        "9007",
        "web{data_freshness{upload_frequency,description},event_name}",
        "doc_web_freshness.json",
    ),
    (
        "9008",
        "web{event_potential_aly_acr_increase{description,percentage},event_name}",
        "doc_web_event_acr.json",
    ),
    ("9009", "web{acr{description,percentage},event_name}", "doc_web_acr.json"),
    ("9010", "offline", "doc_offline_all.json"),
    ("9010", "offline{event_name,composite}", "doc_offline_composite.json"),
    ("9011", "offline{event_name,match_key}", "doc_offline_match_key.json"),
]


@pytest.fixture
async def docs() -> AsyncIterator[tuple[Simulator, aiohttp.ClientSession, str]]:
    simulator = Simulator(packaged_scenario("docs"))
    headers = {"Authorization": "Bearer docs-token"}
    async with simulator.running() as url, aiohttp.ClientSession(headers=headers) as s:
        yield simulator, s, url


async def _get(
    session: aiohttp.ClientSession, url: str, **params: str
) -> tuple[int, Any, str]:
    async with session.get(f"{url}/v24.0/dataset_quality", params=params) as response:
        text = await response.text()
        return response.status, json.loads(text), text


@pytest.mark.parametrize(("dataset", "fields", "sample"), DOCUMENTED)
async def test_documented_samples_are_reproduced(
    docs: tuple[Simulator, aiohttp.ClientSession, str],
    dataset: str,
    fields: str,
    sample: str,
) -> None:
    """Each documented request answers exactly the documented response."""
    _, session, url = docs
    expected = json.loads((RESPONSES / sample).read_text())
    status, body, text = await _get(session, url, dataset_id=dataset, fields=fields)
    assert status == 200
    assert body == expected
    assert list(body) == list(expected)  # same top-level keys, same order
    assert "null" not in text


async def test_fields_come_back_in_the_order_asked(
    docs: tuple[Simulator, aiohttp.ClientSession, str],
) -> None:
    """Keys of each object follow the order of the ``fields`` parameter."""
    _, session, url = docs
    _, body, _ = await _get(
        session,
        url,
        dataset_id="9009",
        fields="web{event_name,acr{percentage,description}}",
    )
    first = body["web"][0]
    assert list(first) == ["event_name", "acr"]
    assert list(first["acr"]) == ["percentage", "description"]


async def test_fields_missing_means_web_with_its_defaults(
    docs: tuple[Simulator, aiohttp.ClientSession, str],
) -> None:
    """Without ``fields`` the answer is ``web`` with event name and EMQ."""
    _, session, url = docs
    _, bare, _ = await _get(session, url, dataset_id="9001")
    _, web, _ = await _get(session, url, dataset_id="9001", fields="web")
    _, explicit, _ = await _get(
        session, url, dataset_id="9001", fields="web{event_name,event_match_quality}"
    )
    assert bare == web == explicit
    assert set(bare["web"][0]) == {"event_name", "event_match_quality"}


async def test_dedupe_spelling_works_and_dedup_is_unknown(
    docs: tuple[Simulator, aiohttp.ClientSession, str],
) -> None:
    """``dedupe_key_feedback`` answers; the doc table's ``dedup_`` is error 100."""
    _, session, url = docs
    status, body, _ = await _get(
        session, url, dataset_id="9006", fields="web{dedup_key_feedback}"
    )
    assert status == 400
    assert body["error"]["code"] == 100
    assert body["error"]["message"].startswith(
        "(#100) Tried accessing nonexisting field (dedup_key_feedback)"
    )
    status, body, _ = await _get(
        session, url, dataset_id="9006", fields="web{dedupe_key_feedback{dedupe_key}}"
    )
    assert status == 200
    assert [k["dedupe_key"] for k in body["web"][0]["dedupe_key_feedback"]] == [
        "event_id",
        "external_id",
        "fbp",
    ]


async def test_diagnostics_and_key_acr_only_when_named(
    docs: tuple[Simulator, aiohttp.ClientSession, str],
) -> None:
    """A bare ``event_match_quality`` hides diagnostics and per-key ACR."""
    _, session, url = docs
    _, body, _ = await _get(
        session, url, dataset_id="9003", fields="web{event_name,event_match_quality}"
    )
    assert body == {"web": [{"event_name": "Purchase"}]}
    _, body, _ = await _get(
        session, url, dataset_id="9002", fields="web{event_match_quality}"
    )
    assert body == {
        "web": [
            {
                "event_match_quality": {
                    "match_key_feedback": [
                        {"identifier": "email"},
                        {"identifier": "ip_address"},
                    ]
                }
            }
        ]
    }


async def test_event_without_data_carries_only_its_name(
    docs: tuple[Simulator, aiohttp.ClientSession, str],
) -> None:
    """Events lacking the asked metric come back with their name alone."""
    _, session, url = docs
    _, body, _ = await _get(
        session, url, dataset_id="9001", fields="web{event_name,acr,data_freshness}"
    )
    assert body == {
        "web": [{"event_name": "pLTVPurchase"}, {"event_name": "CompleteRegistration"}]
    }


async def test_web_and_offline_in_one_request(
    docs: tuple[Simulator, aiohttp.ClientSession, str],
) -> None:
    """Both sources can be asked together; a source without events is empty."""
    _, session, url = docs
    _, body, _ = await _get(
        session, url, dataset_id="9010", fields="offline{event_name},web{event_name}"
    )
    assert body == {"offline": [{"event_name": "Purchase"}], "web": []}


@pytest.mark.parametrize(
    ("mode", "expected"), [("empty_list", {"web": []}), ("empty_object", {})]
)
async def test_empty_dataset_answer_is_configurable(
    mode: str, expected: object
) -> None:
    """A dataset without events answers ``{"web": []}`` or ``{}`` as configured."""
    scenario = Scenario.from_dict(
        {"simulator": {"empty_dataset": mode}, "dataset": [{"id": "5"}]}
    )
    simulator = Simulator(scenario)
    headers = {"Authorization": "Bearer any-token"}
    async with simulator.running() as url, aiohttp.ClientSession(headers=headers) as s:
        status, body, _ = await _get(s, url, dataset_id="5", fields="web")
    assert (status, body) == (200, expected)


AGENTS = {
    "dataset": [
        {
            "id": "7",
            "event": [
                {"name": "Purchase", "emq": 8.0, "agents": ["MyPlatform_2_1"]},
                {"name": "Lead", "emq": 6.0},
            ],
        }
    ],
}


@pytest.mark.parametrize(
    ("agent", "events"),
    [
        (None, ["Purchase", "Lead"]),
        ("myplatform", ["Purchase"]),
        ("MYPLATFORM_3_0", ["Purchase"]),
        ("someoneelse", []),
    ],
)
async def test_agent_name_filters_events(agent: str | None, events: list[str]) -> None:
    """``agent_name`` keeps the events its normalised partner agent sent."""
    simulator = Simulator(Scenario.from_dict(AGENTS))
    params = {"dataset_id": "7", "fields": "web{event_name}"}
    if agent:
        params["agent_name"] = agent
    headers = {"Authorization": "Bearer t"}
    async with simulator.running() as url, aiohttp.ClientSession(headers=headers) as s:
        _, body, _ = await _get(s, url, **params)
    assert [e["event_name"] for e in body["web"]] == events


async def test_unknown_agent_can_be_an_error() -> None:
    """With ``unknown_agent = "error"`` an agent no event names is error 100."""
    simulator = Simulator(
        Scenario.from_dict({**AGENTS, "simulator": {"unknown_agent": "error"}})
    )
    headers = {"Authorization": "Bearer t"}
    async with simulator.running() as url, aiohttp.ClientSession(headers=headers) as s:
        status, body, _ = await _get(s, url, dataset_id="7", agent_name="nobody")
    assert status == 400
    assert body["error"]["code"] == 100


ACCESS = {
    "simulator": {"unknown_dataset_code": 2044055},
    "dataset": [
        {"id": "1", "access": "denied", "denied_code": 10},
        {"id": "2", "access": "denied", "denied_code": 200},
        {"id": "3", "access": "denied", "denied_code": 100},
        {"id": "4", "access": "unknown"},
    ],
}


@pytest.mark.parametrize(
    ("dataset", "status", "code", "subcode", "error_type"),
    [
        ("1", 400, 10, None, "OAuthException"),
        ("2", 403, 200, None, "OAuthException"),
        ("3", 400, 100, 33, "GraphMethodException"),
        ("4", 400, 2044055, None, "OAuthException"),
        ("99", 400, 2044055, None, "OAuthException"),
    ],
)
async def test_unreadable_datasets_answer_their_error(
    dataset: str, status: int, code: int, subcode: int | None, error_type: str
) -> None:
    """Unknown and forbidden datasets answer the documented error shapes."""
    simulator = Simulator(Scenario.from_dict(ACCESS))
    headers = {"Authorization": "Bearer t"}
    async with simulator.running() as url, aiohttp.ClientSession(headers=headers) as s:
        got_status, body, _ = await _get(s, url, dataset_id=dataset)
    error = body["error"]
    assert got_status == status
    assert (error["code"], error.get("error_subcode"), error["type"]) == (
        code,
        subcode,
        error_type,
    )
    assert error["message"].startswith(f"(#{code})") or subcode == 33
    assert len(error["fbtrace_id"]) == 11


async def test_path_and_version_errors(
    docs: tuple[Simulator, aiohttp.ClientSession, str],
) -> None:
    """Nested ``/{id}/dataset_quality`` is 2500; old versions 2635; unknown 2500."""
    _, session, url = docs
    cases = {
        "/v24.0/9001/dataset_quality": 2500,
        "/v2.0/dataset_quality": 2635,
        "/v99.0/dataset_quality": 2500,
        "/v24.0/nothing_here": 2500,
    }
    for path, code in cases.items():
        async with session.get(f"{url}{path}", params={"dataset_id": "9001"}) as r:
            assert r.status == 400, path
            assert (await r.json())["error"]["code"] == code, path


async def test_missing_dataset_id_and_syntax_errors(
    docs: tuple[Simulator, aiohttp.ClientSession, str],
) -> None:
    """No ``dataset_id`` is 100; broken ``fields`` is 2500 with the position."""
    _, session, url = docs
    status, body, _ = await _get(session, url, fields="web")
    assert (status, body["error"]["code"]) == (400, 100)
    status, body, _ = await _get(session, url, dataset_id="9001", fields="web{acr")
    assert (status, body["error"]["code"]) == (400, 2500)
    assert "at character 7" in body["error"]["message"]


async def test_response_headers(
    docs: tuple[Simulator, aiohttp.ClientSession, str],
) -> None:
    """Answers carry the API version, a trace id and a JSON content type."""
    _, session, url = docs
    params = {"dataset_id": "9001"}
    async with session.get(f"{url}/v23.0/dataset_quality", params=params) as response:
        assert response.headers["facebook-api-version"] == "v23.0"
        assert len(response.headers["x-fb-trace-id"]) == 11
        assert response.headers["Content-Type"] == "application/json; charset=UTF-8"


@pytest.mark.parametrize("multipart", [True, False])
async def test_curl_style_get_with_form_body(
    docs: tuple[Simulator, aiohttp.ClientSession, str], multipart: bool
) -> None:
    """The documented ``curl -X GET -F`` form (parameters in the body) works."""
    _, _, url = docs
    form = aiohttp.FormData(
        {"fields": "offline{event_name}", "access_token": "docs-token"},
        default_to_multipart=multipart,
    )
    async with (
        aiohttp.ClientSession() as bare,
        bare.request(
            "GET", f"{url}/v24.0/dataset_quality?dataset_id=9010", data=form
        ) as response,
    ):
        assert await response.json() == {"offline": [{"event_name": "Purchase"}]}
