"""Scenario files: validation with lines, packaged examples, scripted changes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from dqwatch.errors import Problem, ScenarioError
from dqwatch.simulator import (
    ManualClock,
    Scenario,
    Simulator,
    load_scenario,
    packaged_scenario,
    packaged_scenarios,
)


def _problems(tmp_path: Path, text: str) -> list[Problem]:
    path = tmp_path / "scenario.toml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    return caught.value.problems


def test_packaged_scenarios_load() -> None:
    """Every shipped scenario is valid and ``basic`` has what the demo needs."""
    assert {"basic", "bench", "docs"} <= set(packaged_scenarios())
    for name in packaged_scenarios():
        packaged_scenario(name)
    basic = packaged_scenario("basic")
    assert len(basic.business) == 2
    assert {d.access for d in basic.dataset} == {"ok", "unknown", "denied"}
    assert any(d.clients for d in basic.dataset)
    bench = packaged_scenario("bench")
    assert bench.generate is not None
    assert (bench.generate.datasets, bench.generate.events) == (10_000, 10)
    assert bench.simulator.latency.min == 0.05


def test_unknown_key_names_file_line_and_valid_keys(tmp_path: Path) -> None:
    """A misspelt key is reported at its line with the keys that are allowed."""
    problems = _problems(
        tmp_path,
        '[[dataset]]\nid = "1"\n\n[[dataset.event]]\nname = "Lead"\nemq_score = 5\n',
    )
    assert len(problems) == 1
    problem = problems[0]
    assert (problem.line, problem.key, problem.message) == (
        6,
        "dataset[0].event[0].emq_score",
        "unknown key",
    )
    assert "valid keys: name, source, agents, emq" in problem.fix
    assert str(problem).startswith(f"{tmp_path / 'scenario.toml'}:6: dataset[0]")


def test_every_value_problem_is_reported_at_once(tmp_path: Path) -> None:
    """Several bad values give several problems, each on its own line."""
    problems = _problems(
        tmp_path,
        "[simulator]\n"
        'latency = "fast"\n'
        'empty_dataset = "none"\n'
        "[[dataset]]\n"
        'id = "abc"\n'
        "[[dataset.event]]\n"
        'name = "Lead"\n'
        "emq = 12\n"
        "match_key_coverage = { email = true }\n",
    )
    found = {(p.line, p.key) for p in problems}
    assert found == {
        (2, "simulator.latency"),
        (3, "simulator.empty_dataset"),
        (5, "dataset[0].id"),
        (8, "dataset[0].event[0].emq"),
        (9, "dataset[0].event[0].match_key_coverage.email"),
    }
    by_key = {p.key: p for p in problems}
    assert "is not a duration" in by_key["simulator.latency"].message
    assert "outside 0..10" in by_key["dataset[0].event[0].emq"].message


def test_cross_references_are_checked(tmp_path: Path) -> None:
    """Undeclared businesses and duplicate ids are problems with their lines."""
    problems = _problems(
        tmp_path,
        '[[business]]\nid = "1"\n'
        '[[dataset]]\nid = "5"\nbusiness = "2"\n'
        '[[dataset]]\nid = "5"\nclients = ["1", "3"]\n',
    )
    messages = {(p.line, p.message) for p in problems}
    assert messages == {
        (5, "business 2 is not declared"),
        (7, "dataset id 5 is used twice"),
        (8, "business 3 is not declared"),
    }


def test_change_needs_one_trigger_and_an_action(tmp_path: Path) -> None:
    """A change with both ``poll`` and ``after``, or with nothing to do, is refused."""
    problems = _problems(
        tmp_path,
        '[[dataset]]\nid = "5"\n'
        '[[dataset.change]]\npoll = 2\nafter = "1m"\nerror = { code = 2 }\n'
        "[[dataset.change]]\npoll = 3\n",
    )
    assert [(p.line, p.message) for p in problems] == [
        (3, 'give exactly one of poll = N or after = "90s"'),
        (7, "a change needs set, remove or error"),
    ]


def test_set_values_must_fit_their_metric() -> None:
    """A change setting text on a number, or forgetting a key, is refused."""
    with pytest.raises(ScenarioError) as caught:
        Scenario.from_dict(
            {
                "dataset": [
                    {
                        "id": "1",
                        "change": [
                            {
                                "poll": 1,
                                "set": [
                                    {"event": "Lead", "metric": "emq", "value": "high"},
                                    {
                                        "event": "Lead",
                                        "metric": "match_key_coverage",
                                        "value": 50,
                                    },
                                    {"event": "Lead", "metric": "emk", "value": 5},
                                ],
                            }
                        ],
                    }
                ]
            }
        )
    messages = [p.message for p in caught.value.problems]
    assert messages[0] == "emq is a number"
    assert messages[1].startswith("match_key_coverage needs a key")
    assert messages[2].startswith("unknown metric 'emk'")


def test_offline_metric_on_a_web_event_is_refused() -> None:
    """Metrics of the other source are named, with the fix."""
    with pytest.raises(ScenarioError) as caught:
        Scenario.from_dict(
            {"dataset": [{"id": "1", "event": [{"name": "P", "offline_composite": 5}]}]}
        )
    assert 'source = "offline"' in caught.value.problems[0].message


def test_texts_must_name_a_value_the_event_has() -> None:
    """A replacement text for a metric without text, or without value, is refused."""
    event = {"name": "P", "acr": 5, "texts": {"emq": "x", "match_key_acr:email": "y"}}
    with pytest.raises(ScenarioError) as caught:
        Scenario.from_dict({"dataset": [{"id": "1", "event": [event]}]})
    assert "texts.emq: only these metrics have a text" in str(caught.value)
    event["texts"] = {"match_key_acr:email": "y"}
    with pytest.raises(ScenarioError) as caught:
        Scenario.from_dict({"dataset": [{"id": "1", "event": [event]}]})
    assert "has no value to go with" in str(caught.value)


def test_bad_default_fields_are_refused() -> None:
    """A default projection naming an unknown field is a problem at that key."""
    with pytest.raises(ScenarioError) as caught:
        Scenario.from_dict({"simulator": {"web_default_fields": "event_name,emq"}})
    problem = caught.value.problems[0]
    assert problem.key == "simulator.web_default_fields"
    assert "nonexisting field (emq)" in problem.message


def test_toml_syntax_error_names_the_line(tmp_path: Path) -> None:
    """Text that is not TOML is one problem naming the line."""
    problems = _problems(tmp_path, '[simulator]\nseed = 1\nlatency = "5ms\n')
    assert problems[0].line == 3
    assert problems[0].message.startswith("not valid TOML")


def test_missing_file_is_a_problem(tmp_path: Path) -> None:
    """A path that does not exist is reported as such, not as a traceback."""
    with pytest.raises(ScenarioError) as caught:
        load_scenario(tmp_path / "absent.toml")
    assert "cannot read the scenario" in caught.value.problems[0].message


def test_secret_never_in_problems() -> None:
    """A bad value next to a secret does not echo the secret."""
    with pytest.raises(ScenarioError) as caught:
        Scenario.from_dict({"app": {"secret": "s3cr3t", "require_proof": "maybe"}})
    assert "s3cr3t" not in str(caught.value)


# -- scripted changes ---------------------------------------------------------


CHANGING: dict[str, Any] = {
    "dataset": [
        {
            "id": "1",
            "event": [
                {
                    "name": "Purchase",
                    "emq": 7.8,
                    "match_key_coverage": {"email": 100, "phone": 80},
                }
            ],
            "change": [
                {
                    "poll": 2,
                    "set": [{"event": "Purchase", "metric": "emq", "value": 5.9}],
                },
                {
                    "poll": 3,
                    "remove": [
                        {
                            "event": "Purchase",
                            "metric": "match_key_coverage",
                            "key": "phone",
                        }
                    ],
                },
                {"poll": 4, "error": {"code": 2}, "times": 2},
                {
                    "after": "90s",
                    "set": [{"event": "Lead", "metric": "acr", "value": 12}],
                },
                {"after": "2m", "error": {"code": 1, "html": True, "http_status": 503}},
            ],
        }
    ],
}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def changing(
    clock: ManualClock,
) -> AsyncIterator[tuple[Simulator, aiohttp.ClientSession, str]]:
    simulator = Simulator(Scenario.from_dict(CHANGING), clock)
    headers = {"Authorization": "Bearer t"}
    async with simulator.running() as url, aiohttp.ClientSession(headers=headers) as s:
        yield simulator, s, url


async def _poll(
    session: aiohttp.ClientSession,
    url: str,
    fields: str = "web{event_name,event_match_quality,acr}",
) -> tuple[int, str, str]:
    params = {"dataset_id": "1", "fields": fields}
    async with session.get(f"{url}/v24.0/dataset_quality", params=params) as response:
        return response.status, response.content_type, await response.text()


async def test_changes_fire_at_their_poll(
    changing: tuple[Simulator, aiohttp.ClientSession, str],
) -> None:
    """Poll 2 lowers EMQ, poll 3 drops a key, polls 4 and 5 answer code 2."""
    _, session, url = changing
    statuses = []
    for _ in range(6):
        statuses.append(await _poll(session, url))
    assert '"composite_score":7.8' in statuses[0][2]
    assert '"composite_score":5.9' in statuses[1][2]
    assert '"phone"' in statuses[1][2]
    assert '"phone"' not in statuses[2][2]
    assert [s[0] for s in statuses] == [200, 200, 200, 500, 500, 200]
    assert '"code":2' in statuses[3][2]


async def test_offline_polls_do_not_advance_web_changes(
    changing: tuple[Simulator, aiohttp.ClientSession, str],
) -> None:
    """Polls are counted per source: offline requests leave web changes waiting."""
    _, session, url = changing
    for _ in range(3):
        await _poll(session, url, fields="offline")
    _, _, body = await _poll(session, url)
    assert '"composite_score":7.8' in body


async def test_changes_fire_after_a_time(
    changing: tuple[Simulator, aiohttp.ClientSession, str], clock: ManualClock
) -> None:
    """``after`` changes apply at the first poll once their time has passed."""
    _, session, url = changing
    _, _, before = await _poll(session, url)
    assert "Lead" not in before
    clock.advance(90)
    _, _, after = await _poll(session, url)
    assert '"acr":{"percentage":12' in after
    clock.advance(30)
    status, content_type, page = await _poll(session, url)
    assert (status, content_type) == (503, "text/html")
    assert page.startswith("<!DOCTYPE html>")


# -- runtime edits and faults ------------------------------------------------


async def test_set_value_and_remove_change_the_next_answer(
    changing: tuple[Simulator, aiohttp.ClientSession, str],
) -> None:
    """Runtime edits show up in the next answer, never as nulls."""
    simulator, session, url = changing
    simulator.set_value("1", "Purchase", "acr", 40.5)
    simulator.set_value("1", "Purchase", "match_key_acr", 12.5, key="email")
    simulator.set_value(
        "1", "Purchase", "diagnostic", 30, key="Missing email addresses"
    )
    simulator.set_value("1", "Purchase", "offline_composite", 8.8)
    fields = (
        "web{acr{percentage},event_match_quality{match_key_feedback"
        "{identifier,potential_aly_acr_increase{percentage}},diagnostics{name}}},"
        "offline{event_name,composite{score}}"
    )
    _, _, body = await _poll(session, url, fields)
    assert '"acr":{"percentage":40.5}' in body
    assert '"potential_aly_acr_increase":{"percentage":12.5}' in body
    assert '"diagnostics":[{"name":"Missing email addresses"}]' in body
    assert '"offline":[{"event_name":"Purchase","composite":{"score":8.8}}]' in body

    simulator.remove("1", "Purchase", "acr")
    simulator.remove("1", metric="match_key_acr")
    simulator.remove("1", "Purchase", source="offline")
    _, _, body = await _poll(session, url, fields)
    assert json.loads(body) == {
        "web": [
            {
                "event_match_quality": {
                    "match_key_feedback": [
                        {"identifier": "email"},
                        {"identifier": "phone"},
                    ],
                    "diagnostics": [{"name": "Missing email addresses"}],
                }
            }
        ],
        "offline": [],
    }

    simulator.remove("1")
    status, _, body = await _poll(session, url)
    assert (status, '"code":2044055' in body) == (400, True)


def test_runtime_edits_are_validated() -> None:
    """Unknown datasets, wrong values and wrong sources raise, naming the problem."""
    simulator = Simulator(Scenario.from_dict(CHANGING))
    with pytest.raises(KeyError):
        simulator.set_value("404", "Purchase", "emq", 5.0)
    with pytest.raises(ValueError, match="freshness is a text"):
        simulator.set_value("1", "Purchase", "freshness", 3)
    with pytest.raises(ValueError, match="offline metric"):
        simulator.set_value("1", "Purchase", "offline_composite", 3, source="web")
    with pytest.raises(ValueError, match="has no key"):
        simulator.remove("1", "Purchase", "emq", key="x")


@pytest.fixture
async def plain() -> AsyncIterator[tuple[Simulator, aiohttp.ClientSession, str]]:
    scenario = Scenario.from_dict(
        {"dataset": [{"id": "1", "event": [{"name": "Purchase", "emq": 7.0}]}]}
    )
    simulator = Simulator(scenario)
    headers = {"Authorization": "Bearer t"}
    async with simulator.running() as url, aiohttp.ClientSession(headers=headers) as s:
        yield simulator, s, url


async def test_injected_faults_answer_then_run_out(
    plain: tuple[Simulator, aiohttp.ClientSession, str],
) -> None:
    """A fault answers ``times`` requests, with its status and transient flag."""
    simulator, session, url = plain
    simulator.inject_fault(2, dataset_id="1", times=2)
    simulator.inject_fault(2, dataset_id="other")
    first, second, third = [await _poll(session, url) for _ in range(3)]
    assert first[0] == second[0] == 500
    assert '"is_transient":true' in first[2]
    assert third[0] == 200
    assert simulator.stats.errors_by_code[2] == 2


async def test_html_fault_and_every_nth(
    plain: tuple[Simulator, aiohttp.ClientSession, str],
) -> None:
    """``html=True`` answers an HTML 502 page; ``every=3`` hits each third request."""
    simulator, session, url = plain
    simulator.inject_fault(1, html=True, times=0, every=3)
    statuses = [(await _poll(session, url))[:2] for _ in range(6)]
    assert statuses == [
        (200, "application/json"),
        (200, "application/json"),
        (502, "text/html"),
        (200, "application/json"),
        (200, "application/json"),
        (502, "text/html"),
    ]


async def test_fault_control_endpoint(
    plain: tuple[Simulator, aiohttp.ClientSession, str],
) -> None:
    """``POST /_simulator/fault`` injects like :meth:`Simulator.inject_fault`."""
    _, session, url = plain
    async with session.post(f"{url}/_simulator/fault?code=190&subcode=467") as response:
        assert response.status == 200
    status, _, body = await _poll(session, url)
    assert status == 400
    assert '"error_subcode":467' in body
    async with session.post(f"{url}/_simulator/fault?code=x") as response:
        assert response.status == 400
