"""Specification of dqwatch.snapshot: dataset_quality answers as observations."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest

from dqwatch.errors import MalformedResponseError, PermanentGraphError
from dqwatch.model import Snapshot
from dqwatch.snapshot import REQUEST_FIELDS, parse_response

RESPONSES = Path(__file__).parent / "data" / "responses"

Row = tuple[str, str, str, float | str]

# Texts of the API reference's sample responses, as they travel in details.
DEDUPE_BROWSER = "The percentage of browser events that contain this dedupe key."
DEDUPE_SERVER = "The percentage of server events that contain this dedupe key."
DEDUPE_OVERALL = (
    "The overall percentage of browser events that are deduped with Conversions "
    "API events using this key. This percentage is incremental for each dedupe key."
)
FRESHNESS = (
    "The average frequency with which instances of this event are received "
    "through the Conversions API."
)
COVERAGE = (
    "The percentage of events received from your Conversions API compared to "
    "unique browser events from the Meta Pixel."
)
IPV6 = "Update your IPv4 IP addresses to IPv6 IP addresses"
MISMATCHED_IP = "Server sending mismatched IP addresses"


def parse(name: str, source: str = "web") -> Snapshot:
    """The snapshot of one fixture file."""
    return parse_response("1001", source, 1_700_000_000.0, read(name))


def read(name: str) -> bytes:
    """One fixture file's bytes, as an HTTP body arrives."""
    return (RESPONSES / name).read_bytes()


def rows(snapshot: Snapshot) -> list[Row]:
    """(event, metric, key, value) of every observation, sorted."""
    return sorted((o.event, o.metric, o.key, o.value) for o in snapshot.observations)


def details(snapshot: Snapshot, event: str, metric: str, key: str = "") -> Any:
    """The details of the one observation of that series."""
    [found] = [o for o in snapshot.observations if o.series[1:] == (event, metric, key)]
    return found.details


def refused(body: str | bytes, source: str = "web") -> str:
    """The message of the MalformedResponseError that ``body`` must raise."""
    with pytest.raises(MalformedResponseError) as caught:
        parse_response("1001", source, 0.0, body)
    return caught.value.message


def web(*events: object) -> str:
    """A web body listing ``events``."""
    return json.dumps({"web": list(events)})


# -- the API reference's sample responses ----------------------------------------

DOC_SAMPLES: dict[str, list[Row]] = {
    "doc_web_emq.json": [
        ("CompleteRegistration", "emq", "", 7.2),
        ("CompleteRegistration", "match_key_coverage", "email", 100.0),
        ("CompleteRegistration", "match_key_coverage", "ip_address", 99.9),
        ("pLTVPurchase", "emq", "", 6.2),
        ("pLTVPurchase", "match_key_coverage", "external_id", 100.0),
        ("pLTVPurchase", "match_key_coverage", "user_agent", 100.0),
    ],
    "doc_web_match_key_acr.json": [
        ("Purchase", "match_key_acr", "email", 58.96),
        ("Purchase", "match_key_acr", "ip_address", 20.65),
    ],
    "doc_web_diagnostics.json": [
        ("Purchase", "diagnostic", MISMATCHED_IP, 61.5),
        ("Purchase", "diagnostic", IPV6, 59.5),
    ],
    "doc_web_event_coverage.json": [
        ("B2B Purchase", "event_coverage", "", 34.1),
        ("B2B Purchase", "event_coverage_goal", "", 75.0),
    ],
    "doc_web_coverage_acr.json": [("AddToCart", "coverage_acr", "", 35.8)],
    "doc_web_dedupe.json": [
        ("AddToCart", "dedupe_browser", "event_id", 100.0),
        ("AddToCart", "dedupe_browser", "external_id", 100.0),
        ("AddToCart", "dedupe_browser", "fbp", 0.0),
        ("AddToCart", "dedupe_overall", "event_id", 14.8),
        ("AddToCart", "dedupe_overall", "external_id", 15.96),
        ("AddToCart", "dedupe_overall", "fbp", 0.0),
        ("AddToCart", "dedupe_server", "event_id", 100.0),
        ("AddToCart", "dedupe_server", "external_id", 100.0),
        ("AddToCart", "dedupe_server", "fbp", 0.0),
    ],
    "doc_web_freshness.json": [
        ("Lead", "freshness", "", "hourly"),
        ("ViewContent", "freshness", "", "real_time"),
    ],
    "doc_web_event_acr.json": [
        ("PageView", "event_acr", "", 30.1),
        ("Search", "event_acr", "", 32.9),
    ],
    "doc_web_acr.json": [("PageView", "acr", "", 45.5), ("Search", "acr", "", 37.9)],
    "doc_offline_all.json": [
        ("Purchase", "offline_composite", "", 6.6),
        ("Purchase", "offline_frequency", "", 4.6),
        ("Purchase", "offline_freshness", "", 2.2),
        ("Purchase", "offline_match_key", "", 5.6),
    ],
    "doc_offline_composite.json": [("Purchase", "offline_composite", "", 6.6)],
    "doc_offline_match_key.json": [
        ("Purchase", "offline_match_key", "", 6.6),
        ("Purchase", "offline_match_key_coverage", "email", 100.0),
        ("Purchase", "offline_match_key_coverage", "phone", 90.0),
    ],
}


