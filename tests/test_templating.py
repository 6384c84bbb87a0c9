"""Summary templates: compiled in a sandbox, checked for variables, rendered."""

from __future__ import annotations

import logging

import pytest
from jinja2.sandbox import SandboxedEnvironment

from dqwatch.rules import TEMPLATE_VARIABLES
from dqwatch.templating import compile_summary, render_summary, summary_environment

ALERT: dict[str, object] = dict.fromkeys(TEMPLATE_VARIABLES) | {
    "rule": "emq-drop",
    "event": "Purchase",
    "metric": "emq",
    "value": 5.9,
    "before": 7.8,
    "dataset_name": "Acme <shop> & co",
}


def test_a_summary_renders_an_alert() -> None:
    """The design's example summary renders with an alert's variables."""
    template = compile_summary(
        "EMQ for {{ event }} fell from {{ before }} to {{ value }}"
    )

    assert render_summary(template, ALERT) == "EMQ for Purchase fell from 7.8 to 5.9"


def test_every_documented_variable_is_accepted() -> None:
    """A summary may use each of TEMPLATE_VARIABLES."""
    text = " ".join(f"{{{{ {name} }}}}" for name in sorted(TEMPLATE_VARIABLES))

    compile_summary(text)


def test_numbers_are_written_for_people() -> None:
    """Floats lose float noise and trailing zeros; None renders as nothing."""
    template = compile_summary("{{ value }}|{{ before }}|{{ threshold }}|{{ key }}")

    text = render_summary(
        template, ALERT | {"value": 0.1 + 0.2, "before": 100.0, "threshold": 75}
    )

    assert text == "0.3|100|75|"


def test_summaries_are_not_html_escaped() -> None:
    """Summaries are plain text; channels escape for their medium later."""
    template = compile_summary("{{ dataset_name }}")

    assert render_summary(template, ALERT) == "Acme <shop> & co"


def test_filters_and_control_flow_work() -> None:
    """Jinja's filters and conditions are available to admins."""
    template = compile_summary(
        "{{ event | upper }}{% if key %} ({{ key }}){% endif %}: "
        "{{ (before - value) | round(1) }} lower"
    )

    assert render_summary(template, ALERT) == "PURCHASE: 1.9 lower"


def test_an_unknown_variable_is_refused_with_a_suggestion() -> None:
    """A misspelt variable is caught when the summary compiles, not when it fires."""
    with pytest.raises(
        ValueError, match='unknown variable "evnt"; did you mean "event"'
    ):
        compile_summary("{{ evnt }} fell")


def test_a_syntax_error_is_refused_with_its_line() -> None:
    """Text that does not compile is a ValueError naming the problem and line."""
    with pytest.raises(
        ValueError, match=r"does not compile: .* \(line 2 of the summary\)"
    ):
        compile_summary("fine\n{{ event ")


@pytest.mark.parametrize(
    "text",
    [
        "{{ rule.__class__ }}",
        "{{ rule.__class__.__mro__[1].__subclasses__() }}",
        "{{ event['__class__'] }}",
        "{{ value.real.__class__ }}",
    ],
)
def test_private_attributes_are_refused_at_compile(text: str) -> None:
    """Attribute tricks that reach into Python are refused before they can run."""
    with pytest.raises(ValueError, match="private attribute"):
        compile_summary(text)


@pytest.mark.parametrize(
    "text",
    [
        "{% set name = '__class__' %}{{ rule[name] }}",
        "{{ rule | attr('__class__') }}",
    ],
)
def test_the_sandbox_blocks_what_slips_past_the_check(
    text: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Names built at render time pass the check but are stopped by the sandbox."""
    template = compile_summary(text)

    with caplog.at_level(logging.WARNING, logger="dqwatch.templating"):
        rendered = render_summary(template, ALERT)

    assert "class" not in rendered
    assert "summary failed: SecurityError" in rendered
    assert "emq-drop" in caplog.text


def test_includes_are_refused() -> None:
    """A summary cannot pull in other templates (or files)."""
    with pytest.raises(ValueError, match="includes or extends"):
        compile_summary("{% include '/etc/passwd' %}")


def test_a_render_failure_returns_a_plain_summary(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A summary that fails at render time still gives a useful line and a log."""
    template = compile_summary("{{ value | round(1) }} {{ before + 'x' }}")

    with caplog.at_level(logging.WARNING, logger="dqwatch.templating"):
        text = render_summary(template, ALERT)

    assert (
        text
        == "emq-drop emq Purchase: value 5.9 (the rule's summary failed: TypeError)"
    )
    assert "summary of rule emq-drop could not be rendered" in caplog.text


def test_a_missing_variable_fails_loudly_not_silently() -> None:
    """StrictUndefined: a variable the caller forgot is a failure, not empty text."""
    template = compile_summary("{{ event }} now {{ value }}")

    text = render_summary(template, {"rule": "r", "value": 1.0})

    assert "summary failed: UndefinedError" in text


def test_the_environment_is_sandboxed_and_shared() -> None:
    """Every summary compiles in the same sandboxed, non-escaping environment."""
    environment = summary_environment()

    assert isinstance(environment, SandboxedEnvironment)
    assert environment is summary_environment()
    assert environment.autoescape is False
