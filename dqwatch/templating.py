"""Alert summaries: one line of text written by an admin, filled in per alert.

A summary is a Jinja template such as
``"EMQ for {{ event }} fell from {{ before }} to {{ value }}"``. Admins write
them in rule files, so they are checked when the rules load: the text must
compile, and may only use the variables every alert provides
(:data:`~dqwatch.rules.TEMPLATE_VARIABLES`). Templates run in Jinja's
sandbox, so a summary can read the values it is given but not reach through
them into Python (``{{ rule.__class__ }}`` is refused).

Summaries are plain text: nothing is escaped here. Each channel escapes for
its own medium (HTML for email, ``&``, ``<``, ``>`` for Slack) when it sends.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping

import jinja2
from jinja2 import meta, nodes
from jinja2.sandbox import SandboxedEnvironment

from dqwatch.config._problems import did_you_mean
from dqwatch.rules._model import TEMPLATE_VARIABLES

__all__ = ["compile_summary", "render_summary", "summary_environment"]

logger = logging.getLogger(__name__)


@functools.cache
def summary_environment() -> SandboxedEnvironment:
    """The one sandboxed, plain-text environment every summary compiles in.

    Undefined names raise instead of rendering as empty text, and
    :func:`_finalize` writes numbers the way people read them.
    """
    return SandboxedEnvironment(
        autoescape=False,
        undefined=jinja2.StrictUndefined,
        finalize=_finalize,
        keep_trailing_newline=False,
    )


@functools.lru_cache(maxsize=1024)
def compile_summary(text: str) -> jinja2.Template:
    """Compile the summary ``text``, refusing what could not render for an alert.

    Raises ``ValueError`` whose message says what is wrong, then ``"; "``
    and the fix, when the text does not compile, uses a variable outside
    :data:`~dqwatch.rules.TEMPLATE_VARIABLES`, reads a private attribute
    (``__class__``) or includes another template.
    """
    environment = summary_environment()
    try:
        tree = environment.parse(text)
    except jinja2.TemplateSyntaxError as error:
        raise ValueError(
            f"does not compile: {error.message} (line {error.lineno} of the summary); "
            "check the {{ }} and {% %} pairs, e.g. "
            '"EMQ for {{ event }} fell to {{ value }}"'
        ) from None

    _refuse_unknown_variables(tree, environment)
    _refuse_private_attributes(tree)
    if any(True for _ in meta.find_referenced_templates(tree)):
        raise ValueError(
            "includes or extends another template; "
            "write the whole summary in the rule, using variables only"
        )
    return environment.from_string(tree)


def render_summary(template: jinja2.Template, variables: Mapping[str, object]) -> str:
    """Fill ``template`` with one alert's ``variables``.

    Every name of :data:`~dqwatch.rules.TEMPLATE_VARIABLES` should be given
    (``None`` renders as empty text). A summary must never stop an alert
    from being recorded, so a failure while rendering (a filter given the
    wrong type, a missing variable, a sandbox refusal) is logged and a plain
    summary naming the failure is returned instead.
    """
    try:
        return template.render(variables).strip()
    except (jinja2.TemplateError, ArithmeticError, TypeError, ValueError) as error:
        rule = variables.get("rule") or "?"
        logger.warning(
            "summary of rule %s could not be rendered: %s: %s",
            rule,
            type(error).__name__,
            error,
        )
        return _fallback(variables, error)


def _refuse_unknown_variables(
    tree: nodes.Template, environment: SandboxedEnvironment
) -> None:
    allowed = TEMPLATE_VARIABLES | environment.globals.keys()
    unknown = sorted(meta.find_undeclared_variables(tree) - allowed)
    if unknown:
        name = unknown[0]
        raise ValueError(
            f'uses the unknown variable "{name}"; '
            f"{did_you_mean(name, TEMPLATE_VARIABLES)}"
        )


def _refuse_private_attributes(tree: nodes.Template) -> None:
    # The sandbox refuses these when rendering too; refusing them here turns
    # a failure on the day an alert fires into an error when rules load.
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        if isinstance(node, nodes.Getattr):
            name: str | None = node.attr
        else:
            name = _constant(node.arg) if isinstance(node, nodes.Getitem) else None
        if name is not None and name.startswith("_"):
            raise ValueError(
                f'reads the private attribute "{name}"; '
                "use the variables as they are, e.g. {{ event }}"
            )


def _constant(node: nodes.Node) -> str | None:
    if isinstance(node, nodes.Const) and isinstance(node.value, str):
        return node.value
    return None


def _finalize(value: object) -> object:
    """Write ``None`` as nothing and floats without noise: ``7.8``, ``100``."""
    if value is None:
        return ""
    if isinstance(value, float):
        return format(value, ".2f").rstrip("0").rstrip(".")
    return value


def _fallback(variables: Mapping[str, object], error: Exception) -> str:
    facts = [
        str(variables.get(name))
        for name in ("rule", "metric", "event", "key")
        if variables.get(name) not in (None, "")
    ]
    value = _finalize(variables.get("value"))
    return (
        f"{' '.join(facts) or 'alert'}: value {value or 'unknown'} "
        f"(the rule's summary failed: {type(error).__name__})"
    )