@pytest.mark.parametrize("name", sorted(DOC_SAMPLES))
def test_doc_sample_gives_exactly_its_observations(name: str) -> None:
    """Every sample response of the API reference yields exactly the listed rows."""
    source = "offline" if "offline" in name else "web"
    assert rows(parse(name, source)) == DOC_SAMPLES[name]


def test_every_doc_sample_has_a_fixture() -> None:
    """The fixtures cover every JSON sample in the API reference, no more, no less."""
    assert sorted(p.name for p in RESPONSES.glob("doc_*.json")) == sorted(DOC_SAMPLES)


def test_events_are_listed_in_body_order() -> None:
    """Snapshot.events names each event once, in the order the body gives them."""
    assert parse("doc_web_emq.json").events == ("pLTVPurchase", "CompleteRegistration")
    assert parse("doc_web_freshness.json").events == ("ViewContent", "Lead")


def test_snapshot_carries_identity_and_raw_text() -> None:
    """dataset_id, source and polled_at pass through; raw is the body as text."""
    body = read("doc_web_acr.json")
    snapshot = parse_response("42", "web", 123.5, body)
    assert (snapshot.dataset_id, snapshot.source, snapshot.polled_at) == (
        "42",
        "web",
        123.5,
    )
    assert snapshot.raw == body.decode("utf-8")
    assert parse_response("42", "web", 0.0, snapshot.raw).raw is snapshot.raw
    assert {o.source for o in snapshot.observations} == {"web"}


def test_numbers_are_floats_and_freshness_is_text() -> None:
    """JSON ints become floats; upload_frequency stays a string."""
    values = [o.value for o in parse("doc_web_dedupe.json").observations]
    assert all(type(value) is float for value in values)
    assert {type(o.value) for o in parse("doc_web_freshness.json").observations} == {
        str
    }


# -- details: the API's own texts and counts -------------------------------------


def test_diagnostic_details_carry_texts_and_counts() -> None:
    """A diagnostic keeps description, solution and both event counts."""
    found = details(parse("doc_web_diagnostics.json"), "Purchase", "diagnostic", IPV6)
    assert found["description"].startswith("Your server is sending IPV4 IP addresses")
    assert found["solution"].startswith("You can update your web server and DNS")
    assert found["affected_event_count"] == 18930
    assert found["total_event_count"] == 31830
    assert set(found) == {
        "description",
        "solution",
        "affected_event_count",
        "total_event_count",
    }


@pytest.mark.parametrize(
    ("name", "event", "metric", "key", "expected"),
    [
        ("doc_web_dedupe.json", "AddToCart", "dedupe_browser", "fbp", DEDUPE_BROWSER),
        ("doc_web_dedupe.json", "AddToCart", "dedupe_server", "fbp", DEDUPE_SERVER),
        ("doc_web_dedupe.json", "AddToCart", "dedupe_overall", "fbp", DEDUPE_OVERALL),
        ("doc_web_freshness.json", "Lead", "freshness", "", FRESHNESS),
        ("doc_web_event_coverage.json", "B2B Purchase", "event_coverage", "", COVERAGE),
        ("doc_web_acr.json", "Search", "acr", "", "In the last 7 days, you saw"),
        ("doc_web_event_acr.json", "Search", "event_acr", "", "Similar advertisers"),
        ("doc_web_coverage_acr.json", "AddToCart", "coverage_acr", "", "Similar"),
        ("doc_web_match_key_acr.json", "Purchase", "match_key_acr", "email", "Similar"),
    ],
)
def test_descriptions_travel_with_their_value(
    name: str, event: str, metric: str, key: str, expected: str
) -> None:
    """Each described value carries the API's description and nothing else."""
    found = details(parse(name), event, metric, key)
    assert set(found) == {"description"}
    assert found["description"].startswith(expected)


