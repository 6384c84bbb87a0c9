"""The field-expansion parser and how selections project data."""

from __future__ import annotations

import pytest

from dqwatch.simulator import Field, FieldSyntaxError, parse_fields
from dqwatch.simulator.fields import format_fields
from dqwatch.simulator.schema import (
    SelectionError,
    dataset_quality_node,
    plan,
    project,
)


def test_flat_list_keeps_the_order_asked() -> None:
    """Names separated by commas come back in the order they were written."""
    assert parse_fields("event_name,acr,event_coverage") == (
        Field("event_name"),
        Field("acr"),
        Field("event_coverage"),
    )


def test_nested_braces_to_any_depth() -> None:
    """Braces nest, and a name without braces has no children."""
    fields = parse_fields(
        "web{event_match_quality{match_key_feedback{identifier,"
        "potential_aly_acr_increase{percentage,description}}},event_name}"
    )
    web = fields[0]
    assert web.name == "web"
    assert web.children is not None
    emq, name = web.children
    assert name == Field("event_name")
    assert emq.children is not None
    feedback = emq.children[0]
    assert feedback.children == (
        Field("identifier"),
        Field(
            "potential_aly_acr_increase", (Field("percentage"), Field("description"))
        ),
    )


def test_whitespace_is_ignored_everywhere() -> None:
    """Spaces, tabs and newlines around names, commas and braces change nothing."""
    spaced = parse_fields(" web {\n\tevent_name ,  acr { percentage } } ")
    assert spaced == parse_fields("web{event_name,acr{percentage}}")


def test_repeated_fields_merge_their_children() -> None:
    """A field named twice is one field with the children of both mentions."""
    merged = parse_fields("web{acr},web{event_name,acr}")
    assert merged == (Field("web", (Field("acr"), Field("event_name"))),)


def test_canonical_form_round_trips() -> None:
    """Writing a selection back gives text that parses to the same selection."""
    text = "web{event_name,event_match_quality{composite_score}},offline"
    assert format_fields(parse_fields(text)) == text
    assert format_fields(parse_fields(" web { event_name } ")) == "web{event_name}"


def test_blank_text_is_an_empty_selection() -> None:
    """An empty or blank ``fields`` means "the defaults", not an error."""
    assert parse_fields("") == ()
    assert parse_fields("   ") == ()


@pytest.mark.parametrize(
    ("text", "position", "expected"),
    [
        ("web{event_name", 14, '"}"'),
        ("web{}", 4, "field name"),
        ("web{event_name}}", 15, "end of string"),
        ("web,,acr", 4, "field name"),
        ("web,", 4, "field name"),
        ("{web}", 0, "field name"),
        ("web{acr.limit(5)}", 7, '"}"'),
        ("web event_name", 4, "end of string"),
    ],
)
def test_syntax_errors_name_the_character(
    text: str, position: int, expected: str
) -> None:
    """Malformed text fails at the offending character, in the API's wording."""
    with pytest.raises(FieldSyntaxError) as caught:
        parse_fields(text)
    assert caught.value.position == position
    message = str(caught.value)
    assert message.startswith(f'Syntax error "Expected {expected} instead of ')
    assert message.endswith(f"at character {position}: {text}")


def test_bare_event_match_quality_is_score_and_match_keys() -> None:
    """A bare ``event_match_quality`` gives score and match keys, no diagnostics."""
    root = dataset_quality_node()
    steps = plan(root, parse_fields("web{event_match_quality}"))
    assert steps == (
        (
            "web",
            (
                (
                    "event_match_quality",
                    (
                        ("composite_score", None),
                        (
                            "match_key_feedback",
                            (
                                ("identifier", None),
                                ("coverage", (("percentage", None),)),
                            ),
                        ),
                    ),
                ),
            ),
        ),
    )


def test_unknown_field_names_field_and_node_type() -> None:
    """An unknown field fails with the API's "nonexisting field" message."""
    root = dataset_quality_node()
    with pytest.raises(SelectionError) as caught:
        plan(root, parse_fields("web{dedup_key_feedback}"))
    assert caught.value.message == (
        "(#100) Tried accessing nonexisting field (dedup_key_feedback) "
        "on node type (AdsPixelCAPIIntegrationQuality)"
    )


def test_sub_fields_of_a_value_are_refused() -> None:
    """Braces after a plain value such as ``event_name`` are an error."""
    with pytest.raises(SelectionError):
        plan(dataset_quality_node(), parse_fields("web{event_name{x}}"))


def test_projection_omits_missing_and_emptied_parts() -> None:
    """Absent values, objects left empty and lists left empty are omitted."""
    root = dataset_quality_node()
    steps = plan(
        root.fields["web"],
        parse_fields("event_name,acr,event_match_quality{diagnostics}"),
    )  # type: ignore[arg-type]
    event = {
        "event_name": "Lead",
        "event_match_quality": {"composite_score": 7.0},
        "data_freshness": {"upload_frequency": "hourly"},
    }
    assert project(event, steps) == {"event_name": "Lead"}