def test_offline_recommendations_travel_with_their_score() -> None:
    """Offline scores carry the API's recommendation; coverage carries none."""
    snapshot = parse("doc_offline_match_key.json", "offline")
    assert details(snapshot, "Purchase", "offline_match_key") == {
        "recommendation": (
            "Send email and phone parameters to help improve your match key score."
        )
    }
    assert details(snapshot, "Purchase", "offline_match_key_coverage", "email") == {}


def test_values_without_texts_carry_empty_details() -> None:
    """emq, coverage goal and match key coverage have no text of their own."""
    snapshot = parse("full_web.json")
    assert details(snapshot, "Purchase", "emq") == {}
    assert details(snapshot, "Purchase", "event_coverage_goal") == {}
    assert details(snapshot, "Purchase", "match_key_coverage", "email") == {}
    assert details(snapshot, "Lead", "freshness") == {}


# -- what is asked for, and everything it can bring back -----------------------------

WEB_CATALOGUE = {
    "emq",
    "match_key_coverage",
    "match_key_acr",
    "diagnostic",
    "event_coverage",
    "event_coverage_goal",
    "coverage_acr",
    "dedupe_browser",
    "dedupe_server",
    "dedupe_overall",
    "freshness",
    "event_acr",
    "acr",
}


def test_full_web_response_gives_every_catalogue_metric() -> None:
    """An answer to REQUEST_FIELDS["web"] yields each web metric of the catalogue."""
    snapshot = parse("full_web.json")
    assert {o.metric for o in snapshot.observations} == WEB_CATALOGUE
    assert rows(snapshot) == [
        ("Lead", "emq", "", 5.1),
        ("Lead", "freshness", "", "hourly"),
        ("Lead", "match_key_coverage", "ip_address", 99.9),
        ("Purchase", "acr", "", 37.9),
        ("Purchase", "coverage_acr", "", 4.2),
        ("Purchase", "dedupe_browser", "event_id", 99.0),
        ("Purchase", "dedupe_overall", "event_id", 80.1),
        ("Purchase", "dedupe_server", "event_id", 98.5),
        ("Purchase", "diagnostic", MISMATCHED_IP, 61.5),
        ("Purchase", "emq", "", 7.8),
        ("Purchase", "event_acr", "", 32.9),
        ("Purchase", "event_coverage", "", 82.4),
        ("Purchase", "event_coverage_goal", "", 75.0),
        ("Purchase", "freshness", "", "real_time"),
        ("Purchase", "match_key_acr", "email", 58.96),
        ("Purchase", "match_key_acr", "phone", 12.5),
        ("Purchase", "match_key_coverage", "email", 97.5),
        ("Purchase", "match_key_coverage", "phone", 0.0),
    ]


def field_tree(spec: str) -> dict[str, Any]:
    """A Graph API `fields` expression as nested dicts; a leaf field maps to {}."""
    stack: list[dict[str, Any]] = [{}]
    last = ""
    for token in re.findall(r"[{},]|[^{},\s]+", spec):
        if token == "{":
            stack.append(stack[-1][last])
        elif token == "}":
            stack.pop()
        elif token != ",":
            stack[-1][token] = {}
            last = token
    assert len(stack) == 1, f"unbalanced braces in {spec}"
    return stack[0]


def shape_tree(value: Any, tree: dict[str, Any] | None = None) -> dict[str, Any]:
    """The field names of a JSON value as nested dicts, list items merged."""
    tree = {} if tree is None else tree
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, dict):
            for name, child in item.items():
                shape_tree(child, tree.setdefault(name, {}))
    return tree


def test_full_web_fixture_answers_exactly_the_web_request() -> None:
    """full_web.json holds every field REQUEST_FIELDS["web"] asks for, and no other."""
    body = json.loads(read("full_web.json"))
    assert shape_tree(body) == field_tree(REQUEST_FIELDS["web"])


def test_web_request_asks_by_name_for_diagnostics_acr_and_dedupe() -> None:
    """The web request names every sub-field, dedupe spelt the way the API accepts."""
    web_fields = field_tree(REQUEST_FIELDS["web"])["web"]
    emq = web_fields["event_match_quality"]
    assert set(emq["diagnostics"]) == {
        "name",
        "description",
        "solution",
        "percentage",
        "affected_event_count",
        "total_event_count",
    }
    per_key = emq["match_key_feedback"]["potential_aly_acr_increase"]
    assert set(per_key) == {"percentage", "description"}
    assert set(web_fields["dedupe_key_feedback"]) == {
        "dedupe_key",
        "browser_events_with_dedupe_key",
        "server_events_with_dedupe_key",
        "overall_browser_coverage_from_dedupe_key",
    }
    assert "dedup_key_feedback" not in REQUEST_FIELDS["web"]


def test_offline_request_asks_for_scores_recommendations_and_coverage() -> None:
    """The offline request names every offline field with score and recommendation."""
    scored: dict[str, Any] = {"score": {}, "recommendation": {}}
    assert field_tree(REQUEST_FIELDS["offline"]) == {
        "offline": {
            "event_name": {},
            "composite": scored,
            "match_key": {**scored, "coverage": {}},
            "frequency": scored,
            "freshness": scored,
        }
    }


def test_request_fields_cannot_be_changed() -> None:
    """REQUEST_FIELDS is read-only, so one caller cannot alter another's request."""
    with pytest.raises(TypeError):
        REQUEST_FIELDS["web"] = "web"  # type: ignore[index]


# -- absent, null, empty -------------------------------------------------------


def test_absent_fields_give_nothing_while_zero_is_a_value() -> None:
    """Omitted fields yield no observation; a 0 the API sent is kept as 0."""
    snapshot = parse("absent_and_zero.json")
    assert rows(snapshot) == [
        ("AddToCart", "event_coverage_goal", "", 75.0),
        ("Purchase", "emq", "", 0.0),
        ("Purchase", "event_coverage", "", 0.0),
    ]


def test_event_with_only_its_name_is_listed_without_observations() -> None:
    """Events that carry nothing (or empty lists) are still known to exist."""
    snapshot = parse("absent_and_zero.json")
    assert snapshot.events == ("Purchase", "AddToCart", "PageView")
    assert not [o for o in snapshot.observations if o.event == "PageView"]


def test_null_is_read_as_absent() -> None:
    """A JSON null anywhere a field may be gives no observation and no error."""
    assert rows(parse("nulls.json")) == [
        ("Purchase", "emq", "", 6.4),
        ("Purchase", "match_key_coverage", "fbp", 44.0),
    ]


@pytest.mark.parametrize(
    ("source", "body"),
    [
        ("web", "{}"),
        ("web", '{"web": []}'),
        ("web", '{"web": null}'),
        ("offline", "{}"),
        ("offline", '{"offline": []}'),
        ("web", '{"offline": [{"event_name": "Purchase"}]}'),
    ],
)
def test_empty_answers_mean_no_events(source: str, body: str) -> None:
    """{} and an empty list both mean the dataset has no events for this source."""
    snapshot = parse_response("1001", source, 0.0, body)
    assert (snapshot.events, snapshot.observations, snapshot.raw) == ((), (), body)


def test_offline_absent_and_zero() -> None:
    """Offline: omitted scores give nothing, zeros are kept, only email/phone keys."""
    snapshot = parse("offline_partial.json", "offline")
    assert rows(snapshot) == [
        ("Purchase", "offline_composite", "", 0.0),
        ("Purchase", "offline_match_key_coverage", "phone", 0.0),
    ]
    assert snapshot.events == ("Purchase", "Other")


# -- both dedupe spellings, repeats and unknown fields ---------------------------------


def test_both_dedupe_spellings_read_alike() -> None:
    """dedup_key_feedback gives the same observations as dedupe_key_feedback."""
    dedup = parse("dedup_spelling.json")
    assert rows(dedup) == rows(parse("doc_web_dedupe.json"))
    assert details(dedup, "AddToCart", "dedupe_overall", "fbp") == {
        "description": DEDUPE_OVERALL
    }


def test_repeated_series_keep_the_first_value_and_warn(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Repeated events and keys keep the first value in the body and log a warning."""
    with caplog.at_level(logging.WARNING, logger="dqwatch.snapshot"):
        snapshot = parse("duplicates.json")
    assert snapshot.events == ("Purchase", "Lead")
    assert rows(snapshot) == [
        ("Lead", "acr", "", 12.0),
        ("Purchase", "acr", "", 37.9),
        ("Purchase", "dedupe_browser", "event_id", 70.0),
        ("Purchase", "dedupe_browser", "fbp", 40.0),
        ("Purchase", "emq", "", 7.1),
        ("Purchase", "match_key_acr", "email", 22.5),
        ("Purchase", "match_key_coverage", "email", 90.0),
    ]
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert "dataset 1001 (web): 3 repeated series" in record.getMessage()
    assert "event 'Purchase', metric match_key_coverage, key 'email'" in (
        record.getMessage()
    )


def test_repeats_are_still_checked_for_shape() -> None:
    """A repeated event with a malformed value is refused, not silently dropped."""
    first = {"event_name": "Purchase", "acr": {"percentage": 1}}
    second = {"event_name": "Purchase", "acr": {"percentage": "1"}}
    assert refused(web(first, second)).startswith(
        'web[1].acr.percentage: expected a number, got a string "1"'
    )


def test_unknown_fields_are_ignored_and_kept_in_raw() -> None:
    """Fields dqwatch does not know change nothing and survive in raw."""
    snapshot = parse("unknown_fields.json")
    assert rows(snapshot) == [
        ("Purchase", "diagnostic", "Missing fbc", 12.5),
        ("Purchase", "emq", "", 8.3),
        ("Purchase", "freshness", "", "daily"),
        ("Purchase", "match_key_coverage", "email", 96.0),
    ]
    assert details(snapshot, "Purchase", "diagnostic", "Missing fbc") == {}
    for text in ('"event_spend"', '"median_delay_seconds"', '"paging"', '"severity"'):
        assert text in snapshot.raw


# -- malformed answers ---------------------------------------------------------------

PURCHASE = {"event_name": "Purchase"}

MALFORMED: list[tuple[str, str | bytes, str]] = [
    ("web", "<html><body>502 Bad Gateway</body></html>", "body: not JSON (Expecting"),
    ("web", '{"web": [{"event_name": "a", "acr": {"percentage": NaN}}]}', "body: not"),
    ("web", b'{"web": [{"event_name": "\xff"}]}', "body: not UTF-8 text"),
    ("web", "[]", "body: expected a JSON object, got a list []"),
    ("web", '"web"', 'body: expected a JSON object, got a string "web"'),
    ("web", '{"web": {"event_name": "a"}}', "web: expected a list of events, got an"),
    ("offline", '{"offline": "none"}', "offline: expected a list of events, got a s"),
    ("web", web("Purchase"), 'web[0]: expected an object, got a string "Purchase"'),
    ("web", web(PURCHASE, {}), "web[1].event_name: missing"),
    ("web", web({"event_name": ""}), "web[0].event_name: expected a non-empty string,"),
    ("web", web({"event_name": 7}), "web[0].event_name: expected a non-empty string, "),
    (
        "web",
        web(PURCHASE, PURCHASE, {**PURCHASE, "event_coverage": {"percentage": "34.1"}}),
        'web[2].event_coverage.percentage: expected a number, got a string "34.1"',
    ),
    (
        "web",
        web({**PURCHASE, "event_match_quality": {"composite_score": True}}),
        "web[0].event_match_quality.composite_score: expected a number, got a boolean",
    ),
    (
        "web",
        web({**PURCHASE, "event_match_quality": 6.2}),
        "web[0].event_match_quality: expected an object, got a number 6.2",
    ),
    (
        "web",
        web({**PURCHASE, "event_match_quality": {"match_key_feedback": {}}}),
        "web[0].event_match_quality.match_key_feedback: expected a list, got an obj",
    ),
    (
        "web",
        web(
            {
                **PURCHASE,
                "event_match_quality": {
                    "match_key_feedback": [
                        {"identifier": "email"},
                        {"coverage": {"percentage": 50}},
                    ]
                },
            }
        ),
        "web[0].event_match_quality.match_key_feedback[1].identifier: missing",
    ),
    (
        "web",
        web(
            {
                **PURCHASE,
                "event_match_quality": {
                    "match_key_feedback": [
                        {"identifier": "email", "coverage": {"percentage": [100]}}
                    ]
                },
            }
        ),
        "web[0].event_match_quality.match_key_feedback[0].coverage.percentage: "
        "expected a number, got a list [100]",
    ),
    (
        "web",
        web(
            {
                **PURCHASE,
                "event_match_quality": {
                    "diagnostics": [{"name": "x", "affected_event_count": "18930"}]
                },
            }
        ),
        "web[0].event_match_quality.diagnostics[0].affected_event_count: expected a "
        'number, got a string "18930"',
    ),
    (
        "web",
        web({**PURCHASE, "event_match_quality": {"diagnostics": [{"name": ""}]}}),
        "web[0].event_match_quality.diagnostics[0].name: expected a non-empty string",
    ),
    (
        "web",
        web({**PURCHASE, "dedup_key_feedback": [["event_id"]]}),
        'web[0].dedup_key_feedback[0]: expected an object, got a list ["event_id"]',
    ),
    (
        "web",
        web(
            {
                **PURCHASE,
                "dedupe_key_feedback": [
                    {"dedupe_key": "fbp", "server_events_with_dedupe_key": 100}
                ],
            }
        ),
        "web[0].dedupe_key_feedback[0].server_events_with_dedupe_key: expected an "
        "object, got a number 100",
    ),
    (
        "web",
        web({**PURCHASE, "data_freshness": {"upload_frequency": 1}}),
        "web[0].data_freshness.upload_frequency: expected a string, got a number 1",
    ),
    (
        "web",
        web({**PURCHASE, "acr": {"percentage": 1, "description": {"text": "x"}}}),
        'web[0].acr.description: expected a string, got an object {"text": "x"}',
    ),
    (
        "web",
        '{"web": [{"event_name": "a", "acr": {"percentage": 1e999}}]}',
        "web[0].acr.percentage: expected a number, got a number out of range (inf)",
    ),
    (
        "offline",
        json.dumps({"offline": [{**PURCHASE, "composite": {"score": "6.6"}}]}),
        'offline[0].composite.score: expected a number, got a string "6.6"',
    ),
    (
        "offline",
        json.dumps(
            {"offline": [{**PURCHASE, "match_key": {"coverage": {"email": False}}}]}
        ),
        "offline[0].match_key.coverage.email: expected a number, got a boolean false",
    ),
    (
        "offline",
        json.dumps({"offline": [{**PURCHASE, "frequency": {"recommendation": 3}}]}),
        "offline[0].frequency.recommendation: expected a string, got a number 3",
    ),
    ("offline", '{"offline": [{"composite": {"score": 1}}]}', "offline[0].event_name"),
]


@pytest.mark.parametrize(("source", "body", "expected"), MALFORMED)
def test_malformed_answer_is_refused_naming_the_path(
    source: str, body: str | bytes, expected: str
) -> None:
    """A body that is not the documented shape is refused, naming where and what."""
    message = refused(body, source)
    assert message.startswith(expected)
    assert "not the documented dataset_quality shape" in message


def test_malformed_is_a_permanent_graph_error() -> None:
    """Callers can treat a malformed answer like any permanent Graph API failure."""
    with pytest.raises(PermanentGraphError):
        parse_response("1001", "web", 0.0, "{")


def test_messages_never_carry_the_body_wholesale() -> None:
    """Quoted values and body excerpts are cut to about 60 characters."""
    long_text = "x" * 5000
    html = "<html>" + "<p>Service Unavailable</p>" * 4000 + "</html>"
    for message in (
        refused(web({**PURCHASE, "acr": {"percentage": long_text}})),
        refused(web({**PURCHASE, "acr": {"percentage": [long_text] * 50}})),
        refused(web({**PURCHASE, "acr": {"percentage": dict.fromkeys("abcdef", 1)}})),
        refused(html),
    ):
        assert len(message) < 300
        assert "x" * 61 not in message


def test_error_body_is_refused_saying_so_without_its_message() -> None:
    """An {"error": ...} body is named as an API error; its message is not repeated."""
    body = json.dumps(
        {
            "error": {
                "message": "Error validating access token: Session has expired",
                "type": "OAuthException",
                "code": 190,
                "error_subcode": 463,
                "fbtrace_id": "AbCdEfGhIjK",
            }
        }
    )
    message = refused(body)
    assert "a Graph API error (code 190/463), not data" in message
    assert "the Graph client should have raised it before parsing" in message
    assert "Session has expired" not in message


def test_unknown_source_is_a_programming_error() -> None:
    """Only "web" and "offline" are sources; anything else is a ValueError."""
    with pytest.raises(ValueError, match="source must be one of"):
        parse_response("1001", "app", 0.0, "{}")
